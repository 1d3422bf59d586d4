"""Commands: serve (the leaderboard app), space (a deployable Hugging Face Space folder)."""

from __future__ import annotations

import argparse
from pathlib import Path

from robustboard.cli import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="serve the leaderboard app (Gradio) over a results store")
    p.add_argument("--store", help="results store: a folder or hf://ORG/NAME (default: $ROBUSTBOARD_STORE)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    p.add_argument("--title", help="page title (default: $ROBUSTBOARD_TITLE or robustboard)")
    p.add_argument(
        "--no-worker",
        action="store_true",
        help="do not score queued submissions here (a `robustboard worker` does)",
    )
    p.set_defaults(func=_serve)

    p = subparsers.add_parser("space", help="write a Hugging Face Space folder that serves the leaderboard")
    p.add_argument("--out", required=True, help="folder to write (created; must be empty if it exists)")
    p.add_argument("--store", required=True, help="the results store the Space reads: hf://ORG/NAME")
    p.add_argument("--title", default="robustboard", help="Space and page title")
    p.add_argument(
        "--dataset",
        action="append",
        default=[],
        metavar="ORG/NAME",
        help="a released dataset repo to list in the Space metadata (repeatable)",
    )
    p.set_defaults(func=_space)


def _serve(args: argparse.Namespace) -> int:
    from leaderboard.app import launch
    from leaderboard.board import Board, Settings
    from submissions.store import HF_SCHEME, StoreError

    try:
        settings = Settings.from_env(
            store=args.store, title=args.title, run_worker=False if args.no_worker else None
        )
    except ValueError as err:
        raise UserError(str(err)) from None
    if not settings.store.startswith(HF_SCHEME) and not Path(settings.store).is_dir():
        raise UserError(f"--store {settings.store}: no such folder (register a release there first)")
    if not 0 < args.port < 65536:
        raise UserError(f"--port {args.port}: not a TCP port")
    try:
        board = Board.open(settings)
        board.snapshot()
    except StoreError as err:
        raise UserError(f"--store {settings.store}: {err}") from None
    launch(board, host=args.host, port=args.port)
    return 0


def _space(args: argparse.Namespace) -> int:
    from leaderboard.space import SpaceError, write_space

    try:
        out = write_space(args.out, store=args.store, title=args.title, datasets=args.dataset)
    except SpaceError as err:
        raise UserError(str(err)) from None
    print(
        f"wrote the Space to {out}; upload it with `huggingface-cli upload --repo-type space ORG/NAME {out}`"
    )
    return 0
