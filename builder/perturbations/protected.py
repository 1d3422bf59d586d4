"""Protected tokens: the words of an example that no perturbation may alter, and the check that they survived.

A perturbation must not change the answer. Most edits (a typo in "photosynthesis", a synonym for
"quickly") do not, but a few kinds of token carry the answer by themselves, so every text
perturbation leaves them alone and the release audit proves it. The protected set of an example is
computed on its perturbable text (`question` for multiple choice; `text` and `text_pair` for
classification) and holds:

- numbers: every token with a digit (`3.5`, `1,000`, `2x`, `H2O`) and the number words
  (`one` ... `twenty`, `hundred`, `first` ... `tenth`, `half`, `twice`, ...): a changed number is a
  different question;
- negations and polarity words: `not`, `no`, `never`, `none`, `nor`, `neither`, `nothing`, `cannot`,
  `without`, `except`, `least`, `unless`, ... and every `n't` form — "Which is NOT ..." flips the answer;
- truth-value words: `true`, `false`, `correct`, `incorrect` ("Which statement is false?");
- capitalised and named tokens: any token with an upper-case letter (names, acronyms, units such as
  `mL`, sentence-initial words — protecting a few ordinary words is cheap, a renamed entity is not);
- single characters: variables and symbols of maths questions (`x`, `a`, `k`);
- words shared between the question and its options (multiple choice), or between `text` and
  `text_pair` (pair classification), stopwords excepted: the lexical link that ties an option to the
  question;
- with `stopwords=True` (used by the synonym perturbation): NLTK's English stopwords too.

Tokens are words with their inner joiners (`3.5`, `well-known`, `don't`, `U.S`). They are compared
after `normalized_tokens`: typographic apostrophes folded, contractions expanded, case folded. So a
casing change ("NOT" -> "not"), a contraction ("do not" -> "don't") or extra spaces keep a protected
token, and `altered_protected_tokens` reports only real edits: the release audit calls it for every
(original, perturbed) pair, with the default `stopwords=False` (only synonyms promise more).
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache, lru_cache
from itertools import compress

from builder.perturbations.lexicon import (
    NEGATIONS,
    NUMBER_WORDS,
    TRUTH_WORDS,
    english_stopwords,
    expand_contractions,
)
from builder.tasks import Example

# A word: letters, digits, underscores, with inner apostrophes, dots, commas or hyphens (`3.5`,
# `don't`, `well-known`, `x_1`).
WORD = re.compile(r"\w+(?:['\u2019.,\-]\w+)*")
CLOSED_CLASS = NEGATIONS | TRUTH_WORDS | NUMBER_WORDS


def text_fields(example: Example) -> tuple[str, ...]:
    """The fields a text perturbation may edit: never the options."""
    if example.task_type == "multiple_choice":
        return ("question",)
    return ("text",) if example.text_pair is None else ("text", "text_pair")


@cache  # one answer per distinct token: text perturbations ask for every token of every slot
def is_inherently_protected(token: str) -> bool:
    """A number, negation/polarity/truth word, capitalised token, `n't` form or single character."""
    if len(token) == 1 or not token.islower():  # False with a capital, or with no cased letter at all
        return True
    if any(c.isdigit() for c in token):
        return True
    folded = token.replace("\u2019", "'")
    return folded in CLOSED_CLASS or folded.endswith("n't")


def _tokens(text: str) -> list[str]:
    """WORD tokens after folding typographic apostrophes and expanding contractions, case kept."""
    return WORD.findall(expand_contractions(text.replace("\u2019", "'")))


def normalized_tokens(text: str) -> list[str]:
    """The tokens of `text` with contractions expanded and case folded: the form protection compares.

    Tokens are cut before case folding, so a character whose folded form is two characters
    ("İ" -> "i" + combining dot) cannot split a word differently in the two texts compared. Folding
    goes through upper case first because some lower-case letters have no way back: the casing
    slot's "ı".upper() is "I", whose casefold is "i", not "ı". ASCII text (most text) is folded
    before it is cut: there `fold` is `str.lower`, which keeps every character a word character or
    not, so the tokens are the same.
    """
    expanded = expand_contractions(text.replace("\u2019", "'"))
    if expanded.isascii():
        return WORD.findall(expanded.lower())
    return _fold_all(WORD.findall(expanded))


def fold(token: str) -> str:
    """The case-folded form protection compares (see `normalized_tokens`)."""
    return token.upper().casefold()


def _fold_all(tokens: list[str]) -> list[str]:
    """`[fold(t) for t in tokens]`, folding the space-joined tokens in one call instead of one per token.

    Identical because tokens never contain a space, no character's upper case or case fold is or
    holds a space, and `str.upper` / `str.casefold` map each character on its own (only
    `str.lower` looks at context, for the final sigma). On ASCII, `fold` is `str.lower`.
    """
    if not tokens:
        return []
    joined = " ".join(tokens)
    return (joined.lower() if joined.isascii() else fold(joined)).split(" ")


# Joins the options of a question so that they are tokenised in one call. Neither a word character
# nor a WORD joiner nor whitespace, so to every pattern involved (WORD, the contraction finder and
# its look-ahead) it is a boundary exactly like the end of a string: the tokens of the joined text
# are those of each option in turn.
_OPTION_SEPARATOR = "\x00"


def protected_tokens(example: Example, *, stopwords: bool = False) -> frozenset[str]:
    """The normalized tokens of `example`'s perturbable text that must survive every perturbation.

    See the module docstring for the rules. `stopwords=True` adds the stopwords present in the text,
    which only the synonym perturbation promises to keep.
    """
    texts = tuple(getattr(example, name) for name in text_fields(example))
    choices = example.choices if example.task_type == "multiple_choice" else ()
    return _with_stopwords(texts, choices) if stopwords else _analyse(texts, choices)[0]


@lru_cache(maxsize=65536)
def _analyse(texts: tuple[str, ...], choices: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
    """(the protected tokens, every token) of the texts; cached, as every slot of an example asks.

    Each text is tokenised once: its raw tokens decide what is inherently protected (case matters
    there), their folded forms are what is kept and compared.
    """
    protected: set[str] = set()
    words = []
    for text in texts:
        raw = _tokens(text)
        folded = _fold_all(raw)
        protected.update(compress(folded, map(is_inherently_protected, raw)))
        words.append(set(folded))
    stop = english_stopwords()
    if choices:  # multiple choice: question vs. options
        protected |= words[0].intersection(normalized_tokens(_OPTION_SEPARATOR.join(choices))) - stop
    elif len(words) == 2:  # pair classification: text vs. text_pair
        protected |= (words[0] & words[1]) - stop
    return frozenset(protected), frozenset().union(*words)


@lru_cache(maxsize=65536)
def _with_stopwords(texts: tuple[str, ...], choices: tuple[str, ...]) -> frozenset[str]:
    protected, words = _analyse(texts, choices)
    return protected | (words & english_stopwords())


@lru_cache(maxsize=16384)
def _protected_counts(
    text: str, protected: frozenset[str]
) -> tuple[frozenset[str], tuple[tuple[str, int], ...]]:
    """The protected tokens of `text` that occur once, and (token, count) for those that occur more.

    Split so that the audit checks the usual case, a token occurring once, with one set difference.
    Cached: every slot of an example asks.
    """
    counts = Counter(t for t in normalized_tokens(text) if t in protected)
    once = frozenset(token for token, count in counts.items() if count == 1)
    return once, tuple((token, count) for token, count in counts.items() if count > 1)


def altered_protected_tokens(original: Example, perturbed: Example, *, stopwords: bool = False) -> list[str]:
    """The protected tokens of `original` that occur fewer times in `perturbed` (empty when intact).

    Compares field by field on `normalized_tokens`, so casing, contraction and spacing changes are
    not alterations, while a typo, a dropped or substituted word is. Tokens the perturbation added
    (a suffix, a synonym that happens to be protected elsewhere) are not counted against it.
    """
    altered: set[str] = set()
    for name in text_fields(original):
        text, new_text = getattr(original, name) or "", getattr(perturbed, name) or ""
        if new_text == text:  # format, order, distractor and few-shot slots: nothing to compare
            continue
        once, repeated = _protected_counts(text, protected_tokens(original, stopwords=stopwords))
        after = normalized_tokens(new_text)
        altered.update(once.difference(after))
        altered.update(token for token, count in repeated if after.count(token) < count)
    return sorted(altered)
