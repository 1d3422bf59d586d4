"""Every metric of METRICS.md on the examples × slots matrices, with bootstrap CIs and the nulls.

All metrics are functions of per-example statistics averaged over examples: the slot correctness
row `C[i, ·]`, the per-example worst case `min_v C[i, v]`, the per-example pairwise answer
agreement and correctness agreement, and the per-example null expectations. The point estimate
averages them with equal weights; a bootstrap resample averages them with multinomial counts as
weights. So the whole bootstrap is one matrix product per chunk of resamples, `W (R × N) @ X
(N × features)`, followed by the same vectorised formulas — no per-resample Python, memory bounded by
the chunk size.

Conventions (also written into every result under `definitions`):
* every mean over examples is over *all* examples of the release (missing predictions are 0);
* with a complete examples × slots grid, the pooled (micro) mean of C equals the mean of the slot
  accuracies (macro over slots); accuracy is reported as the latter, as in Mizrahi et al.;
* consistency and correctness agreement are per-example fractions of agreeing slot pairs averaged
  over examples (macro over examples; each example weighs the same), not pooled pair counts;
* PDR is a ratio of means (1 − mean perturbed slot accuracy / clean accuracy), not a mean of
  per-slot ratios;
* the one standard deviation reported (`slot_accuracy_sd`, across slots) is given in both the population
  (ddof=0) and the sample (ddof=1) form; the CIs are percentile bootstrap intervals over examples.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from robustboard.hashing import stable_seed
from submissions.matrix import ORIGINAL, Matrix, build_matrix
from submissions.validation import Problems

METRIC_KEYS = (
    "accuracy",
    "clean_accuracy",
    "maxp",
    "minp",
    "spread",
    "cps",
    "worst_case_accuracy",
    "pdr",
    "cohens_h",
    "consistency",
    "correctness_agreement",
    "kappa",
)
AGREEMENT_KEYS = ("consistency", "correctness_agreement", "kappa", "worst_case_accuracy")
CI_LEVEL = 0.95
CI_METHOD = "percentile bootstrap over examples (whole rows of the examples × slots matrix resampled)"
# Bound on the float64 weight matrix of one bootstrap chunk (resamples × examples). At 8 MB the arrays
# are reused from the heap and stay in cache; 64 MB chunks were mapped afresh each time, and the page
# faults cost more than the products (scoring 100k rows: 1.0–1.4 s cold against 0.55–0.63 s).
_CHUNK_CELLS = 1_000_000


def _text(paragraph: str) -> str:
    return " ".join(paragraph.split())


DEFINITIONS = {
    "accuracy": _text(
        """
        AvgP: mean over slots of the slot accuracy p_v (macro over slots; equals the pooled micro mean
        of C because every example has every slot). Missing or unparseable predictions count as wrong.
        """
    ),
    "clean_accuracy": _text(
        """
        p_original, the accuracy of the unperturbed slot; null when the release has no `original` slot.
        """
    ),
    "maxp": _text(
        """
        MaxP: the highest slot accuracy (population maximum over the k slots, no correction).
        """
    ),
    "minp": _text(
        """
        MinP: the lowest slot accuracy.
        """
    ),
    "spread": _text(
        """
        MaxP − MinP over the k slots; grows with k, so read it with n_slots.
        """
    ),
    "cps": _text(
        """
        Combined performance score MaxP · (1 − (MaxP − AvgP)) (Mizrahi et al. 2024).
        """
    ),
    "worst_case_accuracy": _text(
        """
        Mean over examples of min over slots of C[i, v] (per-input worst case, original included; HELM
        EM (Robustness)); never the minimum of aggregate accuracies.
        """
    ),
    "pdr": _text(
        """
        Performance drop rate 1 − mean(p_v over perturbed slots) / p_original: a ratio of means (macro
        over perturbed slots), not a mean of per-slot ratios. 0 when both are 0; null when p_original =
        0 < the perturbed mean or when there is no original or no perturbed slot. Negative when
        perturbations help.
        """
    ),
    "cohens_h": _text(
        """
        Normalised Cohen"s h 2·(asin√p_pert − asin√p_original)/π in [−1, 1], p_pert the mean perturbed
        slot accuracy; defined at a zero baseline, unlike PDR.
        """
    ),
    "consistency": _text(
        """
        Mean over examples (macro over examples) of the fraction of slot pairs whose answers have the
        same content (the chosen option"s text, so reordered options compare by content); a missing or
        unparseable answer agrees with nothing. The pooled (micro) form of SCORE pools pair counts; with
        the same k for every example the two coincide.
        """
    ),
    "correctness_agreement": _text(
        """
        Mean over examples of the fraction of slot pairs with equal correctness (= 1 − ProSA"s
        PromptSensiScore).
        """
    ),
    "kappa": _text(
        """
        Fleiss" kappa of correctness with slots as raters and examples as subjects: (P̄ − P̄e)/(1 −
        P̄e), P̄ = correctness_agreement, P̄e = p̄² + (1 − p̄)² with p̄ = accuracy; null when P̄e = 1.
        """
    ),
    "ci": f"{CI_METHOD}; {int(CI_LEVEL * 100)}% intervals from the 2.5th and 97.5th percentiles; "
    "resamples in which a metric is undefined are left out of its interval. The per-family blocks use the "
    "same resamples as the whole release; each task is resampled on its own examples.",
    "per_slot": _text(
        """
        Accuracy of each slot over all examples (a missing prediction is wrong).
        """
    ),
    "per_task": _text(
        """
        The same metrics on each task's examples alone. The overall numbers pool all examples (micro
        over examples); they are not the mean of the per-task numbers (macro over tasks).
        """
    ),
    "per_family": _text(
        """
        The same metrics on the original slot plus the family's slots, over all examples: each
        family's effect relative to the unperturbed prompt (the `original` family is that slot alone).
        """
    ),
    "slot_accuracy_sd": _text(
        """
        Standard deviation of the k slot accuracies across slots (spread of accuracy over prompts):
        `population` divides by k (ddof=0), `sample` by k − 1 (ddof=1).
        """
    ),
    "baseline.independence": _text(
        """
        Expectation if every slot were an independent coin with its own accuracy p_v, blind to the item
        (plug-in from the observed p_v): correctness agreement = mean over slot pairs of p_v·p_w +
        (1−p_v)(1−p_w); all-correct (worst case) = Π p_v; consistency = mean over pairs of p_v·p_w +
        (1−p_v)(1−p_w)·d, d = mean over examples of 1/(options − 1) (two wrong answers agree when they
        pick the same distractor, distractors equally likely); kappa = Fleiss" formula applied to that
        expected agreement.
        """
    ),
    "baseline.difficulty": _text(
        """
        Expectation if, given the example, the k slots were independent draws with the example"s own
        success rate q_i = m_i/k (m_i = correct slots), estimated per example without bias
        (U-statistics): both-correct pairs C(m_i,2)/C(k,2), both-wrong C(k−m_i,2)/C(k,2), all-correct
        1[m_i = k]; wrong answers agree with probability 1/(options − 1). Correctness agreement, kappa
        and the worst case depend on an example"s slots only through m_i, so under this null their
        expectation equals the observed value exactly: from one model"s answers, agreement in
        correctness cannot be separated from item difficulty, and the whole gap to the independence null
        is what item heterogeneity (Jensen) accounts for. Consistency keeps a non-trivial excess: how
        much more often the model repeats the same wrong option across prompts than a uniform choice
        among distractors would.
        """
    ),
    "baseline.excess": _text(
        """
        observed − expected under each null; its interval comes from the same bootstrap.
        """
    ),
    "coverage": _text(
        """
        Fraction of the examples × slots cells with a (non-empty) prediction.
        """
    ),
    "extraction_failures": _text(
        """
        Predictions given but with no single extractable answer (rules in submissions/extract.py); rate
        over the predictions given. They count as wrong.
        """
    ),
}


@dataclass(frozen=True)
class _Features:
    """Per-example statistics; every metric is a function of their means over examples."""

    correct: np.ndarray  # (N, k)
    worst: np.ndarray  # (N,)
    consistency: np.ndarray  # (N,)
    agreement: np.ndarray  # (N,)
    inverse_distractors: np.ndarray  # (N,)
    difficulty_consistency: np.ndarray  # (N,)

    def extras(self) -> np.ndarray:
        """The (N, 5) per-example statistics besides the slot columns, in `metrics_from_means` order."""
        columns = [self.worst, self.consistency, self.agreement, self.inverse_distractors]
        return np.column_stack([*columns, self.difficulty_consistency]).astype(np.float64)

    def stacked(self) -> np.ndarray:
        return np.column_stack([self.correct, self.extras()])


def features(matrix: Matrix) -> _Features:
    """Per-example statistics of a matrix (answer agreement computed from the answer contents)."""
    k = matrix.shape[1]
    pairs = k * (k - 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        consistency = _agreeing_pairs(matrix.answers) / pairs if pairs else np.full(matrix.shape[0], np.nan)
    return features_from(matrix.correct, consistency, matrix.inverse_distractors)


def features_from(correct: np.ndarray, consistency: np.ndarray, inverse_distractors: np.ndarray) -> _Features:
    """Per-example statistics from the correctness matrix, per-example answer agreement and
    1/(options − 1); the paired tests rebuild them from stored details this way."""
    c = correct.astype(np.float64)
    n, k = c.shape
    pairs = k * (k - 1) / 2
    m = c.sum(axis=1)
    both_right, both_wrong = m * (m - 1) / 2, (k - m) * (k - m - 1) / 2
    inverse = np.asarray(inverse_distractors, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = (both_right + both_wrong) / pairs if pairs else np.full(n, np.nan)
        difficulty = (both_right + both_wrong * inverse) / pairs if pairs else np.full(n, np.nan)
    return _Features(
        correct=c,
        worst=c.min(axis=1) if k else np.zeros(n),
        consistency=np.asarray(consistency, dtype=np.float64),
        agreement=agreement,
        inverse_distractors=inverse,
        difficulty_consistency=difficulty,
    )


def _agreeing_pairs(answers: np.ndarray) -> np.ndarray:
    """Per row, the number of pairs of equal values: sort, then sum each element's rank within its run."""
    if answers.shape[1] < 2:
        return np.zeros(answers.shape[0])
    ordered = np.sort(answers, axis=1)
    position = np.arange(ordered.shape[1])
    starts = np.ones(ordered.shape, dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    run_start = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    return (position - run_start).sum(axis=1).astype(np.float64)


def metrics_from_means(means: np.ndarray, k: int, original: int | None) -> dict[str, np.ndarray]:
    """Every metric and null from feature means; `means` is (R, k + 5), one row per resample."""
    p = means[:, :k]
    worst, consistency, agreement, inverse, difficulty_consistency = (means[:, k + j] for j in range(5))
    r = means.shape[0]
    nan = np.full(r, np.nan)
    accuracy = p.mean(axis=1) if k else nan
    maxp, minp = (p.max(axis=1), p.min(axis=1)) if k else (nan, nan)
    perturbed_columns = [j for j in range(k) if j != original]
    clean = p[:, original] if original is not None else nan
    perturbed = p[:, perturbed_columns].mean(axis=1) if perturbed_columns else nan
    with np.errstate(invalid="ignore", divide="ignore"):
        pdr = np.where(clean > 0, 1 - perturbed / clean, np.where(perturbed == 0, 0.0, np.nan))
        pdr = np.where(np.isnan(clean) | np.isnan(perturbed), np.nan, pdr)
        cohens_h = 2 * (np.arcsin(np.sqrt(perturbed)) - np.arcsin(np.sqrt(clean))) / math.pi
        chance = accuracy**2 + (1 - accuracy) ** 2
        kappa = np.where(chance < 1, (agreement - chance) / (1 - chance), np.nan)
        pairs = k * (k - 1) / 2
        s, q = p.sum(axis=1), (p**2).sum(axis=1)
        s_wrong, q_wrong = (1 - p).sum(axis=1), ((1 - p) ** 2).sum(axis=1)
        right_pairs, wrong_pairs = (s**2 - q) / 2, (s_wrong**2 - q_wrong) / 2
        independent_agreement = (right_pairs + wrong_pairs) / pairs if pairs else nan
        independent_consistency = (right_pairs + wrong_pairs * inverse) / pairs if pairs else nan
        independent_kappa = np.where(chance < 1, (independent_agreement - chance) / (1 - chance), np.nan)
    metrics = {
        "accuracy": accuracy,
        "clean_accuracy": clean,
        "maxp": maxp,
        "minp": minp,
        "spread": maxp - minp,
        "cps": maxp * (1 - (maxp - accuracy)),
        "worst_case_accuracy": worst,
        "pdr": pdr,
        "cohens_h": cohens_h,
        "consistency": consistency,
        "correctness_agreement": agreement,
        "kappa": kappa,
    }
    expected = {
        "independence": {
            "consistency": independent_consistency,
            "correctness_agreement": independent_agreement,
            "kappa": independent_kappa,
            "worst_case_accuracy": np.prod(p, axis=1) if k else nan,
        },
        "difficulty": {
            "consistency": difficulty_consistency,
            "correctness_agreement": agreement,
            "kappa": kappa,
            "worst_case_accuracy": worst,
        },
    }
    for null, values in expected.items():
        for key, value in values.items():
            metrics[f"{null}:{key}"] = value
            metrics[f"excess_{null}:{key}"] = metrics[key] - value
    return metrics


def resample_weights(n: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap over examples as weights: chunks of (r, n) multinomial counts (each row sums to n).

    Drawing indices and counting them per row is the same as resampling whole rows; the chunk size
    bounds memory at about _CHUNK_CELLS float64 cells whatever the number of examples.
    """
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_resamples, _CHUNK_CELLS // max(n, 1)))
    done = 0
    while done < n_resamples:
        r = min(chunk, n_resamples - done)
        draws = rng.integers(0, n, size=(r, n))
        draws += (np.arange(r) * n)[:, None]
        yield np.bincount(draws.ravel(), minlength=r * n).reshape(r, n).astype(np.float64)
        done += r


CI_KEYS = METRIC_KEYS + tuple(
    f"excess_{null}:{key}" for key in AGREEMENT_KEYS for null in ("independence", "difficulty")
)


def percentile_bounds(samples: np.ndarray) -> np.ndarray:
    """The CI_LEVEL percentile interval along axis -2 (the resamples) of `samples`, non-finite values
    left out; all of them non-finite gives NaN. Shape: samples' with axis -2 replaced by (low, high).

    One vectorised percentile for every column without a non-finite value (nearly all of them);
    `np.nanpercentile` would loop over columns in Python. The few others get the same percentile on
    their finite values, so each bound is the percentile of that column's finite values either way.
    """
    values = np.moveaxis(samples, -2, -1)  # (..., keys, resamples)
    finite = np.isfinite(values)
    tail = (1 - CI_LEVEL) / 2 * 100
    bounds = np.full((*values.shape[:-1], 2), np.nan)
    clean = finite.all(axis=-1)
    if values.shape[-1] and clean.any():
        bounds[clean] = np.percentile(values[clean], [tail, 100 - tail], axis=-1).T
    for index in zip(*np.nonzero(~clean & finite.any(axis=-1)), strict=True):
        bounds[index] = np.percentile(values[index][finite[index]], [tail, 100 - tail])
    return np.moveaxis(bounds, -1, -2)


def interval(values: np.ndarray) -> list[float]:
    low, high = percentile_bounds(np.asarray(values, dtype=np.float64)[:, None])[:, 0]
    return [float(low), float(high)]


def _block(n: int, width: int, point: Mapping[str, float], bounds: Mapping[str, list[float]]) -> dict:
    """One block of the score object: metrics, their CIs and the nulls of the agreement metrics."""

    def ci(key: str) -> list[float]:
        return bounds.get(key, [math.nan, math.nan])

    baseline = {}
    for key in AGREEMENT_KEYS:
        entry = {"observed": point[key]}
        for null in ("independence", "difficulty"):
            entry[null] = point[f"{null}:{key}"]
            entry[f"excess_{null}"] = point[f"excess_{null}:{key}"]
            entry[f"excess_{null}_ci"] = ci(f"excess_{null}:{key}")
        baseline[key] = entry
    return {
        "n_examples": n,
        "n_slots": width,
        "metrics": {key: point[key] for key in METRIC_KEYS},
        "ci": {key: ci(key) for key in METRIC_KEYS},
        "baseline": baseline,
    }


def _point(means: np.ndarray, width: int, original: int | None) -> dict[str, float]:
    return {key: float(v[0]) for key, v in metrics_from_means(means[None, :], width, original).items()}


def _bounds(samples: Mapping[str, np.ndarray]) -> dict[str, list[float]]:
    """CIs of every key of CI_KEYS from their resampled values, stacked (resamples, keys)."""
    low_high = percentile_bounds(np.column_stack([samples[key] for key in CI_KEYS]))
    return {key: [float(lo), float(hi)] for key, lo, hi in zip(CI_KEYS, *low_high, strict=True)}


def _blocks(matrix: Matrix, slot_sets: list[np.ndarray], *, n_resamples: int, seed: int) -> list[dict]:
    """Metrics, CIs and nulls of `matrix` restricted to each set of slots (the whole release, and
    the original slot plus each family's slots).

    All blocks share one stream of resamples. The slot columns are shared too: the matrix product
    of each chunk of resamples covers the k slot columns once plus five per-example statistics per
    block, and each block picks its slot columns out of the result.
    """
    n, k = matrix.shape
    prepared = []
    extras = []
    for columns in slot_sets:
        sub = matrix.subset(slots=columns) if len(columns) != k else matrix
        original = sub.slots.index(ORIGINAL) if ORIGINAL in sub.slots else None
        extras.append(features(sub).extras())
        prepared.append((len(columns), original, columns))
    everything = np.column_stack([matrix.correct.astype(np.float64), *extras])

    def block_means(means: np.ndarray, b: int) -> np.ndarray:
        start = k + 5 * b
        return np.column_stack([means[:, prepared[b][2]], means[:, start : start + 5]])

    point_means = everything.mean(axis=0)
    drawn: list[list[dict[str, np.ndarray]]] = [[] for _ in prepared]
    if n_resamples and n:
        for weights in resample_weights(n, n_resamples, seed):
            means = weights @ everything / n
            for b, (width, original, _) in enumerate(prepared):
                drawn[b].append(metrics_from_means(block_means(means, b), width, original))
    return [
        _block(
            n,
            width,
            _point(block_means(point_means[None, :], b)[0], width, original),
            _bounds({key: np.concatenate([part[key] for part in parts]) for key in CI_KEYS}) if parts else {},
        )
        for b, ((width, original, _), parts) in enumerate(zip(prepared, drawn, strict=True))
    ]


def _per_task(matrix: Matrix, *, n_resamples: int, seed: int) -> dict[str, dict]:
    """The whole-release block of each task's examples alone, each task resampled on its own examples
    with its own seeded stream.

    Per-example statistics do not depend on which other examples are scored, so they are computed
    once and sliced per task; the resampled means of every task are then stacked, so the metric
    formulas and the percentiles run once for all tasks instead of once per task (a release has
    dozens of tasks of a few hundred examples each, where per-call overhead dominated).
    """
    n, k = matrix.shape
    original = matrix.slots.index(ORIGINAL) if ORIGINAL in matrix.slots else None
    everything = np.column_stack([matrix.correct.astype(np.float64), features(matrix).extras()])
    tasks = sorted(set(matrix.tasks))
    sizes, points, means = [], [], []
    for task in tasks:
        x = np.ascontiguousarray(everything[matrix.tasks == task])
        sizes.append(len(x))
        points.append(_point(x.mean(axis=0), k, original))
        if n_resamples:
            stream = resample_weights(len(x), n_resamples, stable_seed(seed, "task", task))
            means.extend(weights @ x / len(x) for weights in stream)
    if not means:
        return {
            task: _block(size, k, point, {}) for task, size, point in zip(tasks, sizes, points, strict=True)
        }
    samples = metrics_from_means(np.concatenate(means), k, original)
    stacked = np.stack([samples[key] for key in CI_KEYS], axis=-1).reshape(
        len(tasks), n_resamples, len(CI_KEYS)
    )
    low_high = percentile_bounds(stacked)  # (tasks, 2, keys)
    return {
        task: _block(
            size,
            k,
            point,
            {key: [float(lo), float(hi)] for key, lo, hi in zip(CI_KEYS, *bounds, strict=True)},
        )
        for task, size, point, bounds in zip(tasks, sizes, points, low_high, strict=True)
    }


def score_matrix(matrix: Matrix, *, n_resamples: int = 1000, seed: int = 0) -> dict:
    """The score object of `robustboard score` for an already built matrix.

    The bootstrap is many small (resamples × examples) @ (examples × features) products, one per
    chunk and per task; BLAS threads cost more than they save on those (on a busy 2-core machine a
    1000 × 175 product took 12 ms threaded against 0.17 ms on one thread), so they run on one.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _score_matrix(matrix, n_resamples=n_resamples, seed=seed)


def _score_matrix(matrix: Matrix, *, n_resamples: int, seed: int) -> dict:
    n, k = matrix.shape
    family_slots: dict[str, list[int]] = {}
    for j, family in enumerate(matrix.families):
        if family is not None:
            family_slots.setdefault(family, []).append(j)
    original = matrix.slots.index(ORIGINAL) if ORIGINAL in matrix.slots else None
    families = {
        family: columns if original is None or original in columns else [original, *columns]
        for family, columns in sorted(family_slots.items())
    }
    overall, *family_blocks = _blocks(
        matrix,
        [np.arange(k), *(np.asarray(columns) for columns in families.values())],
        n_resamples=n_resamples,
        seed=stable_seed(seed, "all"),
    )
    per_family = {
        family: {"slots": [matrix.slots[j] for j in columns], **block}
        for (family, columns), block in zip(families.items(), family_blocks, strict=True)
    }
    per_task = _per_task(matrix, n_resamples=n_resamples, seed=seed)
    provided = int(matrix.provided.sum())
    failures = int((matrix.failed & matrix.provided).sum())
    return {
        "n_examples": n,
        "n_slots": k,
        "n_predictions": provided,
        "coverage": provided / (n * k) if n * k else math.nan,
        "missing": n * k - provided,
        "extraction_failures": {"count": failures, "rate": failures / provided if provided else math.nan},
        "extraction_rules": matrix.extraction,
        "metrics": overall["metrics"],
        "ci": overall["ci"],
        "ci_method": {"method": CI_METHOD, "n_resamples": n_resamples, "level": CI_LEVEL, "seed": seed},
        "baseline": overall["baseline"],
        "slot_accuracy_sd": _slot_sd(matrix),
        "per_slot": {
            slot: float(value) for slot, value in zip(matrix.slots, matrix.correct.mean(axis=0), strict=True)
        },
        "slots": [{"variant_id": s, "family": f} for s, f in zip(matrix.slots, matrix.families, strict=True)],
        "per_task": per_task,
        "per_family": per_family,
        "definitions": DEFINITIONS,
    }


def _slot_sd(matrix: Matrix) -> dict[str, float]:
    """Standard deviation of the slot accuracies across slots, both conventions, named."""
    p = matrix.correct.mean(axis=0) if matrix.shape[0] else np.array([])
    return {
        "population": float(p.std(ddof=0)) if len(p) else math.nan,
        "sample": float(p.std(ddof=1)) if len(p) > 1 else math.nan,
    }


def score(
    labels_df: pd.DataFrame,
    predictions_df: pd.DataFrame,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    families: Mapping[str, str] | None = None,
    min_coverage: float | None = None,
) -> dict:
    """Validate predictions against labels and return the score object (see `score_matrix`).

    Raises ValidationError for invalid input, and when `min_coverage` is given and the share of
    cells with a prediction is below it.
    """
    matrix = build_matrix(labels_df, predictions_df, families=families)
    check_coverage(matrix, min_coverage)
    return score_matrix(matrix, n_resamples=n_resamples, seed=seed)


def check_coverage(matrix: Matrix, min_coverage: float | None) -> None:
    if min_coverage is None:
        return
    n, k = matrix.shape
    coverage = float(matrix.provided.sum()) / (n * k)
    if coverage < min_coverage:
        problems = Problems("predictions")
        problems.add(
            "coverage",
            f"{coverage:.4f} ({int(matrix.provided.sum())} of {n * k} example × slot cells) is below the "
            f"required minimum {min_coverage}",
        )
        problems.raise_if_any()


def details_frame(matrix: Matrix) -> pd.DataFrame:
    """Per-example details kept privately in the store for paired tests (`details/<id>.parquet`).

    Columns: `example_id`, `task`, one uint8 correctness column per slot (named by variant_id), and
    `__consistency__`, the example's pairwise answer agreement (answers themselves are not kept,
    only what the paired tests need).
    """
    frame = pd.DataFrame({"example_id": matrix.example_ids.astype(str), "task": matrix.tasks.astype(str)})
    slot_columns = pd.DataFrame(matrix.correct, columns=list(matrix.slots))
    frame = pd.concat([frame, slot_columns], axis=1)
    frame[CONSISTENCY_COLUMN] = features(matrix).consistency
    return frame


CONSISTENCY_COLUMN = "__consistency__"
