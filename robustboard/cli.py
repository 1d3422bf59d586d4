"""The `robustboard` command: each package contributes its subcommands through `cli.register`."""

from __future__ import annotations

import argparse
import importlib
import sys

# Packages whose `cli.register(subparsers)` adds subcommands, in the order the data flows.
COMMAND_MODULES = (
    "builder.cli",
    "robustboard.hub_cli",
    "submissions.cli",
    "leaderboard.cli",
    "baselines.cli",
    "robustboard.pipeline",
)


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit status 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robustboard",
        description=(
            "Build versioned, perturbed benchmark releases; score model predictions for accuracy and "
            "robustness against hidden labels; serve the leaderboard. Start with `robustboard demo`."
        ),
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name and name.startswith(err.name):  # that package has no commands yet
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        print(f"robustboard {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
