"""A protocol-faithful OpenAI chat-completions server for tests, served by uvicorn on loopback.

It speaks the wire format real servers (OpenAI, vLLM, llama.cpp, Ollama) speak: `POST
/v1/chat/completions` with a JSON body (`model`, `messages`, `temperature`, `max_tokens`, optional
`seed`), Bearer authentication, OpenAI-style error bodies (`{"error": {"message", "type", "code"}}`),
`Retry-After` on 429, and `chat.completion` objects with `choices[0].message.content`,
`finish_reason` and `usage`. A test scripts failures per prompt and reads back what was asked: every
request is logged with its time and status, and `served` counts the answers given per prompt.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

# plan(prompt, attempt) -> None to answer, or (status, headers) to fail that attempt (attempt is 1-based)
Plan = Callable[[str, int], tuple[int, dict[str, str]] | None]


@dataclass
class StubState:
    model: str = "stub-model"
    api_key: str | None = None
    delay: float = 0.0  # seconds before each answer
    plan: Plan = field(default=lambda prompt, attempt: None)
    received: int = 0  # every request, rejected ones too
    requests: Counter = field(default_factory=Counter)  # per prompt, every attempt that passed validation
    served: Counter = field(default_factory=Counter)  # per prompt, 200 answers
    log: list[tuple[float, str, int, dict]] = field(default_factory=list)  # (time, prompt, status, body)
    lock: threading.Lock = field(default_factory=threading.Lock)


def answer(prompt: str, temperature: float, seed: int | None) -> str:
    """Deterministic per prompt at temperature 0; varies with the seed when sampling."""
    material = prompt if temperature == 0 else f"{prompt}\x1f{temperature}\x1f{seed}"
    letter = "ABCD"[hashlib.sha256(material.encode()).digest()[0] % 4]
    return f"The answer is {letter}"


def _error(
    status: int, message: str, kind: str, code: str | None, headers: dict | None = None
) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def make_app(state: StubState) -> Starlette:
    async def chat(request: Request) -> JSONResponse:
        with state.lock:
            state.received += 1
        if state.api_key is not None and request.headers.get("authorization") != f"Bearer {state.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        try:
            body = await request.json()
        except ValueError:
            return _error(
                400, "We could not parse the JSON body of your request.", "invalid_request_error", None
            )
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages:
            return _error(400, "'messages' must be a non-empty array", "invalid_request_error", None)
        for message in messages:
            if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant"):
                return _error(400, "each message needs a role", "invalid_request_error", None)
            if not isinstance(message.get("content"), str):
                return _error(400, "each message needs string content", "invalid_request_error", None)
        if body.get("model") != state.model:
            return _error(
                404,
                f"The model `{body.get('model')}` does not exist.",
                "invalid_request_error",
                "model_not_found",
            )
        temperature = body.get("temperature", 1.0)
        max_tokens = body.get("max_tokens", 16)
        if not isinstance(temperature, int | float) or not 0 <= temperature <= 2:
            return _error(400, "temperature must be in [0, 2]", "invalid_request_error", None)
        if not isinstance(max_tokens, int) or max_tokens < 1:
            return _error(400, "max_tokens must be a positive integer", "invalid_request_error", None)

        prompt = messages[-1]["content"]
        with state.lock:
            state.requests[prompt] += 1
            attempt = state.requests[prompt]
        failure = state.plan(prompt, attempt)
        if failure is not None:
            status, headers = failure
            with state.lock:
                state.log.append((time.monotonic(), prompt, status, body))
            kind = "rate_limit_exceeded" if status == 429 else "server_error"
            return _error(status, f"scripted failure {status}", kind, None, headers)
        if state.delay:
            await asyncio.sleep(state.delay)
        words = answer(prompt, float(temperature), body.get("seed")).split()
        content = " ".join(words[:max_tokens])
        with state.lock:
            state.served[prompt] += 1
            state.log.append((time.monotonic(), prompt, 200, body))
        return JSONResponse(
            {
                "id": f"chatcmpl-{hashlib.sha256(f'{prompt}{attempt}'.encode()).hexdigest()[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": state.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "logprobs": None,
                        "finish_reason": "length" if len(words) > max_tokens else "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": len(prompt.split()),
                    "completion_tokens": min(len(words), max_tokens),
                    "total_tokens": len(prompt.split()) + min(len(words), max_tokens),
                },
            }
        )

    async def models(request: Request) -> JSONResponse:
        return JSONResponse(
            {"object": "list", "data": [{"id": state.model, "object": "model", "owned_by": "stub"}]}
        )

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
        ]
    )


class StubServer:
    """The stub app served by uvicorn in a background thread on 127.0.0.1 (a free port)."""

    def __init__(self, state: StubState):
        self.state = state
        config = uvicorn.Config(make_app(state), host="127.0.0.1", port=0, log_level="error", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> StubServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the stub OpenAI server did not start")
            time.sleep(0.01)
        return self

    @property
    def url(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
