"""Limits on what one submission may cost the server, and how often one may submit.

A public leaderboard reads files from strangers and scores them against answers it must keep hidden,
so every resource a submission can consume is bounded, each bound with its own message:

- size of a predictions file: 1024 MB (`ROBUSTBOARD_MAX_FILE_MB`, `--max-file-mb`);
- rows (lines) in a predictions file: 10,000,000 (`ROBUSTBOARD_MAX_ROWS`, `--max-rows`);
- problems reported for one file: 200 (`ROBUSTBOARD_MAX_PROBLEMS`, `--max-problems`);
- wall time of one scoring job: 3600 s (`ROBUSTBOARD_SCORING_TIMEOUT`, `--timeout`);
- submissions per submitter, and per model, in any 24 hours: 5, 0 for no quota
  (`ROBUSTBOARD_SUBMISSIONS_PER_DAY`, `--per-day`).

A store carries its limits (`Store(backend, limits=...)`; `open_store` reads them from the
environment), the commands build them from the environment and their flags, and code that reads a
file outside a store (`robustboard score`) uses `current()`: the limits installed with `using()`, else
the environment's. Why a daily quota at all: every scored submission tells its submitter a little
about the hidden labels (an accuracy is a count of right answers); bounding submissions per submitter
and per model bounds what probing can learn (docs/reliability.md, "Submission policy").
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

ENVIRONMENT = {
    "max_file_mb": "ROBUSTBOARD_MAX_FILE_MB",
    "max_rows": "ROBUSTBOARD_MAX_ROWS",
    "max_problems": "ROBUSTBOARD_MAX_PROBLEMS",
    "scoring_timeout": "ROBUSTBOARD_SCORING_TIMEOUT",
    "per_day": "ROBUSTBOARD_SUBMISSIONS_PER_DAY",
}
FLAGS = {
    "max_file_mb": "--max-file-mb",
    "max_rows": "--max-rows",
    "max_problems": "--max-problems",
    "scoring_timeout": "--timeout",
    "per_day": "--per-day",
}
# (type, lowest, highest) of each setting; per_day 0 switches the quota off.
_BOUNDS: dict[str, tuple[type, float, float]] = {
    "max_file_mb": (float, 0.001, 1_000_000),
    "max_rows": (int, 1, 10_000_000_000),
    "max_problems": (int, 1, 100_000),
    "scoring_timeout": (float, 0.01, 7 * 86_400),
    "per_day": (int, 0, 1_000_000),
}


@dataclass(frozen=True)
class Limits:
    max_file_mb: float = 1024.0
    max_rows: int = 10_000_000
    max_problems: int = 200
    scoring_timeout: float = 3600.0
    per_day: int = 5

    def __post_init__(self) -> None:
        for name, (kind, low, high) in _BOUNDS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                raise ValueError(f"{name} = {value!r} is outside [{low:g}, {high:g}]")
            if kind is int and value != int(value):
                raise ValueError(f"{name} = {value!r} is not a whole number")
            object.__setattr__(self, name, kind(value))

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Limits:
        """Limits from ROBUSTBOARD_* variables; overrides that are not None (command-line flags) win.

        Raises ValueError naming the variable for a value that is not a number or out of range.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, variable in ENVIRONMENT.items():
            text = environ.get(variable, "").strip()
            if not text:
                continue
            kind, low, high = _BOUNDS[name]
            try:
                value = kind(float(text)) if kind is int and float(text).is_integer() else kind(text)
            except ValueError:
                raise ValueError(f"{variable}={text!r} is not a {kind.__name__}") from None
            if not low <= value <= high:
                raise ValueError(f"{variable}={text!r} is outside [{low:g}, {high:g}]")
            values[name] = value
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def but(self, **changes: Any) -> Limits:
        """A copy with `changes` (those that are not None)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def describe(self, name: str) -> str:
        """Where an operator changes this limit, for the error message that enforces it."""
        return f"{ENVIRONMENT[name]} or {FLAGS[name]}"


_ACTIVE: ContextVar[Limits | None] = ContextVar("robustboard_limits", default=None)


def current() -> Limits:
    """The limits installed by `using()` in this context, else those of the environment."""
    active = _ACTIVE.get()
    return active if active is not None else Limits.from_env()


@contextmanager
def using(limits: Limits) -> Iterator[Limits]:
    """Install `limits` for the code run inside (this thread or task only)."""
    token = _ACTIVE.set(limits)
    try:
        yield limits
    finally:
        _ACTIVE.reset(token)
