"""End to end: build a release from the real MMLU data in ../shared/data, answer it from the public
files only, submit through the store (JSONL predictions and lm-eval sample logs), read the results.

The "model" is a real, if weak, heuristic that sees only public inputs: it picks the longest option
text (ties broken alphabetically). It never looks at a label, and because it answers by option
content it is blind to option order, enumerators and question perturbations — so its answers agree
across every slot, which the scorer must see through reordered options (pitfall 6) on real data.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from submissions.store import open_store

N_EXAMPLES = 24


def _pick(choices) -> int:
    """Position of the longest option text (ties: alphabetically first)."""
    choices = list(choices)
    best = sorted(choices, key=lambda c: (-len(c), c))[0]
    return choices.index(best)


@pytest.fixture(scope="module")
def release(shared_data, tmp_path_factory):
    from builder.release import build_release
    from builder.specs import load_spec

    root = tmp_path_factory.mktemp("e2e")
    spec = load_spec("mmlu").with_data_files({"test": str(shared_data / "mmlu" / "test.jsonl")})
    manifest = build_release(spec, root / "release", root / "labels", limit=N_EXAMPLES, seed=0)
    return root, manifest


def public_rows(release_dir: Path) -> pd.DataFrame:
    frames = [pd.read_parquet(p) for p in sorted(release_dir.glob("*/*.parquet"))]
    return pd.concat(frames, ignore_index=True)


def test_build_predict_submit_and_read_the_result(release):
    root, manifest = release
    public = public_rows(root / "release")
    assert "gold" not in public.columns
    rows = [
        {
            "example_id": r.example_id,
            "variant_id": r.variant_id,
            "prediction": r.choice_labels[_pick(r.choices)],
        }
        for r in public.itertuples()
    ]
    predictions = root / "longest.jsonl"
    predictions.write_text("".join(json.dumps(r) + "\n" for r in rows))

    store = open_store(str(root / "store"))
    entry = store.register_release(str(root / "release"), str(root / "labels"))
    assert entry["content_hash"] == manifest["content_hash"]
    request = store.submit(
        predictions,
        release=f"mmlu@{manifest['version']}",
        model={"name": "heuristics/longest-option", "type": "baseline"},
        submitter="e2e",
    )
    [done] = store.run_pending(n_resamples=200)
    assert done["status"] == "FINISHED", done["reason"]
    [result] = store.results()
    assert result["submission_id"] == request["submission_id"]
    assert (
        result["n_examples"] == manifest["counts"]["examples"]
        and result["n_slots"] == manifest["counts"]["slots"]
    )
    assert result["coverage"] == 1.0 and result["extraction_failures"]["count"] == 0
    assert set(result["per_family"]) == set(manifest["configs"])
    assert result["release"]["content_hash"] == manifest["content_hash"]
    metrics = result["metrics"]
    # content-based answers: identical in every slot, whatever the enumerator or the option order
    assert metrics["consistency"] == 1.0 and metrics["spread"] == 0.0
    assert metrics["worst_case_accuracy"] == pytest.approx(metrics["accuracy"])
    assert result["per_family"]["choice_order"]["metrics"]["consistency"] == 1.0
    assert 0.0 < metrics["accuracy"] < 1.0
    low, high = result["ci"]["accuracy"]
    assert low <= metrics["accuracy"] <= high
    # the same file again is the same submission
    again = store.submit(
        predictions,
        release=f"mmlu@{manifest['version']}",
        model={"name": "heuristics/longest-option", "type": "baseline"},
        submitter="e2e",
    )
    assert again["submission_id"] == request["submission_id"] and len(store.results()) == 1


def test_lmeval_sample_logs_of_the_builders_tasks_are_scored(release):
    """Write, for each task YAML the builder exports, the samples file `lm_eval --log_samples` would
    write for a model whose log-likelihoods favour the longest option, and submit the folder."""
    from builder.lmeval import write_lmeval_tasks

    root, manifest = release
    tasks = write_lmeval_tasks(root / "release", root / "lmeval")
    public = public_rows(root / "release")
    out = root / "lm-eval-output" / "heuristics__longest-option"
    out.mkdir(parents=True)
    configs = 0
    for path in tasks:
        body = yaml.safe_load(path.read_text())
        if "group" in body:
            continue
        configs += 1
        config = body["metadata"]["robustboard_config"]
        choice_column = body["doc_to_choice"]
        lines = []
        for doc_id, doc in enumerate(public[public["family"] == config].to_dict("records")):
            doc = {k: (list(v) if hasattr(v, "tolist") else v) for k, v in doc.items()}
            choices = doc[choice_column]
            best = _pick(doc["choices"])
            logliks = [-2.0 - i * 0.1 for i in range(len(choices))]
            logliks[best] = -0.5
            record = {
                "doc_id": doc_id,
                "doc": doc,
                "target": str(body["doc_to_target"]),
                "arguments": {
                    f"gen_args_{i}": {"arg_0": doc["prompt"], "arg_1": f"{body['target_delimiter']}{c}"}
                    for i, c in enumerate(choices)
                },
                "resps": [[[str(ll), str(i == best)]] for i, ll in enumerate(logliks)],
                "filtered_resps": [[str(ll), str(i == best)] for i, ll in enumerate(logliks)],
                "filter": "none",
                "metrics": ["acc"],
                "doc_hash": hashlib.sha256(
                    json.dumps(doc, indent=2, ensure_ascii=False).encode()
                ).hexdigest(),
                "prompt_hash": hashlib.sha256(doc["prompt"].encode()).hexdigest(),
                "target_hash": hashlib.sha256(str(body["doc_to_target"]).encode()).hexdigest(),
                "acc": float(best == body["doc_to_target"]),
            }
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        (out / f"samples_{body['task']}_2026-01-01T00-00-00.000000.jsonl").write_text("".join(lines))
    assert configs == len(manifest["configs"])

    store = open_store(str(root / "store-lmeval"))
    store.register_release(str(root / "release"), str(root / "labels"))
    request = store.submit(
        root / "lm-eval-output",
        release=f"mmlu@{manifest['version']}",
        model={"name": "heuristics/longest-option", "type": "baseline"},
        submitter="e2e",
    )
    assert request["raw_format"] == "lm-eval"
    [done] = store.run_pending(n_resamples=100)
    assert done["status"] == "FINISHED", done["reason"]
    [result] = store.results()
    assert result["coverage"] == 1.0 and result["metrics"]["consistency"] == 1.0
    # the same answers as the JSONL submission of the other test: the same accuracy
    rows = public.assign(prediction=[r.choice_labels[_pick(r.choices)] for r in public.itertuples()])
    from submissions.formats import read_labels
    from submissions.metrics import score

    direct = score(
        read_labels(root / "labels"), rows[["example_id", "variant_id", "prediction"]], n_resamples=0
    )
    assert result["metrics"]["accuracy"] == pytest.approx(direct["metrics"]["accuracy"])
