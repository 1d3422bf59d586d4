"""Paired tests between two results on the same release: exact McNemar / sign test, paired bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from submissions.compare import compare
from submissions.matrix import build_matrix
from submissions.metrics import CONSISTENCY_COLUMN, METRIC_KEYS, details_frame, score_matrix
from submissions.validation import ValidationError


def details(correct: np.ndarray, slots=None, consistency=None) -> pd.DataFrame:
    n, k = correct.shape
    slots = slots or ["original", *[f"p{j}" for j in range(1, k)]]
    frame = pd.DataFrame(correct.astype(np.uint8), columns=slots)
    frame.insert(0, "task", "t")
    frame.insert(0, "example_id", [f"e{i:03d}" for i in range(n)])
    frame[CONSISTENCY_COLUMN] = np.ones(n) if consistency is None else consistency
    return frame


def test_single_slot_accuracy_uses_the_exact_mcnemar_test():
    """10 examples; a right/b wrong on 6, a wrong/b right on 1, the rest concordant."""
    a = np.array([1, 1, 1, 1, 1, 1, 0, 1, 0, 1])[:, None]
    b = np.array([0, 0, 0, 0, 0, 0, 1, 1, 0, 1])[:, None]
    result = compare(details(a, ["original"]), details(b, ["original"]), n_resamples=500)
    exact = min(1.0, 2 * binom.cdf(1, 7, 0.5))  # two-sided exact binomial on 6 vs 1 discordant pairs
    assert (
        result["mcnemar_original"]["a_right_b_wrong"] == 6
        and result["mcnemar_original"]["a_wrong_b_right"] == 1
    )
    assert result["mcnemar_original"]["p_value"] == pytest.approx(exact)
    sign = result["metrics"]["accuracy"]["sign_test"]
    assert (sign["a_better"], sign["b_better"]) == (6, 1) and sign["p_value"] == pytest.approx(exact)
    assert result["metrics"]["accuracy"]["difference"] == pytest.approx(0.5)


def test_multi_slot_sign_test_counts_examples_not_cells():
    """a beats b on 3 slots of one example: one discordant example, not three discordant cells."""
    a = np.array([[1, 1, 1], [0, 0, 0], [1, 1, 1]])
    b = np.array([[0, 0, 0], [0, 0, 0], [1, 1, 1]])
    sign = compare(details(a), details(b), n_resamples=100)["metrics"]["accuracy"]["sign_test"]
    assert (sign["a_better"], sign["b_better"]) == (1, 0) and sign["p_value"] == 1.0


def test_identical_results_have_no_difference():
    rng = np.random.default_rng(0)
    correct = (rng.random((50, 4)) < 0.6).astype(np.uint8)
    result = compare(details(correct), details(correct), n_resamples=300)
    for key in METRIC_KEYS:
        entry = result["metrics"][key]
        if not math.isnan(entry["a"]):
            assert entry["difference"] == 0 and entry["ci"] == [0.0, 0.0] and entry["p_value"] == 1.0, key
    assert result["mcnemar_original"]["p_value"] == 1.0


def test_a_clearly_better_model_is_significant_and_its_ci_excludes_zero():
    rng = np.random.default_rng(1)
    b = (rng.random((400, 3)) < 0.5).astype(np.uint8)
    a = np.maximum(b, (rng.random((400, 3)) < 0.4).astype(np.uint8))  # a is right wherever b is, and more
    result = compare(details(a), details(b), n_resamples=500, seed=2)
    accuracy = result["metrics"]["accuracy"]
    assert accuracy["difference"] > 0 and accuracy["ci"][0] > 0 and accuracy["p_value"] < 0.01
    assert accuracy["sign_test"]["b_better"] == 0 and accuracy["sign_test"]["p_value"] < 1e-10
    assert result == compare(details(a), details(b), n_resamples=500, seed=2)


def test_examples_are_paired_by_example_id_not_by_row_order():
    a = np.tile(np.array([[1, 1], [0, 0]]), (100, 1))
    shuffled = details(a).sample(frac=1, random_state=0)
    same = compare(details(a), shuffled, n_resamples=200)
    assert same["metrics"]["accuracy"]["ci"] == [0.0, 0.0]  # paired: identical per example
    # the same rows under swapped ids: equal accuracies, yet every example differs
    flipped = details(a)
    flipped["example_id"] = flipped["example_id"].to_numpy()[np.r_[1:200, 0]]
    result = compare(details(a), flipped, n_resamples=200)
    assert result["metrics"]["accuracy"]["difference"] == 0
    assert result["metrics"]["accuracy"]["sign_test"]["a_better"] == 100
    assert result["metrics"]["accuracy"]["sign_test"]["b_better"] == 100
    assert result["metrics"]["accuracy"]["ci"][0] < 0 < result["metrics"]["accuracy"]["ci"][1]


def test_results_on_different_releases_are_refused():
    a = details(np.ones((3, 2)))
    with pytest.raises(ValidationError, match="different examples"):
        compare(a, details(np.ones((4, 2))))
    with pytest.raises(ValidationError, match="different slots"):
        compare(a, details(np.ones((3, 2)), ["original", "other"]))


def test_details_written_by_the_scorer_round_trip(toy_labels, gold_predictions, predictions):
    preds_a = gold_predictions(toy_labels)
    preds_b = predictions([(r.example_id, r.variant_id, "A") for r in toy_labels.itertuples()])
    matrix_a, matrix_b = build_matrix(toy_labels, preds_a), build_matrix(toy_labels, preds_b)
    frame = details_frame(matrix_a)
    assert list(frame.columns[:2]) == ["example_id", "task"]
    assert frame[list(matrix_a.slots)].dtypes.unique().tolist() == [np.dtype("uint8")]
    result = compare(details_frame(matrix_a), details_frame(matrix_b), n_resamples=100)
    for key in ("accuracy", "consistency", "worst_case_accuracy"):
        assert result["metrics"][key]["a"] == pytest.approx(
            score_matrix(matrix_a, n_resamples=0)["metrics"][key]
        )
        assert result["metrics"][key]["b"] == pytest.approx(
            score_matrix(matrix_b, n_resamples=0)["metrics"][key]
        )
