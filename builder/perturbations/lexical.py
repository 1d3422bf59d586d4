"""Lexical perturbation: WordNet synonym substitution through NLTK, part-of-speech aware.

Which words may change: unprotected, lower-case, alphabetic words of at least 3 letters that are not
stopwords (the protected set with `stopwords=True`: numbers, negations, capitalised/named tokens,
single letters, words shared with the options, and NLTK's English stopwords; see `protected.py`).

Part of speech, without a tagger pass: NLTK's perceptron tagger took ~1.2 ms per MMLU question on
the 2-core build machine (~17 s for the test set, a third of the whole build budget), so a word's
POS is read from two lexicons instead, and a word whose POS is uncertain is never substituted:
1. the tagger's own tag dictionary (`averaged_perceptron_tagger_eng`): the words that had one tag in
   at least 97% of their occurrences in its training corpus — exactly the words for which the tagger
   skips its model and answers from this table;
2. otherwise WordNet itself, when the word has entries under one part of speech only.
This trades recall (about half the content words of MMLU qualify) for precision: a noun is never
replaced by a verb sense ("the run" -> "the operate").

Which synonym: the other single-word, lower-case lemmas of the word's *first* synset for that POS
(WordNet orders senses by frequency), so "lawyer" -> "attorney", "road" -> "route". Only base forms
are substituted, plus regular `-s` plurals of nouns (re-inflected): replacing "children" by the base
"kid" would be ungrammatical.

Cost: WordNet is read once per process through a reader that skips NLTK's WordNet-version mapping
(only the multilingual OMW data needs it; it cost ~5 s of the ~6.5 s load). Lookups are cached per
word (its POS is a function of the word), so a word's synonyms are computed once per process, not
per token per slot, and only its first synset is parsed.
"""

from __future__ import annotations

import dataclasses
import random
import warnings
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import ClassVar

from builder.nltk_resources import require
from builder.perturbations.base import register
from builder.perturbations.lexicon import english_stopwords
from builder.perturbations.protected import is_inherently_protected
from builder.perturbations.text import (
    TextPerturbation,
    bernoulli_indices,
    check_rate,
    editable_words,
    replace_words,
    word_pieces,
)
from builder.tasks import Example

_PENN_TO_WORDNET = {"NN": "n", "NNS": "n", "VB": "v", "VBP": "v", "JJ": "a", "RB": "r"}


@lru_cache(maxsize=1)
def wordnet():
    """The English WordNet (an NLTK `WordNetCorpusReader`), loaded once; a clear error if it is missing."""
    require("wordnet")
    import nltk  # lazily: importing NLTK takes ~2 s (it pulls in scipy)
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class EnglishWordNet(WordNetCorpusReader):
        """The reader without the WordNet-version map it builds on load, used only for OMW translations."""

        def map_wn(self, version: str = "wordnet") -> None:
            return None

    with warnings.catch_warnings():  # "multilingual functions are not available": none are used
        warnings.simplefilter("ignore")
        return EnglishWordNet(nltk.data.find("corpora/wordnet/"), None)


@lru_cache(maxsize=1)
def tag_dictionary() -> dict[str, str]:
    """The perceptron tagger's table of words with a single, near-certain Penn Treebank tag."""
    require("averaged_perceptron_tagger_eng")
    from nltk.tag.perceptron import PerceptronTagger

    return PerceptronTagger().tagdict


@cache
def part_of_speech(word: str) -> str | None:
    """The WordNet POS (n, v, a, r) of a lower-case word when it is unambiguous, else None."""
    tag = tag_dictionary().get(word)
    if tag is not None:
        return _PENN_TO_WORDNET.get(tag)  # a function word, proper noun or inflected verb: None
    wn = wordnet()
    found = [pos for pos in "nvar" if wn.morphy(word, pos)]
    return found[0] if len(found) == 1 else None


def _takes_plain_s(noun: str) -> bool:
    """Whether the plural is noun + "s" (not "-es", not "-ies"): attorney -> attorneys, city -> cities."""
    return not noun.endswith(("s", "x", "z", "ch", "sh")) and not (
        noun[-1] == "y" and noun[-2:-1] not in "aeiou"
    )


@cache
def synonyms(word: str) -> tuple[str, ...]:
    """Same-POS replacements for `word` from its first WordNet sense (empty when there are none)."""
    pos = part_of_speech(word)
    if pos is None:
        return ()
    wn = wordnet()
    base = wn.morphy(word, pos)
    if base == word:
        suffix = ""
    elif pos == "n" and base is not None and word == base + "s":
        suffix = "s"
    else:
        return ()
    first_sense = wn.synset(f"{base}.{pos}.01")  # parses one synset; synsets() would parse them all
    stop = english_stopwords()
    names = []
    for name in first_sense.lemma_names():
        if name == base or not name.isalpha() or not name.islower() or name in stop:
            continue
        if is_inherently_protected(name) or (suffix and not _takes_plain_s(name)):
            continue
        names.append(name + suffix)
    return tuple(dict.fromkeys(names))


@register
@dataclasses.dataclass(frozen=True)
class Synonyms(TextPerturbation):
    name: ClassVar[str] = "synonyms"
    family: ClassVar[str] = "synonyms"
    description: ClassVar[str] = (
        "Replaces each eligible word, with probability p, by a WordNet synonym of the same part of speech"
    )
    protects_stopwords: ClassVar[bool] = True
    nltk_resources: ClassVar[tuple[str, ...]] = ("stopwords", "wordnet", "averaged_perceptron_tagger_eng")
    p: float = 0.1

    def __post_init__(self) -> None:
        check_rate("synonyms p", self.p)

    def prepare(self, examples: Sequence[Example]) -> None:
        """Load WordNet and the tag dictionary up front: a missing resource fails before any work."""
        wordnet()
        tag_dictionary()
        super().prepare(examples)

    def edit(self, text: str, rng: random.Random, protected: frozenset[str]) -> str:
        pieces = word_pieces(text)
        indices = [i for i in editable_words(text, protected, min_len=3) if synonyms(pieces[i])]
        chosen = bernoulli_indices(len(indices), self.p, rng)
        if not chosen:
            return text
        return replace_words(text, indices, chosen, lambda word: rng.choice(synonyms(word)))
