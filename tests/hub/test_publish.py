"""Publishing, versioning and reading back releases, with the real clients against the local Hub server."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, RepoFile
from huggingface_hub.errors import RepositoryNotFoundError

from builder import publish as pub
from robustboard import hub
from robustboard.cli import UserError, main

FAST = hub.RetryPolicy(attempts=3, base_delay=0.01)
TEXTS_V1 = ["a gorgeous, witty film", "the plot never recovers", "every scene feels alive"]
TEXTS_V2 = [
    "a gorgeous, witty film",
    "the plot never recovers at all",
    "every scene feels alive",
    "a new one",
]


def cli(server, *args: str) -> int:
    return main([*args, "--endpoint", server.url])


def publish_cli(server, public: Path, labels: Path, repo: str, *extra: str) -> int:
    return cli(
        server,
        "publish",
        str(public),
        "--labels",
        str(labels),
        "--repo",
        repo,
        "--labels-repo",
        f"{repo}-labels",
        *extra,
    )


def rows_of(folder: Path, config: str) -> list[dict]:
    frame = pd.read_parquet(folder / config / "test-00000-of-00001.parquet")
    return json.loads(frame.to_json(orient="records"))


def alice(server) -> str:
    return server.tokens["alice"]


def commits(server, repo: str) -> list[str]:
    api = HfApi(endpoint=server.url, token=alice(server))
    return [c.commit_id for c in api.list_repo_commits(repo, repo_type="dataset")]


def tags(server, repo: str) -> dict[str, str]:
    refs = HfApi(endpoint=server.url, token=alice(server)).list_repo_refs(repo, repo_type="dataset")
    return {t.name: t.target_commit for t in refs.tags}


# -- the publish / read-back cycle -----------------------------------------------------------------------
def test_each_version_loads_its_own_rows_by_tag_even_after_a_later_version(
    hub_server, repo_id, release_factory, load_rows, monkeypatch
):
    monkeypatch.setenv("HF_TOKEN", alice(hub_server))
    v1, v1_labels = release_factory("1.0.0", TEXTS_V1, repo=repo_id)
    v2, v2_labels = release_factory("2.0.0", TEXTS_V2, repo=repo_id)

    assert publish_cli(hub_server, v1, v1_labels, repo_id) == 0
    assert load_rows(hub_server, repo_id, ("typos", "v1.0.0")) == [rows_of(v1, "typos")]

    assert publish_cli(hub_server, v2, v2_labels, repo_id) == 0
    loaded = load_rows(hub_server, repo_id, ("original", "v1.0.0"), ("original", "v2.0.0"), ("typos", None))
    assert loaded == [rows_of(v1, "original"), rows_of(v2, "original"), rows_of(v2, "typos")]
    # The requests really reached our server, for this repo, at the tagged commits.
    resolved = {r["path"] for r in hub_server.requests("resolve")}
    assert any(f"/datasets/{repo_id}/resolve/{tags(hub_server, repo_id)['v1.0.0']}/" in p for p in resolved)


def test_publish_creates_a_public_repo_and_a_private_labels_repo_tagged_after_one_commit_each(
    hub_server, repo_id, release_factory, monkeypatch, capsys
):
    monkeypatch.setenv("HF_TOKEN", alice(hub_server))
    public, labels = release_factory("1.2.0", TEXTS_V1)
    assert publish_cli(hub_server, public, labels, repo_id) == 0

    api = HfApi(endpoint=hub_server.url, token=alice(hub_server))
    assert api.repo_info(repo_id, repo_type="dataset").private is False
    assert api.repo_info(f"{repo_id}-labels", repo_type="dataset").private is True
    for repo, folder in ((repo_id, public), (f"{repo_id}-labels", labels)):
        history = api.list_repo_commits(repo, repo_type="dataset")
        assert [c.title for c in history] == ["Release toy v1.2.0", "initial commit"]
        assert tags(hub_server, repo) == {"v1.2.0": history[0].commit_id}
        files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        assert set(api.list_repo_files(repo, repo_type="dataset", revision="v1.2.0")) == files | {
            ".gitattributes"
        }
    # Tags come after every commit of both repos, labels first.
    routes = [r["route"] for r in hub_server.requests() if r["route"] in ("commit", "tag")]
    assert routes == ["commit", "commit", "tag", "tag"]
    tag_paths = [r["path"] for r in hub_server.requests("tag")]
    assert f"{repo_id}-labels/tag/" in tag_paths[0] and f"{repo_id}/tag/" in tag_paths[1]
    assert "published toy v1.2.0" in capsys.readouterr().out


def test_republishing_the_same_release_makes_no_commit_and_no_error(
    hub_server, repo_id, release_factory, monkeypatch, capsys
):
    monkeypatch.setenv("HF_TOKEN", alice(hub_server))
    v1, v1_labels = release_factory("1.0.0", TEXTS_V1)
    v2, v2_labels = release_factory("1.1.0", TEXTS_V2)
    assert publish_cli(hub_server, v1, v1_labels, repo_id) == 0
    assert publish_cli(hub_server, v2, v2_labels, repo_id) == 0
    before = commits(hub_server, repo_id), commits(hub_server, f"{repo_id}-labels"), tags(hub_server, repo_id)
    hub_server.clear_requests()
    capsys.readouterr()

    assert publish_cli(hub_server, v1, v1_labels, repo_id) == 0  # an old version, after a newer one
    assert publish_cli(hub_server, v2, v2_labels, repo_id) == 0

    after = commits(hub_server, repo_id), commits(hub_server, f"{repo_id}-labels"), tags(hub_server, repo_id)
    assert after == before
    assert hub_server.requests("commit") == [] and hub_server.requests("tag") == []
    assert capsys.readouterr().out.count("already published, nothing to do") == 2


def test_a_second_publish_of_a_version_tagged_nowhere_yet_reuses_the_identical_branch_head(
    hub_server, repo_id, release_factory
):
    """The branch already holds the release (e.g. pushed by hand): tag it, do not commit again."""
    public, labels = release_factory("1.0.0", TEXTS_V1)
    api = HfApi(endpoint=hub_server.url, token=alice(hub_server))
    api.create_repo(repo_id, repo_type="dataset")
    api.upload_folder(repo_id=repo_id, folder_path=str(public), repo_type="dataset")
    head = commits(hub_server, repo_id)[0]
    result = pub.publish(
        public, None, repo=repo_id, labels_repo=None, endpoint=hub_server.url, token=alice(hub_server)
    )
    assert result.repos[0].commit == head and not result.repos[0].new_commit and result.repos[0].tagged
    assert tags(hub_server, repo_id) == {"v1.0.0": head}


def test_different_content_under_an_existing_version_is_refused_before_anything_changes(
    hub_server, repo_id, release_factory, monkeypatch, capsys
):
    monkeypatch.setenv("HF_TOKEN", alice(hub_server))
    original, original_labels = release_factory("1.0.0", TEXTS_V1)
    assert publish_cli(hub_server, original, original_labels, repo_id) == 0
    before = commits(hub_server, repo_id), commits(hub_server, f"{repo_id}-labels"), tags(hub_server, repo_id)
    hub_server.clear_requests()
    capsys.readouterr()

    changed, changed_labels = release_factory("1.0.0", TEXTS_V2, name="toy")  # same version, new rows
    assert publish_cli(hub_server, changed, changed_labels, repo_id) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err
    assert f"{repo_id} already has v1.0.0" in err and "different content" in err and "bump `version`" in err
    assert hub_server.requests("commit") == [] and hub_server.requests("lfs-upload") == []
    after = commits(hub_server, repo_id), commits(hub_server, f"{repo_id}-labels"), tags(hub_server, repo_id)
    assert after == before


def test_a_new_version_deletes_configs_it_no_longer_has(hub_server, repo_id, release_factory):
    v1, _ = release_factory("1.0.0", TEXTS_V1)
    pub.publish(v1, None, repo=repo_id, labels_repo=None, endpoint=hub_server.url, token=alice(hub_server))
    v2, _ = release_factory("1.1.0", TEXTS_V1)
    (v2 / "typos" / "test-00000-of-00001.parquet").unlink()
    (v2 / "typos").rmdir()
    manifest = json.loads((v2 / "manifest.json").read_text())
    del manifest["files"]["typos/test-00000-of-00001.parquet"]
    manifest["content_hash"] = pub.files_digest(manifest["files"])
    (v2 / "manifest.json").write_text(json.dumps(manifest))

    pub.publish(v2, None, repo=repo_id, labels_repo=None, endpoint=hub_server.url, token=alice(hub_server))

    api = HfApi(endpoint=hub_server.url, token=alice(hub_server))
    assert "typos/test-00000-of-00001.parquet" not in api.list_repo_files(repo_id, repo_type="dataset")
    assert "typos/test-00000-of-00001.parquet" in api.list_repo_files(
        repo_id, repo_type="dataset", revision="v1.0.0"
    )


# -- hidden labels ---------------------------------------------------------------------------------------
def test_the_labels_repo_is_invisible_without_the_owners_token(
    hub_server, repo_id, release_factory, tmp_path, capsys
):
    public, labels = release_factory("1.0.0", TEXTS_V1)
    pub.publish(
        public,
        labels,
        repo=repo_id,
        labels_repo=f"{repo_id}-labels",
        endpoint=hub_server.url,
        token=alice(hub_server),
    )
    labels_repo = f"{repo_id}-labels"

    for token in (False, hub_server.tokens["bob"]):  # anonymous, and a user outside the organization
        api = HfApi(endpoint=hub_server.url, token=token)
        with pytest.raises(RepositoryNotFoundError):
            api.repo_info(labels_repo, repo_type="dataset")
        with pytest.raises(RepositoryNotFoundError):
            api.hf_hub_download(labels_repo, "manifest.json", repo_type="dataset", cache_dir=tmp_path / "c")
        listed = {d.id for d in api.list_datasets(author=repo_id.split("/")[0])}
        assert repo_id in listed and labels_repo not in listed
    owner = HfApi(endpoint=hub_server.url, token=alice(hub_server))
    assert labels_repo in {d.id for d in owner.list_datasets(author=repo_id.split("/")[0])}

    status = cli(
        hub_server,
        "pull",
        "--repo",
        repo_id,
        "--revision",
        "v1.0.0",
        "--out",
        str(tmp_path / "o"),
        "--labels-repo",
        labels_repo,
        "--labels-out",
        str(tmp_path / "l"),
    )
    assert status == 2 and "labels repo is private" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not (tmp_path / "l").exists()


def test_publishing_labels_into_a_public_repo_is_refused(hub_server, repo_id, release_factory):
    public, labels = release_factory("1.0.0", TEXTS_V1)
    HfApi(endpoint=hub_server.url, token=alice(hub_server)).create_repo(
        f"{repo_id}-labels", repo_type="dataset", private=False
    )
    with pytest.raises(UserError, match="is public; hidden labels must go to a private repo"):
        pub.publish(
            public,
            labels,
            repo=repo_id,
            labels_repo=f"{repo_id}-labels",
            endpoint=hub_server.url,
            token=alice(hub_server),
        )
    assert commits(hub_server, f"{repo_id}-labels") == commits(hub_server, f"{repo_id}-labels")[-1:]


def test_a_user_without_rights_on_the_namespace_gets_one_clear_error(hub_server, repo_id, release_factory):
    public, _ = release_factory("1.0.0", TEXTS_V1)
    with pytest.raises(UserError, match=f"cannot create or read dataset repo {repo_id} with this token"):
        pub.publish(
            public,
            None,
            repo=repo_id,
            labels_repo=None,
            endpoint=hub_server.url,
            token=hub_server.tokens["bob"],
        )


# -- failures on the way ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("route", "action"),
    [
        ("commit", "error"),
        ("tag", "error"),
        ("lfs-upload", "error"),
        ("preupload", "drop"),
        ("repo-info", "drop"),
    ],
)
def test_a_transient_failure_is_retried_and_the_release_still_lands_once(
    hub_server, repo_id, release_factory, route, action
):
    public, labels = release_factory("1.0.0", TEXTS_V1)
    hub_server.faults.add(route, action, nth=1, status=503)
    result = pub.publish(
        public,
        labels,
        repo=repo_id,
        labels_repo=f"{repo_id}-labels",
        endpoint=hub_server.url,
        token=alice(hub_server),
        policy=FAST,
    )
    assert hub_server.faults.rules()[0]["fired"] == 1
    for state in result.repos:
        assert tags(hub_server, state.repo_id) == {"v1.0.0": state.commit}
        assert len(commits(hub_server, state.repo_id)) == 2  # initial commit + exactly one release commit


def test_a_commit_whose_response_is_lost_is_recognised_not_repeated(hub_server, repo_id, release_factory):
    public, _ = release_factory("1.0.0", TEXTS_V1)
    hub_server.faults.add("commit", "drop", nth=1, when="after")  # the server commits, the client never hears
    result = pub.publish(
        public,
        None,
        repo=repo_id,
        labels_repo=None,
        endpoint=hub_server.url,
        token=alice(hub_server),
        policy=FAST,
    )
    assert len(hub_server.requests("commit")) == 1
    history = commits(hub_server, repo_id)
    assert len(history) == 2 and result.repos[0].commit == history[0]
    assert tags(hub_server, repo_id) == {"v1.0.0": history[0]}


def test_a_tag_whose_response_is_lost_is_recognised(hub_server, repo_id, release_factory):
    public, _ = release_factory("1.0.0", TEXTS_V1)
    hub_server.faults.add("tag", "error", nth=1, status=502, when="after")
    result = pub.publish(
        public,
        None,
        repo=repo_id,
        labels_repo=None,
        endpoint=hub_server.url,
        token=alice(hub_server),
        policy=FAST,
    )
    assert [r["status"] for r in hub_server.requests("tag")] == [502, 409]
    assert tags(hub_server, repo_id) == {"v1.0.0": result.repos[0].commit}


def test_exhausted_retries_fail_with_one_line_saying_what_was_published_and_leave_no_tag(
    hub_server, repo_id, release_factory, monkeypatch, capsys
):
    monkeypatch.setenv("HF_TOKEN", alice(hub_server))
    public, labels = release_factory("1.0.0", TEXTS_V1)
    hub_server.faults.add("commit", "error", nth=2, times=-1, status=500)  # public commits, labels never do

    assert publish_cli(hub_server, public, labels, repo_id, "--retries", "2") == 1

    err = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(err) == 1
    assert f"commit the release to {repo_id}-labels: gave up after 2 attempts" in err[0]
    assert "HTTP 500" in err[0]
    assert f"{repo_id} holds the release at" in err[0] and "is NOT tagged v1.0.0" in err[0]
    assert f"{repo_id}-labels: nothing committed" in err[0]
    assert tags(hub_server, repo_id) == {} and tags(hub_server, f"{repo_id}-labels") == {}

    # Re-running once the Hub recovered finishes the job without a second public commit.
    hub_server.faults.clear()
    assert publish_cli(hub_server, public, labels, repo_id) == 0
    assert len(commits(hub_server, repo_id)) == 2 and len(commits(hub_server, f"{repo_id}-labels")) == 2
    assert set(tags(hub_server, repo_id)) == {"v1.0.0"} == set(tags(hub_server, f"{repo_id}-labels"))


def test_a_stalled_request_times_out_and_is_retried(hub_server, repo_id, release_factory):
    public, _ = release_factory("1.0.0", TEXTS_V1)
    hub_server.faults.add("tag", "slow", nth=1, delay=1.5)
    hub.set_timeout(0.5)
    try:
        result = pub.publish(
            public,
            None,
            repo=repo_id,
            labels_repo=None,
            endpoint=hub_server.url,
            token=alice(hub_server),
            policy=hub.RetryPolicy(attempts=4, base_delay=0.5),
        )
    finally:
        hub.set_timeout(None)
    assert len(hub_server.requests("tag")) >= 2
    assert tags(hub_server, repo_id) == {"v1.0.0": result.repos[0].commit}


def test_a_concurrent_commit_is_detected_and_not_overwritten(hub_server, repo_id, release_factory):
    public, _ = release_factory("1.0.0", TEXTS_V1)
    api = HfApi(endpoint=hub_server.url, token=alice(hub_server))
    api.create_repo(repo_id, repo_type="dataset")
    hub_server.faults.add("commit", "slow", nth=1, delay=1.0)  # hold the publisher's commit back
    errors: list[BaseException] = []

    def run() -> None:
        try:
            pub.publish(
                public, None, repo=repo_id, labels_repo=None, endpoint=hub_server.url, token=alice(hub_server)
            )
        except BaseException as err:  # noqa: BLE001 - handed to the main thread
            errors.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    while not any(r["fault"] == "slow" for r in hub_server.requests("commit")):
        time.sleep(0.02)
    api.create_commit(
        repo_id,
        [CommitOperationAdd("NOTES.md", b"someone else's change\n")],
        commit_message="notes",
        repo_type="dataset",
    )
    thread.join()

    assert len(errors) == 1 and isinstance(errors[0], UserError)
    assert "changed while publishing" in str(errors[0]) and "nothing of theirs was overwritten" in str(
        errors[0]
    )
    assert api.list_repo_files(repo_id, repo_type="dataset") == [".gitattributes", "NOTES.md"]
    assert tags(hub_server, repo_id) == {}


def test_a_real_build_publishes_loads_through_its_card_snippet_and_pulls_back_identical(
    hub_server, real_release, run_card_snippet, tmp_path, monkeypatch, capsys
):
    repo, public, labels = real_release
    monkeypatch.setenv("HF_TOKEN", alice(hub_server))
    assert publish_cli(hub_server, public, labels, repo) == 0

    api = HfApi(endpoint=hub_server.url)
    card = Path(api.hf_hub_download(repo, "README.md", repo_type="dataset", revision="v1.0.0")).read_text()
    loaded = run_card_snippet(hub_server, card)
    assert set(loaded) >= {"original", "typos"}
    for config, rows in loaded.items():
        assert rows == rows_of(public, config)

    out, labels_out = tmp_path / "pulled", tmp_path / "pulled-labels"
    assert (
        cli(
            hub_server,
            "pull",
            "--repo",
            repo,
            "--revision",
            "v1.0.0",
            "--out",
            str(out),
            "--labels-repo",
            f"{repo}-labels",
            "--labels-out",
            str(labels_out),
        )
        == 0
    )
    for original, restored in ((public, out), (labels, labels_out)):
        originals = {p.relative_to(original): p.read_bytes() for p in original.rglob("*") if p.is_file()}
        assert {
            p.relative_to(restored): p.read_bytes() for p in restored.rglob("*") if p.is_file()
        } == originals

    capsys.readouterr()
    assert cli(hub_server, "versions", "--repo", repo, "--json") == 0
    manifest = json.loads((public / "manifest.json").read_text())
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["counts"] == manifest["counts"] and listed["content_hash"] == manifest["content_hash"]


# -- versions and pull ------------------------------------------------------------------------------------
def test_versions_lists_tags_with_commit_date_and_counts(hub_server, repo_id, release_factory, capsys):
    v1, _ = release_factory("1.0.0", TEXTS_V1)
    v2, _ = release_factory("1.10.0", TEXTS_V2)
    r1 = pub.publish(
        v1, None, repo=repo_id, labels_repo=None, endpoint=hub_server.url, token=alice(hub_server)
    )
    r2 = pub.publish(
        v2, None, repo=repo_id, labels_repo=None, endpoint=hub_server.url, token=alice(hub_server)
    )
    HfApi(endpoint=hub_server.url, token=alice(hub_server)).create_tag(
        repo_id, tag="v1.2.0", repo_type="dataset", revision=r1.repos[0].commit
    )

    assert cli(hub_server, "versions", "--repo", repo_id, "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [v["tag"] for v in listed] == ["v1.0.0", "v1.2.0", "v1.10.0"]  # by version, not by string
    assert listed[0]["commit"] == r1.repos[0].commit and listed[2]["commit"] == r2.repos[0].commit
    assert listed[0]["counts"] == {"examples": 3, "slots": 2, "rows": 6, "tasks": 1}
    assert listed[2]["counts"]["examples"] == 4 and listed[2]["version"] == "1.10.0"
    assert all(v["date"] for v in listed)

    assert cli(hub_server, "versions", "--repo", repo_id) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["TAG", "COMMIT", "DATE", "EXAMPLES", "SLOTS", "ROWS", "CONTENT"]
    assert table[1].split()[:2] == ["v1.0.0", r1.repos[0].commit[:12]]


def test_versions_of_a_missing_repo_is_one_clear_error(hub_server, repo_id):
    with pytest.raises(UserError, match=f"dataset repo {repo_id} not found"):
        pub.list_versions(repo_id, endpoint=hub_server.url)


def test_pull_restores_public_and_labels_folders_byte_for_byte(
    hub_server, repo_id, release_factory, tmp_path, monkeypatch
):
    monkeypatch.setenv("HF_TOKEN", alice(hub_server))
    v1, v1_labels = release_factory("1.0.0", TEXTS_V1)
    v2, v2_labels = release_factory("1.1.0", TEXTS_V2)
    assert publish_cli(hub_server, v1, v1_labels, repo_id) == 0
    assert publish_cli(hub_server, v2, v2_labels, repo_id) == 0

    out, labels_out = tmp_path / "pulled", tmp_path / "pulled-labels"
    assert (
        cli(
            hub_server,
            "pull",
            "--repo",
            repo_id,
            "--revision",
            "v1.0.0",
            "--out",
            str(out),
            "--labels-repo",
            f"{repo_id}-labels",
            "--labels-out",
            str(labels_out),
        )
        == 0
    )

    for original, restored in ((v1, out), (v1_labels, labels_out)):
        originals = {p.relative_to(original): p.read_bytes() for p in original.rglob("*") if p.is_file()}
        restoreds = {p.relative_to(restored): p.read_bytes() for p in restored.rglob("*") if p.is_file()}
        assert restoreds == originals
    assert pub.read_release(out).version == "1.0.0"


def test_pull_refuses_to_overwrite_and_names_unknown_revisions(
    hub_server, repo_id, release_factory, tmp_path
):
    public, _ = release_factory("1.0.0", TEXTS_V1)
    pub.publish(
        public, None, repo=repo_id, labels_repo=None, endpoint=hub_server.url, token=alice(hub_server)
    )
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="already exists and is not empty"):
        pub.pull(repo_id, "v1.0.0", busy, endpoint=hub_server.url)
    assert (busy / "keep.txt").read_text() == "mine"
    with pytest.raises(UserError, match=f"{repo_id} has no revision 'v9.9.9'"):
        pub.pull(repo_id, "v9.9.9", tmp_path / "new", endpoint=hub_server.url)
    assert not (tmp_path / "new").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left behind

    pub.pull(repo_id, "v1.0.0", busy, endpoint=hub_server.url, force=True)
    assert not (busy / "keep.txt").exists() and pub.read_release(busy).version == "1.0.0"


# -- local checks, before any network (HF_HUB_OFFLINE=1 turns a Hub call into an error) --------------------
def test_a_modified_release_file_is_refused_locally(offline, release_factory):
    public, _ = release_factory("1.0.0", TEXTS_V1)
    (public / "README.md").write_text("edited by hand\n")
    with pytest.raises(UserError, match=r"README\.md: sha256 .* does not match manifest\.json"):
        pub.publish(public, None, repo="o/r", labels_repo=None, endpoint="http://127.0.0.1:9", token="t")


def test_files_missing_from_or_unlisted_in_the_manifest_are_refused_locally(offline, release_factory):
    public, _ = release_factory("1.0.0", TEXTS_V1)
    (public / "stray.csv").write_text("a,b\n")
    with pytest.raises(UserError, match="files not listed in manifest.json: stray.csv"):
        pub.read_release(public)
    (public / "stray.csv").unlink()
    (public / "typos" / "test-00000-of-00001.parquet").unlink()
    with pytest.raises(
        UserError, match="typos/test-00000-of-00001.parquet: listed in manifest.json but missing"
    ):
        pub.read_release(public)


def test_labels_of_another_release_are_refused_locally(offline, release_factory):
    public, _ = release_factory("1.0.0", TEXTS_V1)
    _, other_labels = release_factory("1.0.0", TEXTS_V2, name="other")
    with pytest.raises(UserError, match="these labels belong to another release"):
        pub.publish(
            public,
            other_labels,
            repo="o/r",
            labels_repo="o/r-labels",
            endpoint="http://127.0.0.1:9",
            token="t",
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels_repo": "o/r-labels"}, "--labels and --labels-repo go together"),
        ({"labels_repo": "o/r", "with_labels": True}, "--labels-repo must differ from --repo"),
        ({"labels_repo": None, "token": None}, "publishing needs a Hub token"),
    ],
)
def test_bad_publish_arguments_are_refused_locally(offline, release_factory, kwargs, message):
    public, labels = release_factory("1.0.0", TEXTS_V1)
    labels_dir = labels if kwargs.pop("with_labels", False) else None
    token = kwargs.pop("token", "t")
    with pytest.raises(UserError, match=message):
        pub.publish(public, labels_dir, repo="o/r", endpoint="http://127.0.0.1:9", token=token, **kwargs)


def test_a_folder_without_manifest_is_named_in_the_error(offline, tmp_path):
    with pytest.raises(UserError, match="manifest.json: missing"):
        pub.read_release(tmp_path)


def test_diff_compares_lfs_files_by_sha256_and_regular_files_by_git_blob_id(offline, release_factory):
    from huggingface_hub.utils.sha import git_hash

    public, _ = release_factory("1.0.0", TEXTS_V1)
    local = pub.read_release(public)
    readme = (public / "README.md").read_bytes()
    parquet = "original/test-00000-of-00001.parquet"
    remote = {
        "README.md": RepoFile(path="README.md", size=len(readme), oid=git_hash(readme)),
        parquet: RepoFile(
            path=parquet, size=1, oid="0" * 40, lfs={"oid": local.files[parquet], "size": 1, "pointerSize": 1}
        ),
        "typos/test-00000-of-00001.parquet": RepoFile(
            path="typos/test-00000-of-00001.parquet",
            size=1,
            oid="0" * 40,
            lfs={"oid": "f" * 64, "size": 1, "pointerSize": 1},
        ),
        ".gitattributes": RepoFile(path=".gitattributes", size=1, oid="1" * 40),
        "old/config.parquet": RepoFile(path="old/config.parquet", size=1, oid="2" * 40),
    }
    upload, delete = pub.diff(local, remote)
    assert upload == ["manifest.json", "typos/test-00000-of-00001.parquet"]
    assert delete == ["old/config.parquet"]


def test_a_card_whose_snippets_load_another_repo_is_refused_locally(offline, release_factory):
    public, _ = release_factory("1.0.0", TEXTS_V1, repo="someone/else")
    with pytest.raises(
        UserError, match="its snippets load 'someone/else', not 'o/r'; rebuild .*--repo-id o/r"
    ):
        pub.publish(public, None, repo="o/r", labels_repo=None, endpoint="http://127.0.0.1:9", token="t")


def test_a_manifest_whose_content_hash_does_not_match_its_files_is_refused_locally(offline, release_factory):
    public, labels = release_factory("1.0.0", TEXTS_V1)
    manifest = json.loads((public / "manifest.json").read_text())
    manifest["content_hash"] = "0" * 64
    (public / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="content_hash does not match the files it lists"):
        pub.read_release(public)


def test_labels_that_do_not_hash_to_the_releases_labels_sha256_are_refused_locally(offline, release_factory):
    public, labels = release_factory("1.0.0", TEXTS_V1)
    manifest = json.loads((public / "manifest.json").read_text())
    manifest["labels_sha256"] = "f" * 64
    (public / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="do not hash to the release's labels_sha256"):
        pub.read_labels(labels, pub.LocalRelease(public, manifest, {}))


def test_pulling_labels_of_another_release_is_refused_and_writes_nothing(
    hub_server, repo_id, release_factory, tmp_path
):
    ours, ours_labels = release_factory("1.0.0", TEXTS_V1)
    theirs, theirs_labels = release_factory("1.0.0", TEXTS_V2, name="other")
    token = alice(hub_server)
    pub.publish(
        ours, ours_labels, repo=repo_id, labels_repo=f"{repo_id}-labels", endpoint=hub_server.url, token=token
    )
    pub.publish(
        theirs,
        theirs_labels,
        repo=f"{repo_id}-b",
        labels_repo=f"{repo_id}-b-labels",
        endpoint=hub_server.url,
        token=token,
    )
    out = tmp_path / "out"
    with pytest.raises(UserError, match=f"{repo_id}-b-labels@v1.0.0 holds labels of another release"):
        pub.pull(
            repo_id,
            "v1.0.0",
            out / "public",
            labels_repo=f"{repo_id}-b-labels",
            labels_out=out / "labels",
            endpoint=hub_server.url,
            token=token,
        )
    assert not out.exists() or list(out.iterdir()) == []


def test_with_hf_hub_offline_set_the_commands_say_they_need_the_hub(offline, release_factory, tmp_path):
    public, _ = release_factory("1.0.0", TEXTS_V1)
    with pytest.raises(UserError, match="cannot publish: HF_HUB_OFFLINE is set"):
        pub.publish(public, None, repo="o/r", labels_repo=None, endpoint="http://127.0.0.1:9", token="t")
    with pytest.raises(UserError, match="cannot pull: HF_HUB_OFFLINE is set"):
        pub.pull("o/r", "v1.0.0", tmp_path / "out", endpoint="http://127.0.0.1:9")
    with pytest.raises(UserError, match="cannot list versions: HF_HUB_OFFLINE is set"):
        pub.list_versions("o/r", endpoint="http://127.0.0.1:9")


def test_a_card_the_hub_refuses_fails_with_one_message_and_no_tag(hub_server, repo_id, release_factory):
    public, _ = release_factory("1.0.0", TEXTS_V1)
    card = (public / "README.md").read_text().replace("configs:\n", "configs: [unclosed\n", 1)
    (public / "README.md").write_text(card)
    manifest = json.loads((public / "manifest.json").read_text())
    manifest["files"]["README.md"] = pub.sha256_file(public / "README.md")
    manifest["content_hash"] = pub.files_digest(manifest["files"])
    (public / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(pub.PublishError, match="Invalid metadata in README.md.*nothing committed"):
        pub.publish(
            public, None, repo=repo_id, labels_repo=None, endpoint=hub_server.url, token=alice(hub_server)
        )
    assert tags(hub_server, repo_id) == {}
