"""What every text perturbation shares: which fields it edits, which words it may touch, and cheap sampling.

A `TextPerturbation` implements `edit(text, rng, protected)`; `perturb` applies it to the example's
perturbable fields with the example's protected tokens. `apply` takes the protected set explicitly so
that a composition computes it once, on its *input*, and keeps it through every step (after a
lower-casing step "Paris" is still protected).

Rates are Bernoulli per eligible unit (letter or word). Drawing one random number per unit would cost
~300 draws per MMLU question per slot; `bernoulli_indices` draws the geometric gaps between successes
instead — the same distribution with one draw per edit.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import ClassVar

from builder.perturbations.base import Perturbation
from builder.perturbations.lexicon import english_stopwords
from builder.perturbations.protected import CLOSED_CLASS, protected_tokens, text_fields
from builder.tasks import Example


def bernoulli_indices(n: int, p: float, rng: random.Random) -> list[int]:
    """The indices in range(n) kept by independent Bernoulli(p) trials, in increasing order.

    Gaps between successes are geometric: P(gap >= k) = (1-p)^k = P(U <= (1-p)^k) for U ~ U(0, 1].
    """
    if n <= 0 or p <= 0.0:
        return []
    if p >= 1.0:
        return list(range(n))
    log_q = math.log1p(-p)
    chosen: list[int] = []
    i = -1
    while True:
        i += 1 + int(math.log(1.0 - rng.random()) / log_q)
        if i >= n:
            return chosen
        chosen.append(i)


# A whole WORD token made of 2+ lower-case ASCII letters: not glued by an apostrophe, dot, comma,
# hyphen or underscore to another word (`don't`, `3.5kg`, `well-known`, `x_1` are not editable).
# Everything else (capitals, digits, single letters, non-ASCII words) is protected by definition.
# Splitting on it (the group keeps the words) leaves them at the odd indices of the pieces.
_EDITABLE_SPLIT = re.compile(r"((?<!\w)(?<!\w['\u2019.,\-])[a-z]{2,}(?!\w)(?!['\u2019.,\-]\w))")


# The per-text caches below serve the slots of one example, which the release builder perturbs one
# after the other, and the steps of a composition: a handful of texts. They are that small on
# purpose: an entry evicted from a large cache has gone cold in memory, and freeing it (~100 strings
# for a `word_pieces` entry) cost more than the regex split it had saved (MMLU, one slot per text).
TEXT_CACHE_SIZE = 8


@lru_cache(maxsize=TEXT_CACHE_SIZE)
def word_pieces(text: str) -> tuple[str, ...]:
    """`text` cut into pieces so that the candidate words sit at the odd indices; "".join gives it back."""
    return tuple(_EDITABLE_SPLIT.split(text))


@lru_cache(maxsize=TEXT_CACHE_SIZE)
def editable_words(text: str, protected: frozenset[str], min_len: int = 2) -> tuple[int, ...]:
    """Indices into `word_pieces(text)` of the words a text perturbation may edit (>= `min_len` letters).

    Those are the lower-case ASCII words that are neither protected for this example nor
    negation/number/truth words; numbers, contractions, possessives and compounds never qualify.
    One regex split and a set lookup per word, because this runs for every text slot of every
    example; cached, because the slots of one example (replicates, the three character edits) share
    a text.
    """
    pieces = word_pieces(text)
    return tuple(
        i
        for i in range(1, len(pieces), 2)
        if len(word := pieces[i]) >= min_len and word not in protected and word not in CLOSED_CLASS
    )


def replace_words(text: str, indices: Sequence[int], chosen: list[int], new_word) -> str:
    """`text` with each word pieces[indices[j]] (j in `chosen`) replaced by new_word(word)."""
    pieces = list(word_pieces(text))
    for j in chosen:
        i = indices[j]
        pieces[i] = new_word(pieces[i])
    return "".join(pieces)


def check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


@dataclasses.dataclass(frozen=True)
class TextPerturbation(Perturbation):
    """Edits the question (multiple choice) or text/text_pair (classification); never option texts."""

    protects_stopwords: ClassVar[bool] = False
    nltk_resources: ClassVar[tuple[str, ...]] = ("stopwords",)  # protected tokens exclude stopwords

    def prepare(self, examples: Sequence[Example]) -> None:
        """Load the stopword list that protected tokens need: a missing NLTK resource fails up front."""
        english_stopwords()

    def edit(self, text: str, rng: random.Random, protected: frozenset[str]) -> str:
        raise NotImplementedError

    def perturb(self, example: Example, rng: random.Random) -> Example:
        return self.apply(example, rng, protected_tokens(example, stopwords=self.protects_stopwords))

    def apply(self, example: Example, rng: random.Random, protected: frozenset[str]) -> Example:
        """`perturb` with a given protected set (a composition passes the one of its input)."""
        changes = {name: self.edit(getattr(example, name), rng, protected) for name in text_fields(example)}
        return with_fields(example, changes)


def with_fields(example: Example, changes: dict[str, str]) -> Example:
    """`dataclasses.replace(example, **changes)` at a sixth of the cost: it runs for every text slot.

    The same object: `Example` is a frozen dataclass without `__post_init__`, so `replace` only
    re-assigns every field through the generated `__init__`; copying the instance dictionary and
    overwriting the changed fields leaves the same values in the same order.
    """
    new = object.__new__(Example)
    new.__dict__.update(example.__dict__, **changes)
    return new
