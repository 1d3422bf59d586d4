"""A small real release for the hardening tests: MMLU (3 subjects × 8 questions) from ../shared/data with
four slots (original, typos, a roman-numeral enumerator, reversed options), built by the real builder.

The corpus generator (`make_corpus.py`) and the fixtures build the same release, so the crafted files
under `corpus/` name its real example and slot ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

SUBJECTS = 3
PER_SUBJECT = 8
REF = "mmlu@1.0.0"
# The ids the build gives (checked by the `release` fixture), for strategies that are built at import.
EXAMPLE_IDS = tuple(f"mmlu-{i}" for i in range(SUBJECTS * PER_SUBJECT))
VARIANT_IDS = ("original", "typos-p0.05-r1", "enumerator-roman", "choice-order-reversed")
SLOT_SPEC = """\
name: hardening
description: one slot of each kind that matters here (text edit, relabelled options, reordered options)
slots:
  - perturbation: typos
    params: {p: 0.05}
    replicates: 1
  - perturbation: enumerator
    params: {scheme: roman}
  - perturbation: choice_order
    params: {mode: reversed}
"""


@dataclass(frozen=True)
class Release:
    public: Path
    labels: Path
    ref: str = REF


def build(shared_data: Path, root: Path) -> Release:
    """Build the release into `root` (public/ and labels/)."""
    from builder.release import build_release
    from builder.specs import load_spec

    root.mkdir(parents=True, exist_ok=True)
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
    return Release(root / "public", root / "labels")


def public_rows(release: Release) -> pd.DataFrame:
    """The release's public rows (inputs only), every config, in file order."""
    files = sorted(release.public.glob("*/*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def reference_rows(release: Release) -> list[dict]:
    """A full submission that never looks at a gold answer: row i answers option label i mod 4 of its
    own slot (so roughly a quarter is right), and four rows answer with spreadsheet-formula text, which
    the scorer must take as plain (wrong) answers."""
    rows = public_rows(release).sort_values(["example_id", "variant_id"], ignore_index=True)
    out = []
    for i, row in enumerate(rows.itertuples()):
        labels = list(row.choice_labels)
        out.append(
            {
                "example_id": row.example_id,
                "variant_id": row.variant_id,
                "prediction": labels[i % len(labels)],
            }
        )
    for row, formula in zip(out[:4], ["=cmd|' /C calc'!A0", "+A", "-1", "@SUM(A1)"], strict=True):
        row["prediction"] = formula
    return out


def write_predictions(path: Path, rows: list[dict]) -> Path:
    """Write prediction rows in the format the suffix names (.jsonl, .csv, .parquet)."""
    frame = pd.DataFrame(rows, columns=["example_id", "variant_id", "prediction"])
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path
