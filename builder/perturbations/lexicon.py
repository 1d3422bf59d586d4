"""Small English word lists shared by the perturbations and the protected-token rules.

Each list is short enough to read and justify: the contractions are the standard English ones (the
list NL-Augmenter and HELM use, minus archaic forms such as `how'd'y`); the negation, polarity and
number words are the closed-class words whose change flips or alters a question's answer.
The stopword list is NLTK's (the resource users already install for WordNet).
"""

from __future__ import annotations

import re
from functools import lru_cache

# contraction -> expansion, lower case. Ambiguous `'s` / `'d` expand to `is` / `would` unless the
# next word is a participle (see `expand_contractions`).
CONTRACTIONS: dict[str, str] = {
    "aren't": "are not",
    "can't": "cannot",
    "couldn't": "could not",
    "didn't": "did not",
    "doesn't": "does not",
    "don't": "do not",
    "hadn't": "had not",
    "hasn't": "has not",
    "haven't": "have not",
    "isn't": "is not",
    "mightn't": "might not",
    "mustn't": "must not",
    "needn't": "need not",
    "shan't": "shall not",
    "shouldn't": "should not",
    "wasn't": "was not",
    "weren't": "were not",
    "won't": "will not",
    "wouldn't": "would not",
    "i'm": "i am",
    "you're": "you are",
    "we're": "we are",
    "they're": "they are",
    "what're": "what are",
    "i've": "i have",
    "you've": "you have",
    "we've": "we have",
    "they've": "they have",
    "could've": "could have",
    "should've": "should have",
    "would've": "would have",
    "might've": "might have",
    "must've": "must have",
    "i'll": "i will",
    "you'll": "you will",
    "he'll": "he will",
    "she'll": "she will",
    "it'll": "it will",
    "we'll": "we will",
    "they'll": "they will",
    "that'll": "that will",
    "he's": "he is",
    "she's": "she is",
    "it's": "it is",
    "that's": "that is",
    "there's": "there is",
    "here's": "here is",
    "what's": "what is",
    "who's": "who is",
    "where's": "where is",
    "when's": "when is",
    "how's": "how is",
    "let's": "let us",
    "i'd": "i would",
    "you'd": "you would",
    "he'd": "he would",
    "she'd": "she would",
    "it'd": "it would",
    "we'd": "we would",
    "they'd": "they would",
}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# `'s` is `has` only before these ("it's been"; "it's known" is passive `is`); `'d` is `had` before
# a past participle or "better" ("she'd gone", "you'd better"), `would` before a bare verb.
HAS_AFTER_S = _words("been got gotten had")
PARTICIPLES = _words("been gone done seen had got gotten made taken given known shown written")
HAD_AFTER_D = PARTICIPLES | {"better"}
NEGATIONS = _words(
    "not no never none nor neither nobody nothing nowhere cannot without except hardly barely scarcely "
    "least unless"
)
TRUTH_WORDS = _words("true false correct incorrect")
NUMBER_WORDS = _words(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand million billion trillion first second third fourth fifth sixth seventh eighth "
    "ninth tenth half quarter twice thrice double triple dozen"
)


# A word with an inner apostrophe, and (without consuming it) the word after it; candidates for
# `CONTRACTIONS`. A lookup in the dict is much faster than one alternation of every contraction.
# The quantifiers are possessive (no backtracking into a run of letters, spaces or word characters:
# giving some back could never let the match succeed) because this scans every text with an apostrophe.
_APOSTROPHE_WORD = re.compile(r"\b([^\W\d_]++['\u2019][^\W\d_]++)\b(?=\s++(\w++)|)")


def match_case(source: str, target: str) -> str:
    """Write `target` in the case pattern of `source` (ALL CAPS, Capitalised, or lower)."""
    if source.isupper() and len(source) > 1:
        return target.upper()
    if source[:1].isupper():
        return target[:1].upper() + target[1:]
    return target


# Subjects of an inverted question: "isn't it?" / "don't you think" have no natural expansion.
SUBJECT_PRONOUNS = _words("i you he she it we they there")


def expand_contractions(text: str, *, keep_inverted: bool = False) -> str:
    """Expand every contraction in `text`, keeping its case (`'s`/`'d` -> has/had when the next word says so).

    With `keep_inverted`, a `n't` form followed by a subject pronoun ("isn't it", "don't you") is
    kept: its expansion is ungrammatical. Protected-token comparison expands everything.
    """

    if "'" not in text and "\u2019" not in text:
        return text

    def expand(match: re.Match) -> str:
        word, following = match.group(1), match.group(2)
        expansion = CONTRACTIONS.get(word.replace("\u2019", "'").lower())
        if expansion is None or (
            keep_inverted and following and following.lower() in SUBJECT_PRONOUNS and word[-1] in "tT"
        ):
            return word
        if following and expansion.endswith(" is") and following.lower() in HAS_AFTER_S:
            expansion = expansion[:-3] + " has"
        elif following and expansion.endswith(" would") and following.lower() in HAD_AFTER_D:
            expansion = expansion[:-6] + " had"
        return match_case(word, expansion)

    return _APOSTROPHE_WORD.sub(expand, text)


@lru_cache(maxsize=1)
def english_stopwords() -> frozenset[str]:
    """NLTK's English stopwords (a clear error if the resource is missing)."""
    from nltk.corpus import stopwords

    from builder.nltk_resources import require

    require("stopwords")
    return frozenset(stopwords.words("english"))
