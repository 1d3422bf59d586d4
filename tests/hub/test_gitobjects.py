"""The local server's commit, tree and blob ids are git's own: checked against the `git` binary."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from robustboard.hub_server.gitobjects import FileEntry, blob_id, commit_id, lfs_pointer, tree_ids

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git binary")

FILES = {
    "README.md": b"# card\n",
    "a.txt": b"z",
    "a/b/x.txt": b"hello\n",
    "a-b.txt": b"dash sorts before slash",
    "data/train.parquet": b"PAR1\0\0binary",
}


def git(repo, *args: str, env: dict | None = None) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout


def test_blob_tree_and_commit_ids_match_git(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    for path, content in FILES.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes(content)
    git(repo, "add", "-A")
    tree = git(repo, "write-tree").strip()
    stamp = "1700000000 +0000"
    env = {
        "GIT_AUTHOR_NAME": "alice",
        "GIT_AUTHOR_EMAIL": "a@x",
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_NAME": "alice",
        "GIT_COMMITTER_EMAIL": "a@x",
        "GIT_COMMITTER_DATE": stamp,
        "PATH": "/usr/bin:/bin",
    }
    parent = git(repo, "commit-tree", tree, "-m", "first", env=env).strip()
    child = git(repo, "commit-tree", tree, "-p", parent, "-m", "second\n\nbody", env=env).strip()

    entries = {path: FileEntry.regular(content) for path, content in FILES.items()}
    for path, entry in entries.items():
        assert entry.blob == git(repo, "hash-object", path).strip()
    ids = tree_ids(entries)
    assert ids[""] == tree
    assert ids["a"] == git(repo, "rev-parse", f"{tree}:a").strip()
    assert commit_id(tree, [], "alice", "a@x", 1_700_000_000, "first") == parent
    assert commit_id(tree, [parent], "alice", "a@x", 1_700_000_000, "second\n\nbody") == child


def test_an_lfs_file_is_stored_in_the_tree_as_its_pointer(tmp_path):
    sha = "ab" * 32
    entry = FileEntry.lfs(sha, 1234)
    pointer = lfs_pointer(sha, 1234)
    assert pointer == f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize 1234\n".encode()
    assert entry.blob == blob_id(pointer) and entry.pointer_size == len(pointer) and entry.size == 1234
    assert FileEntry.from_json(entry.to_json()) == entry
