"""Driver-side plumbing: start workers in either environment, talk to them, find the peers' python.

Used by the `bench_vs_*.py` scripts, which run in the product's environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

from common import NLTK_DATA, REPO

PEER_VENV = Path(os.environ.get("BENCH_VENV", REPO / ".bench-venv"))
PEER_PYTHON = PEER_VENV / "bin" / "python"
OUR_PYTHON = Path(sys.executable)
LOGS = REPO / "out" / "bench-logs"


class WorkerError(RuntimeError):
    pass


def worker_env() -> dict[str, str]:
    """Offline, quiet and pinned to the shared NLTK data; textattack's cache stays inside the venv."""
    env = dict(os.environ)
    env.update(
        NLTK_DATA=str(NLTK_DATA),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        TA_CACHE_DIR=str(PEER_VENV / "textattack-cache"),
        PYTHONWARNINGS="ignore",
    )
    return env


def peers_available() -> bool:
    return PEER_PYTHON.is_file()


class Worker:
    """A worker process (`script` run by `python`) answering JSON-line requests; its stderr goes to a log."""

    def __init__(self, script: Path, python: Path, label: str):
        LOGS.mkdir(parents=True, exist_ok=True)
        self.label = label
        self.log_path = LOGS / f"{label}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115  (closed in close(), lives as long as the worker)
        self.proc = subprocess.Popen(
            [str(python), str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=worker_env(),
            cwd=str(REPO),
        )

    def call(self, **request) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise WorkerError(f"{self.label}: worker exited (code {self.proc.wait()}); see {self.log_path}")
        reply = json.loads(line)
        if not reply.pop("ok"):
            raise WorkerError(f"{self.label}: {reply['error']} (log: {self.log_path})")
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(WorkerError, BrokenPipeError, OSError):
                self.call(cmd="exit")
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def package_versions(python: Path, names: list[str]) -> dict[str, str | None]:
    """Installed versions of `names` as seen by `python` (one short subprocess)."""
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = None\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)
