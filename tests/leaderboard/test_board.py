"""The Board over a real store: snapshots, tie-group ranks from the real paired tests, caches."""

from __future__ import annotations

import math
import time

import pytest

from leaderboard.board import Board, Settings, distractor_factor
from submissions.compare import compare
from submissions.store import open_store


def board_for(path, **overrides) -> Board:
    return Board.open(Settings.from_env({}, store=str(path), **overrides))


def test_snapshot_holds_every_finished_result_ranked_in_tie_groups(scored_store):
    board = board_for(scored_store["path"])
    snapshot = board.snapshot()
    runs = snapshot.frames.runs.set_index("model")
    ids = scored_store["ids"]
    assert set(runs.index) == set(ids)
    strong, middle, middle2, weak = (
        ids[n] for n in ("acme/strong-70b", "acme/middle-13b", "beta/middle-12b", "beta/weak-1b")
    )
    assert snapshot.ranks[strong] == 1
    assert snapshot.ranks[weak] == 4  # far below everyone: its own group at its position
    # the two middle models tie: same rank, which is the position of the better of them
    assert snapshot.ranks[middle] == snapshot.ranks[middle2] == 2


def test_ranks_follow_the_paired_sign_test_at_the_configured_alpha(scored_store):
    store = open_store(str(scored_store["path"]))
    ids = scored_store["ids"]
    p = compare(store.details(ids["acme/middle-13b"]), store.details(ids["beta/middle-12b"]), n_resamples=0)
    p_middle = p["metrics"]["accuracy"]["sign_test"]["p_value"]
    assert 0.05 < p_middle < 0.45  # the fixture's two middle models: close, but not identical
    # with α just above that p-value the two middle models are separated: ranks 2 and 3
    ranks = board_for(scored_store["path"], rank_alpha=p_middle * 1.01).snapshot().ranks
    assert sorted([ranks[ids["acme/middle-13b"]], ranks[ids["beta/middle-12b"]]]) == [2, 3]
    assert (
        board_for(scored_store["path"]).paired_accuracy_p(ids["acme/middle-13b"], ids["beta/middle-12b"])
        == p_middle
    )


def test_the_ranking_sign_test_is_the_one_of_submissions_compare(scored_store):
    store = open_store(str(scored_store["path"]))
    board = board_for(scored_store["path"])
    ids = sorted(scored_store["ids"].values())
    for a in ids:
        for b in ids:
            expected = compare(store.details(a), store.details(b), n_resamples=0)
            assert board.paired_accuracy_p(a, b) == pytest.approx(
                expected["metrics"]["accuracy"]["sign_test"]["p_value"], rel=1e-12, abs=1e-300
            )


def test_a_new_result_is_picked_up_and_ranked_with_few_new_tests(
    store_copy, release_dirs, tmp_path, populate
):
    board = board_for(store_copy, refresh_seconds=3600)
    before = board.snapshot()
    tested_before = len(board._caches.separated)
    populate(store_copy, release_dirs, tmp_path, models={"gamma/new-3b": (0.0, 3.0, "rl-tuned")})
    assert board.snapshot() is before  # within refresh_seconds nothing is re-read ...
    board.invalidate()  # ... until the worker (or a refresh) says the store changed
    after = board.snapshot()
    assert "gamma/new-3b" in set(after.frames.runs["model"])
    assert len(after.frames.runs) == 5
    assert not math.isnan(
        after.ranks[after.frames.runs.set_index("model").loc["gamma/new-3b", "submission_id"]]
    )
    # tests already made are reused: the re-ranking of 5 models costs at most a few new paired tests
    assert len(board._caches.separated) - tested_before <= 3


def test_correlation_view_is_cached_and_uses_the_release_chance_term(scored_store):
    board = board_for(scored_store["path"])
    snapshot = board.snapshot()
    quick = board.correlation(
        snapshot, scored_store["release"], "consistency", "model×task", ("per task",), intervals=False
    )
    assert not quick.intervals and quick.table["spearman_lo"].isna().all()
    assert quick.table["spearman_rho"].notna().all() and quick.table["pearson_lo"].notna().any()
    view = board.correlation(snapshot, scored_store["release"], "consistency", "model×task", ("per task",))
    again = board.correlation(
        snapshot, scored_store["release"], "consistency", "model×task", ("per task",), intervals=False
    )
    assert again is view and view.intervals  # once computed, the full view answers both
    assert view.table["spearman_rho"].tolist() == quick.table["spearman_rho"].tolist()
    assert len(view.points) == 4 * 5  # 4 models × 5 tasks
    assert view.table["scope"].tolist() == ["pooled"] + ["per task"] * 5
    assert set(view.decomposition["term"]) >= {"task", "model", "accuracy", "residual"}
    assert view.n_slots == 4
    # MMLU has four options: two wrong answers coincide by chance with probability 1/3
    assert view.distractor_factor == pytest.approx(1 / 3, abs=1e-9)
    assert distractor_factor(snapshot.frames, "no-such@1") == pytest.approx(1 / 3)


def test_manifest_is_the_public_one_with_the_changelog(scored_store, release_dirs):
    board = board_for(scored_store["path"])
    entry = board.snapshot().releases[0]
    manifest = board.manifest(entry)
    assert manifest["changelog"][0]["version"] == "1.0.0"
    assert manifest["content_hash"] == entry["content_hash"]
    assert str(release_dirs["labels"]) not in str(manifest)


def test_settings_come_from_the_environment_with_clear_errors():
    settings = Settings.from_env(
        {
            "ROBUSTBOARD_STORE": "/tmp/s",
            "ROBUSTBOARD_WORKER": "0",
            "ROBUSTBOARD_RANK_ALPHA": "0.01",
            "ROBUSTBOARD_CORRELATION_RESAMPLES": "500",
        }
    )
    assert (settings.store, settings.run_worker, settings.rank_alpha, settings.correlation_resamples) == (
        "/tmp/s",
        False,
        0.01,
        500,
    )
    assert Settings.from_env({"ROBUSTBOARD_STORE": "/tmp/s"}, store="/other").store == "/other"
    with pytest.raises(ValueError, match="ROBUSTBOARD_STORE"):
        Settings.from_env({})
    with pytest.raises(ValueError, match="ROBUSTBOARD_RANK_ALPHA='2' is outside"):
        Settings.from_env({"ROBUSTBOARD_STORE": "x", "ROBUSTBOARD_RANK_ALPHA": "2"})
    with pytest.raises(ValueError, match="ROBUSTBOARD_REFRESH_SECONDS='soon' is not a number"):
        Settings.from_env({"ROBUSTBOARD_STORE": "x", "ROBUSTBOARD_REFRESH_SECONDS": "soon"})


def test_background_worker_scores_a_queued_submission_and_refreshes(
    store_copy, labels_frame, tmp_path, simulated_predictions
):
    board = board_for(store_copy, refresh_seconds=3600)
    board.start()
    try:
        path = tmp_path / "p.csv"
        simulated_predictions(labels_frame, 1.5, 11).to_csv(path, index=False)
        request = board.submit(
            str(path), release="mmlu@1.0.0", submitter="t", model={"name": "delta/queued", "type": "other"}
        )
        assert request["status"] == "PENDING"
        for _ in range(300):  # no timing assumption beyond a generous bound: poll the store
            if open_store(str(store_copy)).request(request["submission_id"])["status"] == "FINISHED":
                break
            time.sleep(0.1)
        for _ in range(100):  # the worker refreshes the snapshot right after scoring
            if "delta/queued" in set(board.snapshot().frames.runs["model"]):
                break
            time.sleep(0.05)
        assert "delta/queued" in set(board.snapshot().frames.runs["model"])
    finally:
        board.stop()
