"""Time every baseline on a release (default: full MMLU from ../shared/data with the default slots).

    python bench/bench_baselines.py                       # builds MMLU into a temp folder first
    python bench/bench_baselines.py --release DIR         # an existing release folder
    python bench/bench_baselines.py --release DIR --minilm-sample 2000   # + MiniLM, sampled
    python bench/bench_baselines.py --release DIR --labels LABELS        # + scores (after the timing)

Each baseline runs cold (a fresh cache folder) and its wall time, rows and rows/s are printed. The
MiniLM baseline costs one CPU forward pass per distinct model input; with `--minilm-sample N` the
script counts the release's distinct inputs, times N of them (a seeded random sample, encoded as the
baseline encodes them) and prints the measured throughput and the time it implies for the whole
release, marked as an extrapolation. `--minilm-full` runs it on everything instead.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from baselines.context import RunContext  # noqa: E402
from baselines.models import applicable, missing_extra, run_baseline  # noqa: E402
from baselines.release import TASK_COLUMNS, open_release  # noqa: E402


def build_mmlu(root: Path) -> Path:
    from builder.release import build_release
    from builder.specs import load_spec

    data = REPO.parent / "shared" / "data" / "mmlu" / "test.jsonl"
    spec = load_spec("mmlu").with_data_files({"test": str(data)})
    start = time.perf_counter()
    build_release(spec, root / "release", root / "labels", progress=False)
    print(f"build: {time.perf_counter() - start:.1f}s", flush=True)
    return root / "release"


def minilm_sample(release, n: int, seed: int) -> None:
    from baselines import embeddings
    from baselines import multiple_choice as mc

    start = time.perf_counter()
    model = embeddings.load_model()
    print(f"minilm-similarity: model load {time.perf_counter() - start:.1f}s", flush=True)
    options = mc.load_options(release)
    pairs = mc.QuestionOptionPairs.of(options)
    texts = pairs.questions + pairs.options
    start = time.perf_counter()
    ids = model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)["input_ids"]
    distinct = {tuple(i): t for i, t in zip(ids, texts, strict=True)}
    q_distinct = len({tuple(i) for i in ids[: len(pairs.questions)]})
    print(
        f"minilm-similarity: {len(pairs.questions)} distinct questions, {len(pairs.options)} "
        f"distinct options, "
        f"{len(distinct)} distinct model inputs ({q_distinct} question inputs); tokenising took "
        f"{time.perf_counter() - start:.1f}s",
        flush=True,
    )
    sample = random.Random(seed).sample(list(distinct.values()), min(n, len(distinct)))
    start = time.perf_counter()
    model.encode(sample, batch_size=embeddings.BATCH_SIZE, normalize_embeddings=True)
    seconds = time.perf_counter() - start
    rate = len(sample) / seconds
    print(
        f"minilm-similarity: encoded a sample of {len(sample)} inputs in {seconds:.1f}s = "
        f"{rate:.1f} inputs/s; EXTRAPOLATED for all {len(distinct)} inputs: "
        f"{len(distinct) / rate / 60:.0f} min",
        flush=True,
    )


def read_labels(path: str):
    from submissions.formats import read_labels as read

    return read(path)


def score_line(labels, predictions) -> str:
    from submissions.metrics import score

    metrics = score(labels, predictions, n_resamples=200)["metrics"]
    keys = ("accuracy", "clean_accuracy", "worst_case_accuracy", "consistency", "pdr")
    return "  ".join(f"{k} {metrics[k]:.3f}" for k in keys)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--release", help="release folder (default: build full MMLU into a temp folder)")
    parser.add_argument("--models", nargs="*", help="baselines (default: all applicable but MiniLM)")
    parser.add_argument("--labels", help="labels folder: also score each baseline (not timed)")
    parser.add_argument("--minilm-sample", type=int, default=0, help="time MiniLM on N sampled inputs")
    parser.add_argument("--minilm-full", action="store_true", help="run MiniLM on the whole release")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-baselines-") as tmp:
        release = open_release(args.release or build_mmlu(Path(tmp)))
        counts = release.manifest.get("counts", {})
        print(
            f"release {release.name} {release.version}: {counts.get('examples')} examples × "
            f"{counts.get('slots')} slots = {counts.get('rows')} rows; {os.cpu_count()} CPUs; "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        start = time.perf_counter()
        release.table(["example_id", "variant_id", *TASK_COLUMNS[release.task_type]])
        print(f"first read of the public files (page cache): {time.perf_counter() - start:.1f}s", flush=True)
        labels = read_labels(args.labels) if args.labels else None
        names = args.models or [n for n in applicable(release) if n != "minilm-similarity"]
        if args.minilm_full:
            names.append("minilm-similarity")
        total = 0.0
        for name in names:
            if missing_extra(name):
                print(f"{name}: skipped, {missing_extra(name)}")
                continue
            cache = Path(tmp) / f"cache-{name}"
            result = run_baseline(release, name, RunContext(cache=cache))
            total += result.seconds
            rows = len(result.predictions)
            rate = rows / result.seconds
            print(f"{name}: {result.seconds:.1f}s for {rows} rows ({rate:,.0f} rows/s)", flush=True)
            for note in result.notes:
                print(f"    {note}")
            if labels is not None:
                print(f"    {score_line(labels, result.predictions)}", flush=True)
        print(f"total for {len(names)} baselines: {total:.1f}s")
        if args.minilm_sample and not args.minilm_full:
            if missing_extra("minilm-similarity"):
                print(f"minilm-similarity: skipped, {missing_extra('minilm-similarity')}")
            else:
                minilm_sample(release, args.minilm_sample, seed=0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
