"""The validation pass: label-preserving variants pass, and each way of breaking a label is caught."""

from __future__ import annotations

import dataclasses
import json

from builder.audit import AuditPair, check_pair, pick_audit_rows, write_audit
from builder.perturbations.protected import altered_protected_tokens
from builder.tasks import Example, PromptFormat

ORIGINAL = Example(
    example_id="toy-0",
    task_type="multiple_choice",
    task="geo",
    answer=1,
    question="Which city is NOT in France?",
    choices=("Paris", "Berlin", "Lyon", "Nice"),
)


def variant(**changes) -> Example:
    return dataclasses.replace(ORIGINAL, **changes)


def test_a_reordering_that_moves_the_gold_index_with_its_text_passes():
    reordered = variant(choices=("Nice", "Lyon", "Berlin", "Paris"), answer=2)
    assert check_pair(ORIGINAL, reordered, altered=altered_protected_tokens) is None
    relabelled = variant(format=PromptFormat(choice_labels=("i", "ii", "iii", "iv")))
    assert check_pair(ORIGINAL, relabelled) is None and relabelled.gold == "ii"


def test_a_reordering_that_forgets_to_move_the_gold_index_is_caught():
    assert check_pair(ORIGINAL, variant(choices=("Nice", "Lyon", "Berlin", "Paris"))) == (
        "the correct option's text changed"
    )


def test_an_edited_or_dropped_option_is_caught_without_printing_it():
    edited = check_pair(ORIGINAL, variant(choices=("Paris", "Berlin!", "Lyon", "Nice")))
    assert edited == "the options are not the same multiset as the original's" and "Berlin" not in edited
    assert check_pair(ORIGINAL, variant(choices=("Paris", "Berlin", "Lyon"))) is not None


def test_too_few_labels_for_the_options_are_caught():
    short = variant(format=PromptFormat(choice_labels=("A", "B", "C")))
    assert check_pair(ORIGINAL, short) == "the slot's option labels do not name every option exactly once"


def test_a_changed_classification_label_is_caught():
    text = Example("t-0", "classification", "t", 1, text="A fine film.", label_names=("negative", "positive"))
    assert check_pair(text, dataclasses.replace(text, text="A FINE FILM.")) is None
    assert check_pair(text, dataclasses.replace(text, answer=0)) == "the gold label changed"
    assert (
        check_pair(text, dataclasses.replace(text, label_names=("neg", "pos"))) == "the label names changed"
    )


def test_an_altered_protected_token_is_caught_and_named():
    assert check_pair(
        ORIGINAL, variant(question="Which city is NTO in France?"), altered=altered_protected_tokens
    ) == ("protected token(s) of the question/text altered or removed: not")
    cased = variant(question="which city is not in france?")  # case changes keep protected tokens
    assert check_pair(ORIGINAL, cased, altered=altered_protected_tokens) is None


def test_a_demonstration_drawn_from_the_release_is_caught():
    other = dataclasses.replace(ORIGINAL, example_id="toy-1")
    shots = variant(demonstrations=(other,))
    assert "toy-1 is an example of this release" in check_pair(
        ORIGINAL, shots, release_ids=frozenset({"toy-1"})
    )
    assert (
        check_pair(ORIGINAL, variant(demonstrations=(ORIGINAL,)))
        == "a few-shot demonstration is the example itself"
    )
    assert check_pair(ORIGINAL, shots, release_ids=frozenset({"toy-0"})) is None


def test_audit_rows_are_distinct_reproducible_and_differ_per_slot():
    picks = pick_audit_rows(100, ["original", "typos-p0.05-r1"], 5, seed=0)
    assert picks == pick_audit_rows(100, ["original", "typos-p0.05-r1"], 5, seed=0)
    assert all(len(rows) == 5 for rows in picks.values()) and picks["original"] != picks["typos-p0.05-r1"]
    assert pick_audit_rows(3, ["original"], 5, seed=0) == {"original": {0, 1, 2}}
    assert pick_audit_rows(3, ["original"], 0, seed=0) == {}


def test_the_audit_file_shows_both_prompts_and_both_golds(tmp_path):
    moved = variant(choices=("Nice", "Lyon", "Berlin", "Paris"), answer=2)
    pairs = [AuditPair("choice-order-reversed", ORIGINAL, moved, "orig prompt", "moved prompt")]
    markdown = write_audit(pairs, tmp_path / "audit.md").read_text()
    assert "## choice-order-reversed" in markdown and "### toy-0 (geo)" in markdown
    assert "Original — gold `B`" in markdown and "Perturbed — gold `C`" in markdown
    assert "orig prompt" in markdown and "moved prompt" in markdown
    (row,) = [
        json.loads(line) for line in write_audit(pairs, tmp_path / "audit.jsonl").read_text().splitlines()
    ]
    assert (row["original_gold"], row["perturbed_gold"], row["variant_id"]) == (
        "B",
        "C",
        "choice-order-reversed",
    )
