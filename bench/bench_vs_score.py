"""Scoring: robustboard's scorer vs unitxt's group robustness metrics and lm-eval's bootstrap stderr.

    python bench/bench_vs_score.py [--sizes 100000 1000000 10000000] [--runs 5] [--json FILE]

Inputs: the scorer benchmark's synthetic release and submission (bench/bench_score.py `make_inputs`:
labels folder + predictions parquet shaped like a real multiple-choice release; benchmark input, not
a score claim) at 100k / 1M / 10M rows (examples × slots as in bench_score.SHAPES), plus the same
predictions one row per cell for the peers (see bench/peers/score_sides.py).

Each run is a fresh process (so its peak RSS is its own): ours with the product's python, the peers
with `.bench-venv`'s; runs are interleaved (ours, unitxt, lm-eval, ours, ...) so machine drift
cancels in the per-run ratios. What each side computes:
- ours: read + validate + extract answers + every metric with 1,000-resample percentile bootstrap
  CIs over examples, overall, per family and per task;
- unitxt: `FixedGroupPDRParaphraseAccuracy` and `FixedGroupNormCohensHParaphraseAccuracy`, groups =
  examples, 1,000 resamples (unitxt's default BCa CIs);
- lm-eval: `bootstrap_stderr(mean, rows, iters=1000)` on the per-row correctness (rows as documents).

Bounded time: a peer whose projection for the next size (linear in rows from its largest measured
size; unitxt's BCa jackknife is quadratic in groups, so max(rows ratio, groups ratio²)) exceeds
`--max-peer-seconds` per run or `--max-peer-mb` of memory is not run at that size: the JSON says so
and gives the projection, marked as an extrapolation. A peer whose first run at a size exceeds
`--repeat-budget` seconds is run once there (n=1 in the JSON).

Agreement (sizes up to `--agreement-max-rows`), where definitions match, tolerance stated in the JSON:
our pdr / cohens_h vs unitxt with one group (pooled means; exact formula, tol 1e-9); the mean of our
per-task values vs unitxt with groups = tasks (tol 1e-9); our accuracy vs lm-eval's mean (tol 1e-12);
the standard error implied by our 95% percentile CI of accuracy, (hi - lo) / 3.92, vs lm-eval's
bootstrap stderr over per-example means (our resampling unit) and its closed form (tol 10%: each
1,000-resample bootstrap SE has ~2.2% Monte-Carlo error, and the CI-to-SE conversion assumes normality).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "peers"))
sys.path.insert(0, str(HERE))

from common import REPO, summary  # noqa: E402
from driver import OUR_PYTHON, PEER_PYTHON, peers_available, worker_env  # noqa: E402

WORKER = HERE / "peers" / "score_worker.py"
SIDES = ("ours", "unitxt", "lmeval")
TOLERANCE = {"exact": 1e-9, "accuracy": 1e-12, "stderr_rel": 0.10}


def prepare(size: int, root: Path, log) -> Path:
    """Write (once) the contract files and the peers' one-row-per-cell view of the same predictions."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from bench_score import SHAPES, make_inputs

    from submissions.formats import read_labels, read_predictions
    from submissions.matrix import build_matrix

    n_examples, k = SHAPES[size]
    folder = root / f"{size}"
    if (folder / "peer_input.parquet").is_file():
        return folder
    start = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    make_inputs(n_examples, k, folder)
    labels = read_labels(folder / "labels")
    predictions = read_predictions(folder / "predictions.parquet")
    matrix = build_matrix(labels, predictions)
    n, k = matrix.shape
    cells = pa.table(
        {
            "example_id": np.repeat(matrix.example_ids, k),
            "variant_id": np.tile(np.array(matrix.slots, dtype=object), n),
            "task": np.repeat(matrix.tasks, k),
            "correct": matrix.correct.reshape(-1),
        }
    )
    gold = pa.Table.from_pandas(labels[["example_id", "variant_id", "gold"]], preserve_index=False)
    given = pa.Table.from_pandas(
        predictions[["example_id", "variant_id", "prediction"]], preserve_index=False
    )
    del labels, predictions, matrix
    joined = cells.join(gold, ["example_id", "variant_id"]).join(
        given, ["example_id", "variant_id"], join_type="left outer"
    )
    reference = joined.column("gold")
    raw = pc.fill_null(joined.column("prediction"), "")
    raw = pc.if_else(pc.equal(raw, reference), "", raw)  # never happens: a literal gold is extracted
    table = pa.table(
        {
            "example_id": joined.column("example_id"),
            "variant_id": joined.column("variant_id"),
            "variant_type": pc.if_else(
                pc.equal(joined.column("variant_id"), "original"), "original", "paraphrase"
            ),
            "task": joined.column("task"),
            "prediction": pc.if_else(pc.equal(joined.column("correct"), 1), reference, raw),
            "reference": reference,
            "correct": joined.column("correct"),
        }
    )
    pq.write_table(table, folder / "peer_input.tmp")
    (folder / "peer_input.tmp").rename(folder / "peer_input.parquet")
    seconds = time.perf_counter() - start
    log(f"  inputs for {size:,} rows ({n_examples:,} examples x {k} slots) in {seconds:.0f}s")
    return folder


def run_side(side: str, folder: Path, timeout: float) -> dict:
    python = OUR_PYTHON if side == "ours" else PEER_PYTHON
    try:
        done = subprocess.run(
            [str(python), str(WORKER), side, str(folder)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=worker_env(),
            cwd=str(REPO),
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s"}
    if done.returncode != 0:
        return {"error": f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def aggregate(runs: list[dict]) -> dict:
    return {
        "n": len(runs),
        "wall_s": summary(r["wall_s"] for r in runs),
        "compute_s": summary(r["compute_s"] for r in runs),
        "cpu_s": summary(r["cpu_s"] for r in runs),
        "peak_rss_mb": summary(max(r["peak_rss_mb"], r["children_peak_rss_mb"]) for r in runs),
        "load_avg_1m": summary(r["load_avg_1m"] for r in runs),
        "values": runs[0]["values"],
    }


def project(side: str, measured: dict, size: int) -> dict:
    """Projection to `size` from the largest measured size (an extrapolation, labelled as such)."""
    from bench_score import SHAPES

    base_size = max(measured)
    base = measured[base_size]
    rows_ratio = size / base_size
    groups_ratio = SHAPES[size][0] / SHAPES[base_size][0]
    factor = max(rows_ratio, groups_ratio**2) if side == "unitxt" else rows_ratio
    return {
        "from_rows": base_size,
        "model": "max(rows ratio, (groups ratio)^2)" if side == "unitxt" else "linear in rows",
        "wall_s": base["wall_s"]["median"] * factor,
        "peak_rss_mb": base["peak_rss_mb"]["median"] * rows_ratio,
        "extrapolated": True,
    }


def agreement(ours_values: dict, folder: Path, timeout: float) -> dict:
    unitxt = run_side("unitxt_agreement", folder, timeout)
    lmeval = run_side("lmeval_agreement", folder, timeout)
    checks = []

    def check(name, ours_value, peer_value, tolerance, relative=False, note=""):
        ok = None
        if ours_value is not None and peer_value is not None:
            diff = abs(ours_value - peer_value)
            ok = diff <= (tolerance * abs(peer_value) if relative else tolerance)
        checks.append(
            {
                "quantity": name,
                "ours": ours_value,
                "peer": peer_value,
                "tolerance": f"{tolerance:g}{' relative' if relative else ' absolute'}",
                "agree": ok,
                "note": note,
            }
        )

    u = unitxt.get("values", {})
    lm = lmeval.get("values", {})
    lo, hi = ours_values["accuracy_ci"]
    ours_se = (hi - lo) / (2 * 1.959964)
    check("pdr (pooled) vs unitxt, one group", ours_values["pdr"], u.get("pdr"), TOLERANCE["exact"])
    check(
        "cohens_h (pooled) vs unitxt, one group",
        ours_values["cohens_h"],
        u.get("cohens_h"),
        TOLERANCE["exact"],
    )
    check(
        "mean over tasks of per-task pdr vs unitxt, groups = tasks",
        ours_values["mean_task_pdr"],
        u.get("mean_task_pdr"),
        TOLERANCE["exact"],
    )
    check(
        "mean over tasks of per-task cohens_h vs unitxt, groups = tasks",
        ours_values["mean_task_cohens_h"],
        u.get("mean_task_cohens_h"),
        TOLERANCE["exact"],
    )
    check("accuracy vs lm-eval mean", ours_values["accuracy"], lm.get("accuracy"), TOLERANCE["accuracy"])
    check(
        "SE of accuracy: ours (CI width / 3.92) vs lm-eval bootstrap_stderr over per-example means",
        ours_se,
        lm.get("example_bootstrap_stderr"),
        TOLERANCE["stderr_rel"],
        relative=True,
    )
    check(
        "SE of accuracy: ours (CI width / 3.92) vs lm-eval mean_stderr over per-example means",
        ours_se,
        lm.get("example_mean_stderr"),
        TOLERANCE["stderr_rel"],
        relative=True,
    )
    return {"checks": checks, "unitxt": unitxt, "lmeval": lmeval}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", type=Path, default=REPO / "out" / "bench-score-inputs")
    parser.add_argument("--max-peer-seconds", type=float, default=600.0)
    parser.add_argument("--max-peer-mb", type=float, default=8000.0)
    parser.add_argument("--repeat-budget", type=float, default=120.0)
    parser.add_argument("--agreement-max-rows", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not peers_available():
        sys.exit(f"no peer environment at {PEER_PYTHON}: run `bash bench/setup_peers.sh`")

    def log(message: str) -> None:
        print(message, flush=True)

    results: dict = {"benchmark": "scoring vs peers", "runs": args.runs, "tolerance": TOLERANCE, "sizes": {}}
    measured: dict[str, dict[int, dict]] = {side: {} for side in SIDES}
    for size in sorted(args.sizes):
        log(f"{size:,} rows")
        folder = prepare(size, args.data, log)
        entry: dict = {}
        active = []
        for side in SIDES:
            if side != "ours" and measured[side]:
                projection = project(side, measured[side], size)
                if (
                    projection["wall_s"] > args.max_peer_seconds
                    or projection["peak_rss_mb"] > args.max_peer_mb
                ):
                    entry[side] = {"not_run": "projected over the bounds", "projection": projection}
                    log(
                        f"  {side}: not run (projected {projection['wall_s']:.0f}s, "
                        f"{projection['peak_rss_mb']:.0f} MB; {projection['model']} from "
                        f"{projection['from_rows']:,} rows)"
                    )
                    continue
            active.append(side)
        runs: dict[str, list[dict]] = {side: [] for side in active}
        for i in range(args.runs):
            for side in list(active):
                result = run_side(side, folder, args.max_peer_seconds * 1.5 if side != "ours" else 3600)
                if "error" in result:
                    entry[side] = {"error": result["error"], "runs": runs[side]}
                    active.remove(side)
                    log(f"  {side} run {i + 1}: {result['error']}")
                    continue
                runs[side].append(result)
                peak = max(result["peak_rss_mb"], result["children_peak_rss_mb"])
                log(
                    f"  {side} run {i + 1}: wall {result['wall_s']:.2f}s "
                    f"(compute {result['compute_s']:.2f}s, cpu {result['cpu_s']:.1f}s), "
                    f"peak {peak:.0f} MB, load {result['load_avg_1m']:.1f}"
                )
                if side != "ours" and i == 0 and result["wall_s"] > args.repeat_budget:
                    active.remove(side)  # one run only at this size: flagged by n = 1
        for side, side_runs in runs.items():
            if side_runs:
                entry[side] = {**entry.get(side, {}), **aggregate(side_runs)}
                measured[side][size] = entry[side]
        if "ours" in runs and runs["ours"]:
            for peer in ("unitxt", "lmeval"):
                paired = list(zip(runs["ours"], runs.get(peer, []), strict=False))
                if paired:
                    entry[f"ratio_{peer}"] = {
                        "wall": summary(p["wall_s"] / o["wall_s"] for o, p in paired),
                        "compute": summary(p["compute_s"] / o["compute_s"] for o, p in paired),
                        "cpu": summary(p["cpu_s"] / o["cpu_s"] for o, p in paired),
                        "pairs": len(paired),
                    }
            if size <= args.agreement_max_rows:
                entry["agreement"] = agreement(runs["ours"][0]["values"], folder, args.max_peer_seconds * 1.5)
                for c in entry["agreement"]["checks"]:
                    log(f"  agree={c['agree']}: {c['quantity']}: ours {c['ours']} peer {c['peer']}")
        results["sizes"][str(size)] = entry
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, default=_json_default))
    return results


def _json_default(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    raise TypeError(type(value))


if __name__ == "__main__":
    main()
