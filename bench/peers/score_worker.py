"""One scoring run in a fresh process, so that its peak memory is its own.

    python bench/peers/score_worker.py SIDE FOLDER   ->  one JSON line on stdout

SIDE is a key of `score_sides.SIDES`; run with the product's python for `ours` and with
`.bench-venv/bin/python` for the peers. Reports wall seconds (reading and computing separately),
CPU seconds, the process's peak RSS before and after the work, and the peak RSS of its children
(lm-eval bootstraps in a multiprocessing pool).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import peak_rss_bytes, rss_bytes  # noqa: E402


def main() -> None:
    side, folder = sys.argv[1], sys.argv[2]
    out = sys.stdout
    sys.stdout = sys.stderr  # libraries print progress; the protocol line is ours alone
    import score_sides

    baseline = rss_bytes()
    start = time.perf_counter()
    result = score_sides.SIDES[side](folder)
    wall = time.perf_counter() - start
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result.update(
        side=side,
        wall_s=wall,
        cpu_s=me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime,
        rss_before_mb=baseline / 2**20,
        peak_rss_mb=peak_rss_bytes() / 2**20,
        children_peak_rss_mb=children.ru_maxrss / 1024,
        load_avg_1m=os.getloadavg()[0],
    )
    out.write(json.dumps(result) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
