"""The commands as users run them: score, register, submit, worker, results, compare."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from robustboard.cli import main


@pytest.fixture
def labels_file(tmp_path, toy_labels):
    path = tmp_path / "labels.parquet"
    toy_labels.to_parquet(path)
    return path


def write_predictions(path, labels, wrong=()):
    rows = [
        {
            "example_id": r.example_id,
            "variant_id": r.variant_id,
            "prediction": "Answer: (A)" if (r.example_id, r.variant_id) in wrong else r.gold,
        }
        for r in labels.itertuples()
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_score_prints_one_json_object_and_writes_it(tmp_path, toy_labels, labels_file, capsys):
    predictions = write_predictions(tmp_path / "p.csv", toy_labels, wrong={("q2", "original")})
    out = tmp_path / "score.json"
    assert (
        main(
            [
                "score",
                "--labels",
                str(labels_file),
                "--predictions",
                str(predictions),
                "--json",
                str(out),
                "--resamples",
                "50",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert printed["metrics"]["clean_accuracy"] == 0.75 and printed["ci_method"]["n_resamples"] == 50
    assert printed["n_examples"] == 4 and printed["n_slots"] == 4 and printed["coverage"] == 1.0


def test_score_rejects_bad_input_with_every_problem_and_exit_status_2(tmp_path, labels_file, capsys):
    bad = tmp_path / "p.jsonl"
    bad.write_text(
        '{"example_id": "q1", "variant_id": "original", "prediction": "A"}\n'
        '{"example_id": "q1", "variant_id": "original", "prediction": "B"}\n'
        '{"example_id": "q7", "variant_id": "original", "prediction": "B"}\n'
        '{"example_id": "q2", "variant_id": "original", "prediction": "B"}\n'
        '{"example_id": "q3", "variant_id": "original", "prediction": "B"}\n'
    )
    assert main(["score", "--labels", str(labels_file), "--predictions", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("robustboard score: error: 2 problems in predictions")
    assert "line 3: unknown example_id 'q7'" in err
    assert (
        "line 2: duplicate prediction for (example_id 'q1', variant_id 'original'); first given at line 1"
        in err
    )
    assert main(["score", "--labels", str(labels_file), "--predictions", str(tmp_path / "none.csv")]) == 2


def test_min_coverage_option(tmp_path, toy_labels, labels_file, capsys):
    predictions = write_predictions(tmp_path / "p.csv", toy_labels.iloc[:4])
    assert (
        main(
            [
                "score",
                "--labels",
                str(labels_file),
                "--predictions",
                str(predictions),
                "--min-coverage",
                "0.5",
            ]
        )
        == 2
    )
    assert "below the required minimum 0.5" in capsys.readouterr().err


def test_register_submit_results_compare(tmp_path, make_release, toy_labels, capsys):
    public, labels = make_release(toy_labels)
    store = tmp_path / "store"
    assert main(["register", str(public), "--labels", str(labels), "--store", str(store)]) == 0
    assert "registered toy@1.0.0 (4 examples × 4 slots" in capsys.readouterr().out

    good = write_predictions(tmp_path / "good.csv", toy_labels)
    meh = write_predictions(
        tmp_path / "meh.csv", toy_labels, wrong={("q2", v) for v in toy_labels["variant_id"]}
    )
    common = ["--release", "toy@1.0.0", "--store", str(store), "--resamples", "50", "--submitter", "alice"]
    assert (
        main(
            [
                "submit",
                str(good),
                "--model",
                "org/good",
                "--type",
                "baseline",
                "--params-b",
                "0.1",
                "--link",
                "https://example.org",
                *common,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "PENDING" in out and "org/good on toy@1.0.0: accuracy 1.0000" in out
    assert main(["submit", str(meh), "--model", "org/meh", "--no-wait", *common]) == 0
    assert "PENDING" in capsys.readouterr().out

    assert main(["worker", "--store", str(store), "--once", "--resamples", "50"]) == 0
    assert "1 submission(s) processed" in capsys.readouterr().out

    assert main(["results", "--store", str(store)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["model", "revision", "release", "accuracy"]
    assert [line.split()[0] for line in table[1:]] == ["org/good", "org/meh"]
    assert main(["results", "--store", str(store), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    ids = {r["model"]["name"]: r["submission_id"] for r in records}

    result_a = store / "results" / f"{ids['org/good']}.json"
    assert main(["compare", str(result_a), ids["org/meh"], "--store", str(store), "--resamples", "100"]) == 0
    comparison = json.loads(capsys.readouterr().out)
    assert comparison["metrics"]["accuracy"]["difference"] == pytest.approx(0.25)
    assert comparison["metrics"]["accuracy"]["sign_test"]["a_better"] == 1
    details = store / "details" / f"{ids['org/meh']}.parquet"
    assert main(["compare", str(details), str(result_a), "--resamples", "100"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["accuracy"]["difference"] == pytest.approx(-0.25)


def test_submit_reports_bad_metadata_and_unknown_releases(tmp_path, make_release, toy_labels, capsys):
    public, labels = make_release(toy_labels)
    store = tmp_path / "store"
    main(["register", str(public), "--labels", str(labels), "--store", str(store)])
    good = write_predictions(tmp_path / "good.csv", toy_labels)
    assert (
        main(["submit", str(good), "--release", "toy@1.0.0", "--model", "no-org", "--store", str(store)]) == 2
    )
    assert "field name: 'no-org' is not of the form org/model" in capsys.readouterr().err
    assert main(["submit", str(good), "--release", "toy@2", "--model", "a/b", "--store", str(store)]) == 2
    assert "release 'toy@2' is not registered" in capsys.readouterr().err


def test_the_console_command_in_a_fresh_process(tmp_path, toy_labels, labels_file):
    """The `robustboard` console script's entry point (robustboard.cli:main), exit statuses included."""
    entry_point = "import sys; from robustboard.cli import main; sys.exit(main(sys.argv[1:]))"
    predictions = write_predictions(tmp_path / "p.csv", toy_labels)
    command = [sys.executable, "-c", entry_point, "score", "--labels", str(labels_file), "--resamples", "10"]
    done = subprocess.run(
        [*command, "--predictions", str(predictions)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["metrics"]["accuracy"] == 1.0
    bad = tmp_path / "bad.csv"
    bad.write_text("example_id,variant_id\nq1,original\n")
    done = subprocess.run([*command, "--predictions", str(bad)], capture_output=True, text=True, check=False)
    assert (
        done.returncode == 2
        and "column prediction: is missing" in done.stderr
        and "Traceback" not in done.stderr
    )
