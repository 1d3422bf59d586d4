"""Faults: a worker killed with SIGKILL in the middle of scoring, the Hub failing during a publish and
during a results upload, two workers racing for one request, a full disk.

Invariants checked after every fault: no partial result is visible (a result shows only once its
request is FINISHED, and the request is written last), each submission is scored exactly once once
the fault is gone, every request parses and its raw file matches its sha256, and no Hub tag points at
a commit that lacks part of its release.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from builder import publish as pub
from robustboard import hub
from robustboard.cli import main
from robustboard.hashing import sha256_bytes
from submissions.limits import Limits
from submissions.store import Store, StoreError
from submissions.store_hub import HubBackend
from submissions.worker import claim_next, score_request
from tests.hardening.conftest import CORPUS
from tests.hardening.test_corpus import ROBUSTBOARD

FAST = hub.RetryPolicy(attempts=3, base_delay=0.05)
# The huggingface_hub client's own LFS upload trips an httpx2 deprecation warning: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
MODEL = {"name": "faults/model", "type": "other"}


def submit(store: Store, file: str = "reference.jsonl", **model) -> dict:
    return store.submit(CORPUS / file, release="mmlu@1.0.0", model={**MODEL, **model}, submitter="faults")


def assert_consistent(store: Store) -> None:
    """Every request parses and keeps its raw file; FINISHED ones have their result and details; no
    result is listed for a request that is not FINISHED."""
    requests = {r["submission_id"]: r for r in store.requests()}
    for sid, request in requests.items():
        raw = store.backend.read_bytes(f"raw/{request['raw_sha256']}")
        assert sha256_bytes(raw) == request["raw_sha256"]
        assert request["status"] in ("PENDING", "RUNNING", "FINISHED", "FAILED")
        if request["status"] == "FINISHED":
            assert store.result(sid)["submission_id"] == sid and len(store.details(sid))
    listed = [r["submission_id"] for r in store.results()]
    assert all(requests[sid]["status"] == "FINISHED" for sid in listed)


def worker(store_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*ROBUSTBOARD, "worker", "--store", str(store_dir), "--once", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


# ------------------------------------------------------------------------------------------ kill -9
def test_a_worker_killed_mid_scoring_leaves_no_result_and_a_restart_scores_it_exactly_once(
    make_store, tmp_path
):
    root = tmp_path / "store"
    store = make_store(root=root)
    sid = submit(store)["submission_id"]
    # 400,000 bootstrap resamples: seconds of real scoring, so the kill lands while it runs
    proc = subprocess.Popen(
        [
            *ROBUSTBOARD,
            "worker",
            "--store",
            str(root),
            "--once",
            "--resamples",
            "400000",
            "--heartbeat",
            "0.3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while True:  # claimed, and a heartbeat written since: scoring is under way
        request = store.request(sid)
        if request["status"] == "RUNNING" and request["heartbeat_at"] != request["started_at"]:
            break
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the worker never started scoring"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    killed = store.request(sid)
    assert killed["status"] == "RUNNING" and killed["attempts"] == 1
    assert store.results() == []
    assert store.backend.list_files("results") == [] and store.backend.list_files("details") == []
    assert_consistent(store)

    restarted = worker(root, "--stale-after", "0", "--resamples", "100")
    assert restarted.returncode == 0, restarted.stderr
    assert restarted.stdout.splitlines() == [f"{sid} FINISHED", "1 submission(s) processed"]
    done = store.request(sid)
    assert done["status"] == "FINISHED" and done["attempts"] == 2
    assert store.backend.list_files("results") == [f"results/{sid}.json"]
    assert [r["submission_id"] for r in store.results()] == [sid]
    assert_consistent(store)

    again = worker(root, "--stale-after", "0")
    assert again.stdout.splitlines() == ["0 submission(s) processed"]
    assert store.request(sid)["attempts"] == 2


# ----------------------------------------------------------------------------------- Hub: results
@pytest.fixture
def hub_store(hub_server, repo_id, release) -> Store:
    backend = HubBackend(
        f"{repo_id}-results", endpoint=hub_server.url, token=hub_server.tokens["alice"], policy=FAST
    )
    store = Store(backend, limits=Limits())
    store.register_release(str(release.public), str(release.labels))
    return store


def hub_files(server, repo: str) -> list[str]:
    return HfApi(endpoint=server.url, token=server.tokens["alice"]).list_repo_files(repo, repo_type="dataset")


def titles(server, repo: str) -> list[str]:
    api = HfApi(endpoint=server.url, token=server.tokens["alice"])
    return [c.title for c in api.list_repo_commits(repo, repo_type="dataset")]


TRANSIENT = {
    "500": ("commit", "error", {"status": 500}),
    "503 twice": ("commit", "error", {"status": 503, "times": 2}),
    "dropped connection": ("commit", "drop", {}),
    "response lost after the commit landed": ("commit", "drop", {"when": "after"}),
    "412 (stale parent)": ("commit", "error", {"status": 412}),
    "timeout": ("commit", "slow", {"delay": 1.5}),
    "500 on the head lookup": ("repo-info", "error", {"status": 500}),
    "dropped paths-info": ("paths-info", "drop", {}),
}
EXHAUSTED = {
    "500": ("commit", "error", {"status": 500, "times": -1}),
    "dropped connection": ("commit", "drop", {"times": -1}),
    "412 (stale parent)": ("commit", "error", {"status": 412, "times": -1}),
    "timeout": ("commit", "slow", {"delay": 1.5, "times": -1}),
}


@pytest.fixture
def short_timeout():
    """A 0.5 s client timeout, so that a stalled server is a timeout (and a retry), not a hang."""
    hub.set_timeout(0.5)
    yield
    hub.set_timeout(None)


@pytest.mark.parametrize("fault", sorted(TRANSIENT))
def test_a_results_upload_survives_a_transient_fault_and_lands_once(
    hub_server, hub_store, repo_id, fault, short_timeout
):
    sid = submit(hub_store)["submission_id"]
    request = claim_next(hub_store, worker_id="w1", stale_after=600)
    route, action, options = TRANSIENT[fault]
    hub_server.faults.add(route, action, nth=1, **options)
    done = score_request(hub_store, request, heartbeat_every=600, n_resamples=50, seed=0)

    assert done["status"] == "FINISHED"
    assert hub_server.faults.rules()[0]["fired"] >= 1
    assert [r["submission_id"] for r in hub_store.results()] == [sid]
    assert sum(t.startswith("Result for faults/model") for t in titles(hub_server, f"{repo_id}-results")) == 1
    assert_consistent(hub_store)


@pytest.mark.parametrize("fault", sorted(EXHAUSTED))
def test_a_results_upload_that_keeps_failing_is_one_clear_error_and_no_result(
    hub_server, hub_store, repo_id, fault, short_timeout
):
    sid = submit(hub_store)["submission_id"]
    request = claim_next(hub_store, worker_id="w1", stale_after=600)
    route, action, options = EXHAUSTED[fault]
    hub_server.faults.add(route, action, nth=1, **options)
    with pytest.raises(StoreError) as caught:
        score_request(hub_store, request, heartbeat_every=600, n_resamples=50, seed=0)
    message = str(caught.value)
    assert message.startswith(f"submission {sid} was scored but its result could not be written (")
    assert message.endswith("it stays RUNNING and is scored again once its heartbeat is stale")
    assert "\n" not in message
    assert "gave up after 3 attempts" in message or "kept moving under 3 commit attempts" in message

    hub_server.faults.clear()
    files = hub_files(hub_server, f"{repo_id}-results")
    assert not [f for f in files if f.startswith(("results/", "details/"))]
    assert hub_store.results() == [] and hub_store.request(sid)["status"] == "RUNNING"
    assert_consistent(hub_store)

    (rerun,) = hub_store.run_pending(stale_after=0, n_resamples=50)  # the Hub is back
    assert rerun["status"] == "FINISHED" and rerun["attempts"] == 2
    assert [r["submission_id"] for r in hub_store.results()] == [sid]
    assert_consistent(hub_store)


# ------------------------------------------------------------------------------------ Hub: publish
@pytest.fixture
def toy_release(release_factory, repo_id, shared_data):
    texts = [json.loads(line)["text"] for line in (shared_data / "rotten_tomatoes" / "test.jsonl").open()][:6]
    return release_factory("1.0.0", texts, repo=repo_id)


def publish(server, repo: str, public: Path, labels: Path):
    return pub.publish(
        public,
        labels,
        repo=repo,
        labels_repo=f"{repo}-labels",
        endpoint=server.url,
        token=server.tokens["alice"],
        policy=FAST,
        report=lambda _: None,
    )


def tags(server, repo: str) -> dict[str, str]:
    refs = HfApi(endpoint=server.url, token=server.tokens["alice"]).list_repo_refs(repo, repo_type="dataset")
    return {t.name: t.target_commit for t in refs.tags}


def assert_tag_holds_the_whole_release(server, repo: str, folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    api = HfApi(endpoint=server.url, token=server.tokens["alice"])
    at_tag = set(api.list_repo_files(repo, repo_type="dataset", revision="v1.0.0"))
    assert set(manifest["files"]) | {"manifest.json"} <= at_tag


PUBLISH_TRANSIENT = {
    **{k: v for k, v in TRANSIENT.items() if v[0] != "paths-info"},  # publish lists trees instead
    "500 on the tree listing": ("tree", "error", {"status": 500}),
    "dropped LFS upload": ("lfs-upload", "drop", {}),
    "500 on the tag": ("tag", "error", {"status": 500}),
    "tag response lost": ("tag", "error", {"status": 502, "when": "after"}),
}


@pytest.mark.parametrize("fault", sorted(PUBLISH_TRANSIENT))
def test_a_publish_survives_a_transient_fault_and_tags_complete_commits(
    hub_server, repo_id, toy_release, fault, short_timeout
):
    public, labels = toy_release
    route, action, options = PUBLISH_TRANSIENT[fault]
    hub_server.faults.add(route, action, nth=1, **options)
    result = publish(hub_server, repo_id, public, labels)
    assert hub_server.faults.rules()[0]["fired"] >= 1
    for state, folder in zip(result.repos, (public, labels), strict=True):
        assert tags(hub_server, state.repo_id) == {"v1.0.0": state.commit}
        assert_tag_holds_the_whole_release(hub_server, state.repo_id, folder)
        assert titles(hub_server, state.repo_id).count("Release toy v1.0.0") == 1


@pytest.mark.parametrize("fault", sorted(EXHAUSTED))
def test_a_publish_that_keeps_failing_says_what_happened_and_tags_nothing(
    hub_server, repo_id, toy_release, fault, short_timeout
):
    public, labels = toy_release
    route, action, options = EXHAUSTED[fault]
    hub_server.faults.add(route, action, nth=1, **options)
    with pytest.raises(pub.PublishError) as caught:
        publish(hub_server, repo_id, public, labels)
    message = str(caught.value)
    assert "\n" not in message and "No tag points at a partial release" in message
    assert "gave up after 3 attempts" in message
    hub_server.faults.clear()
    assert tags(hub_server, repo_id) == {} and tags(hub_server, f"{repo_id}-labels") == {}

    result = publish(hub_server, repo_id, public, labels)  # the Hub is back: the same command finishes
    for state, folder in zip(result.repos, (public, labels), strict=True):
        assert_tag_holds_the_whole_release(hub_server, state.repo_id, folder)


# ------------------------------------------------------------------------------- racing workers
def test_two_workers_racing_for_one_request_on_the_hub_score_it_once(hub_server, hub_store, repo_id):
    """Worker A reads the queue, worker B claims the request first; A's claim is refused as a conflict
    and A moves on to the next request instead of failing (the bug this hardening fixed)."""
    first = submit(hub_store)["submission_id"]
    second = submit(hub_store, "numbers_reference.jsonl", name="faults/other")["submission_id"]
    stale = HubBackend(
        f"{repo_id}-results",
        endpoint=hub_server.url,
        token=hub_server.tokens["alice"],
        policy=FAST,
        max_age=3600,
    )
    a = Store(stale, limits=Limits())
    assert [r["status"] for r in a.requests()] == ["PENDING", "PENDING"]  # A's view, kept for an hour

    b_claim = claim_next(hub_store, worker_id="b", stale_after=600)
    assert b_claim["submission_id"] == first
    a_claim = claim_next(a, worker_id="a", stale_after=600)
    assert a_claim is not None and a_claim["submission_id"] == second
    assert hub_store.request(first)["worker"] == "b" and hub_store.request(second)["worker"] == "a"

    score_request(hub_store, b_claim, heartbeat_every=600, n_resamples=50, seed=0)
    score_request(a, a_claim, heartbeat_every=600, n_resamples=50, seed=0)
    assert claim_next(a, worker_id="a", stale_after=600) is None
    assert sorted(r["submission_id"] for r in hub_store.results()) == sorted([first, second])
    assert all(r["attempts"] == 1 for r in hub_store.requests())


# ------------------------------------------------------------------------------------- full disk
@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs (needs root); skipped with the reason when mounting is not permitted here."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 1 MB tmpfs here: {done.stderr.strip() or done.returncode}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def fill(folder: Path, leave: int) -> Path:
    """Fill the file system of `folder` until `leave` bytes are left."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:  # ENOSPC: the disk is full
        pass
    finally:
        os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def test_a_full_disk_while_writing_results_is_one_clear_error_and_the_store_stays_consistent(
    make_store, small_disk, capsys
):
    root = small_disk / "store"
    store = make_store(root=root)
    sid = submit(store)["submission_id"]
    filler = fill(small_disk, leave=8192)  # room for the claim, not for the result

    assert main(["worker", "--store", str(root), "--once", "--resamples", "50"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(
        f"robustboard worker: error: submission {sid} was scored but its result could not be written "
        "(cannot write "
    )
    assert "No space left on device" in err[0]
    assert store.results() == []
    assert store.request(sid)["status"] in ("PENDING", "RUNNING")  # requeued if that small write fit
    assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]  # no half-written file left
    assert_consistent(store)

    filler.unlink()
    (done,) = store.run_pending(stale_after=0, n_resamples=50)
    assert done["status"] == "FINISHED"
    assert [r["submission_id"] for r in store.results()] == [sid]
    assert_consistent(store)


def test_a_full_disk_refuses_a_submission_and_records_nothing(make_store, small_disk):
    root = small_disk / "store"
    store = make_store(root=root)
    fill(small_disk, leave=0)
    with pytest.raises(
        StoreError, match=r"cannot write raw/[0-9a-f]{64} in the store .*No space left on device"
    ):
        submit(store)
    assert store.requests() == []
    assert not [p for p in root.rglob("*") if p.is_file() and p.parent.name in ("raw", "requests")]
