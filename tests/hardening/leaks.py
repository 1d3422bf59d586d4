"""A detector of hidden labels in any output, built so that it can fail.

The secret of a release is, for each (example_id, variant_id), which answer is right. Public rows
legitimately hold the ids next to every option and label, so "the gold label appears somewhere" means
nothing. What leaks a label is an output that singles out the right answer of a row it names:

* **a record** (a JSON object, a table row, a parquet/CSV row) naming an example id (and, when it has
  one, a variant id) and holding, as a whole value, that row's gold label or gold option text;
* **a record of per-example correctness**: an example id with a 0/1 value keyed by a slot name (the
  private `details` layout: with a public prediction it gives the gold answer away);
* **a line of text** (a log line, an error message, markdown) naming an example id and, within that
  line, one of that example's gold labels as a whole token or its gold option text.

`GoldIndex.controls()` returns outputs that do leak (the labels files decoded, labels as an endpoint
would return them as JSON, a log line printing a gold answer, a details file): the tests check the
detector finds every one before trusting it to find none anywhere else.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq


@dataclass
class GoldIndex:
    """Per-row secrets of a labels frame (example_id, variant_id, gold, choices, choice_labels)."""

    gold: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # (eid, vid) -> (label, text)
    by_example: dict[str, set[str]] = field(default_factory=dict)  # eid -> every gold label and text
    variants: set[str] = field(default_factory=set)
    pattern: re.Pattern | None = None

    @classmethod
    def of(cls, labels: pd.DataFrame) -> GoldIndex:
        index = cls()
        for row in labels.itertuples():
            choices, letters = list(row.choices), list(row.choice_labels)
            text = choices[letters.index(row.gold)]
            index.gold[(row.example_id, row.variant_id)] = (row.gold, text)
            index.by_example.setdefault(row.example_id, set()).update({row.gold, text})
            index.variants.add(row.variant_id)
        ids = sorted(index.by_example, key=len, reverse=True)
        index.pattern = re.compile(
            "(?<![A-Za-z0-9_-])(" + "|".join(map(re.escape, ids)) + ")(?![A-Za-z0-9_-])"
        )
        return index

    # ------------------------------------------------------------------------------- records
    def leaks_in_records(self, records: Iterable[dict[str, Any]], where: str) -> list[str]:
        found = []
        for record in records:
            scalars = {
                k: v for k, v in record.items() if isinstance(v, str | int | float | bool) or v is None
            }
            examples = [v for v in scalars.values() if isinstance(v, str) and v in self.by_example]
            for eid in examples:
                named = [v for v in scalars.values() if isinstance(v, str) and (eid, v) in self.gold]
                rows = named or [vid for (e, vid) in self.gold if e == eid]
                others = [v for k, v in scalars.items() if v not in (eid, *named)]
                for vid in rows:
                    label, text = self.gold[(eid, vid)]
                    if label in others or text in others:
                        found.append(f"{where}: record names {eid}/{vid} and holds its gold answer")
                correctness = [
                    k for k, v in scalars.items() if k in self.variants and v in (0, 1, True, False)
                ]
                if correctness:
                    found.append(f"{where}: record holds per-example correctness of {eid} ({correctness[0]})")
        return found

    # ---------------------------------------------------------------------------------- text
    def leaks_in_text(self, text: str, where: str) -> list[str]:
        found = []
        for line in text.splitlines():
            for match in self.pattern.finditer(line):
                eid = match.group(1)
                for secret in self.by_example[eid]:
                    if len(secret) <= 4:  # a label: only as a whole token
                        hit = re.search(
                            f"(?<![A-Za-z0-9_-]){re.escape(secret)}(?![A-Za-z0-9_-])", line[match.end() :]
                        )
                    else:
                        hit = secret in line
                    if hit:
                        found.append(
                            f"{where}: line names {eid} and holds one of its gold answers: {line[:160]!r}"
                        )
                        break
        return found

    # -------------------------------------------------------------------------------- values
    def leaks(self, value: Any, where: str) -> list[str]:
        """Leaks in any output: nested JSON-like values, text, or a file (by its content)."""
        found = []
        if isinstance(value, str):
            path = Path(value) if len(value) < 4096 and "\n" not in value else None
            if path is not None and path.is_absolute() and path.is_file():
                return self.leaks_in_file(path, where)
            parsed = _json(value)
            if parsed is not None:
                found += self.leaks(parsed, where)
            return found + self.leaks_in_text(value, where)
        records = list(_records(value))
        found += self.leaks_in_records(records, where)
        found += self.leaks_in_text(json.dumps(value, default=str, ensure_ascii=False, indent=1), where)
        return found

    def leaks_in_file(self, path: Path, where: str | None = None) -> list[str]:
        where = where or str(path)
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            frame = pq.read_table(path).to_pandas()
            records = frame.astype(object).where(frame.notna(), None).to_dict("records")
            return self.leaks_in_records(records, where)
        text = path.read_bytes().decode("utf-8", "replace")
        found = []
        if suffix == ".csv":
            found += self.leaks_in_records(csv.DictReader(io.StringIO(text)), where)
        parsed = _json(text)
        if parsed is not None:
            found += self.leaks_in_records(list(_records(parsed)), where)
        if suffix in (".jsonl",):
            for line in text.splitlines():
                found += self.leaks_in_records(list(_records(_json(line))), where)
        return found + self.leaks_in_text(text, where)

    # ------------------------------------------------------------------------------ controls
    def controls(self, labels_dir: Path, details: Path | None = None) -> dict[str, list[str]]:
        """Outputs that leak on purpose, and what the detector finds in each (every list must be full)."""
        rows = [
            {"example_id": e, "variant_id": v, "gold": g} for (e, v), (g, _) in list(self.gold.items())[:5]
        ]
        eid, vid = next(iter(self.gold))
        label, text = self.gold[(eid, vid)]
        out = {
            f"labels file {p.relative_to(labels_dir)}": self.leaks_in_file(p)
            for p in sorted(labels_dir.rglob("*.parquet"))
        }
        out["labels as an endpoint's JSON"] = self.leaks(json.dumps(rows), "endpoint")
        out["labels as a table value"] = self.leaks(
            {
                "headers": ["example_id", "variant_id", "answer"],
                "data": [[r["example_id"], r["variant_id"], r["gold"]] for r in rows],
            },
            "endpoint",
        )
        out["a log line printing a gold label"] = self.leaks_in_text(
            f"INFO scoring {eid} {vid}: expected {label}", "log"
        )
        out["an error naming the right option"] = self.leaks_in_text(
            f"row 3 ({eid}): the answer was {text!r}", "error"
        )
        if details is not None:
            out["a details file"] = self.leaks_in_file(details)
        return out


def _holds(line: str, secret: str, start: int) -> bool:
    """A short secret (a label like `C` or `iii`) as a whole token after the id; a long one anywhere."""
    if len(secret) > 4:
        return secret in line
    return re.search(f"(?<![A-Za-z0-9_-]){re.escape(secret)}(?![A-Za-z0-9_-])", line[start:]) is not None


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return None


def _records(value: Any) -> Iterator[dict[str, Any]]:
    """Every dict in a nested value, plus each row of a Gradio table value ({headers, data})."""
    if isinstance(value, dict):
        headers, data = value.get("headers"), value.get("data")
        if isinstance(headers, list) and isinstance(data, list):
            for row in data:
                if isinstance(row, list):
                    yield dict(zip(map(str, headers), row, strict=False))
        yield value
        for item in value.values():
            yield from _records(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _records(item)
