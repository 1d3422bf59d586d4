"""Time publish / re-publish / pull / load_dataset of a release against the local Hub server.

    python bench/bench_hub.py                                   # a synthetic release, 200,000 examples
    python bench/bench_hub.py --examples 50000
    python bench/bench_hub.py --release DIR --labels LABELS     # a release `robustboard build` wrote

The server runs in this process (a thread, like the tests' fixture); `load_dataset` runs in a fresh
interpreter that only knows `HF_ENDPOINT`, and its time excludes the interpreter's start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from builder import publish as pub  # noqa: E402
from robustboard.atomic import write_json  # noqa: E402
from robustboard.hashing import sha256_file  # noqa: E402
from robustboard.hub_server import running_server  # noqa: E402


def synthetic_release(root: Path, n: int) -> tuple[Path, Path]:
    """A two-config classification release in the contract's layout (docs/architecture.md)."""
    rng = np.random.default_rng(0)
    vocabulary = np.array(["film", "plot", "great", "dull", "actor", "scene", "music", "story", "bad"])
    texts = [" ".join(rng.choice(vocabulary, 40)) + f" {i}" for i in range(n)]
    public, labels = root / "public", root / "labels"
    for config, variant in (("original", "original"), ("typos", "typos-p0.05-r1")):
        ids = [f"bench-{i}" for i in range(n)]
        frame = pd.DataFrame(
            {
                "example_id": ids,
                "variant_id": variant,
                "family": config,
                "params": "{}",
                "task": "bench",
                "text": texts,
                "prompt": texts,
            }
        )
        (public / config).mkdir(parents=True)
        frame.to_parquet(public / config / "test-00000-of-00001.parquet", index=False)
        gold = pd.DataFrame({"example_id": ids, "variant_id": variant, "gold": "positive", "task": "bench"})
        (labels / config).mkdir(parents=True)
        gold.to_parquet(labels / config / "test-00000-of-00001.parquet", index=False)
    configs = "".join(
        f"- config_name: {c}\n  data_files:\n  - split: test\n    path: {c}/test-*\n"
        for c in ("original", "typos")
    )
    (public / "README.md").write_text(f"---\nconfigs:\n{configs}---\n# bench\n")

    def hashes(folder: Path) -> dict[str, str]:
        return {
            p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()
        }

    files, label_files = hashes(public), hashes(labels)
    manifest = {
        "name": "bench",
        "version": "1.0.0",
        "files": files,
        "content_hash": pub.files_digest(files),
        "labels_sha256": pub.files_digest(label_files),
        "counts": {"examples": n, "slots": 2},
    }
    write_json(public / "manifest.json", manifest)
    write_json(
        labels / "manifest.json",
        {**{k: manifest[k] for k in ("name", "version", "content_hash")}, "files": label_files},
    )
    return public, labels


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=200_000)
    parser.add_argument("--release", type=Path)
    parser.add_argument("--labels", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as folder:
        run(args, Path(folder))


def run(args: argparse.Namespace, tmp: Path) -> None:
    if args.release:
        public, labels = args.release, args.labels
    else:
        public, labels = synthetic_release(tmp / "release", args.examples)
    config = next(iter(json.loads((public / "manifest.json").read_text()).get("configs") or {"original": 0}))
    size = sum(p.stat().st_size for folder in (public, labels) for p in folder.rglob("*") if p.is_file())
    print(f"release {public}: {size / 1e6:.1f} MB (public + labels)")
    repo = "bench/release"
    with running_server(tmp / "hub", users={"bench": "hf_bench"}) as server:
        options = {"repo": repo, "labels_repo": f"{repo}-labels", "endpoint": server.url, "token": "hf_bench"}
        start = time.perf_counter()
        pub.publish(public, labels, report=lambda line: None, **options)
        took = time.perf_counter() - start
        print(f"publish: {took:.2f} s ({size / 1e6 / took:.1f} MB/s)")
        start = time.perf_counter()
        pub.publish(public, labels, report=lambda line: None, **options)
        print(f"publish again (nothing to do): {time.perf_counter() - start:.2f} s")
        start = time.perf_counter()
        pub.pull(
            repo,
            "v1.0.0",
            tmp / "pulled",
            labels_repo=f"{repo}-labels",
            labels_out=tmp / "pulled-labels",
            endpoint=server.url,
            token="hf_bench",
        )
        took = time.perf_counter() - start
        print(f"pull with labels, every file sha256-checked: {took:.2f} s ({size / 1e6 / took:.1f} MB/s)")
        code = (
            "import sys, time, datasets\n"
            "start = time.perf_counter()\n"
            "ds = datasets.load_dataset(sys.argv[1], sys.argv[2], revision='v1.0.0')\n"
            "print(len(next(iter(ds.values()))), round(time.perf_counter() - start, 2))\n"
        )
        env = {**os.environ, "HF_ENDPOINT": server.url, "HF_HOME": str(tmp / "hf-home")}
        done = subprocess.run(
            [sys.executable, "-c", code, repo, config], env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(done.stderr[-2000:])
        rows, seconds = done.stdout.split()[-2:]
        print(f"load_dataset({repo!r}, {config!r}, revision='v1.0.0'): {rows} rows in {seconds} s")


if __name__ == "__main__":
    main()
