"""The leaderboard's view of a results store: cached snapshots, tie-group ranks, correlation views.

The app never recomputes what has not changed. A snapshot is rebuilt when the store's FINISHED set
changes (checked at most every `refresh_seconds`, and right after this process scores something); a
result record is read and flattened once per (submission id, finished_at); ranks are recomputed only
for a release whose results changed, and every paired test is cached by the two submissions it
compares, so a new submission costs a handful of tests, not a re-ranking of the board. Correlation
views are cached per (release results, metric, points, scope) and the default ones are computed in
the background after each refresh.

Per-example details (`details/<id>.parquet`) are read only here, only to run the paired tests; what
leaves this module are aggregates.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
from scipy import stats
from threadpoolctl import threadpool_limits

from leaderboard import analysis
from submissions.compare import NON_SLOT_COLUMNS, compare
from submissions.store import HF_SCHEME, Store, StoreError, open_store

log = logging.getLogger(__name__)

# Documented in docs/leaderboard.md and leaderboard/space/README.md: the whole configuration surface.
ENVIRONMENT = {
    "ROBUSTBOARD_STORE": "results store the app reads and submits to: a folder or hf://ORG/NAME (required)",
    "ROBUSTBOARD_TITLE": "page title (default: robustboard)",
    "ROBUSTBOARD_REFRESH_SECONDS": "how often the app looks for new results in the store (default 60)",
    "ROBUSTBOARD_WORKER": "1: score queued submissions inside the app (default); 0: a separate "
    "`robustboard worker` does it",
    "ROBUSTBOARD_RANK_ALPHA": "significance level of the paired tests behind tie groups (default 0.05)",
    "ROBUSTBOARD_CORRELATION_RESAMPLES": "bootstrap resamples of the Spearman/Kendall CIs (default 1000)",
    "ROBUSTBOARD_MAX_UPLOAD_MB": "largest predictions file accepted by the Submit tab, in MB (default 200)",
    "HF_TOKEN": "for an hf:// store: a token that can read it (and write to it, to accept submissions)",
}


def _env_float(environ: Mapping[str, str], key: str, default: float, *, low: float, high: float) -> float:
    text = environ.get(key, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{key}={text!r} is not a number") from None
    if not low <= value <= high:
        raise ValueError(f"{key}={text!r} is outside [{low}, {high}]")
    return value


@dataclass(frozen=True)
class Settings:
    store: str
    title: str = "robustboard"
    refresh_seconds: float = 60.0
    run_worker: bool = True
    rank_alpha: float = 0.05
    correlation_resamples: int = 1000
    max_upload_mb: float = 200.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ROBUSTBOARD_* variables; explicit overrides (command-line flags) win."""
        environ = os.environ if environ is None else environ
        worker = environ.get("ROBUSTBOARD_WORKER", "1").strip().lower()
        if worker not in ("0", "1", "true", "false", "yes", "no"):
            raise ValueError(f"ROBUSTBOARD_WORKER={worker!r} is not 0 or 1")
        values = {
            "store": environ.get("ROBUSTBOARD_STORE", "").strip(),
            "title": environ.get("ROBUSTBOARD_TITLE", "").strip() or "robustboard",
            "refresh_seconds": _env_float(environ, "ROBUSTBOARD_REFRESH_SECONDS", 60.0, low=1, high=86400),
            "run_worker": worker in ("1", "true", "yes"),
            "rank_alpha": _env_float(environ, "ROBUSTBOARD_RANK_ALPHA", 0.05, low=1e-6, high=0.5),
            "correlation_resamples": int(
                _env_float(environ, "ROBUSTBOARD_CORRELATION_RESAMPLES", 1000, low=100, high=100_000)
            ),
            "max_upload_mb": _env_float(environ, "ROBUSTBOARD_MAX_UPLOAD_MB", 200.0, low=1, high=10_000),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if not values["store"]:
            raise ValueError(
                "no results store: pass --store or set ROBUSTBOARD_STORE (a folder or hf://ORG/NAME)"
            )
        return cls(**values)


@dataclass(frozen=True)
class Snapshot:
    """Everything the views read, consistent with one listing of the store."""

    frames: analysis.ResultFrames
    ranks: dict[str, float]
    releases: tuple[dict, ...]  # registry entries
    fingerprint: str
    loaded_at: float

    @property
    def result_releases(self) -> list[str]:
        return self.frames.releases

    def release_choices(self) -> list[str]:
        """Every registered or scored release version, newest version first within a name."""
        names = {f"{r['name']}@{r['version']}" for r in self.releases} | set(self.frames.releases)
        ordered = sorted(names, key=analysis.release_sort_key)
        by_name: dict[str, list[str]] = {}
        for release in ordered:
            by_name.setdefault(release.partition("@")[0], []).append(release)
        return [r for name in sorted(by_name) for r in reversed(by_name[name])]

    def default_release(self) -> str | None:
        """The latest version of the release with the most results (what a visitor wants first)."""
        runs = self.frames.runs
        if not len(runs):
            choices = self.release_choices()
            return choices[0] if choices else None
        latest = analysis.latest_releases(runs["release"])
        counts = runs["release"].value_counts()
        return max(latest, key=lambda r: (counts.get(r, 0), analysis.release_sort_key(r)))


@dataclass(frozen=True)
class CorrelationView:
    points: pd.DataFrame
    table: pd.DataFrame
    decomposition: pd.DataFrame
    partial: pd.DataFrame
    n_slots: int
    distractor_factor: float  # mean over examples of 1/(options − 1): the consistency chance term
    seconds: float
    intervals: bool = True  # False: ρ and τ have no bootstrap CIs yet


class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            return None

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


@dataclass(frozen=True)
class _PerExample:
    examples: str  # digest of the sorted example ids: results are paired only on the same examples
    accuracy: np.ndarray


def sign_test_p(a: np.ndarray, b: np.ndarray) -> float:
    """The accuracy test of `submissions.compare`: exact two-sided binomial (sign) test, p = 1/2, over
    the examples where the per-example accuracies differ. With p = 1/2 the two-sided p is
    min(1, 2·P(X ≤ min(a_better, b_better))), which is what `scipy.stats.binomtest` computes; here it
    runs on cached vectors so ranking 500 results takes milliseconds, not one `compare` per pair."""
    a_better, b_better = int((a > b).sum()), int((a < b).sum())
    n = a_better + b_better
    if n == 0:
        return 1.0
    return float(min(1.0, 2 * stats.binom.cdf(min(a_better, b_better), n, 0.5)))


@dataclass
class _Caches:
    flat: dict[str, tuple[str, analysis.FlatRecord]] = field(default_factory=dict)
    rank_keys: dict[str, tuple] = field(default_factory=dict)
    ranks: dict[str, dict[str, float]] = field(default_factory=dict)
    separated: dict[tuple[str, str], bool] = field(default_factory=dict)
    details: _LRU = field(default_factory=lambda: _LRU(64))
    per_example: dict[str, _PerExample | None] = field(default_factory=dict)
    comparisons: _LRU = field(default_factory=lambda: _LRU(64))
    correlations: _LRU = field(default_factory=lambda: _LRU(64))
    manifests: dict[str, dict] = field(default_factory=dict)


class Board:
    """The app's single handle on a results store (thread-safe; one per process)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._lock = threading.RLock()
        self._caches = _Caches()
        self._snapshot: Snapshot | None = None
        self._dirty = True
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._serving = False  # a serving app warms correlation views in the background

    @classmethod
    def open(cls, settings: Settings) -> Board:
        return cls(open_store(settings.store), settings)

    # ------------------------------------------------------------------------------------ snapshot

    def snapshot(self) -> Snapshot:
        """The current snapshot, rebuilt if the store may have changed (at most every refresh_seconds)."""
        with self._lock:
            stale = self._snapshot is None or self._dirty
            if not stale and time.monotonic() - self._snapshot.loaded_at >= self.settings.refresh_seconds:
                stale = True
            if stale:
                self._snapshot = self._build_snapshot()
                self._dirty = False
            return self._snapshot

    def invalidate(self) -> None:
        with self._lock:
            self._dirty = True

    def _build_snapshot(self) -> Snapshot:
        finished = {r["submission_id"]: r.get("finished_at") or "" for r in self.store.requests("FINISHED")}
        flat = self._caches.flat
        for sid, stamp in finished.items():
            if sid not in flat or flat[sid][0] != stamp:
                try:  # results/<id>.json of the store layout; orjson parses it several times faster
                    record = orjson.loads(self.store.backend.read_bytes(f"results/{sid}.json"))
                except FileNotFoundError:  # FINISHED request whose result is not visible yet: next refresh
                    continue
                flat[sid] = (stamp, analysis.flatten_record(record))
        for sid in set(flat) - set(finished):
            del flat[sid]
        frames = analysis.frames_from(record for _, record in flat.values())
        ranks = self._rank(frames, {sid: stamp for sid, (stamp, _) in flat.items()})
        fingerprint = hashlib.sha256(json.dumps(sorted(finished.items())).encode()).hexdigest()[:16]
        snapshot = Snapshot(frames, ranks, tuple(self.store.releases()), fingerprint, time.monotonic())
        if self._serving:  # warm the default correlation views off the request path
            threading.Thread(
                target=self._warm, args=(snapshot,), name="warm-correlations", daemon=True
            ).start()
        return snapshot

    # ------------------------------------------------------------------------------------- ranking

    def _rank(self, frames: analysis.ResultFrames, stamps: Mapping[str, str]) -> dict[str, float]:
        ranks: dict[str, float] = {}
        for release, runs in frames.runs.groupby("release"):
            key = tuple(sorted((sid, stamps.get(sid, "")) for sid in runs["submission_id"]))
            if self._caches.rank_keys.get(release) != key:
                self._caches.ranks[release] = self._rank_release(runs, stamps)
                self._caches.rank_keys[release] = key
            ranks.update(self._caches.ranks[release])
        return ranks

    def _rank_release(self, runs: pd.DataFrame, stamps: Mapping[str, str]) -> dict[str, float]:
        bounds = (
            runs.set_index("submission_id")[["accuracy_lo", "accuracy_hi"]].to_dict("index")
            if ("accuracy_lo" in runs)
            else {}
        )

        def separated(leader: str, candidate: str) -> bool:
            key = (f"{leader}:{stamps.get(leader, '')}", f"{candidate}:{stamps.get(candidate, '')}")
            if key not in self._caches.separated:
                p = self.paired_accuracy_p(leader, candidate)
                if p is None:  # no details (e.g. an imported result): fall back to disjoint CIs
                    a, b = bounds.get(leader, {}), bounds.get(candidate, {})
                    self._caches.separated[key] = analysis.ci_separated(
                        a.get("accuracy_lo", math.nan),
                        a.get("accuracy_hi", math.nan),
                        b.get("accuracy_lo", math.nan),
                        b.get("accuracy_hi", math.nan),
                    )
                else:
                    self._caches.separated[key] = p < self.settings.rank_alpha
            return self._caches.separated[key]

        scores = runs["accuracy"].astype(float).fillna(math.nan).tolist() if "accuracy" in runs else []
        self._prefetch(runs["submission_id"].tolist())
        return analysis.tie_group_ranks(runs["submission_id"].tolist(), scores, separated)

    def _details(self, sid: str) -> pd.DataFrame | None:
        cached = self._caches.details.get(sid)
        if cached is None:
            try:
                cached = self.store.details(sid)
            except StoreError:
                return None
            self._caches.details.put(sid, cached)
        return cached

    def _per_example(self, sid: str) -> _PerExample | None:
        """Per-example accuracy of a result (examples sorted by id), read once from its details.

        Read with pyarrow from `details/<id>.parquet` (the store layout of docs/architecture.md)
        through the store's backend: `Store.details` builds a pandas frame, several times slower,
        and a cold start reads every result's details once.
        """
        if sid not in self._caches.per_example:
            try:
                table = pq.read_table(io.BytesIO(self.store.backend.read_bytes(f"details/{sid}.parquet")))
            except FileNotFoundError:
                self._caches.per_example[sid] = None
            else:
                table = table.take(pc.sort_indices(table, [("example_id", "ascending")]))
                slots = [c for c in table.column_names if c not in NON_SLOT_COLUMNS]
                correct = np.column_stack([table.column(c).to_numpy().astype(np.float64) for c in slots])
                ids = "\n".join(table.column("example_id").to_pylist())
                digest = hashlib.sha256(ids.encode()).hexdigest()
                self._caches.per_example[sid] = _PerExample(digest, correct.mean(axis=1))
        return self._caches.per_example[sid]

    def _prefetch(self, sids: list[str]) -> None:
        """Read the details of many results at once (parquet reads release the GIL)."""
        missing = [sid for sid in sids if sid not in self._caches.per_example]
        if len(missing) > 1:
            with ThreadPoolExecutor(max_workers=min(8, len(missing))) as pool:
                list(pool.map(self._per_example, missing))

    def paired_accuracy_p(self, sid_a: str, sid_b: str) -> float | None:
        """p of the accuracy sign test of `submissions.compare` (exact two-sided binomial test over the
        examples where the two per-example accuracies differ), or None without comparable details."""
        a, b = self._per_example(sid_a), self._per_example(sid_b)
        if a is None or b is None or a.examples != b.examples:
            return None
        return sign_test_p(a.accuracy, b.accuracy)

    def comparison(self, sid_a: str, sid_b: str) -> dict | None:
        """Paired tests of two results (aggregates only), cached; None when details are missing."""
        cached = self._caches.comparisons.get((sid_a, sid_b))
        if cached is None:
            a, b = self._details(sid_a), self._details(sid_b)
            if a is None or b is None:
                return None
            cached = compare(a, b)
            self._caches.comparisons.put((sid_a, sid_b), cached)
        return cached

    # -------------------------------------------------------------------------------- correlations

    def correlation(
        self,
        snapshot: Snapshot,
        release: str,
        metric: str,
        unit: str,
        scopes: tuple[str, ...],
        *,
        intervals: bool = True,
    ) -> CorrelationView:
        """The correlation view of one choice, cached. `intervals=False` skips the bootstrap CIs of ρ and
        τ (the slow part) unless the full view is already cached: the tab shows that at once and fills
        the intervals in a second step."""
        runs = snapshot.frames.runs
        members = tuple(sorted(runs.loc[runs["release"] == release, "submission_id"])) if len(runs) else ()
        base = (release, members, metric, unit, scopes)
        full = self._caches.correlations.get((*base, self.settings.correlation_resamples))
        if full is not None:
            return full
        resamples = self.settings.correlation_resamples if intervals else 0
        key = (*base, resamples)
        cached = self._caches.correlations.get(key)
        if cached is not None:
            return cached
        started = time.perf_counter()
        # many small products (groups × resamples): BLAS threads cost more than they save, and the
        # server's other requests want the second core (bench/bench_leaderboard.py: CI step 2.9 -> 2.2 s)
        with threadpool_limits(limits=1, user_api="blas"):
            points = analysis.correlation_points(snapshot.frames, release, metric, unit)
            table = analysis.correlation_table(
                points, scopes=scopes if unit != "model" else (), n_resamples=resamples
            )
            if unit == "model":
                decomposition = partial = pd.DataFrame()
            else:
                decomposition = analysis.variance_decomposition(points)
                partial = analysis.partial_correlations(points)
        view = CorrelationView(
            points,
            table,
            decomposition,
            partial,
            n_slots=_release_slots(snapshot.frames, release),
            distractor_factor=distractor_factor(snapshot.frames, release),
            seconds=time.perf_counter() - started,
            intervals=intervals,
        )
        self._caches.correlations.put(key, view)
        return view

    def _warm(self, snapshot: Snapshot) -> None:
        for release in analysis.latest_releases(snapshot.frames.releases):
            try:
                self.correlation(snapshot, release, "consistency", "model×task", ("per task",))
            except Exception:  # warming is an optimisation; the request path computes and reports
                log.exception("warming the correlation view of %s failed", release)

    # ------------------------------------------------------------------------------------ releases

    def manifest(self, entry: Mapping[str, Any]) -> dict:
        """The public manifest of a registered release (for its changelog), cached; {} if unreachable."""
        ref = f"{entry['name']}@{entry['version']}"
        if ref not in self._caches.manifests:
            self._caches.manifests[ref] = _read_public_manifest(str(entry.get("public", "")))
        return self._caches.manifests[ref]

    # --------------------------------------------------------------------------------- submissions

    def submit(self, path: str, *, release: str, model: dict, submitter: str) -> dict:
        """Validate and queue (Store.submit raises ValidationError with every problem), wake the worker."""
        request = self.store.submit(path, release=release, model=model, submitter=submitter)
        self._wake.set()
        return request

    def requests(self) -> list[dict]:
        return self.store.requests()

    # ------------------------------------------------------------------------------------- workers

    def start(self) -> None:
        """Serve: warm caches in the background and, if configured, score queued submissions."""
        with self._lock:
            self._serving = True
            if self.settings.run_worker and self._worker is None:
                self._worker = threading.Thread(target=self._work, name="robustboard-worker", daemon=True)
                self._worker.start()
                self._wake.set()  # score whatever was queued while no app was running

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=60)

    def _work(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=self.settings.refresh_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                done = self.store.run_pending()
            except Exception:
                log.exception("scoring queued submissions failed")
                continue
            if done:
                self.invalidate()
                self.snapshot()  # rank the new results now, not on the next visitor's request


def _release_slots(frames: analysis.ResultFrames, release: str) -> int:
    runs = frames.runs[frames.runs["release"] == release]
    slots = runs["n_slots"].dropna() if "n_slots" in runs else pd.Series(dtype=float)
    return int(slots.median()) if len(slots) else 1


def distractor_factor(frames: analysis.ResultFrames, release: str, default: float = 1 / 3) -> float:
    """Mean over the release's examples of 1/(options − 1), recovered from the scorer's own nulls.

    Under independence the scorer's expected agreement is A = R + W and expected consistency is
    C = R + W·d, R and W the mean products of right and wrong slot pairs; R follows from the slot
    accuracies, so d = (C − R)/(A − R). d is a property of the release (same examples for every
    submission): the median over its submissions guards against near-perfect ones where A − R ≈ 0.
    """
    runs = frames.runs[frames.runs["release"] == release]
    needed = ("consistency_independence", "correctness_agreement_independence")
    if not len(runs) or any(c not in runs for c in needed) or not len(frames.slots):
        return default
    slots = frames.slots[frames.slots["submission_id"].isin(runs["submission_id"])]
    p = slots["accuracy"].astype(float)
    sums = pd.DataFrame({"s": p, "q": p**2, "submission_id": slots["submission_id"]}).groupby("submission_id")
    per_result = sums.agg(s=("s", "sum"), q=("q", "sum"), k=("s", "size"))
    per_result = per_result[per_result["k"] >= 2]
    pairs = per_result["k"] * (per_result["k"] - 1) / 2
    right = ((per_result["s"] ** 2 - per_result["q"]) / 2) / pairs
    observed = runs.set_index("submission_id").loc[right.index, list(needed)]
    wrong = observed["correctness_agreement_independence"] - right
    with np.errstate(divide="ignore", invalid="ignore"):
        estimates = ((observed["consistency_independence"] - right) / wrong)[wrong > 1e-6]
    estimates = estimates[np.isfinite(estimates)]
    return float(np.clip(np.median(estimates), 0, 1)) if len(estimates) else default


def _read_public_manifest(public: str) -> dict:
    try:
        if public.startswith(HF_SCHEME):
            from huggingface_hub import hf_hub_download

            repo_id, _, revision = public[len(HF_SCHEME) :].removeprefix("datasets/").partition("@")
            path = hf_hub_download(repo_id, "manifest.json", repo_type="dataset", revision=revision or None)
            return json.loads(Path(path).read_text("utf-8"))
        return json.loads((Path(public) / "manifest.json").read_text("utf-8"))
    except Exception as err:  # the Datasets tab says the manifest is unavailable; nothing else breaks
        log.warning("manifest of %s unavailable: %s", public, err)
        return {}
