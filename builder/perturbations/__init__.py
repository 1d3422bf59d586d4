"""The perturbation registry, full: importing this package registers every perturbation.

`REGISTRY[name]` is the class and `create(name, **params)` an instance; see `base.py` for the
protocol, `protected.py` for the tokens no perturbation may alter (and the check the audit runs).

| module | perturbations (registry name -> family) |
|---|---|
| surface | typos, char_swap / char_drop / char_insert -> char_edits, casing, whitespace, |
| | punctuation, contractions, mild_mix |
| lexical | synonyms |
| distractors | distractor_sentence, random_suffix -> distractors |
| prompt_format | instruction, enumerator, separator, answer_cue |
| choice_order | choice_order |
| fewshot | fewshot (needs a demonstration pool: `with_pool`) |
| compose | compose -> composite |
"""

from builder.perturbations import (  # noqa: F401  (imported for their @register side effect)
    choice_order,
    compose,
    distractors,
    fewshot,
    lexical,
    prompt_format,
    surface,
)
from builder.perturbations.base import REGISTRY, Perturbation, create, register
from builder.perturbations.protected import altered_protected_tokens, protected_tokens

__all__ = [
    "REGISTRY",
    "Perturbation",
    "altered_protected_tokens",
    "create",
    "protected_tokens",
    "register",
]
