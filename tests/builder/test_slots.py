"""Release specs: `original` first, then each perturbation setting × replicates that applies to the task."""

from __future__ import annotations

import pytest

from builder.slots import (
    ORIGINAL,
    builtin_release_specs,
    configs_of,
    load_release_spec,
    parse_release_spec,
    resolve_slots,
)
from builder.specs import SpecError


def test_the_default_slot_set_has_at_least_twenty_multiple_choice_slots_with_original_first():
    slots = resolve_slots(load_release_spec(), "multiple_choice")
    ids = [s.variant_id for s in slots]
    assert ids[0] == ORIGINAL and slots[0].perturbation is None and slots[0].family == "original"
    assert len(ids) >= 20 and len(set(ids)) == len(ids)
    assert {"typos-p0.05-r1", "typos-p0.05-r2", "enumerator-roman", "choice-order-random-r2"} <= set(ids)
    families = configs_of(slots)
    assert list(families)[0] == "original"
    assert {"typos", "char_edits", "synonyms", "enumerator", "choice_order", "fewshot", "composite"} <= set(
        families
    )


def test_classification_keeps_only_the_perturbations_that_apply_to_it():
    mc = {s.variant_id for s in resolve_slots(load_release_spec(), "multiple_choice")}
    cls = resolve_slots(load_release_spec(), "classification")
    assert all("classification" in s.perturbation.task_types for s in cls[1:])
    assert not {s.family for s in cls} & {"enumerator", "choice_order"}
    assert {s.variant_id for s in cls} < mc and len(cls) >= 20


def test_replicates_add_an_r_suffix_and_no_replicates_key_means_one_plain_slot():
    spec = parse_release_spec(
        {
            "slots": [
                {"perturbation": "typos", "params": {"p": 0.1}, "replicates": 3},
                {"perturbation": "casing", "params": {"mode": "upper"}},
                {"perturbation": "whitespace", "params": {"max_extra": 2}, "replicates": 1},
            ]
        }
    )
    slots = resolve_slots(spec, "classification")
    assert [s.variant_id for s in slots] == [
        "original",
        "typos-p0.1-r1",
        "typos-p0.1-r2",
        "typos-p0.1-r3",
        "casing-upper",
        "whitespace-2-r1",
    ]
    assert slots[1].params == {"p": 0.1} and slots[1].params_json == '{"p": 0.1}'
    assert slots[4].to_dict() == {
        "variant_id": "casing-upper",
        "family": "casing",
        "params": {"mode": "upper"},
        "description": slots[4].perturbation.description,
    }


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"perturbation": "tpyos"}, r"slots\[0\] \(tpyos\): unknown perturbation 'tpyos'"),
        (
            {"perturbation": "typos", "params": {"rate": 0.1}},
            r"slots\[0\] \(typos\): perturbation 'typos': bad param",
        ),
        ({"perturbation": "casing", "params": {"mode": "lower"}, "replicates": 2}, "deterministic"),
        (
            {"perturbation": "typos", "replicates": 0},
            r"slots\[0\]: field 'replicates' must be a positive integer",
        ),
        ({"perturbation": "original"}, "'original' is always the first slot"),
        ({"perturbation": "typos", "weight": 2}, r"field 'weight' is not a slot key"),
        ({"params": {"p": 0.1}}, r"slots\[0\]: field 'perturbation' is missing"),
    ],
)
def test_a_bad_slot_entry_names_its_position(entry, message):
    with pytest.raises(SpecError, match=message):
        resolve_slots(parse_release_spec({"name": "mine", "slots": [entry]}), "multiple_choice")


def test_two_entries_giving_the_same_variant_id_are_refused():
    spec = parse_release_spec(
        {"name": "dup", "slots": [{"perturbation": "casing"}, {"perturbation": "casing"}]}
    )
    with pytest.raises(SpecError, match=r"slots\[1\] \(casing\): variant id 'casing-lower' repeats"):
        resolve_slots(spec, "classification")


def test_release_specs_load_by_builtin_name_or_path(tmp_path):
    assert "default" in builtin_release_specs()
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nslots:\n  - perturbation: enumerator\n    params: {scheme: roman}\n")
    spec = load_release_spec(path)
    assert [s.variant_id for s in resolve_slots(spec, "multiple_choice")] == ["original", "enumerator-roman"]
    assert spec.to_dict()["slots"] == [{"perturbation": "enumerator", "params": {"scheme": "roman"}}]
    with pytest.raises(SpecError, match="neither a built-in"):
        load_release_spec(tmp_path / "missing.yaml")
