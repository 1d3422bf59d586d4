"""Prompt-format and distractor perturbations: they change how the prompt is written, never its content."""

from __future__ import annotations

import random
import string

import pytest

from builder.perturbations import create
from builder.perturbations.distractors import IRRELEVANT_SENTENCES
from builder.perturbations.prompt_format import ANSWER_CUES, ENUMERATORS, INSTRUCTIONS, SEPARATORS
from builder.render import render_prompt
from builder.tasks import DEFAULT_INSTRUCTION
from tests.builder.perturbation_data import classification, mc

QUESTION = mc("Which colour is the sky on a clear day?", choices=("red", "green", "blue", "yellow"), answer=2)


@pytest.mark.parametrize("task_type", ["multiple_choice", "classification"])
def test_at_least_ten_distinct_instruction_phrasings_per_task_type(task_type):
    phrasings = INSTRUCTIONS[task_type]
    assert len(phrasings) >= 11 and len(set(phrasings)) == len(phrasings)
    assert phrasings[0] == DEFAULT_INSTRUCTION[task_type]
    # the alternatives never presume a label scheme, so they stay true under any enumerator
    assert not any("letter" in p.lower() for p in phrasings[1:])
    assert all(p.endswith(".") or p.endswith("?") for p in phrasings)


@pytest.mark.parametrize("index", range(1, 12))
def test_instruction_changes_only_the_instruction(index):
    for example in (QUESTION, classification("a fine film")):
        variant = create("instruction", index=index).perturb(example, random.Random(0))
        assert variant.format.instruction == INSTRUCTIONS[example.task_type][index]
        assert variant.question == example.question and variant.text == example.text
        assert variant.choices == example.choices and variant.answer == example.answer
        assert render_prompt(variant).startswith(INSTRUCTIONS[example.task_type][index] + "\n\n")


@pytest.mark.parametrize(
    ("scheme", "labels", "first_line"),
    [
        ("upper", ("A", "B", "C", "D"), "A. red"),
        ("lower", ("a", "b", "c", "d"), "a. red"),
        ("numeric", ("1", "2", "3", "4"), "1. red"),
        ("roman", ("i", "ii", "iii", "iv"), "i. red"),
        ("parens", ("A", "B", "C", "D"), "(A) red"),
        ("lower_parens", ("a", "b", "c", "d"), "(a) red"),
        ("numeric_parens", ("1", "2", "3", "4"), "1) red"),
        ("brackets", ("A", "B", "C", "D"), "[A] red"),
        ("colon", ("A", "B", "C", "D"), "A: red"),
    ],
)
def test_enumerators_relabel_the_options_and_the_gold_follows(scheme, labels, first_line):
    variant = create("enumerator", scheme=scheme).perturb(QUESTION, random.Random(0))
    assert variant.labels == labels
    assert variant.gold == labels[2]  # "blue" is the third option in every scheme
    assert variant.choices == QUESTION.choices and variant.answer == QUESTION.answer
    assert first_line in render_prompt(variant).split("\n")
    assert set(ENUMERATORS) == {
        "upper",
        "lower",
        "numeric",
        "roman",
        "parens",
        "lower_parens",
        "numeric_parens",
        "brackets",
        "colon",
    }


def test_roman_labels_go_past_four():
    example = mc("pick one", choices=tuple(f"option {i}" for i in range(12)), answer=11)
    variant = create("enumerator", scheme="roman").perturb(example, random.Random(0))
    assert variant.labels[-4:] == ("ix", "x", "xi", "xii") and variant.gold == "xii"


def test_options_that_name_other_options_by_label_keep_their_labels():
    example = mc("Which are mammals?", choices=("whale", "bat", "Both A and B", "neither"), answer=2)
    assert create("enumerator", scheme="numeric").perturb(example, random.Random(0)) == example


@pytest.mark.parametrize(("kind", "separator"), list(SEPARATORS.items()))
def test_separators_join_the_options(kind, separator):
    variant = create("separator", kind=kind).perturb(QUESTION, random.Random(0))
    assert variant.format.separator == separator
    assert separator.join(["A. red", "B. green", "C. blue", "D. yellow"]) in render_prompt(variant)
    labels = create("separator", kind=kind).perturb(classification("fine"), random.Random(0))
    assert separator.join(["negative", "positive"]) in render_prompt(labels)


@pytest.mark.parametrize("task_type", ["multiple_choice", "classification"])
def test_answer_cues_are_distinct_and_end_the_prompt(task_type):
    cues = ANSWER_CUES[task_type]
    assert len(cues) >= 10 and len(set(cues)) == len(cues) and cues[0] == "Answer:"
    example = QUESTION if task_type == "multiple_choice" else classification("fine")
    for index in range(1, len(cues)):
        variant = create("answer_cue", index=index).perturb(example, random.Random(0))
        assert render_prompt(variant).endswith("\n" + cues[index])


def test_a_distractor_sentence_goes_after_the_input_and_changes_nothing_else():
    seen = set()
    for seed in range(60):
        variant = create("distractor_sentence").perturb(QUESTION, random.Random(seed))
        assert variant.suffix in IRRELEVANT_SENTENCES
        assert (variant.question, variant.choices, variant.answer) == (
            QUESTION.question,
            QUESTION.choices,
            QUESTION.answer,
        )
        assert f"{QUESTION.question} {variant.suffix}\nA. red" in render_prompt(variant)
        seen.add(variant.suffix)
    assert len(seen) > len(IRRELEVANT_SENTENCES) // 2


def test_distractor_sentences_say_nothing_that_could_bear_on_an_answer():
    for sentence in IRRELEVANT_SENTENCES:
        words = sentence.rstrip(".").split()
        assert not {w.lower() for w in words} & {"not", "no", "never", "answer", "option", "correct", "true?"}
        assert not set(words) & {"A", "B", "C", "D", "I", "II"}  # nothing that reads as an option label
        assert not any(ch.isdigit() for ch in sentence)


def test_random_suffix_is_alphanumeric_of_the_given_length_and_varies_by_seed():
    suffixes = set()
    for seed in range(20):
        variant = create("random_suffix", length=10).perturb(QUESTION, random.Random(seed))
        assert len(variant.suffix) == 10 and set(variant.suffix) <= set(string.ascii_letters + string.digits)
        suffixes.add(variant.suffix)
    assert len(suffixes) == 20
    again = create("random_suffix", length=10).perturb(QUESTION, random.Random(3))
    assert again.suffix == create("random_suffix", length=10).perturb(QUESTION, random.Random(3)).suffix


def test_distractors_stack():
    first = create("distractor_sentence").perturb(QUESTION, random.Random(0))
    both = create("random_suffix", length=5).perturb(first, random.Random(0))
    assert both.suffix.startswith(first.suffix + " ") and len(both.suffix) == len(first.suffix) + 6


def test_multiple_choice_only_formats_refuse_classification():
    for name, params in (("enumerator", {"scheme": "roman"}), ("choice_order", {"mode": "reversed"})):
        perturbation = create(name, **params)
        assert perturbation.task_types == ("multiple_choice",)
        with pytest.raises(ValueError, match="multiple choice only"):
            perturbation.perturb(classification("fine"), random.Random(0))
