"""Multiple-choice baselines answer in each slot's own labels and are computed without per-row loops."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from baselines import multiple_choice as mc
from baselines.context import RunContext
from baselines.models import run_baseline
from baselines.release import open_release
from tests.baselines.releases import ROMAN, mc_row, write_release

QUESTIONS = [
    ("Which planet is known as the red planet?", ["Venus", "Mars, the red planet", "Jupiter", "Saturn"]),
    (
        "What gas do plants absorb from the air?",
        ["carbon dioxide gas", "the noble element helium, rare", "oxygen", "nitrogen"],
    ),
    ("How many legs does a spider have?", ["six", "ten", "eight legs", "four"]),
]


def toy_rows():
    rows = []
    for i, (question, choices) in enumerate(QUESTIONS):
        eid = f"toy-{i}"
        rows.append(mc_row(eid, "original", "original", question, choices))
        rows.append(mc_row(eid, "enumerator-roman", "enumerator", question, choices, ROMAN[:4]))
        rows.append(mc_row(eid, "choice-order-reversed", "choice_order", question, choices[::-1]))
        rows.append(mc_row(eid, "casing-upper", "casing", question.upper(), choices))
    return rows


@pytest.fixture
def toy(tmp_path):
    return open_release(write_release(tmp_path / "toy", "multiple_choice", toy_rows()))


def predictions(release, name, **ctx):
    frame = run_baseline(release, name, RunContext(**ctx)).predictions
    return {(r.example_id, r.variant_id): r.prediction for r in frame.itertuples()}


def test_every_row_of_every_config_gets_one_prediction(toy):
    frame = run_baseline(toy, "first-option").predictions
    assert list(frame.columns) == ["example_id", "variant_id", "prediction"]
    assert len(frame) == len(toy_rows())
    assert not frame.duplicated(["example_id", "variant_id"]).any()


def test_first_option_answers_with_the_slots_own_first_label(toy):
    got = predictions(toy, "first-option")
    assert got[("toy-0", "original")] == "A"
    assert got[("toy-0", "enumerator-roman")] == "i"
    assert got[("toy-0", "choice-order-reversed")] == "A"  # the first label, now on a different option


def test_longest_option_follows_the_option_when_the_order_changes(toy):
    got = predictions(toy, "longest-option")
    # toy-1's longest option is "the noble element helium, rare": B, ii, and C once reversed.
    assert [got[("toy-1", v)] for v in ("original", "enumerator-roman", "choice-order-reversed")] == [
        "B",
        "ii",
        "C",
    ]


@pytest.mark.parametrize("name", ["tfidf-overlap", "bm25-overlap"])
def test_lexical_overlap_picks_the_option_sharing_the_questions_words(toy, name):
    got = predictions(toy, name)
    # "red planet", "gas" and "legs" are shared with exactly one option each.
    assert [got[("toy-0", v)] for v in ("original", "enumerator-roman", "choice-order-reversed")] == [
        "B",
        "ii",
        "C",
    ]
    assert got[("toy-1", "original")] == "A"
    assert got[("toy-2", "original")] == "C"
    assert got[("toy-2", "casing-upper")] == "C"  # lowercased tokens: casing does not fool it


def test_tfidf_scores_equal_a_per_pair_reference(toy):
    options = mc.load_options(toy)
    pairs = mc.QuestionOptionPairs.of(options)
    vectorizer = TfidfVectorizer(token_pattern=mc.TOKEN_PATTERN, stop_words="english", sublinear_tf=True)
    vectorizer.fit(pairs.questions + pairs.options)
    questions = options.questions.to_pylist()
    texts = options.texts.to_pylist()
    expected = np.array(
        [
            (vectorizer.transform([questions[row]]) @ vectorizer.transform([text]).T).toarray()[0, 0]
            for row, text in zip(options.row_of, texts, strict=True)
        ]
    )
    q, o = vectorizer.transform(pairs.questions), vectorizer.transform(pairs.options)
    got = pairs.scores(lambda qi, oi: mc._rowwise_dot(q[qi], o[oi]))
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_bm25_matches_the_textbook_formula(toy):
    options = mc.load_options(toy)
    pairs = mc.QuestionOptionPairs.of(options)
    analyzer = TfidfVectorizer(token_pattern=mc.TOKEN_PATTERN, stop_words="english").build_analyzer()
    docs = [analyzer(t) for t in pairs.options]
    avgdl = sum(map(len, docs)) / len(docs)
    df = Counter(term for doc in docs for term in set(doc))

    def bm25(question, doc):
        score = 0.0
        for term in set(analyzer(question)):
            tf = doc.count(term)
            idf = math.log(1 + (len(docs) - df[term] + 0.5) / (df[term] + 0.5))
            k = mc.BM25_K1 * (1 - mc.BM25_B + mc.BM25_B * len(doc) / avgdl)
            score += idf * tf * (mc.BM25_K1 + 1) / (tf + k)
        return score

    questions = options.questions.to_pylist()
    expected = np.array(
        [
            bm25(questions[row], docs[pairs.options.index(text)])
            for row, text in zip(options.row_of, options.texts.to_pylist(), strict=True)
        ]
    )
    choice = mc.bm25_overlap(options, RunContext())
    np.testing.assert_array_equal(choice, mc.best_option(options, expected))


def test_ties_go_to_the_first_option_in_the_slots_order(tmp_path):
    rows = [mc_row("t-0", "original", "original", "Zebra?", ["alpha", "beta", "gamma"])]
    rows.append(mc_row("t-0", "choice-order-reversed", "choice_order", "Zebra?", ["gamma", "beta", "alpha"]))
    release = open_release(write_release(tmp_path / "r", "multiple_choice", rows))
    got = predictions(release, "tfidf-overlap")  # no shared word: every score is 0
    assert got[("t-0", "original")] == "A" and got[("t-0", "choice-order-reversed")] == "A"


def test_rows_with_different_numbers_of_options(tmp_path):
    rows = [
        mc_row("v-0", "original", "original", "Pick the longest", ["a", "bb", "ccc"]),
        mc_row("v-1", "original", "original", "Pick the longest", ["dddd", "e", "ff", "g", "hh"]),
    ]
    release = open_release(write_release(tmp_path / "r", "multiple_choice", rows))
    got = predictions(release, "longest-option")
    assert got[("v-0", "original")] == "C" and got[("v-1", "original")] == "A"


def random_release(tmp_path, n_examples=1000):
    rows = []
    for i in range(n_examples):
        rows.append(mc_row(f"r-{i}", "original", "original", "q", ["w", "x", "y", "z"]))
        rows.append(mc_row(f"r-{i}", "enumerator-roman", "enumerator", "q", ["w", "x", "y", "z"], ROMAN[:4]))
    return open_release(write_release(tmp_path / "rand", "multiple_choice", rows))


def test_random_guess_is_reproducible_per_seed_and_uniform(tmp_path):
    release = random_release(tmp_path)
    first, again = predictions(release, "random-guess", seed=3), predictions(release, "random-guess", seed=3)
    other = predictions(release, "random-guess", seed=4)
    assert first == again
    assert sum(first[k] != other[k] for k in first) > 0.6 * len(first)  # 3/4 differ on average
    counts = Counter(v for (e, vid), v in first.items() if vid == "original")
    assert set(counts) == {"A", "B", "C", "D"}
    chi2 = sum((c - 250) ** 2 / 250 for c in counts.values())
    assert chi2 < 16.27  # chi-square, 3 degrees of freedom, p = 0.001


def test_random_guess_depends_only_on_seed_example_and_slot(tmp_path):
    full = predictions(random_release(tmp_path / "a", 50), "random-guess", seed=1)
    rows = [mc_row("r-7", "original", "original", "another question", ["p", "q", "r", "s"])]
    release = open_release(write_release(tmp_path / "b", "multiple_choice", rows))
    alone = predictions(release, "random-guess", seed=1)
    assert alone[("r-7", "original")] == full[("r-7", "original")]


def test_a_row_without_choices_is_named(tmp_path):
    rows = [mc_row("ok-0", "original", "original", "q", ["a", "b"])]
    rows.append(mc_row("bad-1", "original", "original", "q", []))
    release = open_release(write_release(tmp_path / "r", "multiple_choice", rows))
    where = r"row 1 \(example_id 'bad-1', variant_id 'original'\)"
    with pytest.raises(ValueError, match=where + " has no choices"):
        mc.load_options(release)
