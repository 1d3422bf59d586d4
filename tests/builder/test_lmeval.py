"""lm-eval export: one task YAML per config reading the public parquet, scored from logged samples."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import datasets
import pytest
import yaml

from builder.lmeval import task_name, write_lmeval_tasks


def test_one_task_per_config_plus_a_group_reading_the_public_parquet(mmlu_release, tmp_path):
    out, _, manifest = mmlu_release
    paths = write_lmeval_tasks(out, tmp_path)
    assert [p.name for p in paths] == [f"{task_name('mmlu_subset', c)}.yaml" for c in manifest["configs"]] + [
        "robustboard_mmlu_subset_all.yaml"
    ]
    for config, path in zip(manifest["configs"], paths, strict=False):
        task = yaml.safe_load(path.read_text())
        assert task["task"] == f"robustboard_mmlu_subset_{config}"
        assert task["dataset_path"] == "parquet" and task["test_split"] == "test"
        assert task["output_type"] == "multiple_choice"
        assert task["doc_to_text"] == "{{prompt}}" and task["doc_to_choice"] == "choice_labels"
        assert task["doc_to_target"] == 0  # the public rows have no gold: see builder/lmeval.py
        assert task["metadata"]["robustboard_release"] == "mmlu_subset@1.0.0"
        assert task["metadata"]["robustboard_variant_ids"] == manifest["configs"][config]
        data_file = task["dataset_kwargs"]["data_files"]["test"]
        assert data_file == str(out / config / "test-00000-of-00001.parquet")
        rows = datasets.load_dataset("parquet", data_files={"test": data_file}, split="test")
        assert {"prompt", "choice_labels", "example_id", "variant_id"} <= set(rows.column_names)
        assert "gold" not in json.dumps(task)  # only the header comment mentions it
    group = yaml.safe_load(paths[-1].read_text())
    assert group["group"] == "robustboard_mmlu_subset_all"
    assert group["task"] == [task_name("mmlu_subset", c) for c in manifest["configs"]]


def test_classification_tasks_choose_among_the_label_names_and_can_read_from_the_hub(
    rotten_release, tmp_path
):
    out, _, _ = rotten_release
    paths = write_lmeval_tasks(out, tmp_path, data_prefix="hf://datasets/robust/rt@v1.0.0/")
    task = yaml.safe_load(paths[0].read_text())
    assert task["doc_to_choice"] == "label_names"
    assert task["dataset_kwargs"]["data_files"]["test"] == (
        "hf://datasets/robust/rt@v1.0.0/original/test-00000-of-00001.parquet"
    )


def test_a_folder_without_manifest_is_refused(tmp_path):
    with pytest.raises(Exception, match="is not a release folder"):
        write_lmeval_tasks(tmp_path, tmp_path / "tasks")


@pytest.mark.timeout(600)
def test_lm_eval_runs_the_exported_tasks_and_logs_every_row_with_its_ids(rotten_release, tmp_path):
    """The real harness (its `dummy` model scores options at random): installed with the dev extras."""
    pytest.importorskip("lm_eval")
    out, _, manifest = rotten_release
    write_lmeval_tasks(out, tmp_path / "tasks")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    args = [
        "--model",
        "dummy",
        "--tasks",
        "robustboard_rotten_tomatoes_all",
        "--include_path",
        str(tmp_path / "tasks"),
    ]
    args += ["--log_samples", "--output_path", str(tmp_path / "results"), "--limit", "4"]
    done = subprocess.run([sys.executable, "-m", "lm_eval", *args], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    samples = sorted((tmp_path / "results").rglob("samples_robustboard_rotten_tomatoes_*.jsonl"))
    assert len(samples) == len(manifest["configs"])
    for path in samples:
        for line in path.read_text().splitlines():
            sample = json.loads(line)
            assert {"example_id", "variant_id", "prompt", "label_names"} <= set(sample["doc"])
            assert len(sample["filtered_resps"]) == len(sample["doc"]["label_names"]) == 2
            assert sample["arguments"]["gen_args_0"]["arg_0"] == sample["doc"]["prompt"]
