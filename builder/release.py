"""Writing a release: the examples × slots matrix as one parquet config per perturbation family.

The layout is the one `DatasetDict.push_to_hub` writes (`<config>/<split>-00000-of-00001.parquet`
plus a README whose YAML lists the configs), so `load_dataset(DIR, config)` reads it offline and
the folder uploads to the Hub file by file. Gold answers go to a separate labels folder.

Determinism: every random choice a perturbation makes comes from a `random.Random` seeded with
`stable_seed(release seed, example_id, variant_id)`, so a row does not depend on the order, the
process, or the worker that computed it; parquet files are written with fixed options and the
manifest has sorted keys and no timestamps. Two builds give byte-identical files.

Speed: the matrix is computed config by config (memory stays bounded by the largest config),
each config over example chunks on a fork pool when the release is large; the columns that do
not depend on the perturbation (ids, family, params, task) are built with numpy, and each config
becomes one pyarrow table.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from builder import audit
from builder.slots import ReleaseSpec, Slot, configs_of, load_release_spec, resolve_slots
from builder.sources import load_source
from builder.specs import BenchmarkSpec, SpecError, validate_rows
from builder.tasks import Example
from robustboard import __version__ as ROBUSTBOARD_VERSION
from robustboard.atomic import write_json, write_text
from robustboard.cli import UserError
from robustboard.hashing import sha256_bytes, sha256_file, stable_seed

BUILDER_VERSION = f"robustboard-builder {ROBUSTBOARD_VERSION}"
_VERSION_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
PARALLEL_MIN_ROWS = 20_000  # below this, forking workers costs more than it saves
CHUNK_EXAMPLES = 500
ROW_GROUP_SIZE = 10_000
PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "row_group_size": ROW_GROUP_SIZE,
    "version": "2.6",
    "data_page_version": "1.0",
}


class BuildError(UserError):
    """The release could not be built (validation failed, versioning refused); nothing was written."""


def shard_path(config: str, split: str) -> str:
    return f"{config}/{split}-00000-of-00001.parquet"


@cache
def public_schema(task_type: str) -> pa.Schema:
    """The public row, in the column order of docs/architecture.md."""
    string, strings = pa.string(), pa.list_(pa.string())
    head = [
        ("example_id", string),
        ("variant_id", string),
        ("family", string),
        ("params", string),
        ("task", string),
    ]
    if task_type == "multiple_choice":
        body = [("question", string), ("choices", strings), ("choice_labels", strings)]
    else:
        body = [("text", string), ("text_pair", string), ("label_names", strings)]
    fields = [
        pa.field(name, typ, nullable=(name == "text_pair"))
        for name, typ in [*head, *body, ("prompt", string)]
    ]
    return _with_hf_features(pa.schema(fields))


@cache
def labels_schema(task_type: str) -> pa.Schema:
    string, strings = pa.string(), pa.list_(pa.string())
    cols = [("example_id", string), ("variant_id", string), ("gold", string), ("task", string)]
    if task_type == "multiple_choice":
        cols += [("choice_labels", strings), ("choices", strings)]
    else:  # the answer space in order, so the scorer accepts index answers and never guesses it
        cols += [("label_names", strings)]
    return _with_hf_features(pa.schema([pa.field(n, t, nullable=False) for n, t in cols]))


def _with_hf_features(schema: pa.Schema) -> pa.Schema:
    """Embed the `datasets` features the way its own parquet writer does, so types round-trip."""
    from datasets import Features

    features = Features.from_arrow_schema(schema)
    return schema.with_metadata({"huggingface": json.dumps({"info": {"features": features.to_dict()}})})


# --------------------------------------------------------------------------- the matrix

_STATE: dict[str, Any] = {}  # set before the pool forks; workers read it, never write it


@dataclass
class _Chunk:
    """Per-row outputs of one config over a range of examples (slot-major within each example)."""

    inputs: list  # question (MC) or text (classification)
    pairs: list  # text_pair (classification)
    choices: list
    labels: list  # choice labels (MC) or label names (classification)
    prompts: list
    gold: list
    problems: list[tuple[str, str, str]]  # (example_id, variant_id, why)
    audit_pairs: list[audit.AuditPair]


def _compute(task: tuple[str, int, int]) -> _Chunk:
    config, start, stop = task
    examples: Sequence[Example] = _STATE["examples"]
    slots: Sequence[Slot] = _STATE["configs"][config]
    seed, render, picks = _STATE["seed"], _STATE["render"], _STATE["audit_picks"]
    check = _STATE["check"]
    mc = examples[0].task_type == "multiple_choice"
    out = _Chunk([], [], [], [], [], [], [], [])
    for i in range(start, stop):
        example = examples[i]
        original_prompt = None
        for slot in slots:
            try:
                if slot.perturbation is None:
                    variant = example
                else:
                    rng = random.Random(stable_seed(seed, example.example_id, slot.variant_id))
                    variant = slot.perturbation.perturb(example, rng)
                prompt = render(variant)
                why = check(example, variant)
            except Exception as err:  # a perturbation or render bug: reported like a failed check
                why = f"{type(err).__name__}: {err}"
            if why:
                out.problems.append((example.example_id, slot.variant_id, why))
                continue
            if i in picks.get(slot.variant_id, ()):
                original_prompt = original_prompt or render(example)
                out.audit_pairs.append(
                    audit.AuditPair(slot.variant_id, example, variant, original_prompt, prompt)
                )
            labels = tuple(variant.labels)
            if mc:
                out.inputs.append(variant.question)
                out.choices.append(tuple(variant.choices))
            else:
                out.inputs.append(variant.text)
                out.pairs.append(variant.text_pair)
            out.labels.append(labels)
            out.prompts.append(prompt)
            out.gold.append(labels[variant.answer])
    return out


def _config_tables(
    config: str, slots: Sequence[Slot], examples: Sequence[Example], chunks: Sequence[_Chunk]
) -> tuple[pa.Table, pa.Table]:
    """One config's public and labels tables.

    Row r is example r // k in slot r % k, so the id, slot, family, params and task columns are
    `take`s of short arrays by numpy index vectors; the perturbation outputs repeat a lot across
    slots (options, labels, often the question), so each distinct value is converted to Arrow once.
    """
    n, k = len(examples), len(slots)
    example_row, slot_row = np.repeat(np.arange(n), k), np.tile(np.arange(k), n)

    def cat(attr: str) -> list:
        return [v for c in chunks for v in getattr(c, attr)]

    def by(values: list, rows: np.ndarray) -> pa.Array:
        return pa.array(values, pa.string()).take(pa.array(rows))

    example_id, variant_id = (
        by([e.example_id for e in examples], example_row),
        by([s.variant_id for s in slots], slot_row),
    )
    task = by([e.task for e in examples], example_row)
    strings, lists = pa.string(), pa.list_(pa.string())
    labels = _distinct(cat("labels"), lists)
    public = {
        "example_id": example_id,
        "variant_id": variant_id,
        "family": by([config], np.zeros(n * k, dtype=np.int64)),
        "params": by([s.params_json for s in slots], slot_row),
        "task": task,
    }
    if examples[0].task_type == "multiple_choice":
        choices = _distinct(cat("choices"), lists)
        public |= {"question": _distinct(cat("inputs"), strings), "choices": choices, "choice_labels": labels}
        hidden = {
            "gold": _distinct(cat("gold"), strings),
            "task": task,
            "choice_labels": labels,
            "choices": choices,
        }
    else:
        public |= {
            "text": _distinct(cat("inputs"), strings),
            "text_pair": _distinct(cat("pairs"), strings),
            "label_names": labels,
        }
        hidden = {"gold": _distinct(cat("gold"), strings), "task": task, "label_names": labels}
    public["prompt"] = pa.array(cat("prompts"), strings)
    task_type = examples[0].task_type
    return (
        pa.table(public, schema=public_schema(task_type)),
        pa.table(
            {"example_id": example_id, "variant_id": variant_id, **hidden}, schema=labels_schema(task_type)
        ),
    )


def _distinct(values: list, typ: pa.DataType) -> pa.Array:
    """An Arrow array of `values` (hashable: str, tuple, None) converting each distinct value once."""
    index: dict = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.int64, count=len(values))
    return pa.array(list(index), typ).take(pa.array(codes))


def _write_parquet(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, **PARQUET_OPTIONS)


# --------------------------------------------------------------------------- the build


def build_release(
    spec: BenchmarkSpec,
    out_dir: str | os.PathLike,
    labels_dir: str | os.PathLike,
    *,
    version: str = "1.0.0",
    seed: int = 0,
    limit: int | None = None,
    release_spec: ReleaseSpec | str | None = None,
    force: bool = False,
    notes: str = "",
    repo_id: str | None = None,
    audit_per_slot: int = 0,
    audit_path: str | os.PathLike | None = None,
    workers: int | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool | None = None,
) -> dict:
    """Build `spec` into a public release folder and a private labels folder; return the manifest.

    Nothing is written unless every check passes: the files are built in staging folders beside
    the targets and moved into place at the end. Rebuilding a version that `out_dir` already holds
    with different content is refused unless `force`.
    """
    log = log or (lambda message: print(message, file=sys.stderr))
    out_dir, labels_dir = Path(out_dir).resolve(), Path(labels_dir).resolve()
    _check_targets(spec.name, out_dir, labels_dir, version, limit, force)
    if not isinstance(release_spec, ReleaseSpec):
        release_spec = load_release_spec(release_spec)
    slots = resolve_slots(release_spec, spec.task)

    loaded = load_source(spec)
    log(loaded.message)
    examples, dropped = validate_rows(spec, loaded.rows)
    source_record = loaded.record
    del loaded  # the raw rows are no longer needed: keep the build's peak memory down
    if dropped:
        log(f"{spec.name}: left out {len(dropped)} invalid row(s) (invalid_rows: drop); see the manifest")
    if limit is not None:
        examples = examples[:limit]
    slots, skipped = _attach_pool(spec, slots, log)
    for slot in slots:
        if slot.perturbation is not None:
            try:
                slot.perturbation.prepare(examples)
            except ValueError as err:  # e.g. a demonstration pool that overlaps the examples
                raise BuildError(f"slot {slot.variant_id}: {err}") from None

    previous = _read_manifest(out_dir / "manifest.json")
    default_notes = (
        f"{len(examples)} examples × {len(slots)} slots from {_source_name(source_record)}, seed {seed}."
    )
    manifest = {
        "name": spec.name,
        "version": version,
        "task_type": spec.task,
        "source": source_record,
        "split": spec.source.split,
        "spec": spec.to_dict(),
        "release_spec": release_spec.to_dict(),
        "seed": seed,
        "limit": limit,
        "slots": [s.to_dict() for s in slots],
        "skipped_slots": skipped,
        "configs": configs_of(slots),
        "counts": {
            "examples": len(examples),
            "slots": len(slots),
            "rows": len(examples) * len(slots),
            "tasks": len({e.task for e in examples}),
            "dropped": len(dropped),
        },
        "dropped": [{"row": d.row, "source_id": d.source_id, "reason": d.reason} for d in dropped],
        "builder_version": BUILDER_VERSION,
        "changelog": _changelog(previous, version, notes, default_notes),
    }

    configs = {family: [s for s in slots if s.family == family] for family in manifest["configs"]}
    release_ids = frozenset(e.example_id for e in examples)
    altered = _altered_tokens_fn()
    _STATE.clear()
    _STATE.update(
        examples=examples,
        configs=configs,
        seed=seed,
        render=_renderer(),
        audit_picks=audit.pick_audit_rows(len(examples), [s.variant_id for s in slots], audit_per_slot, seed),
        check=lambda original, variant: audit.check_pair(
            original, variant, release_ids=release_ids, altered=altered
        ),
    )
    if workers is None:  # forking pays off only on large matrices
        workers = (os.cpu_count() or 1) if len(examples) * len(slots) >= PARALLEL_MIN_ROWS else 1
    staging = _Staging(out_dir, labels_dir)
    try:
        files, label_files, audit_pairs = _write_matrix(spec, configs, examples, staging, workers, progress)
        _seal(manifest, spec, files, label_files, staging, repo_id)
        _check_version(previous, manifest, out_dir, force)
        staging.commit()
    finally:
        staging.cleanup()
        _STATE.clear()
    if audit_per_slot > 0:
        target = Path(audit_path) if audit_path else labels_dir.parent / f"{labels_dir.name}-audit.md"
        audit.write_audit(audit_pairs, target)
        log(
            f"audit: {len(audit_pairs)} (original, perturbed) pairs written to {target} (private: shows gold)"
        )
    _summary(manifest, out_dir, labels_dir, log)
    return manifest


def _attach_pool(spec: BenchmarkSpec, slots: list[Slot], log) -> tuple[list[Slot], list[dict]]:
    """Give few-shot slots their demonstration pool: the spec's `fewshot_split`, never the release.

    A demonstration shows its answer, so drawing one from the released split would publish hidden
    labels. Without a separate split (or when it cannot be loaded) the few-shot slots are left out
    and listed as skipped in the manifest and the card.
    """
    needy = [s for s in slots if s.perturbation is not None and s.perturbation.needs_pool()]
    if not needy:
        return slots, []
    pool_split = spec.source.fewshot_split
    if not pool_split:
        reason = "the spec names no `source.fewshot_split` to draw demonstrations from"
    else:
        try:
            loaded = load_source(spec, pool_split)
            pool, _ = validate_rows(replace(spec, invalid_rows="drop"), loaded.rows, pool_split)
        except SpecError as err:
            reason = f"its demonstration split {pool_split!r} could not be read ({err})"
        else:
            log(f"{spec.name}: few-shot demonstrations come from split {pool_split!r} ({len(pool)} examples)")
            attached = [
                replace(s, perturbation=s.perturbation.with_pool(pool)) if s in needy else s for s in slots
            ]
            return attached, []
    log(f"{spec.name}: left out the few-shot slots ({', '.join(s.variant_id for s in needy)}): {reason}")
    settings = dict.fromkeys(s.perturbation.setting_id() for s in needy)
    return [s for s in slots if s not in needy], [{"setting": x, "reason": reason} for x in settings]


def _check_targets(
    name: str, out_dir: Path, labels_dir: Path, version: str, limit: int | None, force: bool
) -> None:
    if not _VERSION_RE.match(version):
        raise BuildError(f"--version {version!r} is not a semantic version X.Y.Z (e.g. 1.0.0)")
    if limit is not None and limit < 1:
        raise BuildError(f"--limit must be a positive number of examples, got {limit}")
    if out_dir == labels_dir or out_dir in labels_dir.parents or labels_dir in out_dir.parents:
        raise BuildError(
            f"the labels folder {labels_dir} and the release folder {out_dir} must be separate "
            "(nested folders would publish the gold answers)"
        )
    for folder, what in ((out_dir, "release"), (labels_dir, "labels")):
        if folder.exists() and not folder.is_dir():
            raise BuildError(f"the {what} folder {folder} is a file")
        if force or not _nonempty(folder):
            continue
        held = _read_manifest(folder / "manifest.json")
        if held is None:
            raise BuildError(
                f"the {what} folder {folder} is not empty and holds no release manifest; "
                "choose an empty folder or pass --force to replace it"
            )
        if held.get("name") != name:
            raise BuildError(
                f"the {what} folder {folder} holds the release {held.get('name')!r}, not {name!r}; "
                "choose another folder or pass --force to replace it"
            )


def _nonempty(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


class _Staging:
    """Build into hidden sibling folders, then swap them in: readers never see a half release."""

    def __init__(self, out_dir: Path, labels_dir: Path):
        self.targets = (out_dir, labels_dir)
        self.public, self.labels = (
            t.parent / f".{t.name}.staging-{os.getpid()}" for t in self.targets
        )  # fmt: skip
        for folder in (self.public, self.labels):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        self.done = False

    def commit(self) -> None:
        for staged, target in ((self.labels, self.targets[1]), (self.public, self.targets[0])):
            old = target.parent / f".{target.name}.old-{os.getpid()}"
            if target.exists():
                target.rename(old)
            staged.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        self.done = True

    def cleanup(self) -> None:
        for folder in (self.public, self.labels):
            shutil.rmtree(folder, ignore_errors=True)


def _write_matrix(spec, configs, examples, staging, workers, progress):
    """Compute every config's chunks on the pool and write each config as soon as it is complete.

    All (config, chunk) tasks are queued at once, so the workers go on with the next config while
    this process builds and writes the previous one.
    """
    from tqdm.auto import tqdm

    n = len(examples)
    spans = [(start, min(start + CHUNK_EXAMPLES, n)) for start in range(0, n, CHUNK_EXAMPLES)]
    tasks = [(config, start, stop) for config in configs for start, stop in spans]
    files, label_files, audit_pairs, problems = {}, {}, [], []
    pool = multiprocessing.get_context("fork").Pool(workers) if workers > 1 else None
    results = pool.imap(_compute, tasks) if pool is not None else map(_compute, tasks)
    bar = tqdm(
        total=len(examples) * sum(len(v) for v in configs.values()),
        unit="row",
        desc=f"building {spec.name}",
        disable=None if progress is None else not progress,
    )
    try:
        for config, slots in configs.items():
            chunks = []
            for start, stop in spans:
                chunks.append(next(results))
                bar.update((stop - start) * len(slots))
            problems += [p for c in chunks for p in c.problems]
            audit_pairs += [p for c in chunks for p in c.audit_pairs]
            if problems:
                continue
            public, labels = _config_tables(config, slots, examples, chunks)
            rel = shard_path(config, spec.source.split)
            _write_parquet(public, staging.public / rel)
            _write_parquet(labels, staging.labels / rel)
            size = (staging.public / rel).stat().st_size
            files[rel] = {"config": config, "rows": public.num_rows, "nbytes": public.nbytes, "size": size}
            label_files[rel] = labels.num_rows
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    if problems:
        shown = "; ".join(f"{v} / {e}: {why}" for e, v, why in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise BuildError(f"validation failed for {len(problems)} (example, slot) pair(s): {shown}{more}")
    return files, label_files, audit_pairs


def _changelog(previous: dict | None, version: str, notes: str, default_notes: str) -> list[dict]:
    """The previous versions' entries plus this one (a rebuilt version keeps its notes unless given)."""
    entries = [c for c in (previous or {}).get("changelog", []) if c.get("version") != version]
    kept = next((c for c in (previous or {}).get("changelog", []) if c.get("version") == version), None)
    entry = {"version": version, "notes": notes or (kept["notes"] if kept else default_notes)}
    return sorted([*entries, entry], key=lambda c: _semver(c["version"]))


def _seal(
    manifest: dict, spec: BenchmarkSpec, files: dict, label_files: dict, staging: _Staging, repo_id
) -> None:
    """Write the card and both manifests into staging; hash every file into the manifest."""
    from builder.card import render_card

    write_text(staging.public / "README.md", render_card(manifest, spec, files, repo_id))
    hashes = {
        path.relative_to(staging.public).as_posix(): sha256_file(path)
        for path in sorted(staging.public.rglob("*"))
        if path.is_file()
    }
    label_hashes = {rel: sha256_file(staging.labels / rel) for rel in sorted(label_files)}
    manifest["files"] = hashes
    manifest["labels_sha256"] = _digest(label_hashes)
    manifest["content_hash"] = _digest(hashes)
    write_json(staging.public / "manifest.json", manifest)
    write_json(
        staging.labels / "manifest.json",
        {
            "name": manifest["name"],
            "version": manifest["version"],
            "task_type": manifest["task_type"],
            "content_hash": manifest["content_hash"],
            "labels_sha256": manifest["labels_sha256"],
            "configs": manifest["configs"],
            "files": label_hashes,
        },
    )


def _check_version(previous: dict | None, manifest: dict, out_dir: Path, force: bool) -> None:
    if previous is None or force:
        return
    old, new = previous.get("version", ""), manifest["version"]
    if old == new and previous.get("content_hash") != manifest["content_hash"]:
        raise BuildError(
            f"{out_dir} already holds version {new} with different content (content hash "
            f"{str(previous.get('content_hash'))[:12]}… ≠ {manifest['content_hash'][:12]}…); "
            "bump --version, or pass --force to overwrite it"
        )
    if _VERSION_RE.match(old or "") and _semver(new) < _semver(old):
        raise BuildError(
            f"{out_dir} holds version {old}; building {new} there would go backwards "
            "(pass --force to do it anyway)"
        )


def _read_manifest(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as err:
        raise BuildError(
            f"{path} exists but is not a readable manifest ({err}); remove it or use --force"
        ) from None


def _digest(hashes: dict[str, str]) -> str:
    return sha256_bytes("".join(f"{path}\t{digest}\n" for path, digest in sorted(hashes.items())).encode())


def _semver(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split(".")) if _VERSION_RE.match(version) else (-1,)


def _source_name(record: dict) -> str:
    if "pypi" in record:
        return f"{record['pypi']} (offline copy of {record['fallback_for']['hub']})"
    return record.get("hub") or "local files"


def _summary(manifest: dict, out_dir: Path, labels_dir: Path, log) -> None:
    counts = manifest["counts"]
    log(
        f"built {manifest['name']} v{manifest['version']}: {counts['examples']} examples × {counts['slots']} "
        f"slots = {counts['rows']} rows in {len(manifest['configs'])} configs "
        f"({', '.join(manifest['configs'])}); content hash {manifest['content_hash'][:12]}…"
    )
    log(f"public release: {out_dir}")
    log(f"private labels: {labels_dir} (do not publish)")


def _renderer() -> Callable[[Example], str]:
    from builder.render import render_prompt

    return render_prompt


def _altered_tokens_fn() -> audit.AlteredFn:
    """The perturbation package's own check of protected tokens (numbers, negations, names...)."""
    from builder.perturbations.protected import altered_protected_tokens

    return altered_protected_tokens


def read_manifest(release_dir: str | os.PathLike) -> dict:
    """The manifest of a release folder, with a clear error when it is not one."""
    path = Path(release_dir) / "manifest.json"
    manifest = _read_manifest(path)
    if manifest is None:
        raise SpecError(f"{release_dir} is not a release folder (no manifest.json)")
    return manifest
