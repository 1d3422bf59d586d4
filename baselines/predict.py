"""Predictions from any OpenAI-compatible chat-completions server (vLLM, llama.cpp, Ollama, hosted APIs).

Every public row's `prompt` is sent as one user message to `<endpoint>/chat/completions` (the
endpoint is the API base, e.g. `http://127.0.0.1:8000/v1`; a URL already ending in
`/chat/completions` is used as it is). The reply's `message.content` is the prediction, written as
free text: the scorer's documented answer extraction reads the answer out of it.

**Temperature samples are extra slots.** With `--samples S` (S > 1) each prompt is asked S times;
sample 1 of a row of slot `V` keeps variant_id `V` (so `original` stays the clean slot) and sample k
(2..S) is written as `V@t<T>-s<k>`, where `<T>` is the temperature in Python's `:g` format
(`typos-p0.05-r1@t0.7-s2`). The scorer (`submissions.matrix.with_sample_slots`) scores `V@...` against
slot V's labels as an extra slot of V's family, so sample-to-sample consistency is robustness to
temperature.
Release variant ids never contain `@`.

**Resumable.** Each finished reply is appended, as one JSON line written by a single `write()`, to
a cache file (`--cache DIR`, default `$ROBUSTBOARD_CACHE/predict`), keyed by the sha256 of (endpoint,
model, prompt, temperature, sample index, max_tokens). A rerun of an interrupted command reads the
cache first and asks only what is missing; identical prompts in several slots are asked once. A
line torn by a kill is ignored and cut off before appending.

**Polite.** At most `--concurrency` requests are in flight. 429 and 5xx answers, dropped connections
and timeouts are retried with exponential backoff and jitter (1 s doubling up to 60 s); a
`Retry-After` header (seconds or an HTTP date) is honoured. Other 4xx answers (bad key, unknown
model, prompt too long) stop the run at once with the server's message: retrying cannot fix them,
and everything finished so far stays in the cache.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from baselines.context import default_cache_dir
from baselines.release import BaselineError, Release, predictions_frame
from robustboard.hashing import sha256_bytes

DEFAULT_MAX_TOKENS = 64
RETRY_AFTER_CAP = 600.0  # seconds: a server asking for longer is waited for this long, then retried


class PredictError(BaselineError):
    """The run stopped (a fatal answer, or retries exhausted); finished replies stay in the cache."""


@dataclass(frozen=True)
class PredictConfig:
    endpoint: str
    model: str
    temperature: float = 0.0
    samples: int = 1
    max_tokens: int = DEFAULT_MAX_TOKENS
    concurrency: int = 8
    api_key: str | None = field(default=None, repr=False)
    cache_dir: Path = field(default_factory=lambda: default_cache_dir() / "predict")
    max_attempts: int = 8
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    timeout: float = 300.0
    progress: bool = False

    @property
    def url(self) -> str:
        base = self.endpoint.rstrip("/")
        return base if base.endswith("/chat/completions") else base + "/chat/completions"


def sample_variant_id(variant_id: str, temperature: float, sample: int, samples: int) -> str:
    """The variant_id of sample `sample` (1-based) of a slot; sample 1 keeps the slot's own id."""
    return variant_id if samples == 1 or sample == 1 else f"{variant_id}@t{temperature:g}-s{sample}"


def slot_of(variant_id: str) -> str:
    """The release slot a prediction belongs to: its variant_id up to the first '@'."""
    return variant_id.split("@", 1)[0]


def request_key(config: PredictConfig, prompt: str, sample: int) -> str:
    parts = [config.url, config.model, prompt, repr(float(config.temperature)), sample, config.max_tokens]
    return sha256_bytes(json.dumps(parts, ensure_ascii=False).encode("utf-8"))


def check_config(config: PredictConfig) -> None:
    parts = urlsplit(config.endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BaselineError(
            f"--endpoint {config.endpoint!r}: expected an http(s) URL such as http://127.0.0.1:8000/v1"
        )
    if not config.model:
        raise BaselineError("--model: give the model name the server serves")
    for name, value, low in (("--samples", config.samples, 1), ("--concurrency", config.concurrency, 1)):
        if value < low:
            raise BaselineError(f"{name} must be at least {low}, got {value}")
    if config.max_tokens < 1:
        raise BaselineError(f"--max-tokens must be at least 1, got {config.max_tokens}")
    if not 0.0 <= config.temperature <= 2.0:
        raise BaselineError(f"--temperature must be between 0 and 2, got {config.temperature:g}")


# ----------------------------------------------------------------------------------------- the cache


class ResponseCache:
    """Append-only JSONL of finished replies, one file per (endpoint, model)."""

    def __init__(self, config: PredictConfig):
        name = sha256_bytes(f"{config.url}\n{config.model}".encode())[:16]
        self.path = config.cache_dir / f"responses-{name}.jsonl"
        self.replies: dict[str, str] = {}
        self._fd: int | None = None

    def load(self) -> ResponseCache:
        if not self.path.is_file():
            return self
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1  # everything after the last newline is a line torn by a kill
        for line in data[:end].splitlines():
            try:
                record = json.loads(line)
                self.replies[record["key"]] = record["content"]
            except (ValueError, KeyError, TypeError):
                continue  # a damaged line: that prompt is asked again
        if end < len(data):
            with open(self.path, "r+b") as fh:
                fh.truncate(end)
        return self

    def add(self, key: str, content: str, finish_reason: str | None) -> None:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        record = {"key": key, "content": content, "finish_reason": finish_reason}
        line = json.dumps(record, ensure_ascii=False) + "\n"
        os.write(self._fd, line.encode("utf-8"))  # one write: a kill leaves whole lines or a torn tail
        self.replies[key] = content

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# ----------------------------------------------------------------------------------------- the client


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def _backoff(config: PredictConfig, attempt: int) -> float:
    delay = min(config.backoff_max, config.backoff_base * 2 ** (attempt - 1))
    return delay * (0.5 + random.random() / 2)  # jitter: concurrent retries do not arrive together


def _error_text(response) -> str:
    try:
        body = response.json()
        message = body.get("error", body) if isinstance(body, dict) else body
        if isinstance(message, dict):
            message = message.get("message", message)
        return str(message)[:300]
    except ValueError:
        return response.text[:300]


async def _ask(client, config: PredictConfig, prompt: str, sample: int, where: str) -> tuple[str, str | None]:
    body = {
        "model": config.model,
        "messages": [{"role": "user", "content": prompt}],
        "temperature": config.temperature,
        "max_tokens": config.max_tokens,
    }
    if config.samples > 1:
        body["seed"] = sample  # servers that honour it make each sample reproducible
    last = ""
    for attempt in range(1, config.max_attempts + 1):
        wait = None
        try:
            response = await client.post(config.url, json=body)
        except httpx.TransportError as err:  # refused/dropped connection, timeout, protocol error
            last = f"{type(err).__name__}: {err}".strip(": ")
        else:
            status = response.status_code
            if status == 200:
                try:
                    choice = response.json()["choices"][0]
                    content = choice["message"].get("content") or ""
                    return str(content), choice.get("finish_reason")
                except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                    last = f"a 200 reply without choices[0].message: {response.text[:200]!r}"
            elif status == 429 or status >= 500:
                last = f"HTTP {status}: {_error_text(response)}"
                wait = _retry_after(response.headers.get("retry-after"))
            else:
                hint = " (check --api-key-env)" if status in (401, 403) else ""
                raise PredictError(
                    f"{config.url} answered HTTP {status} for {where}{hint}: {_error_text(response)}"
                )
        if attempt == config.max_attempts:
            break
        await asyncio.sleep(wait if wait is not None else _backoff(config, attempt))
    raise PredictError(
        f"{config.url}: gave up on {where} after {config.max_attempts} attempts (last: {last}); "
        "rerun the command to continue from the cache"
    )


@dataclass(frozen=True)
class Job:
    key: str
    prompt: str
    sample: int
    where: str  # one row that asks it, for messages


async def _run_jobs(jobs: list[Job], config: PredictConfig, cache: ResponseCache, bar: tqdm) -> None:
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    queue: asyncio.Queue[Job] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    limits = httpx.Limits(max_connections=config.concurrency, max_keepalive_connections=config.concurrency)
    async with httpx.AsyncClient(headers=headers, timeout=config.timeout, limits=limits) as client:

        async def worker() -> None:
            while True:
                try:
                    job = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                content, finish = await _ask(client, config, job.prompt, job.sample, job.where)
                cache.add(job.key, content, finish)
                bar.update(1)

        workers = [asyncio.create_task(worker()) for _ in range(min(config.concurrency, len(jobs)))]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)


# ----------------------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class PredictResult:
    predictions: pd.DataFrame
    requests_sent: int  # distinct prompts asked in this run (cached ones are not)
    cached: int  # distinct prompts already in the cache
    cache_path: Path


def predict(
    release: Release, config: PredictConfig, *, log: Callable[[str], None] | None = None
) -> PredictResult:
    """Ask the server for every row of the release (× samples); return the predictions frame."""
    check_config(config)
    log = log or (lambda message: None)
    table = release.table(["example_id", "variant_id", "prompt"])
    encoded = pc.dictionary_encode(table["prompt"].combine_chunks())
    prompts = encoded.dictionary.to_pylist()
    prompt_of_row = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    samples = range(1, config.samples + 1)
    keys = [[request_key(config, prompt, s) for s in samples] for prompt in prompts]

    cache = ResponseCache(config).load()
    _, first_row = np.unique(prompt_of_row, return_index=True)  # dictionary codes are 0..n-1: one row each
    example_ids, variant_ids = table["example_id"].to_pylist(), table["variant_id"].to_pylist()
    where = [f"example_id {example_ids[row]!r}, variant_id {variant_ids[row]!r}" for row in first_row]
    jobs = [
        Job(key, prompt, s, where[p])
        for p, prompt in enumerate(prompts)
        for s, key in zip(samples, keys[p], strict=True)
        if key not in cache.replies
    ]
    total = len(prompts) * config.samples
    cached = total - len(jobs)
    log(
        f"{release.name}: {table.num_rows} rows, {len(prompts)} distinct prompts × {config.samples} samples; "
        f"{cached} in the cache {cache.path}; asking {len(jobs)} at concurrency {config.concurrency}"
    )
    with tqdm(total=total, initial=cached, desc="predict", unit="req", disable=not config.progress) as bar:
        try:
            if jobs:
                asyncio.run(_run_jobs(jobs, config, cache, bar))
        finally:
            cache.close()

    columns = []
    for i, sample in enumerate(samples):
        replies = pa.array([cache.replies[keys[p][i]] for p in range(len(prompts))], pa.string())
        variant = table["variant_id"].combine_chunks()
        if config.samples > 1:
            suffix = sample_variant_id("", config.temperature, sample, config.samples)
            variant = pc.binary_join_element_wise(variant, pa.scalar(suffix), "")
        keys_table = pa.table({"example_id": table["example_id"], "variant_id": variant})
        frame = predictions_frame(keys_table, replies.take(pa.array(prompt_of_row)))
        frame["_order"] = np.arange(len(frame)) * config.samples + i
        columns.append(frame)
    predictions = pd.concat(columns).sort_values("_order").drop(columns="_order").reset_index(drop=True)
    return PredictResult(
        predictions=predictions, requests_sent=len(jobs), cached=cached, cache_path=cache.path
    )
