"""Small release folders written by hand in the layout of docs/architecture.md.

Baselines read only public release files, so a test can write a tiny release whose answers it knows
(the gold stays in the test, as the hidden labels would) and check what a model predicts per slot.
Tests on releases built by `builder.release.build_release` from ../shared/data live beside these.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from robustboard.hashing import sha256_file

ROMAN = ["i", "ii", "iii", "iv", "v"]
UPPER = ["A", "B", "C", "D", "E"]


def mc_row(example_id, variant_id, family, question, choices, labels=None, task="toy"):
    labels = list(labels or UPPER[: len(choices)])
    lines = "\n".join(f"{label}. {choice}" for label, choice in zip(labels, choices, strict=True))
    return {
        "example_id": example_id,
        "variant_id": variant_id,
        "family": family,
        "params": "{}",
        "task": task,
        "question": question,
        "choices": list(choices),
        "choice_labels": labels,
        "prompt": f"{question}\n{lines}\nAnswer:",
    }


def cls_row(example_id, variant_id, family, text, label_names, task="toy", text_pair=None):
    return {
        "example_id": example_id,
        "variant_id": variant_id,
        "family": family,
        "params": "{}",
        "task": task,
        "text": text,
        "text_pair": text_pair,
        "label_names": list(label_names),
        "prompt": f"Classify the text.\nText: {text}\nLabels: {', '.join(label_names)}\nAnswer:",
    }


MC_SCHEMA = pa.schema(
    [
        ("example_id", pa.string()),
        ("variant_id", pa.string()),
        ("family", pa.string()),
        ("params", pa.string()),
        ("task", pa.string()),
        ("question", pa.string()),
        ("choices", pa.list_(pa.string())),
        ("choice_labels", pa.list_(pa.string())),
        ("prompt", pa.string()),
    ]
)
CLS_SCHEMA = pa.schema(
    [
        ("example_id", pa.string()),
        ("variant_id", pa.string()),
        ("family", pa.string()),
        ("params", pa.string()),
        ("task", pa.string()),
        ("text", pa.string()),
        ("text_pair", pa.string()),
        ("label_names", pa.list_(pa.string())),
        ("prompt", pa.string()),
    ]
)


def variants_of(rows: Sequence[dict], family: str) -> list[str]:
    return list(dict.fromkeys(r["variant_id"] for r in rows if r["family"] == family))


def write_release(
    root: Path,
    task_type: str,
    rows: Sequence[dict],
    *,
    name: str = "toy",
    split: str = "test",
    spec: dict | None = None,
    source: dict | None = None,
) -> Path:
    """Write `rows` as a release folder: one parquet file per family, and a manifest listing them."""
    root.mkdir(parents=True, exist_ok=True)
    schema = MC_SCHEMA if task_type == "multiple_choice" else CLS_SCHEMA
    families = list(dict.fromkeys(r["family"] for r in rows))
    files = {}
    for family in families:
        relative = f"{family}/{split}-00000-of-00001.parquet"
        (root / family).mkdir(exist_ok=True)
        table = pa.Table.from_pylist([r for r in rows if r["family"] == family], schema=schema)
        pq.write_table(table, root / relative)
        files[relative] = sha256_file(root / relative)
    (root / "README.md").write_text("---\nconfigs: []\n---\n# toy\n", "utf-8")
    files["README.md"] = sha256_file(root / "README.md")
    manifest = {
        "name": name,
        "version": "1.0.0",
        "task_type": task_type,
        "split": split,
        "source": source or {},
        "spec": spec or {"name": name, "task": task_type},
        "configs": {f: variants_of(rows, f) for f in families},
        "files": files,
    }
    (root / "manifest.json").write_text(json.dumps(manifest, sort_keys=True, indent=2), "utf-8")
    return root
