"""Profile our side of a missed perturbation target with py-spy and summarise where the time goes.

(Not named `profile.py`: this folder is on the workers' sys.path, and a `profile` module there would
shadow the standard library's, which cProfile — imported by torch/transformers — needs.)

    python bench/peers/profile_ours.py typos 0.05 [--rows 10000] [--passes 3]

Runs `--passes` cold passes (caches cleared, as in the timed comparison) of our perturbation over the
same MMLU rows under `py-spy record` (the binary from `.bench-venv`; it samples the product's python
from outside, nothing is installed into the product environment), keeps only the samples taken inside
the timed passes, and prints JSON: total samples, the top functions by self time and by inclusive
time (file:function, share of the passes' samples).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from driver import OUR_PYTHON, PEER_VENV, worker_env  # noqa: E402

PASSES = """
import sys
sys.path.insert(0, {here!r})
from common import mmlu_rows, use_shared_nltk_data
use_shared_nltk_data()
import perturb_sides
rows = mmlu_rows({rows})
for i, row in enumerate(rows):
    row["_pos"] = row["_index"] = i
augment = perturb_sides.ours_{name}({p})
augment(rows)  # first pass: lazy loading, not profiled below
def timed_pass():
    augment(rows)
for _ in range({passes}):
    perturb_sides.clear_our_caches()  # outside the profiled frames, as outside the worker's timer
    timed_pass()
"""
SCORE_PASSES = """
import sys
sys.path.insert(0, {here!r})
from score_sides import ours
ours({folder!r})  # first run: imports and file cache, not profiled below
def timed_pass():
    ours({folder!r})
for _ in range({passes}):
    timed_pass()
"""
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^:()]+)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    file = match["file"]
    for marker in ("/work/main/", "site-packages/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{file}:{match['func']}"


def summarise(raw: str, top: int = 12) -> dict:
    self_time: Counter = Counter()
    inclusive: Counter = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if "timed_pass " not in stack and "timed_pass (" not in stack:
            continue
        frames = stack.split(";")
        start = next(i for i, f in enumerate(frames) if f.startswith("timed_pass ")) + 1
        frames = [frame_name(f) for f in frames[start:]]
        if not frames:
            continue
        n = int(count)
        total += n
        self_time[frames[-1]] += n
        for name in set(frames):
            inclusive[name] += n
    share = lambda counter: [  # noqa: E731
        {"function": name, "share": round(count / total, 3)} for name, count in counter.most_common(top)
    ]
    return {"samples": total, "self": share(self_time), "inclusive": share(inclusive)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="a perturbation, or `score` to profile our scorer")
    parser.add_argument("p", help="the perturbation's rate, or the scoring input folder")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    py_spy = PEER_VENV / "bin" / "py-spy"
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "passes.py"
        if args.name == "score":
            script.write_text(SCORE_PASSES.format(here=str(HERE), folder=args.p, passes=args.passes))
        else:
            script.write_text(
                PASSES.format(
                    here=str(HERE), rows=args.rows, name=args.name, p=float(args.p), passes=args.passes
                )
            )
        raw = Path(tmp) / "profile.raw"
        subprocess.run(
            [
                str(py_spy),
                "record",
                "--format",
                "raw",
                "--rate",
                "200",
                "-o",
                str(raw),
                "--",
                str(OUR_PYTHON),
                str(script),
            ],
            check=True,
            capture_output=True,
            env={**worker_env(), "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        result = summarise(raw.read_text())
    result.update(
        perturbation=args.name, p=args.p, rows=args.rows, passes=args.passes, profiler="py-spy --rate 200"
    )
    if args.name == "score":
        result.update(perturbation="score (read + validate + extract + every metric with CIs)", rows=None)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
