"""Fixtures for the submissions tests: hand-made labels in the contract's format (docs/architecture.md)
and small release + labels folders with manifests, so the scorer and the store can be tested without
building a real release (the end-to-end test builds one from ../shared/data)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from robustboard.atomic import dumps_json
from robustboard.hashing import sha256_bytes, sha256_file

LETTERS = ["A", "B", "C", "D"]
ROMAN = ["i", "ii", "iii", "iv"]


def _mc_labels(
    examples: Sequence[tuple[str, str, Sequence[str], int]],
    slots: Sequence[tuple[str, str, Sequence[str], Sequence[int] | None]],
) -> pd.DataFrame:
    """Label rows for multiple choice.

    `examples`: (example_id, task, option texts in source order, gold position in source order).
    `slots`: (variant_id, family, that slot's labels, option order as source positions or None).
    """
    rows = []
    for example_id, task, options, gold in examples:
        for variant_id, family, labels, order in slots:
            order = list(range(len(options))) if order is None else list(order)
            rows.append(
                {
                    "example_id": example_id,
                    "variant_id": variant_id,
                    "gold": labels[order.index(gold)],
                    "task": task,
                    "family": family,
                    "choice_labels": list(labels[: len(options)]),
                    "choices": [options[j] for j in order],
                }
            )
    return pd.DataFrame(rows)


def _predictions(rows: Sequence[tuple[str, str, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["example_id", "variant_id", "prediction"])


def write_labels_folder(labels: pd.DataFrame, folder: Path, *, split: str = "test") -> dict[str, str]:
    """Write labels as the builder does (`<family>/<split>-00000-of-00001.parquet`); return file hashes."""
    hashes = {}
    for family, part in labels.groupby("family", sort=True):
        relative = f"{family}/{split}-00000-of-00001.parquet"
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        columns = [
            c for c in ("example_id", "variant_id", "gold", "task", "choice_labels", "choices") if c in part
        ]
        pq.write_table(pa.Table.from_pandas(part[columns], preserve_index=False), path)
        hashes[relative] = sha256_file(path)
    return hashes


def _digest(hashes: dict[str, str]) -> str:
    return sha256_bytes("".join(f"{p}\t{d}\n" for p, d in sorted(hashes.items())).encode())


@pytest.fixture
def make_release(tmp_path: Path) -> Callable[..., tuple[Path, Path]]:
    """Write a (public release, labels) folder pair with manifests for `labels`; return both paths.

    The public folder holds the inputs without gold (here only the manifest and one parquet per
    family with the public key columns): enough for the store, which reads the manifest only.
    """

    def make(
        labels: pd.DataFrame, *, name: str = "toy", version: str = "1.0.0", salt: str = ""
    ) -> tuple[Path, Path]:
        public = tmp_path / f"{name}-{version}{salt}-release"
        private = tmp_path / f"{name}-{version}{salt}-labels"
        label_hashes = write_labels_folder(labels, private)
        files = {}
        for family, part in labels.groupby("family", sort=True):
            relative = f"{family}/test-00000-of-00001.parquet"
            (public / family).mkdir(parents=True, exist_ok=True)
            table = part[["example_id", "variant_id", "family", "task", "choices", "choice_labels"]].copy()
            table["salt"] = salt
            pq.write_table(pa.Table.from_pandas(table, preserve_index=False), public / relative)
            files[relative] = sha256_file(public / relative)
        card = ["---", "configs:"]
        for family in sorted(labels["family"].unique()):
            card += [
                f"- config_name: {family}",
                "  data_files:",
                "  - split: test",
                f"    path: {family}/test-*",
            ]
        (public / "README.md").write_text("\n".join([*card, "---", f"# {name} v{version}", ""]))
        files["README.md"] = sha256_file(public / "README.md")
        slots = labels.drop_duplicates("variant_id")[["variant_id", "family"]].to_dict("records")
        configs: dict[str, list[str]] = {}
        for slot in slots:
            configs.setdefault(slot["family"], []).append(slot["variant_id"])
        manifest = {
            "name": name,
            "version": version,
            "task_type": "multiple_choice",
            "split": "test",
            "slots": [{**s, "params": {}, "description": ""} for s in slots],
            "configs": configs,
            "counts": {
                "examples": labels["example_id"].nunique(),
                "slots": len(slots),
                "rows": len(labels),
                "tasks": labels["task"].nunique(),
            },
            "files": files,
            "labels_sha256": _digest(label_hashes),
            "content_hash": _digest(files),
            "builder_version": "test",
        }
        (public / "manifest.json").write_text(dumps_json(manifest))
        labels_manifest = {
            "name": name,
            "version": version,
            "task_type": "multiple_choice",
            "content_hash": manifest["content_hash"],
            "labels_sha256": manifest["labels_sha256"],
            "configs": configs,
            "files": label_hashes,
        }
        (private / "manifest.json").write_text(json.dumps(labels_manifest))
        return public, private

    return make


TOY_OPTIONS = {
    "q1": ["Paris", "London", "Rome", "Berlin"],
    "q2": ["red", "green", "blue", "yellow"],
    "q3": ["one", "two", "three", "four"],
    "q4": ["cat", "dog", "cow", "hen"],
}


@pytest.fixture
def toy_labels() -> pd.DataFrame:
    """4 questions × 4 slots: original, a typos slot, a roman-numeral enumerator, reversed options."""
    examples = [
        ("q1", "geography", TOY_OPTIONS["q1"], 0),
        ("q2", "colours", TOY_OPTIONS["q2"], 2),
        ("q3", "numbers", TOY_OPTIONS["q3"], 1),
        ("q4", "animals", TOY_OPTIONS["q4"], 3),
    ]
    slots = [
        ("original", "original", LETTERS, None),
        ("typos-p0.05-r1", "typos", LETTERS, None),
        ("enumerator-roman", "enumerator", ROMAN, None),
        ("choice-order-reversed", "choice_order", LETTERS, [3, 2, 1, 0]),
    ]
    return _mc_labels(examples, slots)


def _gold_predictions(labels: pd.DataFrame) -> pd.DataFrame:
    """A perfect submission: every slot answered with its own gold label."""
    return _predictions(list(zip(labels["example_id"], labels["variant_id"], labels["gold"], strict=True)))


# The helpers are handed out as fixtures (not imported) so the tests work in any pytest import mode.
@pytest.fixture
def mc_labels():
    return _mc_labels


@pytest.fixture
def predictions():
    return _predictions


@pytest.fixture
def gold_predictions():
    return _gold_predictions
