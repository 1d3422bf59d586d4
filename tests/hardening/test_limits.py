"""Limits, each configurable (environment, command-line flag, store setting) and each with its own
message: file size, rows, problems reported, scoring time per job, submissions per submitter and per
model per day."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from robustboard.atomic import dumps_json
from robustboard.cli import main
from submissions.limits import Limits
from submissions.store import open_store
from submissions.validation import ValidationError
from tests.hardening.conftest import CORPUS
from tests.hardening.release import write_predictions

MODEL = {"name": "limits/model", "type": "other"}


def submit(store, path, *, model: str = "limits/model", submitter: str = "alice", revision: str = "main"):
    return store.submit(
        path, release="mmlu@1.0.0", model={**MODEL, "name": model, "revision": revision}, submitter=submitter
    )


def only_problem(err: ValidationError):
    assert len(err.problems) == 1, err.problems
    return err.problems[0]


def test_the_defaults_and_where_each_limit_is_set():
    limits = Limits()
    assert (limits.max_file_mb, limits.max_rows, limits.max_problems) == (1024, 10_000_000, 200)
    assert (limits.scoring_timeout, limits.per_day) == (3600, 5)
    assert limits.describe("max_rows") == "ROBUSTBOARD_MAX_ROWS or --max-rows"


def test_limits_come_from_the_environment_and_flags_win():
    env = {
        "ROBUSTBOARD_MAX_ROWS": "1000",
        "ROBUSTBOARD_SUBMISSIONS_PER_DAY": "0",
        "ROBUSTBOARD_MAX_FILE_MB": "2.5",
    }
    limits = Limits.from_env(env, max_rows=10)
    assert (limits.max_rows, limits.per_day, limits.max_file_mb) == (10, 0, 2.5)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ROBUSTBOARD_MAX_ROWS", "many", "ROBUSTBOARD_MAX_ROWS='many' is not a int"),
        ("ROBUSTBOARD_MAX_ROWS", "2.5", "ROBUSTBOARD_MAX_ROWS='2.5' is not a int"),
        ("ROBUSTBOARD_SCORING_TIMEOUT", "-1", "ROBUSTBOARD_SCORING_TIMEOUT='-1' is outside"),
        ("ROBUSTBOARD_MAX_FILE_MB", "nan", "ROBUSTBOARD_MAX_FILE_MB='nan' is outside"),
    ],
)
def test_a_bad_limit_in_the_environment_is_one_clear_error_of_the_command(
    release, monkeypatch, capsys, variable, value, message
):
    monkeypatch.setenv(variable, value)
    predictions = str(CORPUS / "reference.jsonl")
    assert main(["score", "--labels", str(release.labels), "--predictions", predictions]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"robustboard score: error: limits: {message}")


def test_file_size(make_store):
    store = make_store(Limits(max_file_mb=0.001))  # 1 KiB
    with pytest.raises(ValidationError) as caught:
        submit(store, CORPUS / "reference.jsonl")
    problem = only_problem(caught.value)
    assert problem.location == "reference.jsonl"
    assert problem.message.startswith("the file is 0.0 MB; the limit is 0.001 MB per submission")
    assert problem.message.endswith("(set by ROBUSTBOARD_MAX_FILE_MB or --max-file-mb)")
    assert store.requests() == [] and store.backend.list_files("raw") == []


def test_file_size_from_the_environment_applies_to_a_store_opened_by_uri(make_store, tmp_path, monkeypatch):
    make_store(root=tmp_path / "store")
    monkeypatch.setenv("ROBUSTBOARD_MAX_FILE_MB", "0.001")
    store = open_store(str(tmp_path / "store"))
    with pytest.raises(ValidationError, match="the limit is 0.001 MB"):
        submit(store, CORPUS / "reference.jsonl")


@pytest.mark.parametrize(
    ("name", "unit"),
    [
        ("reference.jsonl", "lines"),
        ("formula_cells.csv", "rows"),
        ("reference.parquet", "rows"),
        ("samples_reference.jsonl", "lines"),
    ],
)
def test_row_count(make_store, name, unit):
    store = make_store(Limits(max_rows=50))
    with pytest.raises(ValidationError) as caught:
        submit(store, CORPUS / name)
    problem = only_problem(caught.value)
    assert problem.location == name
    assert problem.message == (
        f"the file has 96 {unit}; the limit is 50 per submission (set by ROBUSTBOARD_MAX_ROWS or --max-rows)"
    )


def test_problems_reported(release, tmp_path, capsys):
    path = write_predictions(
        tmp_path / "unknown.jsonl",
        [{"example_id": f"nope-{i}", "variant_id": "original", "prediction": "A"} for i in range(300)],
    )
    code = main(["score", "--labels", str(release.labels), "--predictions", str(path), "--max-problems", "7"])
    assert code == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "robustboard score: error: 301 problems in predictions unknown.jsonl:"
    assert len([line for line in lines if line.startswith("  line ")]) == 6  # + the 300-of-300 summary
    assert lines[-2] == "  ... and 281 more"
    assert lines[-1] == (
        "  (only the first 7 problems are reported; the limit is set by ROBUSTBOARD_MAX_PROBLEMS or "
        "--max-problems)"
    )


def test_problems_reported_by_a_store(make_store, tmp_path):
    store = make_store(Limits(max_problems=3))
    path = write_predictions(
        tmp_path / "blank.csv", [{"example_id": " ", "variant_id": "original", "prediction": "A"}] * 10
    )
    with pytest.raises(ValidationError) as caught:
        submit(store, path)
    assert len(caught.value.problems) == 3 and caught.value.n_problems == 10
    assert "only the first 3 problems are reported" in str(caught.value)


def test_scoring_time(make_store):
    """A job past its time limit is FAILED with the limit named; no result is written, the raw file kept."""
    store = make_store(Limits(scoring_timeout=0.3))
    request = submit(store, CORPUS / "reference.jsonl")
    (done,) = store.run_pending(n_resamples=200_000)  # seconds of real bootstrap work
    assert done["status"] == "FAILED"
    assert done["reason"] == (
        "scoring took longer than the time limit of 0.3 s per job (ROBUSTBOARD_SCORING_TIMEOUT or "
        "--timeout); the raw file is kept"
    )
    assert store.results() == [] and store.backend.list_files("results") == []
    assert store.backend.list_files("raw") == [f"raw/{request['raw_sha256']}"]


def test_scoring_time_within_the_limit_scores(make_store):
    store = make_store(Limits(scoring_timeout=120))
    submit(store, CORPUS / "reference.jsonl")
    (done,) = store.run_pending(n_resamples=100)
    assert done["status"] == "FINISHED" and len(store.results()) == 1


def test_scoring_time_from_the_worker_command(make_store, tmp_path, capsys):
    store = make_store(root=tmp_path / "store")
    sid = submit(store, CORPUS / "reference.jsonl")["submission_id"]
    code = main(
        ["worker", "--store", str(tmp_path / "store"), "--once", "--timeout", "0.3", "--resamples", "200000"]
    )
    assert code == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{sid} FAILED scoring took longer than the time limit of 0.3 s per job (ROBUSTBOARD_SCORING_TIMEOUT "
        "or --timeout); the raw file is kept",
        "1 submission(s) processed",
    ]


def files_for(tmp_path, reference, n: int) -> list:
    """n distinct valid files (each answers one more row with a different label)."""
    paths = []
    for i in range(n):
        rows = [dict(r) for r in reference]
        rows[i + 4]["prediction"] = "Z"
        paths.append(write_predictions(tmp_path / f"p{i}.jsonl", rows))
    return paths


def test_submissions_per_submitter_per_day(make_store, tmp_path, reference):
    store = make_store(Limits(per_day=5))
    paths = files_for(tmp_path, reference, 6)
    for i, path in enumerate(paths[:5]):
        submit(store, path, model=f"org/model-{i}")
    again = submit(store, paths[0], model="org/model-0")  # the same submission again: not a new one
    assert again["status"] == "PENDING"
    with pytest.raises(ValidationError) as caught:
        submit(store, paths[5], model="org/model-5")
    problem = only_problem(caught.value)
    assert problem.location == "field submitter"
    assert problem.message.startswith(
        "submitter 'alice' already has 5 submissions in the last 24 hours; the limit is 5 per day "
        "(ROBUSTBOARD_SUBMISSIONS_PER_DAY or --per-day); the next one is accepted from "
    )
    assert len(store.requests()) == 5
    submit(store, paths[5], model="org/model-5", submitter="bob")  # someone else may


def test_submissions_per_model_per_day_whoever_submits(make_store, tmp_path, reference):
    store = make_store(Limits(per_day=2))
    paths = files_for(tmp_path, reference, 3)
    submit(store, paths[0], submitter="a")
    submit(store, paths[1], submitter="b", revision="v2")
    with pytest.raises(ValidationError) as caught:
        submit(store, paths[2], submitter="c", revision="v3")
    problem = only_problem(caught.value)
    assert problem.location == "field name"
    assert problem.message.startswith("model 'limits/model' already has 2 submissions in the last 24 hours")


def test_submissions_older_than_a_day_do_not_count(make_store, tmp_path, reference):
    store = make_store(Limits(per_day=1))
    first, second = files_for(tmp_path, reference, 2)
    request = submit(store, first)
    request["submitted_at"] = (datetime.now(UTC) - timedelta(hours=25)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    store.backend.write_files(
        {f"requests/{request['submission_id']}.json": dumps_json(request).encode()}, message=""
    )
    assert submit(store, second, revision="v2")["status"] == "PENDING"


def test_no_quota_when_set_to_zero(make_store, tmp_path, reference):
    store = make_store(Limits(per_day=0))
    for i, path in enumerate(files_for(tmp_path, reference, 7)):
        submit(store, path, model=f"org/m{i}")
    assert len(store.requests()) == 7


def test_concurrent_submissions_cannot_overrun_the_quota(make_store, tmp_path, reference):
    """Eight submissions by one submitter at once, in threads as the app runs them: exactly five land."""
    store = make_store(Limits(per_day=5))
    paths = files_for(tmp_path, reference, 8)
    outcomes: list[str] = []
    barrier = threading.Barrier(len(paths))

    def one(i: int) -> None:
        barrier.wait()
        try:
            submit(store, paths[i], model=f"org/racer-{i}")
            outcomes.append("accepted")
        except ValidationError as err:
            outcomes.append(err.problems[0].location)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(paths))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == ["accepted"] * 5 + ["field submitter"] * 3
    assert len(store.requests()) == 5
    assert all(
        json.loads(store.backend.read_bytes(p))["status"] == "PENDING"
        for p in store.backend.list_files("requests")
    )


def test_the_daily_quota_from_the_submit_command(make_store, tmp_path, reference, capsys):
    make_store(root=tmp_path / "store")
    first, second = files_for(tmp_path, reference, 2)
    common = [
        "--release",
        "mmlu@1.0.0",
        "--store",
        str(tmp_path / "store"),
        "--submitter",
        "carol",
        "--no-wait",
    ]
    assert main(["submit", str(first), "--model", "org/one", *common, "--per-day", "1"]) == 0
    assert main(["submit", str(second), "--model", "org/two", *common, "--per-day", "1"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "robustboard submit: error: 1 problem in submission quota:"
    assert err[1].startswith(
        "  field submitter: submitter 'carol' already has 1 submission in the last 24 hours"
    )
    assert main(["submit", str(second), "--model", "org/two", *common, "--per-day", "0"]) == 0  # 0: no quota


def test_the_row_limit_from_the_score_command(release, capsys):
    predictions = str(CORPUS / "reference.parquet")
    assert (
        main(["score", "--labels", str(release.labels), "--predictions", predictions, "--max-rows", "95"])
        == 2
    )
    assert capsys.readouterr().err.splitlines()[1] == (
        "  reference.parquet: the file has 96 rows; the limit is 95 per submission "
        "(set by ROBUSTBOARD_MAX_ROWS or --max-rows)"
    )
