"""Load through the Gradio API on loopback: 50 submissions at once are each recorded exactly once and
scored; 200 concurrent reads of the leaderboard and correlation endpoints all succeed with the same
answer. Correctness only: latency and memory are measured by `bench/bench_load.py`, never asserted.
Every loop here is bounded in count and in time. The default run uses 10 submissions and 40 reads;
the full sizes run with `-m slow`."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from gradio_client import Client, handle_file

from submissions.limits import Limits
from submissions.store import LocalBackend, Store
from tests.hardening.conftest import serve_app
from tests.hardening.release import write_predictions

FULL = pytest.param(50, 200, marks=pytest.mark.slow, id="50-submissions-200-reads")
SMALL = pytest.param(10, 40, id="10-submissions-40-reads")
ENDPOINTS = ("leaderboard", "correlation")
DEADLINE = 600.0  # seconds for any one phase: far above what it takes, so only a hang trips it


def distinct_files(tmp_path, reference, n: int) -> list:
    """n different prediction files (row i answers Z), each a full submission."""
    paths = []
    for i in range(n):
        rows = [dict(r) for r in reference]
        rows[i]["prediction"] = "Z"
        paths.append(write_predictions(tmp_path / f"load-{i}.jsonl", rows))
    return paths


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.25)


@pytest.mark.parametrize(("n_submissions", "n_reads"), [SMALL, FULL])
def test_submissions_at_once_are_each_recorded_exactly_once_and_scored(
    release, reference, tmp_path, n_submissions, n_reads
):
    store = Store(LocalBackend(tmp_path / "store"), limits=Limits())  # the default quota: 5 per day each
    store.register_release(str(release.public), str(release.labels))
    files = distinct_files(tmp_path, reference, n_submissions)
    with serve_app(store, refresh_seconds=1) as app:  # a fresh board: nothing scored yet
        barrier = threading.Barrier(n_submissions, timeout=DEADLINE)

        def submit(i: int) -> str:
            client = Client(app["url"], verbose=False)
            barrier.wait()
            _, sid, problems, _ = client.predict(
                handle_file(str(files[i])),
                release.ref,
                f"load/model-{i}",
                "main",
                "1",
                "other",
                "https://example.org/model",
                "mit",
                f"submitter-{i}",
                api_name="/submit",
            )
            assert problems["data"] == [], problems
            return sid

        with ThreadPoolExecutor(n_submissions) as pool:
            futures = [pool.submit(submit, i) for i in range(n_submissions)]
            sids = [f.result(timeout=DEADLINE) for f in futures]
        assert len(set(sids)) == n_submissions and all(len(s) == 16 for s in sids)
        assert sorted(r["submission_id"] for r in store.requests()) == sorted(sids)
        assert len(store.backend.list_files("raw")) == n_submissions

        wait_until(
            lambda: all(r["status"] == "FINISHED" for r in store.requests()), "every submission scored"
        )
        results = store.results()
        assert sorted(r["submission_id"] for r in results) == sorted(sids)
        assert all(r["status"] == "FINISHED" and r["attempts"] == 1 for r in store.requests())
        rows = Client(app["url"], verbose=False).predict(api_name="/leaderboard")
        assert sorted(row["model"] for row in rows) == sorted(f"load/model-{i}" for i in range(n_submissions))


def call(http: httpx.Client, url: str, endpoint: str, data: list):
    """One API call as curl makes it: POST the inputs, then read the result from the event stream."""
    base = f"{url}gradio_api/call/{endpoint}"
    event = http.post(base, json={"data": data}).json()["event_id"]
    with http.stream("GET", f"{base}/{event}") as response:
        lines = list(response.iter_lines())
    kinds = [line for line in lines if line.startswith("event:")]
    assert kinds[-1] == "event: complete", lines[-4:]
    return json.loads([line for line in lines if line.startswith("data:")][-1][len("data:") :])


@pytest.fixture(scope="module")
def busy_app(release, reference, tmp_path_factory):
    work = tmp_path_factory.mktemp("reads")
    store = Store(LocalBackend(work / "store"), limits=Limits(per_day=0))
    store.register_release(str(release.public), str(release.labels))
    for i, path in enumerate(distinct_files(work, reference, 8)):
        store.submit(
            path, release=release.ref, model={"name": f"read/model-{i}", "type": "other"}, submitter="reads"
        )
    store.run_pending(n_resamples=100)
    with serve_app(store, worker=False) as app:
        yield app


@pytest.mark.parametrize(("n_submissions", "n_reads"), [SMALL, FULL])
def test_concurrent_reads_all_succeed_with_the_same_answer(busy_app, release, n_submissions, n_reads):
    url = busy_app["url"]
    api = Client(url, verbose=False).view_api(return_format="dict", print_info=False)["named_endpoints"]
    inputs = {name: [p["parameter_default"] for p in api[f"/{name}"]["parameters"]] for name in ENDPOINTS}
    inputs["correlation"][0] = release.ref
    with httpx.Client(timeout=DEADLINE, limits=httpx.Limits(max_connections=n_reads)) as http:
        expected = {name: call(http, url, name, inputs[name]) for name in ENDPOINTS}
        barrier = threading.Barrier(n_reads, timeout=DEADLINE)

        def read(i: int):
            name = ENDPOINTS[i % 2]
            barrier.wait()
            return name, call(http, url, name, inputs[name])

        with ThreadPoolExecutor(n_reads) as pool:
            answers = [f.result(timeout=DEADLINE) for f in [pool.submit(read, i) for i in range(n_reads)]]
    assert len(answers) == n_reads
    for name, answer in answers:
        assert answer == expected[name]
    assert len(expected["leaderboard"][0]) == 8  # eight ranked rows
