"""NLTK data checks: a missing resource is one clear error naming it and the command that installs it.

NLTK's own `LookupError` is a multi-line banner that suggests `nltk.download()` from a Python prompt,
which fails on machines without GitHub access. The builder needs WordNet, the English stopwords and
the averaged-perceptron tagger's tag dictionary; `require` checks for one by name before any work
starts, so a build fails in its first second with a message a user can act on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from robustboard.cli import UserError

# Resource name (what `python -m nltk.downloader NAME` takes) -> the path NLTK's `find` resolves,
# inside a plain folder or its zip; the trailing slash lets `find` look inside `<name>.zip` too.
RESOURCES: dict[str, str] = {
    "wordnet": "corpora/wordnet/",
    "stopwords": "corpora/stopwords/",
    "averaged_perceptron_tagger_eng": "taggers/averaged_perceptron_tagger_eng/",
}


class MissingNLTKResource(UserError):
    """An NLTK data resource the builder needs is not installed where NLTK looks."""


def require(resource: str) -> str:
    """Return the location of an NLTK resource, or raise `MissingNLTKResource` saying how to get it."""
    try:
        path = RESOURCES[resource]
    except KeyError:
        raise ValueError(f"unknown NLTK resource {resource!r}; known: {', '.join(RESOURCES)}") from None
    import nltk  # lazily: importing NLTK takes ~2 s (it pulls in scipy)

    try:
        return str(nltk.data.find(path))
    except LookupError:
        nltk_data = os.environ.get("NLTK_DATA")
        where = f"NLTK_DATA={nltk_data}" if nltk_data else "NLTK_DATA is not set"
        raise MissingNLTKResource(
            f"the NLTK resource '{resource}' ({path.rstrip('/')}) is missing ({where}); install it with "
            f"`python -m nltk.downloader {resource}`, or point NLTK_DATA at a folder that has it"
        ) from None


def missing(resources: Iterable[str]) -> list[str]:
    """The resources among `resources` that NLTK cannot find (for callers that can do without them)."""
    out = []
    for resource in dict.fromkeys(resources):
        try:
            require(resource)
        except MissingNLTKResource:
            out.append(resource)
    return out
