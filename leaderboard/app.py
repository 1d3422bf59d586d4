"""The Gradio Blocks app: six tabs over one `Board` (local `robustboard serve` and the Space alike)."""

from __future__ import annotations

import os

import gradio as gr

from leaderboard.board import Board, Settings
from leaderboard.views import about, common, correlation, datasets, leaderboard, model, submit

CSS = """
#leaderboard-table td, #correlation-table td { font-variant-numeric: tabular-nums; }
#leaderboard-table a { text-decoration: underline; }
.robustboard-header p { margin: 0.25rem 0 0.5rem 0; color: var(--body-text-color-subdued); }
"""

TAGLINE = (
    "Models ranked by accuracy **and** robustness on versioned, perturbed benchmark releases: every "
    "example is asked once per prompt variant (typos, wording, option order, formats, few-shot, ...) "
    "and answers are scored against hidden labels."
)


def build_app(board: Board) -> gr.Blocks:
    with gr.Blocks(title=board.settings.title, fill_width=True, analytics_enabled=False) as demo:
        gr.Markdown(
            f"# {common.escape_markdown(board.settings.title)}\n\n{TAGLINE}",
            elem_classes="robustboard-header",
        )
        with gr.Tabs():
            with gr.Tab("Leaderboard", id="leaderboard"):
                leaderboard.build(board, demo)
            with gr.Tab("Correlation", id="correlation"):
                correlation.build(board, demo)
            with gr.Tab("Model", id="model"):
                model.build(board, demo)
            with gr.Tab("Submit", id="submit"):
                submit.build(board, demo)
            with gr.Tab("Datasets", id="datasets"):
                datasets.build(board, demo)
            with gr.Tab("About", id="about"):
                about.build(board, demo)
    return demo


def launch(
    board: Board,
    *,
    host: str = "127.0.0.1",
    port: int | None = 7860,
    prevent_thread_lock: bool = False,
    quiet: bool = False,
) -> gr.Blocks:
    """Start the board's background work and serve the app; returns the running Blocks."""
    board.start()
    demo = build_app(board)
    demo.queue(default_concurrency_limit=4)
    demo.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=prevent_thread_lock,
        max_file_size=f"{board.settings.max_upload_mb:g}mb",
        css=CSS,
        theme=gr.themes.Soft(),
        footer_links=["api", "gradio"],
        ssr_mode=False,
        quiet=quiet,
        show_error=False,
    )
    return demo


def serve_from_env() -> gr.Blocks:
    """The Space entry point: settings from ROBUSTBOARD_* variables, address from GRADIO_SERVER_*."""
    settings = Settings.from_env()
    host = os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0")
    port = int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    return launch(Board.open(settings), host=host, port=port)
