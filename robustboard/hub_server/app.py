"""The HTTP side of the local Hub server: the routes the `huggingface_hub` and `datasets` clients call.

Routing works on the raw (still percent-encoded) path, split on `/` and decoded segment by segment,
because the clients percent-encode revisions and paths (`refs%2Fpr%2F1`, `dir%2Ffile.txt`) and a
decoded path would make `refs/pr/1` ambiguous with nested folders.

Response shapes follow what the clients parse (see `huggingface_hub.hf_api`, `_commit_api`, `lfs`
and `file_download`); errors carry `X-Error-Code` / `X-Error-Message`, which `hf_raise_for_status`
turns into `RepositoryNotFoundError`, `RevisionNotFoundError`, `RemoteEntryNotFoundError`, ...
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import html
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode

import yaml
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from .faults import FaultRule, Faults
from .gitobjects import FileEntry
from .storage import (
    DEFAULT_BRANCH,
    REPO_TYPES,
    AddFile,
    AddLfsFile,
    BadRequest,
    Commit,
    DeleteFile,
    DeleteFolder,
    EntryNotFound,
    Forbidden,
    HubError,
    HubStorage,
    NotFound,
    Operation,
    Repo,
    RepoNotFound,
    Unauthorized,
    User,
    check_ref_name,
    matches_any,
)

logger = logging.getLogger("robustboard.hub_server")

TREE_PAGE_SIZE = 1000
COMMITS_PAGE_SIZE = 50
_RESERVED_NAMESPACES = {"api", "datasets", "spaces", "models", "_lfs", "_admin"}
_HEX64 = frozenset("0123456789abcdef")
_CHUNK = 1 << 20


class DroppedConnection(Exception):
    """Raised after a deliberately half-sent response so that the server closes the connection."""


class _DropFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


@dataclass
class Ctx:
    """What a route handler needs: who asks, about what, with which body."""

    request: Request
    user: User | None
    segments: list[str]
    params: dict[str, list[str]]
    body: bytes
    base: str
    repo_type: str = "model"
    args: dict[str, str] = field(default_factory=dict)

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.params.get(name)
        return values[-1] if values else default

    def int_param(self, name: str, default: int) -> int:
        value = self.param(name)
        try:
            return default if value in (None, "") else int(value)
        except ValueError:
            raise BadRequest(f"Query parameter {name!r} must be an integer, got {value!r}") from None

    def flag(self, name: str) -> bool:
        return (self.param(name) or "").lower() in ("1", "true", "yes")

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except json.JSONDecodeError as err:
            raise BadRequest(f"Request body is not valid JSON: {err}") from None


Handler = Callable[[Ctx], Response]


class HubApp:
    """An ASGI application serving one `HubStorage`, with fault injection and a request log."""

    def __init__(
        self,
        storage: HubStorage,
        *,
        faults: Faults | None = None,
        admin_token: str | None = None,
        log_size: int = 10_000,
    ):
        self.storage = storage
        self.faults = faults if faults is not None else Faults()
        self.admin_token = admin_token
        self.request_log: deque[dict] = deque(maxlen=log_size)
        self._secret = secrets.token_bytes(32)
        uvicorn_log = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, _DropFilter) for f in uvicorn_log.filters):
            uvicorn_log.addFilter(_DropFilter())

    # -- ASGI entry point -----------------------------------------------------------------------
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        raw_path = scope.get("raw_path") or scope["path"].encode()
        raw_path = raw_path.split(b"?", 1)[0].decode("latin-1")
        segments = [unquote(s) for s in raw_path.strip("/").split("/")] if raw_path.strip("/") else []
        method = request.method
        route, handler, ctx_args = self._route(method, segments)
        entry = {"method": method, "route": route, "path": scope["path"], "status": None, "fault": None}
        self.request_log.append(entry)
        rules = self.faults.take(route, method) if route else []
        for rule in rules:
            if rule.action == "slow":
                entry["fault"] = "slow"
                await asyncio.sleep(rule.delay)
        before = next((r for r in rules if r.action != "slow" and r.when == "before"), None)
        after = next((r for r in rules if r.action != "slow" and r.when == "after"), None)
        if before is not None:
            await self._fault(before, entry, send)
            return
        response = await self._handle(request, route, handler, segments, ctx_args)
        if after is not None:
            # Consume the body (it may be a generator holding a file open) before dropping it.
            await self._fault(after, entry, send)
            return
        entry["status"] = response.status_code
        await response(scope, receive, send)

    async def _fault(self, rule: FaultRule, entry: dict, send) -> None:
        entry["fault"] = rule.action
        if rule.action == "error":
            entry["status"] = rule.status
            message = f"Injected fault: {rule.status} on route {rule.route!r}"
            body = json.dumps({"error": message}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": rule.status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"x-error-message", message.encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        entry["status"] = "dropped"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"', "more_body": True})
        raise DroppedConnection(f"injected dropped connection on route {rule.route!r}")

    async def _handle(self, request: Request, route: str | None, handler, segments, ctx_args) -> Response:
        try:
            if handler is None and route != "lfs-upload":
                raise NotFound(f"Not found: {request.method} {request.url.path}")
            user = self._user(request)
            base = str(request.base_url).rstrip("/")
            params = parse_qs(request.url.query, keep_blank_values=True)
            if route == "lfs-upload":
                ctx = Ctx(request, user, segments, params, b"", base, args=ctx_args)
                return await self._lfs_upload(ctx)
            body = await request.body()
            ctx = Ctx(request, user, segments, params, body, base, ctx_args.get("type", "model"), ctx_args)
            return await run_in_threadpool(handler, ctx)
        except HubError as err:
            return error_response(err)
        except Exception:  # a bug in the server: answer 500 like the Hub would, and keep the trace
            logger.exception("internal error on %s %s", request.method, request.url.path)
            return error_response(HubError("Internal Error", status=500))

    def _user(self, request: Request) -> User | None:
        header = request.headers.get("authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Invalid credentials in Authorization header")
        user = self.storage.user_for_token(token.strip())
        if user is None:
            raise Unauthorized("Invalid credentials in Authorization header")
        return user

    # -- routing ----------------------------------------------------------------------------------
    def _route(self, method: str, s: list[str]) -> tuple[str | None, Handler | None, dict[str, str]]:
        n = len(s)
        if n >= 1 and s[0] == "_admin":
            return "admin", self.admin, {}
        if n >= 1 and s[0] == "_lfs":
            if n == 6 and s[1] == "upload" and method == "PUT":
                return "lfs-upload", None, {"type": s[2], "ns": s[3], "name": s[4], "oid": s[5]}
            if n == 5 and s[1] == "verify" and method == "POST":
                return "lfs-verify", self.lfs_verify, {"type": s[2], "ns": s[3], "name": s[4]}
            return None, None, {}
        if n >= 2 and s[0] == "api":
            return self._route_api(method, s[1:])
        # /{datasets|spaces/}ns/name(.git/info/lfs/objects/batch | /resolve/rev/path)
        repo_type, rest = "model", s
        if n >= 1 and s[0] in ("datasets", "spaces"):
            repo_type, rest = s[0][:-1], s[1:]
        is_git = len(rest) == 6 and rest[1].endswith(".git")
        if is_git and rest[2:] == ["info", "lfs", "objects", "batch"] and method == "POST":
            args = {"type": repo_type, "ns": rest[0], "name": rest[1][:-4]}
            return "lfs-batch", self.lfs_batch, args
        if len(rest) >= 5 and rest[2] == "resolve" and method in ("GET", "HEAD"):
            args = {
                "type": repo_type,
                "ns": rest[0],
                "name": rest[1],
                "rev": rest[3],
                "path": "/".join(rest[4:]),
            }
            return "resolve", self.resolve, args
        return None, None, {}

    def _route_api(self, method: str, s: list[str]) -> tuple[str | None, Handler | None, dict[str, str]]:
        n = len(s)
        if s == ["whoami-v2"] and method == "GET":
            return "whoami", self.whoami, {}
        if s == ["validate-yaml"] and method == "POST":
            return "validate-yaml", self.validate_yaml, {}
        if s == ["repos", "create"] and method == "POST":
            return "repo-create", self.repo_create, {}
        if s == ["repos", "delete"] and method == "DELETE":
            return "repo-delete", self.repo_delete, {}
        if not s[0].endswith("s") or s[0][:-1] not in REPO_TYPES:
            return None, None, {}
        repo_type = s[0][:-1]
        if n == 1 and method == "GET":
            return "repo-list", self.repo_list, {"type": repo_type}
        if n < 3:
            return None, None, {}
        args = {"type": repo_type, "ns": s[1], "name": s[2]}
        rest = s[3:]
        action = rest[0] if rest else None
        if action is None and method == "GET":
            return "repo-info", self.repo_info, args
        if action == "revision" and len(rest) >= 2 and method == "GET":
            return "repo-info", self.repo_info, {**args, "rev": "/".join(rest[1:])}
        if rest == ["settings"] and method == "PUT":
            return "settings", self.settings, args
        if rest == ["refs"] and method == "GET":
            return "refs", self.refs, args
        if len(rest) < 2:
            return None, None, {}
        target = "/".join(rest[1:])
        table: dict[tuple[str, str], tuple[str, Handler]] = {
            ("preupload", "POST"): ("preupload", self.preupload),
            ("commit", "POST"): ("commit", self.commit),
            ("paths-info", "POST"): ("paths-info", self.paths_info),
            ("commits", "GET"): ("commits", self.commits),
            ("branch", "POST"): ("branch", self.branch_create),
            ("branch", "DELETE"): ("branch", self.branch_delete),
            ("tag", "POST"): ("tag", self.tag_create),
            ("tag", "DELETE"): ("tag", self.tag_delete),
        }
        if action == "tree" and method == "GET":
            return "tree", self.tree, {**args, "rev": rest[1], "path": "/".join(rest[2:])}
        if (action, method) in table:
            name, handler = table[(action, method)]
            return name, handler, {**args, "rev": target}
        return None, None, {}

    # -- access -----------------------------------------------------------------------------------
    def _repo(self, ctx: Ctx, *, write: bool = False) -> Repo:
        a = ctx.args
        repo = self.storage.repo(a["type"], a["ns"], a["name"])
        if repo is None or not repo.can_read(ctx.user):
            raise RepoNotFound()
        if write:
            if ctx.user is None:
                raise Unauthorized("You must be authenticated (a token with write access) to do this")
            if not ctx.user.can_write(repo.namespace):
                raise Forbidden(f"You don't have the rights to write to {repo.type} repo {repo.id}")
        return repo

    def _require_user(self, ctx: Ctx) -> User:
        if ctx.user is None:
            raise Unauthorized("You must be authenticated to do this")
        return ctx.user

    def _url_prefix(self, repo_type: str) -> str:
        return "" if repo_type == "model" else f"{repo_type}s/"

    # -- simple routes ----------------------------------------------------------------------------
    def whoami(self, ctx: Ctx) -> Response:
        user = self._require_user(ctx)
        return JSONResponse(
            {
                "type": "user",
                "id": hashlib.sha1(user.name.encode()).hexdigest()[:24],
                "name": user.name,
                "fullname": user.name,
                "email": None,
                "emailVerified": False,
                "isPro": False,
                "canPay": False,
                "avatarUrl": "",
                "orgs": [
                    {"type": "org", "name": org, "fullname": org, "roleInOrg": "write"} for org in user.orgs
                ],
                "auth": {"type": "access_token", "accessToken": {"displayName": "local", "role": "write"}},
            }
        )

    def validate_yaml(self, ctx: Ctx) -> Response:
        body = ctx.json()
        errors = [
            {"message": m} for m in validate_card(body.get("content", ""), body.get("repoType", "model"))
        ]
        return JSONResponse({"errors": errors, "warnings": []}, status_code=400 if errors else 200)

    def repo_create(self, ctx: Ctx) -> Response:
        user = self._require_user(ctx)
        body = ctx.json()
        repo_type = body.get("type") or "model"
        namespace = body.get("organization") or user.name
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest("Missing repo name")
        if namespace in _RESERVED_NAMESPACES:
            raise BadRequest(f"The namespace {namespace!r} is reserved")
        private = body.get("visibility") == "private" or bool(body.get("private"))
        repo = self.storage.create_repo(repo_type, namespace, name, private=private, owner=user)
        url = f"{ctx.base}/{self._url_prefix(repo_type)}{repo.id}"
        return JSONResponse({"url": url, "name": repo.id, "id": repo.id})

    def repo_delete(self, ctx: Ctx) -> Response:
        user = self._require_user(ctx)
        body = ctx.json()
        namespace = body.get("organization") or user.name
        ctx.args = {"type": body.get("type") or "model", "ns": namespace, "name": body.get("name", "")}
        repo = self._repo(ctx, write=True)
        self.storage.delete_repo(repo)
        return JSONResponse({})

    def settings(self, ctx: Ctx) -> Response:
        repo = self._repo(ctx, write=True)
        body = ctx.json()
        if "visibility" in body:
            if body["visibility"] not in ("public", "private"):
                raise BadRequest(f"Unsupported visibility {body['visibility']!r}")
            repo.set_private(body["visibility"] == "private")
        elif "private" in body:
            repo.set_private(bool(body["private"]))
        return JSONResponse({})

    def repo_list(self, ctx: Ctx) -> Response:
        author = ctx.param("author")
        search = (ctx.param("search") or "").lower()
        limit = ctx.int_param("limit", 0)
        out = []
        for repo in self.storage.repos(ctx.repo_type):
            if not repo.can_read(ctx.user) or (author and repo.namespace != author):
                continue
            if search and search not in repo.id.lower():
                continue
            head = repo.commit(repo.resolve(DEFAULT_BRANCH))
            out.append(self._info(repo, head, ctx, blobs=False, expand=None, card=False))
            if limit and len(out) >= limit:
                break
        return JSONResponse(out)

    def repo_info(self, ctx: Ctx) -> Response:
        repo = self._repo(ctx)
        commit = repo.commit(repo.resolve(ctx.args.get("rev", DEFAULT_BRANCH)))
        expand = ctx.params.get("expand") or ctx.params.get("expand[]")
        if expand and ctx.flag("blobs"):
            raise BadRequest("`expand` cannot be used together with `blobs`")
        return JSONResponse(self._info(repo, commit, ctx, blobs=ctx.flag("blobs"), expand=expand, card=True))

    def _info(self, repo: Repo, commit: Commit, ctx: Ctx, *, blobs: bool, expand, card: bool) -> dict:
        siblings = []
        for path, entry in sorted(commit.files.items()):
            sibling: dict[str, Any] = {"rfilename": path}
            if blobs:
                sibling.update(size=entry.size, blobId=entry.blob)
                if entry.lfs_sha256:
                    sibling["lfs"] = {
                        "size": entry.size,
                        "sha256": entry.lfs_sha256,
                        "pointerSize": entry.pointer_size,
                    }
            siblings.append(sibling)
        meta = repo.meta
        info: dict[str, Any] = {
            "_id": hashlib.sha1(f"{repo.type}/{repo.id}".encode()).hexdigest()[:24],
            "id": repo.id,
            "author": repo.namespace,
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": meta["createdAt"],
            "private": bool(meta["private"]),
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": repo.used_storage(),
        }
        if repo.type == "model":
            info["modelId"] = repo.id
        if card and "README.md" in commit.files:
            try:
                card_data = front_matter(
                    repo.read_bytes(commit.files["README.md"]).decode("utf-8", "replace")
                )
            except (ValueError, yaml.YAMLError):  # a broken card is the repo's problem, not the listing's
                card_data = None
            if isinstance(card_data, dict) and card_data:
                info["cardData"] = card_data
        if expand:
            info = {k: v for k, v in info.items() if k in ("_id", "id") or k in expand}
        return info

    def refs(self, ctx: Ctx) -> Response:
        repo = self._repo(ctx)
        refs = repo.refs()

        def items(kind: str, prefix: str) -> list[dict]:
            return [
                {"name": name, "ref": f"{prefix}{name}", "targetCommit": oid}
                for name, oid in sorted(refs[kind].items())
            ]

        out = {
            "branches": items("branches", "refs/heads/"),
            "converts": [],
            "tags": items("tags", "refs/tags/"),
        }
        if ctx.flag("include_prs"):
            out["pullRequests"] = []
        return JSONResponse(out)

    def commits(self, ctx: Ctx) -> Response:
        repo = self._repo(ctx)
        oid = repo.resolve(ctx.args["rev"])
        page = ctx.int_param("p", 0)
        limit = max(1, min(ctx.int_param("limit", COMMITS_PAGE_SIZE), 1000))
        formatted = "formatted" in (ctx.params.get("expand[]") or ctx.params.get("expand") or [])
        history = list(repo.history(oid))
        out = []
        for c in history[page * limit : (page + 1) * limit]:
            item: dict[str, Any] = {
                "id": c.oid,
                "title": c.title,
                "message": c.message,
                "authors": [{"user": c.author, "avatar": None}],
                "date": c.date,
            }
            if formatted:
                item["formatted"] = {"title": html.escape(c.title), "message": html.escape(c.message)}
            out.append(item)
        headers = {}
        if (page + 1) * limit < len(history):
            nxt = {k: v[-1] for k, v in ctx.params.items()} | {"p": str(page + 1), "limit": str(limit)}
            headers["Link"] = f'<{ctx.base}{ctx.request.url.path}?{urlencode(nxt)}>; rel="next"'
        headers["X-Total-Count"] = str(len(history))
        return JSONResponse(out, headers=headers)

    def branch_create(self, ctx: Ctx) -> Response:
        repo = self._repo(ctx, write=True)
        name = check_ref_name(ctx.args["rev"], "branch")
        body = ctx.json()
        if body.get("emptyBranch"):
            raise BadRequest("Empty branches are not supported by this server")
        start = repo.resolve(body.get("startingPoint") or DEFAULT_BRANCH)
        repo.create_ref("branches", name, start)
        return JSONResponse({})

    def branch_delete(self, ctx: Ctx) -> Response:
        repo = self._repo(ctx, write=True)
        repo.delete_ref("branches", ctx.args["rev"])
        return JSONResponse({})

    def tag_create(self, ctx: Ctx) -> Response:
        repo = self._repo(ctx, write=True)
        body = ctx.json()
        tag = body.get("tag")
        if not isinstance(tag, str):
            raise BadRequest("Missing tag name")
        check_ref_name(tag, "tag")
        repo.create_ref("tags", tag, repo.resolve(ctx.args["rev"]))
        return JSONResponse({})

    def tag_delete(self, ctx: Ctx) -> Response:
        repo = self._repo(ctx, write=True)
        repo.delete_ref("tags", ctx.args["rev"])
        return JSONResponse({})

    # -- trees ------------------------------------------------------------------------------------
    def _entry_json(
        self, repo: Repo, commit: Commit, path: str, entry: FileEntry | str, expand: bool
    ) -> dict:
        if isinstance(entry, str):  # a folder: its git tree id
            out: dict[str, Any] = {"type": "directory", "oid": entry, "size": 0, "path": path}
        else:
            out = {"type": "file", "oid": entry.blob, "size": entry.size, "path": path}
            if entry.lfs_sha256:
                out["lfs"] = {"oid": entry.lfs_sha256, "size": entry.size, "pointerSize": entry.pointer_size}
        if expand:
            last = last_commit_touching(repo, commit, path)
            out["lastCommit"] = {"id": last.oid, "title": last.title, "date": last.date}
        return out

    def tree(self, ctx: Ctx) -> Response:
        repo = self._repo(ctx)
        commit = repo.commit(repo.resolve(ctx.args["rev"]))
        folder = ctx.args["path"].strip("/")
        trees = repo.tree_ids(commit)
        if folder and folder not in trees:
            if folder in commit.files:
                raise EntryNotFound(f"{folder!r} is a file, not a folder, at revision {ctx.args['rev']}")
            raise EntryNotFound(f"Path {folder!r} not found at revision {ctx.args['rev']}")
        recursive = ctx.flag("recursive")
        expand = ctx.flag("expand")
        prefix = folder + "/" if folder else ""
        names: list[tuple[str, FileEntry | str]] = []
        for path, tree_oid in trees.items():
            if path and path.startswith(prefix) and (recursive or "/" not in path[len(prefix) :]):
                names.append((path, tree_oid))
        for path, entry in commit.files.items():
            if path.startswith(prefix) and (recursive or "/" not in path[len(prefix) :]):
                names.append((path, entry))
        names.sort(key=lambda item: (item[0].count("/"), not isinstance(item[1], str), item[0]))
        limit = max(1, min(ctx.int_param("limit", TREE_PAGE_SIZE), 10_000))
        start = _decode_cursor(ctx.param("cursor"))
        page = [self._entry_json(repo, commit, p, e, expand) for p, e in names[start : start + limit]]
        headers = {}
        if start + limit < len(names):
            nxt = {k: v[-1] for k, v in ctx.params.items()} | {"cursor": _encode_cursor(start + limit)}
            headers["Link"] = f'<{ctx.base}{ctx.request.url.path}?{urlencode(nxt)}>; rel="next"'
        return JSONResponse(page, headers=headers)

    def paths_info(self, ctx: Ctx) -> Response:
        repo = self._repo(ctx)
        commit = repo.commit(repo.resolve(ctx.args["rev"]))
        content_type = ctx.request.headers.get("content-type", "")
        if "json" in content_type:
            body = ctx.json()
            paths, expand = body.get("paths", []), bool(body.get("expand"))
        else:
            form = parse_qs(ctx.body.decode(), keep_blank_values=True)
            paths = form.get("paths", [])
            expand = (form.get("expand", ["false"])[-1]).lower() in ("1", "true")
        if isinstance(paths, str):
            paths = [paths]
        trees = repo.tree_ids(commit)
        out = []
        for raw in paths:
            path = raw.strip("/")
            if path in commit.files:
                out.append(self._entry_json(repo, commit, path, commit.files[path], expand))
            elif path in trees and path:
                out.append(self._entry_json(repo, commit, path, trees[path], expand))
        return JSONResponse(out)

    # -- uploads ----------------------------------------------------------------------------------
    def _writable_branch(self, repo: Repo, ctx: Ctx) -> str:
        if ctx.flag("create_pr"):
            raise BadRequest("Pull requests are not supported by this server")
        branch = ctx.args["rev"].removeprefix("refs/heads/")
        refs = repo.refs()
        if branch not in refs["branches"]:
            if branch in refs["tags"]:
                raise BadRequest(f"Cannot commit to tag {branch!r}: commits go to a branch")
            repo.resolve(branch)  # raises RevisionNotFound for unknown names
            raise BadRequest(f"Cannot commit to {branch!r}: commits go to a branch")
        return branch

    def preupload(self, ctx: Ctx) -> Response:
        repo = self._repo(ctx, write=True)
        branch = self._writable_branch(repo, ctx)
        body = ctx.json()
        files = body.get("files")
        if not isinstance(files, list):
            raise BadRequest("`files` must be a list")
        head = repo.commit(repo.resolve(branch))
        ignore = [
            p for p in (body.get("gitIgnore") or "").splitlines() if p.strip() and not p.startswith("#")
        ]
        out = []
        for item in files:
            try:
                path, size = item["path"], int(item["size"])
                sample = base64.b64decode(item.get("sample", ""), validate=True)
            except (KeyError, TypeError, ValueError, binascii.Error):
                raise BadRequest(f"Malformed preupload entry: {item!r}") from None
            result: dict[str, Any] = {
                "path": path,
                "uploadMode": repo.upload_mode(head, path, size, sample),
                "shouldIgnore": matches_any(path, ignore),
            }
            existing = head.files.get(path)
            if existing is not None:
                result["oid"] = existing.lfs_sha256 or existing.blob
            out.append(result)
        return JSONResponse({"files": out, "commitOid": head.oid})

    def _sign(self, repo_type: str, ns: str, name: str, oid: str, size: int, expires: int) -> str:
        msg = f"{repo_type}/{ns}/{name}/{oid}/{size}/{expires}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def lfs_batch(self, ctx: Ctx) -> Response:
        body = ctx.json()
        operation = body.get("operation")
        if operation != "upload":
            raise BadRequest("Only the `upload` operation of the LFS batch API is supported")
        repo = self._repo(ctx, write=True)
        if body.get("hash_algo", "sha256") != "sha256":
            raise BadRequest("Only sha256 is supported")
        objects = []
        expires = int(time.time()) + 3600
        for obj in body.get("objects") or []:
            oid, size = obj.get("oid"), obj.get("size")
            if not (isinstance(oid, str) and len(oid) == 64 and set(oid) <= _HEX64) or not (
                isinstance(size, int) and size >= 0
            ):
                objects.append(
                    {
                        "oid": str(oid),
                        "size": size if isinstance(size, int) else -1,
                        "error": {
                            "code": 422,
                            "message": "oid must be a sha256 hex digest and size an integer",
                        },
                    }
                )
                continue
            if repo.has_lfs(oid, size):
                objects.append({"oid": oid, "size": size})
                continue
            sig = self._sign(repo.type, repo.namespace, repo.name, oid, size, expires)
            query = urlencode({"size": size, "expires": expires, "sig": sig})
            upload = (
                f"{ctx.base}/_lfs/upload/{repo.type}/{quote(repo.namespace)}/{quote(repo.name)}/{oid}?{query}"
            )
            verify = f"{ctx.base}/_lfs/verify/{repo.type}/{quote(repo.namespace)}/{quote(repo.name)}"
            objects.append(
                {
                    "oid": oid,
                    "size": size,
                    "authenticated": True,
                    "actions": {"upload": {"href": upload, "expires_in": 3600}, "verify": {"href": verify}},
                }
            )
        return JSONResponse(
            {"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
            media_type="application/vnd.git-lfs+json",
        )

    async def _lfs_upload(self, ctx: Ctx) -> Response:
        """Store one LFS object, streamed to disk and checked against its announced sha256 and size."""
        a = ctx.args
        try:
            size = int(ctx.param("size") or "")
            expires = int(ctx.param("expires") or "")
        except ValueError:
            raise Forbidden("Malformed upload URL") from None
        expected = self._sign(a["type"], a["ns"], a["name"], a["oid"], size, expires)
        if not hmac.compare_digest(expected, ctx.param("sig") or "") or expires < time.time():
            raise Forbidden("Invalid or expired upload URL")
        repo = self.storage.repo(a["type"], a["ns"], a["name"])
        if repo is None:
            raise RepoNotFound()
        tmp = self.storage.temp_path()
        digest, received = hashlib.sha256(), 0
        try:
            with open(tmp, "wb") as fh:
                async for chunk in ctx.request.stream():
                    digest.update(chunk)
                    received += len(chunk)
                    if received > size:
                        break
                    fh.write(chunk)
            if received != size:
                raise BadRequest(f"Size mismatch: the upload URL announced {size} bytes, received {received}")
            if digest.hexdigest() != a["oid"]:
                raise BadRequest(f"sha256 mismatch: expected {a['oid']}, received {digest.hexdigest()}")
            repo.store_lfs(tmp, a["oid"])
        finally:
            tmp.unlink(missing_ok=True)
        return Response(status_code=200)

    def lfs_verify(self, ctx: Ctx) -> Response:
        repo = self._repo(ctx, write=True)
        body = ctx.json()
        size = body.get("size")
        if not isinstance(size, int):
            raise BadRequest("`size` must be an integer")
        if not repo.has_lfs(str(body.get("oid")), size):
            raise NotFound(f"LFS object {body.get('oid')} ({body.get('size')} bytes) was not uploaded")
        return JSONResponse({"message": "ok"})

    def commit(self, ctx: Ctx) -> Response:
        repo = self._repo(ctx, write=True)
        branch = self._writable_branch(repo, ctx)
        header, operations = parse_commit_payload(ctx.body, repo)
        summary = header.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            raise BadRequest("A commit summary (message) is required")
        parent = header.get("parentCommit")
        if parent is not None and not (
            isinstance(parent, str) and len(parent) == 40 and set(parent) <= _HEX64
        ):
            raise BadRequest(f"parentCommit must be a full commit id, got {parent!r}")
        commit = repo.apply_commit(
            branch,
            operations,
            author=ctx.user.name if ctx.user else "anonymous",
            title=summary.strip(),
            message=str(header.get("description") or ""),
            parent_commit=parent,
        )
        url = f"{ctx.base}/{self._url_prefix(repo.type)}{repo.id}/commit/{commit.oid}"
        return JSONResponse(
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": url,
                "hookOutput": "",
                "pullRequestUrl": None,
            }
        )

    # -- downloads --------------------------------------------------------------------------------
    def resolve(self, ctx: Ctx) -> Response:
        repo = self._repo(ctx)
        oid = repo.resolve(ctx.args["rev"])
        commit = repo.commit(oid)
        path = ctx.args["path"]
        entry = commit.files.get(path)
        if entry is None:
            err = EntryNotFound(f"Entry not found: {path} at revision {ctx.args['rev']}")
            return error_response(err, {"X-Repo-Commit": oid})
        file_path = repo.file_path(entry)
        etag = entry.lfs_sha256 or entry.blob
        headers = {
            "X-Repo-Commit": oid,
            "ETag": f'"{etag}"',
            "Accept-Ranges": "bytes",
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(path.rsplit('/', 1)[-1])}",
        }
        start, end = 0, entry.size - 1
        status = 200
        range_header = ctx.request.headers.get("range")
        if range_header:
            parsed = parse_range(range_header, entry.size)
            if parsed is None:
                headers["Content-Range"] = f"bytes */{entry.size}"
                return error_response(
                    HubError(f"Requested range not satisfiable: {range_header}", status=416), headers
                )
            start, end = parsed
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{entry.size}"
        length = max(0, end - start + 1)
        headers["Content-Length"] = str(length)
        media = (
            "text/plain; charset=utf-8" if path.endswith((".md", ".txt", ".json", ".yaml", ".yml")) else None
        )
        if ctx.request.method == "HEAD":
            return Response(
                status_code=status, headers=headers, media_type=media or "application/octet-stream"
            )
        return StreamingResponse(
            _read_range(file_path, start, length), status_code=status, headers=headers, media_type=media
        )

    # -- admin (tests and local development) ----------------------------------------------------
    def admin(self, ctx: Ctx) -> Response:
        token = ctx.request.headers.get("x-admin-token")
        if self.admin_token is None or token is None or not hmac.compare_digest(token, self.admin_token):
            raise NotFound("Not found")
        what = ctx.segments[1] if len(ctx.segments) > 1 else ""
        method = ctx.request.method
        if what == "faults":
            if method == "GET":
                return JSONResponse(self.faults.rules())
            if method == "DELETE":
                self.faults.clear()
                return JSONResponse({})
            if method == "POST":
                body = ctx.json()
                rules = body.get("rules", [body]) if isinstance(body, dict) else body
                try:
                    for rule in rules:
                        self.faults.add(**rule)
                except (TypeError, ValueError) as err:
                    raise BadRequest(f"Bad fault rule: {err}") from None
                return JSONResponse(self.faults.rules())
        if what == "requests":
            if method == "GET":
                return JSONResponse(list(self.request_log))
            if method == "DELETE":
                self.request_log.clear()
                return JSONResponse({})
        if what == "users" and method == "POST":
            body = ctx.json()
            token = self.storage.add_user(body["name"], body.get("token"), tuple(body.get("orgs", ())))
            return JSONResponse({"name": body["name"], "token": token})
        raise NotFound(f"Unknown admin route {ctx.request.url.path}")


# -- helpers ----------------------------------------------------------------------------------------
def error_response(err: HubError, headers: dict[str, str] | None = None) -> Response:
    message = err.message.encode("ascii", "replace").decode()
    out = {"X-Error-Message": message.replace("\n", " ")[:1000], **(headers or {})}
    if err.code:
        out["X-Error-Code"] = err.code
    return JSONResponse({"error": err.message}, status_code=err.status, headers=out)


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(cursor.encode()))["offset"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise BadRequest(f"Invalid cursor {cursor!r}") from None


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One `bytes=a-b` / `bytes=a-` / `bytes=-n` range → inclusive (start, end), or None if unsatisfiable."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            n = int(last)
            if n <= 0:
                return None
            return max(0, size - n), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


def _read_range(path: Path, start: int, length: int) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(start)
        while length > 0:
            chunk = fh.read(min(_CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


def front_matter(text: str) -> Any:
    """The YAML metadata block at the top of a README, or None when there is none."""
    if not text.startswith("---"):
        return None
    lines = text.splitlines()
    if lines[0].strip() != "---":
        return None
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return yaml.safe_load("\n".join(lines[1:i]))
    raise ValueError("the metadata block is not closed by a '---' line")


def validate_card(content: str, repo_type: str) -> list[str]:
    """Problems the Hub reports for a README's metadata: bad YAML, and for datasets a bad `configs:`."""
    try:
        meta = front_matter(content)
    except (ValueError, yaml.YAMLError) as err:
        return [f"Invalid YAML metadata in README.md: {err}"]
    if meta is None:
        return []
    if not isinstance(meta, dict):
        return ["The YAML metadata of README.md must be a mapping"]
    problems = []
    configs = meta.get("configs")
    if repo_type == "dataset" and configs is not None:
        if not isinstance(configs, list):
            return ['"configs" must be a list']
        names = []
        for i, cfg in enumerate(configs):
            if not isinstance(cfg, dict) or not isinstance(cfg.get("config_name"), str):
                problems.append(f'"configs[{i}]" must be a mapping with a string "config_name"')
                continue
            names.append(cfg["config_name"])
            files = cfg.get("data_files")
            ok = files is None or isinstance(files, str)
            if isinstance(files, list):
                ok = all(
                    isinstance(f, str)
                    or (
                        isinstance(f, dict)
                        and isinstance(f.get("split"), str)
                        and isinstance(f.get("path"), str | list)
                    )
                    for f in files
                )
            if not ok:
                problems.append(
                    f'"configs[{i}].data_files" must be a path, a list of paths or of {{split, path}}'
                )
        if len(set(names)) != len(names):
            problems.append('"configs" has duplicate config_name values')
        if sum(bool(c.get("default")) for c in configs if isinstance(c, dict)) > 1:
            problems.append('"configs" has more than one default config')
    return problems


def parse_commit_payload(body: bytes, repo: Repo) -> tuple[dict, list[Operation]]:
    """Parse the NDJSON commit payload: a header line, then one operation per line."""
    header: dict | None = None
    operations: list[Operation] = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            key, value = item["key"], item["value"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise BadRequest(f"Malformed commit payload at line {number}") from None
        if key == "header":
            header = value
        elif key == "file":
            encoding = value.get("encoding", "utf-8")
            content = value.get("content", "")
            try:
                data = base64.b64decode(content, validate=True) if encoding == "base64" else content.encode()
            except binascii.Error:
                raise BadRequest(f"Invalid base64 content for {value.get('path')!r}") from None
            operations.append(AddFile(value["path"], data))
        elif key == "lfsFile":
            if value.get("algo", "sha256") != "sha256":
                raise BadRequest("lfsFile algo must be sha256")
            size = value.get("size")
            if size is None:  # a copy: the object is already stored, look its size up
                size = repo.lfs_size(str(value.get("oid")))
                size = -1 if size is None else size
            operations.append(AddLfsFile(value["path"], str(value.get("oid")), int(size)))
        elif key == "deletedFile":
            operations.append(DeleteFile(value["path"]))
        elif key == "deletedFolder":
            operations.append(DeleteFolder(value["path"]))
        else:
            raise BadRequest(f"Unknown commit operation {key!r} at line {number}")
    if header is None:
        raise BadRequest("The commit payload has no header line")
    return header, operations


def last_commit_touching(repo: Repo, commit: Commit, path: str) -> Commit:
    """The newest commit in `commit`'s first-parent history that changed `path` (file or folder)."""

    def state(c: Commit) -> Any:
        if path in c.files:
            return c.files[path].blob
        return repo.tree_ids(c).get(path)

    current = state(commit)
    last = commit
    for older in list(repo.history(commit.oid))[1:]:
        if state(older) != current:
            return last
        last = older
    return last
