"""Releases: the examples × slots matrix in the push_to_hub layout, hidden labels, determinism, versioning."""

from __future__ import annotations

import dataclasses
import json
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

import datasets
import pandas as pd
import pyarrow.parquet as pq
import pytest

from builder.perturbations.base import REGISTRY, Perturbation
from builder.release import BuildError, build_release, labels_schema, public_schema
from builder.slots import parse_release_spec
from builder.specs import load_spec
from robustboard.hashing import sha256_bytes, sha256_file

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "import sys; from robustboard.cli import main; sys.exit(main(sys.argv[1:]))"]
PUBLIC_MC = [
    "example_id",
    "variant_id",
    "family",
    "params",
    "task",
    "question",
    "choices",
    "choice_labels",
    "prompt",
]
PUBLIC_CLS = [
    "example_id",
    "variant_id",
    "family",
    "params",
    "task",
    "text",
    "text_pair",
    "label_names",
    "prompt",
]
SMALL_SLOTS = parse_release_spec(
    {
        "name": "small",
        "slots": [
            {"perturbation": "typos", "params": {"p": 0.1}, "replicates": 2},
            {"perturbation": "enumerator", "params": {"scheme": "roman"}},
            {"perturbation": "choice_order", "params": {"mode": "random"}, "replicates": 1},
        ],
    }
)


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def small_build(spec_file: Path, root: Path, **kwargs) -> dict:
    kwargs = {"limit": 12, "release_spec": SMALL_SLOTS, "log": lambda message: None} | kwargs
    return build_release(load_spec(spec_file), root / "public", root / "labels", **kwargs)


# --------------------------------------------------------------------------- layout and read-back


def test_the_release_is_one_parquet_config_per_family_plus_card_and_manifest(mmlu_release):
    out, labels, manifest = mmlu_release
    configs = manifest["configs"]
    assert list(configs)[0] == "original" and configs["original"] == ["original"]
    expected = {"README.md", "manifest.json"} | {f"{c}/test-00000-of-00001.parquet" for c in configs}
    assert set(tree(out)) == expected
    assert set(tree(labels)) == {"manifest.json"} | {f"{c}/test-00000-of-00001.parquet" for c in configs}
    assert len(manifest["slots"]) >= 20
    # no demonstration split in this spec: the few-shot slots are left out, and said so
    assert [s["setting"] for s in manifest["skipped_slots"]] == ["fewshot-3"]
    assert "fewshot" not in configs


def test_every_config_loads_offline_with_load_dataset_and_the_matrix_is_complete(
    mmlu_release, mmlu_subset_file
):
    out, _, manifest = mmlu_release
    source = pd.read_json(mmlu_subset_file, lines=True)
    example_ids = [f"mmlu_subset-{i}" for i in range(len(source))]
    assert manifest["counts"] == {
        "examples": len(source),
        "slots": len(manifest["slots"]),
        "rows": len(source) * len(manifest["slots"]),
        "tasks": source["subject"].nunique(),
        "dropped": 0,
    }
    seen = []
    for config, variant_ids in manifest["configs"].items():
        rows = datasets.load_dataset(str(out), config, split="test")
        assert rows.column_names == PUBLIC_MC
        frame = rows.to_pandas()
        # sorted by (source order, slot order): every example has every slot of the config
        assert list(zip(frame["example_id"], frame["variant_id"], strict=True)) == [
            (e, v) for e in example_ids for v in variant_ids
        ]
        assert set(frame["family"]) == {config}
        assert list(frame["task"]) == [s for s in source["subject"] for _ in variant_ids]
        seen += list(frame["variant_id"])
    assert sorted(set(seen)) == sorted(s["variant_id"] for s in manifest["slots"])
    default = datasets.load_dataset(str(out), split="test")  # `original` is the default config
    assert set(default["variant_id"]) == {"original"}


def test_public_files_carry_no_gold_answer(mmlu_release, rotten_release):
    for out, labels, manifest in (mmlu_release, rotten_release):
        columns = PUBLIC_MC if manifest["task_type"] == "multiple_choice" else PUBLIC_CLS
        for path in out.rglob("*.parquet"):
            schema = pq.read_schema(path)
            assert schema.names == columns
            features = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
            assert list(features) == columns  # the embedded `datasets` features name no hidden column
        assert not (out / "labels").exists() and labels not in out.parents and out not in labels.parents
        text = (out / "manifest.json").read_text() + (out / "README.md").read_text()
        assert '"gold"' not in text and "labels_sha256" in text


def test_labels_give_each_slots_gold_in_its_own_labels_with_the_content_unchanged(
    mmlu_release, mmlu_subset_file
):
    out, labels, manifest = mmlu_release
    source = pd.read_json(mmlu_subset_file, lines=True)
    gold_text = {f"mmlu_subset-{i}": row.choices[row.answer] for i, row in source.iterrows()}
    options = {f"mmlu_subset-{i}": sorted(row.choices) for i, row in source.iterrows()}
    moved = 0
    for config in manifest["configs"]:
        rel = f"{config}/test-00000-of-00001.parquet"
        label_rows = pd.read_parquet(labels / rel)
        public = pd.read_parquet(out / rel)
        assert list(label_rows.columns) == [
            "example_id",
            "variant_id",
            "gold",
            "task",
            "choice_labels",
            "choices",
        ]
        assert (label_rows["example_id"] == public["example_id"]).all()
        assert (label_rows["variant_id"] == public["variant_id"]).all()
        for lab, pub in zip(label_rows.itertuples(), public.itertuples(), strict=True):
            labels_, choices = list(lab.choice_labels), list(lab.choices)
            assert labels_ == list(pub.choice_labels) and choices == list(pub.choices)
            assert lab.gold in labels_
            assert choices[labels_.index(lab.gold)] == gold_text[lab.example_id]
            assert sorted(choices) == options[lab.example_id]
            if lab.variant_id == "enumerator-roman":
                assert lab.gold in {"i", "ii", "iii", "iv"}
            original_index = source.choices[int(lab.example_id.rsplit("-", 1)[1])].index(
                gold_text[lab.example_id]
            )
            moved += labels_.index(lab.gold) != original_index
    assert moved > 0  # choice-order slots really moved gold answers (and the labels followed them)


def test_a_classification_release_keeps_labels_and_draws_demonstrations_from_train(
    rotten_release, shared_data
):
    out, labels, manifest = rotten_release
    test = pd.read_json(shared_data / "rotten_tomatoes" / "test.jsonl", lines=True).head(25)
    train_texts = set(pd.read_json(shared_data / "rotten_tomatoes" / "train.jsonl", lines=True)["text"])
    assert "fewshot" in manifest["configs"] and not manifest["skipped_slots"]
    assert not {"enumerator", "choice_order"} & set(manifest["configs"])
    gold = {f"rotten_tomatoes-{i}": ["negative", "positive"][label] for i, label in enumerate(test["label"])}
    for config in manifest["configs"]:
        label_rows = pd.read_parquet(labels / f"{config}/test-00000-of-00001.parquet")
        assert list(label_rows.columns) == ["example_id", "variant_id", "gold", "task", "label_names"]
        assert (label_rows["gold"] == label_rows["example_id"].map(gold)).all()
        assert all(list(names) == ["negative", "positive"] for names in label_rows["label_names"])
    fewshot = pd.read_parquet(out / "fewshot/test-00000-of-00001.parquet")
    for row in fewshot.itertuples():
        others = [t for i, t in enumerate(test["text"]) if f"rotten_tomatoes-{i}" != row.example_id]
        assert not any(t in row.prompt for t in others)  # no evaluated sentence (and its answer) is shown
        assert sum(t in row.prompt for t in train_texts if len(t) > 40) >= 1


def test_the_manifest_hashes_every_file_and_identifies_the_release(mmlu_release):
    out, labels, manifest = mmlu_release
    assert {
        "name", "version", "task_type", "source", "split", "spec", "release_spec", "seed", "slots", "configs",
        "counts", "files", "labels_sha256", "content_hash", "builder_version", "changelog",
    } <= set(manifest)  # fmt: skip
    assert manifest["files"] == {rel: sha256_file(out / rel) for rel in tree(out) if rel != "manifest.json"}
    digest = "".join(f"{p}\t{h}\n" for p, h in sorted(manifest["files"].items()))
    assert manifest["content_hash"] == sha256_bytes(digest.encode())
    label_manifest = json.loads((labels / "manifest.json").read_text())
    assert label_manifest["content_hash"] == manifest["content_hash"]
    assert label_manifest["files"] == {
        rel: sha256_file(labels / rel) for rel in tree(labels) if rel.endswith(".parquet")
    }
    label_digest = "".join(f"{p}\t{h}\n" for p, h in sorted(label_manifest["files"].items()))
    assert manifest["labels_sha256"] == sha256_bytes(label_digest.encode())
    assert manifest["source"]["data_files"]["test"]["sha256"] == sha256_file(
        manifest["source"]["data_files"]["test"]["path"]
    )
    assert manifest["changelog"] == [{"version": "1.0.0", "notes": manifest["changelog"][0]["notes"]}]
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert (out / "manifest.json").read_text() == json.dumps(
        manifest, sort_keys=True, indent=2, ensure_ascii=False
    ) + "\n"


def test_public_and_label_schemas_follow_the_contract():
    assert public_schema("multiple_choice").names == PUBLIC_MC
    assert public_schema("classification").names == PUBLIC_CLS
    assert public_schema("classification").field("text_pair").nullable
    assert labels_schema("multiple_choice").names == [
        "example_id",
        "variant_id",
        "gold",
        "task",
        "choice_labels",
        "choices",
    ]


# --------------------------------------------------------------------------- determinism


def test_two_builds_in_different_processes_are_byte_identical(tmp_path, rotten_spec_file):
    """One build on one process, one on a pool of two workers: same bytes, file for file."""

    def build(name: str, workers: int) -> subprocess.CompletedProcess:
        args = [
            "build",
            str(rotten_spec_file),
            "--out",
            str(tmp_path / name),
            "--labels-out",
            str(tmp_path / f"{name}_l"),
        ]
        args += ["--limit", "40", "--seed", "7", "--workers", str(workers)]
        return subprocess.run([*CLI, *args], cwd=REPO, capture_output=True, text=True)

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(build, ["a", "b"], [1, 2]))
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    assert tree(tmp_path / "a_l") == tree(tmp_path / "b_l")
    assert "built rotten_tomatoes v1.0.0: 40 examples × " in runs[0].stderr


def test_the_seed_changes_the_perturbations_but_not_the_original(tmp_path, mmlu_spec_file):
    a = small_build(mmlu_spec_file, tmp_path / "a", seed=1)
    b = small_build(mmlu_spec_file, tmp_path / "b", seed=2)
    assert (
        a["files"]["original/test-00000-of-00001.parquet"]
        == b["files"]["original/test-00000-of-00001.parquet"]
    )
    assert a["files"]["typos/test-00000-of-00001.parquet"] != b["files"]["typos/test-00000-of-00001.parquet"]


# --------------------------------------------------------------------------- versioning


def test_rebuilding_a_version_with_the_same_content_is_a_no_op(tmp_path, mmlu_spec_file):
    first = small_build(mmlu_spec_file, tmp_path)
    before = tree(tmp_path / "public")
    again = small_build(mmlu_spec_file, tmp_path)
    assert again["content_hash"] == first["content_hash"] and tree(tmp_path / "public") == before


def test_rebuilding_a_version_with_different_content_is_refused_unless_forced(tmp_path, mmlu_spec_file):
    small_build(mmlu_spec_file, tmp_path)
    public, labels = tree(tmp_path / "public"), tree(tmp_path / "labels")
    with pytest.raises(
        BuildError, match=r"already holds version 1.0.0 with different content .*bump --version"
    ):
        small_build(mmlu_spec_file, tmp_path, seed=5)
    assert tree(tmp_path / "public") == public and tree(tmp_path / "labels") == labels  # nothing half written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels", "public"]  # no staging left behind
    forced = small_build(mmlu_spec_file, tmp_path, seed=5, force=True)
    assert forced["seed"] == 5 and tree(tmp_path / "public") != public


def test_a_new_version_extends_the_changelog_and_an_older_one_is_refused(tmp_path, mmlu_spec_file):
    small_build(mmlu_spec_file, tmp_path, notes="First release.")
    manifest = small_build(mmlu_spec_file, tmp_path, version="1.1.0", seed=3, notes="Reseeded.")
    assert manifest["changelog"] == [
        {"version": "1.0.0", "notes": "First release."},
        {"version": "1.1.0", "notes": "Reseeded."},
    ]
    card = (tmp_path / "public" / "README.md").read_text()
    assert card.index("**v1.1.0**: Reseeded.") < card.index("**v1.0.0**: First release.")
    with pytest.raises(BuildError, match="holds version 1.1.0; building 0.9.0 there would go backwards"):
        small_build(mmlu_spec_file, tmp_path, version="0.9.0")


@pytest.mark.parametrize(
    ("setup", "kwargs", "message"),
    [
        (lambda root: (root / "public").mkdir() or (root / "public" / "notes.txt").write_text("mine"), {},
         "is not empty and holds no release manifest"),
        (lambda root: None, {"version": "1.0"}, "is not a semantic version"),
        (lambda root: None, {"limit": 0}, "--limit must be a positive number"),
    ],
)  # fmt: skip
def test_bad_targets_and_arguments_are_refused_before_any_work(
    tmp_path, mmlu_spec_file, setup, kwargs, message
):
    setup(tmp_path)
    with pytest.raises(BuildError, match=message):
        small_build(mmlu_spec_file, tmp_path, **kwargs)
    assert not (tmp_path / "labels").exists()


def test_a_folder_holding_another_release_is_refused(tmp_path, mmlu_spec_file, rotten_spec_file):
    small_build(mmlu_spec_file, tmp_path)
    with pytest.raises(BuildError, match="holds the release 'mmlu_subset', not 'rotten_tomatoes'"):
        small_build(rotten_spec_file, tmp_path, release_spec=None, limit=3)


def test_a_labels_folder_inside_the_release_is_refused(tmp_path, mmlu_spec_file):
    with pytest.raises(BuildError, match="must be separate"):
        build_release(load_spec(mmlu_spec_file), tmp_path / "out", tmp_path / "out" / "labels", limit=2)


# --------------------------------------------------------------------------- the validation pass


@dataclasses.dataclass(frozen=True)
class _RewordsGoldOption(Perturbation):
    """A broken perturbation: it edits the correct option's text (the audit must catch it)."""

    name: ClassVar[str] = "rewords_gold"
    family: ClassVar[str] = "broken"
    description: ClassVar[str] = "test only"

    def perturb(self, example, rng: random.Random):
        choices = list(example.choices)
        choices[example.answer] = choices[example.answer].upper() + "!"
        return dataclasses.replace(example, choices=tuple(choices))


def test_a_perturbation_that_changes_the_gold_content_fails_the_build_and_writes_nothing(
    tmp_path, mmlu_spec_file, monkeypatch
):
    monkeypatch.setitem(REGISTRY, "rewords_gold", _RewordsGoldOption)
    slots = parse_release_spec({"name": "broken", "slots": [{"perturbation": "rewords_gold"}]})
    with pytest.raises(BuildError) as err:
        small_build(mmlu_spec_file, tmp_path, release_spec=slots)
    message = str(err.value)
    assert message.startswith(
        "validation failed for 12 (example, slot) pair(s): rewords-gold / mmlu_subset-0: "
    )
    assert "the options are not the same multiset" in message
    assert not (tmp_path / "public").exists() and not (tmp_path / "labels").exists()


def test_the_audit_exports_n_pairs_per_slot_for_a_human(mmlu_release):
    _, labels, manifest = mmlu_release
    text = (labels.parent / "labels-audit.md").read_text()
    for slot in manifest["slots"]:
        section = text.split(f"\n## {slot['variant_id']}\n", 1)[1].split("\n## ", 1)[0]
        assert section.count("\n### mmlu_subset-") == 2
        assert section.count("Original — gold `") == 2 and section.count("Perturbed — gold `") == 2


def test_the_audit_can_be_written_as_json_lines(tmp_path, mmlu_spec_file):
    small_build(mmlu_spec_file, tmp_path, audit_per_slot=3, audit_path=tmp_path / "audit.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert len(rows) == 3 * 5
    assert {r["variant_id"] for r in rows} == {
        "original", "typos-p0.1-r1", "typos-p0.1-r2", "enumerator-roman", "choice-order-random-r1",
    }  # fmt: skip
    roman = next(r for r in rows if r["variant_id"] == "enumerator-roman")
    assert roman["perturbed_gold"] in {"i", "ii", "iii", "iv"} and roman["original_gold"] in "ABCD"
