"""The public side of a release, as a baseline sees it, and the predictions file it writes.

A baseline opens a release folder through `open_release`, which reads `manifest.json` and the
parquet files the manifest lists (never anything under a labels folder), and reads only the columns
it needs, as one Arrow table over every config: list columns (`choices`, `choice_labels`,
`label_names`) stay Arrow lists so that models can flatten them into option arrays without a Python
object per cell.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from robustboard.atomic import atomic_path

KEY_COLUMNS = ("example_id", "variant_id")
TASK_COLUMNS = {
    "multiple_choice": ("question", "choices", "choice_labels"),
    "classification": ("text", "text_pair", "label_names"),
}
PREDICTION_FORMATS = (".jsonl", ".csv", ".parquet")


class BaselineError(ValueError):
    """A problem with the user's input or environment, said in one line (the CLI exits 2 on it)."""


@dataclass(frozen=True)
class Release:
    path: Path
    manifest: dict[str, Any]
    files: tuple[Path, ...]  # the public parquet files, in the manifest's (sorted) order

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.path.name))

    @property
    def version(self) -> str:
        return str(self.manifest.get("version", ""))

    @property
    def task_type(self) -> str:
        return self.manifest["task_type"]

    @property
    def split(self) -> str:
        return str(self.manifest.get("split", ""))

    def table(self, columns: Sequence[str]) -> pa.Table:
        """The named columns of every public row, one table over all configs."""
        tables = []
        for file in self.files:
            schema = pq.read_schema(file)
            missing = [c for c in columns if c not in schema.names]
            if missing:
                raise BaselineError(
                    f"release {self.path}: {file.relative_to(self.path)} has no column {missing[0]!r} "
                    f"(a {self.task_type} row has {', '.join(KEY_COLUMNS + TASK_COLUMNS[self.task_type])})"
                )
            tables.append(pq.read_table(file, columns=list(columns)))
        return pa.concat_tables(tables).combine_chunks()


def open_release(path: str | os.PathLike) -> Release:
    """Open a release folder written by `robustboard build`; every problem is one BaselineError."""
    root = Path(path)
    manifest_path = root / "manifest.json"
    if not root.is_dir():
        raise BaselineError(f"release {root}: no such folder (expected one written by `robustboard build`)")
    if not manifest_path.is_file():
        raise BaselineError(f"release {root}: no manifest.json (is this a release folder?)")
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BaselineError(f"release {root}: manifest.json is not readable JSON ({err})") from None
    if not isinstance(manifest, dict):
        raise BaselineError(f"release {root}: manifest.json must hold a JSON object")
    task_type = manifest.get("task_type")
    if task_type not in TASK_COLUMNS:
        raise BaselineError(
            f"release {root}: manifest.json field 'task_type' must be one of {', '.join(TASK_COLUMNS)}, "
            f"got {task_type!r}"
        )
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        raise BaselineError(f"release {root}: manifest.json field 'files' must map relative paths to sha256")
    files = tuple(root / name for name in sorted(listed) if name.endswith(".parquet"))
    if not files:
        raise BaselineError(f"release {root}: manifest.json field 'files' lists no parquet file")
    for file in files:
        if not file.is_file():
            missing = file.relative_to(root)
            raise BaselineError(f"release {root}: {missing} is listed in manifest.json but missing")
    return Release(path=root, manifest=manifest, files=files)


def predictions_frame(keys: pa.Table, predictions: Sequence[str] | pa.Array) -> pd.DataFrame:
    """The submission rows: the release's keys with one prediction string each."""
    prediction = predictions if isinstance(predictions, pa.Array) else pa.array(predictions, pa.string())
    if len(prediction) != keys.num_rows:
        raise ValueError(f"{len(prediction)} predictions for {keys.num_rows} rows")
    columns = {"example_id": keys["example_id"], "variant_id": keys["variant_id"]}
    table = pa.table({**columns, "prediction": prediction.cast(pa.string())})
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def check_output_path(path: str | os.PathLike) -> Path:
    """Refuse an output name whose format is unknown before any work is done, not after."""
    path = Path(path)
    if path.suffix not in PREDICTION_FORMATS:
        raise BaselineError(
            f"--out {path}: unknown predictions format {path.suffix or '(no suffix)'!r}; "
            f"use one of {', '.join(PREDICTION_FORMATS)}"
        )
    return path


def write_predictions(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a predictions file atomically; the format follows the suffix (.jsonl, .csv, .parquet)."""
    path = check_output_path(path)
    table = pa.Table.from_pandas(frame[["example_id", "variant_id", "prediction"]], preserve_index=False)
    table = table.cast(pa.schema([(name, pa.string()) for name in table.column_names]))
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            pq.write_table(table, tmp)
        elif path.suffix == ".csv":
            pacsv.write_csv(table, tmp)
        else:
            frame = table.to_pandas()
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
    return path
