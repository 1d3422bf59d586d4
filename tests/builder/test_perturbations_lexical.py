"""WordNet synonyms: same part of speech, first sense, protected words and stopwords kept, rate p, cached."""

from __future__ import annotations

import random

import pytest

from builder.perturbations import create
from builder.perturbations.lexical import part_of_speech, synonyms, wordnet
from builder.perturbations.protected import protected_tokens
from builder.perturbations.text import editable_words, word_pieces
from tests.builder.perturbation_data import mc, mmlu_examples


@pytest.mark.parametrize(
    ("word", "synonym"),
    [("lawyer", "attorney"), ("road", "route"), ("telephone", "phone"), ("lawyers", "attorneys")],
)
def test_synonyms_come_from_the_first_sense_and_keep_a_regular_plural(word, synonym):
    assert synonym in synonyms(word)


def test_every_synonym_shares_the_word_s_part_of_speech_and_first_sense():
    wn = wordnet()
    for word in ("lawyer", "quickly", "reduce", "effective", "scenario", "occupancy", "separately"):
        pos = part_of_speech(word)
        assert pos is not None, word
        first = wn.synsets(wn.morphy(word, pos), pos)[0]
        for synonym in synonyms(word):
            assert synonym in first.lemma_names(), (word, synonym)
            assert synonym.isalpha() and synonym.islower()


def test_words_of_uncertain_part_of_speech_are_never_substituted():
    # "run", "play", "set" and "work" are nouns and verbs alike: a tagger-free choice could pick the wrong one
    for word in ("run", "play", "set", "work", "fly"):
        assert part_of_speech(word) is None and synonyms(word) == ()


def test_inflected_forms_other_than_regular_plurals_are_not_substituted():
    # replacing "children" or "went" by a base-form synonym would be ungrammatical
    assert synonyms("children") == () and synonyms("went") == () and synonyms("larger") == ()


def test_substitution_spares_stopwords_numbers_negations_names_and_shared_words():
    example = mc(
        "Why would the lawyer not telephone Paris about the 3 roads quickly?",
        choices=("the roads are closed", "he forgot", "no reason", "a strike"),
        answer=1,
    )
    variant = create("synonyms", p=1.0).perturb(example, random.Random(0))
    words = variant.question.split()
    assert words[:3] == ["Why", "would", "the"] and "not" in words and "Paris" in words and "3" in words
    assert "roads" in words  # shared with an option
    assert "lawyer" not in words and "telephone" not in words and "quickly" not in words
    assert variant.choices == example.choices


def test_synonyms_replace_eligible_words_at_rate_p(shared_data):
    p = 0.3
    examples = mmlu_examples(shared_data, step=40, limit=300)
    perturbation = create("synonyms", p=p)
    perturbation.prepare(examples)
    eligible = replaced = 0
    for i, example in enumerate(examples):
        protected = protected_tokens(example, stopwords=True)
        pieces = word_pieces(example.question)
        candidates = [
            i for i in editable_words(example.question, protected, min_len=3) if synonyms(pieces[i])
        ]
        after = word_pieces(perturbation.perturb(example, random.Random(i)).question)
        assert len(after) == len(pieces) and after[::2] == pieces[::2]
        replaced += sum(after[j] != pieces[j] for j in candidates)
        assert all(after[j] == pieces[j] for j in range(1, len(pieces), 2) if j not in candidates)
        eligible += len(candidates)
    assert eligible > 1000
    assert abs(replaced - eligible * p) <= 4 * (eligible * p * (1 - p)) ** 0.5


def test_wordnet_is_looked_up_once_per_word_not_per_token_per_slot(shared_data):
    examples = mmlu_examples(shared_data, step=100, limit=100)
    perturbation = create("synonyms", p=0.2)
    for seed in range(2):  # a first slot fills the caches ...
        for example in examples:
            perturbation.perturb(example, random.Random(seed))
    before = synonyms.cache_info(), part_of_speech.cache_info()
    for seed in range(2, 6):  # ... later slots and replicates do not look anything up again
        for example in examples:
            perturbation.perturb(example, random.Random(seed))
    after = synonyms.cache_info(), part_of_speech.cache_info()
    assert [info.misses for info in after] == [info.misses for info in before]
    assert after[0].hits > before[0].hits
