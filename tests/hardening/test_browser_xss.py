"""Text from submissions is shown as text in a real browser (Debian chromium through Playwright): a model
named `<img src=x onerror=alert(1)>`, `<script>` in metadata fields and `javascript:` links render
literally, no dialog opens, no script runs, no request for `x` is made; and the leaderboard's CSV
download neutralises cells a spreadsheet would run as formulas.

Names that validation refuses (`<img ...>` is not `org/model`) reach the store here as a result record
written the way the worker writes one (a store from an older version, or edited by hand): the page
must be safe whatever the store holds. Metadata that validation accepts (`<script>` in a licence or a
submitter) goes through the real Submit API.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from robustboard.atomic import dumps_json
from submissions.limits import Limits
from submissions.store import LocalBackend, Store
from tests.browser import chromium
from tests.hardening.conftest import CORPUS, serve_app

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "hardening"
IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>window.__pwned = 1; alert(2)</script>"
FORMULA = '=HYPERLINK("https://evil.example","click")'
# name -> (link, licence, submitter) of the records written into the store
HOSTILE = {
    IMG: ("javascript:alert(3)", SCRIPT, "=cmd|' /C calc'!A0"),
    FORMULA: (
        'https://example.org/"><svg onload=alert(4)>',
        '<a href="javascript:alert(5)">licence</a>',
        "@SUM(1+1)",
    ),
}


def plant(
    store: Store, template_sid: str, number: int, name: str, link: str, licence: str, submitter: str
) -> str:
    """A FINISHED result for `name`, written as the worker writes one (details, result, then request)."""
    sid = f"{number:016x}"
    result = {**store.result(template_sid), "submission_id": sid}
    result["model"] = {
        **result["model"],
        "name": name,
        "link": link,
        "license": licence,
        "submitter": submitter,
    }
    request = {
        **store.request(template_sid),
        "submission_id": sid,
        "model": result["model"],
        "submitter": submitter,
    }
    store.backend.write_files(
        {
            f"details/{sid}.parquet": store.backend.read_bytes(f"details/{template_sid}.parquet"),
            f"results/{sid}.json": dumps_json(result).encode(),
            f"requests/{sid}.json": dumps_json(request).encode(),
        },
        message="plant",
    )
    return sid


@pytest.fixture(scope="module")
def app(release, tmp_path_factory):
    root = tmp_path_factory.mktemp("xss") / "store"
    store = Store(LocalBackend(root), limits=Limits(per_day=0))
    store.register_release(str(release.public), str(release.labels))
    template = store.submit(
        CORPUS / "reference.jsonl",
        release=release.ref,
        model={"name": "safe/model", "type": "other"},
        submitter="-2+3",
    )["submission_id"]
    store.run_pending(n_resamples=100)
    for number, (name, (link, licence, submitter)) in enumerate(HOSTILE.items(), start=1):
        plant(store, template, number, name, link, licence, submitter)
    with serve_app(store) as served:
        yield {**served, "store": store}


@pytest.fixture(scope="module")
def page(app):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
        tab = context.new_page()
        tab.dialogs, tab.errors, tab.requested = [], [], []

        def on_dialog(dialog) -> None:
            tab.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        tab.on("dialog", on_dialog)
        tab.on("console", lambda m: tab.errors.append(f"console: {m.text}") if m.type == "error" else None)
        tab.on("pageerror", lambda e: tab.errors.append(f"page error: {e}"))
        tab.on("request", lambda r: tab.requested.append(r.url))
        tab.goto(app["url"])
        yield tab


def settle(page) -> None:
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=status-tracker]:not(.hide)').length === 0",
        timeout=30_000,
    )


def assert_nothing_ran(page) -> None:
    assert page.dialogs == [], page.dialogs
    assert page.evaluate("() => window.__pwned") is None
    assert (
        page.evaluate("() => document.querySelectorAll('img[src=\"x\"], svg[onload], [onerror]').length") == 0
    )
    assert page.locator("a[href^='javascript:' i]").count() == 0
    assert not [u for u in page.requested if re.search(r"/x(\?|$)", u)]  # an <img src=x> would fetch it
    assert page.errors == [], page.errors


def test_hostile_names_and_metadata_show_as_text_on_the_leaderboard(page):
    table = page.locator("#leaderboard-table")
    table.get_by_text(IMG, exact=True).first.wait_for(timeout=30_000)
    settle(page)
    text = table.inner_text()
    assert IMG in text and FORMULA in text
    page.screenshot(path=str(ARTIFACTS / "1-leaderboard.png"), full_page=True)
    assert_nothing_ran(page)


def test_the_model_page_shows_the_metadata_as_text(page):
    page.get_by_role("tab", name="Model").click()
    page.get_by_label("Result (model · release)").click()
    page.get_by_role("option", name=re.compile(re.escape(IMG))).click()
    settle(page)
    main = page.locator("#component-0").page.locator("body")
    main.get_by_text(SCRIPT).first.wait_for(timeout=30_000)
    body = page.inner_text("body")
    assert IMG in body and SCRIPT in body
    page.screenshot(path=str(ARTIFACTS / "2-model.png"), full_page=True)
    assert_nothing_ran(page)


def test_the_correlation_plot_names_models_as_text(page):
    page.get_by_role("tab", name="Correlation").click()
    page.locator("#correlation-plot .js-plotly-plot").first.wait_for(timeout=30_000)
    settle(page)
    page.screenshot(path=str(ARTIFACTS / "3-correlation.png"), full_page=True)
    assert_nothing_ran(page)


def test_a_submission_with_hostile_metadata_shows_it_as_text(page, app, release):
    client = Client(app["url"], verbose=False)
    _, sid, problems, _ = client.predict(
        handle_file(str(CORPUS / "numbers_reference.jsonl")),
        release.ref,
        "safe/other-model",
        "main",
        "",
        "other",
        "https://example.org/model",
        SCRIPT,
        IMG,
        api_name="/submit",
    )
    assert len(sid) == 16 and problems["data"] == []
    page.get_by_role("tab", name="Submit").click()
    page.locator("#submit-file input[type=file]").set_input_files(str(CORPUS / "reference.jsonl"))
    page.locator("#submit-file td.filename[aria-label='reference.jsonl']").wait_for(timeout=30_000)
    page.get_by_label("Model (org/model)").fill(IMG)
    page.get_by_label("Submitted by").fill(SCRIPT)
    page.get_by_role("button", name="Submit", exact=True).click()
    page.wait_for_function(
        "() => document.querySelector('#submit-problems').innerText.includes('is not of the form org/model')",
        timeout=30_000,
    )
    assert IMG in page.locator("#submit-problems").inner_text()
    page.get_by_role("button", name="Refresh queue").click()
    settle(page)
    page.screenshot(path=str(ARTIFACTS / "4-submit.png"), full_page=True)
    assert_nothing_ran(page)


def test_the_csv_download_neutralises_formula_cells(page):
    page.get_by_role("tab", name="Leaderboard").click()
    page.get_by_text("Columns and sorting").click()
    for label in ("Submitter", "Licence"):
        page.get_by_role("checkbox", name=label, exact=True).check()
        settle(page)
    page.locator("#leaderboard-table").get_by_text("@SUM(1+1)").first.wait_for(timeout=30_000)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text("utf-8"))))
    header, body = rows[0], rows[1:]
    cells = dict(zip(header, zip(*body, strict=True), strict=True))
    assert "'" + FORMULA in cells["model"]
    assert {"'=cmd|' /C calc'!A0", "'@SUM(1+1)", "'-2+3"} <= set(cells["submitter"])
    for values in cells.values():
        for value in values:
            if value[:1] in ("=", "+", "-", "@"):
                float(value)  # only numbers (a negative kappa) may start so; text is prefixed with '
    json.dumps(rows)
    assert_nothing_ran(page)
