"""The validation pass over every (example, slot) pair, and the human audit export.

Perturbations are label-preserving by construction; this pass proves it on the actual release
rather than trusting it. For every slot of every example it checks that the correct option's
*text* is unchanged (choice-order slots move it, they must not change it), that the options are
the same multiset, that the slot's labels cover its options, that classification labels are
untouched, that the perturbation's protected tokens (numbers, negations, names, words shared with
the options) survive, and that no few-shot demonstration is itself an example of the release —
a demonstration shows its answer, so drawing one from the release would publish a hidden label.

Messages name the slot and the example but never print an answer: they may end up in logs.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from builder.tasks import Example
from robustboard.atomic import write_text
from robustboard.hashing import stable_seed

AlteredFn = Callable[[Example, Example], Sequence[str]]  # (original, perturbed) -> altered tokens


@dataclass(frozen=True)
class AuditPair:
    variant_id: str
    original: Example
    perturbed: Example
    original_prompt: str
    perturbed_prompt: str


def check_pair(
    original: Example,
    perturbed: Example,
    *,
    release_ids: frozenset[str] = frozenset(),
    altered: AlteredFn | None = None,
) -> str | None:
    """Why `perturbed` is not a label-preserving variant of `original`, or None when it is."""
    if (perturbed.example_id, perturbed.task_type, perturbed.task) != (
        original.example_id,
        original.task_type,
        original.task,
    ):
        return "the example id, task type or task group changed"
    if original.task_type == "multiple_choice":
        if sorted(perturbed.choices) != sorted(original.choices):
            return "the options are not the same multiset as the original's"
        if not 0 <= perturbed.answer < len(perturbed.choices):
            return "the gold index points outside the options"
        if perturbed.choices[perturbed.answer] != original.choices[original.answer]:
            return "the correct option's text changed"
        labels = perturbed.labels
        if len(labels) != len(perturbed.choices) or len(set(labels)) != len(labels):
            return "the slot's option labels do not name every option exactly once"
    else:
        if perturbed.label_names != original.label_names:
            return "the label names changed"
        if perturbed.answer != original.answer:
            return "the gold label changed"
    for demo in perturbed.demonstrations:
        if demo.example_id == original.example_id:
            return "a few-shot demonstration is the example itself"
        if demo.example_id in release_ids:
            return f"demonstration {demo.example_id} is an example of this release (shows its answer)"
    if altered is not None and _text_changed(original, perturbed):
        changed = altered(original, perturbed)
        if changed:
            return f"protected token(s) of the question/text altered or removed: {', '.join(changed[:5])}"
    return None


def _text_changed(original: Example, perturbed: Example) -> bool:
    """Whether the perturbable text differs (format-only slots skip the token comparison)."""
    if original.task_type == "multiple_choice":
        return perturbed.question != original.question
    return perturbed.text != original.text or perturbed.text_pair != original.text_pair


def pick_audit_rows(
    n_examples: int, variant_ids: Sequence[str], per_slot: int, seed: int
) -> dict[str, set[int]]:
    """Which example indices to export for each slot: `per_slot` distinct, random, reproducible."""
    if per_slot <= 0:
        return {}
    picks = {}
    for variant_id in variant_ids:
        rng = random.Random(stable_seed(seed, "audit", variant_id))
        picks[variant_id] = set(rng.sample(range(n_examples), min(per_slot, n_examples)))
    return picks


def write_audit(pairs: Sequence[AuditPair], path: str | Path) -> Path:
    """Write the pairs as Markdown (`.md`) or JSON lines (anything else) for a human reviewer.

    The file shows each pair's gold answer in both slots so the reviewer can check that the label
    survived: it is a private artefact, like the labels folder.
    """
    path = Path(path)
    ordered = sorted(pairs, key=lambda p: (p.variant_id, p.original.example_id))
    if path.suffix == ".md":
        write_text(path, _markdown(ordered))
    else:
        lines = [
            json.dumps(
                {
                    "variant_id": p.variant_id,
                    "example_id": p.original.example_id,
                    "task": p.original.task,
                    "original_prompt": p.original_prompt,
                    "perturbed_prompt": p.perturbed_prompt,
                    "original_gold": p.original.gold,
                    "perturbed_gold": p.perturbed.gold,
                },
                ensure_ascii=False,
                sort_keys=True,
            )
            for p in ordered
        ]
        write_text(path, "".join(line + "\n" for line in lines))
    return path


def _markdown(pairs: Sequence[AuditPair]) -> str:
    out = [
        "# Audit sample (private: shows gold answers)",
        "",
        "Each pair is the original prompt and the same example in one perturbed slot. Check that the",
        "perturbed prompt means the same thing and that the gold answer (in that slot's labels) is right.",
        "",
    ]
    current = None
    for p in pairs:
        if p.variant_id != current:
            current = p.variant_id
            out += [f"## {current}", ""]
        out += [
            f"### {p.original.example_id} ({p.original.task})",
            "",
            f"Original — gold `{p.original.gold}`:",
            "",
            "```text",
            p.original_prompt,
            "```",
            "",
            f"Perturbed — gold `{p.perturbed.gold}`:",
            "",
            "```text",
            p.perturbed_prompt,
            "```",
            "",
        ]
    return "\n".join(out)
