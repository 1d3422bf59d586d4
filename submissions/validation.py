"""Validation: every problem with a submission is found and reported at once, with where it is.

A submitter fixing a file wants the whole list, not one error per round trip, so the checks here
collect `Problem`s and raise one `ValidationError` carrying all of them (the message lists the first
`SHOWN_PROBLEMS`). Messages name example and variant ids and the submitted values, never a gold
answer: an error message is public output.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from submissions import limits as _limits

# How many problems a ValidationError keeps by default (configurable: `submissions.limits`), and how
# many its message shows.
MAX_PROBLEMS = _limits.Limits.max_problems
SHOWN_PROBLEMS = 20

MODEL_TYPES = ("pretrained", "fine-tuned", "instruction-tuned", "rl-tuned", "baseline", "other")
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: `location` is e.g. `line 12`, `row 5, column prediction`."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ValidationError(Exception):
    """Bad input. `problems` lists the problems found (up to the max_problems limit); `n_problems`
    counts all."""

    def __init__(self, problems: Iterable[Problem], *, what: str = "input", n_problems: int | None = None):
        self.problems = list(problems)
        self.n_problems = max(n_problems or 0, len(self.problems))
        self.what = what
        super().__init__(self._message())

    def _message(self) -> str:
        count = self.n_problems
        head = f"{count} problem{'s' if count != 1 else ''} in {self.what}:"
        lines = [f"  {p}" for p in self.problems[:SHOWN_PROBLEMS]]
        if count > SHOWN_PROBLEMS:
            lines.append(f"  ... and {count - SHOWN_PROBLEMS} more")
        if count > len(self.problems):
            lines.append(
                f"  (only the first {len(self.problems)} problems are reported; the limit is set by "
                f"{_limits.ENVIRONMENT['max_problems']} or {_limits.FLAGS['max_problems']})"
            )
        return "\n".join([head, *lines])


class Problems:
    """A bounded collector: keeps the first `limit` problems (the max_problems limit) and counts the rest."""

    def __init__(self, what: str, limit: int | None = None) -> None:
        self.what = what
        self.limit = limit if limit is not None else _limits.current().max_problems
        self.items: list[Problem] = []
        self.count = 0

    def add(self, location: str, message: str) -> None:
        self.count += 1
        if len(self.items) < self.limit:
            self.items.append(Problem(location, message))

    def add_rows(self, locations: list[str], message: str, total: int | None = None) -> None:
        """The same problem at many places; `locations` may be truncated, `total` is the true count."""
        for location in locations:
            if len(self.items) >= self.limit:
                break
            self.items.append(Problem(location, message))
        self.count += len(locations) if total is None else total

    def more(self, n: int) -> None:
        """Count `n` further problems that are not itemised (beyond what a message can show)."""
        self.count += max(0, n)

    def __bool__(self) -> bool:
        return self.count > 0

    def raise_if_any(self) -> None:
        if self.count:
            raise ValidationError(self.items, what=self.what, n_problems=self.count)


def validate_model(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Check model metadata and return it normalised (keys of the shared contract only).

    Required: `name` (`org/model`), `type`, `submitter`. `revision` defaults to `main`. `params_b`
    (parameters in billions), `link` (http/https only: it is rendered as a link on the
    leaderboard, so `javascript:` and friends must never get through) and `license` are optional
    but checked when given.
    """
    problems = Problems("model metadata")
    unknown = sorted(set(meta) - {"name", "revision", "params_b", "type", "link", "license", "submitter"})
    for key in unknown:
        problems.add(f"field {key}", "unknown field")

    def text(key: str, *, required: bool, limit: int = 200) -> str | None:
        value = meta.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                problems.add(f"field {key}", "is required")
            return None
        if not isinstance(value, str):
            problems.add(f"field {key}", f"must be a string, got {type(value).__name__}")
            return None
        value = value.strip()
        if len(value) > limit:
            problems.add(f"field {key}", f"is longer than {limit} characters")
        if _CONTROL.search(value):
            problems.add(f"field {key}", "contains control characters")
        return value

    name = text("name", required=True, limit=120)
    if name is not None and not MODEL_NAME.match(name):
        problems.add("field name", f"{name!r} is not of the form org/model (letters, digits, . _ -)")
    revision = text("revision", required=False, limit=100) or "main"
    model_type = text("type", required=True, limit=40)
    if model_type is not None and model_type not in MODEL_TYPES:
        problems.add("field type", f"{model_type!r} is not one of {', '.join(MODEL_TYPES)}")
    submitter = text("submitter", required=True, limit=100)
    license_ = text("license", required=False, limit=100)
    link = text("link", required=False, limit=500)
    if link is not None:
        parsed = urlparse(link)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or any(c.isspace() for c in link):
            problems.add("field link", f"{link!r} is not an http(s) URL")
    params_b = meta.get("params_b")
    if params_b is not None:
        try:
            params_b = float(params_b)
        except (TypeError, ValueError):
            problems.add("field params_b", f"{meta.get('params_b')!r} is not a number")
            params_b = None
        else:
            if not math.isfinite(params_b) or params_b < 0 or params_b > 100_000:
                problems.add("field params_b", f"{params_b} is not a parameter count in billions (0-100000)")
    problems.raise_if_any()
    return {
        "name": name,
        "revision": revision,
        "params_b": params_b,
        "type": model_type,
        "link": link,
        "license": license_,
        "submitter": submitter,
    }
