"""Readers: labels folders and files, predictions in every format, and lm-eval sample logs written in
the exact shape lm-evaluation-harness writes them (evaluator.py + EvaluationTracker.save_results_samples)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from submissions.formats import detect_format, read_labels, read_predictions, submission_bytes
from submissions.metrics import score
from submissions.validation import ValidationError

# ------------------------------------------------------------------------------------- lm-eval shape


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def public_row(labels_row: dict) -> dict:
    """The public row (the lm-eval `doc`) for a label row: everything but the gold answer."""
    labels = list(labels_row["choice_labels"])
    choices = list(labels_row["choices"])
    body = "\n".join(f"{lab}. {c}" for lab, c in zip(labels, choices, strict=True))
    return {
        "example_id": labels_row["example_id"],
        "variant_id": labels_row["variant_id"],
        "family": labels_row["family"],
        "params": "{}",
        "task": labels_row["task"],
        "question": f"Question about {labels_row['example_id']}?",
        "choices": choices,
        "choice_labels": labels,
        "prompt": f"Question about {labels_row['example_id']}?\n{body}\nAnswer:",
    }


def lmeval_loglikelihood_sample(
    doc_id: int, doc: dict, logliks: list[float], *, filter_key: str = "none"
) -> dict:
    """One line of samples_<task>_<time>.jsonl for an `output_type: multiple_choice` task whose
    `doc_to_choice` is the slot's labels, `doc_to_target: 0` and `target_delimiter: " "`.

    lm-eval builds {doc_id, doc, target, arguments: [req.args], resps: [req.resps], filtered_resps,
    filter, metrics, doc_hash, prompt_hash, target_hash, <metric values>}; the tracker then turns
    arguments into {"gen_args_i": {"arg_j": ...}}, stringifies resps/filtered_resps with
    sanitize_list (tuples of (loglikelihood, is_greedy) become ["-1.5", "False"]) and target with str().
    """
    context = doc["prompt"]
    best = max(range(len(logliks)), key=lambda j: logliks[j])
    greedy = [str(j == best) for j in range(len(logliks))]
    return {
        "doc_id": doc_id,
        "doc": doc,
        "target": "0",
        "arguments": {
            f"gen_args_{i}": {"arg_0": context, "arg_1": f" {c}"} for i, c in enumerate(doc["choice_labels"])
        },
        "resps": [[[str(ll), g]] for ll, g in zip(logliks, greedy, strict=True)],
        "filtered_resps": [[str(ll), g] for ll, g in zip(logliks, greedy, strict=True)],
        "filter": filter_key,
        "metrics": ["acc"],
        "doc_hash": _hash(json.dumps(doc, indent=2, ensure_ascii=False)),
        "prompt_hash": _hash(context),
        "target_hash": _hash("0"),
        "acc": 1.0 if best == 0 else 0.0,
    }


def lmeval_generation_sample(
    doc_id: int, doc: dict, text: str, *, filter_key: str = "none", filtered=None
) -> dict:
    """One line for an `output_type: generate_until` task (arguments: the context and the gen kwargs)."""
    context = doc["prompt"]
    return {
        "doc_id": doc_id,
        "doc": doc,
        "target": "0",
        "arguments": {"gen_args_0": {"arg_0": context, "arg_1": {"until": ["\n\n"], "do_sample": False}}},
        "resps": [[text]],
        "filtered_resps": [text if filtered is None else filtered],
        "filter": filter_key,
        "metrics": ["exact_match"],
        "doc_hash": _hash(json.dumps(doc, indent=2, ensure_ascii=False)),
        "prompt_hash": _hash(context),
        "target_hash": _hash("0"),
        "exact_match": 0.0,
    }


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------- labels


def test_labels_folder_in_the_builders_layout_gets_families_from_folders(tmp_path, toy_labels):
    for family, part in toy_labels.groupby("family"):
        (tmp_path / family).mkdir()
        pq.write_table(
            pa.Table.from_pandas(part.drop(columns="family"), preserve_index=False),
            tmp_path / family / "test-00000-of-00001.parquet",
        )
    (tmp_path / "manifest.json").write_text("{}")
    labels = read_labels(tmp_path)
    assert len(labels) == 16
    assert dict(zip(labels["variant_id"], labels["family"], strict=True))["enumerator-roman"] == "enumerator"
    assert isinstance(labels["choices"].dtype, pd.ArrowDtype)
    assert (
        score(labels, toy_labels[["example_id", "variant_id"]].assign(prediction="A"), n_resamples=0)[
            "n_slots"
        ]
        == 4
    )


def test_labels_as_one_jsonl_csv_or_parquet_file(tmp_path, toy_labels):
    write_jsonl(tmp_path / "labels.jsonl", toy_labels.to_dict("records"))
    csv = toy_labels.assign(
        choices=toy_labels["choices"].map(json.dumps),
        choice_labels=toy_labels["choice_labels"].map(json.dumps),
    )
    csv.to_csv(tmp_path / "labels.csv", index=False)
    toy_labels.to_parquet(tmp_path / "labels.parquet")
    frames = [read_labels(tmp_path / f"labels.{suffix}") for suffix in ("jsonl", "csv", "parquet")]
    for frame in frames:
        assert frame["choices"].tolist() == frames[0]["choices"].tolist()
        assert frame["gold"].tolist() == toy_labels["gold"].tolist()


def test_csv_labels_keep_ids_and_labels_as_text(tmp_path):
    pd.DataFrame({"example_id": ["007", "008"], "variant_id": ["original"] * 2, "gold": ["1", "2"]}).to_csv(
        tmp_path / "l.csv", index=False
    )
    labels = read_labels(tmp_path / "l.csv")
    assert labels["example_id"].tolist() == ["007", "008"] and labels["gold"].tolist() == ["1", "2"]


def test_bad_labels_are_rejected_with_every_problem(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ValidationError, match="empty"):
        read_labels(tmp_path / "empty.jsonl")
    pd.DataFrame({"example_id": ["a"], "variant_id": ["original"]}).to_csv(
        tmp_path / "nogold.csv", index=False
    )
    with pytest.raises(ValidationError, match="column gold: is missing"):
        read_labels(tmp_path / "nogold.csv")
    pd.DataFrame(
        {"example_id": ["a", "b"], "variant_id": ["o", "o"], "gold": ["A", "B"], "choices": ["[1", "x"]}
    ).to_csv(tmp_path / "lists.csv", index=False)
    with pytest.raises(ValidationError) as err:
        read_labels(tmp_path / "lists.csv")
    assert "row 1, column choices" in str(err.value) and "row 2, column choices" in str(err.value)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(ValidationError, match="no parquet files"):
        read_labels(tmp_path / "nothing")


# -------------------------------------------------------------------------------------- predictions


ROWS = [
    {"example_id": "q1", "variant_id": "original", "prediction": "A"},
    {"example_id": "q2", "variant_id": "original", "prediction": "(C)"},
]


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet"])
def test_predictions_in_each_format(tmp_path, suffix):
    frame = pd.DataFrame(ROWS)
    path = tmp_path / f"p.{suffix}"
    if suffix == "jsonl":
        write_jsonl(path, ROWS)
    elif suffix == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    read = read_predictions(path)
    assert (
        read[["example_id", "variant_id", "prediction"]].astype(str).values.tolist() == frame.values.tolist()
    )
    assert read.attrs["format"] == suffix
    assert read["_where"].tolist() == [1, 2]


def test_integer_predictions_are_option_indices_as_text(tmp_path):
    write_jsonl(tmp_path / "p.jsonl", [{"example_id": "q1", "variant_id": "original", "prediction": 2}])
    assert read_predictions(tmp_path / "p.jsonl")["prediction"].tolist() == ["2"]
    pd.DataFrame({"example_id": ["q1"], "variant_id": ["original"], "prediction": [3]}).to_parquet(
        tmp_path / "p.parquet"
    )
    assert read_predictions(tmp_path / "p.parquet")["prediction"].tolist() == ["3"]


def test_blank_lines_keep_the_line_numbers_true(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n\n\n" + json.dumps(ROWS[1]) + "\n")
    assert read_predictions(path)["_where"].tolist() == [1, 4]


def test_every_malformed_line_is_reported_with_its_number(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(
        json.dumps(ROWS[0]) + "\n{not json\n[1, 2]\n" + json.dumps(ROWS[1]) + "\n"
        '{"example_id": ["x"], "variant_id": "original", "prediction": "A"}\n'
    )
    with pytest.raises(ValidationError) as err:
        read_predictions(path)
    problems = [str(p) for p in err.value.problems]
    assert problems[0].startswith("line 2: is not valid JSON")
    assert problems[1] == "line 3: is a JSON list, not an object"
    assert problems[2] == "line 5, field example_id: must be a string, not list"
    assert err.value.n_problems == 3


def test_missing_columns_and_empty_ids_are_named(tmp_path):
    pd.DataFrame({"example_id": ["a"], "variant": ["original"], "answer": ["B"]}).to_csv(
        tmp_path / "p.csv", index=False
    )
    with pytest.raises(ValidationError) as err:
        read_predictions(tmp_path / "p.csv")
    message = str(err.value)
    assert "column variant_id: is missing" in message and "column prediction: is missing" in message
    assert "columns present: example_id, variant, answer" in message
    write_jsonl(
        tmp_path / "p.jsonl", [ROWS[0], {"example_id": "", "variant_id": "original", "prediction": "A"}]
    )
    with pytest.raises(ValidationError, match="line 2, column example_id: is empty"):
        read_predictions(tmp_path / "p.jsonl")


def test_unreadable_and_empty_files(tmp_path):
    (tmp_path / "p.parquet").write_bytes(b"not a parquet file")
    with pytest.raises(ValidationError, match="cannot be read as parquet"):
        read_predictions(tmp_path / "p.parquet")
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(ValidationError, match="the file is empty"):
        read_predictions(tmp_path / "e.csv")
    (tmp_path / "h.csv").write_text("example_id,variant_id,prediction\n")
    with pytest.raises(ValidationError, match="no rows"):
        read_predictions(tmp_path / "h.csv")
    (tmp_path / "p.txt").write_text("A\n")
    with pytest.raises(ValidationError, match="unknown format 'txt'"):
        read_predictions(tmp_path / "p.txt")
    with pytest.raises(ValidationError, match="no such file"):
        read_predictions(tmp_path / "absent.jsonl")


# ------------------------------------------------------------------------------------------- lm-eval


def test_lmeval_loglikelihood_samples_become_argmax_predictions(tmp_path, toy_labels):
    records = []
    for doc_id, row in enumerate(toy_labels.to_dict("records")):
        doc = public_row(row)
        gold = list(row["choice_labels"]).index(row["gold"])
        logliks = [-4.0, -3.0, -2.5, -6.0]
        logliks[gold] = -0.5 if row["variant_id"] != "choice-order-reversed" else -9.0
        records.append(lmeval_loglikelihood_sample(doc_id, doc, logliks))
    path = write_jsonl(tmp_path / "samples_robustboard_toy_all_2026-01-02T03-04-05.678901.jsonl", records)
    assert detect_format(path) == "lm-eval"
    predictions = read_predictions(path)
    assert predictions.attrs["format"] == "lm-eval"
    assert predictions["prediction"].iloc[0] == toy_labels["gold"].iloc[0]
    result = score(toy_labels, predictions, n_resamples=0)
    assert result["per_slot"]["original"] == 1.0 and result["per_slot"]["enumerator-roman"] == 1.0
    assert result["per_slot"]["choice-order-reversed"] < 1.0
    assert result["extraction_failures"]["count"] == 0


def test_lmeval_generations_go_through_extraction(tmp_path, toy_labels):
    rows = toy_labels[toy_labels["variant_id"] == "original"].to_dict("records")
    texts = ["The answer is (A).", "Answer: C", "I think it is two", "D"]
    records = [
        lmeval_generation_sample(i, public_row(r), t)
        for i, (r, t) in enumerate(zip(rows, texts, strict=True))
    ]
    predictions = read_predictions(write_jsonl(tmp_path / "samples_gen_2026-01-01T00-00-00.jsonl", records))
    assert predictions["prediction"].tolist() == texts
    result = score(toy_labels, predictions, n_resamples=0)
    assert result["per_slot"]["original"] == 1.0
    assert result["coverage"] == 0.25


def test_lmeval_with_several_filters_uses_the_none_filter(tmp_path, toy_labels):
    row = toy_labels.to_dict("records")[0]
    doc = public_row(row)
    records = [
        lmeval_generation_sample(
            0, doc, "B is wrong, Answer: A", filter_key="strict-match", filtered="[invalid]"
        ),
        lmeval_generation_sample(0, doc, "B is wrong, Answer: A", filter_key="none"),
    ]
    predictions = read_predictions(write_jsonl(tmp_path / "samples_x_2026-01-01T00-00-00.jsonl", records))
    assert predictions["prediction"].tolist() == ["B is wrong, Answer: A"]


def test_lmeval_older_list_format_with_numeric_responses(tmp_path, toy_labels):
    doc = public_row(toy_labels.to_dict("records")[0])
    record = {
        "doc_id": 0,
        "doc": doc,
        "target": 0,
        "arguments": [[doc["prompt"], f" {c}"] for c in doc["choice_labels"]],
        "resps": [[[-2.0, False]], [[-1.0, True]], [[-3.0, False]], [[-4.0, False]]],
        "filtered_resps": [[-2.0, False], [-1.0, True], [-3.0, False], [-4.0, False]],
        "acc": 0.0,
    }
    predictions = read_predictions(write_jsonl(tmp_path / "samples_old_2024-01-01T00-00-00.jsonl", [record]))
    assert predictions["prediction"].tolist() == ["B"]


def test_a_folder_of_lmeval_files_is_read_and_kept_as_one_raw_file(tmp_path, toy_labels):
    folder = tmp_path / "out" / "org__model"
    folder.mkdir(parents=True)
    rows = toy_labels.to_dict("records")
    for config in ("original", "typos"):
        part = [r for r in rows if r["family"] == config]
        records = [
            lmeval_loglikelihood_sample(i, public_row(r), [-1.0, -2.0, -3.0, -4.0])
            for i, r in enumerate(part)
        ]
        write_jsonl(folder / f"samples_robustboard_toy_{config}_2026-01-01T00-00-00.jsonl", records)
    predictions = read_predictions(tmp_path / "out")
    assert len(predictions) == 8 and set(predictions["_file"].astype(str)) == {
        "org__model/samples_robustboard_toy_original_2026-01-01T00-00-00.jsonl",
        "org__model/samples_robustboard_toy_typos_2026-01-01T00-00-00.jsonl",
    }
    data, fmt = submission_bytes(tmp_path / "out")
    assert fmt == "lm-eval" and data.count(b"\n") == 8
    (tmp_path / "raw").write_bytes(data)
    again = read_predictions(tmp_path / "raw", format="lm-eval")
    assert again["prediction"].tolist() == predictions["prediction"].tolist()


def test_lmeval_samples_not_from_a_robustboard_release_are_rejected(tmp_path):
    record = lmeval_generation_sample(3, {"question": "2+2?", "prompt": "2+2?"}, "4")
    path = write_jsonl(tmp_path / "samples_gsm8k_2026-01-01T00-00-00.jsonl", [record, record])
    with pytest.raises(ValidationError) as err:
        read_predictions(path)
    assert "samples_gsm8k_2026-01-01T00-00-00.jsonl: line 1: its doc has no example_id/variant_id" in str(
        err.value
    )
    assert err.value.n_problems == 2


def test_parquet_with_categorical_ids_and_a_nested_column_type(tmp_path):
    frame = pd.DataFrame(ROWS).astype({"example_id": "category", "variant_id": "category"})
    frame.to_parquet(tmp_path / "cat.parquet")
    assert read_predictions(tmp_path / "cat.parquet")["example_id"].tolist() == ["q1", "q2"]
    pd.DataFrame({"example_id": ["q1"], "variant_id": ["original"], "prediction": [["A", "B"]]}).to_parquet(
        tmp_path / "nested.parquet"
    )
    with pytest.raises(ValidationError, match="column prediction: must hold text, not list<element: string>"):
        read_predictions(tmp_path / "nested.parquet")
