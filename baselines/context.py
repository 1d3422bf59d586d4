"""What every baseline run is given: its seed, where its caches live, and the user's choices.

Caches (trained classifiers, text embeddings) live under the same root as the builder's source
cache (`$ROBUSTBOARD_CACHE`, default `~/.cache/robustboard`), so one variable moves or isolates every
cache of the project.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_cache_dir() -> Path:
    return Path(os.environ.get("ROBUSTBOARD_CACHE") or Path.home() / ".cache" / "robustboard").expanduser()


@dataclass(frozen=True)
class RunContext:
    seed: int = 0
    cache: Path = field(default_factory=default_cache_dir)
    progress: bool = False  # progress bars on stderr (the CLI turns them on)
    train_path: Path | None = None  # classification: an explicit training file instead of the spec's split
    notes: list[str] = field(default_factory=list, compare=False)  # what the run wants the user to know
    measured: dict = field(default_factory=dict, compare=False)  # facts found while running (params_b)
