"""Composition: steps stacked in order with one rng, protection of the input kept through every step."""

from __future__ import annotations

import random

import pytest

from builder.perturbations import altered_protected_tokens, create
from tests.builder.perturbation_data import classification, mc

EXAMPLE = mc(
    "Paris is not the capital of Germany, is it? Choose the correct city quickly.",
    choices=("Berlin", "Paris", "Bonn", "Munich"),
    answer=0,
)


def test_steps_apply_in_order_and_the_gold_follows_its_option():
    composed = create(
        "compose",
        steps=[
            ["casing", {"mode": "upper"}],
            ["choice_order", {"mode": "reversed"}],
            ["enumerator", {"scheme": "roman"}],
        ],
    )
    variant = composed.perturb(EXAMPLE, random.Random(0))
    assert variant.question == EXAMPLE.question.upper()
    assert variant.choices == ("Munich", "Bonn", "Paris", "Berlin")
    assert variant.gold == "iv" and variant.choices[variant.answer] == "Berlin"


def test_steps_may_be_written_as_pairs_mappings_or_bare_names():
    forms = [
        [["casing", {"mode": "lower"}], ["mild_mix", {}]],
        [{"casing": {"mode": "lower"}}, {"mild_mix": None}],
        [("casing", {"mode": "lower"}), "mild_mix"],
    ]
    composed = [create("compose", steps=steps) for steps in forms]
    assert len({c.setting_id() for c in composed}) == 1
    assert composed[0].setting_id() == "compose-casing-lower+mild-mix"
    assert composed[0].params == {"steps": [["casing", {"mode": "lower"}], ["mild_mix", {}]]}
    assert composed[0] == composed[1] == composed[2]
    assert composed[1].perturb(EXAMPLE, random.Random(3)) == composed[2].perturb(EXAMPLE, random.Random(3))


def test_bad_compositions_are_one_clear_error():
    with pytest.raises(ValueError, match="at least two steps"):
        create("compose", steps=[["typos", {"p": 0.1}]])
    with pytest.raises(ValueError, match="cannot themselves be compositions"):
        create("compose", steps=[["typos", {}], ["compose", {"steps": []}]])
    with pytest.raises(ValueError, match="unknown perturbation 'typoz'"):
        create("compose", steps=[["typos", {}], ["typoz", {}]])
    with pytest.raises(ValueError, match="list of \\[name, \\{params\\}\\] pairs"):
        create("compose", steps=[["typos", {}], 42])


def test_protected_tokens_of_the_input_stay_protected_after_lowercasing():
    composed = create("compose", steps=[["casing", {"mode": "lower"}], ["typos", {"p": 1.0}]])
    for seed in range(20):
        variant = composed.perturb(EXAMPLE, random.Random(seed))
        words = variant.question.split()
        assert "paris" in words and "not" in words and "germany," in words
        assert altered_protected_tokens(EXAMPLE, variant) == []


def test_severity_is_set_per_step():
    mild = create("compose", steps=[["typos", {"p": 0.01}], ["whitespace", {"max_extra": 1}]])
    harsh = create("compose", steps=[["typos", {"p": 0.5}], ["whitespace", {"max_extra": 1}]])
    text = mc(" ".join(["several ordinary words"] * 200), choices=("a", "b"), answer=0)

    def letters_changed(perturbation) -> int:
        out = perturbation.perturb(text, random.Random(1)).question.split()
        return sum(
            a != b for w, v in zip(text.question.split(), out, strict=True) for a, b in zip(w, v, strict=True)
        )

    assert letters_changed(mild) < 60 < 1000 < letters_changed(harsh)


def test_task_types_stochasticity_and_pools_come_from_the_steps():
    mc_only = create("compose", steps=[["typos", {}], ["enumerator", {"scheme": "lower"}]])
    assert mc_only.task_types == ("multiple_choice",)
    both = create("compose", steps=[["casing", {}], ["instruction", {"index": 2}]])
    assert both.task_types == ("multiple_choice", "classification")
    assert both.is_stochastic() is False and mc_only.is_stochastic() is True
    shots = create("compose", steps=[["fewshot", {"k": 1}], ["answer_cue", {"index": 1}]])
    assert shots.needs_pool()
    pool = [classification(f"pool text {i}", example_id=f"train-{i}") for i in range(3)]
    with_pool = shots.with_pool(pool)
    with_pool.prepare([classification("the query")])
    variant = with_pool.perturb(classification("the query"), random.Random(0))
    assert len(variant.demonstrations) == 1 and variant.format.answer_cue == "Label:"
