"""The tabs' handlers: safe rendering of submitted text, downloads, submissions, comparisons, datasets."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from leaderboard import analysis
from leaderboard.board import Board, Settings, Snapshot
from leaderboard.views import common, correlation, datasets, leaderboard, model, submit


def board_for(path) -> Board:
    return Board.open(Settings.from_env({}, store=str(path)))


# ------------------------------------------------------------------------------------ safe text


@pytest.mark.parametrize(
    ("text", "forbidden"),
    [
        ("<script>alert(1)</script>", "<script"),
        ("<img src=x onerror=alert(1)>", "<img"),
        ("[click](javascript:alert(1))", "](javascript"),
        ("**bold** _it_ `code` $x$", "**bold**"),
        ("| a | b |", "| a |"),
    ],
)
def test_submitted_text_is_escaped_for_markdown_and_html(text, forbidden):
    escaped = common.escape_markdown(text)
    assert forbidden not in escaped
    assert "\n" not in common.escape_markdown("line one\nline two\r\n# heading")


def test_only_http_links_survive_and_cannot_break_out_of_the_link():
    assert common.safe_url("https://huggingface.co/org/m") == "https://huggingface.co/org/m"
    for bad in (
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,x",
        "ftp://x.org/f",
        "//x.org",
        "https://",
        "https://x.org/a b",
        None,
        3,
    ):
        assert common.safe_url(bad) is None
    tricky = common.safe_url("https://x.org/a)[y](javascript:z")
    assert tricky is not None and "(" not in tricky and ")" not in tricky
    assert common.markdown_link("org/m", "javascript:alert(1)") == "org/m"
    assert common.markdown_link("org/m", "https://x.org") == "[org/m](https://x.org)"


def test_leaderboard_cells_show_submitted_text_as_text(make_record):
    records = [
        make_record("s1", "org/m", link="javascript:alert(1)", license_="<b>x</b>", submitter="[a](b)")
    ]
    frames = analysis.load_results(records)
    snapshot = Snapshot(frames, {"s1": 1.0}, (), "f", 0.0)
    query = analysis.TableQuery(columns=("license", "submitter"))
    rendered = leaderboard.render(snapshot, query)
    row = rendered.display.iloc[0]
    assert row["Model"] == "org/m"  # no link for a javascript: URL
    assert (
        row["Licence"] == "<b>x</b>"
        and rendered.datatypes[list(rendered.display.columns).index("Licence")] == "str"
    )
    assert rendered.datatypes[list(rendered.display.columns).index("Model")] == "markdown"


def test_downloads_hold_exactly_the_shown_rows_and_columns(make_record):
    records = [
        make_record("s1", "org/a", accuracy=0.8, submitter='=HYPERLINK("x")'),
        make_record("s2", "org/b", accuracy=0.6, model_type="baseline"),
    ]
    snapshot = Snapshot(analysis.load_results(records), {"s1": 1.0, "s2": 2.0}, (), "f", 0.0)
    query = leaderboard.query_from(
        analysis.LATEST,
        ["pretrained"],
        100,
        True,
        "",
        ["accuracy_ci", "submitter"],
        [],
        [],
        "accuracy",
        "rank",
        False,
    )
    rendered = leaderboard.render(snapshot, query)
    csv_path, json_path = leaderboard.downloads(rendered)
    shown = pd.read_csv(csv_path)
    assert shown["model"].tolist() == ["org/a"] and "link" in shown and "submitter" in shown
    assert shown.loc[0, "submitter"].startswith("'=")
    rows = json.loads(Path(json_path).read_text("utf-8"))
    assert [r["model"] for r in rows] == ["org/a"] and rows[0]["submitter"] == '=HYPERLINK("x")'


def test_reverse_flips_the_natural_order():
    assert (
        leaderboard.query_from("x", None, None, True, "", [], [], [], "accuracy", "rank", True).descending
        is True
    )
    assert (
        leaderboard.query_from("x", None, None, True, "", [], [], [], "accuracy", "pdr", True).descending
        is True
    )
    assert (
        leaderboard.query_from("x", None, None, True, "", [], [], [], "accuracy", "kappa", True).descending
        is False
    )
    assert (
        leaderboard.query_from(
            "x", None, 5, True, "", [], [], [], "accuracy", "rank", False, size_ceiling=5
        ).max_params_b
        is None
    )  # slider at its end: no limit


# ------------------------------------------------------------------------------- real-store views


def test_correlation_outputs_overlay_the_trivial_curve_and_the_fit(scored_store):
    board = board_for(scored_store["path"])
    fig, text, table, decomposition, partial = correlation.outputs_for(
        board, scored_store["release"], "consistency", "model×task", "task", "per model"
    )
    names = [trace.name for trace in fig.data]
    assert any(
        name.startswith("trivial robustness: p² + (1 − p)²·d, d = mean 1/(options − 1) = 0.333")
        for name in names
    )
    assert any(name.startswith("least-squares fit") for name in names)
    assert sum(len(trace.x) for trace in fig.data if trace.mode == "markers") == 20
    assert table["data"][0][:3] == ["pooled", "all points", 20]
    assert [row[0] for row in table["data"][1:]] == ["per model"] * 4
    assert [row[0] for row in decomposition["data"]] == [
        "task",
        "model",
        "accuracy",
        "shared",
        "residual",
        "total",
    ]
    assert [row[0] for row in partial["data"]] == ["none", "task", "model", "task + model"]
    assert "20" in text and "Unique shares" in text
    kappa_fig = correlation.outputs_for(
        board, scored_store["release"], "kappa", "model", "model", "per task"
    )[0]
    curve = next(t for t in kappa_fig.data if t.name.startswith("trivial"))
    assert not any(curve.y)  # κ of independent slots is 0


def test_model_view_and_paired_comparison(scored_store):
    board = board_for(scored_store["path"])
    ids = scored_store["ids"]
    title, fig, tasks, families = model.model_outputs(board, ids["acme/strong-70b"])
    assert "acme/strong-70b" in title and "rank **1**" in title
    # bars in the release's slot order (its manifest), coloured by family
    assert [t.name for t in fig.data if t.type == "bar"] == [
        "original",
        "typos",
        "enumerator",
        "choice_order",
    ]
    assert list(fig.data[0].x) + list(fig.data[1].x) == ["original", "typos-p0.05-r1"]
    assert len(tasks["data"]) == 5 and len(families["data"]) == 4
    text, table = model.comparison_outputs(board, ids["acme/middle-13b"], ids["beta/middle-12b"])
    assert "exact paired sign test" in text and "a better on 32, b better on 24" in text
    accuracy = next(row for row in table["data"] if row[0] == "Accuracy")
    assert accuracy[1] > accuracy[2] and accuracy[4]  # a, b and a CI of the difference
    assert model.comparison_outputs(board, ids["acme/middle-13b"], ids["acme/middle-13b"])[0].startswith(
        "Choose two different"
    )


def test_submit_lists_every_problem_row_by_row_and_records_nothing(store_copy, tmp_path):
    board = board_for(store_copy)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "example_id,variant_id,prediction\nmmlu-0,original,A\nmmlu-0,original,B\nnope,original,C\n"
        "mmlu-1,no-such-slot,D\n",
        "utf-8",
    )
    before = len(board.requests())
    text, sid, problems, _ = submit.submit(
        board, str(bad), "mmlu@1.0.0", "org/model", "", "7", "pretrained", "https://x.org", "mit", "me"
    )
    assert sid == "" and text.startswith("Nothing submitted: **")
    assert len(problems["data"]) >= 3  # duplicate, unknown example, unknown slot (and what is missing)
    assert all(len(row) == 2 and row[0] and row[1] for row in problems["data"])
    assert len(board.requests()) == before
    text, sid, problems, _ = submit.submit(
        board, str(bad), "mmlu@1.0.0", "no slash", "", "lots", "alien", "javascript:alert(1)", "", ""
    )
    fields = {row[0] for row in problems["data"]}
    assert {"field name", "field params_b", "field type", "field link", "field submitter"} <= fields
    assert submit.submit(board, None, "mmlu@1.0.0", "a/b", "", "", "other", "", "", "me")[2]["data"] == [
        ["file", "upload a predictions file (.jsonl, .csv or .parquet)"]
    ]


def test_a_valid_submission_gets_an_id_and_a_queue_row(
    store_copy, labels_frame, tmp_path, simulated_predictions
):
    board = board_for(store_copy)
    path = tmp_path / "good.jsonl"
    simulated_predictions(labels_frame, 0.5, 5).to_json(path, orient="records", lines=True)
    text, sid, problems, queue = submit.submit(
        board, str(path), "mmlu@1.0.0", "org/fresh", "", "", "other", "", "", "me"
    )
    assert len(sid) == 16 and f"`{sid}`" in text and "PENDING" in text and problems["data"] == []
    assert queue["data"][0][:4] == [sid, "org/fresh", "mmlu@1.0.0", "PENDING"]
    board.store.run_pending(n_resamples=100)
    board.invalidate()
    status, final = submit.status_text(board, sid)
    assert final and "FINISHED" in status and "rank" in status and "of 5 on mmlu@1\\.0\\.0" in status


def test_datasets_tab_shows_public_facts_only(scored_store, release_dirs):
    board = board_for(scored_store["path"])
    snapshot = board.snapshot()
    table = datasets.releases_table(snapshot)
    counts = json.loads((release_dirs["public"] / "manifest.json").read_text("utf-8"))["counts"]
    assert table.iloc[0][["release", "version", "examples", "slots", "tasks", "results"]].tolist() == [
        "mmlu",
        "1.0.0",
        counts["examples"],
        4,
        5,
        4,
    ]
    text, code, slots, citation = datasets.details(board, snapshot, "mmlu@1.0.0")
    assert str(release_dirs["labels"]) not in text + code
    assert f"load_dataset({str(release_dirs['public'])!r}, config, split='test')" in code
    assert [row[0] for row in slots["data"]] == [
        "original",
        "typos-p0.05-r1",
        "enumerator-roman",
        "choice-order-reversed",
    ]
    assert "Changelog" in text and "hendryckstest2021" in citation
    hub_entry = {**snapshot.releases[0], "public": "hf://acme/mmlu-robust@v1.0.0"}
    assert "load_dataset('acme/mmlu-robust', config, split='test', revision='v1.0.0')" in datasets.snippet(
        hub_entry
    )


def test_number_formatting_helpers():
    assert common.round_or_none(math.nan) is None and common.round_or_none(0.12345) == 0.123
    assert common.interval_text(0.1, None) == "" and common.interval_text(0.1, 0.2) == "0.100 – 0.200"
    assert (
        common.p_text(0.0) == "< 1e-300"
        and common.p_text(0.00012) == "1.2e-04"
        and common.p_text(0.5) == "0.500"
    )
