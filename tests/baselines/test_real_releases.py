"""Baselines on releases built by the builder from ../shared/data (MMLU, rotten_tomatoes, TweetEval
sentiment), scored by the submissions scorer against the hidden labels the baselines never open."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from baselines.context import RunContext
from baselines.models import applicable, run_baseline
from baselines.release import open_release

build_release = pytest.importorskip("builder.release").build_release
load_spec = pytest.importorskip("builder.specs").load_spec
read_labels = pytest.importorskip("submissions.formats").read_labels
score = pytest.importorskip("submissions.metrics").score

MC_FAST = ["random-guess", "first-option", "longest-option", "tfidf-overlap", "bm25-overlap"]


def build(spec, root, limit):
    out, labels = root / "release", root / "labels"
    build_release(spec, out, labels, limit=limit, log=lambda message: None, progress=False)
    return open_release(out), labels


@pytest.fixture(scope="module")
def mmlu(shared_data, tmp_path_factory):
    """Every 200th MMLU test question (70, across subjects): the file's first rows are all one subject
    with the same four options, which would make a degenerate release."""
    root = tmp_path_factory.mktemp("mmlu")
    lines = (shared_data / "mmlu" / "test.jsonl").read_text("utf-8").splitlines()
    (root / "test.jsonl").write_text("\n".join(lines[::200]) + "\n", "utf-8")
    spec = load_spec("mmlu").with_data_files({"test": str(root / "test.jsonl")})
    return build(spec, root, limit=None)


@pytest.fixture(scope="module")
def rotten_tomatoes(shared_data, tmp_path_factory):
    files = {s: str(shared_data / "rotten_tomatoes" / f"{s}.jsonl") for s in ("train", "validation", "test")}
    spec = load_spec("rotten_tomatoes").with_data_files(files, split="test")
    return build(spec, tmp_path_factory.mktemp("rt"), limit=150)


@pytest.fixture(scope="module")
def tweet_sentiment(shared_data, tmp_path_factory):
    files = {s: str(shared_data / "tweet_eval" / "sentiment" / f"{s}.jsonl") for s in ("validation", "test")}
    spec = load_spec("tweet_eval_sentiment").with_data_files(files, split="test")
    return build(spec, tmp_path_factory.mktemp("tweets"), limit=150)


def public_keys(release) -> set[tuple[str, str]]:
    table = release.table(["example_id", "variant_id"])
    return set(zip(table["example_id"].to_pylist(), table["variant_id"].to_pylist(), strict=True))


@pytest.mark.parametrize("name", MC_FAST)
def test_multiple_choice_baselines_cover_every_row_and_score(mmlu, name):
    release, labels = mmlu
    result = run_baseline(release, name, RunContext(seed=0))
    frame = result.predictions
    assert set(zip(frame["example_id"], frame["variant_id"], strict=True)) == public_keys(release)
    assert len(frame) == release.manifest["counts"]["rows"]
    scored = score(read_labels(labels), frame, n_resamples=50)
    assert scored["coverage"] == 1.0 and scored["extraction_failures"]["count"] == 0
    assert 0.1 < scored["metrics"]["accuracy"] < 0.6  # near chance (0.25): these are floors, not solvers


def test_every_prediction_is_a_label_of_its_own_slot(mmlu):
    release, labels = mmlu
    table = release.table(["example_id", "variant_id", "choice_labels"]).to_pandas()
    frame = run_baseline(release, "tfidf-overlap").predictions.astype(str)
    merged = frame.merge(table, on=["example_id", "variant_id"])
    assert merged.apply(lambda r: r.prediction in list(r.choice_labels), axis=1).all()
    assert {"i", "ii", "iii", "iv"} & set(merged[merged.variant_id == "enumerator-roman"].prediction)


def test_lexical_overlap_keeps_its_pick_under_text_edits(mmlu):
    """TF-IDF lowercases, so casing slots pick the original's option exactly. The builder protects the
    words a question shares with its options from every text edit, and the question's norm is common
    to all its options, so typo/synonym slots keep the pick too, bar a new shared word: lexical overlap
    is robust to these slots by construction — a trivial robustness the leaderboard should show."""
    release, _ = mmlu
    rows = release.table(["example_id", "variant_id", "choices", "choice_labels"]).to_pandas()
    frame = run_baseline(release, "tfidf-overlap").predictions.astype(str).merge(rows)
    frame["picked"] = frame.apply(lambda r: r.choices[list(r.choice_labels).index(r.prediction)], axis=1)
    picked = frame.pivot(index="example_id", columns="variant_id", values="picked")
    slots = set(picked.columns)
    for invariant in {"casing-lower", "casing-upper"} & slots:
        assert (picked[invariant] == picked["original"]).all(), invariant
    edited = [s for s in slots if s.startswith(("typos", "char-", "synonyms", "mild-mix"))]
    assert len(edited) >= 5
    agreement = [(picked[s] == picked["original"]).mean() for s in edited]
    assert min(agreement) >= 0.9, dict(zip(edited, agreement, strict=True))


def test_the_random_guesser_is_the_chance_floor_in_every_slot(mmlu):
    release, labels = mmlu
    scored = score(read_labels(labels), run_baseline(release, "random-guess").predictions, n_resamples=50)
    per_slot = pd.Series(scored["per_slot"])
    assert per_slot.between(0.0, 0.6).all() and 0.15 < per_slot.mean() < 0.35


def test_trained_classifiers_learn_rotten_tomatoes_from_its_train_split(rotten_tomatoes, tmp_path):
    release, labels = rotten_tomatoes
    assert applicable(release) == [
        "random-guess",
        "logreg-word",
        "logreg-char",
        "naive-bayes",
        "vader",
        "textblob",
    ]
    result = run_baseline(release, "logreg-word", RunContext(cache=tmp_path))
    assert "logreg-word: trained on split 'train' of rotten_tomatoes (8530 rows)" in result.notes
    scored = score(read_labels(labels), result.predictions, n_resamples=50)
    assert scored["per_slot"]["original"] > 0.68  # chance 0.5


def test_tweet_eval_sentiment_trains_on_validation_and_lexicons_use_neutral(tweet_sentiment, tmp_path):
    release, labels = tweet_sentiment
    result = run_baseline(release, "naive-bayes", RunContext(cache=tmp_path))
    assert any("no train split: trained on split 'validation'" in note for note in result.notes)
    gold = read_labels(labels)
    assert score(gold, result.predictions, n_resamples=50)["per_slot"]["original"] > 0.4
    vader = run_baseline(release, "vader").predictions
    assert set(vader["prediction"].astype(str)) == {"negative", "neutral", "positive"}
    assert score(gold, vader, n_resamples=50)["per_slot"]["original"] > 0.4  # chance 1/3


def test_predictor_replies_are_scored_through_answer_extraction(mmlu, tmp_path):
    """The predictor's free-text replies ("The answer is C") go through the scorer's extraction."""
    from baselines.predict import PredictConfig, predict
    from tests.baselines.openai_stub import StubServer, StubState, answer

    release, labels = mmlu
    with StubServer(StubState()) as server:
        config = PredictConfig(endpoint=server.url, model="stub-model", cache_dir=tmp_path, concurrency=16)
        result = predict(release, config)
        assert result.requests_sent == len(server.state.served) and set(server.state.served.values()) == {1}
    frame = result.predictions
    assert len(frame) == release.manifest["counts"]["rows"]
    prompts = release.table(["example_id", "variant_id", "prompt"]).to_pandas()
    merged = frame.merge(prompts, on=["example_id", "variant_id"])
    assert (merged["prediction"] == merged["prompt"].map(lambda p: answer(p, 0.0, None))).all()
    scored = score(read_labels(labels), frame, n_resamples=50)
    assert scored["coverage"] == 1.0
    assert 0.1 < scored["per_slot"]["original"] < 0.45  # the stub's letters are a hash of the prompt


def test_baselines_read_only_the_public_files(mmlu):
    release, labels = mmlu
    public = {str(release.path / name) for name in release.manifest["files"]}
    assert {str(p) for p in release.files} <= public
    assert not any(str(labels) in str(p) for p in release.files)
    assert "gold" not in pq.read_schema(release.files[0]).names
