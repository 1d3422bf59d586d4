"""The local Hub server, driven by the unmodified `huggingface_hub` client (and raw HTTP where the
point is the wire format: headers, status codes, the LFS transfer)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import httpx
import pandas as pd
import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    HfFileSystem,
    snapshot_download,
)
from huggingface_hub.errors import (
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from robustboard.hub_server import app as server_app
from robustboard.hub_server import running_server
from robustboard.hub_server.faults import FaultRule


@pytest.fixture
def alice(hub_server) -> HfApi:
    return HfApi(endpoint=hub_server.url, token=hub_server.tokens["alice"])


@pytest.fixture
def dataset(alice, repo_id, tmp_path) -> dict:
    """A public dataset repo with a README, a parquet file (LFS) and a nested text file."""
    alice.create_repo(repo_id, repo_type="dataset")
    frame = pd.DataFrame({"text": ["a", "b", "c"], "label": [0, 1, 0]})
    frame.to_parquet(tmp_path / "data.parquet", index=False)
    parquet = (tmp_path / "data.parquet").read_bytes()
    info = alice.create_commit(
        repo_id,
        [
            CommitOperationAdd("README.md", b"---\nlicense: mit\n---\n# demo\n"),
            CommitOperationAdd("data/train.parquet", parquet),
            CommitOperationAdd("docs/deep/notes.txt", b"0123456789" * 10),
        ],
        commit_message="add data",
        repo_type="dataset",
    )
    return {"repo": repo_id, "commit": info.oid, "parquet": parquet}


def test_commits_are_content_addressed_with_parent_links(alice, dataset):
    history = alice.list_repo_commits(dataset["repo"], repo_type="dataset")
    assert [c.title for c in history] == ["add data", "initial commit"]
    assert history[0].commit_id == dataset["commit"] and history[0].authors == ["alice"]
    tree = {f.path: f for f in alice.list_repo_tree(dataset["repo"], repo_type="dataset", recursive=True)}
    assert set(tree) == {
        ".gitattributes",
        "README.md",
        "data",
        "data/train.parquet",
        "docs",
        "docs/deep",
        "docs/deep/notes.txt",
    }
    parquet = tree["data/train.parquet"]
    assert parquet.lfs.sha256 == hashlib.sha256(dataset["parquet"]).hexdigest()
    assert parquet.size == len(dataset["parquet"]) and parquet.lfs.size == len(dataset["parquet"])
    text = tree["docs/deep/notes.txt"]
    assert text.lfs is None and text.blob_id == hashlib.sha1(b"blob 100\0" + b"0123456789" * 10).hexdigest()


def test_parquet_is_uploaded_through_lfs_and_checked_by_sha256_and_size(hub_server, alice, repo_id):
    alice.create_repo(repo_id, repo_type="dataset")
    preupload = httpx.post(
        f"{hub_server.url}/api/datasets/{repo_id}/preupload/main",
        json={
            "files": [
                {"path": "x.parquet", "sample": base64.b64encode(b"PAR1").decode(), "size": 4},
                {"path": "notes.txt", "sample": base64.b64encode(b"hello").decode(), "size": 5},
            ]
        },
        headers={"Authorization": f"Bearer {hub_server.tokens['alice']}"},
    ).json()
    assert [f["uploadMode"] for f in preupload["files"]] == ["lfs", "regular"]

    content = b"the real bytes"
    oid = hashlib.sha256(content).hexdigest()
    batch = httpx.post(
        f"{hub_server.url}/datasets/{repo_id}.git/info/lfs/objects/batch",
        json={"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(content)}]},
        headers={"Authorization": f"Bearer {hub_server.tokens['alice']}"},
    ).json()
    href = batch["objects"][0]["actions"]["upload"]["href"]
    wrong = httpx.put(href, content=b"other  bytes!!")
    assert wrong.status_code == 400 and "sha256 mismatch" in wrong.json()["error"]
    short = httpx.put(href, content=b"short")
    assert short.status_code == 400 and "Size mismatch" in short.json()["error"]
    forged = httpx.put(href.replace("sig=", "sig=0"), content=content)
    assert forged.status_code == 403

    # A commit may only point at LFS objects that were uploaded.
    with pytest.raises(HfHubHTTPError, match="LFS pointer pointed to a file that does not exist"):
        pointer = {"path": "x.bin", "algo": "sha256", "oid": oid, "size": len(content)}
        httpx_commit(hub_server, repo_id, {"key": "lfsFile", "value": pointer})
    assert httpx.put(href, content=content).status_code == 200
    again = httpx.post(
        f"{hub_server.url}/datasets/{repo_id}.git/info/lfs/objects/batch",
        json={"operation": "upload", "objects": [{"oid": oid, "size": len(content)}]},
        headers={"Authorization": f"Bearer {hub_server.tokens['alice']}"},
    ).json()
    assert "actions" not in again["objects"][0]  # already stored: nothing to upload


def httpx_commit(server, repo: str, *operations: dict, parent: str | None = None) -> dict:
    header = {"summary": "raw commit", "description": ""} | ({"parentCommit": parent} if parent else {})
    lines = [{"key": "header", "value": header}, *operations]
    response = httpx.post(
        f"{server.url}/api/datasets/{repo}/commit/main",
        content=b"".join(json.dumps(line).encode() + b"\n" for line in lines),
        headers={"Authorization": f"Bearer {server.tokens['alice']}", "Content-Type": "application/x-ndjson"},
    )
    if response.status_code >= 400:
        raise HfHubHTTPError(response.json()["error"], response=response)
    return response.json()


def test_a_stale_parent_commit_is_refused_with_412_and_the_branch_is_unchanged(alice, dataset):
    repo, first = dataset["repo"], dataset["commit"]
    second = alice.create_commit(
        repo,
        [CommitOperationAdd("b.txt", b"b")],
        commit_message="b",
        repo_type="dataset",
        parent_commit=first,
    )
    with pytest.raises(HfHubHTTPError) as caught:
        alice.create_commit(
            repo,
            [CommitOperationAdd("c.txt", b"c")],
            commit_message="c",
            repo_type="dataset",
            parent_commit=first,
        )
    assert caught.value.response.status_code == 412
    assert alice.repo_info(repo, repo_type="dataset").sha == second.oid
    assert "c.txt" not in alice.list_repo_files(repo, repo_type="dataset")


def test_branches_tags_and_revisions_resolve_like_git(alice, dataset):
    repo, first = dataset["repo"], dataset["commit"]
    alice.create_branch(repo, branch="candidate", repo_type="dataset")
    on_branch = alice.create_commit(
        repo,
        [CommitOperationDelete("docs/")],
        commit_message="drop docs",
        repo_type="dataset",
        revision="candidate",
    )
    alice.create_tag(repo, tag="v1.0.0", revision=first, repo_type="dataset")
    with pytest.raises(HfHubHTTPError) as caught:
        alice.create_tag(repo, tag="v1.0.0", revision=on_branch.oid, repo_type="dataset")
    assert caught.value.response.status_code == 409

    refs = alice.list_repo_refs(repo, repo_type="dataset")
    assert {b.name: b.target_commit for b in refs.branches} == {"main": first, "candidate": on_branch.oid}
    assert [(t.name, t.ref, t.target_commit) for t in refs.tags] == [("v1.0.0", "refs/tags/v1.0.0", first)]
    for revision in ("v1.0.0", "main", first, first[:7], "refs/heads/main"):
        assert alice.repo_info(repo, repo_type="dataset", revision=revision).sha == first
    assert "docs/deep/notes.txt" not in alice.list_repo_files(repo, repo_type="dataset", revision="candidate")
    with pytest.raises(RevisionNotFoundError):
        alice.repo_info(repo, repo_type="dataset", revision="v9")
    with pytest.raises(HfHubHTTPError, match="commits go to a branch"):
        alice.create_commit(
            repo, [CommitOperationAdd("t", b"t")], commit_message="t", repo_type="dataset", revision="v1.0.0"
        )
    alice.delete_tag(repo, tag="v1.0.0", repo_type="dataset")
    assert alice.list_repo_refs(repo, repo_type="dataset").tags == []


def test_resolve_serves_files_with_commit_etag_length_and_ranges(hub_server, dataset):
    repo, commit, parquet = dataset["repo"], dataset["commit"], dataset["parquet"]
    url = f"{hub_server.url}/datasets/{repo}/resolve/main/data/train.parquet"
    head = httpx.head(url)
    assert head.status_code == 200
    assert head.headers["X-Repo-Commit"] == commit
    assert head.headers["ETag"] == f'"{hashlib.sha256(parquet).hexdigest()}"'
    assert int(head.headers["Content-Length"]) == len(parquet)
    assert "x-xet-hash" not in head.headers
    assert httpx.get(url).content == parquet
    partial = httpx.get(url, headers={"Range": "bytes=4-9"})
    assert partial.status_code == 206 and partial.content == parquet[4:10]
    assert partial.headers["Content-Range"] == f"bytes 4-9/{len(parquet)}"
    assert httpx.get(url, headers={"Range": "bytes=-4"}).content == parquet[-4:]
    assert httpx.get(url, headers={"Range": f"bytes={len(parquet)}-"}).status_code == 416
    missing = httpx.get(f"{hub_server.url}/datasets/{repo}/resolve/main/nope.txt")
    assert missing.status_code == 404 and missing.headers["X-Error-Code"] == "EntryNotFound"


def test_the_client_maps_our_errors_to_its_exceptions(hub_server, alice, dataset, tmp_path):
    repo = dataset["repo"]
    with pytest.raises(RemoteEntryNotFoundError):
        alice.hf_hub_download(repo, "nope.txt", repo_type="dataset", cache_dir=tmp_path)
    with pytest.raises(RevisionNotFoundError):
        alice.hf_hub_download(repo, "README.md", repo_type="dataset", revision="nope", cache_dir=tmp_path)
    with pytest.raises(RepositoryNotFoundError):
        alice.repo_info(f"{repo}-missing", repo_type="dataset")
    raw = httpx.get(f"{hub_server.url}/api/datasets/{repo}-missing")
    assert raw.status_code == 404 and raw.headers["X-Error-Code"] == "RepoNotFound"
    bad_token = httpx.get(
        f"{hub_server.url}/api/datasets/{repo}", headers={"Authorization": "Bearer hf_nope"}
    )
    assert bad_token.status_code == 401
    with pytest.raises(ValueError, match="Invalid metadata in README.md"):
        bad_card = b"---\nconfigs: [oops\n---\n"
        alice.upload_file(
            path_or_fileobj=bad_card, path_in_repo="README.md", repo_id=repo, repo_type="dataset"
        )


def test_private_repos_are_invisible_to_anyone_but_their_namespace(hub_server, alice, repo_id, tmp_path):
    alice.create_repo(repo_id, repo_type="dataset", private=True)
    alice.upload_file(
        path_or_fileobj=b"secret", path_in_repo="gold.txt", repo_id=repo_id, repo_type="dataset"
    )
    url = f"{hub_server.url}/datasets/{repo_id}/resolve/main/gold.txt"
    for headers in ({}, {"Authorization": f"Bearer {hub_server.tokens['bob']}"}):
        api_url = f"{hub_server.url}/api/datasets/{repo_id}"
        for probe in (api_url, f"{api_url}/refs", f"{api_url}/tree/main", url):
            response = httpx.get(probe, headers=headers)
            assert response.status_code == 404 and response.headers["X-Error-Code"] == "RepoNotFound"
            assert b"secret" not in response.content
    bob = HfApi(endpoint=hub_server.url, token=hub_server.tokens["bob"])
    with pytest.raises(RepositoryNotFoundError):
        bob.hf_hub_download(repo_id, "gold.txt", repo_type="dataset", cache_dir=tmp_path)
    with pytest.raises(RepositoryNotFoundError):  # writing is no way in either
        bob.upload_file(path_or_fileobj=b"x", path_in_repo="x", repo_id=repo_id, repo_type="dataset")
    assert repo_id not in {d.id for d in bob.list_datasets()}
    assert (
        httpx.get(url, headers={"Authorization": f"Bearer {hub_server.tokens['alice']}"}).content == b"secret"
    )

    alice.update_repo_settings(repo_id, private=False, repo_type="dataset")
    assert bob.repo_info(repo_id, repo_type="dataset").private is False


def test_writes_need_rights_on_the_namespace(hub_server, alice, dataset):
    bob = HfApi(endpoint=hub_server.url, token=hub_server.tokens["bob"])
    with pytest.raises(HfHubHTTPError) as caught:
        bob.upload_file(path_or_fileobj=b"x", path_in_repo="x", repo_id=dataset["repo"], repo_type="dataset")
    assert caught.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as caught:
        bob.create_repo(f"{dataset['repo']}-2", repo_type="dataset")
    assert caught.value.response.status_code == 403
    anonymous = HfApi(endpoint=hub_server.url, token=False)
    with pytest.raises(HfHubHTTPError) as caught:
        anonymous.create_tag(dataset["repo"], tag="v0", repo_type="dataset")
    assert caught.value.response.status_code == 401
    bob.create_repo("bob/own", repo_type="dataset", exist_ok=True)  # one's own namespace is fine
    assert bob.whoami()["name"] == "bob"


def test_hffilesystem_and_snapshot_download_read_the_tree(hub_server, alice, dataset, tmp_path):
    repo = dataset["repo"]
    fs = HfFileSystem(endpoint=hub_server.url, token=hub_server.tokens["alice"])
    assert sorted(fs.glob(f"datasets/{repo}/**/*.parquet")) == [f"datasets/{repo}/data/train.parquet"]
    assert fs.info(f"datasets/{repo}/data/train.parquet")["size"] == len(dataset["parquet"])
    assert fs.isdir(f"datasets/{repo}/docs/deep")
    with fs.open(f"datasets/{repo}/docs/deep/notes.txt", "rb") as fh:
        fh.seek(15)
        assert fh.read(5) == b"56789"
    folder = snapshot_download(
        repo, repo_type="dataset", endpoint=hub_server.url, local_dir=tmp_path / "snap"
    )
    assert (Path(folder) / "data" / "train.parquet").read_bytes() == dataset["parquet"]


def test_listings_are_paginated_with_link_headers(alice, dataset, monkeypatch):
    monkeypatch.setattr(server_app, "TREE_PAGE_SIZE", 2)
    monkeypatch.setattr(server_app, "COMMITS_PAGE_SIZE", 1)
    files = alice.list_repo_files(dataset["repo"], repo_type="dataset")
    assert files == [".gitattributes", "README.md", "data/train.parquet", "docs/deep/notes.txt"]
    assert len(alice.list_repo_commits(dataset["repo"], repo_type="dataset")) == 2


def test_paths_info_reports_files_and_folders_and_skips_missing_paths(alice, dataset):
    infos = alice.get_paths_info(
        dataset["repo"], ["data", "data/train.parquet", "nope"], repo_type="dataset", expand=True
    )
    assert [(type(i).__name__, i.path) for i in infos] == [
        ("RepoFolder", "data"),
        ("RepoFile", "data/train.parquet"),
    ]
    assert infos[1].last_commit.oid == dataset["commit"] and infos[1].last_commit.title == "add data"


def test_datasets_push_to_hub_keeps_each_config_in_the_card(hub_server, repo_id):
    # `datasets` reads the endpoint from its config: pass it explicitly, as the user's HF_ENDPOINT would.
    import datasets

    old = datasets.config.HF_ENDPOINT
    datasets.config.HF_ENDPOINT = hub_server.url
    try:
        for config, values in (("original", [1, 2]), ("typos", [3])):
            datasets.DatasetDict({"test": datasets.Dataset.from_dict({"x": values})}).push_to_hub(
                repo_id, config_name=config, data_dir=config, token=hub_server.tokens["alice"]
            )
    finally:
        datasets.config.HF_ENDPOINT = old
    api = HfApi(endpoint=hub_server.url)
    card = api.dataset_info(repo_id).card_data
    assert [c["config_name"] for c in card["configs"]] == ["original", "typos"]
    files = [
        ".gitattributes",
        "README.md",
        "original/test-00000-of-00001.parquet",
        "typos/test-00000-of-00001.parquet",
    ]
    assert sorted(api.list_repo_files(repo_id, repo_type="dataset")) == files


def test_data_persists_across_restarts(tmp_path):
    with running_server(tmp_path, users={"carol": "hf_carol"}) as first:
        api = HfApi(endpoint=first.url, token="hf_carol")
        api.create_repo("carol/kept", repo_type="dataset", private=True)
        commit = api.upload_file(
            path_or_fileobj=b"kept", path_in_repo="k.txt", repo_id="carol/kept", repo_type="dataset"
        ).oid
        api.create_tag("carol/kept", tag="v1", repo_type="dataset")
    with running_server(tmp_path) as second:
        api = HfApi(endpoint=second.url, token="hf_carol")
        assert api.repo_info("carol/kept", repo_type="dataset", revision="v1").sha == commit
        assert api.repo_info("carol/kept", repo_type="dataset").private is True
        path = api.hf_hub_download("carol/kept", "k.txt", repo_type="dataset", cache_dir=tmp_path / "c")
        assert Path(path).read_bytes() == b"kept"


# -- fault injection -------------------------------------------------------------------------------------
def test_a_fault_hits_exactly_the_nth_request_of_its_route(hub_server, alice, dataset):
    hub_server.faults.add("refs", "error", nth=2, status=503)
    alice.list_repo_refs(dataset["repo"], repo_type="dataset")
    with pytest.raises(HfHubHTTPError) as caught:
        alice.list_repo_refs(dataset["repo"], repo_type="dataset")
    assert caught.value.response.status_code == 503
    alice.list_repo_refs(dataset["repo"], repo_type="dataset")
    assert [r["status"] for r in hub_server.requests("refs")] == [200, 503, 200]


def test_a_dropped_connection_reaches_the_client_as_a_network_error(hub_server, alice, dataset):
    import httpx2

    hub_server.faults.add("refs", "drop")
    with pytest.raises(httpx2.RemoteProtocolError):
        alice.list_repo_refs(dataset["repo"], repo_type="dataset")
    assert alice.list_repo_refs(dataset["repo"], repo_type="dataset").branches  # the next one is fine


def test_a_slow_response_is_delayed_then_answered(hub_server, alice, dataset):
    import time

    hub_server.faults.add("refs", "slow", delay=0.4)
    start = time.perf_counter()
    assert alice.list_repo_refs(dataset["repo"], repo_type="dataset").branches
    assert time.perf_counter() - start >= 0.4


def test_faults_and_the_request_log_are_available_over_http_to_the_admin_only(hub_server, dataset):
    admin = {"X-Admin-Token": "admin-secret"}
    assert httpx.post(f"{hub_server.url}/_admin/faults", json={"route": "refs"}).status_code == 404
    rules = httpx.post(
        f"{hub_server.url}/_admin/faults", json={"route": "refs", "status": 502}, headers=admin
    )
    assert rules.json()[0]["route"] == "refs"
    assert httpx.get(f"{hub_server.url}/api/datasets/{dataset['repo']}/refs").status_code == 502
    log = httpx.get(f"{hub_server.url}/_admin/requests", headers=admin).json()
    assert log[-2]["route"] == "refs" and log[-2]["fault"] == "error"
    bad = httpx.post(f"{hub_server.url}/_admin/faults", json={"route": "nowhere"}, headers=admin)
    assert bad.status_code == 400 and "unknown route" in bad.json()["error"]
    assert httpx.delete(f"{hub_server.url}/_admin/faults", headers=admin).status_code == 200
    assert hub_server.faults.rules() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"route": "nope"}, "unknown route"),
        ({"route": "commit", "action": "explode"}, "unknown action"),
        ({"route": "commit", "nth": 0}, "nth must be >= 1"),
        ({"route": "commit", "when": "later"}, "when must be"),
    ],
)
def test_malformed_fault_rules_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FaultRule(**kwargs)
