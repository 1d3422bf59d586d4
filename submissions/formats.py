"""Readers for the scorer's inputs: hidden labels, predictions, and lm-evaluation-harness sample logs.

Every reader returns a pandas DataFrame backed by Arrow (`pd.ArrowDtype`), so that a million label
rows with list columns (`choices`, `choice_labels`) are read without building a Python object per
cell; the scorer hands the columns straight back to `pyarrow.compute`.

Predictions carry a `_where` column (1-based line or row number in the file, plus `_file` for
multi-file lm-eval input) so that validation can say *where* a problem is; `df.attrs["format"]` is
`jsonl`, `csv`, `parquet` or `lm-eval`, and `df.attrs["unit"]` is `line` or `row`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq

from submissions.limits import Limits, current
from submissions.validation import Problems

KEY_COLUMNS = ("example_id", "variant_id")
PREDICTION_COLUMNS = ("example_id", "variant_id", "prediction")
LABEL_COLUMNS = ("example_id", "variant_id", "gold")
LIST_COLUMNS = ("choice_labels", "choices", "label_names")
OPTIONAL_LABEL_COLUMNS = ("task", "family", *LIST_COLUMNS)
FORMATS = ("jsonl", "csv", "parquet", "lm-eval")

_STRING_SCHEMA = pa.schema([(name, pa.string()) for name in PREDICTION_COLUMNS])
_UTF8_BOM = b"\xef\xbb\xbf"
# Byte-order marks of encodings that are not UTF-8: named in the error instead of a parse failure.
_OTHER_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_PARQUET_BATCH_ROWS = 65_536
# Parsing failures of hostile files end as one problem of the file, never as a crash: Arrow's own
# errors, OS errors, text that is not UTF-8 (a ValueError), JSON nested deeper than the parser's stack.
_READ_ERRORS = (pa.ArrowException, OSError, ValueError, RecursionError, MemoryError)


# --------------------------------------------------------------------------------------------- labels


def read_labels(path: str | os.PathLike) -> pd.DataFrame:
    """Read hidden labels: a labels folder (every parquet file below it) or one JSONL/CSV/parquet file.

    In a folder written by the builder (`<config>/<split>-00000-of-00001.parquet`) the top-level
    folder name is the perturbation family, added as column `family` when the files lack one.
    """
    path = Path(path)
    what = f"labels {path}"
    problems = Problems(what)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.parquet") if not any(s.startswith(".") for s in p.parts))
        if not files:
            problems.add(str(path), "no parquet files in the labels folder")
            problems.raise_if_any()
        tables = []
        for file in files:
            table = _read_table(file, "parquet", problems, LABEL_COLUMNS)
            if table is None:
                continue
            relative = file.relative_to(path)
            if "family" not in table.column_names and len(relative.parts) > 1:
                table = table.append_column(
                    "family", pa.array([relative.parts[0]] * table.num_rows, pa.string())
                )
            tables.append(table)
        problems.raise_if_any()
        table = pa.concat_tables(tables, promote_options="permissive")
    elif path.is_file():
        table = _read_table(path, _format_of(path), problems, LABEL_COLUMNS)
        problems.raise_if_any()
        for name in LIST_COLUMNS:
            if name in table.column_names and pa.types.is_string(table.schema.field(name).type):
                table = _parse_json_lists(table, name, problems)
        problems.raise_if_any()
    else:
        problems.add(str(path), "no such file or folder")
        problems.raise_if_any()
    keep = [c for c in (*LABEL_COLUMNS, *OPTIONAL_LABEL_COLUMNS) if c in table.column_names]
    table = table.select(keep)
    for name in ("example_id", "variant_id", "gold", "task", "family"):
        if name in table.column_names:
            table = table.set_column(
                table.column_names.index(name), name, pc.cast(table.column(name), pa.string())
            )
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def _parse_json_lists(table: pa.Table, name: str, problems: Problems) -> pa.Table:
    """CSV has no list type: list columns are written as JSON arrays (`["A", "B"]`)."""
    values = table.column(name).to_pylist()
    parsed: list[list[str] | None] = []
    for row, value in enumerate(values, start=1):
        if value is None or value == "":
            parsed.append(None)
            continue
        try:
            item = json.loads(value)
        except json.JSONDecodeError:
            item = None
        if not isinstance(item, list):
            problems.add(f"row {row}, column {name}", "is not a JSON list of strings")
            parsed.append(None)
            continue
        parsed.append([str(x) for x in item])
    index = table.column_names.index(name)
    return table.set_column(index, name, pa.array(parsed, pa.list_(pa.string())))


# ---------------------------------------------------------------------------------------- predictions


def read_predictions(
    path: str | os.PathLike, *, format: str | None = None, limits: Limits | None = None
) -> pd.DataFrame:
    """Read predictions: JSONL, CSV, parquet, lm-eval `samples_<task>_<time>.jsonl`, or a folder of those.

    `format` overrides detection (the store keeps raw files under their sha256, without a suffix).
    Raises ValidationError listing every problem (bad JSON lines, missing columns, empty files, text
    that is not UTF-8), and for a file over the size or row limits (`limits`, default
    `submissions.limits.current()`): whatever a stranger uploads ends in a clear error, not a crash.
    """
    path = Path(path)
    limits = limits or current()
    what = f"predictions {path.name}"
    problems = Problems(what, limits.max_problems)
    if path.is_dir():
        files = sorted(path.rglob("samples_*.jsonl"))
        if not files:
            problems.add(str(path), "the folder has no lm-eval samples_<task>_<time>.jsonl files")
            problems.raise_if_any()
        _check_size(path.name, sum(f.stat().st_size for f in files), limits, problems)
        return _read_lmeval(files, problems, root=path, limits=limits)
    if not path.is_file():
        problems.add(str(path), "no such file")
        problems.raise_if_any()
    _check_size(path.name, path.stat().st_size, limits, problems)
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        problems.add(path.name, f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
        problems.raise_if_any()
    if fmt == "lm-eval":
        return _read_lmeval([path], problems, root=path.parent, limits=limits)
    table = _read_table(path, fmt, problems, PREDICTION_COLUMNS, limits=limits)
    problems.raise_if_any()
    where = np.asarray(table.column("_where")) if "_where" in table.column_names else None
    table = table.select(list(PREDICTION_COLUMNS))
    columns = {}
    for name in PREDICTION_COLUMNS:
        column = table.column(name)
        if not pa.types.is_string(column.type):
            # integers (an option index), dictionary-encoded text (pandas categories), large strings
            try:
                column = pc.cast(column, pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                problems.add(f"column {name}", f"must hold text, not {column.type}")
                continue
        columns[name] = column
    problems.raise_if_any()
    frame = pa.table(columns).to_pandas(types_mapper=pd.ArrowDtype)
    frame["_where"] = np.arange(1, len(frame) + 1) if where is None else where
    # the file's name, not its path: messages are public, server paths are not
    frame.attrs.update(format=fmt, unit="line" if fmt == "jsonl" else "row", source=path.name)
    return frame


def check_size(path: str | os.PathLike, limits: Limits | None = None) -> None:
    """Raise ValidationError when a predictions file (or lm-eval folder) is over the size limit: checked
    before a byte of it is read into memory."""
    path = Path(path)
    limits = limits or current()
    if path.is_dir():
        size = sum(f.stat().st_size for f in path.rglob("samples_*.jsonl"))
    elif path.is_file():
        size = path.stat().st_size
    else:
        return  # the reader names the missing file
    _check_size(path.name, size, limits, Problems(f"predictions {path.name}", limits.max_problems))


def _check_size(name: str, size: int, limits: Limits, problems: Problems) -> None:
    if size > limits.max_file_bytes:
        problems.add(
            name,
            f"the file is {size / 2**20:,.1f} MB; the limit is {limits.max_file_mb:g} MB per submission "
            f"(set by {limits.describe('max_file_mb')})",
        )
        problems.raise_if_any()


def _check_rows(name: str, rows: int, limits: Limits | None, problems: Problems, unit: str = "rows") -> bool:
    """True when `rows` is within the row limit; else one problem naming the limit."""
    if limits is None or rows <= limits.max_rows:
        return True
    problems.add(
        name,
        f"the file has {rows:,} {unit}; the limit is {limits.max_rows:,} per submission "
        f"(set by {limits.describe('max_rows')})",
    )
    return False


def _encoding_problem(data: bytes) -> str | None:
    """A message when the bytes start with the byte-order mark of an encoding other than UTF-8, or look
    like UTF-16 without one (every other byte of the first characters is NUL)."""
    for bom, name in _OTHER_BOMS:
        if data.startswith(bom):
            return f"the file is {name} text; save it as UTF-8"
    head = data[:64]
    if len(head) >= 8 and (head[1::2].count(0) == len(head[1::2]) or head[0::2].count(0) == len(head[0::2])):
        return "the file looks like UTF-16 text (every other byte is NUL); save it as UTF-8"
    return None


def _json_problem(err: json.JSONDecodeError) -> str:
    return f"is not valid JSON ({err.msg.removesuffix(' at')}, column {err.colno})"


def _utf8_problem(err: UnicodeDecodeError) -> str:
    byte = f"byte 0x{err.object[err.start]:02x} at position {err.start + 1}"
    return f"is not UTF-8 text ({byte}); save the file as UTF-8"


def detect_format(path: str | os.PathLike) -> str:
    """From the suffix; a JSONL file is lm-eval when named `samples_*` or its first record looks like one."""
    path = Path(path)
    fmt = _format_of(path)
    if fmt == "jsonl" and (path.name.startswith("samples_") or _looks_like_lmeval(path)):
        return "lm-eval"
    return fmt


def submission_bytes(path: str | os.PathLike) -> tuple[bytes, str]:
    """The bytes the store keeps for a submission, and their format.

    A file is kept byte for byte. lm-eval writes one samples file per task; a folder of them is
    kept as their concatenation in sorted path order, which is itself a valid samples file (each
    line names its example and slot in `doc`), so the stored raw object is still one file.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.rglob("samples_*.jsonl"))
        if not files:
            problems = Problems(f"predictions {path.name}")
            problems.add(str(path), "the folder has no lm-eval samples_<task>_<time>.jsonl files")
            problems.raise_if_any()
        parts = []
        for file in files:
            data = file.read_bytes()
            parts.append(data if data.endswith(b"\n") or not data else data + b"\n")
        return b"".join(parts), "lm-eval"
    if not path.is_file():
        problems = Problems(f"predictions {path.name}")
        problems.add(str(path), "no such file")
        problems.raise_if_any()
    return path.read_bytes(), detect_format(path)


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix in (".csv",):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    return suffix.lstrip(".") or "unknown"


def _looks_like_lmeval(path: Path) -> bool:
    """Whether the first non-blank line (read up to 1 MB) is an lm-eval sample record."""
    with open(path, "rb") as fh:
        for _ in range(1000):
            raw = fh.readline(1 << 20)
            if not raw:
                return False
            if raw.strip():
                try:
                    record = json.loads(raw.removeprefix(_UTF8_BOM).decode("utf-8"))
                except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested too deeply
                    return False
                return isinstance(record, dict) and "doc_id" in record and "filtered_resps" in record
    return False


def _read_table(
    path: Path, fmt: str, problems: Problems, required: tuple[str, ...], *, limits: Limits | None = None
) -> pa.Table | None:
    """Read one JSONL/CSV/parquet file into Arrow; every problem goes to `problems`.

    `limits` is given for a submission (untrusted bytes): it bounds the rows read, and Arrow's parsers
    run on the file only in a child process (`submissions.sandbox`). The hidden labels are the
    server's own files and are read in process.
    """
    where = str(path.name)
    if fmt not in ("jsonl", "csv", "parquet"):
        problems.add(where, f"unsupported file type {path.suffix!r}; use .jsonl, .csv or .parquet")
        return None
    if path.stat().st_size == 0:
        problems.add(where, "the file is empty")
        return None
    try:
        if fmt == "jsonl":
            table = _read_jsonl(path, problems, required, limits)
        elif limits is not None:
            table = _parse_isolated(path, fmt, problems, required, limits)
        else:
            table = _parse(path, fmt, problems, required, limits)
    except _READ_ERRORS as err:
        problems.add(where, f"cannot be read as {fmt}: {_read_error(err)}")
        return None
    if table is None:
        return None
    if table.num_rows == 0:
        problems.add(where, "the file has no rows")
        return None
    names = table.column_names
    if not _check_columns(where, names, required, problems):
        return None
    if not _check_rows(where, table.num_rows, limits, problems):
        return None
    unit = "line" if fmt == "jsonl" else "row"
    for name in required:
        column = _as_text(table.column(name), f"column {name}", problems)
        if column is None:
            continue
        table = table.set_column(names.index(name), name, column)
        if name == "prediction":
            continue  # an empty prediction is a missing answer, counted as wrong, not an error
        empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(column), ""), True)
        positions = np.flatnonzero(np.asarray(empty))
        if len(positions):
            locations = [f"{unit} {n}, column {name}" for n in _numbers(table, positions[: problems.limit])]
            problems.add_rows(locations, "is empty", total=len(positions))
    return None if problems else table


def _parse(
    path: Path, fmt: str, problems: Problems, required: tuple[str, ...], limits: Limits | None
) -> pa.Table | None:
    """Parse a CSV or parquet file with Arrow; a file Arrow refuses is one problem."""
    try:
        if fmt == "parquet":
            table = _read_parquet(path, problems, required, limits)
        else:
            table = _read_csv(path, problems, required, limits)
        if table is not None:
            table.validate(full=True)  # e.g. parquet strings that are not UTF-8
    except _READ_ERRORS as err:
        problems.add(path.name, f"cannot be read as {fmt}: {_read_error(err)}")
        return None
    return table


def _parse_in_child(
    path: str, fmt: str, required: list[str], limits: dict[str, Any]
) -> tuple[list, pa.Table | None]:
    """`_parse` in the sandbox's child (JSON in, JSON out): problems travel back as [location, message]."""
    settings = Limits(**limits)
    problems = Problems(f"predictions {Path(path).name}", settings.max_problems)
    table = _parse(Path(path), fmt, problems, tuple(required), settings)
    items = [[p.location, p.message] for p in problems.items]
    return [items, problems.count], (None if problems else table)


def _parse_isolated(
    path: Path, fmt: str, problems: Problems, required: tuple[str, ...], limits: Limits
) -> pa.Table | None:
    from submissions import sandbox

    try:
        (items, count), table = sandbox.run(
            _parse_in_child, str(path), fmt, list(required), asdict(limits), timeout=limits.scoring_timeout
        )
    except sandbox.ParserCrashed:
        problems.add(
            path.name, f"cannot be read as {fmt}: the file crashed the {fmt} parser (corrupt or crafted)"
        )
        return None
    except sandbox.ParserTimeout:
        problems.add(
            path.name,
            f"cannot be read as {fmt} within {limits.scoring_timeout:g} s "
            f"({limits.describe('scoring_timeout')})",
        )
        return None
    for location, message in items:
        problems.add(location, message)
    problems.more(count - len(items))
    return table


def _check_columns(where: str, names: list[str], required: tuple[str, ...], problems: Problems) -> bool:
    """Every required column present, and no column twice (which one would be meant?)."""
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.add(f"{where}, column {name}", f"appears {names.count(name)} times")
    missing = [c for c in required if c not in names]
    for name in missing:
        problems.add(f"{where}, column {name}", "is missing (columns present: " + _column_list(names) + ")")
    return not missing and len(set(names)) == len(names)


def _as_text(column: pa.ChunkedArray, where: str, problems: Problems) -> pa.ChunkedArray | None:
    """The column as UTF-8 strings: text, numbers (an option index), categories, bytes that are UTF-8."""
    if pa.types.is_string(column.type):
        return column
    if not (
        pa.types.is_large_string(column.type)
        or pa.types.is_string_view(column.type)
        or pa.types.is_integer(column.type)
        or pa.types.is_floating(column.type)
        or pa.types.is_dictionary(column.type)
        or pa.types.is_binary(column.type)
        or pa.types.is_large_binary(column.type)
        or pa.types.is_null(column.type)
    ):
        problems.add(where, f"must hold text, not {column.type}")
        return None
    try:
        return pc.cast(column, pa.string())
    except _READ_ERRORS as err:
        problems.add(where, f"must hold UTF-8 text ({_read_error(err)})")
        return None


def _column_list(names: list[str], shown: int = 20) -> str:
    text = ", ".join(repr(n)[1:-1][:60] for n in names[:shown])
    return text + (f", ... ({len(names)} columns)" if len(names) > shown else "")


def _read_error(err: BaseException) -> str:
    """One line about why a file could not be parsed (never a traceback)."""
    if isinstance(err, UnicodeDecodeError) or "UTF8" in str(err) or "UTF-8" in str(err):
        return "the text is not UTF-8; save the file as UTF-8"
    if isinstance(err, RecursionError):
        return "values are nested too deeply"
    if isinstance(err, MemoryError):
        return "it needs more memory than a submission may use (corrupt or crafted file?)"
    return _first_line(err)[:300]


def _numbers(table: pa.Table, positions: np.ndarray) -> list[int]:
    if "_where" in table.column_names:
        return np.asarray(table.column("_where"))[positions].tolist()
    return (positions + 1).tolist()


def _read_csv(
    path: Path, problems: Problems, required: tuple[str, ...], limits: Limits | None
) -> pa.Table | None:
    with open(path, "rb") as fh:
        head = fh.read(64)
    encoding = _encoding_problem(head)
    if encoding:
        problems.add(path.name, encoding)
        return None
    # Ids and answers are text even when they look like numbers ("3" is a label, "007" an id).
    text_columns = {name: pa.string() for name in (*required, "task", "family", *LIST_COLUMNS)}
    # One block must hold the longest row: allow rows as long as the file (bounded by max_file_mb).
    block = max(1 << 20, min(path.stat().st_size + 1, 1 << 30))
    return pcsv.read_csv(
        path,
        read_options=pcsv.ReadOptions(block_size=block),
        convert_options=pcsv.ConvertOptions(column_types=text_columns, strings_can_be_null=False),
    )


def _read_parquet(
    path: Path, problems: Problems, required: tuple[str, ...], limits: Limits | None
) -> pa.Table | None:
    """Read the needed columns batch by batch, after checking the footer against itself and the limits.

    A parquet footer states row counts that a crafted file can inflate (a 1 KB file claiming 10^12
    rows makes `pq.read_table` try to allocate terabytes); the counts are checked first, and the
    batches read are counted, so neither a lying footer nor a decompression bomb gets past the limits.
    """
    name = path.name
    parquet = pq.ParquetFile(path)
    meta = parquet.metadata
    groups = [meta.row_group(i) for i in range(meta.num_row_groups)]
    stated = sum(g.num_rows for g in groups)
    # a flat column holds one value (or null) per row: its count must agree with its row group's
    flat = [
        (g.num_rows, g.column(j).num_values)
        for g in groups
        for j in range(g.num_columns)
        if "." not in g.column(j).path_in_schema
    ]
    if meta.num_rows != stated or any(g.num_rows < 0 for g in groups) or any(r != v for r, v in flat):
        problems.add(
            name,
            f"is a corrupt parquet file: its footer says {meta.num_rows:,} rows, its row groups "
            f"{stated:,}, its columns {min((v for _, v in flat), default=0):,} to "
            f"{max((v for _, v in flat), default=0):,} values",
        )
        return None
    if meta.num_rows == 0:
        problems.add(name, "the file has no rows")
        return None
    present = parquet.schema_arrow.names
    if not _check_columns(name, present, required, problems) or not _check_rows(
        name, meta.num_rows, limits, problems
    ):
        return None
    # a submission's own columns only: nothing else a stranger put in the file is decoded
    optional = () if required == PREDICTION_COLUMNS else OPTIONAL_LABEL_COLUMNS
    wanted = [c for c in (*required, *optional) if c in present]
    batches, rows, size = [], 0, 0
    budget = limits.max_file_bytes * 4 if limits is not None else None
    for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS, columns=wanted, use_threads=False):
        rows += batch.num_rows
        size += batch.nbytes
        if not _check_rows(name, rows, limits, problems):
            return None
        if budget is not None and size > budget:
            problems.add(
                name,
                f"decodes to more than {budget / 2**20:,.0f} MB of data (4 times the file-size limit, "
                f"{limits.describe('max_file_mb')}): a compressed bomb, or too large a submission",
            )
            return None
        batches.append(batch)
    if rows != meta.num_rows:
        problems.add(
            name, f"is a corrupt parquet file: its footer says {meta.num_rows:,} rows, it holds {rows:,}"
        )
        return None
    schema = parquet.schema_arrow
    schema = pa.schema([schema.field(c) for c in wanted])
    return pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()


def _read_jsonl(
    path: Path, problems: Problems, required: tuple[str, ...], limits: Limits | None = None
) -> pa.Table | None:
    """Fast path through Arrow's JSON reader; on any parse error, a line-by-line pass finds every bad line."""
    data = path.read_bytes()
    encoding = _encoding_problem(data)
    if encoding:
        problems.add(path.name, encoding)
        return None
    data = data.removeprefix(_UTF8_BOM)
    lines = data.split(b"\n")
    nonblank = np.flatnonzero([bool(line.strip()) for line in lines]) + 1
    if len(nonblank) == 0:
        problems.add(path.name, "the file is empty")
        return None
    if not _check_rows(path.name, len(nonblank), limits, problems, unit="lines"):
        return None
    table = _arrow_jsonl(path, required, limits)
    if table is None or table.num_rows != len(nonblank):  # a bad line, or Arrow skipped/merged lines
        table = _read_jsonl_slowly(lines, problems, required)
        if table is None:
            return None
    return table.append_column("_where", pa.array(nonblank, pa.int64()))


def _arrow_jsonl(path: Path, required: tuple[str, ...], limits: Limits | None) -> pa.Table | None:
    """Arrow's fast JSON reader, or None when it refuses the file (then lines are parsed one by one).

    A submission is parsed in the sandbox's child: this reader segfaults on some inputs (a line
    holding `null`); a crash or a timeout there is simply a refusal, the careful pass names the lines.
    """
    if limits is None:
        return _arrow_jsonl_here(str(path), required)[1]
    from submissions import sandbox

    try:
        return sandbox.run(_arrow_jsonl_here, str(path), list(required), timeout=limits.scoring_timeout)[1]
    except (sandbox.ParserCrashed, sandbox.ParserTimeout):
        return None


def _arrow_jsonl_here(path: str, required: list[str] | tuple[str, ...]) -> tuple[None, pa.Table | None]:
    data = Path(path).read_bytes().removeprefix(_UTF8_BOM)
    if tuple(required) == PREDICTION_COLUMNS:
        options = pjson.ParseOptions(explicit_schema=_STRING_SCHEMA, unexpected_field_behavior="ignore")
    else:
        options = pjson.ParseOptions()
    # One block must hold the longest line: allow lines as long as the file (bounded by max_file_mb).
    block = max(1 << 20, min(len(data) + 1, 1 << 30))
    try:
        table = pjson.read_json(
            pa.BufferReader(data), read_options=pjson.ReadOptions(block_size=block), parse_options=options
        )
        table.validate(full=True)  # Arrow's JSON reader lets bytes that are not UTF-8 into strings
    except _READ_ERRORS:
        return None, None
    return None, table


def _read_jsonl_slowly(lines: list[bytes], problems: Problems, required: tuple[str, ...]):
    """Parse line by line: report every malformed line, accept numbers where text is expected.

    Predictions keep only their three fields (anything else in a record is ignored, so no stranger's
    nested value reaches Arrow); labels keep their optional columns.
    """
    keep = required if required == PREDICTION_COLUMNS else (*required, *OPTIONAL_LABEL_COLUMNS)
    records: list[dict[str, Any]] = []
    for number, record in _json_objects(lines, problems):
        for key in required:
            value = record.get(key)
            if isinstance(value, bool | dict | list):
                problems.add(f"line {number}, field {key}", f"must be a string, not {type(value).__name__}")
                record[key] = None
            elif value is not None and not isinstance(value, str):
                record[key] = str(value)
            elif isinstance(value, str) and not _is_unicode(value):
                problems.add(f"line {number}, field {key}", _SURROGATE)
                record[key] = None
        records.append({key: record[key] for key in keep if key in record})
    if problems:
        return None
    columns = {key: pa.array([r.get(key) for r in records], pa.string()) for key in required}
    for key in sorted({k for r in records for k in r} - set(required)):
        values = [r.get(key) for r in records]
        try:
            columns[key] = pa.array(values)
        except _READ_ERRORS:
            columns[key] = pa.array([None if v is None else json.dumps(v) for v in values], pa.string())
    return pa.table(columns)


def _json_objects(
    lines: list[bytes], problems: Problems, prefix: str = ""
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of each line that is one JSON object; every other non-blank line is a
    problem at `{prefix}line N` saying what is wrong with it."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{prefix}line {number}"
        try:
            record = json.loads(line.decode("utf-8"), object_pairs_hook=_unique_keys)
        except UnicodeDecodeError as err:
            problems.add(where, _utf8_problem(err))
            continue
        except json.JSONDecodeError as err:
            problems.add(where, _json_problem(err))
            continue
        except RecursionError:
            problems.add(where, "is JSON nested too deeply")
            continue
        except _DuplicateKey as err:
            problems.add(where, f"has the key {err.key!r} twice (which one is meant?)")
            continue
        except ValueError as err:  # e.g. an integer of more digits than Python converts
            problems.add(where, f"is not valid JSON ({_first_line(err)[:120]})")
            continue
        if not isinstance(record, dict):
            kind = "null" if record is None else type(record).__name__
            problems.add(where, f"is a JSON {kind}, not an object")
            continue
        yield number, record


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`object_pairs_hook` that refuses an object naming a key twice (JSON leaves the meaning open)."""
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key[:60])
            seen.add(key)
    return record


_SURROGATE = "holds an unpaired surrogate escape (e.g. \\ud800): not valid Unicode text"


def _is_unicode(text: str) -> bool:
    """False for strings JSON can carry but UTF-8 cannot (unpaired surrogate escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


# --------------------------------------------------------------------------------------------- lm-eval


def _read_lmeval(
    files: list[Path], problems: Problems, *, root: Path, limits: Limits | None = None
) -> pd.DataFrame:
    """Turn lm-eval `--log_samples` records into prediction rows.

    The record format is lm-eval's (evaluator.py + EvaluationTracker.save_results_samples):
    `doc_id`, `doc` (the dataset row: here the release's public row, so it carries `example_id` and
    `variant_id`), `target`, `arguments` (`{"gen_args_<i>": {"arg_0": context, "arg_1": ...}}`, or a
    list of argument tuples in older versions), `resps`, `filtered_resps`, `filter`, `metrics`,
    the hashes and the metric values. Responses are stringified by lm-eval (`["-1.5", "False"]`).

    * multiple choice (one log-likelihood request per option; `arg_1` is the continuation, i.e. the
      target delimiter + the option): the prediction is the continuation with the highest
      log-likelihood (lm-eval's `acc`, not `acc_norm`), stripped of the delimiter;
    * generate_until (one request whose `arg_1` is the generation kwargs): the prediction is the
      filtered response text, later put through answer extraction.

    When one file holds several filters (one line per document and filter), the `none` filter is
    used if present, else the alphabetically first, so each document yields one prediction.
    """
    rows: list[tuple[str | None, str | None, str | None, int, int, str]] = []
    names = [str(f.relative_to(root)) if f.is_relative_to(root) else f.name for f in files]
    total_lines = 0
    for file_index, (file, name) in enumerate(zip(files, names, strict=True)):
        try:
            data = file.read_bytes()
        except OSError as err:
            problems.add(name, f"cannot be read: {err.strerror}")
            continue
        if not data.strip():
            problems.add(name, "the file is empty")
            continue
        encoding = _encoding_problem(data)
        if encoding:
            problems.add(name, encoding)
            continue
        lines = data.removeprefix(_UTF8_BOM).split(b"\n")
        total_lines += len(lines) - (lines[-1] == b"")
        if not _check_rows(name, total_lines, limits, problems, unit="lines"):
            break
        parsed = list(_json_objects(lines, problems, prefix=f"{name}: "))
        filters = {str(r.get("filter", "none")) for _, r in parsed}
        chosen = "none" if "none" in filters else min(filters, default="none")
        for number, record in parsed:
            if str(record.get("filter", "none")) != chosen:
                continue
            where = f"{name}: line {number}"
            doc = record.get("doc")
            if not isinstance(doc, dict):
                problems.add(where, "has no `doc` object (is this an lm-eval samples file?)")
                continue
            example_id, variant_id = doc.get("example_id"), doc.get("variant_id")
            if not isinstance(example_id, str) or not isinstance(variant_id, str):
                problems.add(
                    where,
                    "its doc has no example_id/variant_id: the samples must come from a robustboard "
                    "release's lm-eval tasks (robustboard lmeval)",
                )
                continue
            try:
                prediction = _lmeval_prediction(record, where, problems)
            except RecursionError:
                problems.add(where, "its response is nested too deeply")
                continue
            if not all(_is_unicode(v) for v in (example_id, variant_id, prediction) if v is not None):
                problems.add(where, _SURROGATE)
                continue
            rows.append((example_id, variant_id, prediction, number, file_index, chosen))
    problems.raise_if_any()
    if not rows:
        problems.add(str(root), "no samples")
        problems.raise_if_any()
    example_id, variant_id, prediction, where, file_index, _ = zip(*rows, strict=True)
    frame = pd.DataFrame(
        {
            "example_id": pd.array(example_id, dtype=pd.ArrowDtype(pa.string())),
            "variant_id": pd.array(variant_id, dtype=pd.ArrowDtype(pa.string())),
            "prediction": pd.array(prediction, dtype=pd.ArrowDtype(pa.string())),
            "_where": np.asarray(where, dtype=np.int64),
            "_file": pd.Categorical.from_codes(np.asarray(file_index), categories=names),
        }
    )
    frame.attrs.update(format="lm-eval", unit="line", source=root.name)
    return frame


def _lmeval_prediction(record: dict[str, Any], where: str, problems: Problems) -> str | None:
    arguments = record.get("arguments")
    if isinstance(arguments, dict):
        requests = [
            arguments[k] for k in sorted(arguments, key=_gen_args_index) if isinstance(arguments[k], dict)
        ]
        continuations = [r.get("arg_1") for r in requests]
    elif isinstance(arguments, list):
        continuations = [a[1] if isinstance(a, list | tuple) and len(a) > 1 else None for a in arguments]
    else:
        continuations = []
    filtered = record.get("filtered_resps")
    if not isinstance(filtered, list) or not filtered:
        problems.add(where, "has no filtered_resps")
        return None
    if (
        continuations
        and all(isinstance(c, str) for c in continuations)
        and len(continuations) == len(filtered)
    ):
        # log-likelihood multiple choice: one (loglikelihood, is_greedy) pair per option
        try:
            scores = [float(_first_scalar(item)) for item in filtered]
        except (TypeError, ValueError):
            problems.add(where, "filtered_resps are not log-likelihoods")
            return None
        return continuations[int(np.argmax(scores))].strip()
    text = filtered[0]
    while isinstance(text, list) and text:
        text = text[0]
    if text is None or isinstance(text, list):
        return None
    return str(text)


def _gen_args_index(key: str) -> int:
    try:
        return int(key.rsplit("_", 1)[1])
    except (IndexError, ValueError):
        return 1 << 30


def _first_scalar(item: Any) -> Any:
    """The first scalar of a nested list (lm-eval stores a response as `[loglikelihood, is_greedy]`);
    None for an empty list."""
    while isinstance(item, list | tuple):
        if not item:
            return None
        item = item[0]
    return item
