"""Fixtures for the release tests: spec files over ../shared/data and releases built once per session.

Specs are written into temporary folders and point at the shared data by absolute path (the data
is never copied into the repository). The MMLU subset takes every 400th question of the real test
set, so it spans many subjects and includes the long professional-law passages.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.release import build_release
from builder.specs import load_spec
from tests.builder.spec_files import MMLU_STEP, mmlu_spec_data, rotten_spec_data, write_spec


@pytest.fixture(scope="session")
def mmlu_subset_file(tmp_path_factory, shared_data) -> Path:
    rows = (shared_data / "mmlu" / "test.jsonl").read_text("utf-8").splitlines()[::MMLU_STEP]
    path = tmp_path_factory.mktemp("mmlu-data") / "test.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def mmlu_spec_file(tmp_path_factory, mmlu_subset_file) -> Path:
    return write_spec(tmp_path_factory.mktemp("mmlu-spec"), mmlu_spec_data(mmlu_subset_file))


@pytest.fixture(scope="session")
def rotten_spec_file(tmp_path_factory, shared_data) -> Path:
    return write_spec(tmp_path_factory.mktemp("rt-spec"), rotten_spec_data(shared_data))


def _build(tmp_path_factory, spec_file: Path, **kwargs) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("release")
    out, labels = root / "public", root / "labels"
    manifest = build_release(load_spec(spec_file), out, labels, log=lambda message: None, **kwargs)
    return out, labels, manifest


@pytest.fixture(scope="session")
def mmlu_release(tmp_path_factory, mmlu_spec_file) -> tuple[Path, Path, dict]:
    """The MMLU subset with the default slots (no few-shot: the spec has no demonstration split)."""
    return _build(tmp_path_factory, mmlu_spec_file, audit_per_slot=2)


@pytest.fixture(scope="session")
def rotten_release(tmp_path_factory, rotten_spec_file) -> tuple[Path, Path, dict]:
    """The first 25 rotten_tomatoes test sentences with the default slots, demonstrations from train."""
    return _build(tmp_path_factory, rotten_spec_file, limit=25)
