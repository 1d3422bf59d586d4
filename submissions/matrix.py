"""From label rows and prediction rows to the examples × slots matrices every metric works on.

`C[i, v]` is 1 when example i's prediction in slot v names the gold option, 0 otherwise (a missing
or unparseable prediction is 0, never dropped). `A[i, v]` is an integer code of the *content* of
the answer: for multiple choice the chosen option's text, so that `B` in one slot and `D` in a
reordered slot are the same answer when they name the same option (METRICS.md pitfall 6); for
classification the label name. A missing or unparseable answer gets a code of its own that agrees
with nothing, not even another missing answer, so leaving slots out can never raise consistency.

Examples are sorted by example_id and slots by variant_id (`original` first), so that the matrices,
and everything computed from them including the seeded bootstrap, do not depend on row order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from submissions.extract import FAILED, MISSING, Extraction, extract_answers, gold_positions
from submissions.validation import Problems

ORIGINAL = "original"
SAMPLE_MARK = "@"  # `V@t0.7-s2`: sample 2 at temperature 0.7 of slot V (see baselines/predict.py)


@dataclass(frozen=True)
class Matrix:
    example_ids: np.ndarray  # (N,) str, sorted
    tasks: np.ndarray  # (N,) str
    slots: tuple[str, ...]  # (k,) variant ids, `original` first
    families: tuple[str | None, ...]  # (k,) perturbation family of each slot, None when unknown
    correct: np.ndarray  # (N, k) uint8
    answers: np.ndarray  # (N, k) int64 content codes
    provided: np.ndarray  # (N, k) bool: a prediction row exists and is not empty
    failed: np.ndarray  # (N, k) bool: a prediction was given but no answer could be extracted
    inverse_distractors: np.ndarray  # (N,) mean over slots of 1/(options - 1): chance two wrong answers agree
    extraction: dict[str, int]  # rule -> count

    @property
    def shape(self) -> tuple[int, int]:
        return self.correct.shape

    def subset(self, rows: np.ndarray | None = None, slots: np.ndarray | None = None) -> Matrix:
        rows = np.arange(self.shape[0]) if rows is None else rows
        slots = np.arange(self.shape[1]) if slots is None else slots
        return Matrix(
            example_ids=self.example_ids[rows],
            tasks=self.tasks[rows],
            slots=tuple(self.slots[j] for j in slots),
            families=tuple(self.families[j] for j in slots),
            correct=self.correct[np.ix_(rows, slots)],
            answers=self.answers[np.ix_(rows, slots)],
            provided=self.provided[np.ix_(rows, slots)],
            failed=self.failed[np.ix_(rows, slots)],
            inverse_distractors=self.inverse_distractors[rows],
            extraction=self.extraction,
        )


def build_matrix(
    labels: pd.DataFrame,
    predictions: pd.DataFrame,
    *,
    families: Mapping[str, str] | None = None,
) -> Matrix:
    """Validate the predictions against the labels and build the matrices.

    Raises ValidationError for unknown or duplicated (example_id, variant_id) pairs (every one
    listed with its line or row) and for labels that are not a complete examples × slots grid.
    `families` maps variant_id -> family (from the release manifest); otherwise the labels'
    `family` column is used when present.
    """
    labels, families = with_sample_slots(labels, predictions, families)
    grid = _label_grid(labels)
    n, k = len(grid.example_ids), len(grid.slots)
    cells = _prediction_cells(predictions, grid)

    # Everything is computed in label-row order (no reordering of the list columns) and scattered
    # into the matrix cells at the end.
    source = np.full(n * k, -1, dtype=np.int64)
    source[cells.cell] = cells.row
    prediction_row = source[grid.cell]
    text = _arrow(predictions["prediction"]).take(pa.array(prediction_row, mask=prediction_row < 0))
    gold = _arrow(labels["gold"])
    if "choice_labels" in labels.columns:
        answer_space = _arrow(labels["choice_labels"])
        options = _arrow(labels["choices"]) if "choices" in labels.columns else answer_space
        allow_index = True
    elif "label_names" in labels.columns:
        answer_space = options = _arrow(labels["label_names"])
        allow_index = True
    else:
        answer_space = options = _observed_label_space(gold, labels)
        allow_index = False  # the order of an inferred label space is not known

    gold_at = gold_positions(gold, answer_space)
    _check_gold(gold_at, labels)
    extraction: Extraction = extract_answers(text, answer_space, options, allow_index=allow_index)
    chosen = extraction.index
    lengths = np.asarray(pc.fill_null(pc.list_value_length(options), 0), dtype=np.float64)
    inverse = 1.0 / np.maximum(lengths - 1, 1)

    def cells_of(values: np.ndarray, dtype) -> np.ndarray:
        out = np.empty(n * k, dtype=dtype)
        out[grid.cell] = values
        return out.reshape(n, k)

    return Matrix(
        example_ids=grid.example_ids,
        tasks=grid.tasks,
        slots=grid.slots,
        families=_slot_families(labels, grid, families),
        correct=cells_of((chosen >= 0) & (chosen == gold_at), np.uint8),
        answers=cells_of(_content_codes(options, chosen), np.int64),
        provided=cells_of(chosen != MISSING, bool),
        failed=cells_of(chosen == FAILED, bool),
        inverse_distractors=cells_of(inverse, np.float64).mean(axis=1),
        extraction=extraction.counts(),
    )


# ------------------------------------------------------------------------------------------- the grid


@dataclass(frozen=True)
class _Grid:
    example_ids: np.ndarray
    tasks: np.ndarray
    slots: tuple[str, ...]
    cell: np.ndarray  # matrix cell (example * k + slot) of each label row
    order: np.ndarray  # label row of each cell
    example_values: pa.Array  # sorted example ids, for Arrow hash lookups
    slot_values: pa.Array


def with_sample_slots(
    labels: pd.DataFrame, predictions: pd.DataFrame, families: Mapping[str, str] | None
) -> tuple[pd.DataFrame, Mapping[str, str] | None]:
    """Temperature is a robustness axis of its own: extra samples are extra slots.

    A prediction whose variant_id is `V@<suffix>` with V a slot of the release (what `robustboard
    predict --samples S` writes for samples 2..S; sample 1 keeps V) is scored against V's labels as a
    slot of its own, in V's family. Every example is then expected in that slot too, so a missing
    sample counts as wrong like any missing prediction.
    """
    if "variant_id" not in predictions.columns or "variant_id" not in labels.columns:
        return labels, families
    ids = predictions["variant_id"].astype(str)
    sampled = pd.unique(ids[ids.str.contains(SAMPLE_MARK, regex=False)])
    if not len(sampled):
        return labels, families
    rows_of = labels.groupby("variant_id", sort=False).indices
    extra, names = [], {}
    for variant in sampled:
        base = variant.split(SAMPLE_MARK, 1)[0]
        if base in rows_of and variant not in rows_of:
            extra.append(labels.iloc[rows_of[base]].assign(variant_id=variant))
            names[variant] = base
    if not extra:
        return labels, families
    if families is not None:
        families = {**families, **{v: families.get(b) for v, b in names.items()}}
    return pd.concat([labels, *extra], ignore_index=True), families


def _label_grid(labels: pd.DataFrame) -> _Grid:
    problems = Problems("labels")
    for name in ("example_id", "variant_id", "gold"):
        if name not in labels.columns:
            problems.add(f"column {name}", "is missing")
    problems.raise_if_any()
    if len(labels) == 0:
        problems.add("labels", "there are no label rows")
        problems.raise_if_any()
    example_codes, example_ids = pd.factorize(labels["example_id"], sort=True)
    slot_codes, slot_names = pd.factorize(labels["variant_id"], sort=True)
    if (example_codes < 0).any() or (slot_codes < 0).any():
        rows = np.flatnonzero((example_codes < 0) | (slot_codes < 0))
        problems.add_rows(
            [f"labels row {r + 1}" for r in rows[: problems.limit]],
            "has no example_id or variant_id",
            len(rows),
        )
        problems.raise_if_any()
    slot_names = np.asarray(slot_names, dtype=object)
    if ORIGINAL in slot_names:  # `original` first, for readable output; metrics never depend on order
        position = int(np.flatnonzero(slot_names == ORIGINAL)[0])
        order = np.r_[position, np.delete(np.arange(len(slot_names)), position)]
        remap = np.empty_like(order)
        remap[order] = np.arange(len(order))
        slot_codes, slot_names = remap[slot_codes], slot_names[order]
    n, k = len(example_ids), len(slot_names)
    cell = example_codes.astype(np.int64) * k + slot_codes
    counts = np.bincount(cell, minlength=n * k)
    if (counts > 1).any():
        duplicated = pd.Series(cell).duplicated(keep="first").to_numpy()
        rows = np.flatnonzero(duplicated)
        problems.add_rows(
            [f"labels row {r + 1} ({_pair(labels, r)})" for r in rows[: problems.limit]],
            "duplicates an earlier label row",
            len(rows),
        )
    if (counts == 0).any():
        holes = np.flatnonzero(counts == 0)
        problems.add_rows(
            [
                f"example_id {example_ids[h // k]!r}, variant_id {slot_names[h % k]!r}"
                for h in holes[: problems.limit]
            ],
            "has no label row: labels must be a complete examples × slots grid",
            len(holes),
        )
    problems.raise_if_any()
    order = np.empty(n * k, dtype=np.int64)
    order[cell] = np.arange(n * k)
    if "task" in labels.columns:
        task_column = _arrow(labels["task"]).take(pa.array(order[::k]))
        tasks = np.asarray(pc.fill_null(task_column, "all").to_pylist(), dtype=object)
    else:
        tasks = np.full(n, "all", dtype=object)
    return _Grid(
        example_ids=np.asarray(example_ids, dtype=object),
        tasks=tasks,
        slots=tuple(str(s) for s in slot_names),
        cell=cell,
        order=order,
        example_values=pa.array(np.asarray(example_ids, dtype=object), pa.string()),
        slot_values=pa.array(slot_names, pa.string()),
    )


def _pair(frame: pd.DataFrame, row: int) -> str:
    return f"example_id {frame['example_id'].iat[row]!r}, variant_id {frame['variant_id'].iat[row]!r}"


@dataclass(frozen=True)
class _Cells:
    cell: np.ndarray  # matrix cell of each accepted prediction row
    row: np.ndarray  # its row in the predictions frame


def _prediction_cells(predictions: pd.DataFrame, grid: _Grid) -> _Cells:
    problems = Problems(f"predictions {predictions.attrs.get('source', '')}".strip())
    for name in ("example_id", "variant_id", "prediction"):
        if name not in predictions.columns:
            problems.add(f"column {name}", "is missing")
    problems.raise_if_any()
    if len(predictions) == 0:
        problems.add("predictions", "there are no prediction rows")
        problems.raise_if_any()
    k = len(grid.slots)
    example = _lookup(predictions["example_id"], grid.example_values)
    slot = _lookup(predictions["variant_id"], grid.slot_values)
    unknown = (example < 0) | (slot < 0)
    cell = np.where(unknown, -1, example.astype(np.int64) * k + slot)
    duplicated = pd.Series(cell).duplicated(keep="first").to_numpy() & ~unknown
    where = _locations(predictions)
    if unknown.mean() > 0.5:
        problems.add(
            "predictions",
            f"{int(unknown.sum())} of {len(unknown)} rows name an (example_id, variant_id) pair that is not "
            "in this release: are these predictions for a different release or version?",
        )
    rows = np.flatnonzero(unknown)
    for r in rows[: problems.limit]:
        eid, vid = predictions["example_id"].iat[r], predictions["variant_id"].iat[r]
        what, value = ("variant_id", vid) if example[r] >= 0 else ("example_id", eid)
        problems.add(where(r), f"unknown {what} {value!r}: ({eid!r}, {vid!r}) is not in the release")
    problems.more(len(rows) - problems.limit)
    rows = np.flatnonzero(duplicated)
    if len(rows):
        first = pd.Series(np.arange(len(cell))).groupby(cell).transform("min").to_numpy()
        for r in rows[: problems.limit]:
            problems.add(
                where(r),
                f"duplicate prediction for (example_id {predictions['example_id'].iat[r]!r}, variant_id "
                f"{predictions['variant_id'].iat[r]!r}); first given at {where(first[r])}",
            )
        problems.more(len(rows) - problems.limit)
    problems.raise_if_any()
    accepted = np.flatnonzero(~unknown)
    return _Cells(cell=cell[accepted], row=accepted)


def _lookup(values: pd.Series, known: pa.Array) -> np.ndarray:
    """Position of each value in `known` (a hash lookup in Arrow), -1 when absent."""
    positions = pc.index_in(pc.cast(_arrow(values), pa.string()), value_set=known)
    return np.asarray(pc.fill_null(positions, -1), dtype=np.int64)


def _locations(predictions: pd.DataFrame):
    unit = predictions.attrs.get("unit", "row")
    numbers = predictions["_where"].to_numpy() if "_where" in predictions.columns else None
    files = predictions["_file"].astype(str).to_numpy() if "_file" in predictions.columns else None

    def where(r: int) -> str:
        number = int(numbers[r]) if numbers is not None else r + 1
        return f"{files[r]}: {unit} {number}" if files is not None else f"{unit} {number}"

    return where


# ------------------------------------------------------------------------------------------ contents


def _arrow(series: pd.Series) -> pa.Array:
    array = pa.array(series)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _observed_label_space(gold: pa.Array, labels: pd.DataFrame) -> pa.Array:
    """Without label names, a task's answer space is the set of its gold labels (sorted)."""
    tasks = labels["task"].astype(str).to_numpy() if "task" in labels.columns else np.full(len(labels), "all")
    frame = pd.DataFrame({"task": tasks, "gold": np.asarray(gold.to_pylist(), dtype=object)})
    spaces = frame.groupby("task", sort=True)["gold"].agg(lambda s: sorted(set(s)))
    codes = pd.Index(spaces.index).get_indexer(tasks)
    return pa.array(list(spaces), pa.list_(pa.string())).take(pa.array(codes))


def _check_gold(gold_at: np.ndarray, labels: pd.DataFrame) -> None:
    rows = np.flatnonzero(gold_at < 0)
    if len(rows):
        problems = Problems("labels")
        # Never print the gold value itself: error messages are public.
        problems.add_rows(
            [f"labels row {r + 1} ({_pair(labels, r)})" for r in rows[: problems.limit]],
            "gold is not one of the slot's answer labels",
            len(rows),
        )
        problems.raise_if_any()


def _content_codes(options: pa.Array, chosen: np.ndarray) -> np.ndarray:
    """Integer code of the chosen option's text; a distinct code per cell when there is no answer."""
    offsets = np.asarray(options.offsets)[:-1].astype(np.int64)
    answered = chosen >= 0
    positions = np.where(answered, offsets + np.maximum(chosen, 0), 0)
    texts = options.values.take(pa.array(positions, mask=~answered))
    encoded = pc.dictionary_encode(texts)
    codes = np.asarray(pc.fill_null(encoded.indices, -1), dtype=np.int64)
    unanswered = np.flatnonzero(codes < 0)
    codes[unanswered] = len(encoded.dictionary) + unanswered
    return codes


def _slot_families(labels: pd.DataFrame, grid: _Grid, families: Mapping[str, str] | None):
    if families is not None:
        return tuple(families.get(s) for s in grid.slots)
    if "family" not in labels.columns:
        return tuple(None for _ in grid.slots)
    k = len(grid.slots)
    first_rows = grid.order[:k]
    values = _arrow(labels["family"]).take(pa.array(first_rows)).to_pylist()
    return tuple(values)
