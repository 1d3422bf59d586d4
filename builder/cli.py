"""`robustboard build` and `robustboard lmeval`: the builder's commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from robustboard.cli import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    from builder.slots import builtin_release_specs
    from builder.specs import builtin_names

    build = subparsers.add_parser(
        "build",
        help="build a versioned, perturbed release of a benchmark (public folder + private labels)",
        description=(
            "Build a benchmark spec into a release: one parquet config per perturbation family, a dataset "
            "card and a manifest in --out, the gold answers in --labels-out (keep that folder private)."
        ),
        epilog=(
            f"built-in specs: {', '.join(builtin_names())}; "
            f"built-in slot sets: {', '.join(builtin_release_specs())}"
        ),
    )
    build.add_argument("spec", help="a built-in spec name or the path of a spec YAML file")
    build.add_argument("--out", required=True, type=Path, help="the public release folder")
    build.add_argument("--labels-out", type=Path, help="the private labels folder (default: OUT_labels)")
    build.add_argument("--version", default="1.0.0", help="semantic version of the release (default 1.0.0)")
    build.add_argument("--seed", type=int, default=0, help="release seed (default 0)")
    build.add_argument("--limit", type=int, help="only the first N valid examples (for quick trials)")
    build.add_argument(
        "--slots", help="release spec: a built-in slot set name or a YAML path (default: default)"
    )
    build.add_argument(
        "--data-file",
        action="append",
        default=[],
        metavar="SPLIT=PATH",
        help="read SPLIT from a local file instead of the spec's source (repeatable)",
    )
    build.add_argument("--force", action="store_true", help="overwrite a differing build of the same version")
    build.add_argument("--notes", default="", help="changelog notes for this version")
    build.add_argument(
        "--repo-id", help="the Hub repo the release will be published as (for the card's snippets)"
    )
    build.add_argument(
        "--audit", type=int, default=0, metavar="N", help="export N random pairs per slot to review"
    )
    build.add_argument("--audit-out", type=Path, help="audit file (.md or .jsonl; default: LABELS-audit.md)")
    build.add_argument("--lmeval", type=Path, metavar="DIR", help="also write lm-eval task YAMLs into DIR")
    build.add_argument("--workers", type=int, help="worker processes (default: all cores on large builds)")
    build.set_defaults(func=run_build)

    lmeval = subparsers.add_parser(
        "lmeval",
        help="write lm-evaluation-harness task YAMLs for a release",
        description="Write one lm-eval task per config of a release (and a group task running them all).",
    )
    lmeval.add_argument("release", type=Path, help="a release folder (with manifest.json)")
    lmeval.add_argument("--out", required=True, type=Path, help="folder for the task YAMLs (--include_path)")
    lmeval.add_argument(
        "--data-prefix", help="where lm-eval reads the parquet from, e.g. hf://datasets/ORG/NAME@v1.0.0"
    )
    lmeval.set_defaults(func=run_lmeval)


def run_build(args: argparse.Namespace) -> int:
    from builder.lmeval import write_lmeval_tasks
    from builder.release import build_release
    from builder.specs import load_spec

    spec = load_spec(args.spec)
    if args.data_file:
        data_files = {}
        for item in args.data_file:
            split, sep, path = item.partition("=")
            if not sep or not split or not path:
                raise UserError(f"--data-file {item!r}: expected SPLIT=PATH, e.g. test=data/test.jsonl")
            data_files[split] = str(Path(path).resolve())
        spec = spec.with_data_files(data_files)
    labels_out = args.labels_out or args.out.with_name(f"{args.out.name}_labels")
    build_release(
        spec,
        args.out,
        labels_out,
        version=args.version,
        seed=args.seed,
        limit=args.limit,
        release_spec=args.slots,
        force=args.force,
        notes=args.notes,
        repo_id=args.repo_id,
        audit_per_slot=args.audit,
        audit_path=args.audit_out,
        workers=args.workers,
    )
    if args.lmeval:
        paths = write_lmeval_tasks(args.out, args.lmeval)
        print(f"lm-eval: {len(paths)} task files in {args.lmeval}")
    return 0


def run_lmeval(args: argparse.Namespace) -> int:
    from builder.lmeval import write_lmeval_tasks

    paths = write_lmeval_tasks(args.release, args.out, data_prefix=args.data_prefix)
    for path in paths:
        print(path)
    return 0
