"""The rendered prompt: instruction, demonstrations with their gold, the query with this slot's labels,
separator, suffix and answer cue — for both task types."""

from __future__ import annotations

import dataclasses
import random

import pytest

from builder.perturbations import create
from builder.render import render_prompt
from builder.tasks import DEFAULT_INSTRUCTION, PromptFormat
from tests.builder.perturbation_data import classification, mc, mmlu_examples

QUESTION = mc("Which gas do plants absorb?", choices=("Oxygen", "Carbon dioxide", "Helium"), answer=1)


def test_multiple_choice_default_layout():
    assert render_prompt(QUESTION) == (
        f"{DEFAULT_INSTRUCTION['multiple_choice']}\n\n"
        "Which gas do plants absorb?\nA. Oxygen\nB. Carbon dioxide\nC. Helium\nAnswer:"
    )


def test_the_slot_format_controls_labels_template_separator_cue_and_instruction():
    fmt = PromptFormat(
        instruction="Pick one.",
        choice_labels=("i", "ii", "iii"),
        label_template="({label}) {choice}",
        separator=" | ",
        answer_cue="The answer is",
    )
    example = dataclasses.replace(QUESTION, format=fmt, suffix="and true is true")
    assert render_prompt(example) == (
        "Pick one.\n\nWhich gas do plants absorb? and true is true\n"
        "(i) Oxygen | (ii) Carbon dioxide | (iii) Helium\nThe answer is"
    )


def test_option_text_with_braces_is_written_verbatim():
    example = mc("Which set?", choices=("{1, 2}", "{label}", "{}"), answer=0)
    assert "A. {1, 2}\nB. {label}\nC. {}\n" in render_prompt(example)


def test_classification_layout_with_and_without_a_pair():
    single = classification("a gripping, funny film", suffix="xYz12")
    assert render_prompt(single) == (
        f"{DEFAULT_INSTRUCTION['classification']}\n\n"
        "Text: a gripping, funny film xYz12\nOptions:\nnegative\npositive\nAnswer:"
    )
    pair = dataclasses.replace(
        classification(
            "A man plays.", "Someone is playing.", label_names=("entailment", "neutral", "contradiction")
        ),
        format=PromptFormat(separator=" OR ", answer_cue="Label:"),
    )
    assert render_prompt(pair).endswith(
        "Text: A man plays.\nText 2: Someone is playing.\n"
        "Options: entailment OR neutral OR contradiction\nLabel:"
    )


def test_demonstrations_precede_the_query_with_their_gold_in_the_query_labels():
    demos = (
        mc("Which is a noble gas?", choices=("Helium", "Iron", "Salt"), answer=0, example_id="dev-1"),
        mc("Which is a metal?", choices=("Neon", "Iron", "Water"), answer=1, example_id="dev-2"),
    )
    example = dataclasses.replace(QUESTION, demonstrations=demos)
    example = create("enumerator", scheme="lower").perturb(example, random.Random(0))
    blocks = render_prompt(example).split("\n\n")
    assert blocks == [
        DEFAULT_INSTRUCTION["multiple_choice"],
        "Which is a noble gas?\na. Helium\nb. Iron\nc. Salt\nAnswer: a",
        "Which is a metal?\na. Neon\nb. Iron\nc. Water\nAnswer: b",
        "Which gas do plants absorb?\na. Oxygen\nb. Carbon dioxide\nc. Helium\nAnswer:",
    ]


def test_classification_demonstrations_end_with_their_label_name():
    demos = (classification("awful", answer=0, example_id="train-1"),)
    example = dataclasses.replace(classification("lovely"), demonstrations=demos)
    assert "Text: awful\nOptions:\nnegative\npositive\nAnswer: negative\n\nText: lovely" in render_prompt(
        example
    )


def test_more_options_than_labels_is_a_clear_error():
    example = mc("q", choices=tuple("abcdefghijk"), answer=0, example_id="mmlu-7")
    with pytest.raises(ValueError, match="mmlu-7: 11 options but the format has only 10 labels"):
        render_prompt(example)


@pytest.mark.parametrize("kind", ["newline", "semicolon", "pipe", "or"])
def test_real_mmlu_prompts_name_every_option_once_with_its_label(shared_data, kind):
    for example in mmlu_examples(shared_data, step=500):
        variant = create("separator", kind=kind).perturb(example, random.Random(0))
        prompt = render_prompt(variant)
        assert prompt.endswith("\nAnswer:") and example.question in prompt
        for label, choice in zip(variant.labels, variant.choices, strict=True):
            assert f"{label}. {choice}" in prompt
