"""Choice order: the options are permuted, never edited, and the gold index follows its option's text."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest

from builder.perturbations import create
from builder.perturbations.choice_order import anchored, refers_to_labels
from tests.builder.perturbation_data import mc, mmlu_examples

EXAMPLE = mc("Pick the metal.", choices=("oxygen", "iron", "neon", "chlorine gas"), answer=1)


@pytest.mark.parametrize(
    ("mode", "order"),
    [
        ("reversed", ("chlorine gas", "neon", "iron", "oxygen")),
        ("length", ("iron", "neon", "oxygen", "chlorine gas")),  # ties keep the source order
        ("alphabetical", ("chlorine gas", "iron", "neon", "oxygen")),
    ],
)
def test_fixed_orders_and_the_gold_remapped_by_content(mode, order):
    variant = create("choice_order", mode=mode).perturb(EXAMPLE, random.Random(0))
    assert variant.choices == order
    assert variant.choices[variant.answer] == "iron"
    assert variant.gold == "ABCD"[order.index("iron")]


def test_alphabetical_order_ignores_case():
    example = mc("q", choices=("banana", "Apple", "cherry"), answer=0)
    variant = create("choice_order", mode="alphabetical").perturb(example, random.Random(0))
    assert variant.choices == ("Apple", "banana", "cherry") and variant.answer == 1


def test_random_order_is_a_function_of_the_seed_and_covers_every_permutation():
    perturbation = create("choice_order", mode="random")
    orders = Counter()
    for seed in range(2400):
        variant = perturbation.perturb(EXAMPLE, random.Random(seed))
        assert variant == perturbation.perturb(EXAMPLE, random.Random(seed))
        assert variant.choices[variant.answer] == "iron"
        orders[variant.choices] += 1
    assert set(orders) == set(itertools.permutations(EXAMPLE.choices))
    assert all(60 <= count <= 140 for count in orders.values())  # ~100 each of 24: a uniform shuffle
    golds = Counter(perturbation.perturb(EXAMPLE, random.Random(s)).answer for s in range(2400))
    assert all(500 <= golds[position] <= 700 for position in range(4))  # the gold lands anywhere


def test_an_option_naming_others_by_label_pins_the_order():
    example = mc("Which are mammals?", choices=("whale", "bat", "Both A and B", "neither A nor B"), answer=2)
    assert refers_to_labels(example.choices)
    for mode in ("random", "reversed", "length", "alphabetical"):
        assert create("choice_order", mode=mode).perturb(example, random.Random(1)) == example


def test_all_of_the_above_keeps_its_place_while_the_rest_move():
    example = mc("Which are primes?", choices=("2", "3", "5", "All of the above"), answer=3)
    assert (
        anchored("All of the above") and anchored("none of the following") and not anchored("98% or above.")
    )
    for mode in ("reversed", "random"):
        variant = create("choice_order", mode=mode).perturb(example, random.Random(4))
        assert variant.choices[3] == "All of the above" and variant.answer == 3
    assert create("choice_order", mode="reversed").perturb(example, random.Random(0)).choices == (
        "5",
        "3",
        "2",
        "All of the above",
    )


@pytest.mark.parametrize(
    ("choices", "refers"),
    [
        (("x", "Both A and B"), True),
        (("x", "B and C only"), True),
        (("x", "A, B and D"), True),
        (("x", "neither (a) nor (b)"), True),
        (("I and II only", "II and III only"), False),  # statements of the question, not options
        (("A dog and a cat", "Vitamin B and C"), False),
    ],
)
def test_label_references_are_recognised(choices, refers):
    assert refers_to_labels(choices) is refers


def test_real_mmlu_gold_content_survives_every_mode(shared_data):
    examples = mmlu_examples(shared_data, step=7)
    for mode in ("random", "reversed", "length", "alphabetical"):
        perturbation = create("choice_order", mode=mode)
        moved = 0
        for i, example in enumerate(examples):
            variant = perturbation.perturb(example, random.Random(i))
            assert sorted(variant.choices) == sorted(example.choices)
            assert variant.choices[variant.answer] == example.choices[example.answer]
            moved += variant.answer != example.answer
        assert moved > len(examples) // 3, mode
