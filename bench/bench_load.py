"""Load benchmark: the leaderboard app under simultaneous submissions and concurrent reads, on loopback.

The real app (`robustboard serve`, its background scorer on) runs in its own process on 127.0.0.1 over
a fresh store holding a small real MMLU release (3 subjects × 8 questions × 4 slots, built from
../shared/data by the builder) and a few scored results, so that the memory figures are the server's
own. Then:

1. `--submissions` (default 50) full submissions at once through the Gradio API (`gradio_client`, one
   client per submitter, released together by a barrier), each a different file from a different
   submitter; then the wait until the server has scored every one;
2. `--reads` (default 200) concurrent reads, half `/leaderboard`, half `/correlation`, through the
   HTTP API (`/gradio_api/call/...`), all released together.

It prints the latency of each kind of call (p50, p95, max), the errors, how long scoring all the
submissions took, and the peak resident memory of the server process and of its parsing helper
(`VmHWM` from /proc). Correctness is checked too (every submission recorded once and FINISHED, every
read equal to a reference answer) but the tests (tests/hardening/test_load.py) are where it is asserted.

    python bench/bench_load.py [--submissions 50] [--reads 200]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402

from submissions.limits import Limits  # noqa: E402
from submissions.store import LocalBackend, Store  # noqa: E402
from tests.hardening.release import build, reference_rows, write_predictions  # noqa: E402

DEADLINE = 900.0  # seconds for any one phase; only a hang reaches it
SHARED = ROOT.parent / "shared"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    """Child processes of every thread of `pid` (the parsing helper is started from a request thread)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def summary(name: str, seconds: list[float], errors: int) -> str:
    q = statistics.quantiles(seconds, n=20, method="inclusive") if len(seconds) > 1 else seconds * 19
    return (
        f"{name:<12} n={len(seconds):<4} p50 {statistics.median(seconds):6.3f} s  p95 {q[18]:6.3f} s  "
        f"max {max(seconds):6.3f} s  errors {errors}"
    )


def files_for(work: Path, reference: list[dict], n: int, stem: str) -> list[Path]:
    """n full submissions that differ from each other (row i answers Z)."""
    paths = []
    for i in range(n):
        rows = [dict(r) for r in reference]
        rows[i % len(rows)]["prediction"] = f"Z{i // len(rows)}"
        paths.append(write_predictions(work / f"{stem}-{i}.jsonl", rows))
    return paths


def start_server(store: Path, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "ROBUSTBOARD_REFRESH_SECONDS": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONPATH": str(ROOT),
    }
    robustboard = shutil.which("robustboard")
    command = (
        [robustboard]
        if robustboard
        else [sys.executable, "-c", "import sys; from robustboard.cli import main; sys.exit(main())"]
    )
    server = subprocess.Popen(
        [*command, "serve", "--store", str(store), "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.kill()
    raise SystemExit("the server did not start within 180 s")


def submit_all(url: str, files: list[Path], ref: str) -> tuple[list[str], list[float], int]:
    barrier = threading.Barrier(len(files), timeout=DEADLINE)

    def one(i: int) -> tuple[str | None, float]:
        client = Client(url, verbose=False)
        barrier.wait()
        started = time.perf_counter()
        try:
            _, sid, problems, _ = client.predict(
                handle_file(str(files[i])),
                ref,
                f"load/model-{i}",
                "main",
                "1",
                "other",
                "",
                "",
                f"user-{i}",
                api_name="/submit",
            )
        except Exception:  # counted as an error
            return None, time.perf_counter() - started
        return (sid if len(sid) == 16 and not problems["data"] else None), time.perf_counter() - started

    with ThreadPoolExecutor(len(files)) as pool:
        outcomes = [f.result(timeout=DEADLINE) for f in [pool.submit(one, i) for i in range(len(files))]]
    sids = [sid for sid, _ in outcomes if sid]
    return sids, [seconds for _, seconds in outcomes], len(files) - len(sids)


def call(http: httpx.Client, url: str, endpoint: str, data: list):
    base = f"{url}gradio_api/call/{endpoint}"
    event = http.post(base, json={"data": data}).json()["event_id"]
    with http.stream("GET", f"{base}/{event}") as response:
        lines = list(response.iter_lines())
    if not any(line == "event: complete" for line in lines):
        raise RuntimeError(lines[-3:])
    return json.loads([line for line in lines if line.startswith("data:")][-1][len("data:") :])


def read_all(url: str, n: int, ref: str) -> dict[str, tuple[list[float], int]]:
    api = Client(url, verbose=False).view_api(return_format="dict", print_info=False)["named_endpoints"]
    endpoints = ("leaderboard", "correlation")
    inputs = {name: [p["parameter_default"] for p in api[f"/{name}"]["parameters"]] for name in endpoints}
    inputs["correlation"][0] = ref
    with httpx.Client(timeout=DEADLINE, limits=httpx.Limits(max_connections=n)) as http:
        expected = {name: call(http, url, name, inputs[name]) for name in endpoints}
        barrier = threading.Barrier(n, timeout=DEADLINE)

        def one(i: int) -> tuple[str, float, bool]:
            name = endpoints[i % 2]
            barrier.wait()
            started = time.perf_counter()
            try:
                ok = call(http, url, name, inputs[name]) == expected[name]
            except Exception:  # counted as an error
                ok = False
            return name, time.perf_counter() - started, ok

        with ThreadPoolExecutor(n) as pool:
            outcomes = [f.result(timeout=DEADLINE) for f in [pool.submit(one, i) for i in range(n)]]
    return {
        name: (
            [s for kind, s, _ in outcomes if kind == name],
            sum(not ok for kind, _, ok in outcomes if kind == name),
        )
        for name in endpoints
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=50)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--scored", type=int, default=8, help="results in the store before the load")
    args = parser.parse_args()
    os.environ.setdefault("NLTK_DATA", str(SHARED / "nltk_data"))
    with tempfile.TemporaryDirectory(prefix="robustboard-bench-load-") as tmp:
        work = Path(tmp)
        release = build(SHARED / "data", work / "release")
        reference = reference_rows(release)
        store = Store(LocalBackend(work / "store"), limits=Limits(per_day=0))
        store.register_release(str(release.public), str(release.labels))
        for i, path in enumerate(files_for(work, reference, args.scored, "scored")):
            store.submit(
                path,
                release=release.ref,
                model={"name": f"seed/model-{i}", "type": "other"},
                submitter="seed",
            )
        store.run_pending()
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        server = start_server(work / "store", port)
        try:
            print(
                f"server pid {server.pid} on {url}; {args.scored} results in the store; load starts "
                f"(1-minute load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
            )
            started = time.perf_counter()
            sids, seconds, errors = submit_all(
                url, files_for(work, reference, args.submissions, "load"), release.ref
            )
            print(summary("submit", seconds, errors))
            deadline = time.monotonic() + DEADLINE
            while time.monotonic() < deadline:
                statuses = [r["status"] for r in store.requests()]
                if all(s in ("FINISHED", "FAILED") for s in statuses):
                    break
                time.sleep(0.2)
            scored = time.perf_counter() - started
            requests = store.requests()
            recorded = sorted(r["submission_id"] for r in requests if r["submitter"].startswith("user-"))
            finished = sum(r["status"] == "FINISHED" for r in requests)
            print(
                f"submissions: {len(recorded)} recorded ({len(set(recorded))} distinct, expected "
                f"{args.submissions}), {finished - args.scored} scored; all scored {scored:.1f} s after the "
                "first submit"
            )
            for name, (latencies, failed) in read_all(url, args.reads, release.ref).items():
                print(summary(name, latencies, failed))
            helpers = [peak_rss_mb(pid) for pid in children(server.pid)]
            print(
                f"peak RSS: server {peak_rss_mb(server.pid):.0f} MB; parsing helper "
                + (", ".join(f"{m:.0f} MB" for m in helpers if m) or "none")
            )
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
