"""Throughput of every perturbation, the protected-token check and the renderer on real MMLU questions.

    NLTK_DATA=../shared/nltk_data python bench/bench_perturb.py [--rows 10000] [--data PATH]

Each row is what the release builder does per (example, slot): seed a `random.Random` from
(seed, example_id, variant_id) with `stable_seed`, `perturb`, then check protected tokens and render.
The protected-token sets are computed once per example (the builder shares that cache between slots)
and timed on their own, as is `prepare` (WordNet loading for synonyms). One process, one core:
the release builder spreads rows over both cores. The demonstration pool for few-shot is the MMLU
questions after the first `--rows` (a separate pool, as the builder requires).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from builder.perturbations import altered_protected_tokens, create, protected_tokens
from builder.render import render_prompt
from builder.tasks import Example
from robustboard.hashing import stable_seed

SETTINGS = [
    ("typos", {"p": 0.05}),
    ("char_swap", {"p": 0.1}),
    ("char_drop", {"p": 0.1}),
    ("char_insert", {"p": 0.1}),
    ("casing", {"mode": "lower"}),
    ("whitespace", {"max_extra": 3}),
    ("punctuation", {"mode": "strip"}),
    ("punctuation", {"mode": "add"}),
    ("contractions", {"direction": "contract"}),
    ("contractions", {"direction": "expand"}),
    ("mild_mix", {}),
    ("synonyms", {"p": 0.2}),
    ("distractor_sentence", {}),
    ("random_suffix", {"length": 10}),
    ("instruction", {"index": 4}),
    ("enumerator", {"scheme": "roman"}),
    ("separator", {"kind": "pipe"}),
    ("answer_cue", {"index": 2}),
    ("choice_order", {"mode": "random"}),
    ("choice_order", {"mode": "reversed"}),
    ("fewshot", {"k": 3}),
    ("compose", {"steps": [["instruction", {"index": 2}], ["typos", {"p": 0.05}]]}),
]


def load(path: Path) -> list[Example]:
    rows = [json.loads(line) for line in path.read_text("utf-8").split("\n") if line]
    return [
        Example(
            f"mmlu-{i}",
            "multiple_choice",
            row["subject"],
            row["answer"],
            row["question"],
            tuple(row["choices"]),
        )
        for i, row in enumerate(rows)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mmlu/test.jsonl"))
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    everything = load(args.data)
    examples, pool = everything[: args.rows], everything[args.rows :]
    n = len(examples)
    print(f"{n} MMLU questions from {args.data}; few-shot pool: {len(pool)} others; cpu time, one core\n")

    start = time.process_time()
    for example in examples:
        protected_tokens(example)
    print(f"protected_tokens, once per example: {n / (time.process_time() - start):>10,.0f} examples/s\n")

    columns = ("setting", "prepare s", "perturb rows/s", "check rows/s", "render rows/s")
    print(f"{columns[0]:36s}" + "".join(f"{c:>15s}" for c in columns[1:]))
    total = 0.0
    for name, params in SETTINGS:
        perturbation = create(name, **params)
        if perturbation.needs_pool():
            perturbation = perturbation.with_pool(pool)
        variant_id = perturbation.setting_id()
        start = time.process_time()
        perturbation.prepare(examples)
        prepared = time.process_time() - start

        start = time.process_time()
        variants = [
            perturbation.perturb(e, random.Random(stable_seed(0, e.example_id, variant_id))) for e in examples
        ]
        perturbed = time.process_time() - start

        start = time.process_time()
        altered = sum(bool(altered_protected_tokens(e, v)) for e, v in zip(examples, variants, strict=True))
        checked = time.process_time() - start
        if altered:
            raise SystemExit(f"{variant_id}: {altered} rows altered a protected token")

        start = time.process_time()
        for variant in variants:
            render_prompt(variant)
        rendered = time.process_time() - start

        total += perturbed + checked + rendered
        rates = f"{n / perturbed:15,.0f}{n / checked:15,.0f}{n / rendered:15,.0f}"
        print(f"{variant_id:36s}{prepared:15.2f}{rates}")
    per_row = total / (n * len(SETTINGS))
    print(
        f"\nall {len(SETTINGS)} settings: {per_row * 1e6:.0f} us per row (perturb + check + render); "
        f"14,042 x 34 slots at this mix = {per_row * 14_042 * 34:.1f} cpu-seconds"
    )


if __name__ == "__main__":
    main()
