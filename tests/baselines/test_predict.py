"""The OpenAI-compatible predictor against a protocol-faithful stub server on loopback: bounded
concurrency, retries on 429 (Retry-After) and 5xx, fatal 4xx, samples as slots, and a run killed with
SIGKILL that resumes without asking a finished prompt again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from baselines.predict import PredictConfig, PredictError, ResponseCache, predict, request_key, slot_of
from baselines.release import open_release
from robustboard.cli import main
from tests.baselines.openai_stub import StubServer, StubState, answer
from tests.baselines.releases import ROMAN, mc_row, write_release

REPO = Path(__file__).resolve().parents[2]


def toy_release(root: Path, n: int = 6):
    rows = []
    for i in range(n):
        question, choices = f"Question number {i}: which option?", ["red", "green", "blue", "yellow"]
        rows.append(mc_row(f"toy-{i}", "original", "original", question, choices))
        rows.append(mc_row(f"toy-{i}", "enumerator-roman", "enumerator", question, choices, ROMAN[:4]))
    # A slot whose prompt is byte-identical to the original's (a perturbation that changed nothing):
    rows.append({**mc_row("toy-0", "whitespace-m0", "whitespace", rows[0]["question"], rows[0]["choices"])})
    return open_release(write_release(root, "multiple_choice", rows))


@pytest.fixture
def stub():
    state = StubState()
    with StubServer(state) as server:
        yield server


def config(server, tmp_path, **overrides) -> PredictConfig:
    values = {
        "endpoint": server.url,
        "model": "stub-model",
        "cache_dir": tmp_path / "cache",
        "backoff_base": 0.01,
    }
    return PredictConfig(**{**values, **overrides})


def prompts_of(release) -> dict[tuple[str, str], str]:
    table = release.table(["example_id", "variant_id", "prompt"]).to_pylist()
    return {(r["example_id"], r["variant_id"]): r["prompt"] for r in table}


def test_every_row_gets_the_servers_reply_and_each_distinct_prompt_is_asked_once(stub, tmp_path):
    release = toy_release(tmp_path / "r")
    result = predict(release, config(stub, tmp_path, concurrency=3))
    prompts = prompts_of(release)
    frame = result.predictions
    assert len(frame) == len(prompts) == 13
    for e, v, prediction in frame.itertuples(index=False):
        assert prediction == answer(prompts[(e, v)], 0.0, None)
    assert len(stub.state.served) == 12 and set(stub.state.served.values()) == {1}  # 13 rows, 12 prompts
    body = stub.state.log[0][3]
    assert body["messages"] == [{"role": "user", "content": body["messages"][0]["content"]}]
    assert body["temperature"] == 0.0 and body["max_tokens"] == 64 and "seed" not in body
    assert result.requests_sent == 12 and result.cached == 0


def test_concurrency_is_bounded(stub, tmp_path):
    stub.state.delay = 0.2
    release = toy_release(tmp_path / "r")
    predict(release, config(stub, tmp_path, concurrency=2))
    # With 2 in flight and 0.2 s per answer, the 12 answers come in ~6 waves, never 3 at once.
    times = sorted(t for t, _, status, _ in stub.state.log if status == 200)
    windows = [sum(1 for u in times if t <= u < t + 0.15) for t in times]
    assert max(windows) <= 2
    assert times[-1] - times[0] >= 0.2 * (12 / 2 - 1) * 0.9


def test_429_waits_as_long_as_retry_after_says(stub, tmp_path):
    release = toy_release(tmp_path / "r", n=1)
    target = prompts_of(release)[("toy-0", "original")]
    stub.state.plan = lambda prompt, attempt: (
        (429, {"Retry-After": "1"}) if prompt == target and attempt == 1 else None
    )
    result = predict(release, config(stub, tmp_path))
    attempts = [(t, status) for t, prompt, status, _ in stub.state.log if prompt == target]
    assert [status for _, status in attempts] == [429, 200]
    assert attempts[1][0] - attempts[0][0] >= 1.0  # the backoff alone would have waited ~0.01 s
    assert len(result.predictions) == 3


def test_5xx_answers_are_retried_with_backoff(stub, tmp_path):
    release = toy_release(tmp_path / "r", n=2)
    failures = {1: 500, 2: 503}
    stub.state.plan = lambda prompt, attempt: (failures[attempt], {}) if attempt in failures else None
    result = predict(release, config(stub, tmp_path, backoff_base=0.05))
    assert set(stub.state.requests.values()) == {3} and set(stub.state.served.values()) == {1}
    for prompt in stub.state.served:
        times = [t for t, p, _, _ in stub.state.log if p == prompt]
        assert times[1] - times[0] >= 0.05 * 0.5 and times[2] - times[1] >= 0.1 * 0.5  # doubling, with jitter
    assert len(result.predictions) == 5


def test_a_prompt_that_keeps_failing_stops_the_run_and_keeps_the_rest(stub, tmp_path):
    release = toy_release(tmp_path / "r")
    bad = prompts_of(release)[("toy-3", "enumerator-roman")]
    stub.state.plan = lambda prompt, attempt: (500, {}) if prompt == bad else None
    stub.state.delay = 0.05
    cfg = config(stub, tmp_path, max_attempts=3, concurrency=1)
    with pytest.raises(
        PredictError, match=r"gave up on example_id 'toy-3', variant_id 'enumerator-roman' after 3"
    ):
        predict(release, cfg)
    assert stub.state.requests[bad] == 3
    finished = set(stub.state.served)
    assert finished  # what was answered before the failure stays in the cache

    stub.state.plan = lambda prompt, attempt: None
    result = predict(release, cfg)
    assert result.cached == len(finished) and result.requests_sent == 12 - len(finished)
    assert all(stub.state.served[p] == 1 for p in finished)


def test_other_4xx_answers_stop_at_once_with_the_servers_message(stub, tmp_path):
    release = toy_release(tmp_path / "r", n=1)
    with pytest.raises(PredictError, match=r"HTTP 404 .*The model `no-such-model` does not exist"):
        predict(release, config(stub, tmp_path, model="no-such-model", concurrency=1))
    stub.state.api_key = "sk-right"
    with pytest.raises(PredictError, match=r"HTTP 401 .*check --api-key-env") as caught:
        predict(release, config(stub, tmp_path, api_key="sk-wrong-secret", concurrency=1))
    assert "sk-wrong-secret" not in str(caught.value)
    assert stub.state.received == 2  # one request per run: no retry, and the run stops at once


def test_the_api_key_comes_from_the_named_environment_variable(stub, tmp_path, monkeypatch, capsys):
    stub.state.api_key = "sk-test-123"
    release = toy_release(tmp_path / "r", n=1)
    out = tmp_path / "preds.jsonl"
    base = ["predict", str(release.path), "--endpoint", stub.url, "--model", "stub-model", "--out", str(out)]
    base += ["--cache", str(tmp_path / "cache"), "--no-progress"]
    assert main([*base, "--api-key-env", "STUB_KEY"]) == 2
    assert "--api-key-env STUB_KEY: that environment variable is unset or empty" in capsys.readouterr().err
    monkeypatch.setenv("STUB_KEY", "sk-test-123")
    assert main([*base, "--api-key-env", "STUB_KEY"]) == 0
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert len(lines) == 3 and set(lines[0]) == {"example_id", "variant_id", "prediction"}
    assert "sk-test-123" not in capsys.readouterr().err


def test_temperature_samples_become_extra_slots(stub, tmp_path):
    release = toy_release(tmp_path / "r", n=2)
    result = predict(release, config(stub, tmp_path, temperature=0.7, samples=3, max_tokens=8))
    frame = result.predictions
    assert len(frame) == 5 * 3
    slots = ("original", "enumerator-roman", "whitespace-m0")
    # sample 1 keeps the slot's own id (original stays the clean slot); samples 2..S are extra slots
    assert sorted(set(frame["variant_id"])) == sorted(
        [*slots, *(f"{v}@t0.7-s{k}" for v in slots for k in (2, 3))]
    )
    assert {slot_of(v) for v in frame["variant_id"]} == set(slots)
    prompts = prompts_of(release)
    for e, v, prediction in frame.itertuples(index=False):
        sample = int(v.rsplit("-s", 1)[1]) if "@" in v else 1
        assert prediction == answer(prompts[(e, slot_of(v))], 0.7, sample)
    assert {body["seed"] for _, _, _, body in stub.state.log} == {1, 2, 3}
    assert {body["temperature"] for _, _, _, body in stub.state.log} == {0.7}
    # The 3 samples of one prompt differ somewhere (the stub samples by seed, like a real server).
    assert frame.groupby(["example_id", frame["variant_id"].map(slot_of)])["prediction"].nunique().max() > 1


def test_the_cache_key_includes_the_generation_settings(stub, tmp_path):
    release = toy_release(tmp_path / "r", n=1)
    predict(release, config(stub, tmp_path))
    assert predict(release, config(stub, tmp_path)).requests_sent == 0
    assert predict(release, config(stub, tmp_path, max_tokens=2)).requests_sent == 2
    assert predict(release, config(stub, tmp_path, temperature=0.5)).requests_sent == 2


def test_a_torn_last_cache_line_is_ignored_and_cut_off(stub, tmp_path):
    release = toy_release(tmp_path / "r", n=2)
    cfg = config(stub, tmp_path)
    predict(release, cfg)
    cache = ResponseCache(cfg)
    lines = cache.path.read_bytes().splitlines(keepends=True)
    cache.path.write_bytes(b"".join(lines[:-1]) + lines[-1][:20])  # a kill in the middle of a write
    loaded = ResponseCache(cfg).load()
    assert len(loaded.replies) == len(lines) - 1
    assert cache.path.read_bytes() == b"".join(lines[:-1])
    result = predict(release, cfg)
    assert result.requests_sent == 1
    assert all(json.loads(line) for line in cache.path.read_text("utf-8").splitlines())


def test_a_killed_run_resumes_without_asking_finished_prompts_again(stub, tmp_path):
    rows = [
        mc_row(f"k-{i}", "original", "original", f"Killed-run question {i}?", ["a", "b", "c"])
        for i in range(80)
    ]
    release = open_release(write_release(tmp_path / "r", "multiple_choice", rows))
    stub.state.delay = 0.1
    cache_dir, out = tmp_path / "cache", tmp_path / "preds.jsonl"
    command = [sys.executable, "-m", "robustboard", "predict", str(release.path), "--endpoint", stub.url]
    command += ["--model", "stub-model", "--out", str(out), "--cache", str(cache_dir), "--concurrency", "2"]
    cfg = config(stub, tmp_path, cache_dir=cache_dir)
    cache_file = ResponseCache(cfg).path
    process = subprocess.Popen([*command, "--no-progress"], cwd=REPO, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (cache_file.is_file() and cache_file.read_bytes().count(b"\n") >= 10):
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the run never got going"
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL and not out.exists()

    finished = set(ResponseCache(cfg).load().replies)
    assert 10 <= len(finished) < 80
    key_to_prompt = {request_key(cfg, r["prompt"], 1): r["prompt"] for r in rows}
    result = subprocess.run(
        [*command, "--no-progress"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary == {"rows": 80, "sent": 80 - len(finished), "cached": len(finished)}
    for key in finished:
        assert stub.state.served[key_to_prompt[key]] == 1  # never asked again
    assert set(stub.state.served) == {r["prompt"] for r in rows}
    predictions = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert {p["example_id"]: p["prediction"] for p in predictions} == {
        r["example_id"]: answer(r["prompt"], 0.0, None) for r in rows
    }


@pytest.mark.parametrize(
    "args, message",
    [
        (["--endpoint", "localhost:8000"], "expected an http(s) URL"),
        (["--samples", "0"], "--samples must be at least 1"),
        (["--temperature", "3"], "--temperature must be between 0 and 2"),
        (["--out", "preds.txt"], "unknown predictions format '.txt'"),
    ],
)
def test_bad_options_are_one_clear_error(stub, tmp_path, capsys, args, message):
    release = toy_release(tmp_path / "r", n=1)
    base = {"--endpoint": stub.url, "--model": "stub-model", "--out": str(tmp_path / "p.jsonl")}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    argv = ["predict", str(release.path), "--cache", str(tmp_path / "c"), "--no-progress"]
    argv += [x for pair in base.items() for x in pair]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_retry_after_is_read_as_seconds_or_an_http_date_and_capped():
    from email.utils import formatdate

    from baselines.predict import RETRY_AFTER_CAP, _retry_after

    assert _retry_after("3") == 3.0 and _retry_after(" 0.5 ") == 0.5
    assert 8 <= _retry_after(formatdate(time.time() + 10, usegmt=True)) <= 10
    assert _retry_after(formatdate(time.time() - 60, usegmt=True)) == 0.0  # a date in the past: now
    assert _retry_after("86400") == RETRY_AFTER_CAP
    assert _retry_after("soon") is None and _retry_after(None) is None
