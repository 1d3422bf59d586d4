"""Fixtures of the hardening tests: the small real release of `release.py`, stores with chosen limits,
the app served in-process on loopback, and (imported from tests/hub) the local Hub server."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from submissions.limits import Limits
from submissions.store import LocalBackend, Store
from tests.hardening.release import EXAMPLE_IDS, VARIANT_IDS, Release, build, reference_rows
from tests.hub.conftest import (  # noqa: F401  (fixtures, re-exported for this package)
    _hub_server_session,
    _isolated_client,
    hub_server,
    release_factory,
    repo_id,
)

CORPUS = Path(__file__).resolve().parent / "corpus"


@pytest.fixture(scope="session")
def release(shared_data: Path, tmp_path_factory) -> Release:
    built = build(shared_data, tmp_path_factory.mktemp("hardening-release"))
    manifest = json.loads((built.public / "manifest.json").read_text("utf-8"))
    assert tuple(s["variant_id"] for s in manifest["slots"]) == VARIANT_IDS
    assert manifest["counts"]["examples"] == len(EXAMPLE_IDS)
    return built


@pytest.fixture(scope="session")
def labels(release: Release) -> pd.DataFrame:
    from submissions.formats import read_labels

    return read_labels(release.labels)


@pytest.fixture(scope="session")
def reference(release: Release) -> list[dict]:
    return reference_rows(release)


@pytest.fixture
def make_store(tmp_path: Path, release: Release) -> Callable[..., Store]:
    """`make(limits=None, root=None) -> Store`: a local store with the release registered."""

    def make(limits: Limits | None = None, root: Path | None = None) -> Store:
        store = Store(LocalBackend(root or tmp_path / "store"), limits=limits or Limits())
        store.register_release(str(release.public), str(release.labels))
        return store

    return make


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_app(store: Store, *, worker: bool = True, refresh_seconds: float = 1.0) -> Iterator[dict]:
    """The leaderboard app over `store`, served in this process on a free loopback port."""
    from leaderboard.app import launch
    from leaderboard.board import Board, Settings

    settings = Settings.from_env(
        {},
        store=store.backend.uri,
        refresh_seconds=refresh_seconds,
        run_worker=worker,
        correlation_resamples=100,
    )
    board = Board(store, settings)
    port = free_port()
    demo = launch(board, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield {"url": f"http://127.0.0.1:{port}/", "board": board, "demo": demo}
    finally:
        demo.close()
        board.stop()
