"""Leaderboard tab: the ranked table with filters, column choice, sort, search and downloads."""

from __future__ import annotations

import json
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from leaderboard import analysis
from leaderboard.board import Board, Snapshot
from leaderboard.views import common
from submissions.validation import MODEL_TYPES

EXTRA_CHOICES = ("accuracy_ci", *analysis.BASE_COLUMNS[1:], *analysis.OPTIONAL_COLUMNS)
DEFAULT_COLUMNS = ("accuracy_ci", *analysis.BASE_COLUMNS[1:])
NUMBER_COLUMNS_TEXT = {"revision", "license", "submitter", "scored_at", "submission_id", "accuracy_ci"}
BREAKDOWN_METRICS = (
    "accuracy",
    "consistency",
    "worst_case_accuracy",
    "kappa",
    "pdr",
    "consistency_excess_independence",
)
SORT_FIXED = ("rank", "model", "params_b", "accuracy")


@dataclass(frozen=True)
class Rendered:
    table: pd.DataFrame  # the raw shown table (downloads)
    display: pd.DataFrame  # what the Dataframe shows
    datatypes: list[str]
    summary: str


def query_from(
    release: str,
    types: list[str] | None,
    max_size: float | None,
    include_unknown: bool,
    search: str,
    columns: list[str] | None,
    tasks: list[str] | None,
    families: list[str] | None,
    breakdown: str,
    sort_by: str,
    reverse: bool,
    *,
    size_ceiling: float | None = None,
) -> analysis.TableQuery:
    """The reader's widget values as a query. The size slider at its maximum means "no size limit"."""
    metric_columns = tuple(c for c in (columns or []) if c != "accuracy_ci")
    size = (
        None
        if max_size is None or (size_ceiling is not None and max_size >= size_ceiling)
        else float(max_size)
    )
    sort_column = sort_by or "rank"
    descending = None
    if reverse:
        descending = not analysis.natural_descending(sort_column, breakdown or "accuracy")
    return analysis.TableQuery(
        release=release or analysis.LATEST,
        types=tuple(types) if types is not None else None,
        max_params_b=size,
        include_unknown_size=bool(include_unknown),
        search=search or "",
        columns=metric_columns,
        task_columns=tuple(tasks or ()),
        family_columns=tuple(families or ()),
        breakdown_metric=breakdown or "accuracy",
        sort_by=sort_column,
        descending=descending,
    )


def render(
    snapshot: Snapshot, query: analysis.TableQuery, *, alpha: float = 0.05, show_accuracy_ci: bool = True
) -> Rendered:
    table = analysis.leaderboard_table(snapshot.frames, snapshot.ranks, query)
    display = pd.DataFrame(index=table.index)
    datatypes = []

    def add(label: str, values, datatype: str) -> None:
        display[label] = values
        datatypes.append(datatype)

    add("Rank", table["rank"].map(lambda r: None if pd.isna(r) else int(r)), "number")
    add(
        "Model",
        [common.markdown_link(m, u) for m, u in zip(table["model"], table["link"], strict=True)],
        "markdown",
    )
    add("Type", table["type"], "str")
    add("Size (B)", table["params_b"].map(common.round_or_none), "number")
    add("Release", table["release"], "str")
    add("Accuracy", table["accuracy"].map(common.round_or_none), "number")
    if show_accuracy_ci:
        intervals = [
            common.interval_text(lo, hi)
            for lo, hi in zip(table["accuracy_lo"], table["accuracy_hi"], strict=True)
        ]
        add("Accuracy 95% CI", intervals, "str")
    for column in table.columns[9:]:
        if column in NUMBER_COLUMNS_TEXT:
            add(common.column_label(column), table[column].astype(str), "str")
        else:
            add(common.column_label(column), table[column].map(common.round_or_none), "number")
    total = len(snapshot.frames.runs)
    releases = analysis.select_releases(snapshot.frames.runs["release"], query.release) if total else []
    summary = (
        f"Showing **{len(table)}** of {total} results "
        f"({', '.join(map(common.escape_markdown, releases)) or 'no release'}). "
        f"Rank = tie group within a release: a model shares the rank of the best model that the exact "
        f"paired sign test on per-example accuracy does not separate from it (α = "
        f"{alpha:g}); see About."
    )
    return Rendered(table, display, datatypes, summary)


def downloads(rendered: Rendered) -> tuple[str, str]:
    """CSV (formula-looking text neutralised) and JSON files of exactly the shown rows and columns."""
    table = rendered.table
    csv_path = common.download_path(analysis.table_to_csv(table), "leaderboard", ".csv")
    text = json.dumps(analysis.table_to_records(table), ensure_ascii=False, indent=1, allow_nan=False)
    json_path = common.download_path(text + "\n", "leaderboard", ".json")
    return csv_path, json_path


def _size_ceiling(snapshot: Snapshot) -> float:
    """The slider's end, "no limit": the largest size rounded up to 1, 3, 10, 30, 100, ... billions
    (a stable bound, so API callers can rely on it while sizes grow within the same step)."""
    sizes = snapshot.frames.runs["params_b"].dropna() if len(snapshot.frames.runs) else pd.Series(dtype=float)
    largest = float(sizes.max()) if len(sizes) else 0.0
    ceiling = 1.0
    while ceiling < largest:
        ceiling *= 3 if str(int(ceiling)).startswith("1") else 10 / 3
        ceiling = round(ceiling)
    return float(ceiling)


def _names(snapshot: Snapshot, frame: pd.DataFrame, key: str) -> list[str]:
    return sorted(frame[key].dropna().unique().tolist()) if len(frame) and key in frame else []


def build(board: Board, demo: gr.Blocks) -> None:
    snapshot = board.snapshot()
    ceiling = _size_ceiling(snapshot)
    release_choices = [analysis.LATEST, analysis.ALL, *snapshot.release_choices()]
    default_release = snapshot.default_release() or analysis.LATEST
    with gr.Row(equal_height=True):
        search = gr.Textbox(
            label="Search", placeholder="model, type or submitter", scale=2, submit_btn="Search"
        )
        release = gr.Dropdown(release_choices, value=default_release, label="Release version", scale=2)
        size = gr.Slider(
            0,
            ceiling,
            value=ceiling,
            step=0.1,
            label="Max size (B parameters; the end means no limit)",
            scale=2,
        )
        unknown = gr.Checkbox(value=True, label="Include unknown size", scale=1)
    types = gr.CheckboxGroup(list(MODEL_TYPES), value=list(MODEL_TYPES), label="Model type")
    with gr.Accordion("Columns and sorting", open=False):
        columns = gr.CheckboxGroup(
            [(common.column_label(c), c) for c in EXTRA_CHOICES], value=list(DEFAULT_COLUMNS), label="Columns"
        )
        breakdown = gr.Dropdown(
            common.metric_choices(BREAKDOWN_METRICS),
            value="accuracy",
            label="Metric of the per-task / per-family columns",
        )
        tasks = gr.CheckboxGroup(
            _names(snapshot, snapshot.frames.tasks, "task"), value=[], label="Per-task columns"
        )
        families = gr.CheckboxGroup(
            _names(snapshot, snapshot.frames.families, "family"), value=[], label="Per-family columns"
        )
        with gr.Row():
            sort_by = gr.Dropdown(_sort_choices([]), value="rank", label="Sort by", scale=3)
            reverse = gr.Checkbox(value=False, label="Reverse order", scale=1)
    inputs = [release, types, size, unknown, search, columns, tasks, families, breakdown, sort_by, reverse]
    first = render(
        snapshot,
        query_from(
            default_release,
            list(MODEL_TYPES),
            ceiling,
            True,
            "",
            list(DEFAULT_COLUMNS),
            [],
            [],
            "accuracy",
            "rank",
            False,
            size_ceiling=ceiling,
        ),
        alpha=board.settings.rank_alpha,
    )
    summary = gr.Markdown(first.summary, label="summary")
    table = gr.Dataframe(
        value=common.table_value(first.display),
        datatype=first.datatypes,
        interactive=False,
        pinned_columns=2,
        max_height=640,
        wrap=False,
        latex_delimiters=[],
        elem_id="leaderboard-table",
        label="Leaderboard",
        show_label=False,
    )
    csv_path, json_path = downloads(first)
    with gr.Row():
        csv_button = gr.DownloadButton("Download CSV", value=csv_path, size="sm")
        json_button = gr.DownloadButton("Download JSON", value=json_path, size="sm")

    def rendered_for(
        release: str,
        types: list[str],
        max_size: float,
        include_unknown_size: bool,
        search: str,
        columns: list[str],
        task_columns: list[str],
        family_columns: list[str],
        breakdown_metric: str,
        sort_by: str,
        reverse: bool,
    ):
        """The rendered table for the widgets' values (display frame, raw table, summary)."""
        current = board.snapshot()
        query = query_from(
            release,
            types,
            max_size,
            include_unknown_size,
            search,
            columns,
            task_columns,
            family_columns,
            breakdown_metric,
            sort_by,
            reverse,
            size_ceiling=_size_ceiling(current),
        )
        return render(
            current, query, alpha=board.settings.rank_alpha, show_accuracy_ci="accuracy_ci" in (columns or [])
        )

    def update(*values):
        rendered = rendered_for(*values)
        csv_file, json_file = downloads(rendered)
        return (
            gr.Dataframe(value=common.table_value(rendered.display), datatype=rendered.datatypes),
            rendered.summary,
            csv_file,
            json_file,
        )

    outputs = [table, summary, csv_button, json_button]
    gr.on(
        [
            search.submit,
            release.change,
            types.change,
            size.release,
            unknown.change,
            columns.change,
            tasks.change,
            families.change,
            breakdown.change,
            sort_by.change,
            reverse.change,
        ],
        update,
        inputs,
        outputs,
        api_visibility="private",
        show_progress="minimal",
        trigger_mode="always_last",
    )

    def leaderboard_rows(
        release: str = default_release,
        types: list[str] | None = None,
        max_size: float | None = None,
        include_unknown_size: bool = True,
        search: str = "",
        columns: list[str] | None = None,
        task_columns: list[str] | None = None,
        family_columns: list[str] | None = None,
        breakdown_metric: str = "accuracy",
        sort_by: str = "rank",
        reverse: bool = False,
    ) -> list[dict]:
        """The shown leaderboard rows as JSON records (what "Download JSON" gives): rank (tie group), model,
        link, type, params_b, release, accuracy with its CI bounds, then the chosen metric, per-task and
        per-family columns. Defaults: the default release, every type and size, the default columns."""
        rendered = rendered_for(
            release,
            list(MODEL_TYPES) if types is None else types,
            max_size,
            include_unknown_size,
            search,
            list(DEFAULT_COLUMNS) if columns is None else columns,
            task_columns or [],
            family_columns or [],
            breakdown_metric,
            sort_by,
            reverse,
        )
        return analysis.table_to_records(rendered.table)

    gr.api(leaderboard_rows, api_name="leaderboard")

    def refresh_choices(current_release, current_tasks, current_families, current_columns):
        current = board.snapshot()
        choices = [analysis.LATEST, analysis.ALL, *current.release_choices()]
        chosen = (
            current_release if current_release in choices else (current.default_release() or analysis.LATEST)
        )
        task_names = _names(current, current.frames.tasks, "task")
        family_names = _names(current, current.frames.families, "family")
        ceiling_now = _size_ceiling(current)
        return (
            gr.Dropdown(choices=choices, value=chosen),
            gr.CheckboxGroup(choices=task_names, value=[t for t in current_tasks or [] if t in task_names]),
            gr.CheckboxGroup(
                choices=family_names, value=[f for f in current_families or [] if f in family_names]
            ),
            gr.Slider(maximum=ceiling_now, value=ceiling_now),
            gr.Dropdown(choices=_sort_choices([*(current_columns or [])])),
        )

    demo.load(
        refresh_choices,
        [release, tasks, families, columns],
        [release, tasks, families, size, sort_by],
        api_visibility="private",
    ).then(update, inputs, outputs, api_visibility="private")

    def sort_options(current_columns, current_tasks, current_families):
        extra = [
            *(current_columns or []),
            *(analysis.TASK_PREFIX + t for t in current_tasks or []),
            *(analysis.FAMILY_PREFIX + f for f in current_families or []),
        ]
        return gr.Dropdown(choices=_sort_choices(extra))

    gr.on(
        [columns.change, tasks.change, families.change],
        sort_options,
        [columns, tasks, families],
        sort_by,
        api_visibility="private",
    )


def _sort_choices(extra: list[str]) -> list[tuple[str, str]]:
    seen, choices = set(), []
    for column in (*SORT_FIXED, *extra):
        key = "accuracy" if column == "accuracy_ci" else column
        if key not in seen:
            seen.add(key)
            choices.append((common.column_label(key), key))
    return choices
