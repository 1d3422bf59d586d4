"""Classification baselines: scikit-learn models trained on the source benchmark, and lexicon scorers.

Trained models (logistic regression on word or character n-grams, multinomial naive Bayes) learn
from the source benchmark's *train* split, read through the spec recorded in the release manifest
(`builder.sources.load_rows`) and turned into examples by the same code that built the release
(`builder.specs.to_examples`). They never see the scored split: when a benchmark has no train split
(TweetEval sentiment as shipped here has only validation and test) they train on `validation` and the
run says so; when the only split is the scored one they refuse. `--train FILE` names a training file
in the source's schema instead. A fitted model is cached on disk (joblib) under the sha256 of its
training data and configuration, so it is trained once.

VADER and TextBlob score sentiment without training and apply when the label space is sentiment
(label names `negative` / `positive`, optionally `neutral`, case-insensitive). Polarity maps to a label:
  - binary: polarity >= 0 is positive, below 0 negative (no sentiment words gives 0.0: "positive");
  - with neutral: polarity >= +0.05 positive, <= -0.05 negative, neutral in between. ±0.05 is the
    threshold VADER's authors recommend for its compound score; TextBlob uses the same band so that
    the two lexicons are compared under one rule.

Predictions are made once per distinct input text (text slots repeat across the format slots) and
mapped to each row's own `label_names`, so a slot that renames labels still gets its own names.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from baselines.context import RunContext
from baselines.release import KEY_COLUMNS, BaselineError, Release
from robustboard.atomic import atomic_path
from robustboard.hashing import sha256_bytes

TRAIN_SPLITS = ("train", "validation", "dev")  # tried in this order; never the scored split
NEUTRAL_BAND = 0.05
PAIR_SEPARATOR = "\n"


@dataclass(frozen=True)
class Rows:
    """A classification release's rows: keys, model inputs, and each row's label space."""

    keys: pa.Table
    inputs: pa.Array  # text, or text + newline + text_pair
    texts: pa.Array  # text only (lexicon scorers read the text itself)
    label_names: pa.ListArray

    @property
    def n_rows(self) -> int:
        return self.keys.num_rows


@dataclass(frozen=True)
class TrainingData:
    inputs: list[str]
    labels: np.ndarray  # indices into label_names
    label_names: tuple[str, ...]
    source: str  # said to the user, e.g. "split 'train' of rotten_tomatoes (8530 rows)"

    def sha256(self) -> str:
        payload = json.dumps([self.inputs, self.labels.tolist(), list(self.label_names)], ensure_ascii=False)
        return sha256_bytes(payload.encode("utf-8"))


def load_rows(release: Release) -> Rows:
    table = release.table([*KEY_COLUMNS, "text", "text_pair", "label_names"])
    text = table["text"].combine_chunks().fill_null("")
    pair = table["text_pair"].combine_chunks()
    inputs = text
    if pair.null_count < len(pair):
        joined = pc.binary_join_element_wise(text, pair.fill_null(""), PAIR_SEPARATOR)
        inputs = pc.if_else(pc.is_null(pair), text, joined)
    names = table["label_names"].combine_chunks()
    empty = pc.fill_null(pc.list_value_length(names), 0).to_numpy(zero_copy_only=False) == 0
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise BaselineError(
            f"release {release.path}: row {row} (example_id {table['example_id'][row].as_py()!r}, "
            f"variant_id {table['variant_id'][row].as_py()!r}) has no label_names"
        )
    return Rows(keys=table.select(list(KEY_COLUMNS)), inputs=inputs, texts=text, label_names=names)


def canonical_label_names(rows: Rows) -> tuple[str, ...]:
    """The label space of the unperturbed slot (the first row when the release has no `original`)."""
    original = pc.index(rows.keys["variant_id"], "original").as_py()
    return tuple(rows.label_names[max(original, 0)].as_py())


def to_row_labels(rows: Rows, classes: np.ndarray) -> pa.Array:
    """Class index per row → that row's own label name."""
    counts = pc.list_value_length(rows.label_names).to_numpy(zero_copy_only=False)
    if (classes >= counts).any():
        row = int(np.flatnonzero(classes >= counts)[0])
        raise BaselineError(
            f"row {row} (example_id {rows.keys['example_id'][row].as_py()!r}) has {counts[row]} label "
            f"names; the model predicts class {classes[row]}: the release's label space differs from the "
            "training data's"
        )
    offsets = rows.label_names.offsets.to_numpy()[:-1]
    return pc.list_flatten(rows.label_names).take(pa.array(offsets + classes))


def _per_distinct(values: pa.Array, predict: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """Run `predict` on the distinct strings only and spread the result back to every row."""
    encoded = pc.dictionary_encode(values)
    result = np.asarray(predict(encoded.dictionary.to_pylist()))
    return result[encoded.indices.to_numpy(zero_copy_only=False)]


# ----------------------------------------------------------------------------------- trained models


def _logreg_word():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        LogisticRegression(C=1.0, max_iter=2000),
    )


def _logreg_char():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        LogisticRegression(C=1.0, max_iter=2000),
    )


def _naive_bayes():
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline

    return make_pipeline(CountVectorizer(ngram_range=(1, 2)), MultinomialNB(alpha=1.0))


PIPELINES: dict[str, Callable[[], object]] = {
    "logreg-word": _logreg_word,
    "logreg-char": _logreg_char,
    "naive-bayes": _naive_bayes,
}


def trained_model(name: str) -> Callable[[Rows, RunContext, Release], np.ndarray]:
    def run(rows: Rows, ctx: RunContext, release: Release) -> np.ndarray:
        data = training_data(release, ctx)
        ctx.notes.append(f"{name}: trained on {data.source}")
        names = canonical_label_names(rows)
        if data.label_names != names:
            raise BaselineError(
                f"release {release.name}: the training data's labels {list(data.label_names)} differ "
                f"from the release's label_names {list(names)}"
            )
        model = fit_cached(name, data, ctx.cache)
        ctx.measured["params_b"] = count_params(model)
        return _per_distinct(rows.inputs, model.predict).astype(np.int64)

    return run


def fit_cached(name: str, data: TrainingData, cache: Path):
    """The fitted pipeline from the cache, or fit it and store it (atomically) under its data's hash."""
    import joblib
    import sklearn

    config = repr(PIPELINES[name]().get_params(deep=True))
    key = sha256_bytes(f"{data.sha256()}\n{name}\n{config}\n{sklearn.__version__}".encode())
    path = cache / "classifiers" / f"{name}-{key[:24]}.joblib"
    if path.is_file():
        try:
            return joblib.load(path)
        except Exception:  # an unreadable cache entry is rebuilt below, never trusted
            path.unlink(missing_ok=True)
    from threadpoolctl import threadpool_limits

    model = PIPELINES[name]()
    # One BLAS/OpenMP thread: these fits are small, and on a busy 2-core machine spinning threads made
    # the lbfgs fit 7x slower than a single thread (0.45 s vs 3.2 s on TweetEval validation).
    with threadpool_limits(limits=1):
        model.fit(data.inputs, data.labels)
    with atomic_path(path) as tmp:
        joblib.dump(model, tmp)
    return model


def count_params(model) -> float:
    """Learned parameters of a fitted pipeline's estimator, in billions (weights and biases)."""
    estimator = model[-1]
    names = ("coef_", "intercept_", "feature_log_prob_", "class_log_prior_")
    return float(sum(np.size(getattr(estimator, a)) for a in names if hasattr(estimator, a))) / 1e9


def training_data(release: Release, ctx: RunContext) -> TrainingData:
    """The training examples for a classification release: --train FILE, else the spec's train split."""
    from builder import sources, specs

    spec = release_spec(release)
    scored = release.split or spec.source.split
    if ctx.train_path is not None:
        rows = sources.read_table(str(ctx.train_path), "--train").to_pandas()
        split, where = "train", f"--train {ctx.train_path}"
    else:
        rows, split = _source_training_rows(spec, scored)
        where = f"split {split!r} of {spec.name}"
    examples = specs.to_examples(spec, rows, split)
    names = examples[0].label_names
    data = TrainingData(
        inputs=[e.text if e.text_pair is None else e.text + PAIR_SEPARATOR + e.text_pair for e in examples],
        labels=np.array([e.answer for e in examples], dtype=np.int64),
        label_names=names,
        source=f"{where} ({len(examples)} rows)",
    )
    if split != "train":
        ctx.notes.append(
            f"{spec.name} has no train split: trained on {where} (never on the scored split {scored!r})"
        )
    return data


def _source_training_rows(spec, scored: str):
    from builder import sources

    if spec.source.data_files:
        available = [s for s, _ in spec.source.data_files]
        for split in TRAIN_SPLITS:
            if split in available and split != scored:
                return sources.load_rows(spec, split), split
        raise BaselineError(
            f"{spec.name}: no training split besides the scored split {scored!r} (the spec has "
            f"{', '.join(available)}); pass --train FILE with rows in the source's schema"
        )
    problems = []
    for split in TRAIN_SPLITS:
        if split == scored:
            continue
        try:
            return sources.load_rows(spec, split), split
        except Exception as err:  # a missing split or an unreachable Hub: try the next, then say both
            problems.append(f"{split}: {str(err).splitlines()[0] if str(err) else type(err).__name__}")
    raise BaselineError(
        f"{spec.name}: cannot load a training split ({'; '.join(problems)}); pass --train FILE with rows in "
        "the source's schema"
    )


def release_spec(release: Release):
    """The benchmark spec recorded in the manifest, with relative data file paths resolved the way the
    build resolved them (the manifest's `source` records the absolute path of the scored split)."""
    from builder.specs import parse_spec

    raw = release.manifest.get("spec")
    if not isinstance(raw, dict):
        raise BaselineError(f"release {release.path}: manifest.json has no benchmark 'spec'")
    return parse_spec(raw, origin=f"{release.path}/manifest.json", base_dir=_spec_base_dir(release, raw))


def _spec_base_dir(release: Release, raw: dict) -> Path:
    """The folder the spec's relative paths were resolved against, recovered from the absolute path of
    the scored split: `../../data/test.jsonl` recorded as `/x/data/test.jsonl` means a folder two levels
    below `/x` (which one does not matter: the spec's `..` steps climb back out of it)."""
    files = (raw.get("source") or {}).get("data_files")
    recorded = ((release.manifest.get("source") or {}).get("data_files") or {}).get(release.split)
    if isinstance(files, dict):
        files = files.get(release.split)
    first = files[0] if isinstance(files, list) and files else files
    if isinstance(recorded, list) and recorded:
        recorded = recorded[0]
    path = recorded.get("path") if isinstance(recorded, dict) else None
    if isinstance(first, str) and isinstance(path, str) and not Path(first).is_absolute():
        parts = Path(os.path.normpath(first)).parts
        ups = len(parts) - len(tuple(itertools.dropwhile(lambda part: part == "..", parts)))
        tail = str(Path(*parts[ups:]))
        if path.endswith(os.sep + tail) or path == tail:
            return Path(path[: len(path) - len(tail)] or ".").joinpath(*["_"] * ups)
    return Path.cwd()


# ----------------------------------------------------------------------------------- sentiment lexicons


def sentiment_classes(label_names: tuple[str, ...]) -> tuple[int, int, int | None] | None:
    """Indices of (negative, positive, neutral) in a label space, or None when it is not sentiment."""
    lowered = [name.strip().lower() for name in label_names]
    aliases = {
        "negative": ("negative", "neg"),
        "positive": ("positive", "pos"),
        "neutral": ("neutral", "neu"),
    }
    found = {}
    for role, names in aliases.items():
        hits = [i for i, name in enumerate(lowered) if name in names]
        found[role] = hits[0] if hits else None
    if found["negative"] is None or found["positive"] is None:
        return None
    if len(label_names) != 2 + (found["neutral"] is not None):
        return None
    return found["negative"], found["positive"], found["neutral"]


def polarity_to_class(polarity: np.ndarray, classes: tuple[int, int, int | None]) -> np.ndarray:
    negative, positive, neutral = classes
    if neutral is None:
        return np.where(polarity >= 0, positive, negative)
    return np.select([polarity >= NEUTRAL_BAND, polarity <= -NEUTRAL_BAND], [positive, negative], neutral)


def _vader_polarity(texts: list[str], progress: bool) -> np.ndarray:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return np.array(
        [analyzer.polarity_scores(t)["compound"] for t in tqdm(texts, desc="vader", disable=not progress)]
    )


def _textblob_polarity(texts: list[str], progress: bool) -> np.ndarray:
    from textblob import TextBlob

    texts = tqdm(texts, desc="textblob", disable=not progress)
    return np.array([TextBlob(t).sentiment.polarity for t in texts])


def lexicon_model(polarity: Callable[[list[str], bool], np.ndarray]):
    def run(rows: Rows, ctx: RunContext, release: Release) -> np.ndarray:
        names = canonical_label_names(rows)
        classes = sentiment_classes(names)
        if classes is None:
            raise BaselineError(
                f"release {release.name}: label space {list(names)} is not sentiment (negative/positive"
                "[/neutral]); lexicon baselines do not apply"
            )
        scores = _per_distinct(rows.texts, lambda texts: polarity(texts, ctx.progress))
        return polarity_to_class(scores, classes).astype(np.int64)

    return run


vader_sentiment = lexicon_model(_vader_polarity)
textblob_sentiment = lexicon_model(_textblob_polarity)

ClassificationModel = Callable[[Rows, RunContext, Release], np.ndarray]
