"""Run every benchmark, then write docs/benchmarks.json (machine-readable) and docs/benchmarks.md.

    python bench/run_all.py                      # everything (peers need `bash bench/setup_peers.sh`)
    python bench/run_all.py --only build score   # some sections; the others are kept from their last run
    python bench/run_all.py --render             # only re-render the report from the kept sections

Each section's result is kept in out/bench/section-<name>.json with the invocation that produced it;
the report merges the latest of each.

Sections (each records the exact command, start/end time and the machine load):
  perturb      bench/bench_vs_perturb.py   ours vs nlpaug / textattack, interleaved, matched rates
  perturb_precomputed   the same, our protected sets kept warm (as nlpaug receives them precomputed)
  score        bench/bench_vs_score.py     ours vs unitxt / lm-eval at 100k / 1M / 10M rows
  build        bench/bench_build.py x5     full MMLU build, wall and peak RSS of the process tree
  leaderboard  bench/bench_leaderboard.py  500 models x 60 tasks: table render, correlation update
  profile      bench/peers/profile_ours.py      py-spy profile of our side of every missed target
  components   bench/bench_perturb.py, bench/bench_score.py  (the owners' benches, output verbatim)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "peers"))

from common import REPO  # noqa: E402
from driver import OUR_PYTHON, PEER_PYTHON, package_versions, peers_available, worker_env  # noqa: E402

OUT = REPO / "out" / "bench"
JSON_PATH = REPO / "docs" / "benchmarks.json"
MD_PATH = REPO / "docs" / "benchmarks.md"
SECTIONS = ("perturb", "perturb_precomputed", "score", "build", "leaderboard", "profile", "components")
PRODUCT_PACKAGES = ["numpy", "pandas", "pyarrow", "scipy", "nltk", "datasets", "huggingface-hub", "gradio"]
PEER_PACKAGES = [
    "nlpaug",
    "textattack",
    "unitxt",
    "lm_eval",
    "torch",
    "transformers",
    "nltk",
    "numpy",
    "pandas",
]
BUILD_TARGET = {"wall_s": 60.0, "peak_rss_mb": 2048.0}


def machine() -> dict:
    meminfo = Path("/proc/meminfo").read_text().split("\n")
    total_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    info = {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": len(os.sched_getaffinity(0)),
        "memory_gib": round(total_kb / 2**20, 1),
        "cpu": model,
        "os": platform.platform(),
        "python": platform.python_version(),
        "git_commit": commit,
        "product_packages": package_versions(OUR_PYTHON, PRODUCT_PACKAGES),
    }
    if peers_available():
        info["peer_packages"] = package_versions(PEER_PYTHON, PEER_PACKAGES)
    return info


def command_line(args: list[str]) -> str:
    return " ".join(
        shlex.quote(str(Path(a).relative_to(REPO)) if str(a).startswith(str(REPO)) else str(a)) for a in args
    )


def run_logged(args: list[str], log_name: str, timeout: float | None = None) -> tuple[int, str, dict]:
    """Run a command from the repo root; its output goes to out/bench/<log_name>.log and is returned."""
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.time()
    load = os.getloadavg()[0]
    done = subprocess.run(
        args, capture_output=True, text=True, cwd=REPO, env=worker_env(), timeout=timeout, check=False
    )
    output = done.stdout + (f"\n[stderr]\n{done.stderr}" if done.returncode else "")
    (OUT / f"{log_name}.log").write_text(output)
    meta = {
        "command": command_line([Path(args[0]).name if args[0] == str(OUR_PYTHON) else args[0], *args[1:]]),
        "started_utc": dt.datetime.fromtimestamp(started, dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "seconds": round(time.time() - started, 1),
        "load_avg_1m_at_start": round(load, 2),
        "exit_code": done.returncode,
    }
    return done.returncode, done.stdout, meta


def py(script: str, *args: str) -> list[str]:
    return [str(OUR_PYTHON), str(REPO / script), *args]


# ---------------------------------------------------------------------------------------------- sections


def section_perturb(quick: bool, only_peers: list[str] | None = None) -> dict:
    out = OUT / "perturb.json"
    extra = ["--rows", "1000", "--runs", "2", "--peer-budget", "5"] if quick else []
    if only_peers:
        extra += ["--only-peers", *only_peers]
    code, _, meta = run_logged(py("bench/bench_vs_perturb.py", "--json", str(out), *extra), "perturb")
    return {**meta, "result": json.loads(out.read_text()) if code == 0 else None}


def section_perturb_precomputed(quick: bool) -> dict:
    """Ours with the per-example protected sets kept warm, vs nlpaug given them precomputed."""
    out = OUT / "perturb-precomputed.json"
    extra = ["--rows", "1000", "--runs", "2", "--peer-budget", "5"] if quick else []
    args = ["--keep-protected-cache", "--modes", "protected", "--only-peers"]
    args += [
        "nlpaug_keyboard",
        "nlpaug_char_swap",
        "nlpaug_char_drop",
        "nlpaug_char_insert",
        "nlpaug_synonyms",
    ]
    args += [
        "--cases",
        "typos-p0.05",
        "char_swap-p0.1",
        "char_drop-p0.1",
        "char_insert-p0.1",
        "synonyms-p0.2",
    ]
    code, _, meta = run_logged(
        py("bench/bench_vs_perturb.py", "--json", str(out), *args, *extra), "perturb-precomputed"
    )
    return {**meta, "result": json.loads(out.read_text()) if code == 0 else None}


def section_score(quick: bool) -> dict:
    out = OUT / "score.json"
    extra = ["--sizes", "100000", "--runs", "2"] if quick else []
    code, _, meta = run_logged(py("bench/bench_vs_score.py", "--json", str(out), *extra), "score")
    return {**meta, "result": json.loads(out.read_text()) if code == 0 else None}


class TreeRss:
    """Peak summed RSS of a process and all its descendants, sampled every 50 ms from /proc."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry.name))
        tree, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        return tree

    def _run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.is_set():
            total = 0
            for pid in self._tree():
                with contextlib.suppress(OSError, IndexError, ValueError):  # the process just ended
                    total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
            self.peak = max(self.peak, total)
            self._stop.wait(0.05)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def section_build(quick: bool) -> dict:
    """bench/bench_build.py five times, each timed from outside with the tree's peak RSS sampled."""
    runs, outputs = [], []
    args = py("bench/bench_build.py")
    load = os.getloadavg()[0]
    started = time.time()
    for _ in range(2 if quick else 5):
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.Popen(
            args, cwd=REPO, env=worker_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        sampler = TreeRss(proc.pid)
        stdout, stderr = proc.communicate()
        wall = time.perf_counter() - start
        peak = sampler.stop()
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = sum(getattr(cpu_after, f) - getattr(cpu_before, f) for f in ("ru_utime", "ru_stime"))
        outputs.append(stdout.strip() or stderr.strip()[-2000:])
        runs.append(
            {
                "wall_s": wall,
                "cpu_s": cpu,  # the whole tree: bench_build waits for its workers
                "tree_peak_rss_mb": peak / 2**20,
                "exit_code": proc.returncode,  # bench_build exits 1 when its own target is missed
                "completed": "MMLU build:" in stdout,
                "load": os.getloadavg()[0],
            }
        )
    (OUT / "build.log").write_text("\n---\n".join(outputs))
    ok = [r for r in runs if r["completed"]]
    result = {
        "runs": runs,
        "outputs": outputs,
        "target": BUILD_TARGET,
    }
    if ok:
        walls = [r["wall_s"] for r in ok]
        peaks = [r["tree_peak_rss_mb"] for r in ok]
        cpus = [r["cpu_s"] for r in ok]
        result["cpu_s"] = {
            "median": statistics.median(cpus),
            "min": min(cpus),
            "max": max(cpus),
            "n": len(ok),
        }
        result["wall_s"] = {
            "median": statistics.median(walls),
            "min": min(walls),
            "max": max(walls),
            "n": len(ok),
        }
        result["tree_peak_rss_mb"] = {
            "median": statistics.median(peaks),
            "min": min(peaks),
            "max": max(peaks),
            "n": len(ok),
        }
        result["target_met"] = (
            result["wall_s"]["median"] <= BUILD_TARGET["wall_s"] and max(peaks) <= BUILD_TARGET["peak_rss_mb"]
        )
    return {
        "command": f"{command_line(['python', *args[1:]])}  (x{len(runs)}, tree RSS sampled every 50 ms)",
        "started_utc": dt.datetime.fromtimestamp(started, dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "load_avg_1m_at_start": round(load, 2),
        "result": result,
    }


def section_leaderboard(quick: bool) -> dict:
    extra = ["--models", "50", "--tasks", "10"] if quick else []
    code, stdout, meta = run_logged(py("bench/bench_leaderboard.py", *extra), "leaderboard")
    return {**meta, "output": stdout.strip()}


def section_components(quick: bool) -> dict:
    out = {}
    for script, extra in (
        ("bench/bench_perturb.py", ["--rows", "1000"] if quick else []),
        ("bench/bench_score.py", ["--sizes", "100000", "--repeats", "1"] if quick else []),
    ):
        code, stdout, meta = run_logged(py(script, *extra), Path(script).stem)
        out[Path(script).stem] = {**meta, "output": stdout.strip()}
    return out


def section_profile(data: dict) -> dict:
    """py-spy profiles of our side of every perturbation comparison that missed its target."""
    missed = sorted(
        {
            (case["perturbation"], case["p"])
            for case in (data.get("perturb", {}).get("result") or {}).get("cases", [])
            for row in case.get("comparisons", [])
            if row.get("target_met") is False
        }
    )
    profiles = []
    for name, p in missed:
        code, stdout, meta = run_logged(py("bench/peers/profile_ours.py", name, str(p)), f"profile-{name}")
        profiles.append({**meta, "result": json.loads(stdout) if code == 0 else None})
    score_sizes = (data.get("score", {}).get("result") or {}).get("sizes", {})
    missed_sizes = [
        int(size)
        for size, entry in score_sizes.items()
        for peer in ("unitxt", "lmeval")
        if entry.get(f"ratio_{peer}", {}).get("wall", {}).get("median", 1e9) < 50
    ]
    if missed_sizes:
        folder = str(REPO / "out" / "bench-score-inputs" / str(min(missed_sizes)))
        code, stdout, meta = run_logged(py("bench/peers/profile_ours.py", "score", folder), "profile-score")
        profiles.append({**meta, "result": json.loads(stdout) if code == 0 else None})
    return {"profiles": profiles}


# ---------------------------------------------------------------------------------------------- render


def fmt(x, digits=2) -> str:
    if x is None:
        return "–"
    if isinstance(x, float) and x != x:
        return "NaN"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return str(x)


def spread(s: dict | None, digits=2, scale=1.0) -> str:
    if not s:
        return "–"
    if s.get("n", 0) <= 1 or s["min"] == s["max"]:
        return f"{fmt(s['median'] * scale, digits)} (n={s.get('n', 1)})"
    low, high = fmt(s["min"] * scale, digits), fmt(s["max"] * scale, digits)
    return f"{fmt(s['median'] * scale, digits)} [{low}–{high}]"


def render(data: dict) -> str:
    from render_benchmarks import render_markdown

    return render_markdown(data, fmt=fmt, spread=spread)


def load_sections() -> dict:
    """Every section's latest result, from out/bench/section-<name>.json (one file per section, so that
    sections run by separate invocations, even concurrently, end up in one report)."""
    data = {}
    for name in ("machine", *SECTIONS):
        path = OUT / f"section-{name}.json"
        if path.is_file():
            data[name] = json.loads(path.read_text())
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=SECTIONS, help="run these sections, keep the others")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test, not for publishing")
    parser.add_argument("--render", action="store_true", help="only re-render the report from the sections")
    parser.add_argument(
        "--perturb-peers",
        nargs="*",
        metavar="FACTORY",
        help="the perturb section against these peers only, e.g. nlpaug's (textattack's take an hour)",
    )
    args = parser.parse_args()
    invocation = "python bench/run_all.py" + "".join(f" {a}" for a in sys.argv[1:])
    OUT.mkdir(parents=True, exist_ok=True)
    if not args.render:
        if not peers_available():
            sys.exit(f"no peer environment at {PEER_PYTHON}: run `bash bench/setup_peers.sh` first")
        info = machine()
        (OUT / "section-machine.json").write_text(json.dumps(info, indent=1))
        runners = {
            "perturb": functools.partial(section_perturb, only_peers=args.perturb_peers),
            "perturb_precomputed": section_perturb_precomputed,
            "score": section_score,
            "build": section_build,
            "leaderboard": section_leaderboard,
            "components": section_components,
        }
        for name in args.only or SECTIONS:
            print(f"== {name}", flush=True)
            result = section_profile(load_sections()) if name == "profile" else runners[name](args.quick)
            result.update(invocation=invocation, quick=args.quick, date_utc=info["date_utc"])
            (OUT / f"section-{name}.json").write_text(json.dumps(result, indent=1, default=str))
    data = load_sections()
    data["command"] = "python bench/run_all.py"
    data["quick"] = any(isinstance(v, dict) and v.get("quick") for v in data.values())
    JSON_PATH.write_text(json.dumps(data, indent=1, default=str))
    MD_PATH.write_text(render(data))
    print(f"wrote {JSON_PATH.relative_to(REPO)} and {MD_PATH.relative_to(REPO)}")


if __name__ == "__main__":
    main()
