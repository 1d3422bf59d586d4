"""Hidden labels never reach a public release file, a Gradio API endpoint's output, a download, an error
message or a log line.

A release is built from ../shared/data and three real submissions are scored into a store served by the
app. Every named endpoint the app exposes (`gradio_client.Client.view_api`) is called with valid inputs,
and every output, every public file, every download and every captured log line is searched by
`leaks.GoldIndex`, whose search first has to find every leak planted in its controls.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

from leaderboard.views import common
from robustboard.cli import main
from submissions.limits import Limits
from submissions.store import LocalBackend, Store
from tests.hardening.conftest import CORPUS, serve_app
from tests.hardening.leaks import GoldIndex
from tests.hardening.release import write_predictions

MODELS = {
    "leak/reference": "reference.jsonl",
    "leak/numbers": "numbers_reference.jsonl",
}


class Collect(logging.Handler):
    """Every log record of the process, formatted, with its exception text."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def index(labels) -> GoldIndex:
    return GoldIndex.of(labels)


@pytest.fixture(scope="module")
def app(release, labels, tmp_path_factory):
    """The app over a store holding three scored submissions: two from the corpus and a perfect one."""
    work = tmp_path_factory.mktemp("leaks")
    logs = Collect()  # from the first submission on: scoring, serving, everything the process logs
    root = logging.getLogger()
    level = root.level
    root.addHandler(logs)
    root.setLevel(logging.DEBUG)
    try:
        store = Store(LocalBackend(work / "store"), limits=Limits(per_day=0))
        store.register_release(str(release.public), str(release.labels))
        rows = zip(labels["example_id"], labels["variant_id"], labels["gold"], strict=True)
        perfect = write_predictions(
            work / "perfect.jsonl", [{"example_id": e, "variant_id": v, "prediction": g} for e, v, g in rows]
        )
        ids = {}
        for name, path in {**{m: CORPUS / f for m, f in MODELS.items()}, "leak/perfect": perfect}.items():
            model = {"name": name, "type": "other"}
            ids[name] = store.submit(path, release=release.ref, model=model, submitter="leaks")[
                "submission_id"
            ]
        store.run_pending(n_resamples=100)
        with serve_app(store) as served:
            yield {**served, "store": store, "ids": ids, "logs": logs, "work": work, "perfect": perfect}
    finally:
        root.removeHandler(logs)
        root.setLevel(level)


def test_the_search_finds_every_planted_leak(index, release, app):
    sid = app["ids"]["leak/perfect"]
    controls = index.controls(
        release.labels, details=app["store"].backend.root / "details" / f"{sid}.parquet"
    )
    assert len(controls) >= 8
    empty = [what for what, found in controls.items() if not found]
    assert empty == [], f"the search misses planted leaks: {empty}"
    # a labels file leaks every one of its rows
    for what, found in controls.items():
        if what.startswith("labels file"):
            assert len(found) >= 24


def test_no_public_release_file_holds_a_gold_answer(index, release):
    files = sorted(p for p in release.public.rglob("*") if p.is_file())
    assert {p.suffix for p in files} == {".parquet", ".json", ".md"}
    found = [leak for path in files for leak in index.leaks_in_file(path)]
    assert found == []


def endpoint_inputs(
    api: dict, app: dict, release: str, predictions: Path, index: GoldIndex
) -> list[tuple[str, dict]]:
    """Valid inputs for every named endpoint: a call with its defaults (or plain valid values) each,
    plus variants that widen what is shown (every column, task, family; other views)."""
    ids = list(app["ids"].values())
    tasks = sorted({t for t in app["board"].snapshot().frames.tasks["task"]})
    families = sorted({f for f in app["board"].snapshot().frames.families["family"]})
    plain = {
        "file": handle_file(str(predictions)),
        "release": release,
        "model": "leak/probe-model",
        "revision": "main",
        "params_b": "7",
        "model_type": "pretrained",
        "link": "https://example.org/probe",
        "license": "mit",
        "submitter": "leak-test",
        "submission": ids[0],
        "a": ids[0],
        "b": ids[1],
    }
    calls = []
    for name, endpoint in api["named_endpoints"].items():
        kwargs = {}
        for parameter in endpoint["parameters"]:
            key = parameter["parameter_name"]
            if key in plain:
                kwargs[key] = plain[key]
            elif parameter.get("parameter_has_default"):
                kwargs[key] = parameter["parameter_default"]
            else:
                raise AssertionError(f"{name}: no valid input known for parameter {key!r}: add one")
        calls.append((name, kwargs))
    from leaderboard.views.leaderboard import EXTRA_CHOICES

    calls += [
        ("/leaderboard", {"columns": list(EXTRA_CHOICES), "task_columns": tasks, "family_columns": families}),
        ("/leaderboard", {"release": "all", "columns": ["submission_id", "submitter", "coverage"]}),
        ("/correlation", {"release": release, "points": "model", "table_rows": "per model"}),
        ("/correlation", {"release": release, "metric": "kappa", "colour_by": "task"}),
        *[("/model", {"submission": sid}) for sid in ids],
        ("/compare", {"a": ids[2], "b": ids[0]}),
    ]
    return calls


def test_no_endpoint_output_holds_a_gold_answer(index, release, app, reference, tmp_path):
    client = Client(app["url"], verbose=False)
    api = client.view_api(return_format="dict", print_info=False)
    assert api["unnamed_endpoints"] == {}
    predictions = write_predictions(tmp_path / "probe.jsonl", [{**r, "prediction": "B"} for r in reference])
    calls = endpoint_inputs(api, app, release.ref, predictions, index)
    outputs = {}
    for number, (name, kwargs) in enumerate(calls):
        outputs[f"{name} #{number}"] = client.predict(api_name=name, **kwargs)
    assert {name for name, _ in calls} == set(api["named_endpoints"])  # every endpoint was called

    # the probe submission is scored by the app's worker; follow it and look at its result pages too
    sid = next(o for key, o in outputs.items() if key.startswith("/submit"))[1]
    assert len(sid) == 16
    deadline = time.monotonic() + 120
    while "FINISHED" not in (status := client.predict(sid, api_name="/status")):
        assert time.monotonic() < deadline and "FAILED" not in status, status
        time.sleep(0.5)
    outputs["/status after scoring"] = status  # its rank and aggregate scores
    outputs["/leaderboard after the probe"] = client.predict(
        api_name="/leaderboard", columns=list(common.COLUMN_LABELS)
    )

    found = [leak for where, output in outputs.items() for leak in index.leaks(output, where)]
    assert found == []
    assert any("leak/perfect" in json.dumps(o, default=str) for o in outputs.values())  # the outputs are real


def test_error_messages_hold_no_gold_answer(index, release, app, reference, tmp_path, capsys):
    """A file of wrong answers, unknown ids and duplicates, through the API and the command line."""
    rows = [{**r, "prediction": "Z"} for r in reference]
    rows += [{"example_id": "mmlu-0", "variant_id": "nope", "prediction": "A"}, rows[0]]
    bad = write_predictions(tmp_path / "bad.csv", rows)
    client = Client(app["url"], verbose=False)
    status, sid, problems, _ = client.predict(
        handle_file(str(bad)),
        release.ref,
        "leak/bad",
        "main",
        "",
        "other",
        "",
        "",
        "leaks",
        api_name="/submit",
    )
    assert sid == "" and problems["data"]
    assert main(["score", "--labels", str(release.labels), "--predictions", str(bad)]) == 2
    cli = capsys.readouterr().err
    assert "duplicate prediction" in cli and "unknown variant_id" in cli
    found = index.leaks([status, problems], "/submit problems") + index.leaks_in_text(
        cli, "robustboard score"
    )
    assert found == []


def test_downloads_and_log_lines_hold_no_gold_answer(index, app):
    client = Client(app["url"], verbose=False)
    client.predict(api_name="/leaderboard")  # the page's downloads are written for the shown table
    downloads = sorted(p for p in common._DOWNLOADS.iterdir() if p.is_file())
    assert {p.suffix for p in downloads} >= {".csv", ".json"}
    found = [leak for path in downloads for leak in index.leaks_in_file(path)]
    lines = app["logs"].lines
    assert lines  # the app logged (uvicorn, gradio, the worker): the search had something to search
    found += index.leaks_in_text("\n".join(lines), "log")
    assert found == []


def test_private_files_cannot_be_fetched_through_the_app(release, app):
    store = app["store"].backend.root
    private = [
        *sorted(release.labels.rglob("*.parquet")),
        release.labels / "manifest.json",
        *sorted((store / "details").iterdir()),
        *sorted((store / "raw").iterdir()),
        *sorted((store / "results").iterdir()),
    ]
    for path in private:
        body = path.read_bytes()
        for route in ("gradio_api/file=", "file=", "gradio_api/file/"):
            response = httpx.get(app["url"] + route + str(path), timeout=30)
            assert response.status_code in (403, 404) or response.content != body, (route, path)
