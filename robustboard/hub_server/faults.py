"""Fault injection for the local Hub server: make the N-th request of a route fail on purpose.

A rule names a route (see `ROUTES`), optionally a method, the 1-based index `nth` of the first
matching request to hit (counted from when the rule was added) and how many consecutive requests it
hits (`times`, -1 for every one after). Its action is:

- `error`: answer `status` (500 by default) with a JSON error body;
- `drop`: start a response, then close the connection mid-body (the client sees a dropped
  connection, like a proxy that died);
- `slow`: wait `delay` seconds, then answer normally.

`when="after"` applies `error`/`drop` after the request was processed, so a commit lands but the client
never hears of it — the case a retrying publisher must recognise instead of committing twice.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field

ROUTES = (
    "whoami",
    "validate-yaml",
    "repo-create",
    "repo-delete",
    "repo-list",
    "repo-info",
    "settings",
    "preupload",
    "lfs-batch",
    "lfs-upload",
    "lfs-verify",
    "commit",
    "tree",
    "paths-info",
    "refs",
    "commits",
    "branch",
    "tag",
    "resolve",
)
ACTIONS = ("error", "drop", "slow")


@dataclass
class FaultRule:
    route: str
    action: str = "error"
    nth: int = 1
    times: int = 1
    method: str | None = None
    status: int = 500
    delay: float = 0.0
    when: str = "before"
    seen: int = field(default=0)
    fired: int = field(default=0)

    def __post_init__(self) -> None:
        if self.route not in ROUTES:
            raise ValueError(f"unknown route {self.route!r}; known routes: {', '.join(ROUTES)}")
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}; use one of {', '.join(ACTIONS)}")
        if self.nth < 1 or self.times == 0 or self.times < -1:
            raise ValueError("nth must be >= 1 and times >= 1 (or -1 for always)")
        if self.when not in ("before", "after"):
            raise ValueError("when must be 'before' or 'after'")
        if self.method is not None:
            self.method = self.method.upper()

    def _matches(self, route: str, method: str) -> bool:
        return route == self.route and (self.method is None or self.method == method)

    def _hit(self) -> bool:
        self.seen += 1
        last = float("inf") if self.times == -1 else self.nth + self.times - 1
        if self.nth <= self.seen <= last:
            self.fired += 1
            return True
        return False


class Faults:
    """The active fault rules, shared between the server and the tests (thread-safe)."""

    def __init__(self, rules: list[FaultRule] | None = None):
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = list(rules or [])

    def add(self, route: str, action: str = "error", **kwargs) -> FaultRule:
        rule = FaultRule(route=route, action=action, **kwargs)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict]:
        with self._lock:
            return [asdict(r) for r in self._rules]

    def take(self, route: str, method: str) -> list[FaultRule]:
        """Count this request against every matching rule and return the rules that fire for it."""
        with self._lock:
            return [r for r in self._rules if r._matches(route, method) and r._hit()]
