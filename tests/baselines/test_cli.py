"""`robustboard baselines`: a predictions file for every row, metadata for the submission, one-line errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from baselines.models import BASELINES, model_metadata
from robustboard.cli import main
from tests.baselines.releases import ROMAN, cls_row, mc_row, write_release


@pytest.fixture
def mc_release(tmp_path):
    rows = []
    for i in range(4):
        choices = ["short", "a much longer option", "mid one", "x"]
        rows.append(mc_row(f"m-{i}", "original", "original", f"question {i}", choices))
        rows.append(mc_row(f"m-{i}", "enumerator-roman", "enumerator", f"question {i}", choices, ROMAN[:4]))
    return write_release(tmp_path / "mc", "multiple_choice", rows)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_writes_a_predictions_file_in_the_format_of_its_suffix(mc_release, tmp_path, suffix, capsys):
    out = tmp_path / f"preds{suffix}"
    assert (
        main(["baselines", str(mc_release), "--model", "longest-option", "--out", str(out), "--no-progress"])
        == 0
    )
    if suffix == ".jsonl":
        frame = pd.read_json(out, lines=True, dtype=False)
    elif suffix == ".csv":
        frame = pd.read_csv(out, dtype=str)
    else:
        frame = pd.read_parquet(out)
    assert list(frame.columns) == ["example_id", "variant_id", "prediction"]
    assert len(frame) == 8
    assert set(frame[frame.variant_id == "original"].prediction) == {"B"}
    assert set(frame[frame.variant_id == "enumerator-roman"].prediction) == {"ii"}
    assert "longest-option: wrote 8 predictions for toy 1.0.0" in capsys.readouterr().err


def test_the_predictions_file_is_accepted_by_the_submissions_reader(mc_release, tmp_path):
    from submissions.formats import read_predictions

    out = tmp_path / "preds.jsonl"
    assert (
        main(["baselines", str(mc_release), "--model", "random-guess", "--out", str(out), "--seed", "7"]) == 0
    )
    frame = read_predictions(out)
    assert len(frame) == 8 and set(frame["prediction"].astype(str)) <= {"A", "B", "C", "D", *ROMAN[:4]}


def test_metadata_is_written_for_the_submission(mc_release, tmp_path):
    meta = tmp_path / "model.json"
    argv = ["baselines", str(mc_release), "--model", "random-guess", "--out", str(tmp_path / "p.jsonl")]
    assert main([*argv, "--seed", "3", "--metadata", str(meta)]) == 0
    written = json.loads(meta.read_text("utf-8"))
    assert written == model_metadata("random-guess", seed=3)
    assert written["type"] == "baseline" and written["revision"].endswith("-seed3")
    assert written["name"] == "robustboard-baselines/random-guess" and written["link"].startswith("https://")


def test_every_baseline_has_metadata_the_submissions_validator_accepts():
    from submissions.validation import validate_model

    for name, baseline in BASELINES.items():
        meta = model_metadata(name, params_b=baseline.params_b if baseline.params_b is not None else 1e-6)
        assert set(meta) == {"name", "revision", "params_b", "type", "link", "license", "submitter"}
        assert meta["type"] == "baseline" and meta["link"].startswith("https://") and meta["license"]
        assert validate_model(meta)["name"] == f"robustboard-baselines/{name}"


def test_list_shows_the_baselines_that_apply_to_a_release(mc_release, tmp_path, capsys):
    assert main(["baselines", "--list", str(mc_release)]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == [
        "random-guess",
        "first-option",
        "longest-option",
        "tfidf-overlap",
        "bm25-overlap",
        "minilm-similarity",
    ]
    rows = [cls_row("c-0", "original", "original", "a tweet", ("anger", "joy"))]
    cls_release = write_release(tmp_path / "cls", "classification", rows)
    assert main(["baselines", "--list", str(cls_release)]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == [
        "random-guess",
        "logreg-word",
        "logreg-char",
        "naive-bayes",
    ]  # not sentiment: no lexicons


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "gpt-9"], "unknown baseline 'gpt-9'; known: random-guess, first-option"),
        (["--model", "vader"], "baseline 'vader' is for classification releases; toy is multiple_choice"),
        (["--model", "first-option", "--out", "p.txt"], "unknown predictions format '.txt'"),
        (["--model", "first-option", "RELEASE=missing"], "no such folder"),
        ([], "give RELEASE, --model NAME and --out FILE"),
    ],
)
def test_bad_input_is_one_clear_line(mc_release, tmp_path, capsys, argv, message):
    release = str(tmp_path / "missing") if "RELEASE=missing" in argv else str(mc_release)
    argv = [a for a in argv if a != "RELEASE=missing"]
    if argv and "--out" not in argv:
        argv += ["--out", str(tmp_path / "p.jsonl")]
    assert main(["baselines", release, *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "p.jsonl").exists()


def test_a_release_missing_a_listed_file_is_named(mc_release, tmp_path, capsys):
    (mc_release / "enumerator" / "test-00000-of-00001.parquet").unlink()
    out = tmp_path / "p.jsonl"
    assert main(["baselines", str(mc_release), "--model", "first-option", "--out", str(out)]) == 2
    assert (
        "enumerator/test-00000-of-00001.parquet is listed in manifest.json but missing"
        in capsys.readouterr().err
    )
