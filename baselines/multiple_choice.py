"""Multiple-choice baselines over the examples × slots matrix, without a Python loop per row.

Every row's options are flattened into one array (`Options`): a baseline gives each option a score,
and the prediction of a row is the label of its best-scoring option *in that row's own slot* (its
`choice_labels`, so `iii` under a roman enumerator, and the moved option under a choice-order
slot). Ties go to the first option in the slot's order: that is part of what the heuristics are, and
the reason their answers move when the options are reordered.

Text-based scores are computed once per distinct (question, option) pair: options repeat across
every slot and questions repeat across the format slots, so a 350k-row MMLU release has far fewer
distinct pairs than rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from baselines.context import RunContext, seeded_index
from baselines.release import KEY_COLUMNS, BaselineError, Release

# Keep one-character tokens: MMLU options are often numbers ("5", "7") or single letters.
TOKEN_PATTERN = r"(?u)\b\w+\b"
BM25_K1 = 1.5
BM25_B = 0.75
_PAIR_CHUNK = 200_000


@dataclass(frozen=True)
class Options:
    """A release's multiple-choice rows, flattened to one entry per (row, option)."""

    keys: pa.Table  # example_id, variant_id per row
    questions: pa.Array  # per row
    texts: pa.Array  # per option, rows' options concatenated in slot order
    labels: pa.Array  # per option: the slot's own label of that option
    offsets: np.ndarray  # row i's options are texts[offsets[i]:offsets[i + 1]]

    @property
    def n_rows(self) -> int:
        return len(self.offsets) - 1

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def row_of(self) -> np.ndarray:
        """The row index of every option."""
        return np.repeat(np.arange(self.n_rows), self.counts)


def load_options(release: Release) -> Options:
    table = release.table([*KEY_COLUMNS, "question", "choices", "choice_labels"])
    choices, labels = table["choices"].combine_chunks(), table["choice_labels"].combine_chunks()
    n_choices = pc.list_value_length(choices).fill_null(0).to_numpy(zero_copy_only=False)
    n_labels = pc.list_value_length(labels).fill_null(0).to_numpy(zero_copy_only=False)
    for bad, problem in (
        (n_choices == 0, "has no choices"),
        (n_choices != n_labels, "has a different number of choices and choice_labels"),
    ):
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise BaselineError(
                f"release {release.path}: row {row} (example_id {table['example_id'][row].as_py()!r}, "
                f"variant_id {table['variant_id'][row].as_py()!r}) {problem}"
            )
    offsets = np.concatenate([[0], np.cumsum(n_choices)]).astype(np.int64)
    return Options(
        keys=table.select(list(KEY_COLUMNS)),
        questions=table["question"].combine_chunks().fill_null(""),
        texts=pc.list_flatten(choices).fill_null(""),
        labels=pc.list_flatten(labels),
        offsets=offsets,
    )


def predict_labels(options: Options, choice: np.ndarray) -> pa.Array:
    """The slot label of option `choice[i]` (an index within row i) for every row."""
    return options.labels.take(pa.array(options.offsets[:-1] + choice))


def best_option(options: Options, scores: np.ndarray) -> np.ndarray:
    """Per row, the index of the highest-scoring option (the first of equals)."""
    counts = options.counts
    k = int(counts.max())
    if (counts == k).all():
        return np.asarray(scores, dtype=np.float64).reshape(-1, k).argmax(axis=1)
    grid = np.full((options.n_rows, k), -np.inf)
    grid[options.row_of, np.arange(len(scores)) - np.repeat(options.offsets[:-1], counts)] = scores
    return grid.argmax(axis=1)


# ----------------------------------------------------------------------------------- the baselines


def random_guess(options: Options, ctx: RunContext) -> np.ndarray:
    """A uniform guess per (seed, example_id, variant_id): reproducible in any process and row order."""
    return seeded_index(options.keys, options.counts, ctx.seed)


def first_option(options: Options, ctx: RunContext) -> np.ndarray:
    return np.zeros(options.n_rows, dtype=np.int64)


def longest_option(options: Options, ctx: RunContext) -> np.ndarray:
    """The option with the most characters: the classic test-wiseness heuristic."""
    return best_option(options, pc.utf8_length(options.texts).to_numpy(zero_copy_only=False))


def tfidf_overlap(options: Options, ctx: RunContext) -> np.ndarray:
    """Cosine similarity of question and option under TF-IDF fit on the release's distinct texts."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    pairs = QuestionOptionPairs.of(options)
    vectorizer = TfidfVectorizer(token_pattern=TOKEN_PATTERN, stop_words="english", sublinear_tf=True)
    q, o = _split_rows(vectorizer.fit_transform(pairs.questions + pairs.options), len(pairs.questions))
    return best_option(options, pairs.scores(lambda qi, oi: _rowwise_dot(q[qi], o[oi])))


def bm25_overlap(options: Options, ctx: RunContext) -> np.ndarray:
    """Okapi BM25 of each option (a document, statistics over the release's distinct options) for
    the question's terms as the query (k1=1.5, b=0.75)."""
    from sklearn.feature_extraction.text import CountVectorizer

    pairs = QuestionOptionPairs.of(options)
    vectorizer = CountVectorizer(token_pattern=TOKEN_PATTERN, stop_words="english")
    query, docs = _split_rows(vectorizer.fit_transform(pairs.questions + pairs.options), len(pairs.questions))
    query.data[:] = 1
    docs = docs.astype(np.float64)
    n_docs = docs.shape[0]
    df = np.bincount(docs.indices, minlength=docs.shape[1])
    idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
    length = np.asarray(docs.sum(axis=1)).ravel()
    norm = BM25_K1 * (1 - BM25_B + BM25_B * length / max(length.mean(), 1e-9))
    tf = docs.data
    docs.data = idf[docs.indices] * tf * (BM25_K1 + 1) / (tf + np.repeat(norm, np.diff(docs.indptr)))
    return best_option(options, pairs.scores(lambda qi, oi: _rowwise_dot(query[qi], docs[oi])))


@dataclass(frozen=True)
class QuestionOptionPairs:
    """The distinct question and option texts of a release, and the distinct pairs that occur."""

    questions: list[str]
    options: list[str]
    pair_question: np.ndarray  # per distinct pair: index into `questions`
    pair_option: np.ndarray  # per distinct pair: index into `options`
    inverse: np.ndarray  # per flattened option: index of its pair

    @classmethod
    def of(cls, options: Options) -> QuestionOptionPairs:
        q_codes, questions = _encode(options.questions)
        o_codes, texts = _encode(options.texts)
        key = q_codes[options.row_of] * np.int64(len(texts)) + o_codes
        unique, inverse = np.unique(key, return_inverse=True)
        return cls(questions, texts, unique // len(texts), unique % len(texts), inverse.ravel())

    def scores(self, score_pairs: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
        """Score every distinct pair once (in chunks, to bound memory) and spread to every option."""
        out = np.empty(len(self.pair_question), dtype=np.float64)
        for start in range(0, len(out), _PAIR_CHUNK):
            stop = start + _PAIR_CHUNK
            out[start:stop] = score_pairs(self.pair_question[start:stop], self.pair_option[start:stop])
        return out[self.inverse]


def _encode(values: pa.Array) -> tuple[np.ndarray, list[str]]:
    """Integer codes and the distinct strings (only distinct texts become Python objects)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary.to_pylist()


def _split_rows(matrix: sp.spmatrix, n: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Rows [0, n) and [n, end): one tokenisation pass serves questions and options (fit_transform)."""
    matrix = matrix.tocsr()
    return matrix[:n], matrix[n:]


def _rowwise_dot(a: sp.csr_matrix, b: sp.csr_matrix) -> np.ndarray:
    return np.asarray(a.multiply(b).sum(axis=1)).ravel()


MultipleChoiceModel = Callable[[Options, RunContext], np.ndarray]
