"""The perturbation protocol and its registry.

A perturbation is a small frozen dataclass with a `family` (the release config it lands in), a
one-line `description`, its parameters as fields, and `perturb(example, rng) -> Example`. The rng
is a `random.Random` seeded from (release seed, example_id, variant_id) by the release builder, so
every output is reproducible per instance, in any process and any order (HELM's augmentations do the
same). Perturbations must preserve the label: text edits never touch option texts, and reorderings
remap `answer`.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from typing import ClassVar

from builder.tasks import Example

REGISTRY: dict[str, type[Perturbation]] = {}


@dataclasses.dataclass(frozen=True)
class Perturbation:
    name: ClassVar[str] = ""  # registry key used in release specs, e.g. "typos"
    family: ClassVar[str] = ""  # the config the slot belongs to
    description: ClassVar[str] = ""
    task_types: ClassVar[tuple[str, ...]] = ("multiple_choice", "classification")  # where it applies
    nltk_resources: ClassVar[tuple[str, ...]] = ()  # NLTK data it needs (names of builder.nltk_resources)
    stochastic: ClassVar[bool] = True  # False when the output does not depend on the rng

    def perturb(self, example: Example, rng: random.Random) -> Example:
        raise NotImplementedError

    def prepare(self, examples: Sequence[Example]) -> None:
        """Called once with every example of the release before any `perturb` (caches, pools)."""

    def is_stochastic(self) -> bool:
        """Whether replicates differ; replicating a deterministic setting only repeats one slot."""
        return self.stochastic

    def needs_pool(self) -> bool:
        """Whether `with_pool` must be given demonstrations before `prepare` (few-shot only)."""
        return False

    def with_pool(self, pool: Sequence[Example]) -> Perturbation:
        """A copy drawing demonstrations from `pool`; a no-op for perturbations that use none."""
        return self

    @property
    def params(self) -> dict:
        """The parameters as plain values; fields marked `metadata={"param": False}` are state, not params."""
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.metadata.get("param", True)
        }

    def setting_id(self) -> str:
        """The slot name without the replicate suffix, e.g. `typos-p0.05`."""
        parts = [self.name.replace("_", "-")]
        for key, value in sorted(self.params.items()):
            if isinstance(value, float):
                parts.append(f"{key[0]}{value:g}")
            elif isinstance(value, str | int):
                parts.append(str(value))
        return "-".join(parts)


def register(cls: type[Perturbation]) -> type[Perturbation]:
    if not cls.name or cls.name in REGISTRY:
        raise ValueError(f"perturbation name {cls.name!r} is empty or already registered")
    REGISTRY[cls.name] = cls
    return cls


def create(name: str, **params) -> Perturbation:
    """Instantiate a registered perturbation by name, with a clear error for unknown names/params."""
    try:
        cls = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown perturbation {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
    try:
        return cls(**params)
    except TypeError as err:
        fields = ", ".join(f.name for f in dataclasses.fields(cls)) or "none"
        raise ValueError(
            f"perturbation {name!r}: bad parameters {params} ({err}); it takes: {fields}"
        ) from None


PerturbFn = Callable[[Example, random.Random], Example]
