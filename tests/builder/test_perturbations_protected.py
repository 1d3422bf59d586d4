"""Protected tokens: which words no perturbation may alter, and the check the release audit runs."""

from __future__ import annotations

import dataclasses
import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from builder.perturbations import altered_protected_tokens, create, protected_tokens
from builder.perturbations.protected import _OPTION_SEPARATOR, WORD, _fold_all, fold, normalized_tokens
from builder.perturbations.text import editable_words, word_pieces
from tests.builder.perturbation_data import classification, mc


def test_numbers_negations_truth_words_names_and_single_letters_are_protected():
    example = mc(
        "Which statement about the 3 Curies is false if x doubled twice and none of 1,000 trials "
        "failed, though they couldn't measure 2.5kg?",
        choices=("alpha", "beta", "gamma", "delta"),
    )
    protected = protected_tokens(example)
    for token in ("which", "3", "curies", "false", "x", "twice", "none", "1,000", "not", "2.5kg"):
        assert token in protected, token
    for token in ("statement", "about", "doubled", "trials", "failed", "measure", "the", "they"):
        assert token not in protected, token


def test_words_shared_with_the_options_are_protected_but_shared_stopwords_are_not():
    example = mc(
        "Which gas do green plants absorb from the air?",
        choices=("oxygen", "carbon dioxide", "green light", "the air"),
    )
    protected = protected_tokens(example)
    assert {"green", "air"} <= protected
    assert not {"the", "plants", "absorb", "gas"} & protected


def test_stopwords_are_added_only_when_asked_for():
    example = mc("what do plants absorb from the soil", choices=("a", "b"))
    assert not {"what", "do", "from", "the"} & protected_tokens(example)
    assert {"what", "do", "from", "the"} <= protected_tokens(example, stopwords=True)
    assert "plants" not in protected_tokens(example, stopwords=True)


def test_pair_classification_protects_words_shared_by_text_and_text_pair():
    example = classification("A man is playing a guitar on stage.", "A person plays the guitar.")
    protected = protected_tokens(example)
    assert "guitar" in protected and "a" in protected  # shared; "A" is also capitalised
    assert "stage" not in protected and "plays" not in protected


def test_normalized_tokens_fold_case_apostrophes_and_contractions():
    assert normalized_tokens("It\u2019s NOT what we can't do, isn't it?") == [
        "it",
        "is",
        "not",
        "what",
        "we",
        "cannot",
        "do",
        "is",
        "not",
        "it",
    ]


def test_altered_tokens_are_reported_and_respellings_are_not():
    original = mc("Paris was not the capital in 1850, was it? It is 3.5 km away.")
    edits = {
        "Paris was not the capitol in 1860, was it? It is 3.5 km away.": ["1850"],
        "Parsi was the capital in 1850, was it? It is 3.5 km away.": ["not", "paris"],
        "PARIS WASN'T THE CAPITAL IN 1850, WAS IT? IT'S 3.5 KM AWAY.": [],
        "paris   was not the capitol in 1850,  was it?  it is 3.5 km away. And true is true.": [],
        "Paris was not the capital in 1850, was it? It is 35 km away.": ["3.5"],
    }
    for text, expected in edits.items():
        assert altered_protected_tokens(original, dataclasses.replace(original, question=text)) == expected, (
            text
        )


def test_each_text_field_is_checked_on_its_own():
    original = classification("not bad at all", "truly 10 out of 10")
    moved = dataclasses.replace(original, text="bad at all", text_pair="not truly 10 out of 10")
    assert altered_protected_tokens(original, moved) == ["not"]
    swapped_order = dataclasses.replace(original, question="ignored for classification")
    assert altered_protected_tokens(original, swapped_order) == []


_TEXT = st.text(
    st.one_of(st.sampled_from(list("abcxyz ABC 019 .,'\u2019-_?!\n")), st.characters(codec="utf-8")),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(text=_TEXT)
def test_editable_words_are_exactly_the_lowercase_ascii_word_tokens(text):
    pieces = word_pieces(text)
    assert "".join(pieces) == text
    expected = [t for t in WORD.findall(text) if re.fullmatch(r"[a-z]{2,}", t)]
    assert list(pieces[1::2]) == expected


@settings(max_examples=300, deadline=None)
@given(question=_TEXT, choices=st.lists(_TEXT, min_size=2, max_size=4))
def test_editable_words_never_include_a_protected_token(question, choices):
    example = mc(question, choices=tuple(choices), answer=0)
    protected = protected_tokens(example, stopwords=True)
    pieces = word_pieces(question)
    assert not {pieces[i] for i in editable_words(question, protected)} & protected


def test_casing_round_trips_of_letters_without_a_lower_case_twin_are_not_alterations():
    # real tweet_eval sentiment test row 8206: the dotless ı upper-cases to I, which folds to i
    original = classification("so Najibrazakı said No to 3 of them")
    upper = create("casing", mode="upper").perturb(original, random.Random(0))
    assert upper.text == "SO NAJIBRAZAKI SAID NO TO 3 OF THEM"
    assert "najibrazaki" in protected_tokens(original)  # still protected, in the folded form
    assert altered_protected_tokens(original, upper) == []
    typo = dataclasses.replace(upper, text=upper.text.replace("NAJIBRAZAKI", "NAJIBRAZAK"))
    assert altered_protected_tokens(original, typo) == ["najibrazaki"]


# The fast paths of protected.py give what the one-token-at-a-time definitions give.
TRICKY_TOKENS = st.lists(
    st.text(alphabet="aZß\u0130\u0131\u03a3\u03c2\u017f\ufb01'-.1_\u00e9\u1e9e", min_size=1, max_size=6),
    max_size=8,
)


@given(TRICKY_TOKENS)
def test_folding_tokens_together_is_folding_each(tokens):
    assert _fold_all(tokens) == [fold(t) for t in tokens]


@given(st.lists(st.text(alphabet="ab A'\u2019s.,-1\u0130\u00e9 \n", max_size=12), min_size=1, max_size=4))
def test_options_tokenised_together_are_tokenised_each(choices):
    joined = set(normalized_tokens(_OPTION_SEPARATOR.join(choices)))
    assert joined == {t for choice in choices for t in normalized_tokens(choice)}
