"""Few-shot demonstrations: k solved examples before the query, drawn from a separate pool.

The pool. A rendered demonstration shows its gold answer in the public `prompt`, so demonstrations
must never come from the examples being evaluated: that would publish the hidden labels of the
release's own rows (and could show an example its own answer). The pool is therefore a *different
split* of the source — MMLU's `dev` (5 per subject, the split lm-eval's 5-shot MMLU uses), a
classification set's `train` — handed over by the release builder with `with_pool(examples)`.
`prepare(examples)` then checks that no pool example shares an id or its content (question and
options, or text and text pair) with an evaluated example, and fails before any work otherwise.

The selection. Demonstrations come from the query's own task (MMLU subject) first — the way
lm-eval's MMLU prompts are built — and, when the task has fewer than k pool examples, the rest are
drawn from the other tasks. Both the selection and the order are random draws of the slot's rng,
so replicates give different demonstrations and the same seed gives the same ones; an example is
never its own demonstration (by id or by content).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import ClassVar

from builder.perturbations.base import Perturbation, register
from builder.tasks import Example


def content_key(example: Example) -> tuple:
    """What an example asks, independent of its id and format: two examples with this equal are one."""
    if example.task_type == "multiple_choice":
        return (example.question, example.choices)
    return (example.text, example.text_pair)


def _draw(candidates: Sequence[int], k: int, excluded: set[int], rng: random.Random) -> list[int]:
    """Up to k distinct items of `candidates` not in `excluded`, uniformly, in random order.

    Rejection sampling costs O(k) draws however large the pool (rotten_tomatoes' train has 8,530).
    """
    allowed = len(candidates) - sum(1 for c in candidates if c in excluded) if excluded else len(candidates)
    if allowed <= k:
        chosen = [c for c in candidates if c not in excluded]
        rng.shuffle(chosen)
        return chosen
    picked: list[int] = []
    seen: set[int] = set()
    while len(picked) < k:
        item = candidates[rng.randrange(len(candidates))]
        if item not in seen and item not in excluded:
            seen.add(item)
            picked.append(item)
    return picked


@register
@dataclasses.dataclass(frozen=True)
class Fewshot(Perturbation):
    name: ClassVar[str] = "fewshot"
    family: ClassVar[str] = "fewshot"
    description: ClassVar[str] = (
        "Prepends k solved demonstrations from a separate split (same task first), in random choice and order"
    )
    k: int = 5
    pool: tuple[Example, ...] = dataclasses.field(
        default=(), repr=False, compare=False, metadata={"param": False}
    )
    _by_task: dict = dataclasses.field(
        default=None, init=False, repr=False, compare=False, metadata={"param": False}
    )
    _by_content: dict = dataclasses.field(
        default=None, init=False, repr=False, compare=False, metadata={"param": False}
    )
    _others: dict = dataclasses.field(
        default=None, init=False, repr=False, compare=False, metadata={"param": False}
    )

    def __post_init__(self) -> None:
        if not isinstance(self.k, int) or not 1 <= self.k <= 64:
            raise ValueError(f"fewshot k must be an integer in [1, 64], got {self.k!r}")
        by_task: dict[str, list[int]] = {}
        by_content: dict[tuple, list[int]] = {}
        for i, demo in enumerate(self.pool):
            by_task.setdefault(demo.task, []).append(i)
            by_content.setdefault(content_key(demo), []).append(i)
            by_content.setdefault(("id", demo.example_id), []).append(i)
        object.__setattr__(self, "_by_task", by_task)
        object.__setattr__(self, "_by_content", by_content)
        object.__setattr__(self, "_others", {})

    def needs_pool(self) -> bool:
        return True

    def with_pool(self, pool: Sequence[Example]) -> Fewshot:
        return dataclasses.replace(self, pool=tuple(pool))

    def prepare(self, examples: Sequence[Example]) -> None:
        """Refuse an empty pool or one that overlaps the evaluated examples (their gold would be public)."""
        if len(self.pool) < self.k:
            raise ValueError(
                f"{self.setting_id()}: the demonstration pool has {len(self.pool)} examples, {self.k} "
                "needed; give it a split other than the evaluated one (e.g. dev or train) with with_pool()"
            )
        for example in examples:
            if clash := self._excluded(example):
                demo = self.pool[min(clash)]
                raise ValueError(
                    f"{self.setting_id()}: demonstration {demo.example_id} is evaluated example "
                    f"{example.example_id} (same id or content); the pool must be a separate split"
                )

    def _excluded(self, example: Example) -> set[int]:
        return {
            *self._by_content.get(("id", example.example_id), ()),
            *self._by_content.get(content_key(example), ()),
        }

    def _other_tasks(self, task: str) -> list[int]:
        """Pool indices of every task but `task`, in pool order (built once per task)."""
        if task not in self._others:
            self._others[task] = [i for t, items in self._by_task.items() if t != task for i in items]
        return self._others[task]

    def perturb(self, example: Example, rng: random.Random) -> Example:
        if len(self.pool) < self.k:
            raise ValueError(f"{self.setting_id()}: no demonstration pool (call with_pool() and prepare())")
        excluded = self._excluded(example)
        same_task = self._by_task.get(example.task, [])
        chosen = _draw(same_task, self.k, excluded, rng)
        if len(chosen) < self.k:
            chosen += _draw(self._other_tasks(example.task), self.k - len(chosen), excluded, rng)
            rng.shuffle(chosen)
        return dataclasses.replace(example, demonstrations=tuple(self.pool[i] for i in chosen))
