"""The augmenters being compared, one factory per (side, augmenter), each importing its library lazily.

A factory takes the rate parameter and, optionally, per-row protected words, and returns
`augment(rows) -> list[str]`: the perturbed question of every row. The same file is loaded by workers
in both environments (robustboard in the product's, nlpaug/textattack in `.bench-venv`), so only the
factory that is called needs its library.

Mapping of rates (measured, not assumed: the driver reports every side's realised rates):
- ours `typos(p)`: each letter of an unprotected word is replaced by a keyboard neighbour with
  probability p. nlpaug `KeyboardAug` picks `int(aug_word_p * n_tokens)` words (at least 1, at most
  `aug_word_max`) among tokens of >= 4 characters and, in each, `max(1, int(aug_char_p * len))`
  characters; with aug_char_p = p and MMLU's word lengths that is one character per chosen word, so
  `aug_word_p` carries the rate and is calibrated by the driver to our realised word-change rate
  (`aug_word_max=None`: nlpaug's default cap of 10 words would silently lower the rate on long questions).
- ours `char_swap / char_drop / char_insert(p)`: one edit in each eligible word with probability p.
  nlpaug `RandomCharAug(action=swap/delete/insert, aug_char_p=0, aug_char_min=1)` makes exactly one edit
  per chosen word, words chosen by `aug_word_p` (calibrated). textattack's `CharSwapAugmenter` mixes
  swap/substitute/delete/insert; its `pct_words_to_swap` is the share of words edited (calibrated).
- ours `synonyms(p)`: each eligible word replaced with probability p. nlpaug `SynonymAug(aug_src=
  'wordnet', aug_p)` and textattack `WordNetAugmenter(pct_words_to_swap)`: share of words replaced
  (calibrated).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from common import use_shared_nltk_data

Augment = Callable[[Sequence[dict]], list[str]]

# Tokens that are protected in every row (ours: capitalised tokens, tokens with digits, single
# characters, `n't` forms). Expressed in nlpaug's own `stopwords_regex`, matched against its tokens.
NLPAUG_PROTECTED_REGEX = r"^\s*(?:\S*[A-Z0-9]\S*|\w|\S*n['\u2019]t)\s*$"
# nlpaug's default tokenizer splits on every non-word character and its detokeniser re-spaces
# punctuation ("4-G" -> "4 - G", "Hume's" -> "Hume ' s", "0.6c" -> "0. 6c"), which alters protected
# tokens by itself. In `protected` mode it gets a lossless tokenizer instead: words with inner joiners
# (as ours), single punctuation marks and whitespace runs, joined back with "".
NLPAUG_TOKEN = r"[^\W_]+(?:['\u2019.,_\-][^\W_]+)*|\s+|[^\w\s]|_"


# ------------------------------------------------------------------------------------------------- ours


def _ours(name: str, p: float) -> Augment:
    """robustboard's registered perturbation, applied as the release builder applies it to one slot."""
    from builder.perturbations import create
    from builder.tasks import Example
    from robustboard.hashing import stable_seed

    perturbation = create(name, p=p)
    perturbation.prepare([])  # loads WordNet etc. now, outside the timed passes
    variant_id = f"{perturbation.setting_id()}-r1"

    def augment(rows: Sequence[dict]) -> list[str]:
        out = []
        for row in rows:
            example = Example(
                example_id=f"mmlu-{row['_index']}",
                task_type="multiple_choice",
                task=row["subject"],
                answer=int(row["answer"]),
                question=row["question"],
                choices=tuple(row["choices"]),
            )
            rng = random.Random(stable_seed(0, example.example_id, variant_id))
            out.append(perturbation.perturb(example, rng).question)
        return out

    return augment


def clear_our_caches(keep: tuple[str, ...] = ()) -> None:
    """Empty the per-text/per-word memo caches of our perturbations, keeping loaded resources.

    `keep` names caches, or whole modules, to leave warm (e.g. `builder.perturbations.protected`: the
    per-example protected sets, which a release build computes once per example and shares between
    its slots).

    Each timed pass then starts cold, as the peers do (their WordNet readers keep their own synset
    caches, and so does ours: `maxsize=1` caches hold the loaded WordNet, tagger table, stopwords).
    """
    import sys

    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("builder.perturbations") or module is None:
            continue
        for value in vars(module).values():
            info = getattr(value, "cache_info", None)
            if info is None or getattr(value, "__module__", "") != module_name or info().maxsize == 1:
                continue
            if module_name not in keep and getattr(value, "__name__", "") not in keep:
                value.cache_clear()


def ours_typos(p: float, **_) -> Augment:
    return _ours("typos", p)


def ours_char_swap(p: float, **_) -> Augment:
    return _ours("char_swap", p)


def ours_char_drop(p: float, **_) -> Augment:
    return _ours("char_drop", p)


def ours_char_insert(p: float, **_) -> Augment:
    return _ours("char_insert", p)


def ours_synonyms(p: float, **_) -> Augment:
    return _ours("synonyms", p)


# ----------------------------------------------------------------------------------------------- nlpaug


def _nlpaug(make, protected: list[list[str]] | None) -> Augment:
    """Run an nlpaug augmenter over the questions; with `protected`, skip the row's protected words.

    nlpaug takes its skip list as augmenter attributes (`stopwords`, `stopwords_regex`), so the
    per-row list is set on the augmenter before each call: its own mechanism, no extra work.
    """
    if protected is None:
        aug = make()
    else:
        import re

        token = re.compile(NLPAUG_TOKEN)
        aug = make(tokenizer=token.findall, reverse_tokenizer="".join)
        aug.stopwords_regex = re.compile(NLPAUG_PROTECTED_REGEX)
        # nlpaug compares raw tokens; ours are case-folded with typographic apostrophes folded to '
        protected = [set(words) | {w.replace("'", "\u2019") for w in words} for words in protected]

    def augment(rows: Sequence[dict]) -> list[str]:
        out = []
        for row in rows:
            if protected is not None:
                aug.stopwords = protected[row["_pos"]]
            result = aug.augment(row["question"])
            out.append(result[0] if isinstance(result, list) else result)
        return out

    return augment


def nlpaug_keyboard(p: float, word_p: float, protected=None) -> Augment:
    import nlpaug.augmenter.char as nac

    return _nlpaug(
        lambda **kw: nac.KeyboardAug(
            aug_char_p=p, aug_word_p=word_p, aug_word_min=0, aug_word_max=None, aug_char_max=None, **kw
        ),
        protected,
    )


def _nlpaug_random_char(action: str, word_p: float, protected) -> Augment:
    import nlpaug.augmenter.char as nac

    return _nlpaug(
        lambda **kw: nac.RandomCharAug(
            action=action,
            aug_char_p=0.0,
            aug_char_min=1,
            aug_char_max=1,
            aug_word_p=word_p,
            aug_word_min=0,
            aug_word_max=None,
            **kw,
        ),
        protected,
    )


def nlpaug_char_swap(p: float, word_p: float, protected=None) -> Augment:
    return _nlpaug_random_char("swap", word_p, protected)


def nlpaug_char_drop(p: float, word_p: float, protected=None) -> Augment:
    return _nlpaug_random_char("delete", word_p, protected)


def nlpaug_char_insert(p: float, word_p: float, protected=None) -> Augment:
    return _nlpaug_random_char("insert", word_p, protected)


def nlpaug_synonyms(p: float, word_p: float, protected=None) -> Augment:
    use_shared_nltk_data()
    import nlpaug.augmenter.word as naw

    return _nlpaug(
        lambda **kw: naw.SynonymAug(aug_src="wordnet", aug_p=word_p, aug_min=0, aug_max=None, **kw), protected
    )


# ------------------------------------------------------------------------------------------- textattack


def _textattack(make, word_p: float, protected: list[list[str]] | None) -> Augment:
    """Run a textattack augmenter (one augmentation per row); with `protected`, extend its stopwords.

    textattack's recipes carry a `StopwordModification` constraint that compares its words exactly
    (case-sensitive); per row its set becomes textattack's stopwords | the row's words that are
    protected (ours, case-folded, or capitalised / with a digit / single character / `n't`).
    """
    use_shared_nltk_data()
    import re

    aug = make(pct_words_to_swap=word_p, transformations_per_example=1)
    stop_constraint = None
    base_stopwords: set[str] = set()
    inherent = re.compile(NLPAUG_PROTECTED_REGEX)
    if protected is not None:
        from textattack.constraints.pre_transformation import StopwordModification
        from textattack.shared import AttackedText

        for constraint in aug.pre_transformation_constraints:
            if isinstance(constraint, StopwordModification):
                stop_constraint = constraint
                base_stopwords = set(constraint.stopwords)

    def augment(rows: Sequence[dict]) -> list[str]:
        out = []
        for row in rows:
            if stop_constraint is not None:
                keep = set(protected[row["_pos"]])
                words = AttackedText(row["question"]).words
                stop_constraint.stopwords = base_stopwords | {
                    w for w in words if w.lower().replace("\u2019", "'") in keep or inherent.match(w)
                }
            result = aug.augment(row["question"])
            out.append(result[0] if result else row["question"])
        return out

    return augment


def textattack_char_swap(p: float, word_p: float, protected=None) -> Augment:
    """textattack's stock `CharSwapAugmenter` (swap / substitute / delete / insert, mixed)."""
    from textattack.augmentation import CharSwapAugmenter

    return _textattack(CharSwapAugmenter, word_p, protected)


def textattack_typos(p: float, word_p: float, protected=None) -> Augment:
    """textattack's keyboard-typo transformation (`WordSwapQWERTY`) with the recipes' default constraints."""
    from textattack.augmentation import Augmenter
    from textattack.augmentation.recipes import DEFAULT_CONSTRAINTS
    from textattack.transformations import WordSwapQWERTY

    return _textattack(
        lambda **kw: Augmenter(WordSwapQWERTY(), constraints=DEFAULT_CONSTRAINTS, **kw), word_p, protected
    )


def textattack_synonyms(p: float, word_p: float, protected=None) -> Augment:
    from textattack.augmentation import WordNetAugmenter

    return _textattack(WordNetAugmenter, word_p, protected)


FACTORIES: dict[str, Callable[..., Augment]] = {
    name: value for name, value in globals().items() if name.split("_")[0] in ("ours", "nlpaug", "textattack")
}
