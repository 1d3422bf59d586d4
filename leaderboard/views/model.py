"""Model tab: one result in detail (accuracy per slot and per task) and a paired two-model comparison."""

from __future__ import annotations

import html

import gradio as gr
import pandas as pd
import plotly.graph_objects as go

from leaderboard import analysis
from leaderboard.board import Board, Snapshot
from leaderboard.views import common

TASK_METRICS = (
    "accuracy",
    "clean_accuracy",
    "consistency",
    "worst_case_accuracy",
    "kappa",
    "pdr",
    "consistency_excess_independence",
)
_FAMILY_COLOURS = (
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#72b7b2",
    "#eeca3b",
    "#b279a2",
    "#ff9da6",
    "#9d755d",
    "#bab0ac",
)


def choices(snapshot: Snapshot, release: str | None = None) -> list[tuple[str, str]]:
    """(label, submission id) of every ranked result, best first within each release."""
    runs = snapshot.frames.runs
    if not len(runs):
        return []
    if release:
        runs = runs[runs["release"] == release]
    runs = runs.assign(rank=runs["submission_id"].map(snapshot.ranks)).sort_values(
        ["release", "rank", "model"],
        key=lambda s: s.map(analysis.release_sort_key) if s.name == "release" else s,
    )
    out = []
    for row in runs.itertuples():
        revision = f"@{row.revision}" if row.revision and row.revision != "main" else ""
        rank = "" if pd.isna(row.rank) else f"#{int(row.rank)} "
        out.append((f"{rank}{row.model}{revision} · {row.release}", row.submission_id))
    return out


def release_slot_order(snapshot: Snapshot, release: str) -> list[str]:
    """The release's own slot order (its manifest: original first, then as the release spec lists them)."""
    for entry in snapshot.releases:
        if f"{entry.get('name')}@{entry.get('version')}" == release:
            return [s.get("variant_id") for s in (entry.get("manifest") or {}).get("slots") or []]
    return []


def slot_figure(snapshot: Snapshot, sid: str) -> go.Figure:
    slots = snapshot.frames.slots
    mine = slots[slots["submission_id"] == sid].sort_values("position") if len(slots) else slots
    runs = snapshot.frames.runs.set_index("submission_id")
    order = release_slot_order(snapshot, runs.loc[sid, "release"]) if sid in runs.index else []
    if order and len(mine):
        rank = {slot: i for i, slot in enumerate(order)}
        mine = mine.assign(order=mine["variant_id"].map(rank).fillna(len(order))).sort_values(
            ["order", "position"]
        )
    fig = go.Figure()
    families = list(dict.fromkeys(mine["family"])) if len(mine) else []
    for index, family in enumerate(families):
        part = mine[mine["family"] == family]
        fig.add_trace(
            go.Bar(
                x=part["variant_id"].map(html.escape),
                y=part["accuracy"],
                name=html.escape(family or "(none)"),
                marker_color=_FAMILY_COLOURS[index % len(_FAMILY_COLOURS)],
                hovertemplate="%{x}<br>accuracy %{y:.3f}<extra>%{fullData.name}</extra>",
            )
        )
    run = (
        snapshot.frames.runs.set_index("submission_id").loc[sid]
        if sid in set(snapshot.frames.runs["submission_id"])
        else None
    )
    if run is not None:  # reference lines as legend entries (annotations would collide when close)
        for value, name, dash in (
            (run.get("accuracy"), "accuracy (mean over slots)", "solid"),
            (run.get("clean_accuracy"), "clean accuracy (original slot)", "dot"),
        ):
            if value is not None and pd.notna(value):
                fig.add_hline(
                    y=float(value),
                    line_dash=dash,
                    line_color="#333",
                    name=f"{name}: {float(value):.3f}",
                    showlegend=True,
                )
    fig.update_layout(
        yaxis={"title": "accuracy", "range": [0, 1.05]},
        xaxis={"title": "variant slot", "tickangle": -40},
        legend={"title": {"text": "slot family"}},
        margin={"l": 60, "r": 20, "t": 30, "b": 120},
        height=480,
        template="plotly_white",
        bargap=0.15,
    )
    return fig


def task_table(snapshot: Snapshot, sid: str) -> pd.DataFrame:
    tasks = snapshot.frames.tasks
    mine = tasks[tasks["submission_id"] == sid] if len(tasks) else tasks
    frame = pd.DataFrame({"task": mine["task"].astype(str) if len(mine) else []})
    for metric in TASK_METRICS:
        frame[analysis.metric_label(metric)] = (
            mine[metric].map(common.round_or_none).to_numpy() if metric in mine else None
        )
    return frame.sort_values("Accuracy", ascending=True, na_position="last") if len(frame) else frame


def family_table(snapshot: Snapshot, sid: str) -> pd.DataFrame:
    families = snapshot.frames.families
    mine = families[families["submission_id"] == sid] if len(families) else families
    frame = pd.DataFrame({"family": mine["family"].astype(str) if len(mine) else []})
    for metric in ("accuracy", "pdr", "cohens_h", "consistency", "worst_case_accuracy"):
        frame[analysis.metric_label(metric)] = (
            mine[metric].map(common.round_or_none).to_numpy() if metric in mine else None
        )
    return frame


def header(snapshot: Snapshot, sid: str) -> str:
    runs = snapshot.frames.runs.set_index("submission_id")
    if sid not in runs.index:
        return "Choose a result."
    row = runs.loc[sid]
    rank = snapshot.ranks.get(sid)
    text = common.escape_markdown
    size = f"{text(row['params_b'])} B" if pd.notna(row["params_b"]) else "size unknown"
    examples = int(row["n_examples"]) if pd.notna(row["n_examples"]) else "?"
    slots = int(row["n_slots"]) if pd.notna(row["n_slots"]) else "?"
    rank_text = "" if rank is None or pd.isna(rank) else int(rank)
    number = common.round_or_none
    return "\n\n".join(
        [
            f"### {common.markdown_link(row['model'], row['link'])}",
            f"{text(row['type'])} · {size} · revision {text(row['revision'] or 'main')} · "
            f"licence {text(row['license'] or 'not given')} · submitted by {text(row['submitter'])}",
            f"Release {text(row['release'])}: rank **{rank_text}**, "
            f"accuracy **{number(row.get('accuracy'))}** "
            f"(95% CI {common.interval_text(row.get('accuracy_lo'), row.get('accuracy_hi'))}), "
            f"consistency {number(row.get('consistency'))}, "
            f"worst-case {number(row.get('worst_case_accuracy'))}, "
            f"coverage {number(row.get('coverage'))}, {examples} examples × {slots} slots.",
        ]
    )


def model_outputs(board: Board, sid: str):
    snapshot = board.snapshot()
    return (
        header(snapshot, sid),
        slot_figure(snapshot, sid),
        common.table_value(task_table(snapshot, sid)),
        common.table_value(family_table(snapshot, sid)),
    )


COMPARE_COLUMNS = ["metric", "a", "b", "a − b", "95% CI of a − b", "p"]
COMPARE_METRICS = (
    "accuracy",
    "clean_accuracy",
    "worst_case_accuracy",
    "consistency",
    "correctness_agreement",
    "kappa",
    "pdr",
    "cohens_h",
    "cps",
    "spread",
)


def comparison_outputs(board: Board, sid_a: str, sid_b: str) -> tuple[str, dict]:
    """Paired tests of a against b (submissions.compare): aggregates and p-values only."""
    snapshot = board.snapshot()
    runs = snapshot.frames.runs.set_index("submission_id")
    empty = common.table_value(pd.DataFrame(columns=COMPARE_COLUMNS))
    if not sid_a or not sid_b or sid_a not in runs.index or sid_b not in runs.index:
        return "Choose two results on the same release.", empty
    if sid_a == sid_b:
        return "Choose two different results.", empty
    if runs.loc[sid_a, "release"] != runs.loc[sid_b, "release"]:
        return "Paired tests need two results on the same release version.", empty
    result = board.comparison(sid_a, sid_b)
    if result is None:
        return (
            "The per-example details of one of these results are not in the store: no paired test possible.",
            empty,
        )
    rows = []
    for key in COMPARE_METRICS:
        entry = result["metrics"].get(key)
        if entry is None:
            continue
        rows.append(
            {
                "metric": analysis.metric_label(key),
                "a": common.round_or_none(entry["a"]),
                "b": common.round_or_none(entry["b"]),
                "a − b": common.round_or_none(entry["difference"]),
                "95% CI of a − b": common.interval_text(*entry["ci"]),
                "p": common.p_text(entry["p_value"]),
            }
        )
    sign = result["metrics"]["accuracy"]["sign_test"]
    name_a, name_b = (common.escape_markdown(runs.loc[s, "model"]) for s in (sid_a, sid_b))
    lines = [
        f"**a** = {name_a}, **b** = {name_b} on {common.escape_markdown(runs.loc[sid_a, 'release'])} "
        f"({result['n_examples']} examples × {result['n_slots']} slots).",
        f"Accuracy, exact paired sign test over examples: a better on {sign['a_better']}, b better on "
        f"{sign['b_better']} examples, p = {common.p_text(sign['p_value'])}.",
    ]
    mcnemar = result.get("mcnemar_original")
    if mcnemar:
        lines.append(
            f"Original slot, exact McNemar: a right / b wrong {mcnemar['a_right_b_wrong']}, "
            f"a wrong / b right {mcnemar['a_wrong_b_right']}, p = {common.p_text(mcnemar['p_value'])}."
        )
    lines.append(
        f"Other metrics: paired percentile bootstrap over examples ({result['n_resamples']} resamples); "
        "p is the two-sided bootstrap p-value."
    )
    return "\n\n".join(lines), common.table_value(pd.DataFrame(rows))


def build(board: Board, demo: gr.Blocks) -> None:
    snapshot = board.snapshot()
    options = choices(snapshot)
    first = options[0][1] if options else None
    model = gr.Dropdown(options, value=first, label="Result (model · release)")
    title = gr.Markdown()
    slots = gr.Plot(label="Accuracy per variant slot: which perturbations hurt")
    with gr.Row():
        with gr.Column(scale=3):
            gr.Markdown("**Per task** (lowest accuracy first)")
            tasks = gr.Dataframe(interactive=False, latex_delimiters=[], show_label=False, max_height=420)
        with gr.Column(scale=2):
            gr.Markdown("**Per perturbation family** (original slot plus the family's slots)")
            families = gr.Dataframe(interactive=False, latex_delimiters=[], show_label=False, max_height=420)
    gr.Markdown("### Compare with another model (paired tests on the same examples)")
    with gr.Row(equal_height=False):
        other = gr.Dropdown([], label="Other result (same release)", scale=4)
        compare_button = gr.Button("Compare", variant="primary", scale=0, min_width=160, size="md")
    comparison_text = gr.Markdown()
    comparison = gr.Dataframe(
        value=common.table_value(pd.DataFrame(columns=COMPARE_COLUMNS)),
        interactive=False,
        latex_delimiters=[],
        show_label=False,
    )

    def show(submission: str):
        """One result: header, accuracy per slot, per-task and per-family tables, comparable results."""
        sid = submission
        current = board.snapshot()
        runs = current.frames.runs.set_index("submission_id")
        release = runs.loc[sid, "release"] if sid in runs.index else None
        others = [c for c in choices(current, release) if c[1] != sid] if release else []
        return (
            *model_outputs(board, sid),
            gr.Dropdown(choices=others, value=others[0][1] if others else None),
        )

    model.change(show, model, [title, slots, tasks, families, other], api_name="model")

    def paired(a: str, b: str):
        """Paired tests of result a against result b (same release): summary and per-metric table."""
        return comparison_outputs(board, a, b)

    compare_button.click(
        paired,
        [model, other],
        [comparison_text, comparison],
        api_name="compare",
    )

    def refresh(current):
        options_now = choices(board.snapshot())
        ids = [sid for _, sid in options_now]
        return gr.Dropdown(
            choices=options_now, value=current if current in ids else (ids[0] if ids else None)
        )

    demo.load(refresh, model, model, api_visibility="private").then(
        show, model, [title, slots, tasks, families, other], api_visibility="private"
    )
