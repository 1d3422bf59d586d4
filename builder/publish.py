"""Publish a release to the Hugging Face Hub, list its versions, and pull a version back.

A published version is a git tag `v{version}` on a commit whose files are exactly the release folder
(plus the `.gitattributes` every Hub repo has), in the public repo and — for the hidden labels — in a
private labels repo. The rules that make this safe to re-run:

- everything is checked locally first (every file against the manifest's sha256, the labels folder
  against the release's content hash) so a modified or mismatched folder never reaches the Hub;
- an existing tag is immutable: the same content under it is a no-op, different content is refused;
- each repo gets at most one commit, made with `parent_commit` so that a concurrent change is
  detected (HTTP 412) instead of overwritten; unchanged files are compared by sha256 / git blob id,
  so publishing the same release again makes no commit;
- tags are created only after both repos hold the release, labels first, so a public tag always
  means the labels are tagged too;
- every step is retried on transient failures, and re-planned from the Hub's current state on each
  attempt, so a commit whose response was lost is recognised instead of made twice.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, RepoFile, get_token
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError
from huggingface_hub.utils import sha as hf_sha
from huggingface_hub.utils import tqdm as hf_tqdm

from robustboard import hub
from robustboard.cli import UserError
from robustboard.hashing import sha256_bytes, sha256_file

logger = logging.getLogger("robustboard.publish")

REPO_TYPE = "dataset"
BRANCH = "main"
MANIFEST = "manifest.json"
# Files the Hub keeps in every repo that are not part of a release.
HUB_HOUSEKEEPING = frozenset({".gitattributes"})
_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")
_HASH_PROGRESS_BYTES = 64 * 1024 * 1024


class PublishError(Exception):
    """Publishing stopped part-way; the message says what is on the Hub and what is not."""


# -- local folders ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LocalRelease:
    """A release or labels folder whose files were checked against its manifest."""

    root: Path
    manifest: dict
    files: dict[str, str]  # relative path -> sha256, manifest.json included

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def tag(self) -> str:
        return f"v{self.version}"

    @property
    def content_hash(self) -> str:
        return self.manifest["content_hash"]


def _load_manifest(root: Path, what: str) -> dict:
    path = root / MANIFEST
    if not root.is_dir():
        raise UserError(f"{root}: no such {what} folder")
    if not path.is_file():
        raise UserError(f"{path}: missing — is {root} a folder written by `robustboard build`?")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(manifest, dict):
        raise UserError(f"{path}: expected a JSON object")
    for key in ("name", "version", "content_hash", "files"):
        if key not in manifest:
            raise UserError(f"{path}: missing field {key!r}")
    if not isinstance(manifest["files"], dict) or not manifest["files"]:
        raise UserError(f"{path}: field 'files' must be a non-empty object of {{path: sha256}}")
    if not isinstance(manifest["version"], str) or not _VERSION_RE.match(manifest["version"]):
        raise UserError(f"{path}: field 'version' must look like 1.2.0, got {manifest['version']!r}")
    return manifest


def _check_files(root: Path, manifest: dict) -> dict[str, str]:
    """Every listed file present with its sha256, and nothing unlisted: the folder is the release."""
    listed: dict[str, str] = manifest["files"]
    problems = []
    for rel in sorted(listed):
        parts = rel.split("/")
        if rel.startswith("/") or any(p in ("", ".", "..") for p in parts) or rel == MANIFEST:
            problems.append(f"{rel}: not a valid file path for a release")
        elif not (root / rel).is_file():
            problems.append(f"{rel}: listed in manifest.json but missing")
    if problems:
        raise UserError(f"{root}: " + "; ".join(problems[:5]))
    present = {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }
    extra = sorted(present - set(listed) - {MANIFEST})
    if extra:
        raise UserError(f"{root}: files not listed in manifest.json: {', '.join(extra[:5])}")
    total = sum((root / rel).stat().st_size for rel in listed)
    with hf_tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        desc=f"Checking {root.name}",
        disable=total < _HASH_PROGRESS_BYTES,
    ) as bar:
        for rel in sorted(listed):
            actual = sha256_file(root / rel)
            if actual != listed[rel]:
                raise UserError(
                    f"{root / rel}: sha256 {actual[:12]}… does not match manifest.json "
                    f"({listed[rel][:12]}…); the folder changed after it was built"
                )
            bar.update((root / rel).stat().st_size)
    return {**listed, MANIFEST: sha256_file(root / MANIFEST)}


def files_digest(files: dict[str, str]) -> str:
    """sha256 over the sorted `path<TAB>sha256` lines: a release's `content_hash` over its public files,
    `labels_sha256` over its label files (as `builder.release` computes them)."""
    return sha256_bytes("".join(f"{p}\t{h}\n" for p, h in sorted(files.items())).encode())


def read_release(path: str | os.PathLike) -> LocalRelease:
    """Check a public release folder (see docs/architecture.md) without touching the network."""
    root = Path(path)
    manifest = _load_manifest(root, "release")
    if "README.md" not in manifest["files"]:
        raise UserError(f"{root / MANIFEST}: the release has no README.md (the dataset card with `configs:`)")
    if files_digest(manifest["files"]) != manifest["content_hash"]:
        raise UserError(f"{root / MANIFEST}: content_hash does not match the files it lists")
    return LocalRelease(root, manifest, _check_files(root, manifest))


def read_labels(path: str | os.PathLike, release: LocalRelease) -> LocalRelease:
    """Check a labels folder and that it belongs to `release` (same name, version and content hash)."""
    root = Path(path)
    manifest = _load_manifest(root, "labels")
    for key in ("name", "version", "content_hash"):
        if manifest[key] != release.manifest[key]:
            raise UserError(
                f"{root / MANIFEST}: {key} is {manifest[key]!r} but the release's is "
                f"{release.manifest[key]!r}; these labels belong to another release"
            )
    expected = release.manifest.get("labels_sha256")
    if expected is not None and files_digest(manifest["files"]) != expected:
        raise UserError(
            f"{root / MANIFEST}: its files do not hash to the release's labels_sha256 ({expected[:12]}…); "
            "these labels belong to another build"
        )
    return LocalRelease(root, manifest, _check_files(root, manifest))


# The first argument of `load_dataset("…")` calls with a repo-shaped `ORG/NAME` (one slash: a local
# folder example like "path/to/folder" is not a repo id; a placeholder like "<org>/name" is).
_SNIPPET_RE = re.compile(r"""load_dataset\(\s*["']([^"'/\s]+/[^"'/\s]+)["']""")


def check_card(release: LocalRelease, repo: str) -> None:
    """Refuse a card whose copy-paste snippets load another repo: a published version never changes,
    so a wrong `load_dataset("…")` line would mislead every reader of that version."""
    card = (release.root / "README.md").read_text(encoding="utf-8")
    named = sorted(set(_SNIPPET_RE.findall(card)) - {repo})
    if named:
        raise UserError(
            f"{release.root / 'README.md'}: its snippets load {named[0]!r}, not {repo!r}; rebuild the "
            f"release with `--repo-id {repo}` so that the card's copy-paste code works"
        )


# -- comparing with the Hub ---------------------------------------------------------------------------
def remote_files(api: HfApi, repo_id: str, revision: str) -> dict[str, RepoFile]:
    entries = api.list_repo_tree(repo_id, revision=revision, recursive=True, repo_type=REPO_TYPE)
    return {e.path: e for e in entries if isinstance(e, RepoFile)}


def diff(local: LocalRelease, remote: dict[str, RepoFile]) -> tuple[list[str], list[str]]:
    """(paths to upload, paths to delete) that make the remote tree hold exactly the release.

    LFS files are compared by sha256 (which the tree listing carries), regular files by git blob id.
    """
    upload = []
    for rel, sha in sorted(local.files.items()):
        entry = remote.get(rel)
        if entry is None:
            upload.append(rel)
        elif entry.lfs is not None:
            if entry.lfs.sha256 != sha:
                upload.append(rel)
        elif entry.blob_id != hf_sha.git_hash((local.root / rel).read_bytes()):
            upload.append(rel)
    delete = sorted(p for p in remote if p not in local.files and p not in HUB_HOUSEKEEPING)
    return upload, delete


# -- publishing --------------------------------------------------------------------------------------
@dataclass
class RepoState:
    """Where one repo stands during a publish (also what the failure message reports)."""

    role: str  # "public" or "labels"
    repo_id: str
    local: LocalRelease
    private: bool
    created: bool = False
    commit: str | None = None  # the commit holding the release, once known
    new_commit: bool = False
    already_tagged: bool = False
    tagged: bool = False
    changed_files: list[str] = field(default_factory=list)

    def describe(self, tag: str) -> str:
        short = self.commit[:7] if self.commit else None
        if self.already_tagged:
            return f"{self.repo_id} already had {tag} at {short}"
        if self.tagged:
            return f"{self.repo_id} tagged {tag} at {short}"
        if self.commit:
            return f"{self.repo_id} holds the release at {short} but is NOT tagged {tag}"
        return f"{self.repo_id}: nothing committed"


@dataclass(frozen=True)
class PublishResult:
    name: str
    version: str
    tag: str
    content_hash: str
    repos: tuple[RepoState, ...]

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "tag": self.tag,
            "content_hash": self.content_hash,
            "repos": [
                {
                    "role": r.role,
                    "repo": r.repo_id,
                    "private": r.private,
                    "commit": r.commit,
                    "created_repo": r.created,
                    "new_commit": r.new_commit,
                    "changed_files": r.changed_files,
                    "tag_created": r.tagged,
                }
                for r in self.repos
            ],
        }


def _require_token(token: str | None) -> str:
    token = token or get_token()
    if not token:
        raise UserError("publishing needs a Hub token with write access: set HF_TOKEN or run `hf auth login`")
    return token


def _ensure_repo(api: HfApi, state: RepoState, policy: hub.RetryPolicy) -> None:
    def info():
        return api.repo_info(state.repo_id, repo_type=REPO_TYPE)

    try:
        found = hub.with_retries(info, what=f"look up {state.repo_id}", policy=policy)
    except RepositoryNotFoundError:
        found = None
    if found is None:

        def create() -> None:
            api.create_repo(state.repo_id, repo_type=REPO_TYPE, private=state.private, exist_ok=True)

        try:
            hub.with_retries(create, what=f"create {state.repo_id}", policy=policy)
            found = hub.with_retries(info, what=f"look up {state.repo_id}", policy=policy)
        except HfHubHTTPError as err:  # e.g. 403: no rights on the namespace
            raise UserError(
                f"cannot create or read dataset repo {state.repo_id} with this token "
                f"({hub.describe_error(err)})"
            ) from None
        state.created = True
    if state.role == "labels" and not found.private:
        raise UserError(
            f"the labels repo {state.repo_id} is public; hidden labels must go to a private repo "
            "(make it private on the Hub or choose another --labels-repo)"
        )


def _check_tag(api: HfApi, state: RepoState, policy: hub.RetryPolicy) -> str | None:
    """If the version tag exists: None when it holds this release, else a description of the conflict."""
    tag = state.local.tag
    refs = hub.with_retries(
        lambda: api.list_repo_refs(state.repo_id, repo_type=REPO_TYPE),
        what=f"list tags of {state.repo_id}",
        policy=policy,
    )
    target = next((t.target_commit for t in refs.tags if t.name == tag), None)
    if target is None:
        return None
    remote = hub.with_retries(
        lambda: remote_files(api, state.repo_id, target),
        what=f"list files of {state.repo_id}@{tag}",
        policy=policy,
    )
    upload, delete = diff(state.local, remote)
    if upload or delete:
        differing = (upload + delete)[:3]
        return (
            f"{state.repo_id} already has {tag} (commit {target[:7]}) with different content "
            f"({len(upload) + len(delete)} files differ, e.g. {', '.join(differing)})"
        )
    state.commit = target
    state.already_tagged = True
    return None


def _commit(api: HfApi, state: RepoState, policy: hub.RetryPolicy, report: Callable[[str], None]) -> None:
    local = state.local

    def attempt() -> None:
        head = api.repo_info(state.repo_id, repo_type=REPO_TYPE, revision=BRANCH).sha
        upload, delete = diff(local, remote_files(api, state.repo_id, head))
        if not upload and not delete:
            state.commit = head
            return
        size = sum((local.root / p).stat().st_size for p in upload)
        report(
            f"{state.repo_id}: committing {len(upload)} files ({size / 1e6:.1f} MB)"
            + (f" and deleting {len(delete)}" if delete else "")
            + f" on top of {head[:7]}"
        )
        operations: list = [CommitOperationAdd(p, str(local.root / p)) for p in upload]
        operations += [CommitOperationDelete(p) for p in delete]
        description = (
            f"{local.name} {local.tag}\n\ncontent_hash: {local.content_hash}\n"
            f"counts: {json.dumps(local.manifest.get('counts', {}), sort_keys=True)}\n"
        )
        try:
            info = api.create_commit(
                state.repo_id,
                operations,
                commit_message=f"Release {local.name} {local.tag}",
                commit_description=description,
                repo_type=REPO_TYPE,
                revision=BRANCH,
                parent_commit=head,
            )
        except HfHubHTTPError as err:
            if err.response is not None and err.response.status_code == 412:
                if api.repo_info(state.repo_id, repo_type=REPO_TYPE, revision=BRANCH).sha == head:
                    # refused although nobody moved the branch: worth another try, with backoff
                    raise hub.TransientError(
                        f"HTTP 412 for parent commit {head[:7]}, which is still the head of {BRANCH}"
                    ) from err
                raise UserError(
                    f"{state.repo_id} changed while publishing (branch {BRANCH} moved past {head[:7]}): "
                    "someone else committed concurrently and nothing of theirs was overwritten; "
                    "check the repo, then publish again"
                ) from None
            raise
        state.commit, state.new_commit, state.changed_files = info.oid, True, upload + delete

    hub.with_retries(attempt, what=f"commit the release to {state.repo_id}", policy=policy)


def _tag(api: HfApi, state: RepoState, policy: hub.RetryPolicy) -> None:
    tag, commit = state.local.tag, state.commit
    assert commit is not None

    def attempt() -> None:
        try:
            api.create_tag(
                state.repo_id,
                tag=tag,
                revision=commit,
                tag_message=f"{state.local.name} {tag} (content {state.local.content_hash[:12]})",
                repo_type=REPO_TYPE,
            )
        except HfHubHTTPError as err:
            if err.response is None or err.response.status_code != 409:
                raise
            # The tag exists: ours from an attempt whose response was lost, or someone else's.
            refs = api.list_repo_refs(state.repo_id, repo_type=REPO_TYPE)
            target = next((t.target_commit for t in refs.tags if t.name == tag), None)
            if target != commit:
                raise UserError(
                    f"{state.repo_id}: tag {tag} was created concurrently at {str(target)[:7]}, "
                    f"not at the release commit {commit[:7]}"
                ) from None

    hub.with_retries(attempt, what=f"tag {tag} in {state.repo_id}", policy=policy)
    state.tagged = True


def publish(
    release_dir: str | os.PathLike,
    labels_dir: str | os.PathLike | None,
    *,
    repo: str,
    labels_repo: str | None,
    endpoint: str | None = None,
    token: str | None = None,
    policy: hub.RetryPolicy = hub.DEFAULT_POLICY,
    report: Callable[[str], None] = logger.info,
) -> PublishResult:
    """Publish the release (and its labels) as tag `v{version}`; safe to re-run after any failure."""
    if (labels_dir is None) != (labels_repo is None):
        raise UserError("--labels and --labels-repo go together: give both or neither")
    if labels_repo is not None and labels_repo == repo:
        raise UserError("--labels-repo must differ from --repo: the labels repo is private")
    release = read_release(release_dir)
    check_card(release, repo)
    states = [RepoState("public", repo, release, private=False)]
    if labels_dir is not None and labels_repo is not None:
        states.append(RepoState("labels", labels_repo, read_labels(labels_dir, release), private=True))
    token = _require_token(token)
    hub.require_online("publish")
    api = hub.api(endpoint, token)
    tag = release.tag
    try:
        for state in states:
            _ensure_repo(api, state, policy)
        conflicts = [c for state in states if (c := _check_tag(api, state, policy))]
        if conflicts:
            raise UserError(
                "; ".join(conflicts) + f". A published version never changes: bump `version` and build again "
                f"(content_hash here: {release.content_hash[:12]})"
            )
        for state in states:
            if not state.already_tagged:
                _commit(api, state, policy, report)
        # Labels first: a public tag must imply that the labels of that version are tagged too.
        for state in sorted(states, key=lambda s: s.role != "labels"):
            if not state.already_tagged:
                _tag(api, state, policy)
    except UserError as err:
        if not any(s.commit and not s.already_tagged for s in states):
            raise
        done = "; ".join(s.describe(tag) for s in states)
        raise UserError(f"{err}. State: {done}; no tag points at a partial release") from None
    except (HfHubHTTPError, ValueError) as err:  # refused by the Hub: a 4xx, or an invalid card
        done = "; ".join(s.describe(tag) for s in states)
        raise PublishError(
            f"publishing {release.name} {tag} failed: {hub.describe_error(err)}. State: {done}. "
            "No tag points at a partial release"
        ) from err
    except hub.HubUnavailableError as err:
        done = "; ".join(s.describe(tag) for s in states)
        raise PublishError(
            f"publishing {release.name} {tag} failed: {err}. State: {done}. No tag points at a partial "
            "release; run the same command again to finish (it resumes without duplicate commits)"
        ) from err
    for state in states:
        report(state.describe(tag))
    return PublishResult(release.name, release.version, tag, release.content_hash, tuple(states))


# -- reading back --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VersionInfo:
    tag: str
    commit: str
    date: str | None
    name: str | None
    version: str | None
    content_hash: str | None
    counts: dict | None

    def to_json(self) -> dict:
        return {
            "tag": self.tag,
            "commit": self.commit,
            "date": self.date,
            "name": self.name,
            "version": self.version,
            "content_hash": self.content_hash,
            "counts": self.counts,
        }


def _version_key(tag: str) -> tuple:
    match = re.match(r"^v(\d+)\.(\d+)\.(\d+)", tag)
    return (0, tuple(int(g) for g in match.groups()), tag) if match else (1, (), tag)


def _not_found(repo: str, err: Exception) -> UserError:
    return UserError(
        f"dataset repo {repo} not found at this endpoint (or it is private and the token cannot read it): "
        f"{hub.describe_error(err)}"
    )


def list_versions(
    repo: str,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    policy: hub.RetryPolicy = hub.DEFAULT_POLICY,
) -> list[VersionInfo]:
    """Every tag of `repo`, oldest version first, with its commit, date and the manifest's counts."""
    hub.require_online("list versions")
    api = hub.api(endpoint, token)
    try:
        refs = hub.with_retries(
            lambda: api.list_repo_refs(repo, repo_type=REPO_TYPE), what=f"list tags of {repo}", policy=policy
        )
    except RepositoryNotFoundError as err:
        raise _not_found(repo, err) from None
    out = []
    for ref in sorted(refs.tags, key=lambda t: _version_key(t.name)):
        commit = ref.target_commit
        history = hub.with_retries(
            lambda c=commit: api.list_repo_commits(repo, repo_type=REPO_TYPE, revision=c),
            what=f"read the history of {repo}@{ref.name}",
            policy=policy,
        )
        manifest: dict = {}
        try:
            path = hub.with_retries(
                lambda c=commit: api.hf_hub_download(
                    repo, MANIFEST, repo_type=REPO_TYPE, revision=c, cache_dir=cache_dir
                ),
                what=f"download {repo}@{ref.name}/{MANIFEST}",
                policy=policy,
            )
            manifest = json.loads(Path(path).read_text(encoding="utf-8"))
        except HfHubHTTPError as err:  # a tag that is not a release (no manifest): list it anyway
            if hub.is_transient(err) or err.response is None or err.response.status_code != 404:
                raise
        out.append(
            VersionInfo(
                tag=ref.name,
                commit=commit,
                date=history[0].created_at.isoformat() if history else None,
                name=manifest.get("name"),
                version=manifest.get("version"),
                content_hash=manifest.get("content_hash"),
                counts=manifest.get("counts"),
            )
        )
    return out


@dataclass(frozen=True)
class PullResult:
    repo: str
    revision: str
    commit: str
    out: Path
    files: int
    labels_repo: str | None = None
    labels_commit: str | None = None
    labels_out: Path | None = None

    def to_json(self) -> dict:
        return {
            "repo": self.repo,
            "revision": self.revision,
            "commit": self.commit,
            "out": str(self.out),
            "files": self.files,
            "labels_repo": self.labels_repo,
            "labels_commit": self.labels_commit,
            "labels_out": str(self.labels_out) if self.labels_out else None,
        }


def _check_out_dir(out: Path, force: bool) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise UserError(f"{out}: already exists and is not empty (pass --force to replace it)")


def _download_version(
    api: HfApi, repo: str, revision: str, out: Path, policy: hub.RetryPolicy
) -> tuple[str, dict, Path]:
    """Download `repo@revision` (manifest first, then every file it lists) into a staging folder
    beside `out`, checking each file's sha256; returns (commit, manifest, staging folder)."""
    try:
        commit = hub.with_retries(
            lambda: api.repo_info(repo, repo_type=REPO_TYPE, revision=revision).sha,
            what=f"resolve {repo}@{revision}",
            policy=policy,
        )
    except RevisionNotFoundError:
        raise UserError(
            f"{repo} has no revision {revision!r} (see `robustboard versions --repo {repo}`)"
        ) from None
    except RepositoryNotFoundError as err:
        raise _not_found(repo, err) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.pull-", dir=out.parent))
    try:

        def fetch(rel: str) -> Path:
            return Path(
                hub.with_retries(
                    lambda: api.hf_hub_download(
                        repo, rel, repo_type=REPO_TYPE, revision=commit, local_dir=staging
                    ),
                    what=f"download {repo}@{commit[:7]}/{rel}",
                    policy=policy,
                )
            )

        try:
            manifest = json.loads(fetch(MANIFEST).read_text(encoding="utf-8"))
        except HfHubHTTPError as err:
            if hub.is_transient(err):
                raise
            raise UserError(f"{repo}@{revision} has no {MANIFEST}: it is not a robustboard release") from None
        for rel, expected in sorted(manifest["files"].items()):
            actual = sha256_file(fetch(rel))
            if actual != expected:
                raise UserError(f"{repo}@{commit[:7]}/{rel}: sha256 {actual[:12]}… differs from its manifest")
        shutil.rmtree(staging / ".cache", ignore_errors=True)
        return commit, manifest, staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _install(staging: Path, out: Path) -> None:
    if out.exists():
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    os.replace(staging, out)


def pull(
    repo: str,
    revision: str,
    out: str | os.PathLike,
    *,
    labels_repo: str | None = None,
    labels_out: str | os.PathLike | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    force: bool = False,
    policy: hub.RetryPolicy = hub.DEFAULT_POLICY,
) -> PullResult:
    """Restore the release folder (and labels) of `revision`, byte-identical to what was published.

    The labels are taken at the same version's tag in the labels repo and must carry the release's
    content hash. Nothing is written to `out` / `labels_out` unless every file checked out.
    """
    if (labels_repo is None) != (labels_out is None):
        raise UserError("--labels-repo and --labels-out go together: give both or neither")
    out_path = Path(out)
    labels_path = Path(labels_out) if labels_out is not None else None
    _check_out_dir(out_path, force)
    if labels_path is not None:
        _check_out_dir(labels_path, force)
        if labels_path.resolve() == out_path.resolve():
            raise UserError("--labels-out must differ from --out: labels never go into the public folder")
    token = token or get_token()
    if labels_repo is not None and not token:
        raise UserError(
            "the labels repo is private: pull it with a token (set HF_TOKEN or run `hf auth login`)"
        )
    hub.require_online("pull")
    api = hub.api(endpoint, token)
    stagings: list[Path] = []
    labels_commit = labels_staging = None
    try:
        commit, manifest, staging = _download_version(api, repo, revision, out_path, policy)
        stagings.append(staging)
        if files_digest(manifest["files"]) != manifest.get("content_hash"):
            raise UserError(
                f"{repo}@{revision}: manifest.json's content_hash does not match the files it lists"
            )
        if labels_repo is not None and labels_path is not None:
            labels_tag = f"v{manifest['version']}"
            labels_commit, labels_manifest, labels_staging = _download_version(
                api, labels_repo, labels_tag, labels_path, policy
            )
            stagings.append(labels_staging)
            expected = manifest.get("labels_sha256")
            if labels_manifest.get("content_hash") != manifest.get("content_hash") or (
                expected and files_digest(labels_manifest["files"]) != expected
            ):
                raise UserError(
                    f"{labels_repo}@{labels_tag} holds labels of another release than {repo}@{revision} "
                    f"(content_hash {str(labels_manifest.get('content_hash'))[:12]}… "
                    f"vs {str(manifest.get('content_hash'))[:12]}…)"
                )
    except BaseException:
        for folder in stagings:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    _install(staging, out_path)
    if labels_staging is not None and labels_path is not None:
        _install(labels_staging, labels_path)
    return PullResult(
        repo, revision, commit, out_path, len(manifest["files"]) + 1, labels_repo, labels_commit, labels_path
    )
