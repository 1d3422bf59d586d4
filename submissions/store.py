"""The results store: registered releases, submission requests, raw submissions, results, details.

Layout (docs/store.md; modelled on the Open LLM Leaderboard's requests/results repos):

    releases/<name>@<version>.json   registry entry of a release (public + labels references)
    requests/<submission_id>.json    status PENDING | RUNNING | FINISHED | FAILED and bookkeeping
    raw/<sha256>                     the submitted file, byte for byte
    results/<submission_id>.json     the result record
    details/<submission_id>.parquet  per-example correctness (private; for paired tests)

The store talks to its storage only through the small `Backend` protocol below, so the same code
runs on a local folder (`LocalBackend`) and on a Hub dataset repo (`submissions.store_hub.HubBackend`).
Consistency rule: a request's status is the commit point. Files a step writes together are written
in one `write_files` call, the request last: on the Hub that is one commit; on a local folder each
file is replaced atomically in that order, so a crash between files leaves the request in its old
status and the step is simply done again (every file is keyed by content or submission id, so
redoing a step overwrites with the same content and never adds a second record).
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from robustboard.atomic import dumps_json, write_bytes
from robustboard.hashing import sha256_bytes, sha256_file
from submissions.formats import check_size, read_labels, read_predictions, submission_bytes
from submissions.limits import Limits, using
from submissions.matrix import build_matrix
from submissions.metrics import check_coverage
from submissions.validation import Problems, validate_model

STATUSES = ("PENDING", "RUNNING", "FINISHED", "FAILED")
HF_SCHEME = "hf://"
# What users may type where the store builds a path from it: nothing else reaches the file system.
SUBMISSION_ID = re.compile(r"^[0-9a-f]{16}$")
RELEASE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}@[A-Za-z0-9][A-Za-z0-9._+-]{0,49}$")
QUOTA_WINDOW = timedelta(hours=24)


class StoreError(Exception):
    """A problem with the store or a release reference (not with a submission's content)."""


class ConflictError(StoreError):
    """Another writer changed a file this process was about to write; nothing was written."""


@runtime_checkable
class Backend(Protocol):
    """Storage of a results store: paths are relative, `/`-separated (e.g. `requests/ab12.json`)."""

    uri: str

    def read_bytes(self, path: str) -> bytes:
        """The file's content; FileNotFoundError when it does not exist."""

    def write_files(self, files: Mapping[str, bytes], *, message: str) -> None:
        """Write several files as one change (one commit on the Hub), in the given order."""

    def list_files(self, folder: str) -> list[str]:
        """Paths of the files directly in `folder` (e.g. `requests`), sorted; [] when it does not exist."""

    def exists(self, path: str) -> bool: ...


class LocalBackend:
    """A store in a local folder; every file is written atomically (temporary file + rename)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).resolve()
        self.uri = str(self.root)

    def _path(self, path: str) -> Path:
        full = (self.root / path).resolve()
        if self.root not in full.parents:
            raise StoreError(f"path {path!r} escapes the store")
        return full

    def read_bytes(self, path: str) -> bytes:
        return self._path(path).read_bytes()

    def write_files(self, files: Mapping[str, bytes], *, message: str) -> None:
        for path, data in files.items():
            try:
                write_bytes(self._path(path), data)
            except OSError as err:  # a full disk, a read-only mount: the file is left as it was
                raise StoreError(
                    f"cannot write {path} in the store {self.uri}: {err.strerror or err}; that file was left "
                    "as it was"
                ) from None

    def list_files(self, folder: str) -> list[str]:
        directory = self._path(folder)
        if not directory.is_dir():
            return []
        return sorted(
            f"{folder}/{p.name}" for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")
        )

    def exists(self, path: str) -> bool:
        return self._path(path).is_file()


def open_store(uri: str, *, limits: Limits | None = None) -> Store:
    """A store from a folder path or `hf://ORG/NAME` (a Hub dataset repo); `limits` default to the
    environment's (`submissions.limits`)."""
    if uri.startswith(HF_SCHEME):
        repo_id = uri[len(HF_SCHEME) :].strip("/")
        try:
            from submissions.store_hub import HubBackend
        except ModuleNotFoundError as err:
            raise StoreError(
                f"{uri}: Hub stores need submissions/store_hub.py, which is not installed"
            ) from err
        return Store(HubBackend(repo_id), limits=limits)
    return Store(LocalBackend(uri), limits=limits)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def submission_id(raw_sha256: str, release: str, model_name: str, model_revision: str) -> str:
    """First 16 hex of sha256(raw_sha256 + release + model name + model revision) (docs/architecture.md)."""
    return sha256_bytes(f"{raw_sha256}{release}{model_name}{model_revision}".encode())[:16]


class Store:
    def __init__(self, backend: Backend, *, limits: Limits | None = None) -> None:
        self.backend = backend
        self.limits = limits if limits is not None else Limits.from_env()
        self._labels_cache: dict[str, pd.DataFrame] = {}
        # Quota check and request write happen under this lock, so that concurrent submissions in one
        # process (the app's request threads) cannot all pass the same quota check.
        self._submit_lock = threading.Lock()

    # ------------------------------------------------------------------------------------ releases

    def register_release(self, public: str, labels: str) -> dict:
        """Add a release to the registry under `name@version` and return the entry.

        `public` and `labels` are folders or `hf://ORG/NAME@tag` references. The labels must belong
        to the release (same name, version and content hash) and match their own manifest's file
        hashes. Registering the same release again is a no-op; a different release under an
        existing name@version is refused (a version is immutable).
        """
        public_dir, public_commit = resolve(public, what="release", only=["manifest.json"])
        labels_dir, labels_commit = resolve(labels, what="labels")
        manifest = _read_json_file(public_dir / "manifest.json", "release manifest")
        labels_manifest = _read_json_file(labels_dir / "manifest.json", "labels manifest")
        for key in ("name", "version", "content_hash"):
            if labels_manifest.get(key) != manifest.get(key):
                raise StoreError(
                    f"the labels at {labels} are for {_describe(labels_manifest)}, not for the release "
                    f"{_describe(manifest)}"
                )
        verify_labels(labels_dir, labels_manifest, manifest.get("labels_sha256"))
        ref = f"{manifest['name']}@{manifest['version']}"
        entry = {
            "name": manifest["name"],
            "version": manifest["version"],
            "content_hash": manifest["content_hash"],
            "task_type": manifest.get("task_type"),
            "public": public if public.startswith(HF_SCHEME) else str(public_dir),
            "labels": labels if labels.startswith(HF_SCHEME) else str(labels_dir),
            "commit": public_commit,
            "labels_commit": labels_commit,
            "manifest": {
                "counts": manifest.get("counts"),
                "configs": manifest.get("configs"),
                "split": manifest.get("split"),
                "labels_sha256": manifest.get("labels_sha256"),
                "builder_version": manifest.get("builder_version"),
                "slots": [
                    {"variant_id": s.get("variant_id"), "family": s.get("family")}
                    for s in manifest.get("slots", [])
                ],
            },
        }
        path = f"releases/{ref}.json"
        if self.backend.exists(path):
            existing = json.loads(self.backend.read_bytes(path))
            if existing.get("content_hash") != entry["content_hash"]:
                raise StoreError(
                    f"{ref} is already registered as {_describe(existing)}; "
                    "a released version never changes: build it as a new version"
                )
            # the public files can stay the same while the hidden labels change (a rebuild by another
            # builder version): scoring against other labels than the registered ones would be silent
            if existing["manifest"].get("labels_sha256") != entry["manifest"]["labels_sha256"]:
                raise StoreError(
                    f"{ref} is already registered with other hidden labels (labels_sha256 "
                    f"{str(existing['manifest'].get('labels_sha256'))[:12]}…, these are "
                    f"{str(entry['manifest']['labels_sha256'])[:12]}…); a released version never changes: "
                    "build it as a new version"
                )
            return existing
        entry["registered_at"] = now()
        self.backend.write_files({path: dumps_json(entry).encode()}, message=f"Register release {ref}")
        return entry

    def releases(self) -> list[dict]:
        return [json.loads(self.backend.read_bytes(p)) for p in self.backend.list_files("releases")]

    def release(self, ref: str) -> dict:
        path = f"releases/{ref}.json"
        if not RELEASE_REF.match(ref or "") or not self.backend.exists(path):
            known = ", ".join(f"{r['name']}@{r['version']}" for r in self.releases()) or "none"
            raise StoreError(f"release {ref!r} is not registered in {self.backend.uri} (registered: {known})")
        return json.loads(self.backend.read_bytes(path))

    def labels(self, release: dict) -> pd.DataFrame:
        """The release's hidden labels (checked against their manifest), cached per process."""
        key = f"{release['name']}@{release['version']}"
        if key not in self._labels_cache:
            folder, _ = resolve(release["labels"], what="labels")
            labels_manifest = _read_json_file(folder / "manifest.json", "labels manifest")
            if labels_manifest.get("content_hash") != release["content_hash"]:
                raise StoreError(f"the labels of {key} no longer match the registered release")
            verify_labels(folder, labels_manifest, release["manifest"].get("labels_sha256"))
            self._labels_cache[key] = read_labels(folder)
        return self._labels_cache[key]

    # ------------------------------------------------------------------------------------- requests

    def submit(
        self,
        path: str | os.PathLike,
        *,
        release: str,
        model: Mapping[str, Any],
        submitter: str,
        min_coverage: float | None = None,
    ) -> dict:
        """Validate a predictions file against the release, keep it, and queue it (PENDING).

        Raises ValidationError (bad model metadata or predictions, a file over the size or row limits,
        a submitter or model over its daily quota) before anything is written. Idempotent: the same
        file for the same release, model and revision is the same submission; its existing request is
        returned (a FAILED one is queued again). The raw file is kept under its sha256 only: the name
        it was uploaded under is recorded as text, never used as a path.
        """
        entry = self.release(release)
        meta = validate_model({**dict(model), "submitter": submitter})
        check_size(path, self.limits)
        data, raw_format = submission_bytes(path)
        raw_sha256 = sha256_bytes(data)
        sid = submission_id(raw_sha256, release, meta["name"], meta["revision"])
        request_path = f"requests/{sid}.json"
        with self._submit_lock:
            existing = self._existing(request_path)
            if existing is not None:
                return existing
            self._check_quota(meta)
        predictions = read_predictions(
            path, format=raw_format if Path(path).is_file() else None, limits=self.limits
        )
        with using(self.limits):
            matrix = build_matrix(self.labels(entry), predictions, families=families_of(entry))
            check_coverage(matrix, min_coverage)
        request = {
            "submission_id": sid,
            "status": "PENDING",
            "reason": "",
            "submitted_at": now(),
            "started_at": None,
            "heartbeat_at": None,
            "finished_at": None,
            "attempts": 0,
            "worker": None,
            "raw_sha256": raw_sha256,
            "raw_format": raw_format,
            "raw_name": Path(path).name,
            "release": release,
            "model": meta,
            "submitter": meta["submitter"],
            "min_coverage": min_coverage,
        }
        with self._submit_lock:
            existing = self._existing(request_path)  # the same file, submitted meanwhile
            if existing is not None:
                return existing
            self._check_quota(meta)
            request["submitted_at"] = now()
            files = {} if self.backend.exists(f"raw/{raw_sha256}") else {f"raw/{raw_sha256}": data}
            files[request_path] = dumps_json(request).encode()
            self.backend.write_files(files, message=f"Submit {meta['name']} for {release} ({sid})")
        return request

    def _existing(self, request_path: str) -> dict | None:
        """The request already at `request_path` (a FAILED one queued again), or None."""
        if not self.backend.exists(request_path):
            return None
        request = json.loads(self.backend.read_bytes(request_path))
        if request["status"] == "FAILED":
            sid = request["submission_id"]
            request.update(status="PENDING", reason="resubmitted after failure", attempts=0, worker=None)
            self.write_request(request, message=f"Requeue submission {sid}")
        return request

    def _check_quota(self, meta: Mapping[str, Any]) -> None:
        """At most `limits.per_day` submissions per submitter, and per model, in any 24 hours.

        Every scored submission reveals a little about the hidden labels (its accuracy is a count of
        right answers), so a stranger who could submit without bound could recover labels by
        submitting variants that differ in one answer; the quota bounds that rate. Resubmitting the
        same file is the same submission and does not count.
        """
        limit = self.limits.per_day
        if not limit:
            return
        since = datetime.now(UTC) - QUOTA_WINDOW
        recent = [
            r for r in self.requests() if r.get("submitted_at") and parse_time(r["submitted_at"]) > since
        ]
        problems = Problems("submission quota")
        for field, who, value in (
            ("submitter", "submitter", meta["submitter"]),
            ("name", "model", meta["name"]),
        ):
            mine = sorted(r["submitted_at"] for r in recent if _quota_key(r, field) == value.casefold())
            if len(mine) >= limit:
                again = parse_time(mine[-limit]) + QUOTA_WINDOW
                count = f"{len(mine)} submission{'s' if len(mine) != 1 else ''}"
                problems.add(
                    f"field {field}",
                    f"{who} {value!r} already has {count} in the last 24 hours; the limit is "
                    f"{limit} per day ({self.limits.describe('per_day')}); the next one is accepted from "
                    f"{again.strftime('%Y-%m-%d %H:%M')} UTC",
                )
        problems.raise_if_any()

    def requests(self, status: str | None = None) -> list[dict]:
        records = [json.loads(self.backend.read_bytes(p)) for p in self.backend.list_files("requests")]
        records = [r for r in records if status is None or r.get("status") == status]
        return sorted(records, key=lambda r: (r.get("submitted_at") or "", r["submission_id"]))

    def request(self, sid: str) -> dict:
        _check_submission_id(sid, self.backend.uri)
        try:
            return json.loads(self.backend.read_bytes(f"requests/{sid}.json"))
        except FileNotFoundError:
            raise StoreError(f"no submission {sid!r} in {self.backend.uri}") from None

    def write_request(self, request: dict, *, message: str) -> None:
        path = f"requests/{request['submission_id']}.json"
        self.backend.write_files({path: dumps_json(request).encode()}, message=message)

    def run_pending(self, limit: int | None = None, **options: Any) -> list[dict]:
        """Score PENDING (and stale RUNNING) submissions; see `submissions.worker.run_pending`."""
        from submissions.worker import run_pending

        return run_pending(self, limit=limit, **options)

    # -------------------------------------------------------------------------------------- results

    def results(self, release: str | None = None) -> list[dict]:
        """Result records of FINISHED submissions (a result whose request is not FINISHED is not yet
        committed), optionally of one release, sorted by release then model."""
        finished = {r["submission_id"] for r in self.requests("FINISHED")}
        records = []
        for path in self.backend.list_files("results"):
            sid = Path(path).stem
            if sid not in finished:
                continue
            record = json.loads(self.backend.read_bytes(path))
            ref = f"{record['release']['name']}@{record['release']['version']}"
            if release is None or ref == release:
                records.append(record)
        return sorted(
            records, key=lambda r: (r["release"]["name"], r["release"]["version"], r["model"]["name"])
        )

    def result(self, sid: str) -> dict:
        _check_submission_id(sid, self.backend.uri)
        try:
            return json.loads(self.backend.read_bytes(f"results/{sid}.json"))
        except FileNotFoundError:
            raise StoreError(f"no result for submission {sid!r} in {self.backend.uri}") from None

    def details(self, sid: str) -> pd.DataFrame:
        _check_submission_id(sid, self.backend.uri)
        try:
            data = self.backend.read_bytes(f"details/{sid}.parquet")
        except FileNotFoundError:
            raise StoreError(f"no details for submission {sid!r} in {self.backend.uri}") from None
        return pd.read_parquet(io.BytesIO(data))

    @contextmanager
    def raw_file(self, request: dict):
        """The request's raw submission as a local file (the Hub backend only gives bytes)."""
        data = self.backend.read_bytes(f"raw/{request['raw_sha256']}")
        if sha256_bytes(data) != request["raw_sha256"]:
            raise StoreError(f"raw/{request['raw_sha256']} does not match its sha256")
        with tempfile.TemporaryDirectory(prefix="robustboard-raw-") as tmp:
            path = Path(tmp) / "submission"
            path.write_bytes(data)
            yield path


def _quota_key(request: Mapping[str, Any], field: str) -> str:
    value = request.get("submitter") if field == "submitter" else (request.get("model") or {}).get("name")
    return str(value or "").casefold()


def _check_submission_id(sid: str, uri: str) -> None:
    """Submission ids arrive from users (status, model and compare lookups) and become paths: only the
    16 hex digits of a real id get that far."""
    if not isinstance(sid, str) or not SUBMISSION_ID.match(sid):
        shown = repr(sid)[:40]
        raise StoreError(f"no submission {shown} in {uri} (a submission id is 16 hex digits)")


# -------------------------------------------------------------------------------------- references


def families_of(release: Mapping[str, Any]) -> dict[str, str]:
    """variant_id -> perturbation family, from the registered manifest summary."""
    return {s["variant_id"]: s["family"] for s in release["manifest"].get("slots", []) if s.get("variant_id")}


def resolve(ref: str, *, what: str, only: list[str] | None = None) -> tuple[Path, str | None]:
    """A local folder for `ref` (a folder, or `hf://ORG/NAME@tag`), and the Hub commit it came from.

    `only` limits a Hub download to those files (registering a release needs its manifest only).
    """
    if ref.startswith(HF_SCHEME):
        return _resolve_hub(ref, what=what, only=only)
    folder = Path(ref).expanduser().resolve()
    if not folder.is_dir():
        raise StoreError(f"{what} {ref}: no such folder")
    return folder, None


def _resolve_hub(ref: str, *, what: str, only: list[str] | None) -> tuple[Path, str]:
    """Download a Hub dataset repo at a tag (through the client's cache) and pin the tag's commit.

    The endpoint and token are the client's own (`HF_ENDPOINT`, `HF_TOKEN`); transient failures are
    retried by `robustboard.hub.with_retries`.
    """
    from huggingface_hub.errors import HfHubHTTPError

    from robustboard.hub import HubUnavailableError, api, describe_error, with_retries

    repo_id, _, revision = ref[len(HF_SCHEME) :].removeprefix("datasets/").partition("@")
    if repo_id.count("/") != 1 or not revision:
        raise StoreError(f"{what} {ref}: expected hf://ORG/NAME@TAG (a version tag, e.g. @v1.0.0)")
    client = api()

    def fetch() -> tuple[str, str]:
        commit = client.dataset_info(repo_id, revision=revision).sha
        folder = client.snapshot_download(repo_id, repo_type="dataset", revision=commit, allow_patterns=only)
        return commit, folder

    try:
        commit, folder = with_retries(fetch, what=f"downloading {what} {ref}")
    except (HfHubHTTPError, HubUnavailableError) as err:
        raise StoreError(f"{what} {ref}: {describe_error(err)}") from None
    return Path(folder), commit


def verify_labels(folder: Path, labels_manifest: Mapping[str, Any], labels_sha256: str | None) -> None:
    """Check every labels file against its manifest hash, and the set against the release's digest."""
    files = labels_manifest.get("files") or {}
    if not files:
        raise StoreError(f"labels {folder}: the manifest lists no files")
    for relative, digest in sorted(files.items()):
        path = folder / relative
        if not path.is_file():
            raise StoreError(f"labels {folder}: {relative} is listed in the manifest but missing")
        if sha256_file(path) != digest:
            raise StoreError(f"labels {folder}: {relative} does not match its manifest hash (modified?)")
    listed = "".join(f"{p}\t{d}\n" for p, d in sorted(files.items()))
    if labels_sha256 and sha256_bytes(listed.encode()) != labels_sha256:
        raise StoreError(f"labels {folder}: the files do not match the release's labels_sha256")


def _read_json_file(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise StoreError(
            f"{path.parent}: no {path.name} ({what}); is this a release / labels folder?"
        ) from None
    except (OSError, ValueError) as err:
        raise StoreError(f"{path}: unreadable {what} ({err})") from None


def _describe(manifest: Mapping[str, Any]) -> str:
    return f"{manifest.get('name')}@{manifest.get('version')} ({str(manifest.get('content_hash'))[:12]}…)"
