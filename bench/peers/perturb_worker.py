"""A perturbation worker: one augmenter in one process, driven over stdin/stdout by bench_vs_perturb.py.

Started with the product's python for our side and with `.bench-venv/bin/python` for a peer, so the
driver can interleave their timed passes (ours, peer, ours, peer, ...) and machine drift cancels in
the ratio. Requests (JSON lines):
  {"cmd": "setup", "factory": "nlpaug_keyboard", "params": {...}, "rows": 10000, "protected": [[...]] | null}
      -> {"setup_s": ..., "rss": ...}  (library import + augmenter construction + resource loading)
  {"cmd": "run", "stride": 1}       -> {"seconds", "cpu_seconds", "rows", "peak_rss"}  (one timed pass)
  {"cmd": "outputs"}                -> {"outputs": [...]}  (the last pass's perturbed questions)
"""

from __future__ import annotations

import gc
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import mmlu_rows, peak_rss_bytes, rss_bytes, serve, use_shared_nltk_data  # noqa: E402

STATE: dict = {}


def setup(request: dict) -> dict:
    use_shared_nltk_data()
    start = time.perf_counter()
    import perturb_sides

    rows = mmlu_rows(request["rows"])
    for pos, row in enumerate(rows):
        row["_pos"] = pos
        row["_index"] = pos
    augment = perturb_sides.FACTORIES[request["factory"]](
        **request["params"], protected=request.get("protected")
    )
    STATE.update(rows=rows, augment=augment, ours=request["factory"].startswith("ours_"), sides=perturb_sides)
    return {"setup_s": time.perf_counter() - start, "rss": rss_bytes()}


def run(request: dict) -> dict:
    rows = STATE["rows"][:: request.get("stride", 1)]
    if STATE["ours"]:
        STATE["sides"].clear_our_caches(keep=tuple(request.get("keep", ())))
    # The peers draw from the global `random` / numpy generators: seed them per pass for repeatability.
    random.seed(request.get("seed", 0))
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(request.get("seed", 0))
    gc.collect()
    cpu = time.process_time()
    start = time.perf_counter()
    outputs = STATE["augment"](rows)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu
    STATE["outputs"] = outputs
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rows": len(rows),
        "peak_rss": peak_rss_bytes(),
        "rss": rss_bytes(),
    }


def outputs(request: dict) -> dict:
    return {"outputs": STATE["outputs"]}


if __name__ == "__main__":
    serve({"setup": setup, "run": run, "outputs": outputs})
