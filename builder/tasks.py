"""The example record every perturbation and renderer works on, for both task types.

An `Example` is immutable; a perturbation returns a new one via `dataclasses.replace`. Text
perturbations touch only `question` (multiple choice) or `text` / `text_pair` (classification):
option texts are never edited, only reordered, so an option's text identifies it across slots and
the scorer can compare answers by content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

TaskType = Literal["multiple_choice", "classification"]

DEFAULT_INSTRUCTION = {
    # "label", not "letter": enumerator slots number the options 1/2/3 or i/ii/iii
    "multiple_choice": (
        "The following is a multiple choice question. Answer with the label of the correct option."
    ),
    "classification": "Classify the text. Answer with one of the labels.",
}


@dataclass(frozen=True)
class PromptFormat:
    """How an example is rendered; format perturbations change these, never the content."""

    instruction: str = ""
    choice_labels: tuple[str, ...] = ("A", "B", "C", "D", "E", "F", "G", "H", "I", "J")
    enumerator: str = "upper"  # name of the label scheme, e.g. upper, lower, numeric, roman
    label_template: str = "{label}. {choice}"  # how one option line is written
    separator: str = "\n"  # between options
    answer_cue: str = "Answer:"


@dataclass(frozen=True)
class Example:
    example_id: str
    task_type: TaskType
    task: str  # the grouping field (MMLU subject), or the spec name
    answer: int  # index of the gold option (multiple choice) or gold label (classification)
    question: str = ""
    choices: tuple[str, ...] = ()
    text: str = ""
    text_pair: str | None = None
    label_names: tuple[str, ...] = ()
    format: PromptFormat = field(default_factory=PromptFormat)
    demonstrations: tuple[Example, ...] = ()  # few-shot; never the example itself
    suffix: str = ""  # distractor appended after the input (irrelevant sentence / random string)

    @property
    def labels(self) -> tuple[str, ...]:
        """This slot's option labels (multiple choice) or label names (classification)."""
        if self.task_type == "multiple_choice":
            return self.format.choice_labels[: len(self.choices)]
        return self.label_names

    @property
    def gold(self) -> str:
        """The gold answer as written in this slot's own label space."""
        return self.labels[self.answer]
