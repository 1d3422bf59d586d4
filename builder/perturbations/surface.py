"""Surface perturbations: typos, character edits, casing, spacing, punctuation, contractions, HELM's mild mix.

They change how the text is written, never what it says: they skip protected tokens (numbers,
negations, capitalised words, words shared with the options, ... — see `protected.py`) and never
touch option texts.

Rates: `typos.p` is per eligible letter (HELM's `TyposPerturbation`, letters of unprotected words);
`char_swap` / `char_drop` / `char_insert` `p` is per eligible word (one edit in each chosen word,
nlpaug's "word probability" reading), eligible words having at least 3 letters; the first letter of
a word is never swapped or dropped, so words stay recognisable.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import random
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import ClassVar

from builder.perturbations.base import register
from builder.perturbations.lexicon import CONTRACTIONS, PARTICIPLES, expand_contractions, match_case
from builder.perturbations.protected import WORD
from builder.perturbations.text import (
    TEXT_CACHE_SIZE,
    TextPerturbation,
    bernoulli_indices,
    check_rate,
    editable_words,
    replace_words,
    word_pieces,
)


def _keyboard_neighbours(rows: tuple[str, ...]) -> dict[str, str]:
    """Distance-1 keys on a staggered keyboard: left/right, and the two touching keys above and below.

    Each row sits half a key right of the one above, so key (r, c) touches (r-1, c), (r-1, c+1),
    (r+1, c-1) and (r+1, c). On QWERTY this gives HELM's hand-written table (e.g. s -> adwezx).
    """

    def key(r: int, c: int) -> str:
        return rows[r][c] if 0 <= r < len(rows) and 0 <= c < len(rows[r]) else ""

    neighbours = {}
    for r, row in enumerate(rows):
        for c, ch in enumerate(row):
            around = (
                key(r, c - 1),
                key(r, c + 1),
                key(r - 1, c),
                key(r - 1, c + 1),
                key(r + 1, c - 1),
                key(r + 1, c),
            )
            neighbours[ch] = "".join(around)
    return neighbours


KEY_NEIGHBOURS = _keyboard_neighbours(("qwertyuiop", "asdfghjkl", "zxcvbnm"))


@lru_cache(maxsize=TEXT_CACHE_SIZE)
def _typo_words(text: str, protected: frozenset[str]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The editable words (piece indices) and their cumulative lengths (letters up to each word's end)."""
    indices = editable_words(text, protected)
    pieces = word_pieces(text)
    return indices, tuple(itertools.accumulate(len(pieces[i]) for i in indices))


def typo_edit(text: str, rng: random.Random, protected: frozenset[str], p: float) -> str:
    """Replace each eligible letter, with probability p, by a keyboard neighbour.

    Eligible letters are those of the editable words; the k-th of them is found by bisecting
    the words' cumulative lengths, so the cost is per edit, not per letter.
    """
    indices, ends = _typo_words(text, protected)
    chosen = bernoulli_indices(ends[-1] if ends else 0, p, rng)
    if not chosen:
        return text
    pieces = list(word_pieces(text))
    for k in chosen:
        w = bisect.bisect_right(ends, k)
        offset = k - (ends[w - 1] if w else 0)
        word = pieces[indices[w]]
        pieces[indices[w]] = word[:offset] + rng.choice(KEY_NEIGHBOURS[word[offset]]) + word[offset + 1 :]
    return "".join(pieces)


@register
@dataclasses.dataclass(frozen=True)
class Typos(TextPerturbation):
    name: ClassVar[str] = "typos"
    family: ClassVar[str] = "typos"
    description: ClassVar[str] = (
        "Replaces each letter of unprotected words, with probability p, by a keyboard neighbour"
    )
    p: float = 0.05

    def __post_init__(self) -> None:
        check_rate("typos p", self.p)

    def edit(self, text: str, rng: random.Random, protected: frozenset[str]) -> str:
        return typo_edit(text, rng, protected, self.p)


@dataclasses.dataclass(frozen=True)
class _CharEdit(TextPerturbation):
    """One character edit in each eligible word chosen with probability p."""

    family: ClassVar[str] = "char_edits"
    p: float = 0.1

    def __post_init__(self) -> None:
        check_rate(f"{self.name} p", self.p)

    def eligible(self, pieces: tuple[str, ...], indices: tuple[int, ...]) -> Sequence[int]:
        """The editable words (piece indices) that have a position to edit: all of them by default,
        since every word of 3+ letters has a letter to drop and one to insert after."""
        return indices

    def positions(self, word: str) -> Sequence[int]:
        raise NotImplementedError

    def apply_at(self, word: str, i: int, rng: random.Random) -> str:
        raise NotImplementedError

    def edit(self, text: str, rng: random.Random, protected: frozenset[str]) -> str:
        pieces = word_pieces(text)
        indices = self.eligible(pieces, editable_words(text, protected, min_len=3))
        chosen = bernoulli_indices(len(indices), self.p, rng)
        if not chosen:
            return text
        return replace_words(
            text, indices, chosen, lambda w: self.apply_at(w, rng.choice(self.positions(w)), rng)
        )


@register
@dataclasses.dataclass(frozen=True)
class CharSwap(_CharEdit):
    name: ClassVar[str] = "char_swap"
    description: ClassVar[str] = (
        "Swaps two adjacent different letters (not the first) in each word chosen with probability p"
    )

    def eligible(self, pieces: tuple[str, ...], indices: tuple[int, ...]) -> Sequence[int]:
        """Words with two different letters after the first (`positions` not empty), without listing
        the positions of every word: only the chosen ones need them."""
        return [i for i in indices if (w := pieces[i])[1:] != w[1] * (len(w) - 1)]  # not one letter repeated

    def positions(self, word: str) -> list[int]:
        return [i for i in range(1, len(word) - 1) if word[i] != word[i + 1]]

    def apply_at(self, word: str, i: int, rng: random.Random) -> str:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


# `positions` of the two edits below are ranges: `rng.choice` draws the same index from a range as
# from the list of its items, without building the list.


@register
@dataclasses.dataclass(frozen=True)
class CharDrop(_CharEdit):
    name: ClassVar[str] = "char_drop"
    description: ClassVar[str] = "Deletes one letter (not the first) of each word chosen with probability p"

    def positions(self, word: str) -> range:
        return range(1, len(word))

    def apply_at(self, word: str, i: int, rng: random.Random) -> str:
        return word[:i] + word[i + 1 :]


@register
@dataclasses.dataclass(frozen=True)
class CharInsert(_CharEdit):
    name: ClassVar[str] = "char_insert"
    description: ClassVar[str] = (
        "Inserts a keyboard neighbour after one letter of each word chosen with probability p"
    )

    def positions(self, word: str) -> range:
        return range(len(word))

    def apply_at(self, word: str, i: int, rng: random.Random) -> str:
        extra = rng.choice(KEY_NEIGHBOURS[word[i]])  # editable words are lower-case ASCII
        return word[: i + 1] + extra + word[i + 1 :]


_CASINGS = {"lower", "upper", "title"}


@register
@dataclasses.dataclass(frozen=True)
class Casing(TextPerturbation):
    name: ClassVar[str] = "casing"
    family: ClassVar[str] = "casing"
    description: ClassVar[str] = (
        "Rewrites the text in lower case, upper case, or with every word capitalised (title)"
    )
    stochastic: ClassVar[bool] = False
    mode: str = "lower"

    def __post_init__(self) -> None:
        if self.mode not in _CASINGS:
            raise ValueError(f"casing mode must be one of {sorted(_CASINGS)}, got {self.mode!r}")

    def edit(self, text: str, rng: random.Random, protected: frozenset[str]) -> str:
        if self.mode == "lower":
            return text.lower()
        if self.mode == "upper":
            return text.upper()
        # str.title() would also capitalise after apostrophes ("Don'T"); capitalise word starts only.
        return WORD.sub(lambda m: m.group()[:1].upper() + m.group()[1:], text)


_SPACES = re.compile(r" +")


def space_edit(text: str, rng: random.Random, max_extra: int) -> str:
    """Add 0..max_extra spaces (uniformly) to each run of spaces; words are never merged or split."""
    width = max_extra + 1
    return _SPACES.sub(lambda m: m.group() + " " * int(rng.random() * width), text)


@register
@dataclasses.dataclass(frozen=True)
class Whitespace(TextPerturbation):
    name: ClassVar[str] = "whitespace"
    family: ClassVar[str] = "whitespace"
    description: ClassVar[str] = "Adds 0 to max_extra extra spaces (uniformly) to every space between words"
    max_extra: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.max_extra, int) or self.max_extra < 1:
            raise ValueError(f"whitespace max_extra must be an integer >= 1, got {self.max_extra!r}")

    def edit(self, text: str, rng: random.Random, protected: frozenset[str]) -> str:
        return space_edit(text, rng, self.max_extra)


_PUNCT_RUN = re.compile(r"[,;:!?.]+")
_WORD_THEN_SPACE = re.compile(r"[^\W_](?= [^\W_])")
ADD_RATE = 0.1  # punctuation "add": share of word gaps that get a comma


@register
@dataclasses.dataclass(frozen=True)
class Punctuation(TextPerturbation):
    """`strip` deletes sentence punctuation (, ; : ! ? .) where it touches a space or an end of the
    text ("harm?", "West,", "e.g., "), so inner marks stay (`3.5`, `3:00`, `U.S.`, `et al.'s`) and no
    two words merge; `add` puts a comma in a random 10% of the gaps between two words (the words
    themselves are untouched)."""

    name: ClassVar[str] = "punctuation"
    family: ClassVar[str] = "punctuation"
    description: ClassVar[str] = (
        "strip: removes , ; : ! ? . next to spaces (never inside numbers); add: commas in 10% of word gaps"
    )
    mode: str = "strip"

    def __post_init__(self) -> None:
        if self.mode not in ("strip", "add"):
            raise ValueError(f"punctuation mode must be 'strip' or 'add', got {self.mode!r}")

    def is_stochastic(self) -> bool:
        return self.mode == "add"

    def edit(self, text: str, rng: random.Random, protected: frozenset[str]) -> str:
        if self.mode == "strip":
            return _PUNCT_RUN.sub(lambda m: _strip_run(text, m), text)
        gaps = [m.end() for m in _WORD_THEN_SPACE.finditer(text)]
        chosen = bernoulli_indices(len(gaps), ADD_RATE, rng)
        out, last = [], 0
        for j in chosen:
            out.append(text[last : gaps[j]])
            out.append(",")
            last = gaps[j]
        out.append(text[last:])
        return "".join(out)


def _strip_run(text: str, match: re.Match) -> str:
    """Drop a run of marks only next to a space or an end of the text: then no two words can merge."""
    start, end = match.span()
    loose = start == 0 or end == len(text) or text[start - 1].isspace() or text[end].isspace()
    return "" if loose else match.group()


# expansion -> contraction, for the natural ones only: "let us" -> "let's" changes the meaning
# ("let us go" = allow us), and "it'd", "what're", "shan't", "mightn't" read as errors.
_CONTRACT = {
    expansion: contraction
    for contraction, expansion in CONTRACTIONS.items()
    if contraction not in {"let's", "it'd", "what're", "shan't", "mightn't"}
}


# Candidates: a word, a space, then (looked ahead, not consumed) an auxiliary or "not" and the word
# after it. Consuming only the first word lets "would" start the next candidate ("would have").
# Negations go first, so "he will not go" becomes "he won't go", not "he'll not go".
_BEFORE_NOT = re.compile(r"\b(\w+) (?=((?i:not))\b (\w+))")
_BEFORE_AUXILIARY = re.compile(r"\b(\w+) (?=((?i:is|are|am|have|will|would))\b (\w+))")
_CANNOT = re.compile(r"\b((?i:cannot))\b(?= \w)")


def _contract_pass(text: str, candidates: re.Pattern) -> str:
    out, last = [], 0
    for match in candidates.finditer(text):
        start, (first, second, following) = match.start(), match.groups()
        if start < last:  # inside a phrase already contracted
            continue
        phrase = f"{first} {second}"
        contraction = _CONTRACT.get(phrase.lower())
        if contraction is None:
            continue
        if second.lower() == "have" and not (following.lower() in PARTICIPLES or following.endswith("ed")):
            continue
        out.append(text[last:start])
        out.append(match_case(phrase, contraction))
        last = match.end() + len(second)
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def contract(text: str) -> str:
    """Contract expansions followed by a word (HELM: never at the end of a sentence).

    `have` is contracted only before a participle ("we've seen", never "we've a dog").
    """
    text = _CANNOT.sub(lambda m: match_case(m.group(1), "can't"), text)
    return _contract_pass(_contract_pass(text, _BEFORE_NOT), _BEFORE_AUXILIARY)


@register
@dataclasses.dataclass(frozen=True)
class Contractions(TextPerturbation):
    name: ClassVar[str] = "contractions"
    family: ClassVar[str] = "contractions"
    description: ClassVar[str] = "contract: 'do not' -> 'don't', 'it is' -> 'it's'; expand: the reverse"
    stochastic: ClassVar[bool] = False
    direction: str = "contract"

    def __post_init__(self) -> None:
        if self.direction not in ("contract", "expand"):
            raise ValueError(f"contractions direction must be 'contract' or 'expand', got {self.direction!r}")

    def edit(self, text: str, rng: random.Random, protected: frozenset[str]) -> str:
        if self.direction == "contract":
            return contract(text)
        return expand_contractions(text, keep_inverted=True)


# Misspelling patterns of Wikipedia's "Lists of common misspellings" (which HELM samples from as a
# 4,000-entry table): rules that produce the same kinds of error for any word instead of a table.
_SUFFIX_SWAPS = (
    ("able", "ible"),
    ("ible", "able"),
    ("ance", "ence"),
    ("ence", "ance"),
    ("ant", "ent"),
    ("ent", "ant"),
    ("ary", "ery"),
    ("ery", "ary"),
    ("itely", "ately"),
    ("ful", "full"),
)
_DOUBLE = re.compile(r"([a-z])\1")


@lru_cache(maxsize=65536)
def misspellings(word: str) -> tuple[str, ...]:
    """Plausible misspellings of a lower-case word: a doubled letter single (occurred -> occured),
    ie/ei swapped (believe -> beleive), a suffix confused (definitely -> definately), a silent n
    dropped before m (government -> goverment), a final l after a vowel doubled (until -> untill)."""
    if len(word) < 4:
        return ()
    found = {word[: m.start()] + word[m.start() + 1 :] for m in _DOUBLE.finditer(word)}
    for a, b in (("ie", "ei"), ("ei", "ie")):
        i = word.find(a, 1)
        if i > 0:
            found.add(word[:i] + b + word[i + 2 :])
    for a, b in _SUFFIX_SWAPS:
        if word.endswith(a) and len(word) > len(a) + 2:
            found.add(word[: -len(a)] + b)
    i = word.find("nm")
    if i > 0:
        found.add(word[:i] + word[i + 1 :])
    if word.endswith("l") and word[-2] in "aeiou":
        found.add(word + "l")
    found.discard(word)
    return tuple(sorted(found))


def misspell_edit(text: str, rng: random.Random, protected: frozenset[str], p: float) -> str:
    """Replace each unprotected word that has a common-misspelling pattern, with probability p."""
    pieces = word_pieces(text)
    indices = [i for i in editable_words(text, protected, min_len=4) if misspellings(pieces[i])]
    chosen = bernoulli_indices(len(indices), p, rng)
    if not chosen:
        return text
    return replace_words(text, indices, chosen, lambda word: rng.choice(misspellings(word)))


@register
@dataclasses.dataclass(frozen=True)
class MildMix(TextPerturbation):
    """HELM's canonical robustness mix, step by step as `MildMixPerturbation`: lower-case, contract,
    misspell words with probability 0.1, and widen every space to 1-3 spaces (HELM's
    `SpacePerturbation(max_spaces=3)`). Protected tokens are those of the input, kept through all four."""

    name: ClassVar[str] = "mild_mix"
    family: ClassVar[str] = "mild_mix"
    description: ClassVar[str] = (
        "HELM mild mix: lower-case, contractions, misspellings (p=0.1), spaces widened to 1-3"
    )

    def edit(self, text: str, rng: random.Random, protected: frozenset[str]) -> str:
        text = contract(text.lower())
        text = misspell_edit(text, rng, protected, 0.1)
        return space_edit(text, rng, 2)
