"""The worker and the store's atomicity: a crash between any two steps leaves a consistent store, and
the interrupted job is done again exactly once — nothing lost, nothing counted twice."""

from __future__ import annotations

import json
import time

import pytest

import submissions.worker as worker
from submissions.store import LocalBackend, open_store


class Crash(BaseException):
    """A process dying mid-step (not an Exception: the worker must not catch it as a scoring error)."""


MODEL = {"name": "org/model", "revision": "r1", "type": "pretrained"}


@pytest.fixture
def store(tmp_path, make_release, toy_labels):
    store = open_store(str(tmp_path / "store"))
    public, labels = make_release(toy_labels)
    store.register_release(str(public), str(labels))
    return store


@pytest.fixture
def submission(tmp_path, toy_labels):
    path = tmp_path / "predictions.jsonl"
    path.write_text(
        "".join(
            json.dumps({"example_id": r.example_id, "variant_id": r.variant_id, "prediction": r.gold}) + "\n"
            for r in toy_labels.itertuples()
        )
    )
    return path


def stored(store, folder: str) -> list[str]:
    return store.backend.list_files(folder)


def crash_on_write(monkeypatch, *, when, after_files: int):
    """Make LocalBackend.write_files die after writing `after_files` files of the call `when(files)` picks."""
    real = LocalBackend.write_files

    def write_files(self, files, *, message):
        if when(files):
            items = list(files.items())
            real(self, dict(items[:after_files]), message=message)
            raise Crash(message)
        real(self, files, message=message)

    monkeypatch.setattr(LocalBackend, "write_files", write_files)


def test_crash_after_the_raw_write_leaves_no_request_and_a_resubmission_completes(
    store, submission, monkeypatch
):
    crash_on_write(
        monkeypatch, when=lambda files: any(p.startswith("requests/") for p in files), after_files=1
    )
    with pytest.raises(Crash):
        store.submit(submission, release="toy@1.0.0", model=MODEL, submitter="alice")
    monkeypatch.undo()
    assert len(stored(store, "raw")) == 1 and store.requests() == []  # an orphan raw file, nothing else
    request = store.submit(submission, release="toy@1.0.0", model=MODEL, submitter="alice")
    assert len(stored(store, "raw")) == 1 and [r["submission_id"] for r in store.requests()] == [
        request["submission_id"]
    ]
    assert store.run_pending(n_resamples=0)[0]["status"] == "FINISHED"


def test_crash_while_scoring_leaves_running_and_a_restarted_worker_reruns_it_once(
    store, submission, monkeypatch
):
    sid = store.submit(submission, release="toy@1.0.0", model=MODEL, submitter="alice")["submission_id"]

    def dying(*args, **kwargs):
        raise Crash("killed")

    monkeypatch.setattr(worker, "score_matrix", dying)
    with pytest.raises(Crash):
        worker.run_pending(store, n_resamples=0)
    monkeypatch.undo()
    [request] = store.requests()
    assert request["status"] == "RUNNING" and request["attempts"] == 1 and request["heartbeat_at"]
    assert store.results() == [] and stored(store, "results") == []
    # the heartbeat is fresh: another worker leaves it alone
    assert worker.run_pending(store, stale_after=600, n_resamples=0) == []
    # after the stale period (here 0 s) a restarted worker takes it over
    [rerun] = worker.run_pending(store, stale_after=0, n_resamples=0, worker_id="w2")
    assert rerun["status"] == "FINISHED" and rerun["attempts"] == 2 and rerun["worker"] == "w2"
    assert stored(store, "results") == [f"results/{sid}.json"] and len(store.results()) == 1


def test_crash_between_result_and_finished_status_is_invisible_and_rerun_once(store, submission, monkeypatch):
    sid = store.submit(submission, release="toy@1.0.0", model=MODEL, submitter="alice")["submission_id"]
    crash_on_write(
        monkeypatch, when=lambda files: any(p.startswith("results/") for p in files), after_files=2
    )
    with pytest.raises(Crash):
        worker.run_pending(store, n_resamples=20)
    monkeypatch.undo()
    assert stored(store, "results") == [f"results/{sid}.json"] and stored(store, "details") == [
        f"details/{sid}.parquet"
    ]
    assert store.request(sid)["status"] == "RUNNING"
    assert store.results() == []  # written but not committed: not shown
    first = store.result(sid)
    [rerun] = worker.run_pending(store, stale_after=0, n_resamples=20)
    assert rerun["status"] == "FINISHED"
    assert stored(store, "results") == [f"results/{sid}.json"]
    [result] = store.results()
    assert result["metrics"] == first["metrics"] and result["ci"] == first["ci"]  # the same score, once


def test_a_job_that_keeps_crashing_is_failed_after_max_attempts(store, submission, monkeypatch):
    store.submit(submission, release="toy@1.0.0", model=MODEL, submitter="alice")

    def dying(*args, **kwargs):
        raise Crash("killed")

    monkeypatch.setattr(worker, "score_matrix", dying)
    for _ in range(worker.MAX_ATTEMPTS):
        with pytest.raises(Crash):
            worker.run_pending(store, stale_after=0, n_resamples=0)
    assert worker.run_pending(store, stale_after=0, n_resamples=0) == []  # given up, not run again
    [failed] = store.requests()
    assert failed["status"] == "FAILED" and f"interrupted {worker.MAX_ATTEMPTS} times" in failed["reason"]


def test_the_heartbeat_is_refreshed_while_scoring(store, submission, monkeypatch):
    sid = store.submit(submission, release="toy@1.0.0", model=MODEL, submitter="alice")["submission_id"]
    real = worker.score_matrix
    seen = []

    def slow(*args, **kwargs):
        start = store.request(sid)["heartbeat_at"]
        time.sleep(0.5)
        seen.append((start, store.request(sid)["heartbeat_at"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(worker, "score_matrix", slow)
    [done] = worker.run_pending(store, heartbeat_every=0.05, n_resamples=0)
    assert done["status"] == "FINISHED"
    [(start, later)] = seen
    assert later > start


def test_a_scoring_error_fails_the_request_with_a_reason_and_keeps_the_raw_file(
    store, submission, monkeypatch
):
    sid = store.submit(submission, release="toy@1.0.0", model=MODEL, submitter="alice")["submission_id"]

    def broken(*args, **kwargs):
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(worker, "score_matrix", broken)
    [failed] = worker.run_pending(store, n_resamples=0)
    assert (
        failed["status"] == "FAILED"
        and "internal error while scoring (ZeroDivisionError)" in failed["reason"]
    )
    assert store.request(sid)["status"] == "FAILED" and len(stored(store, "raw")) == 1


def test_only_the_requested_submissions_are_run(store, submission, tmp_path):
    first = store.submit(submission, release="toy@1.0.0", model=MODEL, submitter="alice")["submission_id"]
    second = store.submit(
        submission, release="toy@1.0.0", model={**MODEL, "revision": "r2"}, submitter="alice"
    )
    done = store.run_pending(submission_ids=[second["submission_id"]], n_resamples=0)
    assert [d["submission_id"] for d in done] == [second["submission_id"]]
    assert store.request(first)["status"] == "PENDING"
    assert store.run_pending(limit=1, n_resamples=0)[0]["submission_id"] == first
