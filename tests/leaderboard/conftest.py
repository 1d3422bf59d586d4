"""Fixtures: hand-made result records (for the analysis unit tests) and a real results store.

The real store holds a small MMLU release built by `builder.release.build_release` from the shared
data, registered with its hidden labels, and submissions scored by the real worker. Predictions are
written per the contract by simulated models of known skill: the tests need results whose ordering
is known in advance, not a benchmark claim.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SLOT_SPEC = """\
name: leaderboard-tests
description: a few slots of different families, enough for per-slot, per-family and correlation views
slots:
  - perturbation: typos
    params: {p: 0.05}
    replicates: 1
  - perturbation: enumerator
    params: {scheme: roman}
  - perturbation: choice_order
    params: {mode: reversed}
"""
SUBJECTS = 5
PER_SUBJECT = 16
# name -> (skill, params_b, type); model-b and model-c are close on purpose (a tie group)
MODELS = {
    "acme/strong-70b": (2.5, 70.0, "instruction-tuned"),
    "acme/middle-13b": (0.9, 13.0, "fine-tuned"),
    "beta/middle-12b": (0.85, 12.0, "pretrained"),
    "beta/weak-1b": (-1.0, 1.0, "pretrained"),
}
RELEASE = "mmlu@1.0.0"


def record(
    sid: str,
    model: str,
    *,
    release: tuple[str, str] = ("bench", "1.0.0"),
    accuracy: float = 0.5,
    ci: tuple[float, float] = (0.4, 0.6),
    params_b: float | None = 7.0,
    model_type: str = "pretrained",
    scored_at: str = "2026-01-01T00:00:00.000000Z",
    tasks: dict[str, dict[str, float]] | None = None,
    families: dict[str, dict[str, float]] | None = None,
    slots: dict[str, tuple[str, float]] | None = None,
    metrics: dict[str, float] | None = None,
    link: str | None = "https://example.org/model",
    license_: str | None = "mit",
    submitter: str = "tester",
    revision: str = "main",
) -> dict:
    """A result record shaped like the scorer's (`results/<id>.json`, docs/architecture.md)."""
    values = {
        "accuracy": accuracy,
        "clean_accuracy": accuracy,
        "consistency": 0.8,
        "worst_case_accuracy": 0.3,
        "pdr": 0.05,
        "kappa": 0.2,
        "cps": accuracy,
        "maxp": accuracy + 0.05,
        "minp": accuracy - 0.05,
        "spread": 0.1,
        "cohens_h": -0.02,
        "correctness_agreement": 0.7,
        **(metrics or {}),
    }

    def block(entry: dict[str, float]) -> dict:
        merged = {**values, **entry}
        return {
            "metrics": dict(merged),
            "ci": {k: [None, None] if v is None else [v - 0.05, v + 0.05] for k, v in merged.items()},
            "baseline": {
                "consistency": {
                    "observed": merged["consistency"],
                    "independence": merged["consistency"] - 0.1,
                    "excess_independence": 0.1,
                    "excess_independence_ci": [0.05, 0.15],
                    "difficulty": merged["consistency"] - 0.02,
                    "excess_difficulty": 0.02,
                },
            },
            "n_examples": 10,
            "n_slots": 4,
        }

    top = block({})
    top["ci"]["accuracy"] = list(ci)
    slots = slots or {"original": ("original", accuracy), "typos-p0.05-r1": ("typos", accuracy - 0.02)}
    return {
        "submission_id": sid,
        "model": {
            "name": model,
            "revision": revision,
            "params_b": params_b,
            "type": model_type,
            "link": link,
            "license": license_,
            "submitter": submitter,
        },
        "release": {"name": release[0], "version": release[1], "content_hash": "c" * 64, "commit": None},
        "scorer_version": "test",
        "submission_sha256": "0" * 64,
        "scored_at": scored_at,
        "n_examples": 100,
        "n_slots": len(slots),
        "coverage": 1.0,
        **top,
        "per_slot": {slot: value for slot, (_, value) in sorted(slots.items())},
        "slots": [{"variant_id": slot, "family": family} for slot, (family, _) in slots.items()],
        "per_task": {task: block(entry) for task, entry in (tasks or {}).items()},
        "per_family": {family: block(entry) for family, entry in (families or {}).items()},
    }


@pytest.fixture
def make_record():
    return record


def _simulated_predictions(labels: pd.DataFrame, skill: float, seed: int) -> pd.DataFrame:
    """Answers of a simulated model: right with a logistic probability of skill − item difficulty,
    otherwise (mostly) its favourite wrong option, named by content so it stays the same option
    when a slot reorders or relabels the choices."""
    rng = np.random.default_rng(seed)
    examples = labels["example_id"].unique()
    difficulty = dict(zip(examples, np.random.default_rng(0).normal(size=len(examples)), strict=True))
    favourite: dict[str, int] = {}
    rows = []
    for row in labels.itertuples():
        choices = list(row.choices)
        labels_here = list(row.choice_labels)
        gold = labels_here.index(row.gold)
        if row.example_id not in favourite:
            favourite[row.example_id] = int(rng.integers(0, len(choices) - 1))
        wrong = [c for i, c in enumerate(choices) if i != gold]
        p_right = 1 / (1 + np.exp(-(skill - difficulty[row.example_id])))
        if rng.random() < p_right:
            answer = row.gold
        else:
            content = (
                wrong[favourite[row.example_id]] if rng.random() < 0.7 else wrong[rng.integers(len(wrong))]
            )
            answer = labels_here[choices.index(content)]
        rows.append({"example_id": row.example_id, "variant_id": row.variant_id, "prediction": answer})
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def release_dirs(shared_data: Path, tmp_path_factory) -> dict[str, Path]:
    """A small real MMLU release (5 subjects × 16 questions × 4 slots) and its private labels."""
    from builder.release import build_release
    from builder.specs import load_spec

    root = tmp_path_factory.mktemp("release")
    rows = [
        json.loads(line)
        for line in (shared_data / "mmlu" / "test.jsonl").read_text("utf-8").split("\n")
        if line
    ]
    subjects = sorted({r["subject"] for r in rows})[:SUBJECTS]
    subset = [r for s in subjects for r in [r for r in rows if r["subject"] == s][:PER_SUBJECT]]
    source = root / "mmlu_subset.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in subset), "utf-8")
    (root / "slots.yaml").write_text(SLOT_SPEC, "utf-8")
    spec = load_spec("mmlu").with_data_files({"test": str(source)})
    build_release(
        spec,
        root / "public",
        root / "labels",
        version="1.0.0",
        release_spec=str(root / "slots.yaml"),
        log=lambda _: None,
        progress=False,
    )
    return {"public": root / "public", "labels": root / "labels", "root": root}


def _populate(
    store_dir: Path, release_dirs: dict[str, Path], work: Path, models: dict = MODELS
) -> dict[str, str]:
    """Register the release in a store and submit + score the simulated models; name -> submission id."""
    from submissions.formats import read_labels
    from submissions.store import open_store

    store = open_store(str(store_dir))
    store.register_release(str(release_dirs["public"]), str(release_dirs["labels"]))
    labels = read_labels(release_dirs["labels"])
    ids = {}
    for seed, (name, (skill, params_b, model_type)) in enumerate(models.items()):
        path = work / f"{name.replace('/', '__')}.jsonl"
        _simulated_predictions(labels, skill, seed).to_json(path, orient="records", lines=True)
        request = store.submit(
            path,
            release=RELEASE,
            submitter="tests",
            model={
                "name": name,
                "revision": "main",
                "params_b": params_b,
                "type": model_type,
                "link": f"https://huggingface.co/{name}",
                "license": "apache-2.0",
            },
        )
        ids[name] = request["submission_id"]
    store.run_pending(n_resamples=200)
    return ids


@pytest.fixture(scope="session")
def scored_store(release_dirs, tmp_path_factory) -> dict:
    """A results store with the release registered and four scored submissions (read-only: copy it
    before submitting to it)."""
    root = tmp_path_factory.mktemp("store")
    ids = _populate(root / "store", release_dirs, root)
    return {"path": root / "store", "ids": ids, "release": RELEASE}


@pytest.fixture
def store_copy(scored_store, tmp_path) -> Path:
    import shutil

    target = tmp_path / "store"
    shutil.copytree(scored_store["path"], target)
    return target


@pytest.fixture
def labels_frame(release_dirs) -> pd.DataFrame:
    from submissions.formats import read_labels

    return read_labels(release_dirs["labels"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def running_app(scored_store, release_dirs, tmp_path_factory):
    """The app served in-process on a free loopback port over a private copy of the scored store, with
    its background scorer running; yields (url, board, store path, release dirs)."""
    import shutil

    from leaderboard.app import launch
    from leaderboard.board import Board, Settings

    store = tmp_path_factory.mktemp("app") / "store"
    shutil.copytree(scored_store["path"], store)
    board = Board.open(Settings.from_env({}, store=str(store), refresh_seconds=2, correlation_resamples=200))
    port = _free_port()
    demo = launch(board, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield {
            "url": f"http://127.0.0.1:{port}/",
            "board": board,
            "store": store,
            "release_dirs": release_dirs,
        }
    finally:
        demo.close()
        board.stop()


@pytest.fixture
def simulated_predictions():
    return _simulated_predictions


@pytest.fixture
def populate():
    return _populate
