"""What every baseline run is given: its seed, where its caches live, and the user's choices.

Caches (trained classifiers, text embeddings) live under the same root as the builder's source
cache (`$ROBUSTBOARD_CACHE`, default `~/.cache/robustboard`), so one variable moves or isolates every
cache of the project.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from robustboard.hashing import stable_seed


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


def seeded_index(keys: pa.Table, counts: np.ndarray, seed: int) -> np.ndarray:
    """A uniform index in [0, counts[i]) per row, drawn from stable_seed(seed, example_id, variant_id):
    the same in any process and any row order, independent across slots."""
    ids = zip(keys["example_id"].to_pylist(), keys["variant_id"].to_pylist(), strict=True)
    draws = np.fromiter((stable_seed(seed, e, v) for e, v in ids), dtype=np.uint64, count=keys.num_rows)
    return (draws % np.asarray(counts).astype(np.uint64)).astype(np.int64)
