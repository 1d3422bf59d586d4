"""Answer extraction: which option (or class) a prediction names, by one documented rule.

A prediction is compared with its own slot's answer space: the slot's option labels (`choice_labels`,
e.g. `A B C D` or `i ii iii iv`) and option texts for multiple choice, the label names for
classification (where a label name is also its own "option text"). The rules are tried in this
order; the first that decides wins, and a rule that finds the answer *ambiguous* decides "failed"
(an ambiguous answer is never guessed):

0. missing       – no prediction, or only whitespace.                            -> no answer
1. label         – the prediction, stripped of whitespace and of wrapping punctuation
                   ``()[]{}<>.,:;!?'"*` `` (so `B`, `(B)`, `B)`, `B.`, `**B**`), equals a label.
2. label_case    – the same, ignoring case (`b` for `B`, `Positive` for `positive`); if two labels
                   differ only by case, ambiguous.
3. index         – the stripped prediction is a whole number n and the slot has no all-digit
                   label: n is the 0-based option position (as in lm-eval targets and the Hub's
                   `answer` fields). With digit labels (`1 2 3 4`) a number is only ever a label.
                   Only where the answer space's order is known (always for multiple choice).
4. option_text   – the prediction equals an option's text, compared as words (case-folded, runs
                   of non-word characters as one space): `paris` for `Paris.`; two equal options:
                   ambiguous.
5. answer_cue    – free text with a cue: `answer`, `option` or `choice`, optionally `is`, `:`,
                   `=` or `-`, then a label, possibly bracketed (`Answer: B`, `The answer is (C).`,
                   `Option ii`); or the words after the cue equal one option text
                   (`The answer is Paris`). Cues naming different options: ambiguous.
6. leading_label – free text that starts with a label followed by `)`, `.`, `:` or `]`, optionally
                   opened by `(` or `[` (`B) because ...`, `(B) Paris`); ambiguous if the words after
                   it are exactly the text of a different option.
7. mentioned     – exactly one option text occurs in the prediction as whole words (`I think it is
                   Paris`); two or more: ambiguous. A negation is not understood (`not Paris`
                   names Paris) — a known limit of a rule that must stay simple and auditable.
8. failed        – nothing matched.

Rules 0-3 run on every row with vectorised Arrow string kernels; rules 4-7 only on the rows still
undecided (free-text answers), with pandas string methods and one pass per row where the
comparison is row-specific (each row has its own option texts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

RULES = (
    "missing",
    "failed",
    "label",
    "label_case",
    "index",
    "option_text",
    "answer_cue",
    "leading_label",
    "mentioned",
)
MISSING = -2  # no prediction
FAILED = -1  # a prediction from which no single answer could be extracted
_RULE = {name: code for code, name in enumerate(RULES)}
WRAPPING = "()[]{}<>.,:;!?'\"*` \t\r\n"
# A cue, then (zero-width, so that every cue in a text is found) the label token after it and the
# rest of its sentence. `_CUE_WORD` (RE2, for Arrow) pre-selects the rows worth scanning.
_CUE = re.compile(
    r"(?i)\b(?:answer|option|choice)\b(?:\s+is)?\s*[:=\-]?\s*(?:option\s+|choice\s+)?"
    r"(?=[(\[]?([^\W_]+))(?=([^\n.;]*))"
)
_CUE_WORD = r"(?i)\b(?:answer|option|choice)\b"
# A label at the very start, closed by ) . : or ] (RE2 syntax, for pyarrow.compute.extract_regex).
_LEADING = r"(?s)^\s*[(\[]?(?P<token>[\p{L}\p{N}]+)[)\].:](?P<rest>.*)$"


@dataclass(frozen=True)
class Extraction:
    """Per row: the chosen option position (`MISSING`, `FAILED` or 0..n-1) and the deciding rule."""

    index: np.ndarray  # int32
    rule: np.ndarray  # int8, position in RULES

    def counts(self) -> dict[str, int]:
        found = np.bincount(self.rule, minlength=len(RULES))
        return {name: int(found[code]) for code, name in enumerate(RULES)}


def extract_answers(
    predictions: pa.Array | pa.ChunkedArray,
    labels: pa.Array | pa.ChunkedArray,
    options: pa.Array | pa.ChunkedArray | None = None,
    *,
    allow_index: bool = True,
) -> Extraction:
    """Apply the rules above to each row: `labels[i]` / `options[i]` are row i's answer space."""
    predictions = _combine(pc.cast(predictions, pa.string()))
    labels = _combine(labels)
    options = labels if options is None else _combine(options)
    n = len(predictions)
    index = np.full(n, FAILED, dtype=np.int32)
    rule = np.full(n, _RULE["failed"], dtype=np.int8)
    undecided = np.ones(n, dtype=bool)
    n_options = np.asarray(pc.fill_null(pc.list_value_length(labels), 0), dtype=np.int64)
    width = int(n_options.max()) if n else 0
    label_columns = [_element(labels, j, n_options) for j in range(width)]

    stripped = pc.utf8_trim_whitespace(predictions)
    missing = np.asarray(pc.fill_null(pc.equal(stripped, ""), True), dtype=bool)
    _decide(index, rule, undecided, missing, MISSING, "missing")

    core = pc.utf8_trim(stripped, WRAPPING)
    exact = (
        np.stack([_eq(core, column) for column in label_columns], axis=1) if width else np.zeros((n, 0), bool)
    )
    hits = exact.sum(axis=1)
    _decide(index, rule, undecided, hits == 1, exact.argmax(axis=1) if width else 0, "label")

    folded = pc.utf8_lower(core)
    loose = (
        np.stack([_eq(folded, pc.utf8_lower(column)) for column in label_columns], axis=1) if width else exact
    )
    hits = loose.sum(axis=1)
    _decide(index, rule, undecided, hits == 1, loose.argmax(axis=1) if width else 0, "label_case")
    _decide(index, rule, undecided, hits > 1, FAILED, "label_case")

    if allow_index and width:
        digit_labels = np.zeros(n, dtype=bool)
        for column in label_columns:
            digit_labels |= np.asarray(pc.fill_null(pc.utf8_is_digit(column), False), dtype=bool)
        is_number = np.asarray(pc.fill_null(pc.utf8_is_digit(core), False), dtype=bool) & ~digit_labels
        is_number &= undecided
        if is_number.any():
            rows = np.flatnonzero(is_number)
            values = np.array([int(v) if len(v) < 10 else -1 for v in core.take(pa.array(rows)).to_pylist()])
            ok = (values >= 0) & (values < n_options[rows])
            chosen = np.zeros(n, dtype=bool)
            chosen[rows[ok]] = True
            position = np.zeros(n, dtype=np.int64)
            position[rows[ok]] = values[ok]
            _decide(index, rule, undecided, chosen, position, "index")

    rows = np.flatnonzero(undecided)
    if len(rows):
        _free_text(rows, predictions, labels, options, index, rule)
    return Extraction(index=index, rule=rule)


def gold_positions(gold: pa.Array | pa.ChunkedArray, labels: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The position of each row's gold label in its own label list (exact match), or -1."""
    gold = _combine(pc.cast(gold, pa.string()))
    labels = _combine(labels)
    n_options = np.asarray(pc.fill_null(pc.list_value_length(labels), 0), dtype=np.int64)
    width = int(n_options.max()) if len(gold) else 0
    position = np.full(len(gold), -1, dtype=np.int32)
    for j in reversed(range(width)):
        position[_eq(gold, _element(labels, j, n_options))] = j
    return position


# --------------------------------------------------------------------------------------------- helpers


def _combine(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        return array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    return array


def _element(lists: pa.Array, j: int, lengths: np.ndarray) -> pa.Array:
    """Element j of every list (null where the list is shorter), without a Python loop over rows."""
    offsets = np.asarray(lists.offsets)[:-1].astype(np.int64)
    values = lists.values
    has = lengths > j
    positions = np.where(has, offsets + j, 0)
    taken = values.take(pa.array(positions)) if len(values) else pa.nulls(len(lists), pa.string())
    return pc.if_else(pa.array(has), taken, pa.scalar(None, pa.string()))


def _eq(a: pa.Array, b: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(pc.equal(a, b), False), dtype=bool)


def _decide(index, rule, undecided, where, value, name: str) -> None:
    chosen = undecided & where
    if not chosen.any():
        return
    index[chosen] = value[chosen] if isinstance(value, np.ndarray) else value
    rule[chosen] = _RULE[name]
    undecided &= ~chosen


def _words(texts: pa.Array) -> list[str]:
    """Case-folded words (letters and digits, any script) separated by single spaces, padded with
    one space on each side so that `" paris "` in `" i think paris "` is a whole-word match."""
    folded = pc.utf8_lower(pc.fill_null(pc.cast(texts, pa.string()), ""))
    spaced = pc.utf8_trim_whitespace(pc.replace_substring_regex(folded, r"[^\p{L}\p{N}]+", " "))
    return [f" {w} " for w in spaced.to_pylist()]


def _free_text(rows, predictions, labels, options, index, rule) -> None:
    """Rules 4-7 for the rows still undecided (free text)."""
    take = pa.array(rows)
    text = predictions.take(take)
    row_labels = labels.take(take).to_pylist()
    row_options = options.take(take)
    words = _words(text)
    flat_words = _words(row_options.flatten())
    bounds = np.asarray(row_options.offsets) - np.asarray(row_options.offsets)[0]
    option_words = [flat_words[bounds[k] : bounds[k + 1]] for k in range(len(rows))]

    def option_named(phrase: str, k: int) -> list[int]:
        return [j for j, w in enumerate(option_words[k]) if w.strip() and w == phrase]

    def label_named(token: str, k: int) -> list[int]:
        exact = [j for j, lab in enumerate(row_labels[k] or []) if lab == token]
        if exact:
            return exact
        return [j for j, lab in enumerate(row_labels[k] or []) if lab.lower() == token.lower()]

    # Rule 5 looks for every cue, but only in the rows an Arrow kernel finds a cue word in.
    has_cue = np.asarray(pc.fill_null(pc.match_substring_regex(text, _CUE_WORD), False), dtype=bool)
    cue_rows = np.flatnonzero(has_cue)
    cue_texts = text.take(pa.array(cue_rows)).to_pylist()
    cue_matches = [[(m.group(1), m.group(2)) for m in _CUE.finditer(t)] for t in cue_texts]
    phrases = _words(pa.array([rest for found in cue_matches for _, rest in found], pa.string()))
    cue_hits: dict[int, set[int]] = {}
    position = 0
    for k, found in zip(cue_rows, cue_matches, strict=True):
        for token, _ in found:
            named = label_named(token, k) or option_named(phrases[position], k)
            position += 1
            if named:
                cue_hits.setdefault(int(k), set()).update(named)

    leading = pc.extract_regex(text, _LEADING)
    tokens = leading.field("token").to_pylist()
    rest_words = _words(leading.field("rest"))
    for k, row in enumerate(rows):
        equal = option_named(words[k], k)
        if equal:
            _set(index, rule, row, equal, "option_text")
            continue
        if k in cue_hits:
            _set(index, rule, row, sorted(cue_hits[k]), "answer_cue")
            continue
        token = tokens[k]
        if token is not None:
            named = label_named(token, k)
            if len(named) == 1:
                _set(index, rule, row, [*named, *option_named(rest_words[k], k)], "leading_label")
                continue
        mentioned = [j for j, w in enumerate(option_words[k]) if w.strip() and w in words[k]]
        if mentioned:
            _set(index, rule, row, mentioned, "mentioned")


def _set(index, rule, row: int, candidates: list[int], name: str) -> None:
    index[row] = candidates[0] if len(set(candidates)) == 1 else FAILED
    rule[row] = _RULE[name]
