"""Fixtures for the Hub tests: the project's local Hub server on a free loopback port, isolated client
state (no real token, no shared cache), and small release folders in the layout of docs/architecture.md.

The server runs in a thread of the test process; the unmodified clients reach it through
`endpoint=`/`--endpoint` (our code) or `HF_ENDPOINT` in a subprocess (`datasets.load_dataset`, which
reads the endpoint at import time, exactly as a user's script does).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from huggingface_hub import constants

from robustboard.atomic import dumps_json
from robustboard.hashing import sha256_bytes, sha256_file
from robustboard.hub_server import RunningServer, running_server

REPO = Path(__file__).resolve().parents[2]
ALICE, BOB = "hf_alice_0123456789", "hf_bob_0123456789"
ORG = "robustboard-test"
ADMIN = "admin-secret"


HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items) -> None:
    """The `huggingface_hub` client's own LFS upload trips an httpx2 deprecation warning: not ours to fix."""
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"))


@pytest.fixture(scope="session")
def _hub_server_session(tmp_path_factory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("hub-data")
    with running_server(
        data, users={"alice": ALICE, "bob": BOB}, orgs={ORG: ("alice",)}, admin_token=ADMIN
    ) as srv:
        yield srv


@pytest.fixture
def hub_server(_hub_server_session: RunningServer) -> Iterator[RunningServer]:
    """The local Hub server (alice is a member of ORG, bob is not), with no faults and an empty log."""
    srv = _hub_server_session
    srv.faults.clear()
    srv.clear_requests()
    yield srv
    srv.faults.clear()


@pytest.fixture(autouse=True)
def _isolated_client(tmp_path, monkeypatch) -> None:
    """No test sees the developer's token or cache, and none writes to ~/.cache."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))


@pytest.fixture
def offline(monkeypatch) -> None:
    """HF_HUB_OFFLINE=1 as a tripwire: any Hub HTTP call raises `OfflineModeIsEnabled`."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


@pytest.fixture
def repo_id(request) -> str:
    """A fresh repo name in the test organization, so tests sharing the server never collide."""
    stem = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")[:40].strip("-")
    return f"{ORG}/{stem}-{uuid.uuid4().hex[:8]}"


# -- release folders -----------------------------------------------------------------------------------
def _digest(hashes: dict[str, str]) -> str:
    """The release identity of docs/architecture.md: sha256 over the sorted `path<TAB>sha256` lines."""
    return sha256_bytes("".join(f"{p}\t{h}\n" for p, h in sorted(hashes.items())).encode())


CARD = """---
configs:
- config_name: original
  data_files:
  - split: test
    path: original/test-*
  default: true
- config_name: typos
  data_files:
  - split: test
    path: typos/test-*
---

# {name} v{version}
"""
SNIPPET = """
```python
from datasets import load_dataset
ds = load_dataset("{repo}", "typos", revision="v{version}")
```
"""


def make_release(
    root: Path, version: str, texts: list[str], *, name: str = "toy", repo: str | None = None
) -> tuple[Path, Path]:
    """A small classification release (configs `original` and `typos`) and its labels folder; the card
    carries a `load_dataset` snippet for `repo` when given."""
    public, labels = root / f"{name}-{version}", root / f"{name}-{version}-labels"
    public.mkdir(parents=True)
    labels.mkdir(parents=True)
    slots = {"original": ("original", {}), "typos": ("typos-p0.05-r1", {"p": 0.05})}
    for config, (variant, params) in slots.items():
        rows = pd.DataFrame(
            {
                "example_id": [f"{name}-{i}" for i in range(len(texts))],
                "variant_id": variant,
                "family": config,
                "params": json.dumps(params, sort_keys=True),
                "task": name,
                "text": [t if config == "original" else t.replace("e", "3") for t in texts],
                "text_pair": None,
                "label_names": [["negative", "positive"]] * len(texts),
                "prompt": [f"Review: {t}\nSentiment:" for t in texts],
            }
        )
        (public / config).mkdir()
        rows.to_parquet(public / config / "test-00000-of-00001.parquet", index=False)
        gold = pd.DataFrame(
            {
                "example_id": rows["example_id"],
                "variant_id": variant,
                "gold": ["positive" if i % 2 else "negative" for i in range(len(texts))],
                "task": name,
            }
        )
        (labels / config).mkdir()
        gold.to_parquet(labels / config / "test-00000-of-00001.parquet", index=False)
    card = CARD.format(name=name, version=version) + (
        SNIPPET.format(repo=repo, version=version) if repo else ""
    )
    (public / "README.md").write_text(card)
    files = {
        p.relative_to(public).as_posix(): sha256_file(p) for p in sorted(public.rglob("*")) if p.is_file()
    }
    label_files = {
        p.relative_to(labels).as_posix(): sha256_file(p) for p in sorted(labels.rglob("*")) if p.is_file()
    }
    manifest = {
        "name": name,
        "version": version,
        "task_type": "classification",
        "configs": {c: [v] for c, (v, _) in slots.items()},
        "counts": {"examples": len(texts), "slots": 2, "rows": 2 * len(texts), "tasks": 1},
        "files": files,
        "content_hash": _digest(files),
        "labels_sha256": _digest(label_files),
        "changelog": [{"version": version, "notes": "test release"}],
    }
    (public / "manifest.json").write_text(dumps_json(manifest))
    labels_manifest = {
        "name": name,
        "version": version,
        "task_type": "classification",
        "content_hash": manifest["content_hash"],
        "labels_sha256": manifest["labels_sha256"],
        "files": label_files,
    }
    (labels / "manifest.json").write_text(dumps_json(labels_manifest))
    return public, labels


@pytest.fixture
def release_factory(tmp_path):
    """`make(version, texts, name="toy", repo=None) -> (release folder, labels folder)`, fresh each call."""
    counter = itertools.count()

    def make(version: str, texts: list[str], name: str = "toy", repo: str | None = None) -> tuple[Path, Path]:
        return make_release(tmp_path / "releases" / str(next(counter)), version, texts, name=name, repo=repo)

    return make


# -- the real `datasets` client, as a user runs it -----------------------------------------------------
def _load_rows(
    server: RunningServer, repo: str, *loads: tuple[str, str | None], token: str | None = None
) -> list[list[dict]]:
    """`datasets.load_dataset(repo, config, revision=...)` for each (config, revision), in one fresh
    interpreter whose only link to the server is `HF_ENDPOINT`; the test split's rows of each load."""
    code = (
        "import json, sys, datasets\n"
        "out = []\n"
        "for config, revision in json.loads(sys.argv[2]):\n"
        "    ds = datasets.load_dataset(sys.argv[1], config, revision=revision)\n"
        "    out.append(ds['test'].to_list())\n"
        "print(json.dumps(out))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(
        HF_ENDPOINT=server.url,
        HF_HUB_DISABLE_XET="1",
        HF_HOME=os.environ["HF_HOME"],
        HF_DATASETS_CACHE=str(Path(os.environ["HF_HOME"]) / f"datasets-{uuid.uuid4().hex[:6]}"),
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        PYTHONPATH=str(REPO),
    )
    if token:
        env["HF_TOKEN"] = token
    proc = subprocess.run(
        [sys.executable, "-c", code, repo, json.dumps(loads)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"load_dataset failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def load_rows():
    """`load_rows(server, repo, (config, revision), ..., token=None)`: rows `load_dataset` returns."""
    return _load_rows


@pytest.fixture(scope="session")
def real_release(tmp_path_factory, shared_data) -> tuple[str, Path, Path]:
    """(repo id, release folder, labels folder) of a small rotten_tomatoes release built by the real
    builder from ../shared/data, its card's snippets naming that (not yet published) repo."""
    from builder.release import build_release
    from builder.specs import load_spec

    repo = f"{ORG}/rotten-tomatoes-{uuid.uuid4().hex[:8]}"
    spec = load_spec("rotten_tomatoes").with_data_files(
        {"test": str(shared_data / "rotten_tomatoes" / "test.jsonl")}
    )
    root = tmp_path_factory.mktemp("real-release")
    build_release(
        spec,
        root / "public",
        root / "labels",
        version="1.0.0",
        limit=6,
        repo_id=repo,
        workers=1,
        log=lambda message: None,
        progress=False,
    )
    return repo, root / "public", root / "labels"


def _run_card_snippet(server: RunningServer, card: str) -> dict[str, list[dict]]:
    """Run the card's first `load_dataset` code block as a reader would (only `HF_ENDPOINT` set) and
    return the rows of every dataset it loaded, by variable name."""
    blocks = [b.split("\n", 1)[1] for b in card.split("```python")[1:]]
    snippet = next(b.split("```", 1)[0] for b in blocks if "load_dataset(" in b)
    code = (
        snippet
        + "\nimport json, datasets\n"
        + "print(json.dumps({k: v.to_list() for k, v in dict(globals()).items() "
        + "if isinstance(v, datasets.Dataset)}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(
        HF_ENDPOINT=server.url,
        HF_HUB_DISABLE_XET="1",
        HF_HOME=os.environ["HF_HOME"],
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_TELEMETRY="1",
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"the card's snippet failed:\n{snippet}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def run_card_snippet():
    """`run_card_snippet(server, card_text) -> {variable: rows}` for the card's load_dataset block."""
    return _run_card_snippet
