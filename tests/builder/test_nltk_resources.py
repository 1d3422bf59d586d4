"""A missing NLTK resource is one clear error naming it and the command that installs it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from builder.nltk_resources import RESOURCES, MissingNLTKResource, require
from robustboard.cli import UserError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("resource", sorted(RESOURCES))
def test_installed_resources_are_found(resource):
    location = require(resource)  # a folder, or a folder inside its zip: .../wordnet.zip/wordnet
    archive, zipped, _ = location.partition(".zip")
    assert resource in location and Path(archive + zipped).exists()


def test_unknown_resource_names_are_a_programming_error():
    with pytest.raises(ValueError, match="unknown NLTK resource 'wordnets'; known: wordnet"):
        require("wordnets")


def _run_without_nltk_data(tmp_path: Path, code: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter whose NLTK_DATA is an empty folder and HOME has no nltk_data."""
    empty = tmp_path / "empty_nltk_data"
    empty.mkdir()
    env = {**os.environ, "NLTK_DATA": str(empty), "HOME": str(tmp_path)}
    # NLTK also searches system folders (/usr/share/nltk_data, ...): keep only the empty one, the way a
    # machine without the data looks.
    prelude = "import nltk, os; nltk.data.path[:] = [os.environ['NLTK_DATA']]\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_missing_resource_names_itself_and_the_install_command(tmp_path):
    result = _run_without_nltk_data(
        tmp_path,
        """
        from builder.nltk_resources import MissingNLTKResource, require
        for name in ("wordnet", "stopwords", "averaged_perceptron_tagger_eng"):
            try:
                require(name)
            except MissingNLTKResource as err:
                print(err)
        """,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().split("\n")
    assert len(lines) == 3
    empty = tmp_path / "empty_nltk_data"
    assert lines[0] == (
        f"the NLTK resource 'wordnet' (corpora/wordnet) is missing (NLTK_DATA={empty}); install it with "
        "`python -m nltk.downloader wordnet`, or point NLTK_DATA at a folder that has it"
    )
    assert "`python -m nltk.downloader averaged_perceptron_tagger_eng`" in lines[2]


@pytest.mark.parametrize(("name", "resource"), [("synonyms", "wordnet"), ("typos", "stopwords")])
def test_text_perturbations_fail_in_prepare_before_any_work_with_that_error(tmp_path, name, resource):
    result = _run_without_nltk_data(
        tmp_path,
        f"""
        from builder.perturbations import create
        create("{name}").prepare([])
        """,
    )
    assert result.returncode == 1
    last = result.stderr.strip().split("\n")[-1]
    assert last.startswith(f"builder.nltk_resources.MissingNLTKResource: the NLTK resource '{resource}'")
    assert f"python -m nltk.downloader {resource}" in last


def test_the_error_is_a_user_error_so_the_cli_prints_it_as_one_line():
    assert issubclass(MissingNLTKResource, UserError)
