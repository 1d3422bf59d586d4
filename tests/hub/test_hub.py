"""Hub client helpers: which failures are retried, how long we wait, and the one error at the end."""

from __future__ import annotations

import httpx2
import pytest
from huggingface_hub import constants
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from robustboard import hub


def http_error(
    status: int, message: str = "boom", cls: type[HfHubHTTPError] = HfHubHTTPError
) -> HfHubHTTPError:
    request = httpx2.Request("POST", "http://hub.test/api/datasets/o/r/commit/main")
    response = httpx2.Response(status, request=request, json={"error": message})
    return cls(f"{status} error", response=response, server_message=message)


class Flaky:
    """Fails with the given errors in turn, then returns "done"."""

    def __init__(self, *errors: BaseException):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


@pytest.fixture(autouse=True)
def _tripwire(offline):
    """These tests must not touch the network."""


@pytest.mark.parametrize(
    "error",
    [
        http_error(500),
        http_error(502),
        http_error(503),
        http_error(504),
        http_error(429),
        http_error(408),
        httpx2.ConnectError("refused"),
        httpx2.ReadTimeout("slow"),
        httpx2.RemoteProtocolError("peer closed connection without sending complete message body"),
    ],
    ids=lambda e: getattr(getattr(e, "response", None), "status_code", None) or type(e).__name__,
)
def test_transient_failures_are_retried_with_exponential_backoff(error):
    sleeps: list[float] = []
    fn = Flaky(error, error, error)
    policy = hub.RetryPolicy(attempts=5, base_delay=0.5, max_delay=1.5)
    assert hub.with_retries(fn, what="commit", policy=policy, sleep=sleeps.append) == "done"
    assert fn.calls == 4 and sleeps == [0.5, 1.0, 1.5]


def test_an_error_wrapping_a_transient_cause_is_transient():
    try:
        try:
            raise httpx2.WriteError("broken pipe")
        except httpx2.WriteError as inner:
            raise RuntimeError("Error while uploading 'x.parquet' to the Hub.") from inner
    except RuntimeError as wrapped:
        assert hub.is_transient(wrapped)


@pytest.mark.parametrize(
    "error",
    [
        http_error(404, cls=RepositoryNotFoundError),
        http_error(412),
        http_error(400),
        http_error(403),
        ValueError("bad"),
    ],
    ids=["404", "412", "400", "403", "ValueError"],
)
def test_permanent_failures_are_raised_at_once(error):
    sleeps: list[float] = []
    fn = Flaky(error)
    with pytest.raises(type(error)):
        hub.with_retries(fn, what="commit", sleep=sleeps.append)
    assert fn.calls == 1 and sleeps == []


def test_giving_up_names_the_step_the_attempts_and_the_last_error():
    fn = Flaky(*[http_error(503, "Service Unavailable: maintenance")] * 3)
    with pytest.raises(hub.HubUnavailableError) as caught:
        hub.with_retries(
            fn, what="tag v1.0.0 in o/r", policy=hub.RetryPolicy(attempts=3), sleep=lambda s: None
        )
    message = str(caught.value)
    assert message == (
        "tag v1.0.0 in o/r: gave up after 3 attempts; last error: "
        "HTTP 503 from POST /api/datasets/o/r/commit/main: Service Unavailable: maintenance"
    )
    assert "\n" not in message and caught.value.attempts == 3


def test_network_errors_are_described_on_one_line():
    assert hub.describe_error(httpx2.ConnectError("[Errno 111]\n Connection refused")) == (
        "ConnectError: [Errno 111] Connection refused"
    )


def test_api_targets_the_endpoint_and_turns_xet_off_away_from_huggingface(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    api = hub.api("http://127.0.0.1:9/", token="hf_x")
    assert api.endpoint == "http://127.0.0.1:9" and api.token == "hf_x"
    assert constants.HF_HUB_DISABLE_XET is True
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    hub.api("https://huggingface.co")
    assert constants.HF_HUB_DISABLE_XET is False


def test_the_offline_tripwire_stops_hub_calls():
    from huggingface_hub.errors import OfflineModeIsEnabled

    with pytest.raises(OfflineModeIsEnabled):
        hub.api("http://127.0.0.1:9").whoami(token="hf_x")
