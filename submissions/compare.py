"""Paired comparison of two results on the same release (METRICS.md, "Confidence intervals and comparisons").

Both results were scored on the same examples, so every test is paired by example:

* accuracy — an exact sign test over examples (`scipy.stats.binomtest` on the examples where the two
  models' per-example accuracies differ, p = 1/2 under the null). With one slot this *is* the exact
  McNemar test on the discordant pairs; with k slots it keeps McNemar's logic while respecting that
  the k cells of one example are not independent (a cell-level McNemar would overstate the evidence).
  The exact McNemar test on the `original` slot is reported as well (`mcnemar_original`).
* every metric (accuracy included) — a paired bootstrap over examples: the same resampled examples
  for both models, percentile CI of the difference a − b, and a two-sided bootstrap p-value
  (twice the smaller share of resampled differences on either side of 0, capped at 1).

Inputs are the per-example details the store keeps (`details/<id>.parquet`: example_id, task, one
correctness column per slot, `__consistency__`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from threadpoolctl import threadpool_limits

from robustboard.hashing import stable_seed
from submissions.matrix import ORIGINAL
from submissions.metrics import (
    CI_LEVEL,
    CONSISTENCY_COLUMN,
    METRIC_KEYS,
    features_from,
    interval,
    metrics_from_means,
    resample_weights,
)
from submissions.validation import Problems

NON_SLOT_COLUMNS = ("example_id", "task", CONSISTENCY_COLUMN)
BOOTSTRAP = "paired percentile bootstrap over examples (the same resampled examples for both results)"


def slot_columns(details: pd.DataFrame) -> list[str]:
    return [c for c in details.columns if c not in NON_SLOT_COLUMNS]


def compare(
    details_a: pd.DataFrame, details_b: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0
) -> dict:
    """Paired tests of result a against result b; differences are a − b.

    The bootstrap's matrix products run on one BLAS thread, as in `score_matrix`.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _compare(details_a, details_b, n_resamples=n_resamples, seed=seed)


def _compare(details_a: pd.DataFrame, details_b: pd.DataFrame, *, n_resamples: int, seed: int) -> dict:
    a, b = _aligned(details_a, details_b)
    slots = slot_columns(a)
    k = len(slots)
    original = slots.index(ORIGINAL) if ORIGINAL in slots else None
    correct_a, correct_b = a[slots].to_numpy(np.float64), b[slots].to_numpy(np.float64)
    n = len(a)
    no_distractors = np.full(n, np.nan)  # the nulls are not compared, only the metrics
    stacked_a = features_from(correct_a, a[CONSISTENCY_COLUMN].to_numpy(np.float64), no_distractors).stacked()
    stacked_b = features_from(correct_b, b[CONSISTENCY_COLUMN].to_numpy(np.float64), no_distractors).stacked()
    point_a = metrics_from_means(stacked_a.mean(axis=0)[None, :], k, original)
    point_b = metrics_from_means(stacked_b.mean(axis=0)[None, :], k, original)
    differences: dict[str, list[np.ndarray]] = {key: [] for key in METRIC_KEYS}
    for weights in resample_weights(n, n_resamples, stable_seed(seed, "compare")):
        sample_a = metrics_from_means(weights @ stacked_a / n, k, original)
        sample_b = metrics_from_means(weights @ stacked_b / n, k, original)
        for key in METRIC_KEYS:
            differences[key].append(sample_a[key] - sample_b[key])
    metrics = {}
    for key in METRIC_KEYS:
        diff = np.concatenate(differences[key]) if differences[key] else np.array([])
        value_a, value_b = float(point_a[key][0]), float(point_b[key][0])
        metrics[key] = {
            "a": value_a,
            "b": value_b,
            "difference": value_a - value_b,
            "ci": interval(diff),
            "p_value": _bootstrap_p(diff),
            "test": BOOTSTRAP,
        }
    per_example_a, per_example_b = correct_a.mean(axis=1), correct_b.mean(axis=1)
    a_better, b_better = (
        int((per_example_a > per_example_b).sum()),
        int((per_example_a < per_example_b).sum()),
    )
    metrics["accuracy"]["sign_test"] = {
        "test": "exact sign test over examples on per-example accuracy (= exact McNemar when k = 1), "
        "scipy.stats.binomtest, two-sided",
        "a_better": a_better,
        "b_better": b_better,
        "p_value": _binomial_p(a_better, b_better),
    }
    result = {
        "n_examples": n,
        "n_slots": k,
        "n_resamples": n_resamples,
        "ci_level": CI_LEVEL,
        "seed": seed,
        "metrics": metrics,
    }
    if original is not None:
        only_a = int(((correct_a[:, original] == 1) & (correct_b[:, original] == 0)).sum())
        only_b = int(((correct_a[:, original] == 0) & (correct_b[:, original] == 1)).sum())
        result["mcnemar_original"] = {
            "test": "exact McNemar on the original slot: scipy.stats.binomtest on the discordant pairs, "
            "two-sided",
            "a_right_b_wrong": only_a,
            "a_wrong_b_right": only_b,
            "p_value": _binomial_p(only_a, only_b),
        }
    return result


def _binomial_p(successes: int, failures: int) -> float:
    if successes + failures == 0:
        return 1.0
    return float(binomtest(successes, successes + failures, 0.5, alternative="two-sided").pvalue)


def _bootstrap_p(diff: np.ndarray) -> float:
    finite = diff[np.isfinite(diff)]
    if not len(finite):
        return math.nan
    below, above = float((finite <= 0).mean()), float((finite >= 0).mean())
    return min(1.0, 2 * min(below, above))


def _aligned(details_a: pd.DataFrame, details_b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both details on the same examples and slots, in the same order; else a ValidationError."""
    problems = Problems("the two results")
    for name, frame in (("a", details_a), ("b", details_b)):
        for column in ("example_id", CONSISTENCY_COLUMN):
            if column not in frame.columns:
                problems.add(f"result {name}", f"details have no {column} column")
    problems.raise_if_any()
    if slot_columns(details_a) != slot_columns(details_b):
        problems.add("slots", "the results have different slots: they are not on the same release")
    ids_a, ids_b = set(details_a["example_id"]), set(details_b["example_id"])
    if ids_a != ids_b:
        problems.add(
            "examples",
            f"the results are on different examples ({len(ids_a - ids_b)} only in a, "
            f"{len(ids_b - ids_a)} only in b): they are not on the same release",
        )
    problems.raise_if_any()
    a = details_a.sort_values("example_id", kind="stable").reset_index(drop=True)
    b = details_b.sort_values("example_id", kind="stable").reset_index(drop=True)
    return a, b
