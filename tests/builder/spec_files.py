"""Spec files for the builder tests: YAML written into temporary folders, pointing at ../shared/data."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

MMLU_STEP = 400


def write_spec(folder: Path, data: dict, name: str = "spec.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def mmlu_spec_data(test_file: Path) -> dict:
    return {
        "name": "mmlu_subset",
        "task": "multiple_choice",
        "license": "MIT",
        "citation": "@article{hendryckstest2021, title={Measuring Massive Multitask Language Understanding}}",
        "source": {"data_files": {"test": str(test_file)}, "split": "test"},
        "fields": {"question": "question", "choices": "choices", "answer": "answer", "group": "subject"},
    }


def rotten_spec_data(shared_data: Path) -> dict:
    folder = shared_data / "rotten_tomatoes"
    return {
        "name": "rotten_tomatoes",
        "task": "classification",
        "license": "CC BY 4.0",
        "source": {
            "data_files": {"test": str(folder / "test.jsonl"), "train": str(folder / "train.jsonl")},
            "split": "test",
            "fewshot_split": "train",
        },
        "fields": {"text": "text", "label": "label"},
        "labels": ["negative", "positive"],
    }


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
