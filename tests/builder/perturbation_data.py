"""Examples for the perturbation and renderer tests: real rows from ../shared/data and small made-up ones."""

from __future__ import annotations

import json
from pathlib import Path

from builder.tasks import Example


def read_jsonl(path: Path, *, step: int = 1, limit: int | None = None) -> list[dict]:
    # split on "\n" only: str.splitlines() would also cut at U+2028 inside MMLU's JSON strings
    lines = [line for line in path.read_text("utf-8").split("\n") if line][::step]
    return [json.loads(line) for line in lines[:limit]]


def mmlu_examples(shared_data: Path, *, step: int = 1, limit: int | None = None) -> list[Example]:
    """MMLU test questions as the release builder sees them (id, subject as task, gold index)."""
    rows = read_jsonl(shared_data / "mmlu" / "test.jsonl", step=step, limit=limit)
    return [
        Example(
            example_id=f"mmlu-{i * step}",
            task_type="multiple_choice",
            task=row["subject"],
            answer=row["answer"],
            question=row["question"],
            choices=tuple(row["choices"]),
        )
        for i, row in enumerate(rows)
    ]


def rotten_examples(shared_data: Path, split: str = "test", *, limit: int | None = None) -> list[Example]:
    rows = read_jsonl(shared_data / "rotten_tomatoes" / f"{split}.jsonl", limit=limit)
    return [
        Example(
            example_id=f"rotten_tomatoes-{split}-{i}",
            task_type="classification",
            task="rotten_tomatoes",
            answer=row["label"],
            text=row["text"],
            label_names=("negative", "positive"),
        )
        for i, row in enumerate(rows)
    ]


def mc(question: str, choices: tuple[str, ...] = ("red", "green", "blue", "yellow"), answer: int = 2, **kw):
    return Example(
        example_id=kw.pop("example_id", "ex-1"),
        task_type="multiple_choice",
        task=kw.pop("task", "colours"),
        answer=answer,
        question=question,
        choices=choices,
        **kw,
    )


def classification(text: str, text_pair: str | None = None, answer: int = 1, **kw) -> Example:
    return Example(
        example_id=kw.pop("example_id", "ex-1"),
        task_type="classification",
        task=kw.pop("task", "sentiment"),
        answer=answer,
        text=text,
        text_pair=text_pair,
        label_names=kw.pop("label_names", ("negative", "positive")),
        **kw,
    )
