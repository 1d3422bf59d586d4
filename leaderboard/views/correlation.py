"""Correlation tab: does robustness follow accuracy? Scatter with the trivial-robustness curve and a
fitted line, the correlation table, the variance decomposition and the partial correlations."""

from __future__ import annotations

import html
import json
import time

import gradio as gr
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from leaderboard import analysis
from leaderboard.board import Board, CorrelationView
from leaderboard.views import common

Y_METRICS = (
    "consistency",
    "correctness_agreement",
    "worst_case_accuracy",
    "kappa",
    "pdr",
    "cohens_h",
    "spread",
    "consistency_excess_independence",
    "consistency_excess_difficulty",
    "correctness_agreement_excess_independence",
    "kappa_excess_independence",
    "worst_case_accuracy_excess_independence",
)
UNITS = ("model×task", "model")
SCOPES = ("per task", "per model")
COLOURS = ("model", "task")
# Above this many colour groups a legend is useless: one trace, colours cycled, names on hover.
_LEGEND_GROUPS = 20
_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


# Stepwise colour scale: code c in 0..9 (cmin 0, cmax 9) falls in band c and gets _PALETTE[c].
_CYCLIC_SCALE = [
    [min(1.0, (index + edge) / len(_PALETTE)), colour]
    for index, colour in enumerate(_PALETTE)
    for edge in (0, 1)
]


def curve_formula(metric: str, view: CorrelationView) -> str:
    d = view.distractor_factor
    return {
        "correctness_agreement": "p² + (1 − p)²",
        "consistency": f"p² + (1 − p)²·d, d = mean 1/(options − 1) = {d:.3f}",
        "worst_case_accuracy": f"p^k, k = {view.n_slots} slots",
    }.get(metric, "0 (no effect beyond independent slots)")


def figure(view: CorrelationView, metric: str, unit: str, colour: str) -> go.Figure:
    points = view.points
    label = analysis.metric_label(metric)
    fig = go.Figure()
    key = colour if unit != "model" else "model"
    groups = points[key].astype(str) if len(points) else pd.Series(dtype=str)
    # plotly renders a small HTML subset in hover text and legends: names go in as escaped text
    text = (points["model"].astype(str) + " · " + points["task"].astype(str)).map(html.escape)
    template = "%{text}<br>accuracy %{x:.3f}<br>" + label + " %{y:.3f}<extra></extra>"
    names = sorted(groups.unique())
    if len(names) <= _LEGEND_GROUPS:
        for index, name in enumerate(names):
            mask = (groups == name).to_numpy()
            fig.add_trace(
                go.Scatter(
                    x=points["x"][mask],
                    y=points["y"][mask],
                    mode="markers",
                    name=_plain(name),
                    text=text[mask],
                    hovertemplate=template,
                    marker={"size": 8, "opacity": 0.8, "color": _PALETTE[index % len(_PALETTE)]},
                )
            )
    elif len(points):
        codes = pd.Categorical(groups, categories=names).codes
        fig.add_trace(
            go.Scatter(
                x=points["x"],
                y=points["y"],
                mode="markers",
                name=f"{len(points)} points ({len(names)} {key}s)",
                text=text,
                hovertemplate=template,
                # numeric codes on a stepwise cyclic colour scale: plotly validates a numeric array at
                # once, where 30,000 colour strings cost it seconds
                marker={
                    "size": 5,
                    "opacity": 0.6,
                    "color": (codes % len(_PALETTE)).astype(float),
                    "colorscale": _CYCLIC_SCALE,
                    "cmin": 0,
                    "cmax": len(_PALETTE) - 1,
                },
            )
        )
    grid = np.linspace(0, 1, 101)
    curve = analysis.trivial_curve(metric, grid, n_slots=view.n_slots, n_options=0)
    if metric == "consistency":  # use the release's own chance term rather than a nominal option count
        curve = grid**2 + (1 - grid) ** 2 * view.distractor_factor
    if curve is not None:
        fig.add_trace(
            go.Scatter(
                x=grid,
                y=curve,
                mode="lines",
                name=f"trivial robustness: {curve_formula(metric, view)}",
                line={"dash": "dash", "color": "#444"},
                hoverinfo="skip",
            )
        )
    line = analysis.fitted_line(points["x"].to_numpy(), points["y"].to_numpy()) if len(points) else None
    if line is not None:
        slope, intercept = line
        xs = np.array([points["x"].min(), points["x"].max()])
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=slope * xs + intercept,
                mode="lines",
                name=f"least-squares fit (slope {slope:.3f})",
                line={"color": "#d62728", "width": 2},
                hoverinfo="skip",
            )
        )
    fig.update_layout(
        xaxis={"title": "accuracy (AvgP)", "range": [-0.02, 1.02]},
        yaxis={"title": label},
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 60, "r": 20, "t": 30, "b": 40},
        height=560,
        template="plotly_white",
    )
    return fig


def _plain(name: str) -> str:
    return html.escape(name)


def table_display(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "scope": table["scope"],
            "group": table["group"].astype(str),
            "n": table["n"],
            "Pearson r": table["pearson_r"].map(common.round_or_none),
            "r 95% CI (Fisher z)": [
                common.interval_text(a, b)
                for a, b in zip(table["pearson_lo"], table["pearson_hi"], strict=True)
            ],
            "p (r)": table["pearson_p"].map(common.p_text),
            "Spearman ρ": table["spearman_rho"].map(common.round_or_none),
            "ρ 95% CI": [
                common.interval_text(a, b)
                for a, b in zip(table["spearman_lo"], table["spearman_hi"], strict=True)
            ],
            "p (ρ)": table["spearman_p"].map(common.p_text),
            "Kendall τ": table["kendall_tau"].map(common.round_or_none),
            "τ 95% CI": [
                common.interval_text(a, b)
                for a, b in zip(table["kendall_lo"], table["kendall_hi"], strict=True)
            ],
            "p (τ)": table["kendall_p"].map(common.p_text),
            "ρ, τ CI method": table["ci_method"],
        }
    )


def decomposition_display(table: pd.DataFrame) -> pd.DataFrame:
    if not len(table):
        return pd.DataFrame(columns=["term", "df", "alone", "sequential", "unique"])
    return pd.DataFrame(
        {
            "term": table["term"],
            "df": table["df"].map(lambda v: None if pd.isna(v) else int(v)),
            "alone": table["alone"].map(common.round_or_none),
            "sequential": table["sequential"].map(common.round_or_none),
            "unique": table["unique"].map(common.round_or_none),
        }
    )


def partial_display(table: pd.DataFrame) -> pd.DataFrame:
    if not len(table):
        return pd.DataFrame(columns=["controlling for", "partial r", "95% CI", "p", "n", "k"])
    return pd.DataFrame(
        {
            "controlling for": table["control"],
            "partial r": table["r"].map(common.round_or_none),
            "95% CI": [common.interval_text(a, b) for a, b in zip(table["lo"], table["hi"], strict=True)],
            "p": table["p"].map(common.p_text),
            "n": table["n"],
            "k": table["k"],
        }
    )


def summary(view: CorrelationView, metric: str, unit: str, release: str, seconds: float) -> str:
    label = common.escape_markdown(analysis.metric_label(metric))
    points = view.points
    if not len(points):
        return f"No {unit} points with both accuracy and {label} in {common.escape_markdown(release)}."
    pooled = view.table.iloc[0]
    lines = [
        f"**{len(points)}** points ({points['model'].nunique()} models × "
        f"{points['task'].nunique()} tasks) of "
        f"{common.escape_markdown(release)}: pooled Pearson r = {common.round_or_none(pooled['pearson_r'])}, "
        f"Spearman ρ = {common.round_or_none(pooled['spearman_rho'])}, "
        f"Kendall τ = {common.round_or_none(pooled['kendall_tau'])}.",
        f"Dashed: {label} expected if every slot answered independently at accuracy p — "
        f"{common.escape_markdown(curve_formula(metric, view))}. Points above it are robust beyond what "
        "accuracy alone implies.",
    ]
    decomposition = view.decomposition
    if len(decomposition):
        shares = decomposition.set_index("term")
        lines.append(
            f"Unique shares of the variance of {label}: task {shares.loc['task', 'unique']:.1%}, model "
            f"{shares.loc['model', 'unique']:.1%}, accuracy {shares.loc['accuracy', 'unique']:.1%} "
            f"(shared {shares.loc['shared', 'unique']:.1%}, residual {shares.loc['residual', 'unique']:.1%})."
        )
    lines.append(
        f"Computed in {view.seconds:.2f} s (this update {seconds:.2f} s; cached until the results change)."
        if view.intervals
        else "Bootstrap CIs of ρ and τ are being computed; the table fills them in shortly."
    )
    return "\n\n".join(lines)


def _view(board: Board, release: str, metric: str, unit: str, scope: str, intervals: bool):
    snapshot = board.snapshot()
    release = release or snapshot.default_release() or ""
    metric = metric if metric in Y_METRICS else "consistency"
    unit = unit if unit in UNITS else UNITS[0]
    scopes = (scope,) if scope in SCOPES else ("per task",)
    return (
        release,
        metric,
        unit,
        board.correlation(snapshot, release, metric, unit, scopes, intervals=intervals),
    )


def outputs_for(
    board: Board, release: str, metric: str, unit: str, colour: str, scope: str, *, intervals: bool = True
):
    """Everything the tab shows for one choice: figure, summary, correlation table, decomposition,
    partial correlations. `intervals=False` is the tab's fast first step (see Board.correlation)."""
    started = time.perf_counter()
    release, metric, unit, view = _view(board, release, metric, unit, scope, intervals)
    fig = figure(view, metric, unit, colour if colour in COLOURS else "model")
    elapsed = time.perf_counter() - started
    return (
        fig,
        summary(view, metric, unit, release, elapsed),
        common.table_value(table_display(view.table)),
        common.table_value(decomposition_display(view.decomposition)),
        common.table_value(partial_display(view.partial)),
    )


def interval_outputs(board: Board, release: str, metric: str, unit: str, scope: str):
    """The tab's second step: the same view with the bootstrap CIs (summary and table only)."""
    started = time.perf_counter()
    release, metric, unit, view = _view(board, release, metric, unit, scope, True)
    elapsed = time.perf_counter() - started
    return summary(view, metric, unit, release, elapsed), common.table_value(table_display(view.table))


def warm_plotly() -> None:
    """Plotly loads and validates a template the first time one is used (~0.5 s): do it at build time,
    not on the first visitor's update."""
    go.Figure(layout={"template": "plotly_white"})


def build(board: Board, demo: gr.Blocks) -> None:
    warm_plotly()
    snapshot = board.snapshot()
    releases = analysis.latest_releases(snapshot.frames.releases) + [
        r
        for r in reversed(snapshot.frames.releases)
        if r not in analysis.latest_releases(snapshot.frames.releases)
    ]
    default = (
        snapshot.default_release()
        if snapshot.default_release() in releases
        else (releases[0] if releases else None)
    )
    with gr.Row(equal_height=True):
        release = gr.Dropdown(releases, value=default, label="Release", scale=2)
        metric = gr.Dropdown(
            common.metric_choices(Y_METRICS), value="consistency", label="Robustness metric (y)", scale=2
        )
        unit = gr.Radio(list(UNITS), value=UNITS[0], label="Points", scale=1)
        colour = gr.Radio(list(COLOURS), value="model", label="Colour by", scale=1)
    with gr.Row():
        with gr.Column(scale=3):
            plot = gr.Plot(label="Accuracy vs robustness", elem_id="correlation-plot")
        with gr.Column(scale=2):
            summary_box = gr.Markdown(elem_id="correlation-summary", label="summary")
    with gr.Row():
        with gr.Column():
            gr.Markdown(
                "**Variance decomposition** of the robustness metric over model × task points: shares of its "
                "variance explained by each term *alone*, *sequentially* (task → model → accuracy) and "
                "*uniquely* (type II; see About)."
            )
            decomposition = gr.Dataframe(
                interactive=False, latex_delimiters=[], show_label=False, elem_id="correlation-decomposition"
            )
        with gr.Column():
            gr.Markdown(
                "**Partial correlation** of robustness with accuracy after removing task and/or model "
                "effects (k = control dummies)."
            )
            partial = gr.Dataframe(
                interactive=False, latex_delimiters=[], show_label=False, elem_id="correlation-partial"
            )
    scope = gr.Radio(list(SCOPES), value="per task", label="Correlation table rows (after the pooled row)")
    table = gr.Dataframe(
        interactive=False,
        latex_delimiters=[],
        show_label=False,
        max_height=480,
        pinned_columns=2,
        elem_id="correlation-table",
    )
    inputs = [release, metric, unit, colour, scope]
    outputs = [plot, summary_box, table, decomposition, partial]

    def update(*values):
        return outputs_for(board, *values, intervals=False)

    def fill_intervals(release, metric, points, colour_by, table_rows):
        return interval_outputs(board, release, metric, points, table_rows)

    gr.on(
        [release.change, metric.change, unit.change, colour.change, scope.change],
        update,
        inputs,
        outputs,
        api_visibility="private",
        trigger_mode="always_last",
        show_progress="minimal",
    ).then(fill_intervals, inputs, [summary_box, table], api_visibility="private", show_progress="hidden")

    def correlation_api(
        release: str = "",
        metric: str = "consistency",
        points: str = UNITS[0],
        colour_by: str = "model",
        table_rows: str = "per task",
    ) -> dict:
        """Accuracy (x) against a robustness metric (y) on one release: the plotly figure (JSON), a
        summary, the correlation table (pooled, then per task or per model; Pearson r with Fisher CI,
        Spearman ρ and Kendall τ with bootstrap CIs, p-values, n), the variance decomposition and the
        partial correlations, as JSON records."""
        release, metric, unit, view = _view(board, release, metric, points, table_rows, True)
        fig = figure(view, metric, unit, colour_by if colour_by in COLOURS else "model")
        return {
            "release": release,
            "metric": metric,
            "points": unit,
            "summary": summary(view, metric, unit, release, view.seconds),
            "table": analysis.table_to_records(view.table),
            "decomposition": analysis.table_to_records(view.decomposition),
            "partial": analysis.table_to_records(view.partial),
            "n_slots": view.n_slots,
            "distractor_factor": view.distractor_factor,
            "figure": json.loads(fig.to_json()),
        }

    gr.api(correlation_api, api_name="correlation")

    def refresh(current):
        current_snapshot = board.snapshot()
        latest = analysis.latest_releases(current_snapshot.frames.releases)
        choices = latest + [r for r in reversed(current_snapshot.frames.releases) if r not in latest]
        value = (
            current
            if current in choices
            else (current_snapshot.default_release() or (choices[0] if choices else None))
        )
        return gr.Dropdown(choices=choices, value=value)

    demo.load(refresh, release, release, api_visibility="private").then(
        update, inputs, outputs, api_visibility="private"
    ).then(fill_intervals, inputs, [summary_box, table], api_visibility="private", show_progress="hidden")
