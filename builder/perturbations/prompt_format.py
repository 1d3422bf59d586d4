"""Prompt-format perturbations: instruction wording, option enumerators, separators, answer cue.

They change `Example.format` only — never the question, the options or their order — so the content
and the gold option are those of the source; the gold *label* is written in the slot's own
enumerator (`Example.gold`). Every phrasing is meaning-preserving and names no particular label
scheme ("the label of the correct option", never "the letter"), so it stays true under any
enumerator. Index 0 of each list is the default, the original slot's wording.
"""

from __future__ import annotations

import dataclasses
import random
from typing import ClassVar

from builder.perturbations.base import Perturbation, register
from builder.perturbations.choice_order import refers_to_labels
from builder.tasks import DEFAULT_INSTRUCTION, Example, PromptFormat

INSTRUCTIONS: dict[str, tuple[str, ...]] = {
    "multiple_choice": (
        DEFAULT_INSTRUCTION["multiple_choice"],
        "Answer the following multiple choice question with the label of the correct option.",
        "Choose the correct answer to the question below. Reply with the label of that option only.",
        "Read the question and select the best option. Respond with its label.",
        "Select the one correct option for the question that follows and give its label.",
        "Here is a question with several answer options, exactly one of which is correct. Give its label.",
        "Pick the right answer from the options below. Your reply should be the option's label.",
        "Which option answers the question correctly? Answer with the corresponding label.",
        "Solve the following multiple-choice problem. State only the label of the correct choice.",
        "Consider the question and the candidate answers, then output the label of the correct one.",
        "You are taking a multiple choice test. Answer with the label of the correct option.",
        "Identify the correct answer among the options and respond with its label and nothing else.",
    ),
    "classification": (
        DEFAULT_INSTRUCTION["classification"],
        "Read the text and assign it one of the labels listed below. Answer with the label only.",
        "Which of the options below best describes the text? Reply with that label.",
        "Categorize the following text. Respond with exactly one of the given labels.",
        "Decide which label applies to the text below and answer with it.",
        "Label the text with one of the options. Give only the label in your answer.",
        "Assign the most appropriate label from the list to the following text.",
        "Read carefully and classify the text. Your answer must be one of the listed labels.",
        "Determine the correct label for the text below. Answer with a single label.",
        "Choose the label that fits the text best. Reply with the label and nothing else.",
        "You are a careful annotator. Pick the one label from the list that matches the text.",
        "What is the right label for this text? Answer using one of the labels provided.",
    ),
}

# Answer cues: the line the model continues; a demonstration writes "<cue> <gold label>".
ANSWER_CUES: dict[str, tuple[str, ...]] = {
    "multiple_choice": (
        "Answer:",
        "The answer is",
        "Correct option:",
        "Answer label:",
        "Your answer:",
        "Solution:",
        "Response:",
        "Final answer:",
        "The correct answer is",
        "Choice:",
    ),
    "classification": (
        "Answer:",
        "Label:",
        "The label is",
        "Category:",
        "Class:",
        "Prediction:",
        "Output:",
        "Response:",
        "Your answer:",
        "The correct label is",
    ),
}


def _letters(n: int, upper: bool) -> tuple[str, ...]:
    first = ord("A" if upper else "a")
    return tuple(chr(first + i) for i in range(n))


def _roman(n: int) -> tuple[str, ...]:
    numerals = (("m", 1000), ("cm", 900), ("d", 500), ("cd", 400), ("c", 100), ("xc", 90), ("l", 50))
    numerals += (("xl", 40), ("x", 10), ("ix", 9), ("v", 5), ("iv", 4), ("i", 1))
    out = []
    for value in range(1, n + 1):
        text = ""
        for numeral, size in numerals:
            count, value = divmod(value, size)
            text += numeral * count
        out.append(text)
    return tuple(out)


# scheme -> (labels for n options, how one option line is written). The label is what the model
# answers (and what `gold` is); the template only decorates it.
ENUMERATORS: dict[str, tuple] = {
    "upper": (lambda n: _letters(n, True), "{label}. {choice}"),
    "lower": (lambda n: _letters(n, False), "{label}. {choice}"),
    "numeric": (lambda n: tuple(str(i) for i in range(1, n + 1)), "{label}. {choice}"),
    "roman": (_roman, "{label}. {choice}"),
    "parens": (lambda n: _letters(n, True), "({label}) {choice}"),
    "lower_parens": (lambda n: _letters(n, False), "({label}) {choice}"),
    "numeric_parens": (lambda n: tuple(str(i) for i in range(1, n + 1)), "{label}) {choice}"),
    "brackets": (lambda n: _letters(n, True), "[{label}] {choice}"),
    "colon": (lambda n: _letters(n, True), "{label}: {choice}"),
}
MAX_OPTIONS = 26

SEPARATORS: dict[str, str] = {"newline": "\n", "semicolon": "; ", "pipe": " | ", "or": " OR "}


def _check_index(kind: str, index: int, options: dict[str, tuple[str, ...]]) -> None:
    size = min(len(v) for v in options.values())
    if not isinstance(index, int) or not 0 <= index < size:
        raise ValueError(f"{kind} index must be an integer in [0, {size - 1}], got {index!r}")


@register
@dataclasses.dataclass(frozen=True)
class Instruction(Perturbation):
    name: ClassVar[str] = "instruction"
    family: ClassVar[str] = "instruction"
    description: ClassVar[str] = (
        "Rewords the task instruction (phrasing `index` of a fixed list; 0 is the default)"
    )
    stochastic: ClassVar[bool] = False
    index: int = 1

    def __post_init__(self) -> None:
        _check_index("instruction", self.index, INSTRUCTIONS)

    def perturb(self, example: Example, rng: random.Random) -> Example:
        text = INSTRUCTIONS[example.task_type][self.index]
        return dataclasses.replace(example, format=dataclasses.replace(example.format, instruction=text))


@register
@dataclasses.dataclass(frozen=True)
class Enumerator(Perturbation):
    """Relabels the options (A/B/C -> a/b/c, 1/2/3, i/ii/iii, (A)/(B), ...). An example whose options
    name others by label ("Both A and B") keeps its labels: relabelling would break the reference."""

    name: ClassVar[str] = "enumerator"
    family: ClassVar[str] = "enumerator"
    description: ClassVar[str] = (
        "Changes the option labels and their layout: A., a., 1., i., (A), 1), [A], A:"
    )
    task_types: ClassVar[tuple[str, ...]] = ("multiple_choice",)
    stochastic: ClassVar[bool] = False
    scheme: str = "lower"

    def __post_init__(self) -> None:
        if self.scheme not in ENUMERATORS:
            raise ValueError(f"enumerator scheme must be one of {list(ENUMERATORS)}, got {self.scheme!r}")

    def perturb(self, example: Example, rng: random.Random) -> Example:
        if example.task_type != "multiple_choice":
            raise ValueError(f"enumerator applies to multiple choice only, not {example.example_id}")
        if refers_to_labels(example.choices):
            return example
        if len(example.choices) > MAX_OPTIONS:
            raise ValueError(f"{example.example_id}: {len(example.choices)} options, at most {MAX_OPTIONS}")
        labels, template = ENUMERATORS[self.scheme]
        # Enough labels for any demonstration too (they are rendered in the query's enumerator).
        count = max(len(example.choices), len(PromptFormat().choice_labels))
        fmt = dataclasses.replace(
            example.format, choice_labels=labels(count), enumerator=self.scheme, label_template=template
        )
        return dataclasses.replace(example, format=fmt)


@register
@dataclasses.dataclass(frozen=True)
class Separator(Perturbation):
    """How the options (or, for classification, the label names) are joined: one per line, or inline
    with "; ", " | " or " OR ". The parameter is `kind` (`name` is every perturbation's registry key)."""

    name: ClassVar[str] = "separator"
    family: ClassVar[str] = "separator"
    description: ClassVar[str] = (
        "Lists the options on one line joined by '; ', ' | ' or ' OR ' (or one per line)"
    )
    stochastic: ClassVar[bool] = False
    kind: str = "semicolon"

    def __post_init__(self) -> None:
        if self.kind not in SEPARATORS:
            raise ValueError(f"separator kind must be one of {list(SEPARATORS)}, got {self.kind!r}")

    def perturb(self, example: Example, rng: random.Random) -> Example:
        fmt = dataclasses.replace(example.format, separator=SEPARATORS[self.kind])
        return dataclasses.replace(example, format=fmt)


@register
@dataclasses.dataclass(frozen=True)
class AnswerCue(Perturbation):
    name: ClassVar[str] = "answer_cue"
    family: ClassVar[str] = "answer_cue"
    description: ClassVar[str] = (
        "Rewords the answer cue that ends the prompt (cue `index` of a fixed list; 0 is 'Answer:')"
    )
    stochastic: ClassVar[bool] = False
    index: int = 1

    def __post_init__(self) -> None:
        _check_index("answer_cue", self.index, ANSWER_CUES)

    def perturb(self, example: Example, rng: random.Random) -> Example:
        cue = ANSWER_CUES[example.task_type][self.index]
        return dataclasses.replace(example, format=dataclasses.replace(example.format, answer_cue=cue))
