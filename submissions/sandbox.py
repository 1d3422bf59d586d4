"""Parse untrusted files in a child process, so that a file crafted to crash a parser kills the child,
not the server.

Fuzzing the readers (tests/hardening) found inputs that crash pyarrow 26 in C++, where Python cannot
catch anything: its JSON reader segfaults on a line holding just `null`, and reading a parquet
footer's column chunk metadata aborts (`std::terminate` on a `ParquetException`) when its size
statistics hold a repetition-level histogram of the wrong length. Either would take down the
leaderboard app or the scoring worker with every request in flight. So Arrow's parsers run on
submitted bytes only in a child forked from a `forkserver` (a clean single-threaded process that
imported pyarrow once, so a fork costs milliseconds, not an interpreter start-up). The child writes
what it read as an Arrow IPC file; the parent reads it. A child that dies by a signal is a
`ParserCrashed`, one that runs past the time limit is killed and is a `ParserTimeout`: both become a
clear problem of the file.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pyarrow as pa

_CONTEXT_LOCK = threading.Lock()
_CONTEXT: Any = None


class ParserCrashed(Exception):
    """The parser died on this file (a signal, e.g. a segfault or an abort)."""


class ParserTimeout(Exception):
    """The parser ran past its time limit on this file and was killed."""


def _context():
    global _CONTEXT
    with _CONTEXT_LOCK:
        if _CONTEXT is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(
                ["pyarrow", "pyarrow.json", "pyarrow.parquet", "submissions.formats"]
            )
            _CONTEXT = context
        return _CONTEXT


def _child(conn: Connection, fn: Callable[..., Any], out: str, args: tuple) -> None:
    """Run `fn(*args)` -> (value, table | None); write the table to `out`, send the value back."""
    # A parser's dying words (`terminate called after throwing ...`) are not the user's to read.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        value, table = fn(*args)
        if table is not None:
            with pa.OSFile(out, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
        conn.send(("ok", value, table is not None))
    except BaseException as err:  # reported to the parent, which decides what it means
        conn.send(("error", f"{type(err).__name__}: {err}", False))
    finally:
        conn.close()


def run(
    fn: Callable[..., tuple[Any, pa.Table | None]], *args: Any, timeout: float
) -> tuple[Any, pa.Table | None]:
    """Call `fn(*args)` in a fresh child; it returns (a picklable value, an Arrow table or None).

    Raises ParserCrashed / ParserTimeout as above, and RuntimeError with the child's message when
    `fn` raised (a bug in `fn`, never expected for any input: `fn` reports problems in its value).
    """
    with tempfile.TemporaryDirectory(prefix="robustboard-parse-") as tmp:
        out = os.path.join(tmp, "table.arrow")
        receive, send = _context().Pipe(duplex=False)
        process = _context().Process(target=_child, args=(send, fn, out, args), daemon=True)
        process.start()
        send.close()
        try:
            if not receive.poll(timeout) and process.is_alive():  # a dead child's pipe polls ready
                process.kill()
                process.join()
                raise ParserTimeout
            try:
                status, value, has_table = receive.recv()
            except EOFError:  # the child died without answering
                process.join()
                raise ParserCrashed(f"exit code {process.exitcode}") from None
        finally:
            receive.close()
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
        if status != "ok":
            raise RuntimeError(value)
        # read into memory (not mapped): the temporary folder goes away with the file
        table = pa.ipc.open_file(pa.BufferReader(Path(out).read_bytes())).read_all() if has_table else None
        return value, table
