"""A results store in a Hub dataset repo (`--store hf://ORG/NAME`): the `Backend` of `submissions.store`.

Each `write_files` call is one commit. Writes are optimistic: the backend remembers the commit its
reads since the last write were based on, and before committing checks that none of the files it is
about to write changed since then (someone else's claim of the same request, say). If one did, it
raises `StoreConflictError` and writes nothing, instead of silently overwriting the other writer;
commits by others to other files are simply built upon. The commit itself carries `parent_commit`,
so a commit that lands in between is detected (HTTP 412) and the check is redone on the new head.

Reads come from one snapshot of the branch (its commit and file list) that is reused for `max_age`
seconds, and file contents are cached in memory by their git blob id, so listing and reading a
folder of unchanged requests costs one request, not one per file. A slightly stale snapshot is safe:
the conflict check compares against the commit the reads actually saw.

The repo must be private: a store keeps raw submissions and per-example details, which are never
served publicly.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from huggingface_hub import CommitOperationAdd, RepoFile, hf_hub_url
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status
from huggingface_hub.utils.sha import git_hash

from robustboard import hub
from submissions.store import HF_SCHEME, ConflictError, StoreError

REPO_TYPE = "dataset"
BRANCH = "main"
_CONTENT_CACHE_BYTES = 64 * 1024 * 1024


class StoreConflictError(ConflictError):
    """A file this process read changed on the Hub before it could write it back; nothing was written."""


@dataclass(frozen=True)
class _Entry:
    blob: str
    size: int
    lfs_sha256: str | None

    @property
    def content_id(self) -> str:
        """The id that changes exactly when the content does: sha256 for LFS files, else the blob id."""
        return self.lfs_sha256 or self.blob

    def matches(self, data: bytes) -> bool:
        if self.lfs_sha256 is not None:
            return hashlib.sha256(data).hexdigest() == self.lfs_sha256
        return git_hash(data) == self.blob


@dataclass(frozen=True)
class _Snapshot:
    commit: str
    files: dict[str, _Entry]
    taken: float


class HubBackend:
    """Store files in the Hub dataset repo `repo_id` (created private when missing)."""

    def __init__(
        self,
        repo_id: str,
        *,
        endpoint: str | None = None,
        token: str | None = None,
        max_age: float = 1.0,
        policy: hub.RetryPolicy = hub.DEFAULT_POLICY,
    ) -> None:
        if repo_id.count("/") != 1 or not all(repo_id.split("/")):
            raise StoreError(f"{HF_SCHEME}{repo_id}: expected {HF_SCHEME}ORG/NAME")
        self.repo_id = repo_id
        self.uri = f"{HF_SCHEME}{repo_id}"
        self.max_age = max_age
        self.policy = policy
        self._api = hub.api(endpoint, token)
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._base: str | None = None  # the commit the reads since the last write were based on
        self._written: dict[str, set[str]] = {}  # path -> content ids of this process's last write of it
        self._contents: dict[str, bytes] = {}  # file contents by content id (LRU-ish, bounded)
        self._cached_bytes = 0
        self._open()

    # -- setup ----------------------------------------------------------------------------------------
    def _retry(self, fn, what: str):
        try:
            return hub.with_retries(fn, what=f"{what} ({self.uri})", policy=self.policy)
        except hub.HubUnavailableError as err:
            raise StoreError(str(err)) from err

    def _open(self) -> None:
        def info():
            return self._api.repo_info(self.repo_id, repo_type=REPO_TYPE)

        try:
            found = self._retry(info, "open the store")
        except RepositoryNotFoundError:
            try:
                self._retry(
                    lambda: self._api.create_repo(
                        self.repo_id, repo_type=REPO_TYPE, private=True, exist_ok=True
                    ),
                    "create the store",
                )
                found = self._retry(info, "open the store")
            except HfHubHTTPError as err:
                raise StoreError(
                    f"{self.uri}: cannot open or create this dataset repo ({hub.describe_error(err)}); "
                    "a Hub store needs a token with write access (HF_TOKEN or `hf auth login`)"
                ) from None
        if not found.private:
            raise StoreError(
                f"{self.uri} is a public repo, but a results store keeps raw submissions and per-example "
                "details that must stay private: make the repo private or use another one"
            )

    # -- reads ----------------------------------------------------------------------------------------
    def _fetch_snapshot(self) -> _Snapshot:
        info = self._retry(
            lambda: self._api.repo_info(
                self.repo_id, repo_type=REPO_TYPE, revision=BRANCH, files_metadata=True
            ),
            "read the store",
        )
        files = {
            s.rfilename: _Entry(s.blob_id, s.size, s.lfs.sha256 if s.lfs else None)
            for s in info.siblings or []
            if s.rfilename != ".gitattributes"
        }
        return _Snapshot(info.sha, files, time.monotonic())

    def _read_snapshot(self) -> _Snapshot:
        """The current snapshot (refreshed when older than max_age), recorded as a write's base."""
        with self._lock:
            snap = self._snapshot
        if snap is None or time.monotonic() - snap.taken > self.max_age:
            snap = self._fetch_snapshot()
        with self._lock:
            self._snapshot = snap
            if self._base is None:
                self._base = snap.commit
            return snap

    def list_files(self, folder: str) -> list[str]:
        prefix = folder.strip("/") + "/"
        files = self._read_snapshot().files
        return sorted(p for p in files if p.startswith(prefix) and "/" not in p[len(prefix) :])

    def exists(self, path: str) -> bool:
        return path in self._read_snapshot().files

    def read_bytes(self, path: str) -> bytes:
        snap = self._read_snapshot()
        entry = snap.files.get(path)
        if entry is None:
            raise FileNotFoundError(f"{self.uri}: no file {path}")
        cached = self._contents.get(entry.content_id)
        if cached is not None:
            return cached
        url = hf_hub_url(
            self.repo_id, path, repo_type=REPO_TYPE, revision=snap.commit, endpoint=self._api.endpoint
        )
        headers = build_hf_headers(token=self._api.token, library_name="robustboard")

        def download() -> bytes:
            response = get_session().get(url, headers=headers)
            hf_raise_for_status(response)
            return response.content

        data = self._retry(download, f"read {path}")
        if not entry.matches(data):
            raise StoreError(
                f"{self.uri}: {path} at {snap.commit[:7]} does not match its git id (corrupt transfer?)"
            )
        self._remember(entry.content_id, data)
        return data

    def _remember(self, key: str, data: bytes) -> None:
        """Keep `data` in the bounded content cache, evicting the oldest entries first."""
        if len(data) > _CONTENT_CACHE_BYTES:
            return
        with self._lock:
            while self._contents and self._cached_bytes + len(data) > _CONTENT_CACHE_BYTES:
                self._cached_bytes -= len(self._contents.pop(next(iter(self._contents))))
            if key not in self._contents:
                self._contents[key] = data
                self._cached_bytes += len(data)

    # -- writes ---------------------------------------------------------------------------------------
    def _entries_at(self, commit: str, paths: list[str]) -> dict[str, _Entry]:
        infos = self._api.get_paths_info(self.repo_id, paths, revision=commit, repo_type=REPO_TYPE)
        return {
            i.path: _Entry(i.blob_id, i.size, i.lfs.sha256 if i.lfs else None)
            for i in infos
            if isinstance(i, RepoFile)
        }

    def write_files(self, files: Mapping[str, bytes], *, message: str) -> None:
        """Commit `files` as one commit on top of the branch, refusing to overwrite a concurrent change."""
        with self._lock:
            base, self._base = self._base, None
        paths = list(files)

        def attempt() -> None:
            for tries in range(1, self.policy.attempts + 1):
                head = self._api.repo_info(self.repo_id, repo_type=REPO_TYPE, revision=BRANCH).sha
                at_head = self._entries_at(head, paths)
                if all(p in at_head and at_head[p].matches(files[p]) for p in paths):
                    return  # already there: an earlier attempt landed but its answer was lost
                if base is not None and base != head:
                    at_base = self._entries_at(base, paths)
                    changed = [
                        p
                        for p in paths
                        if at_base.get(p) != at_head.get(p) and not self._wrote_last(p, at_head.get(p))
                    ]
                    if changed:
                        raise StoreConflictError(
                            f"{self.uri}: {changed[0]} was changed by another writer since this process "
                            f"read the store ({base[:7]} → {head[:7]}); nothing was written: read it again"
                        )
                operations = [CommitOperationAdd(p, data) for p, data in files.items()]
                try:
                    self._api.create_commit(
                        self.repo_id,
                        operations,
                        commit_message=message,
                        repo_type=REPO_TYPE,
                        revision=BRANCH,
                        parent_commit=head,
                    )
                    return
                except HfHubHTTPError as err:
                    if err.response is None or err.response.status_code != 412:
                        raise
                    # Someone committed between our look at the head and our commit: check again,
                    # after a backoff (writers racing for the branch should not keep colliding).
                    if tries < self.policy.attempts:
                        time.sleep(self.policy.delay(tries))
            raise StoreError(
                f"{self.uri}: the branch kept moving under {self.policy.attempts} commit attempts"
            )

        self._retry(attempt, f"commit {len(files)} file(s): {message}")
        with self._lock:
            self._snapshot = None  # read-your-writes: the next read fetches the new head
            for path, data in files.items():  # the server decides LFS or not: remember both ids
                self._written[path] = {git_hash(data), hashlib.sha256(data).hexdigest()}

    def _wrote_last(self, path: str, entry: _Entry | None) -> bool:
        """Whether the file's current content is this process's own last write of it (e.g. a heartbeat
        from another thread): a change since the reads that is ours is no conflict."""
        with self._lock:
            return entry is not None and entry.content_id in self._written.get(path, set())
