"""Composition: several perturbations stacked into one slot, e.g. typos + roman enumerator + reversed options.

`steps` is a sequence of (registry name, parameters) applied in order with the slot's one rng, so the
result is as deterministic as each step. Text steps all protect the tokens of the composition's
*input* (a lower-casing step does not expose "Paris" to the typo step after it). The slot id joins
the steps' ids with "+", e.g. `compose-typos-p0.05+enumerator-roman`; severity is set per step
through its own parameters (rates, counts).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from typing import ClassVar

from builder.perturbations.base import Perturbation, create, register
from builder.perturbations.protected import protected_tokens
from builder.perturbations.text import TextPerturbation
from builder.tasks import Example


def _normalise_steps(steps) -> tuple[tuple[str, tuple[tuple[str, object], ...]], ...]:
    """Steps as hashable (name, sorted params) pairs, from [name, {params}] pairs, {name: params} or names."""
    out = []
    for step in steps:
        if isinstance(step, Mapping) and len(step) == 1:
            ((name, params),) = step.items()
        elif isinstance(step, str):
            name, params = step, {}
        else:
            name, params = step
        params = dict(params or {})
        out.append((name, tuple(sorted(params.items()))))
    return tuple(out)


@register
@dataclasses.dataclass(frozen=True)
class Compose(Perturbation):
    name: ClassVar[str] = "compose"
    family: ClassVar[str] = "composite"
    description: ClassVar[str] = (
        "Applies several perturbations in order (each with its own severity parameters)"
    )
    steps: tuple = ()
    pool: tuple[Example, ...] = dataclasses.field(
        default=(), repr=False, compare=False, metadata={"param": False}
    )
    parts: tuple[Perturbation, ...] = dataclasses.field(
        default=(), init=False, repr=False, compare=False, metadata={"param": False}
    )

    def __post_init__(self) -> None:
        try:
            steps = _normalise_steps(self.steps)
        except (TypeError, ValueError):
            raise ValueError(
                f"compose steps must be a list of [name, {{params}}] pairs, got {self.steps!r}"
            ) from None
        if len(steps) < 2:
            raise ValueError(f"compose needs at least two steps, got {len(steps)}")
        parts = []
        for name, params in steps:
            if name == self.name:
                raise ValueError("compose steps cannot themselves be compositions; list the steps flat")
            part = create(name, **dict(params))
            parts.append(part.with_pool(self.pool) if part.needs_pool() and self.pool else part)
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "parts", tuple(parts))

    @property
    def task_types(self) -> tuple[str, ...]:  # where every step applies
        return tuple(
            t for t in ("multiple_choice", "classification") if all(t in p.task_types for p in self.parts)
        )

    @property
    def nltk_resources(self) -> tuple[str, ...]:  # what any step needs
        return tuple(dict.fromkeys(r for p in self.parts for r in p.nltk_resources))

    @property
    def params(self) -> dict:
        return {"steps": [[name, dict(params)] for name, params in self.steps]}

    def setting_id(self) -> str:
        return "compose-" + "+".join(part.setting_id() for part in self.parts)

    def is_stochastic(self) -> bool:
        return any(part.is_stochastic() for part in self.parts)

    def needs_pool(self) -> bool:
        return any(part.needs_pool() for part in self.parts)

    def with_pool(self, pool: Sequence[Example]) -> Compose:
        return dataclasses.replace(self, pool=tuple(pool))

    def prepare(self, examples: Sequence[Example]) -> None:
        for part in self.parts:
            part.prepare(examples)

    def perturb(self, example: Example, rng: random.Random) -> Example:
        original = example
        for part in self.parts:
            if isinstance(part, TextPerturbation):
                protected = protected_tokens(original, stopwords=part.protects_stopwords)
                example = part.apply(example, rng, protected)
            else:
                example = part.perturb(example, rng)
        return example
