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
import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leaderboard import analysis
from submissions.compare import compare
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


@dataclass
class _Caches:
    flat: dict[str, tuple[str, analysis.FlatRecord]] = field(default_factory=dict)
    rank_keys: dict[str, tuple] = field(default_factory=dict)
    ranks: dict[str, dict[str, float]] = field(default_factory=dict)
    separated: dict[tuple[str, str], bool] = field(default_factory=dict)
    details: _LRU = field(default_factory=lambda: _LRU(64))
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
                try:
                    flat[sid] = (stamp, analysis.flatten_record(self.store.result(sid)))
                except StoreError:  # FINISHED request whose result is not visible yet: next refresh
                    continue
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

    def paired_accuracy_p(self, sid_a: str, sid_b: str) -> float | None:
        """p of the exact paired sign test on per-example accuracy (submissions.compare), or None."""
        a, b = self._details(sid_a), self._details(sid_b)
        if a is None or b is None:
            return None
        result = compare(a, b, n_resamples=0)
        return float(result["metrics"]["accuracy"]["sign_test"]["p_value"])

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
        self, snapshot: Snapshot, release: str, metric: str, unit: str, scopes: tuple[str, ...]
    ) -> CorrelationView:
        runs = snapshot.frames.runs
        members = tuple(sorted(runs.loc[runs["release"] == release, "submission_id"])) if len(runs) else ()
        key = (release, members, metric, unit, scopes, self.settings.correlation_resamples)
        cached = self._caches.correlations.get(key)
        if cached is not None:
            return cached
        started = time.perf_counter()
        points = analysis.correlation_points(snapshot.frames, release, metric, unit)
        table = analysis.correlation_table(
            points, scopes=scopes if unit != "model" else (), n_resamples=self.settings.correlation_resamples
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
    if not len(runs) or any(c not in runs for c in needed):
        return default
    slots = frames.slots[frames.slots["submission_id"].isin(runs["submission_id"])]
    estimates = []
    for sid, group in slots.groupby("submission_id"):
        p = group["accuracy"].to_numpy(float)
        k = len(p)
        if k < 2:
            continue
        right = ((p.sum() ** 2 - (p**2).sum()) / 2) / (k * (k - 1) / 2)
        row = runs.loc[runs["submission_id"] == sid].iloc[0]
        wrong = row["correctness_agreement_independence"] - right
        if wrong > 1e-6:
            estimates.append((row["consistency_independence"] - right) / wrong)
    estimates = [e for e in estimates if np.isfinite(e)]
    return float(np.clip(np.median(estimates), 0, 1)) if estimates else default


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
