"""The results store on a local folder: release registry, submissions, results, idempotence, atomicity."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from robustboard.hashing import sha256_file
from submissions.store import LocalBackend, Store, StoreError, open_store, submission_id
from submissions.validation import ValidationError

# What the `robustboard` console script runs (pyproject: robustboard = "robustboard.cli:main").
ENTRY_POINT = "import sys; from robustboard.cli import main; sys.exit(main(sys.argv[1:]))"
MODEL = {
    "name": "org/model-7b",
    "revision": "abc123",
    "params_b": 7.0,
    "type": "pretrained",
    "link": "https://example.org/model",
    "license": "apache-2.0",
}


@pytest.fixture
def store(tmp_path) -> Store:
    return open_store(str(tmp_path / "store"))


@pytest.fixture
def registered(store, make_release, toy_labels):
    public, labels = make_release(toy_labels)
    store.register_release(str(public), str(labels))
    return store


def files(store: Store) -> set[str]:
    root = store.backend.root
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def write_predictions(path, labels, answer=None):
    rows = [
        {"example_id": r.example_id, "variant_id": r.variant_id, "prediction": answer or r.gold}
        for r in labels.itertuples()
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# -------------------------------------------------------------------------------------------- releases


def test_register_records_the_release_under_name_at_version(store, make_release, toy_labels):
    public, labels = make_release(toy_labels)
    entry = store.register_release(str(public), str(labels))
    assert files(store) == {"releases/toy@1.0.0.json"}
    assert entry["name"] == "toy" and entry["version"] == "1.0.0" and entry["task_type"] == "multiple_choice"
    assert entry["public"] == str(public) and entry["labels"] == str(labels) and entry["commit"] is None
    assert {"variant_id": "choice-order-reversed", "family": "choice_order"} in entry["manifest"]["slots"]
    assert store.releases() == [entry]
    assert store.register_release(str(public), str(labels)) == entry  # again: a no-op


def test_a_version_never_changes(store, make_release, toy_labels):
    public, labels = make_release(toy_labels)
    store.register_release(str(public), str(labels))
    other_public, other_labels = make_release(toy_labels, salt="-rebuilt")
    with pytest.raises(StoreError, match="toy@1.0.0 is already registered as toy@1.0.0"):
        store.register_release(str(other_public), str(other_labels))


def test_a_version_whose_hidden_labels_changed_is_refused_even_when_its_public_files_did_not(
    store, make_release, toy_labels
):
    public, labels = make_release(toy_labels)
    store.register_release(str(public), str(labels))
    regraded = toy_labels.copy()
    regraded.loc[0, "gold"] = next(g for g in regraded["choice_labels"][0] if g != regraded.loc[0, "gold"])
    same_public, new_labels = make_release(regraded)  # public files (no gold) are byte-identical
    assert same_public == public
    with pytest.raises(StoreError, match="toy@1.0.0 is already registered with other hidden labels"):
        store.register_release(str(same_public), str(new_labels))


def test_labels_must_belong_to_the_release_and_match_their_hashes(store, make_release, toy_labels):
    public, _ = make_release(toy_labels)
    _, other_labels = make_release(toy_labels, version="2.0.0")
    with pytest.raises(StoreError, match="are for toy@2.0.0"):
        store.register_release(str(public), str(other_labels))
    public, labels = make_release(toy_labels, name="tampered")
    path = labels / "original" / "test-00000-of-00001.parquet"
    table = pq.read_table(path)
    pq.write_table(table.slice(0, 2), path)
    with pytest.raises(StoreError, match="does not match its manifest hash"):
        store.register_release(str(public), str(labels))
    with pytest.raises(StoreError, match="no manifest.json"):
        store.register_release(str(labels / "original"), str(labels))
    assert store.releases() == []


def test_unknown_release_names_the_registered_ones(registered, tmp_path, toy_labels):
    path = write_predictions(tmp_path / "p.jsonl", toy_labels)
    with pytest.raises(StoreError, match=r"'toy@9.9.9' is not registered .* \(registered: toy@1.0.0\)"):
        registered.submit(path, release="toy@9.9.9", model=MODEL, submitter="alice")


# ----------------------------------------------------------------------------------------- submissions


def test_submit_keeps_the_raw_file_and_queues_a_request(registered, tmp_path, toy_labels):
    path = write_predictions(tmp_path / "p.jsonl", toy_labels)
    request = registered.submit(path, release="toy@1.0.0", model=MODEL, submitter="alice")
    raw_sha = sha256_file(path)
    sid = submission_id(raw_sha, "toy@1.0.0", "org/model-7b", "abc123")
    assert request["submission_id"] == sid and len(sid) == 16
    assert files(registered) == {"releases/toy@1.0.0.json", f"raw/{raw_sha}", f"requests/{sid}.json"}
    assert (registered.backend.root / "raw" / raw_sha).read_bytes() == path.read_bytes()
    assert request["status"] == "PENDING" and request["raw_format"] == "jsonl"
    assert request["submitter"] == "alice" and request["model"]["params_b"] == 7.0
    assert registered.requests() == [request]


def test_submitting_the_same_file_again_is_idempotent(registered, tmp_path, toy_labels):
    path = write_predictions(tmp_path / "p.jsonl", toy_labels)
    first = registered.submit(path, release="toy@1.0.0", model=MODEL, submitter="alice")
    before = files(registered)
    again = registered.submit(path, release="toy@1.0.0", model=MODEL, submitter="alice")
    assert again == first and files(registered) == before
    # another revision of the model is another submission, sharing the raw file
    other = registered.submit(
        path, release="toy@1.0.0", model={**MODEL, "revision": "def456"}, submitter="alice"
    )
    assert other["submission_id"] != first["submission_id"]
    assert len([f for f in files(registered) if f.startswith("raw/")]) == 1
    assert len(registered.requests()) == 2


def test_invalid_submissions_write_nothing(registered, tmp_path, toy_labels):
    before = files(registered)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"example_id": "q1", "variant_id": "original", "prediction": "A"}\n{oops\n')
    with pytest.raises(ValidationError, match="line 2: is not valid JSON"):
        registered.submit(bad, release="toy@1.0.0", model=MODEL, submitter="alice")
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text('{"example_id": "q1", "variant_id": "nope", "prediction": "A"}\n')
    with pytest.raises(ValidationError, match="unknown variant_id 'nope'"):
        registered.submit(unknown, release="toy@1.0.0", model=MODEL, submitter="alice")
    good = write_predictions(tmp_path / "p.jsonl", toy_labels)
    with pytest.raises(ValidationError, match="field link"):
        registered.submit(
            good, release="toy@1.0.0", model={**MODEL, "link": "javascript:x"}, submitter="alice"
        )
    partial = tmp_path / "partial.jsonl"
    partial.write_text("".join(good.read_text().splitlines(keepends=True)[:4]))
    with pytest.raises(ValidationError, match="below the required minimum 0.9"):
        registered.submit(partial, release="toy@1.0.0", model=MODEL, submitter="alice", min_coverage=0.9)
    assert files(registered) == before


def test_run_pending_scores_and_commits_result_and_details(registered, tmp_path, toy_labels):
    path = write_predictions(tmp_path / "p.jsonl", toy_labels)
    sid = registered.submit(path, release="toy@1.0.0", model=MODEL, submitter="alice")["submission_id"]
    [request] = registered.run_pending(n_resamples=50)
    assert request["status"] == "FINISHED" and request["attempts"] == 1 and request["finished_at"]
    assert {f"results/{sid}.json", f"details/{sid}.parquet"} <= files(registered)
    [result] = registered.results()
    assert result["submission_id"] == sid and result["metrics"]["accuracy"] == 1.0
    assert result["model"]["name"] == "org/model-7b" and result["model"]["submitter"] == "alice"
    assert (
        result["release"]["name"] == "toy"
        and result["release"]["content_hash"] == registered.releases()[0]["content_hash"]
    )
    assert result["submission_sha256"] == sha256_file(path) and result["scorer_version"].startswith(
        "robustboard-scorer"
    )
    assert (
        result["ci_method"]["n_resamples"] == 50
        and result["per_family"]["choice_order"]["metrics"]["accuracy"] == 1.0
    )
    details = registered.details(sid)
    assert len(details) == 4 and set(toy_labels["variant_id"]) <= set(details.columns)
    assert registered.run_pending() == []  # nothing left


def test_results_filter_by_release(registered, make_release, tmp_path, toy_labels):
    public, labels = make_release(toy_labels, version="1.1.0")
    registered.register_release(str(public), str(labels))
    path = write_predictions(tmp_path / "p.jsonl", toy_labels)
    for release in ("toy@1.0.0", "toy@1.1.0"):
        registered.submit(path, release=release, model=MODEL, submitter="alice")
    registered.run_pending(n_resamples=0)
    assert [r["release"]["version"] for r in registered.results()] == ["1.0.0", "1.1.0"]
    assert [r["release"]["version"] for r in registered.results(release="toy@1.1.0")] == ["1.1.0"]


def test_a_failed_submission_is_queued_again_when_resubmitted(registered, tmp_path, toy_labels):
    path = write_predictions(tmp_path / "p.jsonl", toy_labels)
    sid = registered.submit(path, release="toy@1.0.0", model=MODEL, submitter="alice")["submission_id"]
    labels_file = sorted(registered.backend.root.parent.glob("toy-1.0.0-labels/*/*.parquet"))[0]
    original = labels_file.read_bytes()
    labels_file.write_bytes(original[:-1] + b"\x00")  # the labels changed behind the store's back
    registered._labels_cache.clear()
    [failed] = registered.run_pending(n_resamples=0)
    assert failed["status"] == "FAILED" and "does not match its manifest hash" in failed["reason"]
    assert registered.results() == []
    labels_file.write_bytes(original)
    again = registered.submit(path, release="toy@1.0.0", model=MODEL, submitter="alice")
    assert again["submission_id"] == sid and again["status"] == "PENDING"
    assert registered.run_pending(n_resamples=0)[0]["status"] == "FINISHED"


def test_store_paths_cannot_escape_the_root(tmp_path):
    backend = LocalBackend(tmp_path / "s")
    with pytest.raises(StoreError, match="escapes the store"):
        backend.read_bytes("../outside")


def test_hub_stores_need_the_hub_backend_module_when_absent(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "submissions.store_hub", None)
    with pytest.raises(StoreError, match="need submissions/store_hub.py"):
        open_store("hf://org/results")


def test_releases_on_the_hub_are_registered_and_scored_by_tag(tmp_path, make_release, toy_labels):
    """Publish with the builder to the project's local Hub server, then register and submit with
    `hf://ORG/NAME@TAG` references, as a user would (the real client, HF_ENDPOINT set before import)."""
    import os
    import subprocess
    import sys

    from builder.publish import publish
    from robustboard.hub_server import running_server

    token = "hf_alice_0123456789"
    public, labels = make_release(toy_labels)
    predictions = tmp_path / "p.jsonl"
    predictions.write_text(
        "".join(
            json.dumps({"example_id": r.example_id, "variant_id": r.variant_id, "prediction": r.gold}) + "\n"
            for r in toy_labels.itertuples()
        )
    )
    store = tmp_path / "store"
    with running_server(tmp_path / "hub", users={"alice": token}, orgs={"org": ("alice",)}) as server:
        tag = publish(
            public, labels, repo="org/toy", labels_repo="org/toy-labels", endpoint=server.url, token=token
        ).tag
        env = {
            **os.environ,
            "HF_ENDPOINT": server.url,
            "HF_TOKEN": token,
            "HF_HOME": str(tmp_path / "hf"),
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        }

        def run(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [sys.executable, "-c", ENTRY_POINT, *args],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )

        done = run(
            "register", f"hf://org/toy@{tag}", "--labels", f"hf://org/toy-labels@{tag}", "--store", str(store)
        )
        assert done.returncode == 0, done.stderr
        done = run(
            "submit",
            str(predictions),
            "--release",
            "toy@1.0.0",
            "--model",
            "org/m",
            "--store",
            str(store),
            "--resamples",
            "10",
        )
        assert done.returncode == 0, done.stderr
        missing = run(
            "register", "hf://org/toy@v9.9.9", "--labels", f"hf://org/toy-labels@{tag}", "--store", str(store)
        )
        assert missing.returncode == 2 and "release hf://org/toy@v9.9.9" in missing.stderr
    entry = open_store(str(store)).release("toy@1.0.0")
    assert (
        entry["public"] == f"hf://org/toy@{tag}"
        and len(entry["commit"]) == 40
        and len(entry["labels_commit"]) == 40
    )
    [result] = open_store(str(store)).results()
    assert result["metrics"]["accuracy"] == 1.0 and result["release"]["commit"] == entry["commit"]
