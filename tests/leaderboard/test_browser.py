"""The app in a real browser (Debian chromium through Playwright): ranked rows, the correlation plot,
a submission through the Submit tab — with no console or page errors. Screenshots go to
test-artifacts/leaderboard/ (gitignored) for a human to look at."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser import chromium

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "leaderboard"


@pytest.fixture(scope="module")
def page(running_app):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        tab = context.new_page()
        problems: list[str] = []
        tab.on(
            "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
        )
        tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        tab.problems = problems
        tab.goto(running_app["url"])
        yield tab


def settle(page) -> None:
    """Wait until Gradio has no pending request: every status tracker overlay is hidden again."""
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=status-tracker]:not(.hide)').length === 0",
        timeout=30_000,
    )


def grid_rows(container) -> list[list[str]]:
    """Cell texts of a Gradio Dataframe's body rows (a virtualised ARIA grid, not a plain <tbody>)."""
    rows = container.locator(".virtual-body [role=row]")
    return [
        [cell.strip() for cell in rows.nth(i).locator("[role=gridcell]").all_inner_texts()]
        for i in range(rows.count())
    ]


def test_leaderboard_shows_ranked_rows_with_safe_links(page):
    table = page.locator("#leaderboard-table")
    table.locator("a >> visible=true", has_text="acme/strong-70b").wait_for(timeout=30_000)
    settle(page)
    rows = grid_rows(table)
    assert [row[1] for row in rows] == [
        "acme/strong-70b",
        "acme/middle-13b",
        "beta/middle-12b",
        "beta/weak-1b",
    ]
    assert [row[0] for row in rows] == ["1", "2", "2", "4"]
    link = table.locator("a >> visible=true", has_text="acme/strong-70b")
    assert link.get_attribute("href") == "https://huggingface.co/acme/strong-70b"
    page.screenshot(path=str(ARTIFACTS / "1-leaderboard.png"), full_page=True)
    assert page.problems == []


def test_correlation_tab_renders_the_plot(page):
    page.get_by_role("tab", name="Correlation").click()
    plot = page.locator("#correlation-plot")
    plot.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    settle(page)
    points = plot.locator(".scatterlayer .trace .points path")
    assert points.count() == 20  # 4 models × 5 tasks
    legend = plot.locator(".legend").text_content()
    assert "trivial robustness" in legend and "least-squares fit" in legend
    assert "pooled" in page.locator("#correlation-table").inner_text()
    page.screenshot(path=str(ARTIFACTS / "2-correlation.png"), full_page=True)
    assert page.problems == []


def test_a_submission_through_the_submit_tab_gets_its_status(
    page, running_app, simulated_predictions, tmp_path_factory
):
    from submissions.formats import read_labels

    labels = read_labels(running_app["release_dirs"]["labels"])
    path = tmp_path_factory.mktemp("upload") / "browser-predictions.jsonl"
    simulated_predictions(labels, 0.2, 31).to_json(path, orient="records", lines=True)
    page.get_by_role("tab", name="Submit").click()
    page.locator("#submit-file input[type=file]").set_input_files(str(path))
    page.get_by_label("Model (org/model)").fill("eta/browser-model")
    page.get_by_label("Parameters (billions)").fill("2.5")
    model_type = page.get_by_label("Model type")
    model_type.click()
    page.get_by_role("option", name="pretrained", exact=True).click()
    page.get_by_label("Submitted by").fill("browser test")
    page.locator("#submit-file td.filename[aria-label='browser-predictions.jsonl']").wait_for(timeout=30_000)
    page.get_by_role("button", name="Submit", exact=True).click()
    status = page.locator("#submit-status")
    status.get_by_text(re.compile("Submission")).wait_for(timeout=30_000)
    sid = page.locator("#submission-id textarea, #submission-id input").first.input_value()
    assert re.fullmatch(r"[0-9a-f]{16}", sid)
    page.screenshot(path=str(ARTIFACTS / "3-submitted.png"), full_page=True)
    status.get_by_text("FINISHED").wait_for(timeout=120_000)  # the tab polls until the worker is done
    assert "rank" in status.inner_text()
    assert sid in page.locator("#submit-queue").inner_text()
    page.screenshot(path=str(ARTIFACTS / "4-finished.png"), full_page=True)
    assert page.problems == []


def test_an_invalid_file_lists_its_problems_in_the_page(page, tmp_path_factory):
    path = tmp_path_factory.mktemp("upload") / "broken.csv"
    path.write_text(
        "example_id,variant_id,prediction\nmmlu-0,original,A\nmmlu-0,original,A\nghost,nowhere,B\n"
    )
    page.get_by_role("tab", name="Submit").click()
    page.locator("#submit-file button[aria-label='Clear']").first.click()
    page.locator("#submit-file input[type=file]").set_input_files(str(path))
    page.locator("#submit-file td.filename[aria-label='broken.csv']").wait_for(timeout=30_000)
    page.get_by_role("button", name="Submit", exact=True).click()
    page.locator("#submit-status").get_by_text("Nothing submitted").wait_for(timeout=30_000)
    page.locator("#submit-problems").get_by_text("ghost").first.wait_for(timeout=30_000)
    rows = grid_rows(page.locator("#submit-problems"))
    assert len(rows) >= 2 and all(where and problem for where, problem in rows)
    page.screenshot(path=str(ARTIFACTS / "5-problems.png"), full_page=True)
    assert page.problems == []
