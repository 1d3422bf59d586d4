"""The metrics of METRICS.md, computed by hand on small matrices, each pitfall, and properties."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nltk.metrics.agreement import AnnotationTask

from robustboard.atomic import dumps_json
from submissions.matrix import Matrix
from submissions.metrics import METRIC_KEYS, features, percentile_bounds, score, score_matrix
from submissions.validation import ValidationError

LETTERS = ["A", "B", "C", "D"]
SLOTS3 = [
    ("original", "original", LETTERS, None),
    ("typos-r1", "typos", LETTERS, None),
    ("typos-r2", "typos", LETTERS, None),
]


def options(i: int) -> list[str]:
    return [f"q{i} option {j}" for j in range(4)]


@pytest.fixture
def hand(mc_labels, predictions):
    """4 examples × 3 slots, gold always A. Correctness (rows = examples, columns = original, r1, r2):
    1 1 1 / 1 0 1 / 0 0 1 / 0 0 0, with answers AAA / ABA / BCA / BBC."""
    labels = mc_labels([(f"e{i}", "t", options(i), 0) for i in range(1, 5)], SLOTS3)
    answers = {"e1": "AAA", "e2": "ABA", "e3": "BCA", "e4": "BBC"}
    rows = [
        (e, v, answer[j])
        for e, answer in answers.items()
        for j, v in enumerate(["original", "typos-r1", "typos-r2"])
    ]
    return labels, predictions(rows)


def test_every_metric_by_hand(hand):
    labels, preds = hand
    result = score(labels, preds, n_resamples=0)
    m = result["metrics"]
    assert set(m) == set(METRIC_KEYS)
    assert result["per_slot"] == {"original": 0.5, "typos-r1": 0.25, "typos-r2": 0.75}
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["clean_accuracy"] == pytest.approx(0.5)
    assert m["maxp"] == pytest.approx(0.75)
    assert m["minp"] == pytest.approx(0.25)
    assert m["spread"] == pytest.approx(0.5)
    assert m["cps"] == pytest.approx(0.75 * (1 - (0.75 - 0.5)))
    assert m["worst_case_accuracy"] == pytest.approx(0.25)
    assert m["pdr"] == pytest.approx(1 - ((0.25 + 0.75) / 2) / 0.5)  # = 0: the mean perturbed accuracy is 0.5
    assert m["cohens_h"] == pytest.approx(0.0)
    # answer agreement per example: AAA 3/3, ABA 1/3, BCA 0/3, BBC 1/3
    assert m["consistency"] == pytest.approx((1 + 1 / 3 + 0 + 1 / 3) / 4)
    # correctness agreement per example: m=3 -> 1, m=2 -> 1/3, m=1 -> 1/3, m=0 -> 1
    assert m["correctness_agreement"] == pytest.approx(2 / 3)
    assert m["kappa"] == pytest.approx((2 / 3 - 0.5) / 0.5)
    assert result["slot_accuracy_sd"]["population"] == pytest.approx(np.std([0.5, 0.25, 0.75]))
    assert result["slot_accuracy_sd"]["sample"] == pytest.approx(np.std([0.5, 0.25, 0.75], ddof=1))
    assert result["n_examples"] == 4 and result["n_slots"] == 3 and result["coverage"] == 1.0


def test_baselines_by_hand(hand):
    labels, preds = hand
    baseline = score(labels, preds, n_resamples=0)["baseline"]
    p = {"o": 0.5, "r1": 0.25, "r2": 0.75}
    pairs = [("o", "r1"), ("o", "r2"), ("r1", "r2")]
    both_right = [p[a] * p[b] for a, b in pairs]
    both_wrong = [(1 - p[a]) * (1 - p[b]) for a, b in pairs]
    independent_agreement = np.mean(np.add(both_right, both_wrong))  # 0.4583
    assert baseline["correctness_agreement"]["independence"] == pytest.approx(independent_agreement)
    assert baseline["correctness_agreement"]["excess_independence"] == pytest.approx(
        2 / 3 - independent_agreement
    )
    assert baseline["worst_case_accuracy"]["independence"] == pytest.approx(0.5 * 0.25 * 0.75)
    # two wrong answers agree when they pick the same of the 3 distractors
    assert baseline["consistency"]["independence"] == pytest.approx(
        np.mean(np.add(both_right, np.divide(both_wrong, 3)))
    )
    assert baseline["kappa"]["independence"] == pytest.approx((independent_agreement - 0.5) / 0.5)
    # difficulty-conditioned null, per example [C(m,2) + C(3-m,2)/3] / C(3,2) for m = 3, 2, 1, 0
    assert baseline["consistency"]["difficulty"] == pytest.approx((1 + 1 / 3 + 1 / 9 + 1 / 3) / 4)
    # correctness-based metrics depend on the slots only through m_i: the difficulty null reproduces them
    for key in ("correctness_agreement", "kappa", "worst_case_accuracy"):
        assert baseline[key]["difficulty"] == pytest.approx(baseline[key]["observed"])
        assert baseline[key]["excess_difficulty"] == pytest.approx(0.0)


def test_fleiss_kappa_matches_nltk_multi_pi():
    rng = np.random.default_rng(7)
    for n, k, p in [(5, 3, 0.5), (8, 4, 0.7), (12, 6, 0.3), (6, 2, 0.5)]:
        correct = (rng.random((n, k)) < p).astype(np.uint8)
        matrix = _matrix(correct)
        ours = score_matrix(matrix, n_resamples=0)["metrics"]["kappa"]
        data = [(f"slot{v}", f"ex{i}", int(correct[i, v])) for i in range(n) for v in range(k)]
        assert ours == pytest.approx(AnnotationTask(data=data).pi(), abs=1e-12)


# ----------------------------------------------------------------------------------------- pitfalls


def test_pitfall_1_pdr_is_a_ratio_of_means_and_overall_accuracy_pools_examples(mc_labels, predictions):
    """Two tasks of different sizes: overall numbers pool examples; per-task numbers are separate."""
    examples = [(f"a{i}", "big", options(i), 0) for i in range(4)] + [("b0", "small", options(9), 0)]
    slots = [("original", "original", LETTERS, None), ("typos-r1", "typos", LETTERS, None)]
    labels = mc_labels(examples, slots)
    right = {
        ("a0", "original"),
        ("a1", "original"),
        ("a2", "original"),
        ("a0", "typos-r1"),
        ("b0", "original"),
        ("b0", "typos-r1"),
    }
    rows = [(e, v, "A" if (e, v) in right else "B") for e in labels["example_id"].unique() for v, *_ in slots]
    result = score(labels, predictions(rows), n_resamples=0)
    # big: clean 3/4, perturbed 1/4 -> PDR 2/3; small: clean 1, perturbed 1 -> PDR 0
    assert result["per_task"]["big"]["metrics"]["pdr"] == pytest.approx(2 / 3)
    assert result["per_task"]["small"]["metrics"]["pdr"] == pytest.approx(0.0)
    # overall: clean 4/5, perturbed 2/5 -> 1 - (2/5)/(4/5) = 0.5, not the mean of per-task PDRs (1/3)
    assert result["metrics"]["pdr"] == pytest.approx(0.5)
    # overall accuracy is micro over examples (6/10), not the mean of task accuracies ((4/8 + 1) / 2)
    assert result["metrics"]["accuracy"] == pytest.approx(0.6)
    assert "ratio of means" in result["definitions"]["pdr"]
    assert "macro over examples" in result["definitions"]["consistency"]


def test_pitfall_2_standard_deviation_is_given_in_both_conventions(hand):
    labels, preds = hand
    result = score(labels, preds, n_resamples=0)
    sd = result["slot_accuracy_sd"]
    assert sd["sample"] == pytest.approx(sd["population"] * math.sqrt(3 / 2))
    assert "ddof=0" in result["definitions"]["slot_accuracy_sd"]


def test_pitfall_3_undefined_ratios_are_null_never_a_crash_or_zero(mc_labels, predictions):
    slots = [("original", "original", LETTERS, None), ("typos-r1", "typos", LETTERS, None)]
    labels = mc_labels([(f"e{i}", "t", options(i), 0) for i in range(4)], slots)
    # original all wrong, perturbed half right: PDR is undefined, Cohen's h is not
    rows = [(f"e{i}", "original", "B") for i in range(4)] + [
        (f"e{i}", "typos-r1", "A" if i < 2 else "B") for i in range(4)
    ]
    result = score(labels, predictions(rows), n_resamples=50)
    assert math.isnan(result["metrics"]["pdr"])
    assert result["metrics"]["cohens_h"] == pytest.approx(2 * (math.asin(math.sqrt(0.5)) - 0) / math.pi)
    parsed = json.loads(dumps_json(result))
    assert parsed["metrics"]["pdr"] is None
    # both zero: no drop, PDR = 0
    rows = [(f"e{i}", v, "B") for i in range(4) for v in ("original", "typos-r1")]
    assert score(labels, predictions(rows), n_resamples=0)["metrics"]["pdr"] == 0.0
    # a perfect model: chance agreement P̄e = 1, so kappa is undefined (null), not 0 or 1
    perfect = [(f"e{i}", v, "A") for i in range(4) for v in ("original", "typos-r1")]
    result = score(labels, predictions(perfect), n_resamples=20)
    assert math.isnan(result["metrics"]["kappa"])
    assert json.loads(dumps_json(result))["ci"]["kappa"] == [None, None]


def test_pitfall_3_no_original_slot_gives_null_clean_accuracy_and_pdr(mc_labels, predictions):
    slots = [("typos-r1", "typos", LETTERS, None), ("typos-r2", "typos", LETTERS, None)]
    labels = mc_labels([(f"e{i}", "t", options(i), 0) for i in range(3)], slots)
    rows = [(f"e{i}", v, "A") for i in range(3) for v in ("typos-r1", "typos-r2")]
    m = score(labels, predictions(rows), n_resamples=0)["metrics"]
    assert math.isnan(m["clean_accuracy"]) and math.isnan(m["pdr"]) and math.isnan(m["cohens_h"])
    assert m["accuracy"] == 1.0


def test_pitfall_4_worst_case_is_per_input_not_the_worst_slot(mc_labels, predictions):
    """Each example fails in a different slot: every slot is at 3/4, yet no example survives all slots."""
    slots = [(f"typos-r{j}", "typos", LETTERS, None) for j in range(4)]
    labels = mc_labels([(f"e{i}", "t", options(i), 0) for i in range(4)], slots)
    rows = [(f"e{i}", f"typos-r{j}", "B" if i == j else "A") for i in range(4) for j in range(4)]
    m = score(labels, predictions(rows), n_resamples=0)["metrics"]
    assert m["minp"] == pytest.approx(0.75)
    assert m["worst_case_accuracy"] == 0.0


def test_pitfall_5_missing_predictions_count_as_wrong_and_lower_coverage(mc_labels, predictions):
    slots = [("original", "original", LETTERS, None), ("typos-r1", "typos", LETTERS, None)]
    labels = mc_labels([(f"e{i}", "t", options(i), 0) for i in range(4)], slots)
    rows = [("e0", "original", "A"), ("e1", "original", "A"), ("e0", "typos-r1", "A"), ("e1", "typos-r1", "")]
    result = score(labels, predictions(rows), n_resamples=0)
    assert result["coverage"] == pytest.approx(3 / 8)  # the empty prediction is no answer
    assert result["missing"] == 5
    # 3 right out of 8 cells, not 3 out of the 3 answered
    assert result["metrics"]["accuracy"] == pytest.approx(3 / 8)
    assert result["per_slot"] == {"original": 0.5, "typos-r1": 0.25}
    # a missing answer agrees with nothing, not even another missing answer
    assert result["metrics"]["consistency"] == pytest.approx(1 / 4)


def test_pitfall_6_choice_order_slots_compare_answers_by_content(mc_labels, predictions):
    """Gold is the option `q0 option 1`: B in the original order, C when the options are reversed."""
    slots = [
        ("original", "original", LETTERS, None),
        ("choice-order-reversed", "choice_order", LETTERS, [3, 2, 1, 0]),
    ]
    labels = mc_labels([("e0", "t", options(0), 1), ("e1", "t", options(1), 1)], slots)
    assert labels.set_index(["example_id", "variant_id"]).loc[("e0", "choice-order-reversed"), "gold"] == "C"
    rows = [
        ("e0", "original", "B"),  # the gold option
        ("e0", "choice-order-reversed", "B"),  # the same letter now names `q0 option 2`, the displaced option
        ("e1", "original", "B"),
        ("e1", "choice-order-reversed", "C"),  # another letter, the same option: the same answer
    ]
    result = score(labels, predictions(rows), n_resamples=0)
    assert result["per_slot"] == {"original": 1.0, "choice-order-reversed": 0.5}
    assert result["metrics"]["consistency"] == pytest.approx(0.5)  # e0 disagrees (letters equal), e1 agrees
    assert result["metrics"]["correctness_agreement"] == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------- properties


def _matrix(correct: np.ndarray, answers: np.ndarray | None = None, slots: list[str] | None = None) -> Matrix:
    n, k = correct.shape
    slots = slots or ["original", *[f"p{j}" for j in range(1, k)]]
    return Matrix(
        example_ids=np.array([f"e{i:03d}" for i in range(n)], dtype=object),
        tasks=np.array(["t"] * n, dtype=object),
        slots=tuple(slots),
        families=tuple("original" if s == "original" else "p" for s in slots),
        correct=correct.astype(np.uint8),
        answers=np.where(correct == 1, 0, 1 + np.arange(n * k).reshape(n, k)) if answers is None else answers,
        provided=np.ones((n, k), dtype=bool),
        failed=np.zeros((n, k), dtype=bool),
        inverse_distractors=np.full(n, 1 / 3),
        extraction={},
    )


matrices = st.integers(2, 9).flatmap(
    lambda n: st.integers(2, 5).flatmap(
        lambda k: st.tuples(
            st.lists(st.lists(st.integers(0, 3), min_size=k, max_size=k), min_size=n, max_size=n),
            st.permutations(range(n)),
            st.permutations(range(1, k)),
        )
    )
)


@settings(max_examples=60, deadline=None)
@given(matrices)
def test_permuting_examples_or_slots_leaves_every_metric_unchanged(case):
    """Answers are option indices (0 = gold); example rows and non-original slots are shuffled."""
    answers, rows, slots = case
    answers = np.asarray(answers)
    correct = (answers == 0).astype(np.uint8)
    base = score_matrix(_matrix(correct, answers), n_resamples=0)["metrics"]
    columns = [0, *slots]
    names = ["original", *[f"p{j}" for j in range(1, answers.shape[1])]]
    shuffled = _matrix(
        correct[np.ix_(rows, columns)], answers[np.ix_(rows, columns)], [names[c] for c in columns]
    )
    moved = score_matrix(shuffled, n_resamples=0)["metrics"]
    for key in METRIC_KEYS:
        assert moved[key] == pytest.approx(base[key], nan_ok=True), key


def test_row_order_of_the_inputs_changes_nothing_not_even_the_bootstrap(toy_labels, gold_predictions):
    preds = gold_predictions(toy_labels)
    preds.loc[preds.index[::3], "prediction"] = "B"
    first = score(toy_labels, preds, n_resamples=200, seed=3)
    second = score(
        toy_labels.sample(frac=1, random_state=1),
        preds.sample(frac=1, random_state=2),
        n_resamples=200,
        seed=3,
    )
    assert dumps_json(first) == dumps_json(second)


def test_perfect_model_has_accuracy_one_and_consistency_one(toy_labels, gold_predictions):
    m = score(toy_labels, gold_predictions(toy_labels), n_resamples=0)["metrics"]
    assert m["accuracy"] == 1.0 and m["consistency"] == 1.0 and m["worst_case_accuracy"] == 1.0
    assert m["pdr"] == 0.0 and m["spread"] == 0.0 and m["correctness_agreement"] == 1.0


def test_constant_answer_model_has_consistency_one(toy_labels, predictions):
    """Always the first option of the source order, named by its text, its letter or its numeral."""
    rows = []
    for row in toy_labels.itertuples():
        first = {"q1": "Paris", "q2": "red", "q3": "one", "q4": "cat"}[row.example_id]
        position = list(row.choices).index(first)
        answer = first if row.variant_id == "typos-p0.05-r1" else row.choice_labels[position]
        rows.append((row.example_id, row.variant_id, answer))
    m = score(toy_labels, predictions(rows), n_resamples=0)["metrics"]
    assert m["consistency"] == 1.0
    assert m["accuracy"] == 0.25  # only q1's gold is its first option


def test_identical_inputs_give_identical_output(hand):
    labels, preds = hand
    assert dumps_json(score(labels, preds, seed=11)) == dumps_json(score(labels, preds, seed=11))
    assert score(labels, preds, seed=11)["ci"] != score(labels, preds, seed=12)["ci"]


# ---------------------------------------------------------------------------------------- intervals


def test_bootstrap_resamples_whole_examples_not_cells():
    """Copying every slot k times adds no information: a cell bootstrap would narrow the interval,
    an example bootstrap (the same seed) gives exactly the same one."""
    rng = np.random.default_rng(0)
    single = (rng.random((60, 1)) < 0.6).astype(np.uint8)
    one = score_matrix(_matrix(single, slots=["original"]), n_resamples=400, seed=5)
    copies = np.repeat(single, 5, axis=1)
    many = score_matrix(_matrix(copies), n_resamples=400, seed=5)
    assert many["ci"]["accuracy"] == pytest.approx(one["ci"]["accuracy"])
    assert many["ci_method"]["n_resamples"] == 400 and "over examples" in many["ci_method"]["method"]


def test_interval_brackets_the_estimate_and_matches_a_direct_resampling():
    rng = np.random.default_rng(1)
    correct = (rng.random((80, 3)) < 0.7).astype(np.uint8)
    result = score_matrix(_matrix(correct), n_resamples=2000, seed=0)
    low, high = result["ci"]["accuracy"]
    assert low < result["metrics"]["accuracy"] < high
    # the same statistic by resampling rows with a plain loop agrees to within Monte Carlo error
    per_example = correct.mean(axis=1)
    draws = np.random.default_rng(99).integers(0, 80, size=(4000, 80))
    direct = np.percentile(per_example[draws].mean(axis=1), [2.5, 97.5])
    assert low == pytest.approx(direct[0], abs=0.02) and high == pytest.approx(direct[1], abs=0.02)


def test_percentile_bounds_leave_out_undefined_resamples_like_nanpercentile():
    """Vectorised over tasks and keys, yet each interval is the percentile of its finite values."""
    rng = np.random.default_rng(3)
    samples = rng.random((4, 200, 6))
    samples[0, ::7, 1] = np.nan  # a metric undefined in some resamples
    samples[2, :50, 3] = np.inf
    samples[3, :, 5] = np.nan  # undefined in every resample
    bounds = percentile_bounds(samples)
    assert bounds.shape == (4, 2, 6)
    finite = np.where(np.isfinite(samples), samples, np.nan)
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning, match="All-NaN"):
        expected = np.moveaxis(np.nanpercentile(finite, [2.5, 97.5], axis=1), 0, 1)
    np.testing.assert_allclose(bounds, expected, rtol=1e-12, atol=0)  # equal but for the last bit
    assert np.isnan(bounds[3, :, 5]).all()


def test_per_task_blocks_equal_scoring_each_task_alone():
    """Tasks are resampled on their own examples with their own streams, batched or not."""
    rng = np.random.default_rng(4)
    correct = (rng.random((90, 3)) < 0.6).astype(np.uint8)
    matrix = _matrix(correct)
    tasks = np.array(["t0", "t1", "t2"])[rng.integers(0, 3, size=90)]
    matrix = dataclasses.replace(matrix, tasks=tasks)
    result = score_matrix(matrix, n_resamples=300, seed=8)
    for task in ("t0", "t1", "t2"):
        alone = score_matrix(matrix.subset(rows=np.flatnonzero(tasks == task)), n_resamples=300, seed=8)
        assert result["per_task"][task]["metrics"] == alone["per_task"][task]["metrics"]
        assert result["per_task"][task]["ci"] == alone["per_task"][task]["ci"]
        assert result["per_task"][task]["n_examples"] == (tasks == task).sum()


def test_per_task_and_per_family_blocks(toy_labels, gold_predictions):
    preds = gold_predictions(toy_labels)
    preds.loc[(preds["variant_id"] == "enumerator-roman") & (preds["example_id"] == "q1"), "prediction"] = (
        "ii"
    )
    result = score(toy_labels, preds, n_resamples=100)
    assert set(result["per_task"]) == {"geography", "colours", "numbers", "animals"}
    assert result["per_task"]["geography"]["metrics"]["accuracy"] == pytest.approx(3 / 4)
    assert result["per_task"]["colours"]["metrics"]["accuracy"] == 1.0
    assert set(result["per_family"]) == {"original", "typos", "enumerator", "choice_order"}
    # a family's block is the original slot plus that family's slots
    assert result["per_family"]["enumerator"]["slots"] == ["original", "enumerator-roman"]
    assert result["per_family"]["enumerator"]["metrics"]["pdr"] == pytest.approx(1 / 4)
    assert result["per_family"]["typos"]["metrics"]["pdr"] == 0.0
    assert result["slots"][0] == {"variant_id": "original", "family": "original"}


def test_min_coverage_is_enforced(toy_labels, gold_predictions):
    preds = gold_predictions(toy_labels).iloc[:8]
    with pytest.raises(ValidationError) as err:
        score(toy_labels, preds, n_resamples=0, min_coverage=0.9)
    assert "0.5000" in str(err.value) and "below the required minimum 0.9" in str(err.value)
    assert score(toy_labels, preds, n_resamples=0, min_coverage=0.5)["coverage"] == 0.5


def test_agreement_features_of_a_matrix():
    answers = np.array([[5, 5, 5, 7], [1, 2, 3, 4], [9, 9, 8, 8]])
    f = features(_matrix((answers == 5).astype(np.uint8), answers, ["original", "a", "b", "c"]))
    assert f.consistency.tolist() == pytest.approx([3 / 6, 0, 2 / 6])


def test_score_json_has_the_documented_shape(hand):
    labels, preds = hand
    result = json.loads(dumps_json(score(labels, preds, n_resamples=10)))
    for key in (
        "n_examples",
        "n_slots",
        "coverage",
        "metrics",
        "ci",
        "ci_method",
        "per_slot",
        "per_task",
        "per_family",
        "baseline",
        "definitions",
        "extraction_failures",
    ):
        assert key in result
    assert list(result["metrics"]) == sorted(METRIC_KEYS)
    assert all(len(result["ci"][key]) == 2 for key in METRIC_KEYS)
    for key in METRIC_KEYS:
        assert key in result["definitions"]
    assert isinstance(pd.Series(result["per_slot"]).sum(), float)


def test_classification_labels_score_label_names_and_free_text(predictions):
    """Classification label rows carry no answer space: it is the task's set of gold labels."""
    labels = pd.DataFrame(
        [
            {"example_id": f"r{i}", "variant_id": v, "gold": gold, "task": "sentiment"}
            for i, gold in enumerate(["positive", "negative", "positive"])
            for v in ("original", "typos-r1")
        ]
    )
    rows = [
        ("r0", "original", "positive"),
        ("r0", "typos-r1", "Positive."),
        ("r1", "original", "The review is negative."),
        ("r1", "typos-r1", "positive"),
        ("r2", "original", "neutral"),  # outside the answer space: unparseable, wrong
        ("r2", "typos-r1", "1"),  # no index: the order of an inferred answer space is unknown
    ]
    result = score(labels, predictions(rows), n_resamples=0)
    assert result["per_slot"] == {"original": pytest.approx(2 / 3), "typos-r1": pytest.approx(1 / 3)}
    assert result["extraction_failures"]["count"] == 2
    assert result["metrics"]["consistency"] == pytest.approx(1 / 3)  # only r0 agrees
    assert result["extraction_rules"]["label_case"] == 1 and result["extraction_rules"]["mentioned"] == 1


def test_temperature_samples_are_scored_as_extra_slots_of_their_slot(mc_labels, predictions):
    # `robustboard predict --samples 2` writes sample 1 as V and sample 2 as V@t0.7-s2
    labels = mc_labels(
        [("e1", "t", ["a", "b", "c"], 0), ("e2", "t", ["a", "b", "c"], 1)],
        [("original", "original", "ABC", None), ("choice-order-reversed", "choice_order", "ABC", [2, 1, 0])],
    )
    submitted = predictions(
        [
            ("e1", "original", "A"),
            ("e1", "original@t0.7-s2", "B"),
            ("e2", "original", "B"),
            ("e2", "original@t0.7-s2", "B"),
            ("e1", "choice-order-reversed", "C"),
            ("e1", "choice-order-reversed@t0.7-s2", "C"),
            ("e2", "choice-order-reversed", "B"),  # its second sample is missing: wrong, not dropped
        ]
    )
    result = score(labels, submitted, n_resamples=50)
    assert result["n_slots"] == 4
    assert result["per_slot"] == {
        "original": 1.0,
        "original@t0.7-s2": 0.5,
        "choice-order-reversed": 1.0,
        "choice-order-reversed@t0.7-s2": 0.5,
    }
    assert result["coverage"] == 7 / 8
    assert result["metrics"]["clean_accuracy"] == 1.0
