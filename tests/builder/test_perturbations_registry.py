"""The registry as a whole: every perturbation is registered, named, described, label-preserving,
deterministic per seed and keeps its protected tokens — on real MMLU and rotten_tomatoes rows and on
arbitrary text (hypothesis)."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.perturbations import REGISTRY, altered_protected_tokens, create
from builder.perturbations.prompt_format import ENUMERATORS, SEPARATORS
from builder.render import render_prompt
from builder.tasks import Example
from tests.builder.perturbation_data import mmlu_examples, rotten_examples

# One or more settings of every registered perturbation (the table in /tmp/shared_names.md).
SETTINGS = [
    ("typos", {"p": 0.1}),
    ("char_swap", {"p": 0.3}),
    ("char_drop", {"p": 0.3}),
    ("char_insert", {"p": 0.3}),
    *[("casing", {"mode": mode}) for mode in ("lower", "upper", "title")],
    ("whitespace", {"max_extra": 3}),
    ("punctuation", {"mode": "strip"}),
    ("punctuation", {"mode": "add"}),
    ("contractions", {"direction": "contract"}),
    ("contractions", {"direction": "expand"}),
    ("mild_mix", {}),
    ("synonyms", {"p": 0.5}),
    ("distractor_sentence", {}),
    ("random_suffix", {"length": 12}),
    ("instruction", {"index": 7}),
    *[("enumerator", {"scheme": scheme}) for scheme in ENUMERATORS],
    *[("separator", {"kind": kind}) for kind in SEPARATORS],
    ("answer_cue", {"index": 4}),
    *[("choice_order", {"mode": mode}) for mode in ("random", "reversed", "length", "alphabetical")],
    ("fewshot", {"k": 3}),
    ("compose", {"steps": [["typos", {"p": 0.1}], ["choice_order", {"mode": "random"}]]}),
    (
        "compose",
        {"steps": [["casing", {"mode": "lower"}], ["synonyms", {"p": 0.5}], ["instruction", {"index": 2}]]},
    ),
]
FAMILIES = {
    "typos": "typos",
    "char_swap": "char_edits",
    "char_drop": "char_edits",
    "char_insert": "char_edits",
    "casing": "casing",
    "whitespace": "whitespace",
    "punctuation": "punctuation",
    "contractions": "contractions",
    "mild_mix": "mild_mix",
    "synonyms": "synonyms",
    "distractor_sentence": "distractors",
    "random_suffix": "distractors",
    "instruction": "instruction",
    "enumerator": "enumerator",
    "separator": "separator",
    "answer_cue": "answer_cue",
    "choice_order": "choice_order",
    "fewshot": "fewshot",
    "compose": "composite",
}


def test_every_agreed_perturbation_is_registered_with_its_family():
    assert {name: cls.family for name, cls in REGISTRY.items()} == FAMILIES
    assert {name for name, _ in SETTINGS} == set(REGISTRY)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_perturbation_has_a_one_line_description_and_json_params(name):
    params = dict(SETTINGS)[name]
    perturbation = create(name, **params)
    assert perturbation.description and "\n" not in perturbation.description
    assert len(perturbation.description) <= 110
    assert json.loads(json.dumps(perturbation.params)) == perturbation.params


@pytest.mark.parametrize(
    ("name", "params", "setting_id"),
    [
        ("typos", {"p": 0.05}, "typos-p0.05"),
        ("char_swap", {"p": 0.1}, "char-swap-p0.1"),
        ("casing", {"mode": "upper"}, "casing-upper"),
        ("whitespace", {"max_extra": 2}, "whitespace-2"),
        ("enumerator", {"scheme": "roman"}, "enumerator-roman"),
        ("separator", {"kind": "pipe"}, "separator-pipe"),
        ("choice_order", {"mode": "random"}, "choice-order-random"),
        ("instruction", {"index": 3}, "instruction-3"),
        ("fewshot", {"k": 5}, "fewshot-5"),
        ("mild_mix", {}, "mild-mix"),
        ("distractor_sentence", {}, "distractor-sentence"),
        ("random_suffix", {"length": 10}, "random-suffix-10"),
        (
            "compose",
            {"steps": [["typos", {"p": 0.05}], ["enumerator", {"scheme": "roman"}]]},
            "compose-typos-p0.05+enumerator-roman",
        ),
    ],
)
def test_setting_ids_name_the_perturbation_and_its_parameters(name, params, setting_id):
    assert create(name, **params).setting_id() == setting_id


def test_unknown_names_and_bad_parameters_are_one_clear_error():
    with pytest.raises(ValueError, match="unknown perturbation 'typo'; known: .*typos"):
        create("typo")
    with pytest.raises(ValueError, match="it takes: p"):
        create("typos", rate=0.1)
    with pytest.raises(ValueError, match=r"typos p must be a probability in \[0, 1\], got 1.5"):
        create("typos", p=1.5)
    with pytest.raises(ValueError, match="casing mode must be one of"):
        create("casing", mode="sideways")
    with pytest.raises(ValueError, match="enumerator scheme must be one of"):
        create("enumerator", scheme="greek")
    with pytest.raises(ValueError, match=r"instruction index must be an integer in \[0, 11\]"):
        create("instruction", index=12)


def test_deterministic_settings_are_declared_so():
    stochastic = {
        create(name, **params).setting_id(): create(name, **params).is_stochastic()
        for name, params in SETTINGS
    }
    assert stochastic["enumerator-roman"] is False
    assert stochastic["casing-lower"] is False
    assert stochastic["choice-order-reversed"] is False
    assert stochastic["choice-order-random"] is True
    assert stochastic["punctuation-strip"] is False
    assert stochastic["punctuation-add"] is True
    assert stochastic["typos-p0.1"] is True


def assert_label_preserving(original: Example, variant: Example, *, stopwords: bool = False) -> None:
    """The checks the release audit makes, spelled out: same example, same gold content, same options."""
    assert (variant.example_id, variant.task_type, variant.task) == (
        original.example_id,
        original.task_type,
        original.task,
    )
    if original.task_type == "multiple_choice":
        assert sorted(variant.choices) == sorted(original.choices)
        assert variant.choices[variant.answer] == original.choices[original.answer]
        assert len(variant.labels) == len(variant.choices) == len(set(variant.labels))
    else:
        assert (variant.answer, variant.label_names) == (original.answer, original.label_names)
        assert variant.gold == original.gold
    assert original.example_id not in {d.example_id for d in variant.demonstrations}
    assert altered_protected_tokens(original, variant, stopwords=stopwords) == []


def _prepared(name: str, params: dict, examples: list[Example], pool: list[Example]):
    perturbation = create(name, **params)
    if perturbation.needs_pool():
        perturbation = perturbation.with_pool(pool)
    perturbation.prepare(examples)
    return perturbation


@pytest.fixture(scope="module")
def mmlu(shared_data):
    """Every 50th MMLU question (281, all subjects) and, as the demonstration pool, the ones between."""
    everything = mmlu_examples(shared_data)
    return everything[::50], everything[25::50]


@pytest.fixture(scope="module")
def rotten(shared_data):
    return rotten_examples(shared_data, "test", limit=200), rotten_examples(shared_data, "train", limit=300)


@pytest.mark.parametrize(("name", "params"), SETTINGS, ids=[f"{n}-{json.dumps(p)}" for n, p in SETTINGS])
def test_real_mmlu_rows_keep_their_label_and_protected_tokens_and_repeat_per_seed(name, params, mmlu):
    examples, pool = mmlu
    perturbation = _prepared(name, params, examples, pool)
    changed = 0
    for example in examples:
        seed = hash_seed(example.example_id)
        variant = perturbation.perturb(example, random.Random(seed))
        assert_label_preserving(example, variant, stopwords=name == "synonyms")
        assert perturbation.perturb(example, random.Random(seed)) == variant
        changed += variant != example
    share = changed / len(examples)
    if perturbation.setting_id() in ("enumerator-upper", "separator-newline"):  # the default format
        assert share == 0
    elif name == "contractions":  # few MMLU questions have a contraction or a contractible phrase
        assert 0.02 < share < 0.5
    else:
        assert share > 0.25, f"{name} {params} changed only {changed} of {len(examples)} examples"


@pytest.mark.parametrize(("name", "params"), SETTINGS, ids=[f"{n}-{json.dumps(p)}" for n, p in SETTINGS])
def test_real_rotten_tomatoes_rows_keep_their_label(name, params, rotten):
    examples, pool = rotten
    perturbation = create(name, **params)
    if "classification" not in perturbation.task_types:
        with pytest.raises(ValueError, match="multiple choice only"):
            perturbation.perturb(examples[0], random.Random(0))
        return
    perturbation = _prepared(name, params, examples, pool)
    for example in examples:
        variant = perturbation.perturb(example, random.Random(hash_seed(example.example_id)))
        assert_label_preserving(example, variant, stopwords=name == "synonyms")


@pytest.mark.parametrize(("name", "params"), SETTINGS, ids=[f"{n}-{json.dumps(p)}" for n, p in SETTINGS])
def test_stochastic_settings_differ_across_seeds_and_deterministic_ones_do_not(name, params, mmlu):
    examples, pool = mmlu
    perturbation = _prepared(name, params, examples, pool)
    differing = sum(
        perturbation.perturb(e, random.Random(1)) != perturbation.perturb(e, random.Random(2))
        for e in examples
    )
    if perturbation.is_stochastic():
        assert differing > len(examples) // 4
    else:
        assert differing == 0


def hash_seed(text: str) -> int:
    from robustboard.hashing import stable_seed

    return stable_seed(0, text)


# --------------------------------------------------------------------------- arbitrary text

# Letters, digits, capitals, apostrophes (both kinds), joiners, punctuation, spaces, newlines and
# any other Unicode character: the text perturbations must survive all of it.
_ALPHABET = st.one_of(
    st.sampled_from(list("abcdefghijklmnopqrstuvwxyz  ABCXYZ 0123456789 .,;:!?'\u2019-_()\n\t\"")),
    st.characters(codec="utf-8"),
)
_TEXT = st.text(_ALPHABET, max_size=160)
_WORDS = (
    "the cat did not see 3 dogs it's don't isn't Paris x well-known 3.5 quickly lawyer road "
    "is not do not it is we have seen all of the above both A and B car, red. blue?"
)
_WORDY = st.lists(
    st.sampled_from(_WORDS.split(" ")),
    max_size=40,
).map(" ".join)


@st.composite
def multiple_choice_examples(draw) -> Example:
    choices = draw(st.lists(st.one_of(_TEXT, _WORDY).filter(bool), min_size=2, max_size=6, unique=True))
    return Example(
        example_id="prop-1",
        task_type="multiple_choice",
        task=draw(st.sampled_from(["a", "b"])),
        answer=draw(st.integers(0, len(choices) - 1)),
        question=draw(st.one_of(_TEXT, _WORDY)),
        choices=tuple(choices),
    )


@st.composite
def classification_examples(draw) -> Example:
    return Example(
        example_id="prop-1",
        task_type="classification",
        task="a",
        answer=draw(st.integers(0, 2)),
        text=draw(st.one_of(_TEXT, _WORDY)),
        text_pair=draw(st.one_of(st.none(), _TEXT, _WORDY)),
        label_names=("negative", "neutral", "positive"),
    )


_POOL = [
    Example(
        f"pool-{i}",
        "multiple_choice",
        "ab"[i % 2],
        i % 3,
        question=f"pool question {i}",
        choices=("x", "y", "z"),
    )
    for i in range(8)
] + [
    Example(f"pool-c{i}", "classification", "a", i % 3, text=f"pool text {i}", label_names=("n", "m", "p"))
    for i in range(8)
]


@pytest.mark.parametrize(("name", "params"), SETTINGS, ids=[f"{n}-{json.dumps(p)}" for n, p in SETTINGS])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(example=st.one_of(multiple_choice_examples(), classification_examples()), seed=st.integers(0, 2**32))
def test_any_text_keeps_the_label_and_is_deterministic(name, params, example, seed):
    perturbation = create(name, **params)
    if example.task_type not in perturbation.task_types:
        return
    if perturbation.needs_pool():
        perturbation = perturbation.with_pool([p for p in _POOL if p.task_type == example.task_type])
    variant = perturbation.perturb(example, random.Random(seed))
    assert_label_preserving(example, variant, stopwords=name == "synonyms")
    assert perturbation.perturb(example, random.Random(seed)) == variant
    prompt = render_prompt(variant)
    assert prompt.endswith("\n" + variant.format.answer_cue)
    assert all(choice in prompt for choice in variant.choices)
