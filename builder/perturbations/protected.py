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
    slot's "ı".upper() is "I", whose casefold is "i", not "ı".
    """
    return [fold(t) for t in _tokens(text)]


def fold(token: str) -> str:
    """The case-folded form protection compares (see `normalized_tokens`)."""
    return token.upper().casefold()


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
    """(the protected tokens, every token) of the texts; cached, as every slot of an example asks."""
    raw = [_tokens(text) for text in texts]
    protected = {fold(t) for tokens in raw for t in tokens if is_inherently_protected(t)}
    stop = english_stopwords()
    words = [{fold(t) for t in tokens} for tokens in raw]
    if choices:  # multiple choice: question vs. options
        option_words = {t for choice in choices for t in normalized_tokens(choice)}
        protected |= (words[0] & option_words) - stop
    elif len(words) == 2:  # pair classification: text vs. text_pair
        protected |= (words[0] & words[1]) - stop
    return frozenset(protected), frozenset().union(*words)


@lru_cache(maxsize=65536)
def _with_stopwords(texts: tuple[str, ...], choices: tuple[str, ...]) -> frozenset[str]:
    protected, words = _analyse(texts, choices)
    return protected | (words & english_stopwords())


@lru_cache(maxsize=16384)
def _protected_counts(text: str, protected: frozenset[str]) -> Counter:
    """How often each protected token occurs in `text` (cached: every slot of an example asks)."""
    return Counter(t for t in normalized_tokens(text) if t in protected)


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
        before = _protected_counts(text, protected_tokens(original, stopwords=stopwords))
        after = Counter(normalized_tokens(new_text))
        altered.update(token for token, count in before.items() if after[token] < count)
    return sorted(altered)
