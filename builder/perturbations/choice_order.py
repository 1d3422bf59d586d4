"""Choice order (multiple choice): permute the options, remap the gold index; option texts never change.

Modes: `random` (a shuffle drawn from the slot's rng, so the same seed gives the same order),
`reversed`, `length` (shortest first, ties in source order) and `alphabetical` (case-insensitive,
ties in source order). The gold answer follows its option: the new `answer` is the new position of
the old gold text, so the gold *content* is unchanged and only its label moves.

Options whose meaning depends on their position or on other options' labels are respected:
- an option that refers to others by label ("Both A and B", "B and C only", "neither (a) nor (b)")
  pins the whole order: any permutation would make it point at different options;
- an option that refers to the list itself ("All of the above", "None of the following") stays at
  its position while the others are reordered around it.
The same label references keep the enumerator of an example (see `prompt_format.Enumerator`).
"""

from __future__ import annotations

import dataclasses
import random
import re
from typing import ClassVar

from builder.perturbations.base import Perturbation, register
from builder.tasks import Example

_LABEL = r"(?:\(?[A-H]\)?|\([a-h]\))"
_LABELS = rf"{_LABEL}(?:\s*,\s*{_LABEL})*,?\s+(?i:and|or|nor|&)\s+{_LABEL}(?![\w'\u2019])"
# "Both A and B" / "neither (a) nor (b)" anywhere, or an option that is only a label list ("B and C
# only", "A and B."); a bare "B and C" inside a longer text ("Vitamin B and C") is content.
_LABEL_REFERENCE = re.compile(
    rf"(?<![\w'\u2019])(?i:both|neither|either)\s+{_LABELS}"
    rf"|^\s*(?:(?i:options?|choices?|answers?)\s+)?{_LABELS}(?:\s+(?i:only))?\s*[.;]?\s*$"
)
_LIST_REFERENCE = re.compile(
    r"\b(?:all|none|any|both|neither|either|each)\s+of\s+(?:the\s+)?"
    r"(?:above|below|preceding|following|previous|others|other\s+options|choices\s+above)\b"
    r"|\bthe\s+above\b",
    re.IGNORECASE,
)
MODES = ("random", "reversed", "length", "alphabetical")


def refers_to_labels(choices: tuple[str, ...]) -> bool:
    """Whether an option names other options by their label ("Both A and B")."""
    return any(_LABEL_REFERENCE.search(choice) for choice in choices)


def anchored(choice: str) -> bool:
    """Whether an option refers to the option list itself ("All of the above") and must keep its place."""
    return _LIST_REFERENCE.search(choice) is not None


@register
@dataclasses.dataclass(frozen=True)
class ChoiceOrder(Perturbation):
    name: ClassVar[str] = "choice_order"
    family: ClassVar[str] = "choice_order"
    description: ClassVar[str] = (
        "Reorders the options (random, reversed, by length or alphabetically); the gold follows its option"
    )
    task_types: ClassVar[tuple[str, ...]] = ("multiple_choice",)
    mode: str = "random"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"choice_order mode must be one of {list(MODES)}, got {self.mode!r}")

    def is_stochastic(self) -> bool:
        return self.mode == "random"

    def order(self, choices: tuple[str, ...], rng: random.Random) -> list[int]:
        """The source index of the option at each new position."""
        n = len(choices)
        if refers_to_labels(choices):
            return list(range(n))
        fixed = [i for i in range(n) if anchored(choices[i])]
        free = [i for i in range(n) if i not in fixed]
        if self.mode == "random":
            rng.shuffle(free)
        elif self.mode == "reversed":
            free.reverse()
        elif self.mode == "length":
            free.sort(key=lambda i: len(choices[i]))
        else:
            free.sort(key=lambda i: choices[i].casefold())
        it = iter(free)
        return [i if i in fixed else next(it) for i in range(n)]

    def perturb(self, example: Example, rng: random.Random) -> Example:
        if example.task_type != "multiple_choice":
            raise ValueError(f"choice_order applies to multiple choice only, not {example.example_id}")
        order = self.order(example.choices, rng)
        return dataclasses.replace(
            example, choices=tuple(example.choices[i] for i in order), answer=order.index(example.answer)
        )
