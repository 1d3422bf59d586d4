"""Answer extraction: each documented rule, its case and whitespace handling, and ambiguity as failure."""

from __future__ import annotations

import pyarrow as pa
import pytest

from submissions.extract import FAILED, MISSING, RULES, extract_answers, gold_positions

LETTERS = ["A", "B", "C", "D"]
CITIES = ["Paris", "London", "Rome", "Berlin"]


def extract(predictions, labels=LETTERS, options=CITIES, **kwargs):
    n = len(predictions)
    result = extract_answers(
        pa.array(predictions, pa.string()),
        pa.array([labels] * n, pa.list_(pa.string())),
        None if options is None else pa.array([options] * n, pa.list_(pa.string())),
        **kwargs,
    )
    return [(int(i), RULES[r]) for i, r in zip(result.index, result.rule, strict=True)]


@pytest.mark.parametrize(
    ("prediction", "expected", "rule"),
    [
        ("B", 1, "label"),
        ("  C\n", 2, "label"),
        ("(B)", 1, "label"),
        ("B)", 1, "label"),
        ("B.", 1, "label"),
        ("[D]", 3, "label"),
        ("**A**", 0, "label"),
        ("b", 1, "label_case"),
        ("(c)", 2, "label_case"),
        ("2", 2, "index"),
        ("0", 0, "index"),
        ("Rome", 2, "option_text"),
        ("rome.", 2, "option_text"),
        ("  BERLIN ", 3, "option_text"),
        ("Answer: D", 3, "answer_cue"),
        ("The answer is (A).", 0, "answer_cue"),
        ("answer is b", 1, "answer_cue"),
        ("The correct option: C", 2, "answer_cue"),
        ("The answer is London", 1, "answer_cue"),
        ("Answer: option B", 1, "answer_cue"),
        ("My answer: I would pick choice C; it fits.", 2, "answer_cue"),
        ("Let me find the answer. Rome is in Italy, so the answer is (C)", 2, "answer_cue"),
        ("B) because London is the capital", 1, "leading_label"),
        ("(C) Rome, obviously", 2, "leading_label"),
        ("I am fairly sure it is Berlin.", 3, "mentioned"),
        (None, MISSING, "missing"),
        ("", MISSING, "missing"),
        ("   ", MISSING, "missing"),
    ],
)
def test_multiple_choice_rules(prediction, expected, rule):
    assert extract([prediction]) == [(expected, rule)]


@pytest.mark.parametrize(
    ("prediction", "rule"),
    [
        ("Answer: A. No wait, Answer: B", "answer_cue"),  # two cues naming different options
        ("A. Rome", "leading_label"),  # the label says Paris, the text says Rome
        ("London or Paris, hard to say", "mentioned"),  # two option texts
        ("4", "failed"),  # no fifth option
        ("E", "failed"),
        ("no idea", "failed"),
    ],
)
def test_ambiguous_or_unmatched_answers_fail(prediction, rule):
    assert extract([prediction]) == [(FAILED, rule)]


def test_repeated_cues_that_agree_are_not_ambiguous():
    assert extract(["Answer: B. Indeed, the answer is (B)"]) == [(1, "answer_cue")]


def test_labels_that_differ_only_by_case_make_a_case_insensitive_match_ambiguous():
    labels = ["a", "A", "b", "c"]
    assert extract(["A", "a", "B"], labels=labels) == [(1, "label"), (0, "label"), (2, "label_case")]
    assert extract(["(a)"], labels=["x", "y"], options=["a", "b"]) == [(0, "option_text")]


def test_numbers_are_labels_when_the_slot_has_digit_labels():
    numeric = ["1", "2", "3", "4"]
    assert extract(["1", "(4)", "0"], labels=numeric) == [(0, "label"), (3, "label"), (FAILED, "failed")]


def test_roman_labels_and_case():
    roman = ["i", "ii", "iii", "iv"]
    assert extract(["iii", "IV", "(ii)", "Answer: iv", "2"], labels=roman) == [
        (2, "label"),
        (3, "label_case"),
        (1, "label"),
        (3, "answer_cue"),
        (2, "index"),
    ]


def test_classification_label_names_are_their_own_option_texts():
    names = ["negative", "neutral", "positive"]
    result = extract(
        [
            "positive",
            "Negative.",
            "Answer: neutral",
            "The sentiment here is positive.",
            "positive or negative",
            "1",
        ],
        labels=names,
        options=None,
    )
    assert result == [
        (2, "label"),
        (0, "label_case"),
        (1, "answer_cue"),
        (2, "mentioned"),
        (FAILED, "mentioned"),
        (1, "index"),
    ]


def test_index_is_refused_when_the_answer_space_order_is_unknown():
    assert extract(["1"], labels=["neg", "pos"], options=None, allow_index=False) == [(FAILED, "failed")]


def test_rows_with_different_answer_spaces():
    result = extract_answers(
        pa.array(["B", "B", "iii", "Rome"]),
        pa.array([LETTERS, ["A", "B"], ["i", "ii", "iii"], LETTERS]),
        pa.array([CITIES, ["yes", "no"], ["x", "y", "z"], ["Rome", "Oslo", "Bern", "Kyiv"]]),
    )
    assert result.index.tolist() == [1, 1, 2, 0]
    assert result.counts()["label"] == 3 and result.counts()["option_text"] == 1


def test_gold_positions_use_exact_labels():
    positions = gold_positions(pa.array(["C", "ii", "Z"]), pa.array([LETTERS, ["i", "ii"], LETTERS]))
    assert positions.tolist() == [2, 1, -1]


def test_many_rows_are_extracted_in_one_vectorised_pass():
    n = 20_000
    predictions = ["A", "(b)", "Answer: C", "Berlin", None] * (n // 5)
    result = extract(predictions)
    assert [r[0] for r in result[:5]] == [0, 1, 2, 3, MISSING]
    assert len(result) == n


def test_option_texts_in_any_script_are_matched_as_whole_words():
    drinks = ["Café", "Thé", "Eau", "Lait"]
    assert extract(["thé", "Je dirais un café.", "Caféine"], options=drinks) == [
        (1, "option_text"),
        (0, "mentioned"),
        (FAILED, "failed"),
    ]
