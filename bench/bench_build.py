"""Benchmark: build the full MMLU test set (14,042 questions) with the default slot set.

Target (issue 2): at most 60 s wall and 2 GB peak memory on a 2-core machine.

    python bench/bench_build.py [--data ../shared/data/mmlu/test.jsonl] [--workers N] [--keep DIR]

Reads the local copy of MMLU through the built-in `mmlu` spec (same fields, same dropped rows as
the Hub / PyPI sources), builds into a temporary folder (or --keep DIR) and prints the wall time
and the peak resident memory of the main process and of the largest worker. Forked workers share
the parent's pages copy-on-write, so "main + workers × largest worker" is an upper bound.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("NLTK_DATA", str(REPO.parent / "shared" / "nltk_data"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "mmlu" / "test.jsonl")
    parser.add_argument("--workers", type=int, default=None, help="default: all cores")
    parser.add_argument("--keep", type=Path, help="build into this folder instead of a temporary one")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    from builder.release import build_release
    from builder.specs import load_spec

    spec = load_spec("mmlu").with_data_files({"test": str(args.data.resolve())})
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp) / "mmlu"
        manifest = build_release(
            spec,
            out,
            out.with_name(out.name + "_labels"),
            force=True,
            workers=args.workers,
            log=lambda message: print(message, flush=True),
            progress=False,
        )
        wall = time.perf_counter() - start
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    main_mb, child_mb = own.ru_maxrss / 1024, children.ru_maxrss / 1024
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    workers = args.workers or os.cpu_count() or 1
    counts = manifest["counts"]
    print(
        f"MMLU build: {counts['examples']} examples x {counts['slots']} slots = {counts['rows']} rows, "
        f"{len(manifest['configs'])} configs, {size / 1e6:.1f} MB public"
    )
    print(f"wall time (imports included): {wall:.1f} s on {os.cpu_count()} cores, {workers} workers")
    print(
        f"CPU time (all processes): {cpu:.1f} s; load average before/after: "
        f"{load_before:.1f}/{os.getloadavg()[0]:.1f} (other work on the machine slows the wall time)"
    )
    print(
        f"peak RSS: main {main_mb:.0f} MB, largest worker {child_mb:.0f} MB, "
        f"upper bound main + {workers} x worker = {main_mb + workers * child_mb:.0f} MB"
    )
    ok = wall <= 60 and main_mb + workers * child_mb <= 2048
    print("target (<= 60 s, <= 2 GB):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
