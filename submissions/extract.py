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
5. answer_cue    – free text with cues: `answer`, `option` or `choice`, optionally `is`, `:`, `=`
                   or `-`, then a label, possibly bracketed (`Answer: B`, `The answer is (C).`,
                   `Option ii`); or the words after the cue, up to the end of the sentence or the
                   next cue, equal one option text (`The answer is Paris`). Every cue counts:
                   cues naming different options are ambiguous (`Answer: A. No, answer: B`).
6. leading_label – free text that starts with a label followed by `)`, `.`, `:` or `]`, optionally
                   opened by `(` or `[` (`B) because ...`, `(B) Paris`); ambiguous if the words after
                   it are exactly the text of a different option.
7. mentioned     – exactly one option text occurs in the prediction as whole words (`I think it is
                   Paris`); two or more: ambiguous. A negation is not understood (`not Paris`
                   names Paris) — a known limit of a rule that must stay simple and auditable.
8. failed        – nothing matched.

Every rule runs as vectorised Arrow string kernels and numpy over all undecided rows at once, but
rule 7, whose substring test is specific to each row (each row has its own option texts): it is a
plain loop over the rows that reach it. Rules 4-7 only see the rows still undecided (free text).
"""

from __future__ import annotations

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
# Answer cues (RE2 syntax, for pyarrow.compute): a text is split at every cue word, and the piece
# after each is read with _CUE_TAIL: `token` is the label after the cue, `rest` the words from there
# to the end of the sentence.
_CUE_WORD = r"(?i)\b(?:answer|option|choice)\b"
_CUE_TAIL = (
    r"(?i)^(?:\s+is)?\s*[:=\-]?\s*(?:option\s+|choice\s+)?(?P<rest>[(\[]?(?P<token>[\p{L}\p{N}]+)[^\n.;]*)"
)
_AMBIGUOUS, _NOTHING = -3, -4  # markers while reading cues
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
        # decimal digits only: `utf8_is_digit` also takes "²" and "¼", which int() refuses (a crash, found
        # by fuzzing); int() reads every decimal digit, full-width ones included
        is_number = np.asarray(pc.fill_null(pc.utf8_is_decimal(core), False), dtype=bool) & ~digit_labels
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


def _words(texts: pa.Array) -> pa.Array:
    """Case-folded words (letters and digits, any script) separated by single spaces.

    Computed once per distinct text (option texts repeat in every slot of an example)."""
    encoded = pc.dictionary_encode(pc.fill_null(pc.cast(texts, pa.string()), ""))
    folded = pc.utf8_lower(encoded.dictionary)
    words = pc.utf8_trim_whitespace(pc.replace_substring_regex(folded, r"[^\p{L}\p{N}]+", " "))
    return words.take(encoded.indices)


def _padded(words: pa.Array) -> list[str]:
    """Words padded with one space on each side: `" paris "` in `" i think paris "` is a whole-word match."""
    return [f" {w} " for w in words.to_pylist()]


def _matches(value: pa.Array, columns: list[pa.Array]) -> np.ndarray:
    """(rows, width) bool: value == column j, never matching an empty or missing column entry."""
    if not columns:
        return np.zeros((len(value), 0), dtype=bool)
    return np.stack(
        [_eq(value, c) & _eq(pc.not_equal(c, ""), pa.array([True] * len(c))) for c in columns], axis=1
    )


def _named(tokens: pa.Array, label_columns: list[pa.Array]) -> tuple[np.ndarray, np.ndarray]:
    """Which label a token names: exact match first, else ignoring case. Returns (position, count);
    count > 1 means the token is ambiguous."""
    exact = _matches(tokens, label_columns)
    loose = _matches(pc.utf8_lower(tokens), [pc.utf8_lower(c) for c in label_columns])
    found = np.where(exact.any(axis=1)[:, None], exact, loose)
    return found.argmax(axis=1) if found.shape[1] else np.zeros(len(tokens), int), found.sum(axis=1)


def _free_text(rows, predictions, labels, options, index, rule) -> None:
    """Rules 4-7 for the rows still undecided (free text), vectorised but for texts with several cues
    (rule 5) and for the mentions of rule 7, whose comparisons are row-specific."""
    take = pa.array(rows)
    text = predictions.take(take)
    row_labels, row_options = labels.take(take), options.take(take)
    m = len(rows)
    label_lengths = np.asarray(pc.fill_null(pc.list_value_length(row_labels), 0), dtype=np.int64)
    option_lengths = np.asarray(pc.fill_null(pc.list_value_length(row_options), 0), dtype=np.int64)
    label_columns = [_element(row_labels, j, label_lengths) for j in range(int(label_lengths.max(initial=0)))]
    option_words = [
        _words(_element(row_options, j, option_lengths)) for j in range(int(option_lengths.max(initial=0)))
    ]
    local_index = np.full(m, FAILED, dtype=np.int32)
    local_rule = np.full(m, _RULE["failed"], dtype=np.int8)
    undecided = np.ones(m, dtype=bool)

    def decide(where: np.ndarray, found: np.ndarray, name: str) -> None:
        """Rows in `where` are decided by rule `name`: the first True of `found`, or FAILED if several."""
        position = np.where(found.sum(axis=1) == 1, found.argmax(axis=1), FAILED)
        _decide(local_index, local_rule, undecided, where, position, name)

    # 4. the whole prediction is an option's text
    equal = _matches(_words(text), option_words)
    decide(equal.any(axis=1), equal, "option_text")

    # 5. answer cues: the text is cut at every cue word; each piece after a cue may name an option
    pieces = pc.split_pattern_regex(text, _CUE_WORD)
    counts = np.asarray(pc.fill_null(pc.list_value_length(pieces), 0), dtype=np.int64)
    parent = np.repeat(np.arange(m), counts)
    after_cue = np.flatnonzero(np.arange(len(parent)) - np.repeat(np.cumsum(counts) - counts, counts) > 0)
    if len(after_cue):
        owner = pa.array(parent[after_cue])
        parsed = pc.extract_regex(pieces.flatten().take(pa.array(after_cue)), _CUE_TAIL)
        position, count = _named(parsed.field("token"), [c.take(owner) for c in label_columns])
        phrase = _matches(_words(parsed.field("rest")), [w.take(owner) for w in option_words])
        named = np.select(
            [count == 1, count > 1, phrase.sum(axis=1) == 1, phrase.sum(axis=1) > 1],
            [position, _AMBIGUOUS, phrase.argmax(axis=1) if phrase.shape[1] else 0, _AMBIGUOUS],
            default=_NOTHING,
        )
        hit = named != _NOTHING
        rows_named, values = parent[after_cue][hit], named[hit]
        pairs = np.unique(np.stack([rows_named, values], axis=1), axis=0)
        distinct = np.bincount(pairs[:, 0], minlength=m)
        first = np.full(m, _AMBIGUOUS)
        first[pairs[::-1, 0]] = pairs[::-1, 1]
        chosen = np.where((distinct == 1) & (first != _AMBIGUOUS), first, FAILED)
        _decide(local_index, local_rule, undecided, distinct > 0, chosen, "answer_cue")

    # 6. a label at the start; ambiguous when the words after it are another option's text
    parsed = pc.extract_regex(text, _LEADING)
    position, count = _named(parsed.field("token"), label_columns)
    unique = count == 1
    found = np.zeros((m, len(label_columns)), dtype=bool)
    found[np.arange(m)[unique], position[unique]] = True
    rest = _matches(_words(parsed.field("rest")), option_words)
    width = min(found.shape[1], rest.shape[1])
    found[:, :width] |= rest[:, :width] & unique[:, None]
    decide(unique, found, "leading_label")

    # 7. option texts mentioned as whole words
    left = np.flatnonzero(undecided)
    if len(left):
        texts = _padded(_words(text.take(pa.array(left))))
        columns = [_padded(w.take(pa.array(left))) for w in option_words]
        for k, row in enumerate(left):
            mentioned = [j for j, col in enumerate(columns) if col[k].strip() and col[k] in texts[k]]
            if mentioned:
                _set(local_index, local_rule, row, mentioned, "mentioned")
    index[rows] = np.where(local_rule != _RULE["failed"], local_index, index[rows])
    rule[rows] = np.where(local_rule != _RULE["failed"], local_rule, rule[rows])


def _set(index, rule, row: int, candidates: list[int], name: str) -> None:
    index[row] = candidates[0] if len(set(candidates)) == 1 else FAILED
    rule[row] = _RULE[name]
