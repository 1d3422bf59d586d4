"""Few-shot: k demonstrations from a separate pool, same task first, random choice and order, never itself."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter

import pytest

from builder.perturbations import create
from builder.render import render_prompt
from tests.builder.perturbation_data import mc, mmlu_examples, rotten_examples


def pool_of(n_per_task: dict[str, int]) -> list:
    return [
        mc(
            f"{task} question {i}?",
            choices=("w", "x", "y", "z"),
            answer=i % 4,
            example_id=f"dev-{task}-{i}",
            task=task,
        )
        for task, n in n_per_task.items()
        for i in range(n)
    ]


QUERY = mc("What is the query?", example_id="test-1", task="physics")


def test_a_pool_is_required_and_must_be_large_enough():
    bare = create("fewshot", k=3)
    assert bare.needs_pool()
    with pytest.raises(
        ValueError, match=r"fewshot-3: the demonstration pool has 0 examples, 3 needed.*with_pool"
    ):
        bare.prepare([QUERY])
    with pytest.raises(ValueError, match="no demonstration pool"):
        bare.perturb(QUERY, random.Random(0))
    with pytest.raises(ValueError, match="pool has 2 examples"):
        bare.with_pool(pool_of({"physics": 2})).prepare([QUERY])


def test_a_pool_that_overlaps_the_evaluated_examples_is_refused_before_any_work():
    pool = pool_of({"physics": 5})
    same_id = dataclasses.replace(pool[0], question="another question")
    with pytest.raises(ValueError, match="demonstration dev-physics-0 is evaluated example dev-physics-0"):
        create("fewshot", k=2).with_pool(pool).prepare([QUERY, same_id])
    same_content = dataclasses.replace(pool[3], example_id="test-9")
    with pytest.raises(ValueError, match="is evaluated example test-9 .*separate split"):
        create("fewshot", k=2).with_pool(pool).prepare([QUERY, same_content])


def test_demonstrations_come_from_the_same_task_in_varied_choice_and_order():
    pool = pool_of({"physics": 6, "law": 6})
    perturbation = create("fewshot", k=3).with_pool(pool)
    perturbation.prepare([QUERY])
    selections, orders = Counter(), set()
    for seed in range(300):
        variant = perturbation.perturb(QUERY, random.Random(seed))
        ids = tuple(d.example_id for d in variant.demonstrations)
        assert len(ids) == 3 == len(set(ids))
        assert all(d.task == "physics" for d in variant.demonstrations)
        assert variant == perturbation.perturb(QUERY, random.Random(seed))
        selections[frozenset(ids)] += 1
        orders.add(ids)
    assert len(selections) == 20  # every 3-subset of the 6 physics examples ...
    assert len(orders) > 60  # ... in many orders
    assert all(5 <= count <= 30 for count in selections.values())  # ~15 each: uniform


def test_a_short_task_is_topped_up_from_the_other_tasks():
    pool = pool_of({"physics": 2, "law": 10})
    perturbation = create("fewshot", k=5).with_pool(pool)
    perturbation.prepare([QUERY])
    positions = Counter()
    for seed in range(100):
        demos = perturbation.perturb(QUERY, random.Random(seed)).demonstrations
        assert Counter(d.task for d in demos) == {"physics": 2, "law": 3}
        positions.update(i for i, d in enumerate(demos) if d.task == "physics")
    assert set(positions) == set(range(5))  # the same-task ones are not always first


def test_the_example_is_never_its_own_demonstration_even_if_the_pool_holds_it():
    pool = pool_of({"physics": 4})
    itself = dataclasses.replace(pool[0], example_id=QUERY.example_id)  # same id
    twin = dataclasses.replace(QUERY, example_id="dev-twin")  # same content
    perturbation = create("fewshot", k=4).with_pool([*pool, itself, twin])
    for seed in range(50):
        demos = perturbation.perturb(QUERY, random.Random(seed)).demonstrations
        assert QUERY.example_id not in {d.example_id for d in demos}
        assert QUERY.question not in {d.question for d in demos}


def test_demonstrations_render_with_their_gold_in_the_query_format(shared_data):
    everything = mmlu_examples(shared_data)
    evaluated, pool = everything[::100], everything[50::100]
    perturbation = create("fewshot", k=2).with_pool(pool)
    perturbation.prepare(evaluated)
    query = next(e for e in evaluated if sum(p.task == e.task for p in pool) >= 2)
    variant = perturbation.perturb(query, random.Random(0))
    variant = create("enumerator", scheme="numeric").perturb(variant, random.Random(0))
    blocks = render_prompt(variant).split("\n\n")
    for demo, block in zip(variant.demonstrations, blocks[1:3], strict=True):
        assert block.startswith(demo.question)
        assert block.endswith(f"Answer: {demo.answer + 1}")  # the gold, in the query's numeric labels
    assert blocks[-1].endswith("Answer:") and query.question in blocks[-1]


def test_classification_demonstrations_from_the_train_split(shared_data):
    evaluated = rotten_examples(shared_data, "test", limit=50)
    perturbation = create("fewshot", k=4).with_pool(rotten_examples(shared_data, "train"))
    perturbation.prepare(evaluated)
    for i, example in enumerate(evaluated):
        variant = perturbation.perturb(example, random.Random(i))
        assert len(variant.demonstrations) == 4
        assert all(d.example_id.startswith("rotten_tomatoes-train-") for d in variant.demonstrations)
        prompt = render_prompt(variant)
        assert prompt.count("\nAnswer: negative") + prompt.count("\nAnswer: positive") == 4
