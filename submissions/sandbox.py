"""Parse untrusted files in a child process, so that a file crafted to crash a parser kills the child,
not the server.

Fuzzing the readers (tests/hardening) found inputs that crash pyarrow 26 in C++, where Python cannot
catch anything: its JSON reader segfaults on a line holding just `null`, and reading a parquet
footer's column chunk metadata aborts (`std::terminate` on a `ParquetException`) when its size
statistics hold a repetition-level histogram of the wrong length. Either would take down the
leaderboard app or the scoring worker with every request in flight.

So Arrow's parsers run on submitted bytes only in a child process. A small helper process
(`python -m submissions.sandbox`, started on first use and kept) has pyarrow imported once and forks
one child per file, so a parse costs a fork (milliseconds), not an interpreter start-up. The helper is
a plain subprocess, not `multiprocessing`, so the caller's `__main__` is never imported again (a
script without a main guard would otherwise run twice). A child writes what it read as an Arrow IPC
file, which the caller reads; a child that dies by a signal is a `ParserCrashed`, one that runs past
the time limit is killed and is a `ParserTimeout`: both become a clear problem of the file. The
helper exits when its caller does (its stdin closes). Requests and answers are JSON, never pickle: a
child that hostile bytes took over could not make its caller or the helper run code by answering.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

# The only functions the helper runs (it executes nothing else on the caller's behalf).
ALLOWED = frozenset({"submissions.formats:_parse_in_child", "submissions.formats:_arrow_jsonl_here"})
_LENGTH = struct.Struct("!Q")
_LOCK = threading.Lock()
_HELPER: subprocess.Popen | None = None


class ParserCrashed(Exception):
    """The parser died on this file (a signal, e.g. a segfault or an abort)."""


class ParserTimeout(Exception):
    """The parser ran past its time limit on this file and was killed."""


def run(
    fn: Callable[..., tuple[Any, pa.Table | None]], *args: Any, timeout: float
) -> tuple[Any, pa.Table | None]:
    """Call `fn(*args)` in a fresh child; arguments and the value it returns with its Arrow table (or
    None) must be plain JSON.

    Raises ParserCrashed / ParserTimeout as above, and RuntimeError with the child's message when
    `fn` raised (a bug in `fn`, never expected for any input: `fn` reports problems in its value).
    """
    name = f"{fn.__module__}:{fn.__qualname__}"
    if name not in ALLOWED:
        raise ValueError(f"{name} may not run in the parsing sandbox")
    with tempfile.TemporaryDirectory(prefix="robustboard-parse-") as tmp:
        out = os.path.join(tmp, "table.arrow")
        with _LOCK:
            status, value, has_table = _ask(json.dumps([name, args, out, timeout]).encode(), timeout)
        if status == "crashed":
            raise ParserCrashed(value)
        if status == "timeout":
            raise ParserTimeout
        if status != "ok":
            raise RuntimeError(value)
        # read into memory (not mapped): the temporary folder goes away with the file
        table = pa.ipc.open_file(pa.BufferReader(Path(out).read_bytes())).read_all() if has_table else None
        return value, table


def start() -> None:
    """Start the helper now, without waiting for it: its imports (about half a second) then overlap
    whatever the caller does before its first parse, such as reading the labels."""
    with _LOCK:
        _start()


def _start() -> subprocess.Popen:
    global _HELPER
    if _HELPER is None or _HELPER.poll() is not None:
        _HELPER = subprocess.Popen(
            [sys.executable, "-m", "submissions.sandbox"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        )
    return _HELPER


def _ask(request: bytes, timeout: float) -> tuple[str, Any, bool]:
    """Send one request to the helper (started if needed) and wait for its answer."""
    global _HELPER
    for attempt in (1, 2):  # a helper that died since the last call is started again, once
        _start()
        try:
            _send(_HELPER.stdin, request)
            answer = _receive(_HELPER.stdout, timeout + 60)
        except (BrokenPipeError, EOFError, TimeoutError):
            _HELPER.kill()
            _HELPER.wait()
            _HELPER = None
            if attempt == 2:
                return "crashed", "the parsing helper stopped answering", False
            continue
        return tuple(json.loads(answer))
    raise AssertionError("unreachable")


def _send(stream: IO[bytes], data: bytes) -> None:
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes], timeout: float | None = None) -> bytes:
    head = _read_exactly(stream, _LENGTH.size, timeout)
    return _read_exactly(stream, _LENGTH.unpack(head)[0], timeout)


def _read_exactly(stream: IO[bytes], n: int, timeout: float | None) -> bytes:
    chunks, left = [], n
    deadline = None if timeout is None else time.monotonic() + timeout
    while left:
        if deadline is not None:
            ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError
        chunk = os.read(stream.fileno(), min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# -------------------------------------------------------------------------------------------- helper
def _serve() -> None:
    """The helper's loop: one forked child per request, answered in order, until stdin closes."""
    importlib.import_module("submissions.formats")  # pyarrow and the readers, imported once
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            name, args, out, timeout = json.loads(_receive(stdin))
        except EOFError:
            return
        answer = (
            _fork(name, args, out, timeout) if name in ALLOWED else ("error", f"{name} not allowed", False)
        )
        _send(stdout, json.dumps(answer).encode())


def _fork(name: str, args: list, out: str, timeout: float) -> tuple[str, Any, bool]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: parse, report, never return into the loop
        os.close(read_end)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # not the helper's pipes; a parser's dying words are not the user's to read
            os.dup2(devnull, fd)
        try:
            module, _, function = name.partition(":")
            value, table = getattr(importlib.import_module(module), function)(*args)
            if table is not None:
                with pa.OSFile(out, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                    writer.write_table(table)
            payload = ("ok", value, table is not None)
        except BaseException as err:  # noqa: BLE001 - reported to the caller
            payload = ("error", f"{type(err).__name__}: {err}", False)
        try:
            data = json.dumps(payload).encode()
        except (TypeError, ValueError) as err:
            data = json.dumps(["error", f"the answer is not JSON: {err}", False]).encode()
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        try:
            data = _read_all(pipe, timeout)
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout", None, False
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) or not data:
        return "crashed", f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else "no answer", False
    return tuple(json.loads(data))


def _read_all(pipe: IO[bytes], timeout: float) -> bytes:
    chunks = []
    deadline = time.monotonic() + timeout
    while True:
        ready, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError
        chunk = os.read(pipe.fileno(), 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


if __name__ == "__main__":
    _serve()
