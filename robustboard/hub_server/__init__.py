"""A small Hugging Face Hub-compatible server for tests and local development.

huggingface.co is unreachable from our machines and no installable server accepts uploads, so the
project carries its own: content-addressed git commits, branches and tags, the LFS batch API,
private repositories, and fault injection. The unmodified `huggingface_hub` and `datasets` clients
talk to it through `HF_ENDPOINT` (with `HF_HUB_DISABLE_XET=1`).

    with running_server(data_dir, users={"alice": "hf_alice"}) as server:
        HfApi(endpoint=server.url, token="hf_alice").create_repo("alice/demo", repo_type="dataset")
        server.faults.add("commit", "error", nth=1)   # the next commit answers 500
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from .app import HubApp
from .faults import FaultRule, Faults
from .storage import HubStorage

__all__ = [
    "Faults",
    "FaultRule",
    "HubApp",
    "HubStorage",
    "RunningServer",
    "create_app",
    "running_server",
    "serve",
]


def create_app(
    data_dir: str | os.PathLike,
    *,
    users: Mapping[str, str] | None = None,
    orgs: Mapping[str, tuple[str, ...]] | None = None,
    faults: Faults | None = None,
    admin_token: str | None = None,
) -> HubApp:
    """The ASGI app over `data_dir`; `users` maps user name → token, `orgs` maps org → member names."""
    storage = HubStorage(data_dir)
    memberships: dict[str, list[str]] = {}
    for org, members in (orgs or {}).items():
        for member in members:
            memberships.setdefault(member, []).append(org)
    for name, token in (users or {}).items():
        storage.add_user(name, token, tuple(memberships.get(name, ())))
    known = set(storage.user_names())
    for name in sorted(set(memberships) - set(users or {})):
        if name not in known:
            raise ValueError(f"organization member {name!r} is not a user of this server")
        storage.add_user(name, None, tuple(memberships[name]))
    return HubApp(storage, faults=faults, admin_token=admin_token)


def serve(
    data_dir: str | os.PathLike,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    faults: Faults | None = None,
    users: Mapping[str, str] | None = None,
    orgs: Mapping[str, tuple[str, ...]] | None = None,
    admin_token: str | None = None,
    log_level: str = "info",
) -> None:
    """Serve until interrupted (the `robustboard hub-server` command)."""
    app = create_app(data_dir, users=users, orgs=orgs, faults=faults, admin_token=admin_token)
    uvicorn.run(app, host=host, port=port, log_level=log_level, lifespan="off")


@dataclass
class RunningServer:
    """A server running in a background thread: its URL, data, fault rules and request log."""

    url: str
    data_dir: Path
    app: HubApp
    tokens: dict[str, str]

    @property
    def faults(self) -> Faults:
        return self.app.faults

    def requests(self, route: str | None = None) -> list[dict]:
        """Requests the server received (oldest first), optionally only those of one route."""
        return [r for r in list(self.app.request_log) if route is None or r["route"] == route]

    def clear_requests(self) -> None:
        self.app.request_log.clear()


@contextmanager
def running_server(
    data_dir: str | os.PathLike,
    *,
    users: Mapping[str, str] | None = None,
    orgs: Mapping[str, tuple[str, ...]] | None = None,
    admin_token: str | None = None,
    host: str = "127.0.0.1",
) -> Iterator[RunningServer]:
    """Start the server on a free port of `host` in a thread; stop it on exit."""
    app = create_app(data_dir, users=users, orgs=orgs, admin_token=admin_token)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this; without it small responses wait ~40 ms for delayed ACKs.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="hub-server", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the local Hub server failed to start")
            threading.Event().wait(0.01)
        yield RunningServer(f"http://{host}:{port}", Path(data_dir), app, dict(users or {}))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
