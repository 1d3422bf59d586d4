"""Benchmark: scoring speed and memory at 100k / 1M / 10M predictions (examples × slots).

Target (issue 4): 1,000,000 predictions (10,000 examples × 100 slots) scored with every metric and
1,000-resample bootstrap CIs in at most 10 s wall and 1.5 GB peak memory on 2 cores, growing
linearly with size.

Inputs are synthetic but shaped like a real release and a real submission (this is benchmark input
data, not a score claim): multiple-choice labels with 4 options, 57 tasks, slots from several
families (typos, casing, enumerators with letter / roman / numeric labels, choice-order slots whose
gold moves), written as a labels folder of parquet files the way the builder writes them;
predictions from a per-example difficulty model (logistic in model ability − item difficulty + slot
effect, wrong answers favouring one distractor per item), formatted mostly as bare labels with some
`(B)`, `Answer: B`, option texts, free text and missing rows, written as parquet.

Each size runs in a fresh subprocess so that its peak RSS is its own; the script prints one line
per run: rows; seconds to read the files, to validate and build the matrices (answer extraction
included), and for every metric with its bootstrap CIs (overall, per task, per family); total wall
seconds; CPU seconds; peak RSS in MB; and the 1-minute load average when the run started (other
processes on the 2 cores inflate wall time: compare `cpu_s`).

    python bench/bench_score.py                 # 100k, 1M (3 repeats) and 10M (1 repeat)
    python bench/bench_score.py --sizes 1000000 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
SHAPES = {100_000: (10_000, 10), 1_000_000: (10_000, 100), 10_000_000: (100_000, 100)}
WORDS = np.array(
    [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "river",
        "mountain",
        "seven",
        "eleven",
        "paris",
        "london",
        "acid",
        "base",
        "enzyme",
        "protein",
        "court",
        "statute",
        "ruling",
        "market",
        "price",
        "demand",
        "supply",
        "theorem",
        "lemma",
        "proof",
        "vector",
        "matrix",
        "tensor",
        "cell",
        "organ",
    ]
)


def slot_plan(k: int) -> list[tuple[str, str, str]]:
    """(variant_id, family, enumerator) for k slots: original + typos/casing/enumerator/choice order."""
    plan = [("original", "original", "upper")]
    kinds = [
        ("typos", "typos-p0.05-r{}", "upper"),
        ("casing", "casing-lower-r{}", "upper"),
        ("enumerator", "enumerator-roman-r{}", "roman"),
        ("enumerator", "enumerator-numeric-r{}", "numeric"),
        ("choice_order", "choice-order-random-r{}", "upper"),
    ]
    i = 0
    while len(plan) < k:
        family, pattern, enum = kinds[i % len(kinds)]
        plan.append((pattern.format(i // len(kinds) + 1), family, enum))
        i += 1
    return plan


ENUMERATORS = {
    "upper": ["A", "B", "C", "D"],
    "roman": ["i", "ii", "iii", "iv"],
    "numeric": ["1", "2", "3", "4"],
}


def make_inputs(n_examples: int, k: int, out: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    plan = slot_plan(k)
    options = rng.choice(WORDS, size=(n_examples, 4, 3))
    texts = np.array([" ".join(o) for o in options.reshape(-1, 3)]).reshape(n_examples, 4)
    gold = rng.integers(0, 4, n_examples)
    tasks = np.array([f"subject_{t:02d}" for t in rng.integers(0, 57, n_examples)])
    difficulty = rng.normal(0, 1.5, n_examples)
    favourite = (gold + rng.integers(1, 4, n_examples)) % 4  # each item's attractive distractor
    ability = 0.8
    example_ids = np.array([f"mmlu-{i}" for i in range(n_examples)])
    prediction_tables = []
    for v, (variant_id, family, enum) in enumerate(plan):
        order = np.tile(np.arange(4), (n_examples, 1))
        if family == "choice_order":
            order = np.argsort(rng.random((n_examples, 4)), axis=1)
        shown = np.take_along_axis(texts, order, axis=1)
        gold_here = np.argmax(order == gold[:, None], axis=1)
        labels = ENUMERATORS[enum]
        table = pa.table(
            {
                "example_id": example_ids,
                "variant_id": np.full(n_examples, variant_id),
                "gold": np.array(labels)[gold_here],
                "task": tasks,
                "choice_labels": pa.array([labels] * n_examples, pa.list_(pa.string())),
                "choices": pa.array(shown.tolist(), pa.list_(pa.string())),
            }
        )
        path = out / "labels" / family / f"test-{v:03d}-of-{k:03d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)

        slot_effect = rng.normal(0, 0.3)
        p_correct = 1 / (1 + np.exp(-(ability - difficulty + slot_effect)))
        right = rng.random(n_examples) < p_correct
        wrong_pick = np.where(rng.random(n_examples) < 0.6, favourite, rng.integers(0, 4, n_examples))
        wrong_pick = np.where(wrong_pick == gold, (gold + 1) % 4, wrong_pick)
        picked = np.where(right, gold, wrong_pick)  # position in the original order
        picked_here = np.argmax(order == picked[:, None], axis=1)
        label = np.array(labels)[picked_here]
        style = rng.random(n_examples)
        text = label.astype(object)
        text[style > 0.90] = "(" + label[style > 0.90] + ")"
        text[style > 0.95] = "Answer: " + label[style > 0.95]
        text[style > 0.97] = shown[style > 0.97, picked_here[style > 0.97]]
        free = style > 0.985
        text[free] = "I believe it is " + shown[free, picked_here[free]] + " here"
        keep = style < 0.995  # the rest are missing predictions
        prediction_tables.append(
            pa.table(
                {
                    "example_id": example_ids[keep],
                    "variant_id": np.full(int(keep.sum()), variant_id),
                    "prediction": pa.array(text[keep].tolist(), pa.string()),
                }
            )
        )
    predictions = pa.concat_tables(prediction_tables)
    pq.write_table(predictions, out / "predictions.parquet")


def measure(folder: Path, n_resamples: int) -> dict:
    """Run inside the child process: read, validate + extract (matrix), metrics + bootstrap."""
    sys.path.insert(0, str(REPO))
    from submissions.formats import read_labels, read_predictions
    from submissions.matrix import build_matrix
    from submissions.metrics import score_matrix

    load = os.getloadavg()[0]
    start = time.perf_counter()
    labels = read_labels(folder / "labels")
    predictions = read_predictions(folder / "predictions.parquet")
    read = time.perf_counter()
    matrix = build_matrix(labels, predictions)
    built = time.perf_counter()
    result = score_matrix(matrix, n_resamples=n_resamples, seed=0)
    done = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "rows": len(labels),
        "read_s": round(read - start, 2),
        "matrix_s": round(built - read, 2),
        "metrics_s": round(done - built, 2),
        "total_s": round(done - start, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "load_before": round(load, 1),
        "accuracy": round(result["metrics"]["accuracy"], 4),
        "coverage": round(result["coverage"], 4),
        "extraction_failure_rate": round(result["extraction_failures"]["rate"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=sorted(SHAPES))
    parser.add_argument("--repeats", type=int, default=3, help="repeats per size (10M runs once)")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child), args.resamples)))
        return
    print(f"cores available: {len(os.sched_getaffinity(0))}")
    for size in args.sizes:
        n_examples, k = SHAPES[size]
        with tempfile.TemporaryDirectory(prefix="bench_score_") as tmp:
            start = time.perf_counter()
            make_inputs(n_examples, k, Path(tmp))
            print(
                f"{size:>11,} rows ({n_examples:,} examples × {k} slots): inputs written in "
                f"{time.perf_counter() - start:.1f}s"
            )
            repeats = 1 if size >= 10_000_000 else args.repeats
            for _ in range(repeats):
                child = subprocess.run(
                    [sys.executable, __file__, "--child", tmp, "--resamples", str(args.resamples)],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                print("   ", child.stdout.strip())


if __name__ == "__main__":
    main()
