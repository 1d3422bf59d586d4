"""Datasets tab: every registered release version with its load_dataset snippet, summary and changelog.

Only public facts are shown: the public release location, manifest counts, slots and changelog. The
hidden labels' location, which the registry also holds, never appears.
"""

from __future__ import annotations

import gradio as gr
import pandas as pd

from leaderboard import analysis
from leaderboard.board import Board, Snapshot
from leaderboard.views import common
from submissions.store import HF_SCHEME


def ref(entry: dict) -> str:
    return f"{entry['name']}@{entry['version']}"


def releases_table(snapshot: Snapshot) -> pd.DataFrame:
    counts = (
        snapshot.frames.runs["release"].value_counts() if len(snapshot.frames.runs) else pd.Series(dtype=int)
    )
    rows = []
    for entry in sorted(snapshot.releases, key=lambda e: analysis.release_sort_key(ref(e))):
        summary = entry.get("manifest") or {}
        numbers = summary.get("counts") or {}
        rows.append(
            {
                "release": entry.get("name", ""),
                "version": entry.get("version", ""),
                "task type": entry.get("task_type") or "",
                "examples": numbers.get("examples"),
                "slots": numbers.get("slots"),
                "tasks": numbers.get("tasks"),
                "configs": ", ".join(summary.get("configs") or {}),
                "content hash": str(entry.get("content_hash", ""))[:12],
                "results": int(counts.get(ref(entry), 0)),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "release",
            "version",
            "task type",
            "examples",
            "slots",
            "tasks",
            "configs",
            "content hash",
            "results",
        ],
    )


def snippet(entry: dict) -> str:
    """The `load_dataset` call that loads this exact version (a Hub tag or the local folder)."""
    public = str(entry.get("public", ""))
    summary = entry.get("manifest") or {}
    configs = list(summary.get("configs") or {"original": []})
    first = "original" if "original" in configs else configs[0]
    split = summary.get("split") or "test"
    if public.startswith(HF_SCHEME):
        repo, _, revision = public[len(HF_SCHEME) :].removeprefix("datasets/").partition("@")
        call = f"load_dataset({repo!r}, {{config!r}}, split={split!r}, revision={revision!r})"
    else:
        call = f"load_dataset({public!r}, {{config!r}}, split={split!r})"
    lines = [
        "from datasets import load_dataset",
        "",
        f"# configs (one per perturbation family): {', '.join(configs)}",
        f"config = {first!r}",
        f"rows = {call.replace('{config!r}', 'config')}",
        "# every example appears once per variant slot: group by example_id, compare across variant_id",
    ]
    return "\n".join(lines)


def details(board: Board, snapshot: Snapshot, chosen: str) -> tuple[str, str, dict, str]:
    entry = next((e for e in snapshot.releases if ref(e) == chosen), None)
    if entry is None:
        return (
            "No release registered yet.",
            "",
            common.table_value(pd.DataFrame(columns=["variant_id", "family"])),
            "",
        )
    summary = entry.get("manifest") or {}
    numbers = summary.get("counts") or {}
    manifest = board.manifest(entry)
    lines = [
        f"### {common.escape_markdown(ref(entry))}",
        f"{common.escape_markdown(entry.get('task_type') or '')} · {numbers.get('examples', '?')} examples × "
        f"{numbers.get('slots', '?')} slots = {numbers.get('rows', '?')} rows · "
        f"{numbers.get('tasks', '?')} tasks · "
        f"split {common.escape_markdown(summary.get('split') or '?')}",
        f"Content hash `{common.escape_markdown(entry.get('content_hash', ''))}` · built by "
        f"{common.escape_markdown(summary.get('builder_version') or '?')}"
        + (f" · Hub commit `{common.escape_markdown(entry['commit'])}`" if entry.get("commit") else ""),
        f"Public files: {common.escape_markdown(entry.get('public', ''))}",
    ]
    if numbers.get("dropped"):
        lines.append(f"{numbers['dropped']} source rows left out (see the dataset card).")
    changelog = manifest.get("changelog") or []
    log_lines = ["#### Changelog"] + (
        [
            f"- **{common.escape_markdown(c.get('version', ''))}**: "
            f"{common.escape_markdown(c.get('notes', ''))}"
            for c in changelog
        ]
        if changelog
        else ["(the release manifest is unavailable or has no changelog)"]
    )
    citation = str((manifest.get("spec") or {}).get("citation") or "")
    slots = pd.DataFrame(summary.get("slots") or [], columns=["variant_id", "family"])
    return "\n\n".join(lines + log_lines), snippet(entry), common.table_value(slots), citation


def build(board: Board, demo: gr.Blocks) -> None:
    snapshot = board.snapshot()
    table = gr.Dataframe(
        value=common.table_value(releases_table(snapshot)),
        interactive=False,
        latex_delimiters=[],
        show_label=False,
        elem_id="datasets-table",
    )
    choices = [
        ref(e)
        for e in sorted(snapshot.releases, key=lambda e: analysis.release_sort_key(ref(e)), reverse=True)
    ]
    chosen = gr.Dropdown(choices, value=choices[0] if choices else None, label="Release version")
    with gr.Row():
        with gr.Column(scale=3):
            about = gr.Markdown()
            code = gr.Code(language="python", label="Load this version", interactive=False, lines=7)
            citation = gr.Textbox(
                label="Cite the source benchmark", lines=6, interactive=False, buttons=["copy"]
            )
        with gr.Column(scale=2):
            slots = gr.Dataframe(
                interactive=False, latex_delimiters=[], label="Variant slots", max_height=520
            )

    def show(release: str):
        """A release version's summary and changelog, load_dataset snippet, slots and source citation."""
        return details(board, board.snapshot(), release)

    chosen.change(show, chosen, [about, code, slots, citation], api_name="datasets")

    def refresh(current):
        current_snapshot = board.snapshot()
        names = [
            ref(e)
            for e in sorted(
                current_snapshot.releases, key=lambda e: analysis.release_sort_key(ref(e)), reverse=True
            )
        ]
        value = current if current in names else (names[0] if names else None)
        return common.table_value(releases_table(current_snapshot)), gr.Dropdown(choices=names, value=value)

    demo.load(refresh, chosen, [table, chosen], api_visibility="private").then(
        show, chosen, [about, code, slots, citation], api_visibility="private"
    )
