"""`robustboard build` and `robustboard lmeval`: outputs, a summary, and one clear line on bad input."""

from __future__ import annotations

import json

import pytest
import yaml

from robustboard.cli import main
from tests.builder.spec_files import write_spec

SMALL_SLOTS = {"name": "small", "slots": [{"perturbation": "typos", "params": {"p": 0.1}, "replicates": 2}]}


@pytest.fixture
def small_slots(tmp_path):
    path = tmp_path / "slots.yaml"
    path.write_text(yaml.safe_dump(SMALL_SLOTS))
    return path


def test_build_writes_release_labels_audit_and_lmeval_tasks_and_prints_a_summary(
    tmp_path, mmlu_spec_file, small_slots, capsys
):
    args = [
        "build",
        str(mmlu_spec_file),
        "--out",
        str(tmp_path / "rel"),
        "--limit",
        "5",
        "--slots",
        str(small_slots),
    ]
    args += ["--version", "2.0.0", "--seed", "3", "--audit", "1", "--lmeval", str(tmp_path / "tasks")]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "built mmlu_subset v2.0.0: 5 examples × 3 slots = 15 rows in 2 configs (original, typos)" in err
    assert f"private labels: {tmp_path / 'rel_labels'} (do not publish)" in err
    manifest = json.loads((tmp_path / "rel" / "manifest.json").read_text())
    assert (manifest["version"], manifest["seed"], manifest["limit"]) == ("2.0.0", 3, 5)
    assert (tmp_path / "rel_labels" / "typos" / "test-00000-of-00001.parquet").is_file()
    assert (tmp_path / "rel_labels-audit.md").read_text().count("\n### mmlu_subset-") == 3
    assert sorted(p.name for p in (tmp_path / "tasks").iterdir()) == [
        "robustboard_mmlu_subset_all.yaml",
        "robustboard_mmlu_subset_original.yaml",
        "robustboard_mmlu_subset_typos.yaml",
    ]


def test_a_builtin_hub_spec_can_read_local_files_instead(tmp_path, shared_data, small_slots, capsys):
    data = str(shared_data / "tweet_eval" / "sentiment" / "validation.jsonl")
    args = ["build", "tweet_eval_sentiment", "--data-file", f"validation={data}", "--limit", "4"]
    assert main([*args, "--slots", str(small_slots), "--out", str(tmp_path / "te")]) == 0
    manifest = json.loads((tmp_path / "te" / "manifest.json").read_text())
    assert (
        manifest["split"] == "validation" and manifest["source"]["data_files"]["validation"]["path"] == data
    )
    assert (
        "read 2000 rows of split 'validation' from local file(s) validation.jsonl" in capsys.readouterr().err
    )


def test_lmeval_subcommand_lists_the_files_it_wrote(tmp_path, rotten_release, capsys):
    out, _, manifest = rotten_release
    assert main(["lmeval", str(out), "--out", str(tmp_path / "tasks")]) == 0
    printed = capsys.readouterr().out.split()
    assert len(printed) == len(manifest["configs"]) + 1 and all(p.endswith(".yaml") for p in printed)


def bad_rows_spec(tmp_path) -> str:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"uid": "a", "text": "x", "label": 0}\n{"uid": "a", "text": "y", "label": 1}\n')
    return str(
        write_spec(
            tmp_path,
            {
                "name": "dups",
                "task": "classification",
                "source": {"data_files": {"test": str(rows)}},
                "fields": {"text": "text", "label": "label", "id": "uid"},
            },
        )
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            lambda t: ["build", "nope.yaml", "--out", str(t / "o")],
            "spec 'nope.yaml' is neither a built-in spec",
        ),
        (
            lambda t: ["build", bad_rows_spec(t), "--out", str(t / "o")],
            "dups (test split), row 1: field 'id' duplicates row 0 (id 'a')",
        ),
        (
            lambda t: ["build", "mmlu", "--data-file", "oops", "--out", str(t / "o")],
            "--data-file 'oops': expected SPLIT=PATH",
        ),
        (
            lambda t: ["lmeval", str(t), "--out", str(t / "tasks")],
            "is not a release folder (no manifest.json)",
        ),
    ],
    ids=["unknown-spec", "duplicate-ids", "bad-data-file", "not-a-release"],
)
def test_bad_input_is_one_line_and_exit_status_2(tmp_path, capsys, args, message):
    assert main(args(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("robustboard ") and message in err[-1]
    assert not (tmp_path / "o").exists()
