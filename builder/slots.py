"""Release specs: which variant slots a release has (`original` plus perturbation settings × replicates).

A release spec is a small YAML file (the built-in ones live in `builder/suites/`):

```yaml
name: default
slots:
  - perturbation: typos          # a registry name (builder.perturbations)
    params: {p: 0.05}            # the perturbation's parameters
    replicates: 2                # optional: slots typos-p0.05-r1, typos-p0.05-r2 (seeds differ)
  - perturbation: enumerator
    params: {scheme: roman}      # no replicates: one slot, enumerator-roman
```

`original` (the unperturbed example) is always the first slot and is never listed. A perturbation
whose `task_types` exclude the benchmark's task type is skipped (choice order means nothing for
classification), so one release spec serves both task types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from builder.perturbations.base import Perturbation, create
from builder.specs import SpecError

ORIGINAL = "original"
DEFAULT_RELEASE_SPEC = "default"
ORIGINAL_DESCRIPTION = "The source example, unperturbed, in the default prompt format."


@dataclass(frozen=True)
class Slot:
    variant_id: str
    family: str  # the release config the slot's rows land in
    params: Mapping[str, Any]
    description: str
    perturbation: Perturbation | None  # None for `original`

    @property
    def params_json(self) -> str:
        return json.dumps(_jsonable(self.params), sort_keys=True, ensure_ascii=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant_id": self.variant_id,
            "family": self.family,
            "params": _jsonable(self.params),
            "description": self.description,
        }


@dataclass(frozen=True)
class ReleaseSpec:
    name: str
    entries: tuple[Mapping[str, Any], ...]
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "slots": [dict(e) for e in self.entries]}


ORIGINAL_SLOT = Slot(ORIGINAL, ORIGINAL, {}, ORIGINAL_DESCRIPTION, None)


def _suites_dir():
    return resources.files("builder") / "suites"


def builtin_release_specs() -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in _suites_dir().iterdir() if p.name.endswith(".yaml"))


def load_release_spec(name_or_path: str | Path | None = None) -> ReleaseSpec:
    """A built-in release spec by name (default: `default`) or a YAML file by path."""
    name_or_path = str(name_or_path or DEFAULT_RELEASE_SPEC)
    path = Path(name_or_path)
    if name_or_path in builtin_release_specs() and not path.exists():
        text, origin = (_suites_dir() / f"{name_or_path}.yaml").read_text("utf-8"), name_or_path
    elif path.is_file():
        text, origin = path.read_text("utf-8"), str(path)
    else:
        known = ", ".join(builtin_release_specs())
        raise SpecError(
            f"release spec {name_or_path!r} is neither a built-in ({known}) nor a readable YAML file"
        )
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecError(f"release spec {origin}: not valid YAML ({err})".replace("\n", " ")) from None
    return parse_release_spec(data, origin)


def parse_release_spec(data: Any, origin: str = "release spec") -> ReleaseSpec:
    if not isinstance(data, dict) or not isinstance(data.get("slots"), list):
        raise SpecError(f"release spec {origin}: expected a mapping with a 'slots' list")
    unknown = sorted(set(data) - {"name", "description", "slots"})
    if unknown:
        raise SpecError(
            f"release spec {origin}: field {unknown[0]!r} is not a key (name, description, slots)"
        )
    entries = []
    for i, entry in enumerate(data["slots"]):
        where = f"release spec {origin}: slots[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("perturbation"), str):
            raise SpecError(f"{where}: field 'perturbation' is missing (a registry name, e.g. typos)")
        extra = sorted(set(entry) - {"perturbation", "params", "replicates"})
        if extra:
            raise SpecError(
                f"{where}: field {extra[0]!r} is not a slot key (perturbation, params, replicates)"
            )
        if not isinstance(entry.get("params", {}), dict):
            raise SpecError(f"{where}: field 'params' must be a mapping")
        replicates = entry.get("replicates")
        if replicates is not None and (
            not isinstance(replicates, int) or isinstance(replicates, bool) or replicates < 1
        ):
            raise SpecError(f"{where}: field 'replicates' must be a positive integer")
        if entry["perturbation"] == ORIGINAL:
            raise SpecError(f"{where}: 'original' is always the first slot; do not list it")
        entries.append(dict(entry))
    return ReleaseSpec(
        name=str(data.get("name") or origin),
        entries=tuple(entries),
        description=str(data.get("description", "")),
    )


def resolve_slots(release_spec: ReleaseSpec, task_type: str) -> list[Slot]:
    """The slots of a release for `task_type`, in order: `original`, then the spec's entries."""
    slots = [ORIGINAL_SLOT]
    seen = {ORIGINAL: "original"}
    for i, entry in enumerate(release_spec.entries):
        where = f"release spec {release_spec.name}: slots[{i}] ({entry['perturbation']})"
        try:
            perturbation = create(entry["perturbation"], **_as_params(entry.get("params", {})))
        except ValueError as err:
            raise SpecError(f"{where}: {err}") from None
        if task_type not in perturbation.task_types:
            continue
        setting = perturbation.setting_id()
        replicates = entry.get("replicates")
        if replicates is not None and replicates > 1 and not perturbation.is_stochastic():
            raise SpecError(
                f"{where}: {setting} is deterministic, so its {replicates} replicates would be identical"
            )
        ids = [setting] if replicates is None else [f"{setting}-r{k}" for k in range(1, replicates + 1)]
        for variant_id in ids:
            if variant_id in seen:
                raise SpecError(f"{where}: variant id {variant_id!r} repeats {seen[variant_id]}")
            seen[variant_id] = where
            slots.append(
                Slot(
                    variant_id,
                    perturbation.family,
                    perturbation.params,
                    perturbation.description,
                    perturbation,
                )
            )
    return slots


def configs_of(slots: list[Slot]) -> dict[str, list[str]]:
    """Family → its variant ids, families in order of first appearance (`original` first)."""
    configs: dict[str, list[str]] = {}
    for slot in slots:
        configs.setdefault(slot.family, []).append(slot.variant_id)
    return configs


def _as_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """YAML lists become tuples so that parameters stay hashable inside frozen dataclasses."""

    def convert(value: Any) -> Any:
        if isinstance(value, list):
            return tuple(convert(v) for v in value)
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return value

    return {k: convert(v) for k, v in params.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
