"""Suites: build every benchmark of a suite, run the real baselines on it, score them into a store.

This is the one place that composes the three parts (builder → baselines → submissions → leaderboard),
so that `robustboard demo` is the same code path a user would walk by hand with `build`, `baselines`,
`register`, `submit` and `serve`. Every step is cached in the work folder: a rerun rebuilds nothing
whose inputs did not change and resubmits nothing already scored (the store is idempotent).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from robustboard.cli import UserError

if TYPE_CHECKING:
    import pandas as pd

SUITE_KEYS = {"name", "description", "benchmarks", "baselines"}
BENCHMARK_KEYS = {"spec", "slots", "limit", "version", "seed", "train", "train_columns"}


@dataclass(frozen=True)
class Benchmark:
    spec: str  # a built-in spec name or a YAML path (resolved against the suite file)
    slots: str | None = None
    limit: int | None = None
    version: str = "1.0.0"
    seed: int = 0
    train: Path | None = None  # classification: train the classifiers on this file instead
    train_columns: tuple[tuple[str, str], ...] = ()  # spec source column ← train file column


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    benchmarks: tuple[Benchmark, ...]
    baselines: tuple[str, ...] | None  # None: every baseline that applies (and is installed)


def builtin_suites() -> list[str]:
    folder = resources.files("robustboard") / "suites"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_suite(name_or_path: str) -> Suite:
    """A suite from a built-in name or a YAML path, checked up front (one error naming the key)."""
    path = Path(name_or_path)
    if name_or_path in builtin_suites():
        text = (resources.files("robustboard") / "suites" / f"{name_or_path}.yaml").read_text()
        base, origin = None, f"built-in suite {name_or_path!r}"
    elif path.is_file():
        text, base, origin = path.read_text(encoding="utf-8"), path.resolve().parent, str(path)
    else:
        raise UserError(
            f"suite {name_or_path!r}: no such file and no built-in ({', '.join(builtin_suites())})"
        )
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise UserError(f"{origin}: not valid YAML ({err})") from None
    return parse_suite(data, origin, base)


def parse_suite(data: Any, origin: str, base: Path | None) -> Suite:
    def fail(where: str, message: str) -> UserError:
        return UserError(f"{origin}: {where} {message}")

    if not isinstance(data, dict):
        raise fail("the file", "must be a mapping with name, benchmarks and baselines")
    unknown = sorted(set(data) - SUITE_KEYS)
    if unknown:
        raise fail(unknown[0], f"is not a suite key (known: {', '.join(sorted(SUITE_KEYS))})")
    entries = data.get("benchmarks")
    if not isinstance(entries, list) or not entries:
        raise fail("benchmarks", "must be a non-empty list of {spec: ...} entries")
    benchmarks = []
    for i, entry in enumerate(entries):
        where = f"benchmarks[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("spec"), str):
            raise fail(where, "must be a mapping with a `spec` (built-in name or YAML path)")
        bad = sorted(set(entry) - BENCHMARK_KEYS)
        if bad:
            raise fail(
                f"{where}.{bad[0]}", f"is not a benchmark key (known: {', '.join(sorted(BENCHMARK_KEYS))})"
            )
        spec = entry["spec"]
        if base is not None and spec.endswith((".yaml", ".yml")):
            spec = str((base / spec).resolve())
        train = entry.get("train")
        if train is not None and base is not None:
            train = (base / train).resolve()
        columns = entry.get("train_columns") or {}
        if not isinstance(columns, dict):
            raise fail(f"{where}.train_columns", "must map spec source columns to train-file columns")
        limit = entry.get("limit")
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise fail(f"{where}.limit", "must be a positive integer")
        benchmarks.append(
            Benchmark(
                spec=spec,
                slots=entry.get("slots"),
                limit=limit,
                version=str(entry.get("version", "1.0.0")),
                seed=int(entry.get("seed", 0)),
                train=Path(train) if train is not None else None,
                train_columns=tuple(sorted((str(k), str(v)) for k, v in columns.items())),
            )
        )
    baselines = data.get("baselines", "all")
    if baselines != "all" and not (
        isinstance(baselines, list) and all(isinstance(b, str) for b in baselines)
    ):
        raise fail("baselines", "must be `all` or a list of baseline names")
    return Suite(
        name=str(data.get("name") or "suite"),
        description=str(data.get("description") or ""),
        benchmarks=tuple(benchmarks),
        baselines=None if baselines == "all" else tuple(baselines),
    )


@dataclass(frozen=True)
class SuiteRun:
    store: Path
    releases: tuple[str, ...]  # name@version
    submitted: int
    scored: int
    seconds: float


def run_suite(
    suite: Suite,
    workdir: str | Path,
    *,
    limit: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> SuiteRun:
    """Build, predict, submit and score every benchmark × applicable baseline of `suite` in `workdir`."""
    from baselines.models import BASELINES, applicable, missing_extra
    from builder.specs import load_spec
    from submissions.limits import Limits
    from submissions.store import open_store

    log = log or (lambda message: print(message, file=sys.stderr))
    start = time.perf_counter()
    work = Path(workdir).resolve()
    store_dir = work / "store"
    store_dir.mkdir(parents=True, exist_ok=True)
    # The operator's own batch of baselines: the public per-submitter quota does not apply to it.
    store = open_store(str(store_dir), limits=Limits.from_env(per_day=0))
    refs, submitted = [], 0
    for bench in suite.benchmarks:
        spec = load_spec(bench.spec)
        effective_limit = limit if limit is not None else bench.limit
        public, labels = _build(spec, bench, work, effective_limit, progress, log)
        entry = store.register_release(str(public), str(labels))
        ref = f"{entry['name']}@{entry['version']}"
        refs.append(ref)
        release = _open_release(public)
        names = [n for n in (suite.baselines or applicable(release)) if n in applicable(release)]
        for name in names:
            missing = missing_extra(name)
            if missing:
                log(f"{ref}: skipping {name}: {missing}")
                continue
            predictions, model = _predict(release, name, bench, work, progress, log)
            store.submit(predictions, release=ref, model=model, submitter="robustboard-demo")
            submitted += 1
        unknown = sorted(set(suite.baselines or ()) - set(BASELINES))
        if unknown:
            raise UserError(
                f"suite {suite.name}: unknown baseline {unknown[0]!r} (known: {', '.join(BASELINES)})"
            )
    pending = store.requests("PENDING")
    if pending:
        log(f"scoring {len(pending)} submission(s)")
    done = store.run_pending()
    failed = [r for r in store.requests("FAILED")]
    for request in failed:
        log(f"FAILED {request['model']['name']} on {request['release']}: {request['reason']}")
    return SuiteRun(store_dir, tuple(refs), submitted, len(done), time.perf_counter() - start)


def _build(spec, bench: Benchmark, work: Path, limit: int | None, progress: bool, log) -> tuple[Path, Path]:
    """Build the release once; reuse it while its manifest says it came from the same inputs."""
    from builder.release import build_release

    tag = spec.name if limit is None else f"{spec.name}-limit{limit}"
    public, labels = work / "releases" / tag, work / "labels" / tag
    manifest_path = public / "manifest.json"
    if manifest_path.is_file() and (labels / "manifest.json").is_file():
        manifest = json.loads(manifest_path.read_text())
        if (
            manifest.get("spec") == spec.to_dict()
            and manifest.get("version") == bench.version
            and manifest.get("seed") == bench.seed
            and manifest.get("limit") == limit
        ):
            log(f"{spec.name}: reusing the release built in {public}")
            return public, labels
    build_release(
        spec,
        public,
        labels,
        version=bench.version,
        seed=bench.seed,
        limit=limit,
        release_spec=_slots_with_available_nltk_data(bench.slots, spec.task, log),
        force=True,
        log=log,
        progress=progress,
    )
    return public, labels


def _slots_with_available_nltk_data(name_or_path: str | None, task_type: str, log):
    """The slot set, less the slots whose NLTK data is not installed (said once, with the fix).

    `robustboard build` refuses to build without the data; the demo must run on a fresh machine that
    reaches only the package registries, where NLTK's downloader cannot reach its data. So it builds
    what it can and names what it left out and how to get it.
    """
    from builder.nltk_resources import missing
    from builder.slots import ReleaseSpec, load_release_spec, resolve_slots

    spec = load_release_spec(name_or_path)
    needs = [
        {
            r
            for slot in resolve_slots(ReleaseSpec(spec.name, (entry,)), task_type)[1:]
            for r in slot.perturbation.nltk_resources
        }
        for entry in spec.entries
    ]
    absent = set(missing(r for resources in needs for r in resources))
    if not absent:
        return spec
    kept = tuple(e for e, resources in zip(spec.entries, needs, strict=True) if not absent & set(resources))
    left_out = sorted({e["perturbation"] for e in spec.entries} - {e["perturbation"] for e in kept})
    names = " ".join(sorted(absent))
    log(
        f"NLTK data {', '.join(sorted(absent))} not found: leaving out the {', '.join(left_out)} slots. "
        f"For the full slot set: `python -m nltk.downloader {names}` (or set NLTK_DATA to a folder that "
        "has them) and rerun."
    )
    return ReleaseSpec(name=f"{spec.name}-without-nltk", entries=kept, description=spec.description)


def _open_release(public: Path):
    from baselines.release import open_release

    return open_release(public)


def _predict(release, name: str, bench: Benchmark, work: Path, progress: bool, log) -> tuple[Path, dict]:
    """Run one baseline once per release content; reuse its predictions file afterwards."""
    from baselines.context import RunContext
    from baselines.models import run_baseline
    from baselines.release import write_predictions
    from robustboard.atomic import write_json

    folder = work / "predictions" / release.manifest["content_hash"][:16]
    predictions, meta = folder / f"{name}.parquet", folder / f"{name}.json"
    if predictions.is_file() and meta.is_file():
        return predictions, json.loads(meta.read_text())
    ctx = RunContext(progress=progress, train_path=_training_file(bench, work))
    result = run_baseline(release, name, ctx)
    for note in result.notes:
        log(f"{release.name}: {name}: {note}")
    write_predictions(result.predictions, predictions)
    write_json(meta, result.model)
    log(f"{release.name}: {name}: {len(result.predictions):,} predictions in {result.seconds:.1f}s")
    return predictions, result.model


def _training_file(bench: Benchmark, work: Path) -> Path | None:
    """The suite's explicit training file, with its columns renamed to the spec's source columns."""
    if bench.train is None:
        return None
    if not bench.train.is_file():
        raise UserError(f"train file {bench.train} does not exist")
    if not bench.train_columns:
        return bench.train
    from builder.sources import read_table
    from robustboard.atomic import atomic_path
    from robustboard.hashing import sha256_file, stable_seed

    key = stable_seed(sha256_file(bench.train), *(f"{a}={b}" for a, b in bench.train_columns))
    target = work / "train" / f"{key:016x}.parquet"
    if not target.is_file():
        table = read_table(str(bench.train), "train").to_pandas()
        renamed = table.rename(columns={theirs: ours for ours, theirs in bench.train_columns})
        with atomic_path(target) as tmp:
            renamed.to_parquet(tmp, index=False)
    return target


# ------------------------------------------------------------------------------------------- report


def report(store_dir: Path, *, metrics: tuple[str, ...] | None = None, n_resamples: int = 1000) -> str:
    """The ranked table of every release and the correlation analysis over all (model, task) points.

    Points pool every release of the store: for MMLU the tasks are its subjects, for a classification
    benchmark the benchmark itself. This is the leaderboard's Correlation tab as text.
    """
    import pandas as pd

    from leaderboard import analysis
    from submissions.store import open_store

    store = open_store(str(store_dir))
    frames = analysis.load_results(store.results())
    lines: list[str] = []
    columns = [
        "model",
        "accuracy",
        "consistency",
        "worst_case_accuracy",
        "pdr",
        "kappa",
        "consistency_excess_independence",
    ]
    for ref in frames.releases:
        runs = frames.runs[frames.runs["release"] == ref].copy()
        runs = runs.sort_values("accuracy", ascending=False)
        shown = runs[[c for c in columns if c in runs]].rename(columns=_short_names())
        lines += [f"## {ref} ({len(runs)} models)", "", _table(shown), ""]

    metrics = metrics or (
        "consistency",
        "correctness_agreement",
        "worst_case_accuracy",
        "kappa",
        "consistency_excess_independence",
        "consistency_excess_difficulty",
    )
    lines += ["## Does robustness follow accuracy? (points = model × task, all releases pooled)", ""]
    rows = []
    decompositions = []
    for metric in metrics:
        points = pd.concat(
            [analysis.correlation_points(frames, ref, metric) for ref in frames.releases], ignore_index=True
        )
        if len(points) < 3:
            continue
        points["task"] = points["task"].astype(str)
        table = analysis.correlation_table(points, scopes=(), n_resamples=n_resamples)
        pooled = table.iloc[0]
        per_task = analysis.correlation_table(points, scopes=("per task",), n_resamples=200)
        per_task = per_task[per_task["scope"] == "per task"]
        positive = int((per_task["spearman_rho"] > 0).sum())
        rows.append(
            {
                "robustness metric": metric,
                "n": int(pooled["n"]),
                "Pearson r [95% CI]": _ci(pooled["pearson_r"], pooled["pearson_lo"], pooled["pearson_hi"]),
                "Spearman ρ [95% CI]": _ci(
                    pooled["spearman_rho"], pooled["spearman_lo"], pooled["spearman_hi"]
                ),
                "Kendall τ": f"{pooled['kendall_tau']:.2f}",
                "p (Spearman)": f"{pooled['spearman_p']:.1e}",
                "tasks with ρ>0": f"{positive}/{len(per_task)}",
                "mean y": f"{points['y'].mean():.3f}",
            }
        )
        shares = analysis.variance_decomposition(points).set_index("term")
        partial = analysis.partial_correlations(points).set_index("control")
        decompositions.append(
            {
                "robustness metric": metric,
                **{f"{t} (seq.)": _share(shares, t, "sequential") for t in ("task", "model", "accuracy")},
                "accuracy (unique)": _share(shares, "accuracy", "unique"),
                "residual": _share(shares, "residual", "sequential"),
                **{
                    f"partial r (control: {c})": _ci(
                        partial.at[c, "r"], partial.at[c, "lo"], partial.at[c, "hi"]
                    )
                    for c in partial.index
                },
            }
        )
    lines += [_table(pd.DataFrame(rows)), ""]
    lines += [
        "### Shares of robustness variance (least squares; sequential order task, model, accuracy) "
        "and partial correlations with accuracy",
        "",
        _table(pd.DataFrame(decompositions)),
        "",
    ]
    return "\n".join(lines)


def _share(shares: pd.DataFrame, term: str, column: str) -> float:
    if term not in shares.index or column not in shares:
        return math.nan
    value = shares.at[term, column]
    return float(value) if value is not None else math.nan


def _short_names() -> dict[str, str]:
    return {
        "worst_case_accuracy": "worst_case",
        "consistency_excess_independence": "consistency_excess",
    }


def _ci(value: float, lo: float, hi: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if lo is None or (isinstance(lo, float) and math.isnan(lo)):
        return f"{value:.2f}"
    return f"{value:.2f} [{lo:.2f}, {hi:.2f}]"


def _table(frame: pd.DataFrame) -> str:
    """A Markdown table (pandas' to_markdown needs tabulate, which earns no place for this)."""
    if frame.empty:
        return "(none)"

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "–" if math.isnan(value) else f"{value:.3f}"
        return str(value).replace("|", "\\|")

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


# ---------------------------------------------------------------------------------------------- CLI


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="build a suite, run the real baselines, score them and serve the leaderboard",
        description=(
            "Build every benchmark of a suite (default: MMLU with the default slots), run every applicable "
            "real baseline on it, submit and score the predictions into a local store, then serve the "
            "leaderboard (or, with --no-serve, print the ranked tables and the correlation analysis). "
            "Every step is cached in --workdir: a rerun takes seconds."
        ),
    )
    p.add_argument(
        "--suite", default="default", help=f"built-in suite ({', '.join(builtin_suites())}) or a path"
    )
    p.add_argument("--workdir", default="robustboard-demo", help="work folder (default ./robustboard-demo)")
    p.add_argument("--limit", type=int, help="only the first N examples of each benchmark (quick trials)")
    p.add_argument(
        "--no-serve", action="store_true", help="print the ranked table and correlations, then exit"
    )
    p.add_argument("--report", metavar="FILE", help="also write the printed report to FILE (Markdown)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_demo)


def _demo(args) -> int:
    from robustboard.atomic import write_text

    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit {args.limit}: must be a positive number of examples")
    suite = load_suite(args.suite)
    run = run_suite(suite, args.workdir, limit=args.limit, progress=not args.no_progress)
    print(
        f"suite {suite.name}: {len(run.releases)} release(s), {run.submitted} submission(s), "
        f"{run.scored} newly scored, {run.seconds:.1f}s; store at {run.store}",
        file=sys.stderr,
    )
    if args.no_serve:
        text = report(run.store)
        print(text)
        if args.report:
            write_text(args.report, text + "\n")
        return 0
    from leaderboard.app import launch
    from leaderboard.board import Board, Settings

    board = Board.open(Settings.from_env(store=str(run.store)))
    print(f"serving the leaderboard at http://{args.host}:{args.port} (Ctrl+C stops)", file=sys.stderr)
    launch(board, host=args.host, port=args.port)
    return 0
