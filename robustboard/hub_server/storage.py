"""Persistent repositories for the local Hub server: users, repos, commits, refs, blobs and LFS objects.

Layout under the data directory (everything written atomically; objects are content-addressed and
immutable, so only `refs.json`, `repo.json` and `users.json` are ever rewritten):

    users.json                                   {name: {"token": ..., "orgs": [...]}}
    repos/<type>/<namespace>/<name>/repo.json    visibility, owner, creation date
    repos/<type>/<namespace>/<name>/refs.json    {"branches": {name: oid}, "tags": {name: oid}}
    repos/<type>/<namespace>/<name>/commits/<oid>.json
    repos/<type>/<namespace>/<name>/blobs/<git blob id>     regular files
    repos/<type>/<namespace>/<name>/lfs/<sha256>            LFS objects (per repo: a private repo's
                                                            objects never answer for another repo)
    tmp/                                         uploads in progress

All mutations take one lock: the server is for tests and local development, where correctness under
concurrent clients matters and throughput does not.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from robustboard.atomic import write_bytes, write_json

from .gitobjects import FileEntry, commit_id, tree_ids

REPO_TYPES = ("model", "dataset", "space")
DEFAULT_BRANCH = "main"
_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?$")
_REF_RE = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_SHORT_HEX = re.compile(r"^[0-9a-f]{7,39}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

# What huggingface.co writes as the initial commit of every new repo.
INITIAL_GITATTRIBUTES = b"""*.7z filter=lfs diff=lfs merge=lfs -text
*.arrow filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.bz2 filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.gz filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.lz4 filter=lfs diff=lfs merge=lfs -text
*.npy filter=lfs diff=lfs merge=lfs -text
*.npz filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pickle filter=lfs diff=lfs merge=lfs -text
*.pkl filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.tar filter=lfs diff=lfs merge=lfs -text
*.tar.* filter=lfs diff=lfs merge=lfs -text
*.tflite filter=lfs diff=lfs merge=lfs -text
*.wasm filter=lfs diff=lfs merge=lfs -text
*.xz filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
*.zst filter=lfs diff=lfs merge=lfs -text
"""
# Files above this size always go to LFS, as on huggingface.co.
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024


class HubError(Exception):
    """An error the server answers with `status`, an `X-Error-Code` header (when set) and a message."""

    status = 400
    code: str | None = None

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class BadRequest(HubError):
    status = 400


class Unauthorized(HubError):
    status = 401


class Forbidden(HubError):
    status = 403


class NotFound(HubError):
    status = 404


class RepoNotFound(NotFound):
    code = "RepoNotFound"

    def __init__(self) -> None:
        super().__init__("Repository not found")


class RevisionNotFound(NotFound):
    code = "RevisionNotFound"

    def __init__(self, revision: str) -> None:
        super().__init__(f"Invalid rev id: {revision}")


class EntryNotFound(NotFound):
    code = "EntryNotFound"


class Conflict(HubError):
    status = 409


class PreconditionFailed(HubError):
    status = 412


@dataclass(frozen=True)
class User:
    name: str
    orgs: tuple[str, ...] = ()

    def can_write(self, namespace: str) -> bool:
        return namespace == self.name or namespace in self.orgs


@dataclass(frozen=True)
class Commit:
    oid: str
    tree: str
    parents: tuple[str, ...]
    author: str
    timestamp: float
    title: str
    message: str
    files: dict[str, FileEntry] = field(hash=False, compare=False)

    @property
    def date(self) -> str:
        return iso_date(self.timestamp)

    def to_json(self) -> dict:
        return {
            "oid": self.oid,
            "tree": self.tree,
            "parents": list(self.parents),
            "author": self.author,
            "timestamp": self.timestamp,
            "title": self.title,
            "message": self.message,
            "files": {p: e.to_json() for p, e in sorted(self.files.items())},
        }

    @classmethod
    def from_json(cls, data: dict) -> Commit:
        files = {p: FileEntry.from_json(e) for p, e in data["files"].items()}
        return cls(
            data["oid"],
            data["tree"],
            tuple(data["parents"]),
            data["author"],
            data["timestamp"],
            data["title"],
            data["message"],
            files,
        )


def iso_date(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{int(timestamp * 1000) % 1000:03d}Z"
    )


@dataclass(frozen=True)
class AddFile:
    path: str
    content: bytes


@dataclass(frozen=True)
class AddLfsFile:
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class DeleteFile:
    path: str


@dataclass(frozen=True)
class DeleteFolder:
    path: str


Operation = AddFile | AddLfsFile | DeleteFile | DeleteFolder


def check_path(path: str) -> str:
    """Refuse paths git and the Hub refuse: absolute, empty segments, `.`/`..`, or inside `.git/`."""
    parts = path.split("/")
    if not path or any(p in ("", ".", "..") for p in parts) or parts[0] == ".git":
        raise BadRequest(f"Invalid path in repository: {path!r}")
    return path


def check_ref_name(name: str, kind: str) -> str:
    if not _REF_RE.match(name) or ".." in name or name.endswith((".lock", "/")) or name.startswith("/"):
        raise BadRequest(f"Invalid {kind} name: {name!r}")
    if _HEX40.match(name):
        raise BadRequest(f"Invalid {kind} name: {name!r} looks like a commit id")
    return name


def lfs_patterns(gitattributes: bytes) -> list[str]:
    patterns = []
    for line in gitattributes.decode("utf-8", "replace").splitlines():
        fields = line.split()
        if len(fields) >= 2 and not fields[0].startswith("#") and "filter=lfs" in fields[1:]:
            patterns.append(fields[0])
    return patterns


def matches_any(path: str, patterns: list[str]) -> bool:
    name = path.rsplit("/", 1)[-1]
    for pattern in patterns:
        target = path if "/" in pattern.strip("/") else name
        if fnmatch.fnmatchcase(target, pattern.strip("/")) or fnmatch.fnmatchcase(path, pattern):
            return True
    return False


class Repo:
    """One repository: immutable commits and objects, and the mutable refs that point into them."""

    def __init__(self, storage: HubStorage, repo_type: str, namespace: str, name: str):
        self.storage = storage
        self.type = repo_type
        self.namespace = namespace
        self.name = name
        self.path = storage.root / "repos" / repo_type / namespace / name
        self._commits: dict[str, Commit] = {}
        self._trees: dict[str, dict[str, str]] = {}

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"

    # -- metadata -------------------------------------------------------------------------------
    @property
    def meta(self) -> dict:
        return json.loads((self.path / "repo.json").read_text())

    @property
    def private(self) -> bool:
        return bool(self.meta["private"])

    def set_private(self, private: bool) -> None:
        with self.storage.lock:
            meta = self.meta
            meta["private"] = private
            write_json(self.path / "repo.json", meta)

    def can_read(self, user: User | None) -> bool:
        return not self.private or (user is not None and user.can_write(self.namespace))

    # -- refs -------------------------------------------------------------------------------------
    def refs(self) -> dict[str, dict[str, str]]:
        return json.loads((self.path / "refs.json").read_text())

    def _write_refs(self, refs: dict) -> None:
        write_json(self.path / "refs.json", refs)

    def resolve(self, revision: str) -> str:
        """A branch, tag, `refs/heads/…`, `refs/tags/…`, full or unique short commit id → commit id."""
        refs = self.refs()
        for prefix, kind in (("refs/heads/", "branches"), ("refs/tags/", "tags")):
            if revision.startswith(prefix) and revision[len(prefix) :] in refs[kind]:
                return refs[kind][revision[len(prefix) :]]
        if revision in refs["branches"]:
            return refs["branches"][revision]
        if revision in refs["tags"]:
            return refs["tags"][revision]
        if _HEX40.match(revision) and (self.path / "commits" / f"{revision}.json").exists():
            return revision
        if _SHORT_HEX.match(revision):
            found = [p.stem for p in (self.path / "commits").glob(f"{revision}*.json")]
            if len(found) == 1:
                return found[0]
        raise RevisionNotFound(revision)

    def commit(self, oid: str) -> Commit:
        if oid not in self._commits:
            data = json.loads((self.path / "commits" / f"{oid}.json").read_text())
            self._commits[oid] = Commit.from_json(data)
        return self._commits[oid]

    def history(self, oid: str) -> Iterator[Commit]:
        """First-parent history, newest first (the order `git log --first-parent` prints)."""
        current: str | None = oid
        while current is not None:
            commit = self.commit(current)
            yield commit
            current = commit.parents[0] if commit.parents else None

    def tree_ids(self, commit: Commit) -> dict[str, str]:
        """Folder path → git tree id at `commit` (memoized: commits never change)."""
        if commit.oid not in self._trees:
            self._trees[commit.oid] = tree_ids(commit.files)
        return self._trees[commit.oid]

    # -- content -------------------------------------------------------------------------------
    def file_path(self, entry: FileEntry) -> Path:
        if entry.lfs_sha256 is not None:
            return self.path / "lfs" / entry.lfs_sha256
        return self.path / "blobs" / entry.blob

    def read_bytes(self, entry: FileEntry) -> bytes:
        return self.file_path(entry).read_bytes()

    def lfs_size(self, sha256: str) -> int | None:
        """The size of a stored LFS object, None when this repo has no such object."""
        path = self.path / "lfs" / sha256
        return path.stat().st_size if _SHA256.match(sha256) and path.is_file() else None

    def has_lfs(self, sha256: str, size: int) -> bool:
        return self.lfs_size(sha256) == size

    def store_lfs(self, tmp: Path, sha256: str) -> None:
        target = self.path / "lfs" / sha256
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)

    def used_storage(self) -> int:
        return sum(p.stat().st_size for d in ("blobs", "lfs") for p in (self.path / d).glob("*"))

    def upload_mode(self, branch_commit: Commit | None, path: str, size: int, sample: bytes) -> str:
        """`lfs` for files `.gitattributes` routes to LFS, binary files and large files; else `regular`."""
        patterns: list[str] = []
        if branch_commit is not None and ".gitattributes" in branch_commit.files:
            patterns = lfs_patterns(self.read_bytes(branch_commit.files[".gitattributes"]))
        if size >= LFS_SIZE_THRESHOLD or b"\0" in sample or matches_any(path, patterns):
            return "lfs"
        return "regular"

    # -- writes ------------------------------------------------------------------------------
    def _write_commit(
        self, files: dict[str, FileEntry], parents: list[str], author: str, title: str, message: str
    ) -> Commit:
        timestamp = round(time.time(), 3)
        tree = tree_ids(files)[""]
        text = title + ("\n\n" + message if message else "")
        oid = commit_id(tree, parents, author, f"{author}@users.noreply.localhost", int(timestamp), text)
        commit = Commit(oid, tree, tuple(parents), author, timestamp, title, message, files)
        path = self.path / "commits" / f"{oid}.json"
        if not path.exists():
            write_json(path, commit.to_json())
        self._commits[oid] = commit
        return commit

    def initialize(self, author: str) -> Commit:
        blob = self._store_blob(INITIAL_GITATTRIBUTES)
        commit = self._write_commit({".gitattributes": blob}, [], author, "initial commit", "")
        self._write_refs({"branches": {DEFAULT_BRANCH: commit.oid}, "tags": {}})
        return commit

    def _store_blob(self, content: bytes) -> FileEntry:
        entry = FileEntry.regular(content)
        path = self.path / "blobs" / entry.blob
        if not path.exists():
            write_bytes(path, content)
        return entry

    def apply_commit(
        self,
        branch: str,
        operations: list[Operation],
        *,
        author: str,
        title: str,
        message: str,
        parent_commit: str | None,
    ) -> Commit:
        """Apply the operations on top of `branch` and move it, or change nothing at all.

        `parent_commit` is optimistic locking: if the branch no longer points there, a concurrent
        change happened and the commit is refused with 412 instead of silently building on top of it.
        """
        with self.storage.lock:
            refs = self.refs()
            if branch not in refs["branches"]:
                if branch in refs["tags"] or _HEX40.match(branch):
                    raise BadRequest(f"Cannot commit to {branch!r}: commits go to a branch")
                raise RevisionNotFound(branch)
            head = refs["branches"][branch]
            if parent_commit is not None and not (head == parent_commit):
                raise PreconditionFailed(
                    f"A commit has happened since {parent_commit} on branch {branch!r} (now at {head}). "
                    "Please refresh and try again."
                )
            files = dict(self.commit(head).files)
            for op in operations:
                self._apply(files, op)
            folders = {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
            if clash := sorted(folders & set(files)):
                raise BadRequest(f"Path {clash[0]!r} would be both a file and a folder")
            commit = self._write_commit(files, [head], author, title, message)
            refs["branches"][branch] = commit.oid
            self._write_refs(refs)
            return commit

    def _apply(self, files: dict[str, FileEntry], op: Operation) -> None:
        if isinstance(op, AddFile):
            files[check_path(op.path)] = self._store_blob(op.content)
        elif isinstance(op, AddLfsFile):
            if not self.has_lfs(op.sha256, op.size):
                raise BadRequest(
                    "Your push was rejected because an LFS pointer pointed to a file that does not exist: "
                    f"{op.path} (sha256 {op.sha256}, {op.size} bytes); upload it with the LFS batch API first"
                )
            files[check_path(op.path)] = FileEntry.lfs(op.sha256, op.size)
        elif isinstance(op, DeleteFile):
            if files.pop(op.path, None) is None:
                raise EntryNotFound(f"A file with this name doesn't exist: {op.path}")
        else:
            prefix = op.path.strip("/") + "/"
            doomed = [p for p in files if p.startswith(prefix)] if prefix != "/" else list(files)
            if not doomed:
                raise EntryNotFound(f"A folder with this name doesn't exist: {op.path}")
            for p in doomed:
                del files[p]

    def create_ref(self, kind: str, name: str, oid: str) -> None:
        with self.storage.lock:
            refs = self.refs()
            if name in refs["branches"] or name in refs["tags"]:
                what = "Branch" if name in refs["branches"] else "Tag"
                raise Conflict(f"{what} {name!r} already exists")
            refs[kind][name] = oid
            self._write_refs(refs)

    def delete_ref(self, kind: str, name: str) -> None:
        with self.storage.lock:
            refs = self.refs()
            if name not in refs[kind]:
                raise RevisionNotFound(name)
            if kind == "branches" and name == DEFAULT_BRANCH:
                raise Forbidden(f"Cannot delete the default branch {name!r}")
            del refs[kind][name]
            self._write_refs(refs)


class HubStorage:
    """Users and repositories persisted under `root`."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.lock = threading.RLock()
        (self.root / "repos").mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(exist_ok=True)
        self._repos: dict[tuple[str, str, str], Repo] = {}

    # -- users -----------------------------------------------------------------------------------
    def _users(self) -> dict:
        path = self.root / "users.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def add_user(self, name: str, token: str | None = None, orgs: tuple[str, ...] = ()) -> str:
        """Register (or update) a user; returns the user's token."""
        if not _NAME_RE.match(name):
            raise BadRequest(f"Invalid user name: {name!r}")
        with self.lock:
            users = self._users()
            token = token or users.get(name, {}).get("token") or f"hf_{secrets.token_hex(16)}"
            if any(u["token"] == token and n != name for n, u in users.items()):
                raise Conflict("That token already belongs to another user")
            users[name] = {"token": token, "orgs": sorted(set(orgs))}
            write_json(self.root / "users.json", users)
        return token

    def user_for_token(self, token: str) -> User | None:
        for name, data in self._users().items():
            if secrets.compare_digest(data["token"], token):
                return User(name, tuple(data["orgs"]))
        return None

    def user_names(self) -> list[str]:
        return sorted(self._users())

    # -- repos -----------------------------------------------------------------------------------
    def repo(self, repo_type: str, namespace: str, name: str) -> Repo | None:
        key = (repo_type, namespace, name)
        if key not in self._repos:
            repo = Repo(self, repo_type, namespace, name)
            if not (repo.path / "refs.json").exists():
                return None
            self._repos[key] = repo
        repo = self._repos[key]
        return repo if (repo.path / "refs.json").exists() else None

    def create_repo(self, repo_type: str, namespace: str, name: str, *, private: bool, owner: User) -> Repo:
        if repo_type not in REPO_TYPES:
            raise BadRequest(f"Invalid repo type: {repo_type!r}")
        for part in (namespace, name):
            if not _NAME_RE.match(part) or "--" in part or ".." in part:
                raise BadRequest(
                    f"Invalid repo name {namespace}/{name!r}: use letters, digits, '-', '_' and '.', "
                    "not starting or ending with '-' or '.', at most 96 characters"
                )
        if not owner.can_write(namespace):
            raise Forbidden(
                f"You don't have the rights to create a {repo_type} under the namespace {namespace!r}"
            )
        with self.lock:
            if self.repo(repo_type, namespace, name) is not None:
                raise Conflict(f"You already created this {repo_type} repo: {namespace}/{name}")
            repo = Repo(self, repo_type, namespace, name)
            if repo.path.exists():  # a half-created repo from a crash: start it over
                shutil.rmtree(repo.path)
            repo.path.mkdir(parents=True)
            write_json(
                repo.path / "repo.json",
                {"private": private, "owner": owner.name, "createdAt": iso_date(time.time())},
            )
            repo.initialize(owner.name)
            self._repos[(repo_type, namespace, name)] = repo
            return repo

    def delete_repo(self, repo: Repo) -> None:
        with self.lock:
            (repo.path / "refs.json").unlink()
            self._repos.pop((repo.type, repo.namespace, repo.name), None)
            trash = self.root / "tmp" / f"deleted-{secrets.token_hex(8)}"
            os.replace(repo.path, trash)
            shutil.rmtree(trash, ignore_errors=True)

    def repos(self, repo_type: str) -> list[Repo]:
        base = self.root / "repos" / repo_type
        found = []
        for refs in sorted(base.glob("*/*/refs.json")):
            repo = self.repo(repo_type, refs.parent.parent.name, refs.parent.name)
            if repo is not None:
                found.append(repo)
        return found

    def temp_path(self) -> Path:
        return self.root / "tmp" / f"upload-{secrets.token_hex(12)}"
