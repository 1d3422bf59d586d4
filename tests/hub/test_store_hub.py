"""The results store on a Hub dataset repo (`hf://ORG/NAME`), against the local Hub server."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from huggingface_hub import HfApi, constants

from builder import publish as pub
from submissions.store import StoreError, open_store
from submissions.store_hub import HubBackend, StoreConflictError

FAST = pub.hub.RetryPolicy(attempts=3, base_delay=0.01)
MODEL = {
    "name": "org/model",
    "revision": "main",
    "params_b": 1.0,
    "type": "baseline",
    "link": "https://example.org/model",
    "license": "mit",
}


def alice(server) -> str:
    return server.tokens["alice"]


def titles(server, repo: str) -> list[str]:
    api = HfApi(endpoint=server.url, token=alice(server))
    return [c.title for c in api.list_repo_commits(repo, repo_type="dataset")]


def backend(server, repo: str, **kwargs) -> HubBackend:
    return HubBackend(repo, endpoint=server.url, token=alice(server), policy=FAST, **kwargs)


def test_the_store_runs_on_the_hub_from_published_releases_one_commit_per_step(
    hub_server, repo_id, release_factory, tmp_path, monkeypatch
):
    texts = ["a gorgeous film", "dull and long", "sharp and funny", "a mess"]
    public, labels = release_factory("1.0.0", texts)
    pub.publish(
        public,
        labels,
        repo=repo_id,
        labels_repo=f"{repo_id}-labels",
        endpoint=hub_server.url,
        token=alice(hub_server),
    )
    predictions = tmp_path / "predictions.jsonl"
    lines = [
        {"example_id": f"toy-{i}", "variant_id": variant, "prediction": "positive" if i % 2 else "negative"}
        for i in range(len(texts))
        for variant in ("original", "typos-p0.05-r1")
    ]
    predictions.write_text("".join(json.dumps(line) + "\n" for line in lines))
    # As a user would run it: the endpoint and token come from the environment (HF_ENDPOINT is read
    # when huggingface_hub is imported, into these two constants).
    monkeypatch.setattr(constants, "ENDPOINT", hub_server.url)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub_server.url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setenv("HF_TOKEN", alice(hub_server))
    store_repo = f"{repo_id}-results"

    store = open_store(f"hf://{store_repo}")
    entry = store.register_release(f"hf://{repo_id}@v1.0.0", f"hf://{repo_id}-labels@v1.0.0")
    request = store.submit(predictions, release="toy@1.0.0", model=MODEL, submitter="tester")
    (done,) = store.run_pending(heartbeat_every=60)

    assert done["status"] == "FINISHED"
    tags = HfApi(endpoint=hub_server.url).list_repo_refs(repo_id, repo_type="dataset").tags
    assert entry["commit"] == tags[0].target_commit
    reopened = open_store(f"hf://{store_repo}")  # another process sees the same store
    (result,) = reopened.results()
    assert result["submission_id"] == request["submission_id"] and result["metrics"]["accuracy"] == 1.0
    assert list(reopened.details(request["submission_id"])["original"]) == [1, 1, 1, 1]
    assert (
        HfApi(endpoint=hub_server.url, token=alice(hub_server))
        .repo_info(store_repo, repo_type="dataset")
        .private
    )
    sid = request["submission_id"]
    assert titles(hub_server, store_repo) == [
        f"Result for org/model on toy@1.0.0 ({sid})",
        f"Start scoring submission {sid}",
        f"Submit org/model for toy@1.0.0 ({sid})",
        "Register release toy@1.0.0",
        "initial commit",
    ]
    # The finishing step wrote details, result and the FINISHED request together, in one commit.
    api = HfApi(endpoint=hub_server.url, token=alice(hub_server))
    last, before = (c.commit_id for c in api.list_repo_commits(store_repo, repo_type="dataset")[:2])
    changed = set(api.list_repo_files(store_repo, repo_type="dataset", revision=last)) - set(
        api.list_repo_files(store_repo, repo_type="dataset", revision=before)
    )
    assert changed == {f"details/{sid}.parquet", f"results/{sid}.json"}

    def request_at(revision: str) -> dict:
        path = api.hf_hub_download(
            store_repo,
            f"requests/{sid}.json",
            repo_type="dataset",
            revision=revision,
            cache_dir=tmp_path / "cache",
        )
        return json.loads(Path(path).read_text())

    assert request_at(before)["status"] == "RUNNING" and request_at(last)["status"] == "FINISHED"


def test_each_write_is_one_commit_and_reads_see_it(hub_server, repo_id):
    store = backend(hub_server, repo_id)
    assert store.list_files("requests") == [] and not store.exists("requests/a.json")
    store.write_files({"raw/abc": b"\x00raw bytes", "requests/a.json": b'{"a": 1}'}, message="two files")
    assert store.list_files("requests") == ["requests/a.json"] and store.list_files("raw") == ["raw/abc"]
    assert (
        store.read_bytes("raw/abc") == b"\x00raw bytes" and store.read_bytes("requests/a.json") == b'{"a": 1}'
    )
    with pytest.raises(FileNotFoundError):
        store.read_bytes("requests/missing.json")
    assert titles(hub_server, repo_id) == ["two files", "initial commit"]


def test_a_file_changed_by_another_writer_since_it_was_read_is_not_overwritten(hub_server, repo_id):
    first, second = backend(hub_server, repo_id, max_age=0), backend(hub_server, repo_id, max_age=0)
    first.write_files({"requests/x.json": b"v0"}, message="v0")
    assert first.read_bytes("requests/x.json") == b"v0"  # first decides from this...
    second.write_files({"requests/x.json": b"claimed by second"}, message="second")  # ...which goes stale

    with pytest.raises(StoreConflictError, match="requests/x.json was changed by another writer"):
        first.write_files({"requests/x.json": b"claimed by first"}, message="first")
    assert first.read_bytes("requests/x.json") == b"claimed by second"
    first.write_files({"requests/x.json": b"claimed by first"}, message="first, after reading again")
    assert second.read_bytes("requests/x.json") == b"claimed by first"


def test_changes_by_others_to_other_files_are_built_upon(hub_server, repo_id):
    first, second = backend(hub_server, repo_id, max_age=0), backend(hub_server, repo_id, max_age=0)
    first.write_files({"requests/x.json": b"x"}, message="x")
    first.read_bytes("requests/x.json")
    second.write_files({"requests/y.json": b"y"}, message="y")
    first.write_files({"requests/x.json": b"x2"}, message="x2")
    assert second.list_files("requests") == ["requests/x.json", "requests/y.json"]
    assert second.read_bytes("requests/y.json") == b"y" and second.read_bytes("requests/x.json") == b"x2"


def test_a_commit_that_loses_the_race_for_the_branch_is_redone_on_the_new_head(hub_server, repo_id):
    first, second = backend(hub_server, repo_id, max_age=0), backend(hub_server, repo_id, max_age=0)
    first.write_files({"a.json": b"a"}, message="a")
    hub_server.faults.add("commit", "slow", nth=1, delay=0.8)
    worker = threading.Thread(target=first.write_files, args=({"a.json": b"a2"},), kwargs={"message": "a2"})
    worker.start()
    while not any(r["fault"] == "slow" for r in hub_server.requests("commit")):
        time.sleep(0.02)
    second.write_files({"b.json": b"b"}, message="b")  # lands while first's commit is held back
    worker.join()
    # a, a2 (held back, then refused: b moved the branch), b, a2 again on top of b
    assert [r["status"] for r in hub_server.requests("commit")] == [200, 412, 200, 200]
    assert first.read_bytes("a.json") == b"a2" and first.read_bytes("b.json") == b"b"


def test_a_lost_commit_response_is_recognised_not_reported_as_a_conflict(hub_server, repo_id):
    store = backend(hub_server, repo_id)
    store.write_files({"r.json": b"1"}, message="one")
    store.read_bytes("r.json")
    hub_server.faults.add("commit", "drop", nth=1, when="after")
    store.write_files({"r.json": b"2"}, message="two")
    assert titles(hub_server, repo_id) == ["two", "one", "initial commit"]
    assert store.read_bytes("r.json") == b"2"


def test_transient_failures_are_retried(hub_server, repo_id):
    store = backend(hub_server, repo_id)
    hub_server.faults.add("commit", "error", nth=1, status=503)
    hub_server.faults.add("repo-info", "drop", nth=2)
    store.write_files({"r.json": b"1"}, message="one")
    assert store.read_bytes("r.json") == b"1"
    assert [r["fired"] for r in hub_server.faults.rules()] == [1, 1]


def test_exhausted_retries_end_in_one_store_error(hub_server, repo_id):
    store = backend(hub_server, repo_id)
    hub_server.faults.add("commit", "error", times=-1, status=500)
    with pytest.raises(
        StoreError, match=r"commit 1 file\(s\): one .* gave up after 3 attempts; last error: HTTP 500"
    ):
        store.write_files({"r.json": b"1"}, message="one")
    assert titles(hub_server, repo_id) == ["initial commit"]


def test_unchanged_files_are_read_from_memory(hub_server, repo_id):
    store = backend(hub_server, repo_id, max_age=0)
    store.write_files({f"requests/{i}.json": str(i).encode() for i in range(3)}, message="three")
    for _ in range(2):
        assert [store.read_bytes(p) for p in store.list_files("requests")] == [b"0", b"1", b"2"]
    assert len(hub_server.requests("resolve")) == 3


def test_a_public_repo_is_refused_as_a_store(hub_server, repo_id):
    HfApi(endpoint=hub_server.url, token=alice(hub_server)).create_repo(repo_id, repo_type="dataset")
    with pytest.raises(StoreError, match="is a public repo"):
        backend(hub_server, repo_id)


def test_a_store_that_cannot_be_created_says_why(hub_server, repo_id):
    with pytest.raises(StoreError, match="needs a token with write access"):
        HubBackend(repo_id, endpoint=hub_server.url, token=False, policy=FAST)
    with pytest.raises(StoreError, match="expected hf://ORG/NAME"):
        HubBackend("no-namespace", endpoint=hub_server.url, token=alice(hub_server))


def test_this_processs_own_later_write_of_a_file_is_not_a_conflict(hub_server, repo_id):
    """Threads share a backend: the main thread's reads may predate its heartbeat thread's write of the
    request, and its final write of that request must not be refused because of it."""
    store = backend(hub_server, repo_id, max_age=0)
    store.write_files({"requests/x.json": b"claimed"}, message="claim")
    store.read_bytes("requests/x.json")
    base = store._base  # the main thread's reads, taken before...
    store.write_files({"requests/x.json": b"heartbeat"}, message="heartbeat")  # ...the heartbeat lands
    store._base = base
    store.write_files({"requests/x.json": b"finished"}, message="finish")
    assert store.read_bytes("requests/x.json") == b"finished"
    assert titles(hub_server, repo_id) == ["finish", "heartbeat", "claim", "initial commit"]
