"""Pure analysis behind the leaderboard: tables, tie-group ranking, correlations, variance decomposition.

Everything here is a function of result records (the JSON objects of `results/<id>.json`) and, for
ranking, of a paired-test callback; nothing here touches Gradio, the store or per-example details, so
every number the app shows can be unit-tested against hand-computed values.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse, stats

from robustboard.hashing import stable_seed

# --------------------------------------------------------------------------------------------------
# Metric registry: one source of truth for labels, directions and definitions (the About tab reads it)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    kind: str  # "accuracy" | "robustness"
    higher_is_better: bool
    definition: str
    source: str = ""


METRICS: tuple[Metric, ...] = (
    Metric(
        "accuracy",
        "Accuracy",
        "accuracy",
        True,
        "AvgP: mean over variant slots of the slot accuracy p_v (macro over slots).",
        "Mizrahi et al. 2024",
    ),
    Metric(
        "clean_accuracy", "Clean accuracy", "accuracy", True, "Accuracy of the unperturbed original slot."
    ),
    Metric(
        "maxp", "MaxP", "accuracy", True, "Best slot accuracy: max over slots of p_v.", "Mizrahi et al. 2024"
    ),
    Metric(
        "minp",
        "MinP",
        "accuracy",
        True,
        "Worst slot accuracy: min over slots of p_v (an aggregate, unlike worst-case accuracy).",
        "Mizrahi et al. 2024",
    ),
    Metric(
        "spread",
        "Spread",
        "robustness",
        False,
        "MaxP − MinP; grows with the number of slots k, so read it with k.",
        "Sclar et al. 2023",
    ),
    Metric(
        "cps",
        "CPS",
        "accuracy",
        True,
        "Combined performance score MaxP · (1 − (MaxP − AvgP)).",
        "Mizrahi et al. 2024",
    ),
    Metric(
        "consistency",
        "Consistency",
        "robustness",
        True,
        "Mean over examples of the share of slot pairs whose answers agree (by option content); "
        "the paper's robustness: consistent outputs across prompt variations.",
        "arXiv 2602.03344; SCORE",
    ),
    Metric(
        "correctness_agreement",
        "Correctness agreement",
        "robustness",
        True,
        "Mean over examples of the share of slot pairs that are both right or both wrong (1 − PSS).",
        "ProSA (Zhuo et al. 2024)",
    ),
    Metric(
        "worst_case_accuracy",
        "Worst-case accuracy",
        "robustness",
        True,
        "Mean over examples of min over slots of correctness: an example counts only if every slot is right.",
        "HELM EM (Robustness); RobustBench",
    ),
    Metric(
        "pdr",
        "PDR",
        "robustness",
        False,
        "Performance drop rate 1 − mean(perturbed p_v) / p_original; undefined (empty) when the "
        "original accuracy is 0; negative when perturbations help.",
        "PromptBench (Zhu et al. 2023)",
    ),
    Metric(
        "cohens_h",
        "Cohen's h",
        "robustness",
        True,
        "Normalised Cohen's h 2·(asin√p_pert − asin√p_orig)/π in [−1, 1]; defined at a zero baseline.",
        "unitxt (Ackerman et al. 2024)",
    ),
    Metric(
        "kappa",
        "κ",
        "robustness",
        True,
        "Fleiss' κ of correctness with slots as raters: agreement beyond what the slot accuracies "
        "imply by chance.",
        "Fleiss 1971",
    ),
    Metric(
        "consistency_excess_independence",
        "Consistency excess",
        "robustness",
        True,
        "Consistency minus its expectation if slots answered independently given their accuracies "
        "(the trivial-robustness baseline).",
        "trivial-robustness baseline",
    ),
    Metric(
        "consistency_excess_difficulty",
        "Consistency excess (difficulty)",
        "robustness",
        True,
        "Consistency minus its expectation under the difficulty-conditioned null (per-example "
        "success rates): the excess that item difficulty alone does not explain.",
        "trivial-robustness baseline",
    ),
    Metric(
        "correctness_agreement_excess_independence",
        "Agreement excess",
        "robustness",
        True,
        "Correctness agreement minus p_v·p_w + (1−p_v)(1−p_w) averaged over slot pairs.",
        "trivial-robustness baseline",
    ),
    Metric(
        "kappa_excess_independence",
        "κ excess",
        "robustness",
        True,
        "κ minus the κ that independent slots with the observed accuracies would give.",
        "trivial-robustness baseline",
    ),
    Metric(
        "worst_case_accuracy_excess_independence",
        "Worst-case excess",
        "robustness",
        True,
        "Worst-case accuracy minus Π p_v, the all-slots-right rate of independent slots.",
        "trivial-robustness baseline",
    ),
)
METRIC_BY_KEY: dict[str, Metric] = {m.key: m for m in METRICS}

# Robustness metrics a reader can put on the y axis of the correlation view.
ROBUSTNESS_METRICS: tuple[str, ...] = tuple(m.key for m in METRICS if m.kind == "robustness")


def metric_label(key: str) -> str:
    metric = METRIC_BY_KEY.get(key)
    return metric.label if metric else key.replace("_", " ")


# --------------------------------------------------------------------------------------------------
# Result records → flat frames
# --------------------------------------------------------------------------------------------------


def _number(value: object) -> float | None:
    """A finite-or-NaN float for JSON numbers (null → NaN); None for anything that is not a number."""
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _interval(value: object) -> tuple[float, float] | None:
    if isinstance(value, list | tuple) and len(value) == 2:
        lo, hi = _number(value[0]), _number(value[1])
        return None if lo is None or hi is None else (lo, hi)
    return None


def flatten_scores(entry: Mapping, *, with_ci: bool = True) -> dict[str, float]:
    """One flat `{column: float}` from a score block of the scorer (`metrics`, `ci`, `baseline`).

    The scorer nests a metric's CI under `ci.<m>` and its trivial-robustness baselines under
    `baseline.<m>.{observed, independence, difficulty, excess_independence, excess_difficulty,
    excess_*_ci}`; the leaderboard needs them side by side as columns `<m>`, `<m>_lo`, `<m>_hi`,
    `<m>_excess_independence`, ... Per-task blocks skip the CIs (`with_ci=False`): no view shows
    them. This runs ~35,000 times on a 500 × 60 store, hence the inlined number checks.
    """
    out: dict[str, float] = {}
    nan = math.nan
    metrics = entry.get("metrics")
    if isinstance(metrics, dict):
        for key, value in metrics.items():
            kind = type(value)
            if kind is float or kind is int:
                out[key] = float(value)
            elif value is None:
                out[key] = nan
    ci = entry.get("ci")
    if with_ci and isinstance(ci, dict):
        for key, value in ci.items():
            bounds = _interval(value)
            if bounds:
                out[f"{key}_lo"], out[f"{key}_hi"] = bounds
    baseline = entry.get("baseline")
    if isinstance(baseline, dict):
        for key, value in baseline.items():
            if not isinstance(value, dict):
                continue
            for sub, inner in value.items():
                kind = type(inner)
                if kind is float or kind is int:
                    out[f"{key}_{sub}"] = float(inner)
                elif inner is None:
                    out[f"{key}_{sub}"] = nan
                elif with_ci and sub.endswith("_ci"):
                    bounds = _interval(inner)
                    if bounds:
                        out[f"{key}_{sub[:-3]}_lo"], out[f"{key}_{sub[:-3]}_hi"] = bounds
    return out


@dataclass(frozen=True)
class FlatRecord:
    """One result record as rows of the four frames (flattened once, cached by submission id)."""

    run: dict
    tasks: tuple[dict, ...]
    families: tuple[dict, ...]
    slots: tuple[dict, ...]


def flatten_record(record: Mapping) -> FlatRecord:
    model = record.get("model") or {}
    release = record.get("release") or {}
    name, version = str(release.get("name", "")), str(release.get("version", ""))
    params = _number(model.get("params_b"))
    sid = str(record.get("submission_id", ""))
    run = {
        "submission_id": sid,
        "model": str(model.get("name", "")),
        "revision": str(model.get("revision") or ""),
        "link": str(model.get("link") or ""),
        "type": str(model.get("type") or "other"),
        "params_b": math.nan if params is None else params,
        "license": str(model.get("license") or ""),
        "submitter": str(model.get("submitter") or record.get("submitter") or ""),
        "release": f"{name}@{version}",
        "release_name": name,
        "release_version": version,
        "scored_at": str(record.get("scored_at") or ""),
        "n_examples": _number(record.get("n_examples")),
        "n_slots": _number(record.get("n_slots")),
        "coverage": _number(record.get("coverage")),
        **flatten_scores(record),
    }
    per_task = record.get("per_task") or {}
    per_family = record.get("per_family") or {}
    tasks = tuple(
        {
            "submission_id": sid,
            "task": str(task),
            "n_slots": _number(entry.get("n_slots")),
            **flatten_scores(entry, with_ci=False),
        }
        for task, entry in per_task.items()
        if isinstance(entry, Mapping)
    )
    families = tuple(
        {"submission_id": sid, "family": str(family), **flatten_scores(entry, with_ci=False)}
        for family, entry in per_family.items()
        if isinstance(entry, Mapping)
    )
    # `slots` lists the release's slot order (original first); `per_slot` is keyed (and sorted) by id
    order = [str(s.get("variant_id")) for s in record.get("slots") or [] if isinstance(s, Mapping)]
    family_of = {
        str(s.get("variant_id")): s.get("family") for s in record.get("slots") or [] if isinstance(s, Mapping)
    }
    per_slot = record.get("per_slot") or {}
    ordered = [slot for slot in order if slot in per_slot] + sorted(set(map(str, per_slot)) - set(order))
    slots = tuple(
        {
            "submission_id": sid,
            "variant_id": slot,
            "family": str(family_of.get(slot) or ""),
            "position": position,
            "accuracy": _number(per_slot[slot]),
        }
        for position, slot in enumerate(ordered)
    )
    return FlatRecord(run, tasks, families, slots)


@dataclass(frozen=True)
class ResultFrames:
    """The results store as four tidy frames, one row per kept submission / task / family / slot."""

    runs: pd.DataFrame
    tasks: pd.DataFrame
    families: pd.DataFrame
    slots: pd.DataFrame

    @property
    def releases(self) -> list[str]:
        return sorted(self.runs["release"].unique().tolist(), key=release_sort_key) if len(self.runs) else []


IDENTITY_COLUMNS = (
    "submission_id",
    "model",
    "revision",
    "link",
    "type",
    "params_b",
    "license",
    "submitter",
    "release",
    "release_name",
    "release_version",
    "scored_at",
    "n_examples",
    "n_slots",
    "coverage",
)


def release_sort_key(release: str) -> tuple:
    """Sort `name@1.10.0` after `name@1.9.0`: versions compare numerically part by part."""
    name, _, version = release.partition("@")
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in version.split("."))
    return (name, parts)


def frames_from(records: Iterable[FlatRecord]) -> ResultFrames:
    """The four frames; keeps the latest scored record per (model, revision, release).

    A resubmission of the same model revision with different predictions is a new submission id; the
    leaderboard shows one row per model and release version, so the most recent scoring wins.
    """
    records = list(records)
    runs = pd.DataFrame([r.run for r in records], columns=None if records else list(IDENTITY_COLUMNS))
    if len(runs):
        runs = (
            runs.sort_values(["scored_at", "submission_id"])
            .drop_duplicates(["model", "revision", "release"], keep="last")
            .reset_index(drop=True)
        )
    kept = set(runs["submission_id"])
    kept_records = [r for r in records if r.run["submission_id"] in kept]

    def frame(attribute: str, key: str) -> pd.DataFrame:
        rows = [row for r in kept_records for row in getattr(r, attribute)]
        return pd.DataFrame(rows, columns=None if rows else ["submission_id", key])

    return ResultFrames(
        runs, frame("tasks", "task"), frame("families", "family"), frame("slots", "variant_id")
    )


def load_results(results: Iterable[Mapping]) -> ResultFrames:
    """Frames straight from result records (see `frames_from`)."""
    return frames_from(flatten_record(r) for r in results)


# --------------------------------------------------------------------------------------------------
# Ranking with tie groups
# --------------------------------------------------------------------------------------------------


def tie_group_ranks(
    ids: Sequence[str], scores: Sequence[float], separated: Callable[[str, str], bool]
) -> dict[str, float]:
    """Competition ranks where a model shares the rank of the best model it is not separated from.

    Models are sorted by score (best first). The first model leads group 1; each next model joins the
    current group unless the paired test separates it from the group's *leader*, in which case it
    leads a new group whose rank is its position. Testing against the leader rather than the previous
    neighbour avoids chaining (A ~ B, B ~ C, A ≠ C would otherwise tie a whole board of small gaps),
    so every member of a group is statistically indistinguishable from the group's best. Models with
    no score get NaN.
    """
    order = sorted(
        (i for i in range(len(ids)) if not math.isnan(scores[i])), key=lambda i: (-scores[i], ids[i])
    )
    ranks: dict[str, float] = {ids[i]: math.nan for i in range(len(ids))}
    leader, leader_position = None, 0
    for position, i in enumerate(order):
        if leader is None or separated(ids[leader], ids[i]):
            leader, leader_position = i, position
        ranks[ids[i]] = float(leader_position + 1)
    return ranks


def ci_separated(lo_a: float, hi_a: float, lo_b: float, hi_b: float) -> bool:
    """Fallback when no paired test is possible: separated only if the CIs do not overlap (conservative)."""
    if any(math.isnan(v) for v in (lo_a, hi_a, lo_b, hi_b)):
        return False
    return hi_b < lo_a or hi_a < lo_b


# --------------------------------------------------------------------------------------------------
# The leaderboard table
# --------------------------------------------------------------------------------------------------

BASE_COLUMNS: tuple[str, ...] = (
    "accuracy",
    "clean_accuracy",
    "consistency",
    "worst_case_accuracy",
    "pdr",
    "kappa",
    "consistency_excess_independence",
    "cps",
)
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "maxp",
    "minp",
    "spread",
    "cohens_h",
    "correctness_agreement",
    "correctness_agreement_excess_independence",
    "consistency_excess_difficulty",
    "coverage",
    "n_examples",
    "n_slots",
    "revision",
    "license",
    "submitter",
    "scored_at",
    "submission_id",
)
TASK_PREFIX = "task: "
FAMILY_PREFIX = "family: "
LATEST = "latest versions"
ALL = "all versions"


@dataclass(frozen=True)
class TableQuery:
    """What the reader asked for: filters, columns and order. Defaults show the whole board."""

    release: str = LATEST
    types: tuple[str, ...] | None = None
    max_params_b: float | None = None
    include_unknown_size: bool = True
    search: str = ""
    columns: tuple[str, ...] = BASE_COLUMNS
    task_columns: tuple[str, ...] = ()
    family_columns: tuple[str, ...] = ()
    breakdown_metric: str = "accuracy"
    sort_by: str = "rank"
    descending: bool | None = None  # None: the column's natural direction


def latest_releases(releases: Iterable[str]) -> list[str]:
    best: dict[str, str] = {}
    for release in releases:
        name = release.partition("@")[0]
        if name not in best or release_sort_key(release) > release_sort_key(best[name]):
            best[name] = release
    return sorted(best.values(), key=release_sort_key)


def select_releases(all_releases: Iterable[str], choice: str) -> list[str]:
    releases = sorted(set(all_releases), key=release_sort_key)
    if choice == ALL:
        return releases
    if choice == LATEST or not choice:
        return latest_releases(releases)
    return [choice] if choice in releases else []


def leaderboard_table(frames: ResultFrames, ranks: Mapping[str, float], query: TableQuery) -> pd.DataFrame:
    """The shown table as raw values (numbers stay numbers; formatting belongs to the view).

    One row per kept submission: rank (tie groups, within its release), model, link, type, size,
    release, accuracy with its CI bounds, the chosen metric columns, then the per-task and per-family
    columns of `query.breakdown_metric`.
    """
    runs = frames.runs
    if not len(runs):  # a new board (a release registered, nothing scored yet): the same columns, no rows
        base = ("rank", "model", "link", "type", "params_b", "release", "accuracy", "accuracy_lo")
        return pd.DataFrame(columns=list(dict.fromkeys([*base, "accuracy_hi", *query.columns])))
    keep = runs["release"].isin(select_releases(runs["release"], query.release))
    if query.types is not None:
        keep &= runs["type"].isin(query.types)
    if query.max_params_b is not None:
        within = runs["params_b"] <= query.max_params_b
        keep &= within | (runs["params_b"].isna() & query.include_unknown_size)
    elif not query.include_unknown_size:
        keep &= runs["params_b"].notna()
    if query.search.strip():
        needle = query.search.strip().casefold()
        haystack = (runs["model"] + " " + runs["type"] + " " + runs["submitter"]).str.casefold()
        keep &= haystack.str.contains(needle, regex=False)
    shown = runs[keep]
    table = pd.DataFrame(
        {
            "rank": shown["submission_id"].map(lambda s: ranks.get(s, math.nan)).astype(float),
            "model": shown["model"],
            "link": shown["link"],
            "type": shown["type"],
            "params_b": shown["params_b"],
            "release": shown["release"],
        }
    )
    for column in ("accuracy", "accuracy_lo", "accuracy_hi", *query.columns):
        if column not in table:
            table[column] = shown.get(column, math.nan)
    metric = query.breakdown_metric
    for prefix, long, key, wanted in (
        (TASK_PREFIX, frames.tasks, "task", query.task_columns),
        (FAMILY_PREFIX, frames.families, "family", query.family_columns),
    ):
        if not wanted:
            continue
        if metric in long and len(long):
            wide = long[long[key].isin(wanted)].pivot_table(
                index="submission_id", columns=key, values=metric, aggfunc="first", dropna=False
            )
        else:
            wide = pd.DataFrame()
        ids = shown["submission_id"]
        for name in wanted:
            values = wide[name] if name in wide else pd.Series(dtype=float)
            table[f"{prefix}{name}"] = ids.map(values).astype(float).to_numpy()
    table = _sort_table(table, query)
    return table.reset_index(drop=True)


def natural_descending(column: str, breakdown_metric: str = "accuracy") -> bool:
    """The order a reader expects first: rank ascending, a metric best first, numbers largest first,
    text A to Z."""
    if column == "rank":
        return False
    key = breakdown_metric if column.startswith((TASK_PREFIX, FAMILY_PREFIX)) else column
    metric = METRIC_BY_KEY.get(key)
    if metric is not None:
        return metric.higher_is_better
    return column in ("params_b", "coverage", "n_examples", "n_slots", "scored_at")


def _sort_table(table: pd.DataFrame, query: TableQuery) -> pd.DataFrame:
    column = query.sort_by if query.sort_by in table else "rank"
    descending = query.descending
    if descending is None:
        descending = natural_descending(column, query.breakdown_metric)
    secondary = ["release", "rank", "model"] if column == "rank" else [column, "model"]
    ascending = [True] * len(secondary)
    ascending[0] = not descending
    return table.sort_values(secondary, ascending=ascending, na_position="last", kind="stable")


# Cells that a spreadsheet would evaluate as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_csv_cell(value: object) -> object:
    """Prefix text that a spreadsheet would run as a formula with an apostrophe; numbers pass through."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def table_to_csv(table: pd.DataFrame) -> str:
    safe = table.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise_csv_cell)
    safe.columns = [neutralise_csv_cell(str(c)) for c in safe.columns]
    return safe.to_csv(index=False)


def table_to_records(table: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: NaN becomes None, numpy scalars become Python numbers."""
    records = table.astype(object).where(table.notna(), None).to_dict(orient="records")
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()} for row in records]


# --------------------------------------------------------------------------------------------------
# Correlation points and trivial-robustness curves
# --------------------------------------------------------------------------------------------------


def correlation_points(
    frames: ResultFrames, release: str, metric: str, unit: str = "model×task"
) -> pd.DataFrame:
    """Points (model, task, x = accuracy, y = metric) of one release; unit `model` uses overall scores."""
    runs = frames.runs[frames.runs["release"] == release]
    columns = ["submission_id", "model", "task", "x", "y"]
    if unit == "model":
        if metric not in runs or "accuracy" not in runs:
            return pd.DataFrame(columns=columns)
        points = pd.DataFrame(
            {
                "submission_id": runs["submission_id"],
                "model": runs["model"],
                "task": "(all tasks)",
                "x": runs["accuracy"],
                "y": runs[metric],
            }
        )
    else:
        tasks = frames.tasks
        if metric not in tasks or "accuracy" not in tasks:
            return pd.DataFrame(columns=columns)
        tasks = tasks[tasks["submission_id"].isin(runs["submission_id"])]
        models = runs.set_index("submission_id")["model"]
        points = pd.DataFrame(
            {
                "submission_id": tasks["submission_id"],
                "model": tasks["submission_id"].map(models),
                "task": tasks["task"],
                "x": tasks["accuracy"],
                "y": tasks[metric],
            }
        )
    points = points.astype({"x": float, "y": float})
    return points[np.isfinite(points["x"]) & np.isfinite(points["y"])].reset_index(drop=True)


def trivial_curve(metric: str, p: np.ndarray, *, n_slots: int, n_options: int) -> np.ndarray | None:
    """Expected value of `metric` at accuracy p if every slot answered independently (no robustness).

    - correctness agreement: both right or both wrong, p² + (1−p)².
    - consistency (answer agreement): both right (p²) or both wrong *with the same wrong answer*; with
      wrong answers spread uniformly over the m − 1 wrong options that is (1−p)²/(m−1), so
      p² + (1−p)²/(m−1) — equal to the correctness curve only for binary tasks.
    - worst-case accuracy: all k slots right, p^k.
    - κ, PDR, Cohen's h and the excess metrics: 0 (no effect beyond chance / no drop).
    Spread, which depends on the example count as much as on p, has no such curve (None).
    """
    p = np.asarray(p, dtype=float)
    if metric == "correctness_agreement":
        return p**2 + (1 - p) ** 2
    if metric == "consistency":
        return p**2 + (1 - p) ** 2 / max(n_options - 1, 1)
    if metric == "worst_case_accuracy":
        return p ** max(n_slots, 1)
    if metric in ("kappa", "pdr", "cohens_h") or metric.endswith(("_excess", "_excess_difficulty")):
        return np.zeros_like(p)
    return None


def fitted_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    """Least-squares (slope, intercept) of y on x, or None when x does not vary."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or np.ptp(x) == 0:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


# --------------------------------------------------------------------------------------------------
# Correlation table: Pearson with Fisher CI; Spearman and Kendall with bootstrap CIs
# --------------------------------------------------------------------------------------------------

# Above this many points the O(n²) Kendall kernel and the n-wide resample matrices get expensive; the
# pooled row of a very large store uses Fisher-z intervals with Fieller–Hartley–Pearson (1957)
# variances instead, and says so in its `ci_method`.
BOOTSTRAP_MAX_N = 2000
# Below this many points a resample has too few distinct points for a percentile interval to mean
# anything (3 points: most resamples are degenerate or perfectly monotone); no CI is given.
BOOTSTRAP_MIN_N = 5
SPEARMAN_P_MIN_N = 10

CORRELATION_COLUMNS = (
    "scope",
    "group",
    "n",
    "pearson_r",
    "pearson_lo",
    "pearson_hi",
    "pearson_p",
    "spearman_rho",
    "spearman_lo",
    "spearman_hi",
    "spearman_p",
    "kendall_tau",
    "kendall_lo",
    "kendall_hi",
    "kendall_p",
    "ci_method",
)


def fisher_ci(
    r: float, n: int, confidence: float = 0.95, *, n_controls: int = 0, var_factor: float = 1.0
) -> tuple[float, float]:
    """CI of a correlation by Fisher's z: tanh(atanh r ± z·√(var_factor/(n − 3 − controls)))."""
    dof = n - 3 - n_controls
    if dof <= 0 or not np.isfinite(r):
        return math.nan, math.nan
    if abs(r) >= 1:
        return float(r), float(r)
    z = _normal_quantile(0.5 + confidence / 2)
    half = z * math.sqrt(var_factor / dof)
    centre = math.atanh(r)
    return math.tanh(centre - half), math.tanh(centre + half)


@functools.lru_cache(maxsize=8)
def _normal_quantile(q: float) -> float:
    return float(stats.norm.ppf(q))


def _run_lengths(v: np.ndarray) -> np.ndarray:
    """For each value of each row, how many values of its row equal it (the size of its tie run)."""
    ordered = np.sort(v, axis=1)
    g, n = ordered.shape
    positions = np.broadcast_to(np.arange(n), (g, n))
    differs = ordered[:, 1:] != ordered[:, :-1]
    starts = np.concatenate([np.ones((g, 1), bool), differs], axis=1)
    ends = np.concatenate([differs, np.ones((g, 1), bool)], axis=1)
    first = np.maximum.accumulate(np.where(starts, positions, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, positions, n)[:, ::-1], axis=1)[:, ::-1]
    return (last - first + 1).astype(np.float64)


# Groups up to this size get Kendall's τ from pairwise sign matrices (vectorised over groups);
# larger ones (a pooled row) from scipy's O(n log n) implementation.
_KENDALL_MATRIX_MAX_N = 2000


def kendall_tests(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kendall τ_b and its two-sided p for each row of x, y (G × n), as `scipy.stats.kendalltau`.

    scipy's rules: the exact null distribution without ties when n ≤ 33 (or at most one discordant
    or concordant pair), else the tie-corrected normal approximation of concordant − discordant.
    The approximation runs vectorised over all groups; the exact case (small untied groups) and very
    large groups go through scipy itself, so the numbers are scipy's.
    """
    g, n = x.shape
    tau, p = np.full(g, np.nan), np.full(g, np.nan)
    if n < 2:
        return tau, p
    if n > _KENDALL_MATRIX_MAX_N:
        for j in range(g):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = stats.kendalltau(x[j], y[j])
            tau[j], p[j] = result.statistic, result.pvalue
        return tau, p
    total = n * (n - 1) / 2
    difference = np.empty(g)
    x_ties, y_ties, joint_ties = np.empty(g), np.empty(g), np.empty(g)
    per_batch = max(1, 8_000_000 // (n * n))
    for start in range(0, g, per_batch):
        part = slice(start, start + per_batch)
        # pairwise signs as int8 (a quarter of the memory traffic of float signs)
        above_x = x[part, :, None] > x[part, None, :]
        above_y = y[part, :, None] > y[part, None, :]
        sx = above_x.view(np.int8) - above_x.transpose(0, 2, 1).view(np.int8)
        sy = above_y.view(np.int8) - above_y.transpose(0, 2, 1).view(np.int8)
        difference[part] = np.einsum("gij,gij->g", sx, sy, dtype=np.int64) / 2  # concordant − discordant
        tied_x, tied_y = sx == 0, sy == 0
        x_ties[part] = (np.count_nonzero(tied_x, axis=(1, 2)) - n) / 2
        y_ties[part] = (np.count_nonzero(tied_y, axis=(1, 2)) - n) / 2
        joint_ties[part] = (np.count_nonzero(tied_x & tied_y, axis=(1, 2)) - n) / 2
    defined = (x_ties < total) & (y_ties < total)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = np.clip(difference / np.sqrt(total - x_ties) / np.sqrt(total - y_ties), -1, 1)
    tau[~defined] = np.nan
    tx, ty = _run_lengths(x), _run_lengths(y)  # Σ over tie runs of f(t) = Σ over values of f(t)/t
    x0, y0 = ((tx - 1) * (tx - 2)).sum(axis=1), ((ty - 1) * (ty - 2)).sum(axis=1)
    x1, y1 = ((tx - 1) * (2 * tx + 5)).sum(axis=1), ((ty - 1) * (2 * ty + 5)).sum(axis=1)
    m = n * (n - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = (m * (2 * n + 5) - x1 - y1) / 18 + (2 * x_ties * y_ties) / m + x0 * y0 / (9 * m * (n - 2))
        p = np.where(defined, stats.norm.sf(np.abs(difference / np.sqrt(variance))) * 2, np.nan)
    discordant = (total - x_ties - y_ties + joint_ties - difference) / 2
    exact = (
        defined
        & (x_ties == 0)
        & (y_ties == 0)
        & ((n <= 33) | (np.minimum(discordant, total - discordant) <= 1))
    )
    for j in np.flatnonzero(exact):
        p[j] = stats.kendalltau(x[j], y[j]).pvalue
    return tau, np.minimum(p, 1.0)


def _t_pvalue(r: np.ndarray, dof: np.ndarray) -> np.ndarray:
    """Two-sided p of H0: ρ = 0 from t = r·√(dof/(1−r²)) (what scipy's pearsonr/spearmanr use)."""
    r = np.asarray(r, float)
    dof = np.asarray(dof, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = r * np.sqrt(dof / np.clip(1 - r**2, 0, None))
        p = 2 * stats.t.sf(np.abs(t), dof)
    return np.where(np.abs(r) >= 1, 0.0, np.where(dof > 0, p, np.nan))


def resample_counts(rng: np.random.Generator, n: int, n_resamples: int) -> np.ndarray:
    """How often each of n points is drawn in each bootstrap resample (n_resamples × n)."""
    draws = rng.integers(0, n, size=(n_resamples, n))
    offsets = (np.arange(n_resamples) * n)[:, None]
    return np.bincount((draws + offsets).ravel(), minlength=n_resamples * n).reshape(n_resamples, n)


def _centred_block_ranks(v: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mid-ranks minus (n+1)/2 of every point of G groups (G × n values) in every resample.

    `weights` is n × B (draw counts, points along axis 0 so that every step below moves whole
    contiguous rows). Works in tie-block space: the draws in each block of equal values are summed
    once; a block's mid-rank is the number of draws below it plus (its draws + 1)/2 — what
    `scipy.stats.rankdata` gives the expanded resample, without sorting each resample. Every resample
    has exactly n draws, so each group's block counts sum to n and the draws below a group's first
    block are g·n in the global running sum. Returns the points' centred ranks (G·n × B, point order,
    group-major), the tied pairs per group Σ c(c − 1)/2 and the ranks' weighted sum of squares (G × B).
    """
    groups, n = v.shape
    order = np.argsort(v, axis=1, kind="stable")
    sorted_v = np.take_along_axis(v, order, axis=1)
    new_block = np.concatenate(
        [np.ones((groups, 1), bool), sorted_v[:, 1:] != sorted_v[:, :-1]], axis=1
    ).ravel()
    block_of_sorted = np.cumsum(new_block) - 1
    n_blocks = int(block_of_sorted[-1]) + 1
    starts = np.flatnonzero(new_block)
    # Sparse 0/1 matrices do the gathers and segment sums (far faster than ufunc.reduceat here).
    to_blocks = sparse.csr_matrix(
        (np.ones(groups * n, np.float32), (block_of_sorted, order.ravel())), shape=(n_blocks, n)
    )
    block_counts = to_blocks @ weights
    below = np.cumsum(block_counts, axis=0) - block_counts - ((starts // n) * n).astype(np.float32)[:, None]
    centred = below + (block_counts + 1) / 2 - np.float32((n + 1) / 2)
    to_groups = sparse.csr_matrix(
        (np.ones(n_blocks, np.float32), (starts // n, np.arange(n_blocks))), shape=(groups, n_blocks)
    )
    tied = to_groups @ (block_counts * (block_counts - 1) / 2)
    sum_squares = to_groups @ (block_counts * centred**2)
    point_block = np.empty(groups * n, dtype=np.intp)
    point_block[(order + (np.arange(groups) * n)[:, None]).ravel()] = block_of_sorted
    return centred[point_block], tied, sum_squares


def rank_correlations(x: np.ndarray, y: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spearman ρ and Kendall τ_b of G groups of n points under B resamples (B × G each).

    `x`, `y` are G × n; `counts` is B × n, how often each point index is drawn (every row sums to n;
    a row of ones is the sample itself). ρ is the weighted Pearson correlation of mid-ranks. For τ_b,
    with S[i, j] = sign(x_i − x_j)·sign(y_i − y_j), concordant − discordant pairs are ½·wᵀSw (copies
    of one point are tied in both variables and add nothing); the denominator is
    √((n0 − ties_x)(n0 − ties_y)), n0 = n(n−1)/2.
    """
    groups, n = x.shape
    weights = np.ascontiguousarray(counts.T, dtype=np.float32)  # n × B; small integers: exact
    rank_x, tied_x, squares_x = _centred_block_ranks(x, weights)
    rank_y, tied_y, squares_y = _centred_block_ranks(y, weights)
    rank_x *= rank_y
    cross = np.einsum("gib,ib->gb", rank_x.reshape(groups, n, -1), weights, dtype=np.float64)
    # Sign matrices side by side (G·n × n): the counts are shared by all groups, so one matrix
    # product [S_1; …; S_G]·W serves every group and resample.
    sign = np.sign(x[:, :, None] - x[:, None, :]) * np.sign(y[:, :, None] - y[:, None, :])
    products = (sign.astype(np.float32).reshape(groups * n, n) @ weights).reshape(groups, n, -1)
    concordance = 0.5 * np.einsum("gib,ib->gb", products, weights, dtype=np.float64)
    pairs = n * (n - 1) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = cross / np.sqrt(squares_x * squares_y)
        tau = concordance / np.sqrt((pairs - tied_x) * (pairs - tied_y))
    return rho.T, tau.T


def _percentile_ci(values: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval per column (resamples × groups); NaN where most resamples are degenerate."""
    alpha = (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(values, [alpha, 1 - alpha], axis=0)
    degenerate = np.isfinite(values).sum(axis=0) < values.shape[0] / 2
    return np.where(degenerate, np.nan, lo), np.where(degenerate, np.nan, hi)


# Elements (resamples × groups × points) handled per batch: bounds memory at a few hundred MB.
_BATCH_ELEMENTS = 4_000_000


def _correlate_groups(
    groups: list[tuple[str, str, np.ndarray, np.ndarray]], n_resamples: int, seed: int, confidence: float
) -> list[dict]:
    """Rows for groups of one size n, batched through `rank_correlations` with shared resample counts.

    All groups of the same size share one count matrix seeded by (seed, n): each group's interval is
    still an ordinary percentile bootstrap, and it does not depend on which other groups exist.
    """
    n = len(groups[0][2])
    x = np.stack([g[2] for g in groups])
    y = np.stack([g[3] for g in groups])
    rows = [{"scope": g[0], "group": g[1], "n": n, "ci_method": ""} for g in groups]
    valid = (np.ptp(x, axis=1) > 0) & (np.ptp(y, axis=1) > 0) & (n >= 3)
    for i in np.flatnonzero(~valid):
        rows[i].update({c: math.nan for c in CORRELATION_COLUMNS[3:-1]})
        rows[i]["ci_method"] = "undefined: fewer than 3 points or a constant variable"
    index = np.flatnonzero(valid)
    if not len(index):
        return rows
    x, y = x[index], y[index]
    xc, yc = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    pearson = (xc * yc).sum(axis=1) / np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
    # point estimates in float64, the same whether or not intervals are computed
    rx = stats.rankdata(x, axis=1)
    ry = stats.rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    rho = (rx * ry).sum(axis=1) / np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    tau, kendall_p = kendall_tests(x, y)
    if n_resamples and BOOTSTRAP_MIN_N <= n <= BOOTSTRAP_MAX_N:
        rng = np.random.default_rng(stable_seed(seed, "resamples", n) % (2**63))
        counts = resample_counts(rng, n, n_resamples)
        per_batch = max(1, _BATCH_ELEMENTS // (counts.shape[0] * n + n * n))
        parts = [
            rank_correlations(x[start : start + per_batch], y[start : start + per_batch], counts)
            for start in range(0, len(index), per_batch)
        ]
        rho_lo, rho_hi = _percentile_ci(np.concatenate([part[0] for part in parts], axis=1), confidence)
        tau_lo, tau_hi = _percentile_ci(np.concatenate([part[1] for part in parts], axis=1), confidence)
        method = f"percentile bootstrap, {n_resamples} resamples"
    elif n < BOOTSTRAP_MIN_N or not n_resamples:
        rho_lo = rho_hi = tau_lo = tau_hi = np.full(len(index), np.nan)
        method = f"none (fewer than {BOOTSTRAP_MIN_N} points)" if n_resamples else "not computed"
    else:  # Fieller, Hartley & Pearson (1957): var(atanh ρ) ≈ 1.06/(n−3), var(atanh τ) ≈ 0.437/(n−4)
        rho_lo, rho_hi = np.array([fisher_ci(r, n, confidence, var_factor=1.06) for r in rho]).T
        tau_factor = 0.437 * (n - 3) / (n - 4)
        tau_lo, tau_hi = np.array([fisher_ci(t, n, confidence, var_factor=tau_factor) for t in tau]).T
        method = f"Fisher z, Fieller variances (n > {BOOTSTRAP_MAX_N})"
    pearson_p = _t_pvalue(pearson, n - 2)
    # the t approximation of ρ's null distribution is poor for a handful of points (|ρ| = 1 would get
    # p = 0): below SPEARMAN_P_MIN_N no p is given; Kendall's p is exact there
    spearman_p = _t_pvalue(rho, n - 2) if n >= SPEARMAN_P_MIN_N else np.full(len(index), np.nan)
    for j, i in enumerate(index):
        lo, hi = fisher_ci(float(pearson[j]), n, confidence)
        rows[i].update(
            {
                "pearson_r": float(pearson[j]),
                "pearson_lo": lo,
                "pearson_hi": hi,
                "pearson_p": float(pearson_p[j]),
                "spearman_rho": float(rho[j]),
                "spearman_lo": float(rho_lo[j]),
                "spearman_hi": float(rho_hi[j]),
                "spearman_p": float(spearman_p[j]),
                "kendall_tau": float(tau[j]),
                "kendall_lo": float(tau_lo[j]),
                "kendall_hi": float(tau_hi[j]),
                "kendall_p": float(kendall_p[j]),
                "ci_method": method,
            }
        )
    return rows


CORRELATION_SCOPES = ("per task", "per model")


def correlation_table(
    points: pd.DataFrame,
    *,
    scopes: Sequence[str] = CORRELATION_SCOPES,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Correlation of y with x: pooled over all points, then per task (across models) and/or per model
    (across tasks), one row per group.

    Pearson r has a Fisher-z CI and a t-test p; Spearman ρ and Kendall τ_b have percentile bootstrap
    CIs (resampling points) and p-values from the t test (ρ, as scipy) and `scipy.stats.kendalltau`
    (τ: exact for small untied samples, else the tie-corrected normal approximation).
    """
    groups: dict[int, list] = {}

    def add(scope: str, group: str, sub: pd.DataFrame) -> None:
        x, y = sub["x"].to_numpy(float), sub["y"].to_numpy(float)
        groups.setdefault(len(x), []).append((scope, group, x, y))

    add("pooled", "all points", points)
    for scope, key in (("per task", "task"), ("per model", "model")):
        if scope in scopes and points[key].nunique() > 1:
            for group, sub in points.groupby(key, sort=True):
                add(scope, str(group), sub)
    rows = []
    for batch in groups.values():
        rows.extend(_correlate_groups(batch, n_resamples, seed, confidence))
    order = {"pooled": 0, "per task": 1, "per model": 2}
    rows.sort(key=lambda r: (order[r["scope"]], r["group"]))
    return pd.DataFrame(rows, columns=list(CORRELATION_COLUMNS))


# --------------------------------------------------------------------------------------------------
# Variance decomposition and partial correlations (least squares with task and model factors)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Factors:
    """Integer codes of the factor terms of one fit, with their level counts and design rank."""

    codes: tuple[np.ndarray, ...]
    sizes: tuple[np.ndarray, ...]
    rank: int  # rank of intercept + treatment dummies of all factors


def _factors(points: pd.DataFrame, terms: Sequence[str]) -> _Factors:
    codes, sizes, levels = [], [], []
    for term in terms:
        if term == "accuracy":
            continue
        code, names = pd.factorize(points[term], sort=True)
        codes.append(code)
        sizes.append(np.bincount(code, minlength=len(names)).astype(float))
        levels.append(len(names))
    rank = 1
    if len(codes) == 1:
        rank = levels[0]
    elif len(codes) == 2:  # dummies of two crossed factors lose one dimension per connected component
        edges = sparse.coo_matrix(
            (np.ones(len(points)), (codes[0], codes[1] + levels[0])), shape=(sum(levels), sum(levels))
        )
        components, _ = sparse.csgraph.connected_components(edges, directed=False)
        rank = sum(levels) - components
    return _Factors(tuple(codes), tuple(sizes), rank)


def _within(v: np.ndarray, factors: _Factors, tol: float = 1e-11, max_iter: int = 10_000) -> np.ndarray:
    """Residual of v on intercept + factor dummies by alternating within-group demeaning.

    Projecting on each factor in turn converges to the projection on their sum (von Neumann's
    alternating projections; exact after one pass for one factor or a balanced two-way design). It
    is O(n) per pass, where a dense least-squares fit would need a Gram matrix with one row per model.
    """
    residual = v - v.mean()
    if not factors.codes:
        return residual
    scale = max(float(np.abs(residual).max()), 1e-300)
    for _ in range(max_iter):
        change = 0.0
        for code, size in zip(factors.codes, factors.sizes, strict=True):
            means = np.bincount(code, weights=residual, minlength=len(size)) / np.maximum(size, 1)
            change = max(change, float(np.abs(means).max()))
            residual = residual - means[code]
        if len(factors.codes) == 1 or change <= tol * scale:
            break
    return residual


def _fit_rss(points: pd.DataFrame, terms: Sequence[str]) -> tuple[float, int]:
    """Residual sum of squares of y on intercept + the terms, and the rank of that design."""
    factors = _factors(points, terms)
    residual = _within(points["y"].to_numpy(float), factors)
    rank = factors.rank
    if "accuracy" in terms:  # Frisch–Waugh: the covariate enters through its own within residual
        covariate = _within(points["x"].to_numpy(float), factors)
        norm = float(covariate @ covariate)
        if norm > 1e-12 * len(covariate):
            residual = residual - (covariate @ residual / norm) * covariate
            rank += 1
    return float(residual @ residual), rank


DECOMPOSITION_TERMS = ("task", "model", "accuracy")


def variance_decomposition(points: pd.DataFrame) -> pd.DataFrame:
    """Shares of the robustness variance (total sum of squares about the mean) explained by each term.

    Model: y = μ + task + model + β·accuracy + ε (no interactions; one point per model × task).
    - `alone`: R² of the term by itself.
    - `sequential`: type I — the R² each term adds when entered in the order task, model, accuracy
      (sums to the full R²; answers "what do model and accuracy add once task is known?").
    - `unique`: type II — the R² lost when the term is dropped from the full model (what no other term
      can stand in for); the remainder of the full R² is the `shared` row (explained jointly).
    `df` is the term's rank in the full design. Rows: the three terms, `shared`, `residual`, `total`.
    """
    y = points["y"].to_numpy(float)
    tss = float(((y - y.mean()) ** 2).sum()) if len(y) else 0.0
    columns = ["term", "df", "alone", "sequential", "unique"]
    if len(points) < 3 or tss == 0:
        return pd.DataFrame(columns=columns)
    rss_full, rank_full = _fit_rss(points, DECOMPOSITION_TERMS)
    rows = []
    previous_rss = tss
    for position, term in enumerate(DECOMPOSITION_TERMS):
        rss_alone, _ = _fit_rss(points, [term])
        rss_upto, _ = _fit_rss(points, DECOMPOSITION_TERMS[: position + 1])
        others = [t for t in DECOMPOSITION_TERMS if t != term]
        rss_without, rank_without = _fit_rss(points, others)
        rows.append(
            {
                "term": term,
                "df": rank_full - rank_without,
                "alone": 1 - rss_alone / tss,
                "sequential": (previous_rss - rss_upto) / tss,
                "unique": (rss_without - rss_full) / tss,
            }
        )
        previous_rss = rss_upto
    r2 = 1 - rss_full / tss
    shared = r2 - sum(row["unique"] for row in rows)
    rows.append(
        {"term": "shared", "df": math.nan, "alone": math.nan, "sequential": math.nan, "unique": shared}
    )
    rows.append(
        {
            "term": "residual",
            "df": len(y) - rank_full,
            "alone": math.nan,
            "sequential": rss_full / tss,
            "unique": rss_full / tss,
        }
    )
    rows.append({"term": "total", "df": len(y) - 1, "alone": math.nan, "sequential": 1.0, "unique": 1.0})
    return pd.DataFrame(rows, columns=columns)


PARTIAL_CONTROLS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("none", ()),
    ("task", ("task",)),
    ("model", ("model",)),
    ("task + model", ("task", "model")),
)


def partial_correlations(points: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Pearson correlation of robustness with accuracy after removing task and/or model effects.

    Both variables are residualised on the control factors' dummies (within-task / within-model
    deviations); r is the correlation of the residuals, its test has n − 2 − k df and its Fisher CI
    uses n − 3 − k, k = number of control dummies (the standard partial-correlation adjustment).
    """
    rows = []
    x = points["x"].to_numpy(float)
    y = points["y"].to_numpy(float)
    for label, controls in PARTIAL_CONTROLS:
        factors = _factors(points, controls)
        ex, ey = _within(x, factors), _within(y, factors)
        k = factors.rank - 1
        n = len(points)
        denominator = math.sqrt(float(ex @ ex) * float(ey @ ey)) if n else 0.0
        r = float(ex @ ey) / denominator if denominator > 1e-12 else math.nan
        lo, hi = fisher_ci(r, n, confidence, n_controls=k)
        rows.append(
            {
                "control": label,
                "r": r,
                "lo": lo,
                "hi": hi,
                "p": float(_t_pvalue(r, n - 2 - k)) if np.isfinite(r) else math.nan,
                "n": n,
                "k": k,
            }
        )
    return pd.DataFrame(rows, columns=["control", "r", "lo", "hi", "p", "n", "k"])
