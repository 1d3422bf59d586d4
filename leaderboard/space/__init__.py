"""A deployable Hugging Face Space folder for the leaderboard (`robustboard space`).

The folder is self-contained: the Space README (YAML: sdk gradio pinned to the gradio this code is
tested with, app_file, datasets), the entry `app.py`, `space.json` with the store and title chosen
here (Space variables override them), `requirements.txt` pinned to the versions installed here, and
a copy of the three packages the app imports (`robustboard`, `submissions`, `leaderboard`).
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from string import Template

import gradio

HERE = Path(__file__).resolve().parent
PACKAGES = ("robustboard", "submissions", "leaderboard")
# What the app imports at run time besides gradio (the Space installs gradio from sdk_version).
REQUIREMENTS = ("pandas", "numpy", "scipy", "plotly", "pyarrow", "huggingface_hub", "httpx2")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "hub_server")


class SpaceError(Exception):
    """Bad arguments for a Space folder (one line, shown to the user)."""


def readme(*, title: str, store: str, datasets: Sequence[str]) -> str:
    """The Space README: the template with the title, store, dataset list and environment table."""
    from leaderboard.board import ENVIRONMENT

    template = Template((HERE / "README.md").read_text("utf-8"))
    rows = "\n".join(f"| `{key}` | {text} |" for key, text in ENVIRONMENT.items())
    listed = "\n".join(f"  - {repo}" for repo in datasets)
    return template.substitute(title=title, store=store, datasets=listed, environment=rows)


def requirements() -> str:
    lines = [f"{name}=={importlib.metadata.version(name)}" for name in REQUIREMENTS]
    return "\n".join(lines) + "\n"


def write_space(
    out: str | Path, *, store: str, title: str = "robustboard", datasets: Sequence[str] = ()
) -> Path:
    """Write the Space folder `out` and return its path."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise SpaceError(f"--out {out}: the folder is not empty")
    if not store.startswith("hf://") or not _REPO_ID.match(store[len("hf://") :]):
        raise SpaceError(f"--store {store}: a Space reads a Hub store, hf://ORG/NAME")
    if not title.strip() or any(c in title for c in "\n\r\"'$"):
        raise SpaceError(f"--title {title!r}: must be one line without quotes or $")
    results_repo = store[len("hf://") :]
    listed = [results_repo]
    for repo in datasets:
        if not _REPO_ID.match(repo):
            raise SpaceError(f"--dataset {repo}: not ORG/NAME")
        if repo not in listed:
            listed.append(repo)
    if gradio.__version__ != sdk_version():
        raise SpaceError(
            f"the Space README pins gradio {sdk_version()} but gradio {gradio.__version__} is installed; "
            "update sdk_version in leaderboard/space/README.md after testing with it"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "README.md").write_text(readme(title=title, store=store, datasets=listed), "utf-8")
    shutil.copyfile(HERE / "app.py", out / "app.py")
    (out / "space.json").write_text(
        json.dumps({"ROBUSTBOARD_STORE": store, "ROBUSTBOARD_TITLE": title}, indent=2) + "\n", "utf-8"
    )
    (out / "requirements.txt").write_text(requirements(), "utf-8")
    root = HERE.parent.parent
    for package in PACKAGES:
        shutil.copytree(root / package, out / package, ignore=_IGNORED)
    return out


def sdk_version() -> str:
    """The gradio version the README template pins (its YAML `sdk_version`)."""
    match = re.search(r"^sdk_version:\s*(\S+)\s*$", (HERE / "README.md").read_text("utf-8"), re.MULTILINE)
    if not match:
        raise SpaceError("leaderboard/space/README.md has no sdk_version")
    return match.group(1)
