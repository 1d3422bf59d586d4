"""Surface perturbations: each edit is the documented one, at the documented rate, sparing protected words."""

from __future__ import annotations

import dataclasses
import math
import random
import re

import pytest

from builder.perturbations import create
from builder.perturbations.lexicon import expand_contractions
from builder.perturbations.protected import protected_tokens
from builder.perturbations.surface import _CONTRACT, KEY_NEIGHBOURS, contract, misspell_edit, misspellings
from builder.perturbations.text import bernoulli_indices, editable_words, with_fields, word_pieces
from builder.tasks import Example
from tests.builder.perturbation_data import classification, mc, mmlu_examples


def within_binomial(successes: int, trials: int, p: float, sigmas: float = 4.0) -> bool:
    """Whether `successes` is a plausible Binomial(trials, p) draw (4 standard deviations)."""
    return abs(successes - trials * p) <= sigmas * math.sqrt(trials * p * (1 - p))


@pytest.fixture(scope="module")
def long_example(shared_data):
    """500 real MMLU questions joined into one question: ~20,000 editable words."""
    questions = [e.question for e in mmlu_examples(shared_data, step=28, limit=500)]
    return mc(" ".join(questions), choices=("Paris", "London", "Rome", "Berlin"), answer=0)


def eligible_words(example, min_len=2):
    text = example.question
    pieces = word_pieces(text)
    return [pieces[i] for i in editable_words(text, protected_tokens(example), min_len)]


@pytest.mark.parametrize("p", [0.0, 0.01, 0.2, 1.0])
def test_bernoulli_indices_keeps_each_index_with_probability_p(p):
    rng = random.Random(7)
    n, rounds = 1000, 40
    counts = [0] * n
    for _ in range(rounds):
        chosen = bernoulli_indices(n, p, rng)
        assert chosen == sorted(set(chosen)) and all(0 <= i < n for i in chosen)
        for i in chosen:
            counts[i] += 1
    assert within_binomial(sum(counts), n * rounds, p)
    if 0 < p < 1:  # no position is favoured: the first and second halves get the same share
        assert within_binomial(sum(counts[: n // 2]), sum(counts), 0.5)


def test_keyboard_neighbours_are_adjacent_qwerty_keys():
    assert set(KEY_NEIGHBOURS["s"]) == set("weadzx")  # HELM's table
    assert set(KEY_NEIGHBOURS["p"]) == set("ol")
    assert set(KEY_NEIGHBOURS["g"]) == set("tyhbvf")
    assert all(key not in near and near for key, near in KEY_NEIGHBOURS.items())
    assert all(key in KEY_NEIGHBOURS[other] for other, near in KEY_NEIGHBOURS.items() for key in near)


@pytest.mark.parametrize("p", [0.02, 0.1])
def test_typos_replace_eligible_letters_by_keyboard_neighbours_at_rate_p(long_example, p):
    variant = create("typos", p=p).perturb(long_example, random.Random(3))
    before, after = long_example.question, variant.question
    assert len(after) == len(before)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert all(after[i] in KEY_NEIGHBOURS[before[i]] for i in changed)
    letters = sum(len(w) for w in eligible_words(long_example))
    assert within_binomial(len(changed), letters, p)
    # only letters of eligible words changed: everything else is byte-identical
    editable = set(editable_words(before, protected_tokens(long_example)))
    allowed, offset = set(), 0
    for i, piece in enumerate(word_pieces(before)):
        if i in editable:
            allowed.update(range(offset, offset + len(piece)))
        offset += len(piece)
    assert set(changed) <= allowed


def _changed_words(before: str, after: str) -> list[tuple[str, str]]:
    """Word pairs that differ. Edited words stay lower-case ASCII words, so the texts cut into the same
    pieces, and everything between the words must be identical."""
    old, new = word_pieces(before), word_pieces(after)
    assert len(old) == len(new) and old[::2] == new[::2]
    return [(a, b) for a, b in zip(old[1::2], new[1::2], strict=True) if a != b]


@pytest.mark.parametrize("name", ["char_swap", "char_drop", "char_insert"])
def test_character_edits_change_eligible_words_at_rate_p_one_edit_each(long_example, name):
    p = 0.15
    variant = create(name, p=p).perturb(long_example, random.Random(11))
    pairs = _changed_words(long_example.question, variant.question)
    eligible = [
        w for w in eligible_words(long_example, min_len=3) if name != "char_swap" or len(set(w[1:])) > 1
    ]
    assert within_binomial(len(pairs), len(eligible), p, sigmas=5)
    for core_old, core_new in pairs:
        assert core_old[0] == core_new[0], "the first letter is never edited"
        if name == "char_swap":
            assert sorted(core_old) == sorted(core_new) and len(core_old) == len(core_new)
            diffs = [i for i in range(len(core_old)) if core_old[i] != core_new[i]]
            assert len(diffs) == 2 and diffs[1] == diffs[0] + 1
        elif name == "char_drop":
            assert len(core_new) == len(core_old) - 1
            assert any(core_old[:i] + core_old[i + 1 :] == core_new for i in range(len(core_old)))
        else:  # a keyboard neighbour of the letter before it was inserted
            assert any(
                core_new[:i] + core_new[i + 1 :] == core_old
                and core_new[i] in KEY_NEIGHBOURS[core_new[i - 1]]
                for i in range(1, len(core_new))
            )


def test_text_edits_never_touch_protected_words():
    example = mc(
        "Which of these is NOT true about Paris in 1850: the capital wasn't moved, x equals 3.5, and "
        "the river never flooded twice?",
        choices=("the capital moved", "the river flooded", "x is large", "none"),
        answer=0,
    )
    protected = protected_tokens(example)
    # normalized forms: "NOT" and the "not" of "wasn't" are both "not"
    assert {"not", "paris", "1850", "x", "3.5", "never", "twice", "capital", "river"} <= protected
    for name in ("typos", "char_swap", "char_drop", "char_insert"):
        variant = create(name, p=1.0).perturb(example, random.Random(0))
        for word in ("NOT", "Paris", "1850", "wasn't", " x ", "3.5", "never", "twice", "capital", "river"):
            assert word in variant.question, (name, word, variant.question)
        assert variant.question != example.question


def test_options_are_never_edited():
    example = mc("what colour is the sky", choices=("quite blue", "rather green"), answer=0)
    for name in ("typos", "char_swap", "char_drop", "char_insert"):
        assert create(name, p=1.0).perturb(example, random.Random(0)).choices == example.choices


def test_classification_edits_text_and_text_pair_only():
    example = classification("an utterly wonderful movie", "a dreadful sequel")
    variant = create("typos", p=0.5).perturb(example, random.Random(1))
    assert variant.text != example.text and variant.text_pair != example.text_pair
    assert variant.label_names == example.label_names and variant.answer == example.answer


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("lower", "which city hosted the 2012 olympics? don't guess."),
        ("upper", "WHICH CITY HOSTED THE 2012 OLYMPICS? DON'T GUESS."),
        ("title", "Which City Hosted The 2012 Olympics? Don't Guess."),
    ],
)
def test_casing(mode, expected):
    example = mc("Which city hosted the 2012 Olympics? don't guess.")
    assert create("casing", mode=mode).perturb(example, random.Random(0)).question == expected


def test_whitespace_adds_zero_to_max_extra_spaces_uniformly(long_example):
    variant = create("whitespace", max_extra=3).perturb(long_example, random.Random(5))
    assert variant.question.split() == long_example.question.split()
    extra = [
        len(new) - len(old)
        for old, new in zip(
            re.findall(r" +", long_example.question), re.findall(r" +", variant.question), strict=True
        )
    ]
    runs = extra
    assert set(runs) == {0, 1, 2, 3}
    for extra in range(4):  # each count is a Binomial(runs, 1/4) draw
        assert within_binomial(runs.count(extra), len(runs), 0.25)


def test_punctuation_strip_removes_sentence_marks_but_not_inner_ones():
    example = mc("Hello, world. At 3:00 the U.S. rate was 3.5%; e.g., Kerr et al.'s claim: why?")
    variant = create("punctuation", mode="strip").perturb(example, random.Random(0))
    assert variant.question == "Hello world At 3:00 the U.S rate was 3.5% e.g Kerr et al.'s claim why"


def test_punctuation_add_puts_commas_in_a_tenth_of_word_gaps(long_example):
    variant = create("punctuation", mode="add").perturb(long_example, random.Random(2))
    gaps = len(re.findall(r"[^\W_](?= [^\W_])", long_example.question))
    added = variant.question.count(",") - long_example.question.count(",")
    assert within_binomial(added, gaps, 0.1)
    assert variant.question.replace(",", "") == long_example.question.replace(",", "")


@pytest.mark.parametrize(
    ("text", "contracted"),
    [
        ("It is known that they do not agree.", "It's known that they don't agree."),
        ("We have seen that he will not go, and I am sure.", "We've seen that he won't go, and I'm sure."),
        ("We have a dog that cannot swim.", "We have a dog that can't swim."),  # "we've a dog" is unnatural
        ("Let us see what it is.", "Let us see what it is."),  # never at the end; "let's" changes meaning
        ("DO NOT enter.", "DON'T enter."),
    ],
)
def test_contract(text, contracted):
    assert (
        create("contractions", direction="contract").perturb(mc(text), random.Random(0)).question
        == contracted
    )


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("It's been said that they don't agree.", "It has been said that they do not agree."),
        ("She'd gone before you'd arrive.", "She had gone before you would arrive."),
        ("Isn't it true? Don't you think so?", "Isn't it true? Don't you think so?"),  # no "Is not it"
        ("He can\u2019t and won't.", "He cannot and will not."),
        ("John's cat isn't here.", "John's cat is not here."),
    ],
)
def test_expand(text, expanded):
    assert create("contractions", direction="expand").perturb(mc(text), random.Random(0)).question == expanded


@pytest.mark.parametrize(
    ("word", "misspelling"),
    [
        ("occurred", "occured"),
        ("believe", "beleive"),
        ("definitely", "definately"),
        ("government", "goverment"),
        ("until", "untill"),
        ("possible", "possable"),
        ("existence", "existance"),
    ],
)
def test_misspellings_follow_the_common_patterns(word, misspelling):
    assert misspelling in misspellings(word)
    assert word not in misspellings(word)


def test_misspellings_hit_eligible_words_at_rate_p(long_example):
    text, protected = long_example.question.lower(), protected_tokens(long_example)
    pieces = word_pieces(text)
    eligible = [i for i in editable_words(text, protected, min_len=4) if misspellings(pieces[i])]
    out = misspell_edit(text, random.Random(9), protected, 0.1)
    pairs = _changed_words(text, out)
    assert within_binomial(len(pairs), len(eligible), 0.1)
    assert all(new in misspellings(old) for old, new in pairs)


def test_mild_mix_follows_helm_lowercase_contract_misspell_spaces(long_example):
    example = mc("It is NOT true that Paris is the capital of Italy, and it is definitely not Rome.")
    variant = create("mild_mix").perturb(example, random.Random(4))
    words = variant.question.split()
    assert variant.question == variant.question.lower()
    assert words[:3] == ["it", "isn't", "true"] and "paris" in words and "rome." in words
    before = re.findall(r" +", contract(long_example.question.lower()))  # misspellings keep spaces
    after = re.findall(r" +", create("mild_mix").perturb(long_example, random.Random(1)).question)
    extra = {len(new) - len(old) for old, new in zip(before, after, strict=True)}
    assert extra == {0, 1, 2}  # HELM's SpacePerturbation(max_spaces=3): a single space becomes 1-3


def test_every_listed_expansion_contracts_and_expands_back():
    for expansion, contraction in _CONTRACT.items():
        following = "seen" if expansion.endswith("have") else "go"
        assert contract(f"{expansion} {following}") == f"{contraction} {following}", expansion
        assert expand_contractions(f"{contraction} {following}") == f"{expansion} {following}", contraction


def test_with_fields_is_dataclasses_replace():
    example = mc("Which is it?", choices=("a", "b"))
    changed = with_fields(example, {"question": "Which one is it?"})
    assert changed == dataclasses.replace(example, question="Which one is it?")
    assert vars(changed) == vars(dataclasses.replace(example, question="Which one is it?"))
    assert not hasattr(Example, "__post_init__")  # with_fields skips __init__: nothing may run there
