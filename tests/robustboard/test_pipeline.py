"""The suite pipeline behind `robustboard demo`: real data, real baselines, the real store, cached reruns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from robustboard.cli import UserError, main
from robustboard.pipeline import load_suite, parse_suite, report, run_suite

REPO = Path(__file__).resolve().parents[2]


def _suite_file(tmp_path: Path, shared_data: Path) -> Path:
    spec = {
        "name": "rt_small",
        "task": "classification",
        "source": {
            "data_files": {
                "train": str(shared_data / "rotten_tomatoes/train.jsonl"),
                "test": str(shared_data / "rotten_tomatoes/test.jsonl"),
            },
            "split": "test",
        },
        "fields": {"text": "text", "label": "label"},
        "labels": ["negative", "positive"],
    }
    (tmp_path / "rt.yaml").write_text(yaml.safe_dump(spec))
    suite = {
        "name": "small",
        "benchmarks": [{"spec": "rt.yaml", "limit": 30}],
        "baselines": ["random-guess", "logreg-word", "vader"],
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def test_a_suite_builds_predicts_scores_and_reports(tmp_path, shared_data):
    suite = load_suite(str(_suite_file(tmp_path, shared_data)))
    run = run_suite(suite, tmp_path / "work", progress=False, log=lambda _: None)

    assert run.releases == ("rt_small@1.0.0",)
    assert (run.submitted, run.scored) == (3, 3)
    results = [json.loads(p.read_text()) for p in (run.store / "results").glob("*.json")]
    assert sorted(r["model"]["name"] for r in results) == [
        "robustboard-baselines/logreg-word",
        "robustboard-baselines/random-guess",
        "robustboard-baselines/vader",
    ]
    for result in results:
        assert result["coverage"] == 1.0
        assert 0.0 <= result["metrics"]["accuracy"] <= 1.0
    # a classifier trained on 8,530 reviews beats a coin on held-out reviews
    accuracy = {r["model"]["name"].split("/")[1]: r["metrics"]["accuracy"] for r in results}
    assert accuracy["logreg-word"] > accuracy["random-guess"]

    text = report(run.store, n_resamples=200)
    assert "## rt_small@1.0.0 (3 models)" in text
    assert "Does robustness follow accuracy?" in text
    assert "| consistency | 3 |" in text


def test_a_rerun_reuses_the_release_and_predictions_and_scores_nothing_again(tmp_path, shared_data):
    suite = load_suite(str(_suite_file(tmp_path, shared_data)))
    run_suite(suite, tmp_path / "work", progress=False, log=lambda _: None)
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "work").rglob("*.parquet")}

    messages: list[str] = []
    again = run_suite(suite, tmp_path / "work", progress=False, log=messages.append)

    assert again.scored == 0
    assert any("reusing the release" in m for m in messages)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "work").rglob("*.parquet")} == stamps


def test_the_demo_command_prints_the_ranked_table_and_writes_the_report(tmp_path, shared_data, capsys):
    suite = _suite_file(tmp_path, shared_data)
    out = tmp_path / "report.md"
    code = main(
        [
            "demo",
            "--suite",
            str(suite),
            "--workdir",
            str(tmp_path / "w"),
            "--no-serve",
            "--no-progress",
            "--report",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "robustboard-baselines/logreg-word" in printed
    assert out.read_text().strip() == printed.strip()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"benchmarks": []}, "benchmarks must be a non-empty list"),
        ({"benchmarks": [{"spec": "mmlu", "slotz": 1}]}, "benchmarks[0].slotz is not a benchmark key"),
        ({"benchmarks": [{"spec": "mmlu", "limit": 0}]}, "benchmarks[0].limit must be a positive integer"),
        ({"benchmarks": [{"spec": "mmlu"}], "baselines": "some"}, "baselines must be `all` or a list"),
        ({"benchmark": []}, "benchmark is not a suite key"),
    ],
)
def test_a_bad_suite_is_one_clear_error_naming_the_key(data, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_suite(data, "suite.yaml", None)


def test_the_built_in_and_extended_suites_load():
    default = load_suite("default")
    assert [b.spec for b in default.benchmarks] == ["mmlu"]
    assert "minilm-similarity" not in default.baselines
    extended = load_suite(str(REPO / "suites/extended.yaml"))
    assert len(extended.benchmarks) == 8
    assert all(Path(b.spec).is_file() for b in extended.benchmarks)
    adv = extended.benchmarks[-1]
    assert adv.train is not None and adv.train.is_file()
    assert adv.train_columns == (("sentence", "text"),)


def test_without_nltk_data_the_demo_leaves_out_the_slots_that_need_it_and_says_how_to_get_them(
    tmp_path, shared_data
):
    suite = _suite_file(tmp_path, shared_data)
    (tmp_path / "no_nltk").mkdir()
    env = {**os.environ, "NLTK_DATA": str(tmp_path / "no_nltk")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "robustboard",
            "demo",
            "--suite",
            str(suite),
            "--workdir",
            str(tmp_path / "w"),
            "--no-serve",
            "--no-progress",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "NLTK data averaged_perceptron_tagger_eng, stopwords, wordnet not found" in done.stderr
    assert "python -m nltk.downloader averaged_perceptron_tagger_eng stopwords wordnet" in done.stderr
    manifest = json.loads((tmp_path / "w/releases/rt_small-limit30/manifest.json").read_text())
    families = set(manifest["configs"])
    assert {"original", "instruction", "answer_cue"} <= families
    assert not families & {"typos", "synonyms", "char_edits", "mild_mix"}
