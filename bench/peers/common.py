"""Measurement helpers shared by every side of the comparisons (ours and the peers).

Standard library only: the same file is imported by workers running in the product's environment and
in the peers' separate `.bench-venv`, so both sides read the same inputs, time the same way and are
checked by the same code.
"""

from __future__ import annotations

import json
import os
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
MMLU = SHARED / "data" / "mmlu" / "test.jsonl"
NLTK_DATA = SHARED / "nltk_data"
PAGE = os.sysconf("SC_PAGE_SIZE")


def use_shared_nltk_data() -> None:
    """Point NLTK (ours, nlpaug's and textattack's WordNet) at the same offline data root."""
    os.environ["NLTK_DATA"] = str(NLTK_DATA)
    if "nltk" in sys.modules:
        import nltk

        if str(NLTK_DATA) not in nltk.data.path:
            nltk.data.path.insert(0, str(NLTK_DATA))


def mmlu_rows(n: int = 10_000, seed: int = 0) -> list[dict]:
    """The same n MMLU test rows for every side: a seeded sample (all 57 subjects), in file order."""
    with open(MMLU, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    if n >= len(rows):
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows)), n))
    return [rows[i] for i in keep]


def rss_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def summary(values: Iterable[float]) -> dict:
    """Median, min, max and the raw runs: every published figure is a median of >= 5 runs."""
    values = [float(v) for v in values]
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": values,
        "n": len(values),
    }


def serve(handlers: dict[str, Callable[[dict], dict]]) -> None:
    """A JSON-lines worker loop on stdin/stdout, so one driver can interleave runs of two environments.

    Each request is `{"cmd": name, ...}`; each reply is one JSON line `{"ok": true, ...}` or
    `{"ok": false, "error": "..."}`. The loop ends at EOF or on `{"cmd": "exit"}`. Anything the
    measured libraries print goes to stderr, never into the protocol stream.
    """
    out = sys.stdout
    sys.stdout = sys.stderr
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if request.get("cmd") == "exit":
            break
        try:
            reply = {"ok": True, **handlers[request["cmd"]](request)}
        except Exception as err:  # report to the driver, which decides; the worker stays usable
            reply = {"ok": False, "error": f"{type(err).__name__}: {err}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


WORD = (
    r"[^\W_]+(?:['\u2019.,_\-][^\W_]+)*"  # a word with inner joiners, as builder/perturbations/protected.py
)


def edit_stats(originals: list[str], outputs: list[str], char_rows: int = 1000) -> dict:
    """Realised perturbation rates, measured identically on every side's output.

    - `word_change_rate`: share of the input's words (letters/digits with inner joiners, as a
      multiset) missing from the output: a typo, edit or substitution in a word counts once, while
      re-spacing around punctuation (nlpaug's detokeniser does it) does not. Rates are matched on it.
    - `char_edit_rate`: character edits per input character (difflib opcodes: a replacement of m
      characters by n counts max(m, n), an insertion or deletion its length), pooled over rows; it
      includes whitespace changes; `char_edit_rate_nospace` is the same on whitespace-free text.
      Both on at most `char_rows` evenly spaced rows (difflib is quadratic per row).
    - `rows_changed`: share of rows whose output differs from the input.
    """
    import difflib
    import re
    from collections import Counter

    word = re.compile(WORD)
    chars = char_edits = nospace_chars = nospace_edits = words = word_edits = changed = 0
    step = max(1, -(-len(originals) // char_rows))
    for i, (before, after) in enumerate(zip(originals, outputs, strict=True)):
        changed += before != after
        want, have = Counter(word.findall(before)), Counter(word.findall(after))
        words += sum(want.values())
        word_edits += sum(max(0, count - have[token]) for token, count in want.items())
        if i % step:
            continue
        chars += len(before)
        char_edits += _edit_count(difflib.SequenceMatcher(None, before, after, autojunk=False))
        squeezed_before, squeezed_after = "".join(before.split()), "".join(after.split())
        nospace_chars += len(squeezed_before)
        nospace_edits += _edit_count(
            difflib.SequenceMatcher(None, squeezed_before, squeezed_after, autojunk=False)
        )
    n = max(len(originals), 1)
    return {
        "rows": len(originals),
        "rows_changed": changed / n,
        "word_change_rate": word_edits / max(words, 1),
        "char_edit_rate": char_edits / max(chars, 1),
        "char_edit_rate_nospace": nospace_edits / max(nospace_chars, 1),
    }


def _edit_count(matcher) -> int:
    count = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "replace":
            count += max(i2 - i1, j2 - j1)
        elif tag == "delete":
            count += i2 - i1
        elif tag == "insert":
            count += j2 - j1
    return count
