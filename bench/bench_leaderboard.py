"""Leaderboard speed: first render of the table and correlation-tab updates on a large results store.

Targets (issue 5): with 500 models × 60 tasks in the store, the table's first render under 2 s and a
correlation-tab update under 1 s of server time, on this machine.

The store is benchmark *input*: simulated models (a logistic ability × item difficulty model with
per-slot prompt effects and favourite wrong options) give correctness and answer matrices, which the
real scorer (`submissions.metrics.score_matrix`) turns into result records and details exactly as the
worker does; they are written in the store layout of docs/architecture.md. It is generated once and
reused (`--store`), since scoring 500 submissions takes a few minutes.

What is timed (wall clock, `time.perf_counter`, in this process):
  startup      a fresh Board builds its snapshot: reads and flattens every result record and ranks
               each release (paired sign tests over the stored details) — done once per process, and
               again only for releases whose results change;
  first render the Leaderboard tab's handler for a new visitor (default filters) on that snapshot;
  re-render    the same handler after a filter change;
  correlation  the Correlation tab's update for one choice, nothing cached: its first step (points,
               plot, correlation table without the bootstrap, decomposition, partial correlations —
               what the visitor waits for), its chained second step (the bootstrap CIs of ρ and τ of
               every group), then the whole update again with the view cached;
  HTTP         the same two handlers called through the real Gradio server with gradio_client.

    python bench/bench_leaderboard.py [--models 500] [--tasks 60] [--store DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from leaderboard.board import Board, Settings  # noqa: E402
from leaderboard.views import correlation, leaderboard  # noqa: E402
from robustboard.atomic import dumps_json  # noqa: E402
from submissions.matrix import Matrix  # noqa: E402
from submissions.metrics import details_frame, score_matrix  # noqa: E402
from submissions.store import LocalBackend  # noqa: E402
from submissions.validation import MODEL_TYPES  # noqa: E402

SLOTS = (
    ("original", "original"),
    ("typos-p0.05-r1", "typos"),
    ("typos-p0.05-r2", "typos"),
    ("casing-lower", "casing"),
    ("synonyms-p0.2-r1", "synonyms"),
    ("instruction-3", "instruction"),
    ("enumerator-roman", "enumerator"),
    ("choice-order-random-r1", "choice_order"),
    ("choice-order-reversed", "choice_order"),
    ("fewshot-k3", "fewshot"),
)
RELEASE = ("bench", "1.0.0")


def simulate(models: int, tasks: int, per_task: int, seed: int):
    """Yield (index, Matrix) per simulated model: correctness and answer contents over examples × slots."""
    rng = np.random.default_rng(seed)
    n = tasks * per_task
    task_names = np.repeat([f"task_{t:02d}" for t in range(tasks)], per_task)
    example_ids = np.array([f"bench-{i:05d}" for i in range(n)])
    order = np.argsort(example_ids)
    difficulty = rng.normal(0, 1.2, n) + np.repeat(rng.normal(0, 0.8, tasks), per_task)
    slot_effect = rng.normal(0, 0.25, len(SLOTS))
    slot_effect[0] = 0.0
    favourite = rng.integers(1, 4, n)
    for m in range(models):
        ability = rng.normal(0.3, 1.3)
        sensitivity = rng.uniform(0.5, 1.5)
        logits = (
            ability - difficulty[:, None] + sensitivity * slot_effect[None, :] + rng.normal(0, 0.6, (n, 1))
        )
        correct = rng.random((n, len(SLOTS))) < 1 / (1 + np.exp(-logits))
        wrong = np.where(
            rng.random((n, len(SLOTS))) < 0.7, favourite[:, None], rng.integers(1, 4, (n, len(SLOTS)))
        )
        answers = np.where(correct, 0, wrong).astype(np.int64)
        k = len(SLOTS)
        yield (
            m,
            Matrix(
                example_ids=example_ids[order],
                tasks=task_names[order],
                slots=tuple(s for s, _ in SLOTS),
                families=tuple(f for _, f in SLOTS),
                correct=correct[order].astype(np.uint8),
                answers=answers[order],
                provided=np.ones((n, k), bool),
                failed=np.zeros((n, k), bool),
                inverse_distractors=np.full(n, 1 / 3),
                extraction={"label": n * k},
            ),
        )


def generate(store: Path, models: int, tasks: int, per_task: int, resamples: int) -> None:
    backend = LocalBackend(store)
    started = time.perf_counter()
    entry = {
        "name": RELEASE[0],
        "version": RELEASE[1],
        "content_hash": "b" * 64,
        "task_type": "multiple_choice",
        "public": str(store / "no-public-files"),
        "labels": str(store / "no-labels"),
        "commit": None,
        "labels_commit": None,
        "registered_at": "2026-01-01T00:00:00.000000Z",
        "manifest": {
            "counts": {
                "examples": tasks * per_task,
                "slots": len(SLOTS),
                "rows": tasks * per_task * len(SLOTS),
                "tasks": tasks,
            },
            "configs": {},
            "split": "test",
            "labels_sha256": "c" * 64,
            "builder_version": "bench",
            "slots": [{"variant_id": s, "family": f} for s, f in SLOTS],
        },
    }
    backend.write_files(
        {f"releases/{RELEASE[0]}@{RELEASE[1]}.json": dumps_json(entry).encode()}, message="bench"
    )
    rng = np.random.default_rng(1)
    for m, matrix in simulate(models, tasks, per_task, seed=0):
        sid = f"{m:016x}"
        stamp = f"2026-01-01T00:{m // 60 % 60:02d}:{m % 60:02d}.000000Z"
        name = f"bench-org-{m % 37}/model-{m:03d}"
        model = {
            "name": name,
            "revision": "main",
            "params_b": float(np.round(np.exp(rng.uniform(-1, 6)), 1)),
            "type": MODEL_TYPES[m % len(MODEL_TYPES)],
            "link": f"https://huggingface.co/{name}",
            "license": "apache-2.0",
            "submitter": "bench",
        }
        result = {
            "submission_id": sid,
            "model": model,
            "release": {"name": RELEASE[0], "version": RELEASE[1], "content_hash": "b" * 64, "commit": None},
            "scorer_version": "bench",
            "submission_sha256": "0" * 64,
            "submitted_at": stamp,
            "scored_at": stamp,
            **score_matrix(matrix, n_resamples=resamples, seed=m),
        }
        request = {
            "submission_id": sid,
            "status": "FINISHED",
            "reason": "",
            "submitted_at": stamp,
            "started_at": stamp,
            "heartbeat_at": stamp,
            "finished_at": stamp,
            "attempts": 1,
            "raw_sha256": "0" * 64,
            "raw_format": "jsonl",
            "release": "@".join(RELEASE),
            "model": model,
            "submitter": "bench",
        }
        details = io.BytesIO()
        details_frame(matrix).to_parquet(details, index=False)
        backend.write_files(
            {
                f"details/{sid}.parquet": details.getvalue(),
                f"results/{sid}.json": dumps_json(result).encode(),
                f"requests/{sid}.json": dumps_json(request).encode(),
            },
            message="bench",
        )
        if m % 50 == 49:
            print(f"  generated {m + 1}/{models} results ({time.perf_counter() - started:.0f} s)", flush=True)
    (store / ".bench.json").write_text(json.dumps({"models": models, "tasks": tasks, "per_task": per_task}))


def timed(fn, *args, repeat: int = 1):
    """(value, wall times, process CPU times): on a shared machine wall > CPU shows contention."""
    times, cpu, value = [], [], None
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        value = fn(*args)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    timed.cpu = cpu
    return value, times


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=60)
    parser.add_argument("--examples-per-task", type=int, default=20)
    parser.add_argument(
        "--resamples", type=int, default=100, help="scorer bootstrap resamples when generating"
    )
    parser.add_argument("--store", type=Path, default=None, help="store folder (generated if missing)")
    parser.add_argument(
        "--no-http", action="store_true", help="skip the round trips through the Gradio server"
    )
    args = parser.parse_args()
    store = args.store or Path(f"/tmp/robustboard-bench-{args.models}x{args.tasks}")
    shape = {"models": args.models, "tasks": args.tasks, "per_task": args.examples_per_task}
    marker = store / ".bench.json"
    if not marker.is_file() or json.loads(marker.read_text()) != shape:
        print(
            f"generating {args.models} results × {args.tasks} tasks in {store} (real scorer) ...", flush=True
        )
        generate(store, args.models, args.tasks, args.examples_per_task, args.resamples)
    print(
        f"store {store}: {args.models} models × {args.tasks} tasks × {args.examples_per_task} examples × "
        f"{len(SLOTS)} slots; python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )

    settings = Settings.from_env({}, store=str(store), refresh_seconds=3600)
    board = Board.open(settings)
    snapshot, (startup,) = timed(board.snapshot)
    startup_cpu = timed.cpu[0]
    release = "@".join(RELEASE)
    assert len(snapshot.frames.runs) == args.models, "the store does not hold the expected results"
    ranks = sorted(snapshot.ranks.values())
    print(
        f"startup snapshot (read + flatten {args.models} records, rank with paired tests): {startup:.2f} s "
        f"(CPU {startup_cpu:.2f} s); {len(set(ranks))} tie groups; load average {os.getloadavg()[0]:.1f}"
    )

    types = list(MODEL_TYPES)
    default = (
        release,
        types,
        None,
        True,
        "",
        list(leaderboard.DEFAULT_COLUMNS),
        [],
        [],
        "accuracy",
        "rank",
        False,
    )

    def render(values):
        query = leaderboard.query_from(*values)
        rendered = leaderboard.render(board.snapshot(), query)
        leaderboard.downloads(rendered)
        return rendered

    rendered, first = timed(render, default)
    first_cpu = timed.cpu[0]
    filtered = (
        release,
        types[:3],
        30.0,
        True,
        "org-1",
        list(leaderboard.DEFAULT_COLUMNS),
        [f"task_{t:02d}" for t in range(10)],
        ["typos", "fewshot"],
        "consistency",
        "kappa",
        False,
    )
    _, again = timed(render, filtered, repeat=5)
    print(
        f"leaderboard first render ({len(rendered.table)} rows): {ms(first[0])} (CPU {ms(first_cpu)}) "
        f"[target < 2000 ms]; re-render with filters and 12 extra columns: median "
        f"{ms(statistics.median(again))}"
    )

    correlation.warm_plotly()  # as build_app does before serving
    choices = [
        ("consistency", "model×task", "per task"),
        ("kappa", "model×task", "per task"),
        ("consistency", "model×task", "per model"),
        ("worst_case_accuracy", "model", "per task"),
    ]
    for metric, unit, scope in choices:
        # a visitor's update: the first step (plot, estimates, decomposition, partial correlations) ...
        _, fast = timed(
            lambda m=metric, u=unit, c=scope: correlation.outputs_for(
                board, release, m, u, "model", c, intervals=False
            )
        )
        fast_cpu = timed.cpu[0]
        # ... then the chained step that fills in the bootstrap CIs of ρ and τ
        _, fill = timed(correlation.interval_outputs, board, release, metric, unit, scope)
        _, warm = timed(correlation.outputs_for, board, release, metric, unit, "task", scope, repeat=3)
        print(
            f"correlation {metric:>19} / {unit:<10} / {scope:<9}: first step {ms(fast[0]):>7} "
            f"(CPU {ms(fast_cpu)}) [target < 1000 ms]; CI step {ms(fill[0])}; "
            f"cached {ms(statistics.median(warm))}"
        )

    if not args.no_http:
        from gradio_client import Client

        from leaderboard.app import launch

        served = Board.open(Settings.from_env({}, store=str(store), refresh_seconds=3600, run_worker=False))
        served.snapshot()
        demo = launch(served, host="127.0.0.1", port=None, prevent_thread_lock=True, quiet=True)
        try:
            client = Client(demo.local_url, verbose=False)
            _, rows = timed(lambda: client.predict(api_name="/leaderboard"), repeat=3)
            args_c = (release, "consistency", "model×task", "model", "per task")
            _, corr = timed(lambda: client.predict(*args_c, api_name="/correlation"), repeat=3)
            print(
                f"HTTP round trip via gradio_client: /leaderboard median "  # /correlation: the full view
                f"{statistics.median(rows) * 1000:.0f} ms, /correlation first {corr[0] * 1000:.0f} ms, "
                f"then median {statistics.median(corr[1:]) * 1000:.0f} ms"
            )
        finally:
            demo.close()
            served.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
