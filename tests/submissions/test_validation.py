"""Validation: every bad-input class is rejected with every problem listed and located, and error
messages never reveal a gold answer. Model metadata is checked too."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from submissions.formats import read_predictions
from submissions.matrix import build_matrix
from submissions.validation import MAX_PROBLEMS, SHOWN_PROBLEMS, Problem, ValidationError, validate_model


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_unknown_pairs_are_listed_with_their_line(tmp_path, toy_labels):
    rows = [
        {"example_id": "q1", "variant_id": "original", "prediction": "A"},
        {"example_id": "q9", "variant_id": "original", "prediction": "A"},
        {"example_id": "q2", "variant_id": "typos-p0.99-r7", "prediction": "B"},
        {"example_id": "q3", "variant_id": "original", "prediction": "A"},
        {"example_id": "q4", "variant_id": "original", "prediction": "A"},
    ]
    predictions = read_predictions(write_jsonl(tmp_path / "p.jsonl", rows))
    with pytest.raises(ValidationError) as err:
        build_matrix(toy_labels, predictions)
    assert [str(p) for p in err.value.problems] == [
        "line 2: unknown example_id 'q9': ('q9', 'original') is not in the release",
        "line 3: unknown variant_id 'typos-p0.99-r7': ('q2', 'typos-p0.99-r7') is not in the release",
    ]


def test_duplicates_name_both_places(tmp_path, toy_labels):
    rows = [
        {"example_id": "q1", "variant_id": "original", "prediction": "A"},
        {"example_id": "q2", "variant_id": "original", "prediction": "A"},
        {"example_id": "q1", "variant_id": "original", "prediction": "B"},
    ]
    predictions = read_predictions(write_jsonl(tmp_path / "p.jsonl", rows))
    with pytest.raises(ValidationError) as err:
        build_matrix(toy_labels, predictions)
    assert str(err.value.problems[0]) == (
        "line 3: duplicate prediction for (example_id 'q1', variant_id 'original'); first given at line 1"
    )


def test_predictions_for_another_release_are_called_out(toy_labels, predictions):
    rows = [(f"mmlu-{i}", "original", "A") for i in range(30)]
    with pytest.raises(ValidationError) as err:
        build_matrix(toy_labels, predictions(rows))
    assert "are these predictions for a different release or version?" in str(err.value.problems[0])
    assert err.value.n_problems == 31
    message = str(err.value)
    assert message.startswith("31 problems in predictions")
    assert f"... and {31 - SHOWN_PROBLEMS} more" in message
    assert len(message.splitlines()) == SHOWN_PROBLEMS + 2


def test_problem_lists_are_capped_but_counted(toy_labels, predictions):
    rows = [(f"x{i}", "original", "A") for i in range(MAX_PROBLEMS + 50)]
    with pytest.raises(ValidationError) as err:
        build_matrix(toy_labels, predictions(rows))
    assert len(err.value.problems) == MAX_PROBLEMS
    assert err.value.n_problems == MAX_PROBLEMS + 51


def test_an_empty_predictions_frame_is_rejected(toy_labels, predictions):
    with pytest.raises(ValidationError, match="there are no prediction rows"):
        build_matrix(toy_labels, predictions([]))


def test_labels_must_be_a_complete_grid_without_duplicates(toy_labels, gold_predictions):
    holey = toy_labels.drop(index=[5, 6])
    with pytest.raises(ValidationError) as err:
        build_matrix(holey, gold_predictions(holey))
    text = str(err.value)
    assert "example_id 'q2', variant_id 'typos-p0.05-r1': has no label row" in text
    doubled = pd.concat([toy_labels, toy_labels.iloc[[3]]], ignore_index=True)
    with pytest.raises(
        ValidationError, match=r"labels row 17 \(example_id 'q1', variant_id 'choice-order-reversed'\)"
    ):
        build_matrix(doubled, gold_predictions(toy_labels))


def test_a_gold_outside_the_answer_space_is_reported_without_revealing_it(toy_labels, gold_predictions):
    broken = toy_labels.copy()
    broken.loc[2, "gold"] = "SECRET-GOLD"
    with pytest.raises(ValidationError) as err:
        build_matrix(broken, gold_predictions(toy_labels))
    assert "gold is not one of the slot's answer labels" in str(err.value)
    assert "SECRET" not in str(err.value)


def test_no_error_message_contains_a_gold_answer(tmp_path, mc_labels, predictions):
    """Gold labels and option texts are unique strings here; no kind of bad submission may echo them."""
    labels = mc_labels(
        [(f"e{i}", "t", [f"opt{i}-{j}" for j in range(4)], 2) for i in range(3)],
        [("original", "original", ["GOLDA", "GOLDB", "GOLDC", "GOLDD"], None)],
    )
    bad = [
        [("e0", "original", "x"), ("e0", "original", "y")],
        [("zz", "original", "x")],
        [("e0", "nope", "x")],
    ]
    for rows in bad:
        with pytest.raises(ValidationError) as err:
            build_matrix(labels, predictions(rows))
        assert "GOLDC" not in str(err.value) and "opt0-2" not in str(err.value)


def test_problem_text():
    assert str(Problem("row 5, column prediction", "is empty")) == "row 5, column prediction: is empty"
    assert (
        str(ValidationError([Problem("line 1", "bad")], what="x.jsonl"))
        == "1 problem in x.jsonl:\n  line 1: bad"
    )


# --------------------------------------------------------------------------------------- model metadata


GOOD = {
    "name": "meta-llama/Llama-3.1-8B",
    "revision": "0e9e39f",
    "params_b": 8.03,
    "type": "pretrained",
    "link": "https://huggingface.co/meta-llama/Llama-3.1-8B",
    "license": "llama3.1",
    "submitter": "alice",
}


def test_good_metadata_is_normalised():
    assert validate_model(GOOD) == GOOD
    minimal = validate_model({"name": "org/m", "type": "baseline", "submitter": "bob"})
    assert minimal["revision"] == "main" and minimal["params_b"] is None and minimal["link"] is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "llama", "is not of the form org/model"),
        ("name", "org/model/extra", "is not of the form org/model"),
        ("name", None, "is required"),
        ("type", "chat", "is not one of pretrained"),
        ("link", "javascript:alert(1)", "is not an http(s) URL"),
        ("link", "ftp://example.com/m", "is not an http(s) URL"),
        ("link", "https://exa mple.com", "is not an http(s) URL"),
        ("params_b", "seven", "is not a number"),
        ("params_b", -1, "is not a parameter count"),
        ("params_b", float("nan"), "is not a parameter count"),
        ("submitter", "", "is required"),
        ("submitter", "eve\x00", "contains control characters"),
        ("license", 7, "must be a string"),
    ],
)
def test_bad_metadata_is_rejected_by_field(field, value, message):
    with pytest.raises(ValidationError) as err:
        validate_model({**GOOD, field: value})
    assert err.value.problems[0].location == f"field {field}"
    assert message in err.value.problems[0].message


def test_all_metadata_problems_at_once():
    with pytest.raises(ValidationError) as err:
        validate_model({"name": "x", "type": "?", "submitter": "", "colour": "red"})
    assert {p.location for p in err.value.problems} == {
        "field colour",
        "field name",
        "field type",
        "field submitter",
    }
