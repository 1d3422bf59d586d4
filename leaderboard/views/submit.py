"""Submit tab: upload predictions with model metadata; every validation problem at once; the queue."""

from __future__ import annotations

import logging
from pathlib import Path

import gradio as gr
import pandas as pd

from leaderboard.board import Board
from leaderboard.views import common
from submissions.store import StoreError
from submissions.validation import MODEL_TYPES, ValidationError

log = logging.getLogger(__name__)

QUEUE_COLUMNS = ["submission", "model", "release", "status", "reason", "submitted at", "finished at"]
PROBLEM_COLUMNS = ["where", "problem"]
TERMINAL = ("FINISHED", "FAILED")
QUEUE_ROWS = 200


def queue_table(board: Board) -> pd.DataFrame:
    """The latest submissions, newest first, as plain text (reasons are shown, never interpreted)."""
    requests = board.requests()[-QUEUE_ROWS:][::-1]
    rows = [
        [
            r.get("submission_id", ""),
            (r.get("model") or {}).get("name", ""),
            r.get("release", ""),
            r.get("status", ""),
            r.get("reason") or "",
            r.get("submitted_at") or "",
            r.get("finished_at") or "",
        ]
        for r in requests
    ]
    return pd.DataFrame(rows, columns=QUEUE_COLUMNS)


def status_text(board: Board, sid: str) -> tuple[str, bool]:
    """A one-paragraph status of a submission and whether it is final (FINISHED / FAILED)."""
    sid = (sid or "").strip()
    if not sid:
        return "", True
    try:
        request = board.store.request(sid)
    except StoreError:
        return f"No submission `{common.escape_markdown(sid)}` in this store.", True
    status = request.get("status", "")
    text = f"Submission `{common.escape_markdown(sid)}`: **{common.escape_markdown(status)}**"
    if status == "FAILED":
        text += f" — {common.escape_markdown(request.get('reason') or 'no reason recorded')}"
    elif status == "FINISHED":
        snapshot = board.snapshot()
        if sid not in set(snapshot.frames.runs["submission_id"]):  # scored after the snapshot was taken
            board.invalidate()
            snapshot = board.snapshot()
        runs = snapshot.frames.runs.set_index("submission_id")
        if sid in runs.index:
            row = runs.loc[sid]
            peers = int((runs["release"] == row["release"]).sum())
            rank = snapshot.ranks.get(sid)
            rank_text = "unranked" if rank is None or pd.isna(rank) else f"rank {int(rank)} of {peers}"
            text += (
                f" — {rank_text} on {common.escape_markdown(row['release'])}, accuracy "
                f"{common.round_or_none(row.get('accuracy'))}, consistency "
                f"{common.round_or_none(row.get('consistency'))}."
            )
        else:
            text += " — superseded by a later result of the same model revision on this release."
    else:
        text += " — it is scored in the background; this status refreshes by itself."
    return text, status in TERMINAL


def submit(
    board: Board,
    file: str | None,
    release: str,
    name: str,
    revision: str,
    params_b: str | float | None,
    model_type: str,
    link: str,
    license_: str,
    submitter: str,
):
    """Returns (status markdown, submission id, problems table, queue table)."""
    no_problems = pd.DataFrame(columns=PROBLEM_COLUMNS)
    if not file:
        problems = pd.DataFrame(
            [["file", "upload a predictions file (.jsonl, .csv or .parquet)"]], columns=PROBLEM_COLUMNS
        )
        return (
            "Nothing submitted: 1 problem.",
            "",
            common.table_value(problems),
            common.table_value(queue_table(board)),
        )
    model = {
        "name": (name or "").strip(),
        "revision": (revision or "").strip() or "main",
        "type": model_type or None,
        # text as typed: validate_model reports a non-number as a problem of field params_b
        "params_b": (str(params_b).strip() or None) if params_b is not None else None,
        "link": (link or "").strip() or None,
        "license": (license_ or "").strip() or None,
    }
    try:
        request = board.submit(file, release=release or "", model=model, submitter=(submitter or "").strip())
    except ValidationError as err:
        # the upload's server-side temporary path means nothing to the submitter: name the file instead
        def local(text: str) -> str:
            return text.replace(str(file), Path(file).name)

        rows = [[local(p.location), local(p.message)] for p in err.problems]
        shown = f"showing the first {len(rows)}" if err.n_problems > len(rows) else "all shown below"
        plural = "s" if err.n_problems != 1 else ""
        what = common.escape_markdown(local(err.what))
        text = f"Nothing submitted: **{err.n_problems}** problem{plural} in {what} ({shown})."
        return (
            text,
            "",
            common.table_value(pd.DataFrame(rows, columns=PROBLEM_COLUMNS)),
            common.table_value(queue_table(board)),
        )
    except StoreError as err:
        problems = pd.DataFrame([["release", str(err)]], columns=PROBLEM_COLUMNS)
        return (
            "Nothing submitted: 1 problem.",
            "",
            common.table_value(problems),
            common.table_value(queue_table(board)),
        )
    except Exception:
        log.exception("submission failed")
        problems = pd.DataFrame(
            [["server", "an internal error stopped the submission; nothing was recorded"]],
            columns=PROBLEM_COLUMNS,
        )
        return "Nothing submitted.", "", common.table_value(problems), common.table_value(queue_table(board))
    sid = request["submission_id"]
    text, _ = status_text(board, sid)
    return text, sid, common.table_value(no_problems), common.table_value(queue_table(board))


def build(board: Board, demo: gr.Blocks) -> None:
    snapshot = board.snapshot()
    registered = [
        c
        for c in snapshot.release_choices()
        if any(f"{r['name']}@{r['version']}" == c for r in snapshot.releases)
    ]
    gr.Markdown(
        "Upload one predictions file for a release: JSONL, CSV or parquet with `example_id`, `variant_id`, "
        "`prediction` (or lm-eval `samples_*.jsonl`), one row per example × slot of the release "
        "(see Datasets for the files). The file is validated at once and every problem is listed; a valid "
        "file is queued, scored against the hidden labels and ranked."
    )
    with gr.Row():
        with gr.Column(scale=1):
            file = gr.File(
                label="Predictions file", file_types=[".jsonl", ".csv", ".parquet"], elem_id="submit-file"
            )
            release = gr.Dropdown(
                registered, value=registered[0] if registered else None, label="Release version"
            )
        with gr.Column(scale=1):
            name = gr.Textbox(label="Model (org/model)", placeholder="my-org/my-model-7b", max_length=120)
            with gr.Row():
                revision = gr.Textbox(label="Revision", placeholder="main", max_length=100)
                params_b = gr.Textbox(label="Parameters (billions)", placeholder="e.g. 7 (empty if unknown)")
            model_type = gr.Dropdown(list(MODEL_TYPES), value=None, label="Model type")
            link = gr.Textbox(
                label="Link (http/https)",
                placeholder="https://huggingface.co/my-org/my-model-7b",
                max_length=500,
            )
            with gr.Row():
                license_ = gr.Textbox(label="Licence", placeholder="apache-2.0", max_length=100)
                submitter = gr.Textbox(
                    label="Submitted by", placeholder="your name or handle", max_length=100
                )
    button = gr.Button("Submit", variant="primary", elem_id="submit-button")
    status = gr.Markdown(elem_id="submit-status", label="status")
    submission_id = gr.Textbox(
        label="Submission id", interactive=False, buttons=["copy"], elem_id="submission-id"
    )
    problems = gr.Dataframe(
        value=common.table_value(pd.DataFrame(columns=PROBLEM_COLUMNS)),
        headers=PROBLEM_COLUMNS,
        interactive=False,
        latex_delimiters=[],
        label="Problems",
        wrap=True,
        max_height=360,
        elem_id="submit-problems",
    )
    gr.Markdown("### Queue")
    with gr.Row():
        refresh_button = gr.Button("Refresh queue", size="sm", scale=0)
    queue = gr.Dataframe(
        interactive=False,
        latex_delimiters=[],
        show_label=False,
        wrap=True,
        max_height=420,
        elem_id="submit-queue",
    )
    timer = gr.Timer(3.0, active=False)

    def submit_predictions(
        file: str | None,
        release: str,
        model: str,
        revision: str,
        params_b: str,
        model_type: str,
        link: str,
        license: str,  # noqa: A002  (the API parameter's public name)
        submitter: str,
    ):
        """Validate and queue a predictions file: (status, submission id, problems, queue)."""
        return submit(board, file, release, model, revision, params_b, model_type, link, license, submitter)

    def poll(sid):
        """Follow the submission until it is final; scoring may even be done before the first poll."""
        if not sid:  # nothing was queued: keep the problems message
            return gr.skip(), gr.skip(), gr.Timer(active=False)
        text, final = status_text(board, sid)
        return text, common.table_value(queue_table(board)), gr.Timer(active=not final)

    button.click(
        submit_predictions,
        [file, release, name, revision, params_b, model_type, link, license_, submitter],
        [status, submission_id, problems, queue],
        api_name="submit",
    ).then(poll, submission_id, [status, queue, timer], api_visibility="private", show_progress="hidden")

    timer.tick(poll, submission_id, [status, queue, timer], api_visibility="private", show_progress="hidden")

    def status(submission: str) -> str:
        """The status of a submission by id (PENDING / RUNNING / FINISHED with its rank / FAILED with why)."""
        return status_text(board, submission)[0]

    gr.api(status, api_name="status")

    def queue_rows():
        """The latest submissions and their status, newest first."""
        return common.table_value(queue_table(board))

    refresh_button.click(queue_rows, None, queue, api_name="queue")

    def refresh(current):
        current_snapshot = board.snapshot()
        names = [f"{r['name']}@{r['version']}" for r in current_snapshot.releases]
        options = [c for c in current_snapshot.release_choices() if c in names]
        value = current if current in options else (options[0] if options else None)
        return gr.Dropdown(choices=options, value=value), common.table_value(queue_table(board))

    demo.load(refresh, release, [release, queue], api_visibility="private")
