"""Hugging Face Hub client helpers: one way to build an `HfApi`, and retries that end in one clear error.

The `huggingface_hub` client retries a few of its own requests (pre-upload, LFS transfers, paginated
listings), but not the ones a publisher cares most about — `create_commit`, `create_tag`,
`create_repo`, `repo_info`. `with_retries` wraps a whole step: a transient failure (HTTP 408/429/5xx,
a timeout, a dropped connection) is retried with bounded exponential backoff; anything else (a 404,
a 412 for a stale parent commit, bad input) is raised at once, because retrying cannot fix it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx2
from huggingface_hub import HfApi, constants, set_client_factory
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils._http import default_client_factory

import robustboard
from robustboard.cli import UserError

logger = logging.getLogger("robustboard.hub")

T = TypeVar("T")

TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_TRANSIENT_EXCEPTIONS = (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError)
_HUGGINGFACE_ENDPOINTS = ("https://huggingface.co", "https://hub-ci.huggingface.co")


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries in all, sleeping base_delay, 2×base_delay, … (capped at max_delay) in between."""

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * 2 ** (attempt - 1))


DEFAULT_POLICY = RetryPolicy()


class TransientError(Exception):
    """A failure its caller knows to be worth retrying although its HTTP status is not transient (a 412
    for a parent commit that is in fact still the branch head: a stale replica or proxy, not a race)."""


class HubUnavailableError(Exception):
    """The Hub kept failing transiently for one step; `what` names the step, `attempts` how often."""

    def __init__(self, what: str, attempts: int, last: BaseException):
        self.what = what
        self.attempts = attempts
        self.last = last
        super().__init__(f"{what}: gave up after {attempts} attempts; last error: {describe_error(last)}")


def endpoint_url(endpoint: str | None = None) -> str:
    """The endpoint in use: the argument, else `HF_ENDPOINT` as the client read it at import time."""
    return (endpoint or constants.ENDPOINT).rstrip("/")


def api(endpoint: str | None = None, token: str | None = None) -> HfApi:
    """An `HfApi` for `endpoint` (default: `HF_ENDPOINT` / huggingface.co) authenticated with `token`.

    `token=None` lets the client find one itself (`HF_TOKEN`, then the `hf auth login` file). Xet
    storage exists only on huggingface.co: against any other server (a mirror, the project's local
    server) uploads must use plain LFS, so Xet is switched off for this process.
    """
    url = endpoint_url(endpoint)
    if url not in _HUGGINGFACE_ENDPOINTS:
        constants.HF_HUB_DISABLE_XET = True
    return HfApi(
        endpoint=url, token=token, library_name="robustboard", library_version=robustboard.__version__
    )


def require_online(action: str) -> None:
    """One clear error instead of the client's when `HF_HUB_OFFLINE` forbids talking to the Hub."""
    if constants.HF_HUB_OFFLINE:
        raise UserError(f"cannot {action}: HF_HUB_OFFLINE is set, and this needs the Hub")


def set_timeout(seconds: float | None) -> None:
    """Bound every request of the `huggingface_hub` client to `seconds` per network operation.

    The client's shared HTTP session has no timeout, so a server that stops answering would hang a
    publish forever; with one, the stall becomes a timeout that `with_retries` can retry.
    """

    def factory() -> httpx2.Client:
        client = default_client_factory()
        client.timeout = httpx2.Timeout(seconds)
        return client

    set_client_factory(factory)


def is_transient(err: BaseException) -> bool:
    """True for failures worth retrying, looking through wrapped causes (the client wraps LFS errors)."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TransientError):
            return True
        if isinstance(current, HfHubHTTPError):
            status = current.response.status_code if current.response is not None else None
            return status in TRANSIENT_STATUS
        if isinstance(current, _TRANSIENT_EXCEPTIONS):
            return True
        current = current.__cause__ or current.__context__
    return False


def describe_error(err: BaseException) -> str:
    """One line about a failure: the HTTP status and server message, or the exception type and text."""
    if isinstance(err, HubUnavailableError):
        return str(err)
    if isinstance(err, HfHubHTTPError) and err.response is not None:
        request = err.response.request
        server = (err.server_message or "").strip().splitlines()
        where = f" from {request.method} {request.url.path}" if request is not None else ""
        return f"HTTP {err.response.status_code}{where}" + (f": {server[0]}" if server else "")
    cause = err
    while cause.__cause__ is not None and not str(cause).strip():
        cause = cause.__cause__
    text = " ".join(str(cause).split()) or "no details"
    return f"{type(cause).__name__}: {text}"


def with_retries(
    fn: Callable[[], T],
    *,
    what: str,
    policy: RetryPolicy = DEFAULT_POLICY,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `fn` until it succeeds, retrying transient failures with exponential backoff.

    `fn` should be a whole idempotent step that re-reads the state it depends on, so that a retry
    after a lost response (the server applied the change, the client never heard) sees the change
    instead of making it twice. Raises `HubUnavailableError` when the attempts run out; re-raises
    non-transient errors untouched.
    """
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except Exception as err:
            if not is_transient(err):
                raise
            if attempt == policy.attempts:
                raise HubUnavailableError(what, attempt, err) from err
            delay = policy.delay(attempt)
            logger.warning(
                "%s failed (attempt %d/%d: %s); retrying in %.1fs",
                what,
                attempt,
                policy.attempts,
                describe_error(err),
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable")  # the loop either returns or raises
