"""The scoring worker: claims queued submissions, scores them, commits result + details + status.

Life of a request: PENDING -> RUNNING (claimed: `worker`, `started_at`, `attempts` + 1, and a
`heartbeat_at` refreshed every `heartbeat_every` seconds while scoring) -> FINISHED (result and
details written in the same `write_files` call as the FINISHED request, the request last) or FAILED
(with the reason: invalid predictions, labels that no longer verify, an internal error).

Crash recovery: a RUNNING request whose heartbeat is older than `stale_after` seconds belongs to a
worker that died; the next worker claims it again and reruns it from the raw file. Because results
and details are keyed by submission id, a rerun overwrites, never duplicates, whatever the crashed
run may already have written; `Store.results()` lists only FINISHED submissions, so a half-finished
run is never shown. After MAX_ATTEMPTS interrupted runs a request is FAILED instead of looping.
On a Hub store two workers racing for one request cannot both claim it: the loser's claim is
refused as a conflict (`ConflictError`) and it moves on to the next request. On a local folder
they can at worst both score it, writing the same result twice.

Each job has a time limit (`Limits.scoring_timeout`): past it the request is FAILED with a message
naming the limit. Scoring runs in a daemon thread the worker stops waiting for; Python cannot stop
that thread, so it finishes (or not) in the background and its result is thrown away: nothing it
computes is ever written. Input limits (file size, rows) keep such a job bounded in the first place.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from robustboard import __version__
from robustboard.atomic import dumps_json
from submissions.formats import read_predictions
from submissions.limits import using
from submissions.matrix import build_matrix
from submissions.metrics import check_coverage, details_frame, score_matrix
from submissions.store import ConflictError, Store, StoreError, families_of, now, parse_time
from submissions.validation import ValidationError

SCORER_VERSION = f"robustboard-scorer {__version__}"
MAX_ATTEMPTS = 3
log = logging.getLogger(__name__)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_pending(
    store: Store,
    *,
    limit: int | None = None,
    submission_ids: Iterable[str] | None = None,
    worker_id: str | None = None,
    stale_after: float = 600.0,
    heartbeat_every: float = 30.0,
    n_resamples: int = 1000,
    seed: int = 0,
) -> list[dict]:
    """Score claimable submissions (PENDING, or RUNNING with a stale heartbeat), oldest first.

    Returns the final request records. `submission_ids` restricts the run to those submissions.
    """
    worker_id = worker_id or default_worker_id()
    wanted = set(submission_ids) if submission_ids is not None else None
    processed: list[dict] = []
    while limit is None or len(processed) < limit:
        request = claim_next(store, worker_id=worker_id, stale_after=stale_after, wanted=wanted)
        if request is None:
            break
        processed.append(
            score_request(store, request, heartbeat_every=heartbeat_every, n_resamples=n_resamples, seed=seed)
        )
    return processed


def claimable(store: Store, *, stale_after: float) -> list[dict]:
    current = datetime.now(UTC)
    requests = []
    for request in store.requests():
        if request["status"] == "PENDING":
            requests.append(request)
        elif request["status"] == "RUNNING":
            beat = request.get("heartbeat_at") or request.get("started_at")
            if beat is None or (current - parse_time(beat)).total_seconds() > stale_after:
                requests.append(request)
    return requests


def claim_next(
    store: Store, *, worker_id: str, stale_after: float, wanted: set[str] | None = None
) -> dict | None:
    """Claim the oldest claimable request (write it RUNNING under this worker) and return it.

    A request another worker changed first (the store refuses this worker's write as a conflict: it
    claimed it) is skipped, and the store is listed again before the next claim, so that every claim
    is checked against what this worker last read.
    """
    conflicts: set[str] = set()
    while True:
        for request in claimable(store, stale_after=stale_after):
            sid = request["submission_id"]
            if (wanted is not None and sid not in wanted) or sid in conflicts:
                continue
            try:
                if _give_up(store, request):
                    continue
                return _claim(store, request, worker_id)
            except ConflictError:
                log.info("submission %s was claimed by another worker first; trying the next one", sid)
                conflicts.add(sid)
                break  # list the store again: what this worker read is out of date
        else:
            return None


def _give_up(store: Store, request: dict) -> bool:
    """FAIL a request whose scoring was interrupted MAX_ATTEMPTS times, instead of looping on it."""
    if request.get("attempts", 0) < MAX_ATTEMPTS:
        return False
    request.update(
        status="FAILED",
        reason=f"scoring was interrupted {request['attempts']} times (worker crashed or was killed)",
        finished_at=now(),
    )
    store.write_request(request, message=f"Give up on submission {request['submission_id']}")
    return True


def _claim(store: Store, request: dict, worker_id: str) -> dict:
    rerun = request["status"] == "RUNNING"
    stamp = now()
    request.update(
        status="RUNNING",
        reason=f"rerun: the previous worker ({request.get('worker')}) stopped sending heartbeats"
        if rerun
        else "",
        started_at=stamp,
        heartbeat_at=stamp,
        attempts=request.get("attempts", 0) + 1,
        worker=worker_id,
    )
    store.write_request(request, message=f"Start scoring submission {request['submission_id']}")
    return request


class _Heartbeat:
    """Refresh the request's `heartbeat_at` in the background while it is being scored."""

    def __init__(self, store: Store, request: dict, every: float) -> None:
        self.store, self.request, self.every = store, request, every
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            with self.lock:
                if self.stop.is_set():
                    return
                self.request["heartbeat_at"] = now()
                try:
                    self.store.write_request(dict(self.request), message="Heartbeat")
                except Exception:  # a missed heartbeat only risks a rerun; scoring goes on
                    log.warning(
                        "heartbeat for %s could not be written", self.request["submission_id"], exc_info=True
                    )

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.stop.set()
        self.thread.join()


class ScoringTimeout(Exception):
    """A scoring job ran past the time limit."""


def _compute(store: Store, request: dict, *, n_resamples: int, seed: int):
    """Everything a job computes: (release entry, matrix, score object). Writes nothing."""
    with using(store.limits):
        release = store.release(request["release"])
        labels = store.labels(release)
        with store.raw_file(request) as raw:
            predictions = read_predictions(raw, format=request["raw_format"], limits=store.limits)
        matrix = build_matrix(labels, predictions, families=families_of(release))
        check_coverage(matrix, request.get("min_coverage"))
        return release, matrix, score_matrix(matrix, n_resamples=n_resamples, seed=seed)


def _within(seconds: float, fn, *args, **kwargs):
    """Run `fn` in a daemon thread and return its result, or raise ScoringTimeout after `seconds`."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as err:  # handed to the waiting thread
            outcome["error"] = err

    thread = threading.Thread(target=run, name="scoring", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise ScoringTimeout
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def score_request(
    store: Store, request: dict, *, heartbeat_every: float, n_resamples: int, seed: int
) -> dict:
    """Score one claimed request and commit its outcome; returns the final request record."""
    sid = request["submission_id"]
    started = time.perf_counter()
    failure = None
    limit = store.limits.scoring_timeout
    with _Heartbeat(store, request, heartbeat_every):
        try:
            release, matrix, scored = _within(
                limit, _compute, store, request, n_resamples=n_resamples, seed=seed
            )
        except ScoringTimeout:
            log.warning("scoring submission %s passed the time limit of %g s", sid, limit)
            failure = (
                f"scoring took longer than the time limit of {limit:g} s per job "
                f"({store.limits.describe('scoring_timeout')}); the raw file is kept"
            )
        except (ValidationError, StoreError) as err:
            failure = str(err)
        except Exception as err:  # a scorer bug must not lose the request: record it, keep the raw file
            log.exception("scoring submission %s failed", sid)
            failure = f"internal error while scoring ({type(err).__name__}); the raw file is kept"
    if failure is not None:
        request.update(status="FAILED", reason=failure, finished_at=now())
        store.write_request(request, message=f"Scoring failed for submission {sid}")
        return request
    result = {
        "submission_id": sid,
        "model": request["model"],
        "release": {
            "name": release["name"],
            "version": release["version"],
            "content_hash": release["content_hash"],
            "commit": release.get("commit"),
        },
        "scorer_version": SCORER_VERSION,
        "submission_sha256": request["raw_sha256"],
        "submitted_at": request["submitted_at"],
        "scored_at": now(),
        "scoring_seconds": round(time.perf_counter() - started, 3),
        **scored,
    }
    buffer = io.BytesIO()
    details_frame(matrix).to_parquet(buffer, index=False)
    stamp = now()
    finished = {**request, "status": "FINISHED", "reason": "", "heartbeat_at": stamp, "finished_at": stamp}
    try:
        store.backend.write_files(
            {
                f"details/{sid}.parquet": buffer.getvalue(),
                f"results/{sid}.json": dumps_json(result).encode(),
                f"requests/{sid}.json": dumps_json(finished).encode(),
            },
            message=f"Result for {request['model']['name']} on {request['release']} ({sid})",
        )
    except StoreError as err:
        # The request (written last) is not FINISHED, so no result is visible. Queue it again at once
        # if the store still takes a small write; else it stays RUNNING and is rerun once stale.
        requeued = {**request, "status": "PENDING", "reason": f"the result could not be written: {err}"}
        try:
            store.write_request(requeued, message=f"Requeue submission {sid}")
            after = "it is queued again"
        except StoreError:
            after = "it stays RUNNING and is scored again once its heartbeat is stale"
        raise StoreError(
            f"submission {sid} was scored but its result could not be written ({err}); {after}"
        ) from None
    request.update(finished)
    return request


def serve(store: Store, *, interval: float, **options) -> None:
    """Poll forever: score whatever is claimable, then sleep `interval` seconds.

    A store that cannot be read or written for a while (the Hub down, a full disk) is logged and
    retried on the next poll; the worker itself keeps running.
    """
    while True:
        try:
            done = run_pending(store, **options)
        except StoreError as err:
            log.error("%s; retrying in %g s", err, interval)
            done = []
        for request in done:
            log.info("%s %s %s", request["submission_id"], request["status"], request.get("reason") or "")
        if not done:
            time.sleep(interval)
