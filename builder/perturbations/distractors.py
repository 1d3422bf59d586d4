"""Distractors: irrelevant material after the input, as PromptBench's StressTest and CheckList attacks.

StressTest appends tautologies ("and true is true"); CheckList appends a random alphanumeric string
("LGOZMPXsPd"). Both leave every word of the input intact and add nothing that bears on the answer.
The addition goes to `Example.suffix`, which the renderer writes right after the question or text,
so the structured fields of the public row stay the source's.
"""

from __future__ import annotations

import dataclasses
import random
import string
from typing import ClassVar

from builder.perturbations.base import Perturbation, register
from builder.tasks import Example

# Irrelevant, true, answer-neutral sentences: StressTest's tautologies plus plain everyday facts.
# None contains a number, a negation, an option-like label or a question.
IRRELEVANT_SENTENCES = (
    "And true is true.",
    "And equal is equal.",
    "The sky is blue on a clear day.",
    "Water boils when it is heated enough.",
    "Many people enjoy a cup of tea in the morning.",
    "Cats often sleep for long periods during the day.",
    "The library opens early on weekdays.",
    "Some trees lose their leaves in autumn.",
    "Sleeping well helps people feel rested.",
    "The train station was busy this morning.",
    "Bread is usually baked in an oven.",
    "Rivers flow toward lower ground.",
    "The museum has a large collection of paintings.",
    "Birds build nests to raise their young.",
    "The weather was mild and pleasant yesterday.",
    "Fresh fruit is sold at the market every week.",
)

ALPHANUMERIC = string.ascii_letters + string.digits


def with_suffix(example: Example, addition: str) -> Example:
    suffix = f"{example.suffix} {addition}" if example.suffix else addition
    return dataclasses.replace(example, suffix=suffix)


@register
@dataclasses.dataclass(frozen=True)
class DistractorSentence(Perturbation):
    name: ClassVar[str] = "distractor_sentence"
    family: ClassVar[str] = "distractors"
    description: ClassVar[str] = (
        "Appends an irrelevant, answer-neutral sentence after the input (StressTest style)"
    )

    def perturb(self, example: Example, rng: random.Random) -> Example:
        return with_suffix(example, rng.choice(IRRELEVANT_SENTENCES))


@register
@dataclasses.dataclass(frozen=True)
class RandomSuffix(Perturbation):
    name: ClassVar[str] = "random_suffix"
    family: ClassVar[str] = "distractors"
    description: ClassVar[str] = "Appends a random alphanumeric string of the given length (CheckList style)"
    length: int = 10

    def __post_init__(self) -> None:
        if not isinstance(self.length, int) or not 1 <= self.length <= 200:
            raise ValueError(f"random_suffix length must be an integer in [1, 200], got {self.length!r}")

    def perturb(self, example: Example, rng: random.Random) -> Example:
        return with_suffix(example, "".join(rng.choices(ALPHANUMERIC, k=self.length)))
