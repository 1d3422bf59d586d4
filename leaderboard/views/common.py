"""Shared display helpers: safe text and links, number formatting, metric choices.

Everything a submitter typed (model name, link, licence, submitter, failure reasons) reaches the page
through these helpers or through plain-text ("str") table cells: it is shown as text, never
interpreted as Markdown, HTML or script, and only http(s) links become links.
"""

from __future__ import annotations

import math
import re
import tempfile
from pathlib import Path
from urllib.parse import quote, urlparse

import pandas as pd

from leaderboard import analysis

# Markdown punctuation that could start emphasis, links, code, headings, tables, lists or math.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$:^=])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}


def escape_markdown(text: object) -> str:
    """`text` as literal text inside Markdown: punctuation backslash-escaped, HTML characters as entities,
    line breaks as spaces (a cell or a heading stays one line)."""
    value = re.sub(r"[\r\n\t]+", " ", str(text))
    value = _MARKDOWN_SPECIAL.sub(r"\\\1", value)
    return "".join(_HTML.get(c, c) for c in value)


def safe_url(url: object) -> str | None:
    """The URL if it is an absolute http(s) link, percent-encoded so it cannot break out of `(...)`."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    parsed = urlparse(url)
    if parsed.scheme.lower() not in ("http", "https") or not parsed.netloc or any(c.isspace() for c in url):
        return None
    return quote(url, safe=":/?#@!$&*+,;=%~-._")


def markdown_link(text: object, url: object) -> str:
    """`[text](url)` for a safe URL, else the escaped text alone."""
    label = escape_markdown(text)
    target = safe_url(url)
    return f"[{label}]({target})" if target else label


def round_or_none(value: object, digits: int = 3) -> float | None:
    """A rounded float for a table cell; None (an empty cell) for NaN/None."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else round(number, digits)


def interval_text(lo: object, hi: object, digits: int = 3) -> str:
    lo, hi = round_or_none(lo, digits), round_or_none(hi, digits)
    return "" if lo is None or hi is None else f"{lo:.{digits}f} – {hi:.{digits}f}"


def p_text(p: object) -> str:
    value = round_or_none(p, 12)
    if value is None:
        return ""
    return "< 1e-300" if value == 0 else (f"{value:.3f}" if value >= 0.001 else f"{value:.1e}")


def metric_choices(keys: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(analysis.metric_label(k), k) for k in keys]


COLUMN_LABELS = {
    "rank": "Rank",
    "model": "Model",
    "type": "Type",
    "params_b": "Size (B)",
    "release": "Release",
    "accuracy_ci": "Accuracy 95% CI",
    "coverage": "Coverage",
    "n_examples": "Examples",
    "n_slots": "Slots",
    "revision": "Revision",
    "license": "Licence",
    "submitter": "Submitter",
    "scored_at": "Scored at",
    "submission_id": "Submission",
}


def column_label(column: str) -> str:
    if column in COLUMN_LABELS:
        return COLUMN_LABELS[column]
    for prefix in (analysis.TASK_PREFIX, analysis.FAMILY_PREFIX):
        if column.startswith(prefix):
            return column
    return analysis.metric_label(column)


def table_value(frame: pd.DataFrame) -> dict:
    """A Dataframe value with NaN as empty cells (JSON has no NaN; Gradio would show the word)."""
    data = frame.astype(object).where(frame.notna(), None).values.tolist()
    return {"headers": [str(c) for c in frame.columns], "data": data}


_DOWNLOADS = Path(tempfile.mkdtemp(prefix="robustboard-downloads-"))


def download_path(content: str, stem: str, suffix: str) -> str:
    """Write a download once per content (name by digest, so concurrent visitors never clash)."""
    from robustboard.hashing import sha256_bytes

    data = content.encode("utf-8")
    path = _DOWNLOADS / f"{stem}-{sha256_bytes(data)[:12]}{suffix}"
    if not path.exists():
        from robustboard.atomic import write_bytes

        write_bytes(path, data)
    return str(path)
