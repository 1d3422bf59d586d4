"""End to end through the public API: the real Gradio server in-process on loopback, gradio_client as
the caller, a real predictions file submitted, scored by the real background worker and ranked."""

from __future__ import annotations

import json
import time

import pytest
from gradio_client import Client, handle_file

from submissions.formats import read_labels


@pytest.fixture(scope="module")
def client(running_app) -> Client:
    return Client(running_app["url"], verbose=False)


def rows(table: dict) -> list[dict]:
    return [dict(zip(table["headers"], row, strict=True)) for row in table["data"]]


def test_the_public_endpoints_are_named_and_the_private_ones_hidden(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert set(endpoints) == {
        "/leaderboard",
        "/correlation",
        "/model",
        "/compare",
        "/submit",
        "/status",
        "/queue",
        "/datasets",
    }
    names = [p["parameter_name"] for p in endpoints["/leaderboard"]["parameters"]]
    assert names[:3] == ["release", "types", "max_size"]


def test_leaderboard_endpoint_ranks_the_scored_models(client):
    shown = client.predict(api_name="/leaderboard")
    assert [r["model"] for r in shown] == [
        "acme/strong-70b",
        "acme/middle-13b",
        "beta/middle-12b",
        "beta/weak-1b",
    ]
    assert [r["rank"] for r in shown] == [1, 2, 2, 4]  # the two middle models form a tie group
    assert shown[0]["link"] == "https://huggingface.co/acme/strong-70b"
    assert shown[0]["accuracy_lo"] < shown[0]["accuracy"] < shown[0]["accuracy_hi"]
    small = client.predict(api_name="/leaderboard", max_size=13, types=["pretrained", "fine-tuned"])
    assert [r["model"] for r in small] == ["acme/middle-13b", "beta/middle-12b", "beta/weak-1b"]
    by_task = client.predict(api_name="/leaderboard", task_columns=["anatomy"], sort_by="task: anatomy")
    values = [r["task: anatomy"] for r in by_task]
    assert values == sorted(values, reverse=True)


def test_a_submission_through_the_api_is_scored_and_ranked(
    client, running_app, simulated_predictions, tmp_path
):
    labels = read_labels(running_app["release_dirs"]["labels"])
    path = tmp_path / "predictions.jsonl"
    simulated_predictions(labels, 1.8, 21).to_json(path, orient="records", lines=True)
    status, sid, problems, queue = client.predict(
        handle_file(str(path)),
        "mmlu@1.0.0",
        "zeta/api-model-8b",
        "main",
        "8",
        "instruction-tuned",
        "https://huggingface.co/zeta/api-model-8b",
        "apache-2.0",
        "api test",
        api_name="/submit",
    )
    assert len(sid) == 16 and problems["data"] == [] and rows(queue)[0]["submission"] == sid
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = client.predict(sid, api_name="/status")
        if "FINISHED" in text or "FAILED" in text:
            break
        time.sleep(0.5)
    assert "FINISHED" in text and "rank" in text
    for _ in range(40):  # the snapshot refreshes right after scoring; allow the worker to finish that
        table = client.predict(api_name="/leaderboard", search="api-model")
        if table:
            break
        time.sleep(0.25)
    assert [r["model"] for r in table] == ["zeta/api-model-8b"]
    assert (
        table[0]["rank"] in (1, 2) and table[0]["type"] == "instruction-tuned" and table[0]["params_b"] == 8
    )
    everyone = client.predict(api_name="/leaderboard")
    assert len(everyone) == 5 and everyone[0]["rank"] == 1


def test_an_invalid_submission_returns_every_problem(client, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "example_id,variant_id,prediction\nmmlu-0,original,A\nmmlu-0,original,A\nghost,original,B\n"
    )
    status, sid, problems, _ = client.predict(
        handle_file(str(path)),
        "mmlu@1.0.0",
        "zeta/bad",
        "",
        "",
        "other",
        "",
        "",
        "api test",
        api_name="/submit",
    )
    assert sid == "" and "Nothing submitted" in status
    where = [r["where"] for r in rows(problems)]
    assert len(where) >= 2 and all(where)


def test_correlation_endpoint(client):
    result = client.predict(
        "mmlu@1.0.0", "consistency", "model×task", "task", "per task", api_name="/correlation"
    )
    names = [trace.get("name", "") for trace in result["figure"]["data"]]
    assert any(n.startswith("trivial robustness") for n in names) and any(
        n.startswith("least-squares") for n in names
    )
    pooled = result["table"][0]
    assert pooled["scope"] == "pooled" and pooled["n"] >= 20 and -1 <= pooled["pearson_r"] <= 1
    assert pooled["spearman_lo"] <= pooled["spearman_rho"] <= pooled["spearman_hi"]
    assert pooled["ci_method"].startswith("percentile bootstrap")
    assert [row["scope"] for row in result["table"][1:]] == ["per task"] * 5
    assert {row["term"] for row in result["decomposition"]} >= {"task", "model", "accuracy", "residual"}
    assert [row["control"] for row in result["partial"]] == ["none", "task", "model", "task + model"]
    assert result["distractor_factor"] == pytest.approx(1 / 3) and result["n_slots"] == 4


def test_no_endpoint_returns_per_example_data(client, running_app):
    labels = read_labels(running_app["release_dirs"]["labels"])
    example_ids = set(labels["example_id"])
    sid = running_app["board"].snapshot().frames.runs["submission_id"].iloc[0]
    other = running_app["board"].snapshot().frames.runs["submission_id"].iloc[1]
    outputs = [
        client.predict(api_name="/leaderboard", columns=["accuracy_ci", "submission_id", "coverage"]),
        client.predict("mmlu@1.0.0", "kappa", "model×task", "model", "per model", api_name="/correlation"),
        client.predict(sid, api_name="/model"),
        client.predict(sid, other, api_name="/compare"),
        client.predict("mmlu@1.0.0", api_name="/datasets"),
        client.predict(api_name="/queue"),
    ]
    text = json.dumps(outputs, default=str)
    assert not any(example_id in text for example_id in example_ids)
    assert str(running_app["release_dirs"]["labels"]) not in text
