"""Benchmark specs: the YAML contract that says where a benchmark's rows come from and what they mean.

A spec names a source (local files or a Hub dataset at a revision), the split, and which columns hold
the question / choices / answer (multiple choice) or text / label (classification). Everything is
checked before any work starts, so a bad spec or a bad row fails with one message that names the
field and the row instead of surfacing as a strange perturbation or a wrong gold label later.

Answers (multiple choice) are read per column, so one rule applies to every row: an integer column,
or strings that are all digits, are 0-based option indices; strings that are all single letters are
option letters (`A` = 0, case-insensitive); anything else must equal one option's text exactly.
Classification labels are integers (indices into `labels`) or strings (label names); without a
top-level `labels:` list the names are inferred: `0..max` for integers, sorted unique values for
strings. Row numbers in messages count from 0, like the default example ids.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from builder.tasks import Example, PromptFormat
from robustboard.cli import UserError

TASK_TYPES = ("multiple_choice", "classification")
REQUIRED_FIELDS = {"multiple_choice": ("question", "choices", "answer"), "classification": ("text", "label")}
OPTIONAL_FIELDS = {"multiple_choice": ("group", "id"), "classification": ("text_pair", "group", "id")}
TOP_LEVEL_KEYS = {
    "name",
    "task",
    "source",
    "fields",
    "labels",
    "invalid_rows",
    "description",
    "license",
    "citation",
    "homepage",
}
SOURCE_KEYS = {"data_files", "hub", "config", "revision", "split", "fallback", "fewshot_split"}
MAX_CHOICES = len(PromptFormat().choice_labels)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_LETTER_RE = re.compile(r"^[A-Za-z]$")
_DIGITS_RE = re.compile(r"^[0-9]+$")


class SpecError(UserError):
    """A spec or source row that cannot be used; the message names the field and the row."""


@dataclass(frozen=True)
class SourceSpec:
    split: str
    data_files: tuple[tuple[str, tuple[str, ...]], ...] = ()  # ((split, (path, ...)), ...), resolved
    hub: str | None = None
    config: str | None = None
    revision: str | None = None
    fallback: str | None = None  # name of a registered offline fallback in builder.sources
    fewshot_split: str | None = None  # the split few-shot demonstrations are drawn from (never `split`)

    def files(self, split: str) -> tuple[str, ...]:
        return dict(self.data_files).get(split, ())


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    task: str
    source: SourceSpec
    fields: tuple[tuple[str, Any], ...]  # (role, column or list of columns), in the order written
    labels: tuple[str, ...] | None = None
    invalid_rows: str = "error"  # "error" | "drop": what a row that fails validation does
    description: str = ""
    license: str = ""
    citation: str = ""
    homepage: str = ""
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def field(self, role: str) -> Any:
        return dict(self.fields).get(role)

    def to_dict(self) -> dict[str, Any]:
        """The spec as written (data file paths as given, not resolved): recorded in the manifest."""
        return dict(self.raw)

    def with_data_files(self, data_files: Mapping[str, str], split: str | None = None) -> BenchmarkSpec:
        """The same benchmark read from local files (e.g. a built-in Hub spec pointed at a local copy)."""
        raw = dict(self.raw)
        if split is None:
            split = (
                self.source.split
                if self.source.split in data_files or len(data_files) != 1
                else next(iter(data_files))
            )
        raw["source"] = {"data_files": dict(data_files), "split": split}
        if self.source.fewshot_split in data_files:
            raw["source"]["fewshot_split"] = self.source.fewshot_split
        return parse_spec(raw, origin=f"{self.name} (local files)", base_dir=Path.cwd())


@dataclass(frozen=True)
class Dropped:
    """A source row left out of the release because `invalid_rows: drop` and it failed a check."""

    row: int
    source_id: str
    reason: str


def _builtin_dir():
    # `builder/specs/` holds data files only (no __init__.py), so `builder.specs` stays this module.
    return resources.files("builder") / "specs"


def builtin_names() -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in _builtin_dir().iterdir() if p.name.endswith(".yaml"))


def load_spec(name_or_path: str | Path) -> BenchmarkSpec:
    """Load a built-in spec by name (`mmlu`, `rotten_tomatoes`, ...) or a YAML file by path."""
    text_path = str(name_or_path)
    path = Path(text_path)
    if text_path in builtin_names() and not path.exists():
        resource = _builtin_dir() / f"{text_path}.yaml"
        return parse_spec(_parse_yaml(resource.read_text("utf-8"), text_path), text_path, Path.cwd())
    if not path.is_file():
        known = ", ".join(builtin_names())
        raise SpecError(f"spec {text_path!r} is neither a built-in spec ({known}) nor a readable YAML file")
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"spec {text_path}: cannot read it ({err})") from None
    return parse_spec(_parse_yaml(text, text_path), text_path, path.resolve().parent)


def _parse_yaml(text: str, origin: str) -> dict:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecError(f"spec {origin}: not valid YAML ({err})".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise SpecError(f"spec {origin}: expected a mapping of keys (name, task, source, fields)")
    return data


def parse_spec(data: Mapping[str, Any], origin: str, base_dir: Path) -> BenchmarkSpec:
    """Check a spec mapping key by key; relative data file paths resolve against `base_dir`."""

    def fail(key: str, problem: str) -> SpecError:
        return SpecError(f"spec {origin}: field {key!r} {problem}")

    unknown = sorted(set(data) - TOP_LEVEL_KEYS)
    if unknown:
        raise fail(unknown[0], f"is not a spec key (known: {', '.join(sorted(TOP_LEVEL_KEYS))})")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise fail("name", "is missing or not a plain name (letters, digits, '_', '.', '-')")
    task = data.get("task")
    if task not in TASK_TYPES:
        raise fail("task", f"must be one of {', '.join(TASK_TYPES)}, got {task!r}")
    source = _parse_source(data.get("source"), fail, base_dir)

    fields = data.get("fields")
    if not isinstance(fields, dict):
        raise fail("fields", f"is missing; {task} specs map {', '.join(REQUIRED_FIELDS[task])} to columns")
    for role in REQUIRED_FIELDS[task]:
        if role not in fields:
            raise fail(f"fields.{role}", f"is missing ({task} specs need {', '.join(REQUIRED_FIELDS[task])})")
    allowed = REQUIRED_FIELDS[task] + OPTIONAL_FIELDS[task]
    for role, column in fields.items():
        if role not in allowed:
            raise fail(f"fields.{role}", f"is not a {task} field (allowed: {', '.join(allowed)})")
        columns = column if role == "choices" and isinstance(column, list) else [column]
        if not columns or not all(isinstance(c, str) and c for c in columns):
            raise fail(f"fields.{role}", "must name a column (choices: a list column or a list of columns)")

    labels = data.get("labels")
    if labels is not None:
        if task != "classification":
            raise fail("labels", "applies to classification specs only")
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
            raise fail("labels", "must be a non-empty list of label names")
        if len(set(labels)) != len(labels):
            raise fail("labels", "has duplicate names")
        labels = tuple(labels)
    invalid_rows = data.get("invalid_rows", "error")
    if invalid_rows not in ("error", "drop"):
        raise fail("invalid_rows", f"must be 'error' or 'drop', got {invalid_rows!r}")
    texts = {}
    for key in ("description", "license", "citation", "homepage"):
        value = data.get(key, "")
        if not isinstance(value, str):
            raise fail(key, "must be text")
        texts[key] = value.strip()
    return BenchmarkSpec(
        name=name,
        task=task,
        source=source,
        fields=tuple((role, tuple(c) if isinstance(c, list) else c) for role, c in fields.items()),
        labels=labels,
        invalid_rows=invalid_rows,
        raw=dict(data),
        **texts,
    )


def _parse_source(source: Any, fail, base_dir: Path) -> SourceSpec:
    if not isinstance(source, dict):
        raise fail("source", "is missing; give source.data_files or source.hub")
    unknown = sorted(set(source) - SOURCE_KEYS)
    if unknown:
        raise fail(f"source.{unknown[0]}", f"is not a source key (known: {', '.join(sorted(SOURCE_KEYS))})")
    has_files, has_hub = "data_files" in source, "hub" in source
    if has_files == has_hub:
        raise fail("source", "needs exactly one of data_files (local files) or hub (a Hub dataset id)")
    for key in ("hub", "config", "revision", "split", "fallback", "fewshot_split"):
        if key in source and not (isinstance(source[key], str) and source[key]):
            raise fail(f"source.{key}", "must be a non-empty string")
    data_files: tuple[tuple[str, tuple[str, ...]], ...] = ()
    if has_files:
        raw = source["data_files"]
        if isinstance(raw, str | list):
            raw = {source.get("split", "train"): raw}
        if not isinstance(raw, dict) or not raw:
            raise fail("source.data_files", "must map split names to a path or a list of paths")
        resolved = []
        for split, paths in raw.items():
            paths = [paths] if isinstance(paths, str) else paths
            if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p for p in paths):
                raise fail(f"source.data_files.{split}", "must be a path or a list of paths")
            resolved.append(
                (str(split), tuple(str((base_dir / Path(p).expanduser()).resolve()) for p in paths))
            )
        data_files = tuple(resolved)
        if "split" not in source and len(data_files) > 1:
            raise fail("source.split", "is missing: data_files has several splits, say which one to build")
    split = source.get("split") or (data_files[0][0] if data_files else None)
    if not split:
        raise fail("source.split", "is missing (e.g. test, validation)")
    if has_files and split not in dict(data_files):
        raise fail(
            "source.split", f"{split!r} is not one of data_files' splits ({', '.join(dict(data_files))})"
        )
    fewshot_split = source.get("fewshot_split")
    if fewshot_split == split:
        raise fail("source.fewshot_split", "must differ from source.split: demonstrations show their answers")
    if fewshot_split and has_files and fewshot_split not in dict(data_files):
        raise fail("source.fewshot_split", f"{fewshot_split!r} is not one of data_files' splits")
    return SourceSpec(
        split=split,
        fewshot_split=fewshot_split,
        data_files=data_files,
        hub=source.get("hub"),
        config=source.get("config"),
        revision=source.get("revision"),
        fallback=source.get("fallback"),
    )


# --------------------------------------------------------------------------- rows -> examples


class _RowProblems:
    """Collects row problems: raises the first one (invalid_rows: error) or records drops."""

    def __init__(self, spec: BenchmarkSpec, split: str, source_ids: list[str]):
        self.spec, self.split, self.ids = spec, split, source_ids
        self.bad: dict[int, str] = {}

    def add(self, row: int, role: str, problem: str) -> None:
        column = self.spec.field(role)
        shown = column if isinstance(column, str) else "+".join(column or ())
        where = f"row {row}" + (f" (id {self.ids[row]!r})" if self.spec.field("id") else "")
        message = f"field {role!r} (column {shown!r}) {problem}"
        if self.spec.invalid_rows == "error":
            raise SpecError(f"{self.spec.name} ({self.split} split), {where}: {message}")
        self.bad.setdefault(row, message)


def to_examples(spec: BenchmarkSpec, rows: pd.DataFrame, split: str | None = None) -> list[Example]:
    """Validate the source rows and turn them into `Example`s (dropped rows: see `validate_rows`)."""
    examples, _ = validate_rows(spec, rows, split)
    return examples


def validate_rows(
    spec: BenchmarkSpec, rows: pd.DataFrame, split: str | None = None
) -> tuple[list[Example], list[Dropped]]:
    """Check every row before any work and build the examples; raise SpecError on the first problem.

    With `invalid_rows: drop` a row that fails a row-level check is left out and reported instead
    (duplicate ids and missing columns are always errors: they are problems of the spec, not a row).
    Example ids are `<name>-<source id or row>`; rows of another split (the few-shot pool) get
    `<name>-<split>-<source id or row>`, so they can never be mistaken for the release's examples.
    """
    split = split or spec.source.split
    prefix = spec.name if split == spec.source.split else f"{spec.name}-{split}"
    n = len(rows)
    for role, column in spec.fields:
        for col in column if isinstance(column, tuple) else (column,):
            if _column(rows, col) is None:
                shown = ", ".join(map(str, rows.columns[:20]))
                raise SpecError(
                    f"{spec.name} ({split} split): field {role!r} names column {col!r}, which the source "
                    f"does not have (columns: {shown})"
                )
    if n == 0:
        raise SpecError(f"{spec.name} ({split} split): the source has no rows")

    if spec.field("id"):
        id_col = _column(rows, spec.field("id"))
        missing = np.flatnonzero(pd.isna(id_col).to_numpy())
        if len(missing):
            raise SpecError(f"{spec.name} ({split} split), row {missing[0]}: field 'id' is empty")
        source_ids = [str(v) for v in id_col.tolist()]
        repeated = np.flatnonzero(pd.Series(source_ids).duplicated(keep="first").to_numpy())
        if len(repeated):
            second = int(repeated[0])
            first = source_ids.index(source_ids[second])
            raise SpecError(
                f"{spec.name} ({split} split), row {second}: field 'id' duplicates row {first} "
                f"(id {source_ids[first]!r}); example ids must be unique"
            )
    else:
        source_ids = [str(i) for i in range(n)]
    problems = _RowProblems(spec, split, source_ids)

    group_col = _column(rows, spec.field("group")) if spec.field("group") else None
    if group_col is not None:
        for row in np.flatnonzero(pd.isna(group_col).to_numpy()):
            problems.add(int(row), "group", "is empty")
        tasks = [str(v) for v in group_col.tolist()]
    else:
        tasks = [spec.name] * n

    if spec.task == "multiple_choice":
        build = _multiple_choice_examples(spec, rows, problems, [f"{prefix}-{i}" for i in source_ids], tasks)
    else:
        build = _classification_examples(spec, rows, problems, [f"{prefix}-{i}" for i in source_ids], tasks)
    keep = [i for i in range(n) if i not in problems.bad]
    if not keep:
        raise SpecError(f"{spec.name} ({split} split): every row failed validation, e.g. {problems.bad[0]}")
    dropped = [Dropped(row, source_ids[row], reason) for row, reason in sorted(problems.bad.items())]
    return [build(i) for i in keep], dropped


def _column(rows: pd.DataFrame, name: str) -> pd.Series | None:
    """A column by name, or a nested struct member by dotted path (e.g. `choices.text`)."""
    if name in rows.columns:
        return rows[name]
    head, _, rest = name.partition(".")
    if not rest or head not in rows.columns:
        return None
    values = rows[head].map(lambda v: v.get(rest) if isinstance(v, dict) else None)
    return values if values.notna().any() else None


def _text_column(rows: pd.DataFrame, spec: BenchmarkSpec, role: str, problems: _RowProblems) -> list[str]:
    col = _column(rows, spec.field(role))
    texts = col.astype(object).where(col.notna(), None).tolist()
    for row, value in enumerate(texts):
        if value is None:
            problems.add(row, role, "is missing")
        elif not str(value).strip():
            problems.add(row, role, "is empty")
    return ["" if v is None else str(v) for v in texts]


def _multiple_choice_examples(spec, rows, problems, example_ids, tasks):
    questions = _text_column(rows, spec, "question", problems)
    choice_field = spec.field("choices")
    if isinstance(choice_field, tuple):  # one column per option
        columns = [_column(rows, c).tolist() for c in choice_field]
        raw_choices = [list(options) for options in zip(*columns, strict=True)]
    else:
        raw_choices = _column(rows, choice_field).tolist()
    choices: list[tuple[str, ...]] = []
    for row, value in enumerate(raw_choices):
        options = _as_list(value)
        if options is None:
            problems.add(row, "choices", "is missing or not a list of options")
            options = []
        elif len(options) < 2:
            problems.add(row, "choices", f"has {len(options)} option(s); multiple choice needs at least 2")
        elif len(options) > MAX_CHOICES:
            problems.add(row, "choices", f"has {len(options)} options; at most {MAX_CHOICES} are supported")
        else:
            texts = ["" if _isnull(o) else str(o) for o in options]
            empty = [i for i, t in enumerate(texts) if not t.strip()]
            if empty:
                problems.add(row, "choices", f"option {empty[0]} is empty")
            elif len(set(texts)) != len(texts):
                twin = next(t for t in texts if texts.count(t) > 1)
                problems.add(row, "choices", f"has duplicate options ({twin!r} appears twice)")
            options = texts
        choices.append(tuple(str(o) for o in options))
    answers = _multiple_choice_answers(_column(rows, spec.field("answer")), choices, problems)

    def build(i: int) -> Example:
        return Example(
            example_id=example_ids[i],
            task_type="multiple_choice",
            task=tasks[i],
            answer=answers[i],
            question=questions[i],
            choices=choices[i],
        )

    return build


def _multiple_choice_answers(col: pd.Series, choices: list[tuple[str, ...]], problems) -> list[int]:
    values = col.tolist()
    present = [v for v in values if not _isnull(v)]
    if all(_is_int(v) or (isinstance(v, str) and _DIGITS_RE.match(v.strip())) for v in present):
        mode = "index"
    elif all(isinstance(v, str) and _LETTER_RE.match(v.strip()) for v in present):
        mode = "letter"
    else:
        mode = "text"
    answers = []
    for row, value in enumerate(values):
        n = len(choices[row])
        answer = -1
        if _isnull(value):
            problems.add(row, "answer", "is missing")
        elif mode == "index":
            answer = int(str(value).strip()) if isinstance(value, str) else int(value)
        elif mode == "letter":
            answer = ord(value.strip().upper()) - ord("A")
        elif str(value) in choices[row]:
            answer = choices[row].index(str(value))
        else:
            problems.add(
                row, "answer", "is not an option index, an option letter, or one option's exact text"
            )
            answers.append(-1)
            continue
        if answer != -1 and not 0 <= answer < n and n:
            shown = f"{value!r}" + (" (0-based index)" if mode == "index" else "")
            problems.add(row, "answer", f"{shown} is out of range for {n} options")
        answers.append(answer)
    return answers


def _classification_examples(spec, rows, problems, example_ids, tasks):
    texts = _text_column(rows, spec, "text", problems)
    pairs: list[str | None] = [None] * len(rows)
    if spec.field("text_pair"):
        pairs = _text_column(rows, spec, "text_pair", problems)
    col = _column(rows, spec.field("label"))
    values = col.tolist()
    present = [v for v in values if not _isnull(v)]
    integer = all(_is_int(v) for v in present)
    if spec.labels is not None:
        label_names = spec.labels
    elif integer:
        label_names = tuple(str(i) for i in range(max([int(v) for v in present], default=0) + 1))
    else:
        label_names = tuple(sorted({str(v) for v in present}))
    index = {name: i for i, name in enumerate(label_names)}
    answers = []
    for row, value in enumerate(values):
        answer = -1
        if _isnull(value):
            problems.add(row, "label", "is missing")
        elif integer:
            answer = int(value)
            if not 0 <= answer < len(label_names):
                problems.add(row, "label", f"{answer} is out of range for {len(label_names)} labels")
        elif str(value) in index:
            answer = index[str(value)]
        else:
            problems.add(row, "label", f"{value!r} is not one of the labels ({', '.join(label_names)})")
        answers.append(answer)

    def build(i: int) -> Example:
        return Example(
            example_id=example_ids[i],
            task_type="classification",
            task=tasks[i],
            answer=answers[i],
            text=texts[i],
            text_pair=pairs[i],
            label_names=tuple(label_names),
        )

    return build


def _as_list(value: Any) -> list | None:
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return None


def _isnull(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | np.integer):
        return True
    return isinstance(value, float | np.floating) and float(value).is_integer()
