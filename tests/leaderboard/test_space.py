"""The Hugging Face Space folder: README metadata pinned to the tested gradio, a self-contained bundle
that really serves the app from its own copy of the packages."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import gradio
import pytest
import yaml

from leaderboard.board import ENVIRONMENT
from leaderboard.space import SpaceError, sdk_version, write_space


def front_matter(readme: str) -> dict:
    assert readme.startswith("---\n")
    return yaml.safe_load(readme.split("---\n")[1])


def test_the_template_pins_the_installed_gradio():
    assert sdk_version() == gradio.__version__


def test_space_folder_has_metadata_entry_requirements_and_packages(tmp_path):
    out = write_space(
        tmp_path / "space",
        store="hf://acme/results",
        title="Acme robustness",
        datasets=["acme/mmlu-robust", "acme/results"],
    )
    meta = front_matter((out / "README.md").read_text("utf-8"))
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == gradio.__version__
    assert meta["app_file"] == "app.py" and (out / meta["app_file"]).is_file()
    assert meta["datasets"] == ["acme/results", "acme/mmlu-robust"]
    assert "leaderboard" in meta["tags"] and meta["title"] == "Acme robustness"
    body = (out / "README.md").read_text("utf-8")
    assert all(f"`{key}`" in body for key in ENVIRONMENT)
    requirements = (out / "requirements.txt").read_text("utf-8").split()
    assert all("==" in line for line in requirements) and not any(
        r.startswith("gradio==") for r in requirements
    )
    for package in ("robustboard", "submissions", "leaderboard"):
        assert (out / package / "__init__.py").is_file()
    assert not list(out.rglob("__pycache__")) and not (out / "robustboard" / "hub_server").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"store": "/data/store"}, "a Space reads a Hub store"),
        ({"store": "hf://acme/results", "title": "bad\ntitle"}, "must be one line"),
        ({"store": "hf://acme/results", "datasets": ["not a repo"]}, "not ORG/NAME"),
    ],
)
def test_bad_arguments_are_refused_before_writing(tmp_path, kwargs, message):
    with pytest.raises(SpaceError, match=message):
        write_space(tmp_path / "space", **kwargs)
    assert not (tmp_path / "space").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_bundle_serves_the_app_from_its_own_copy(tmp_path, store_copy):
    out = write_space(tmp_path / "space", store="hf://acme/results")
    env = {
        **os.environ,
        "PYTHONPATH": str(out),
        "ROBUSTBOARD_STORE": str(store_copy),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(_free_port()),
        "ROBUSTBOARD_WORKER": "0",
    }
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import leaderboard.app, submissions.store, robustboard; "
            "print(leaderboard.app.__file__); print(submissions.store.__file__)",
        ],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(Path(path).is_relative_to(out) for path in where)
    process = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=out,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{env['GRADIO_SERVER_PORT']}/"
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert process.poll() is None, process.stdout.read()
                time.sleep(0.25)
        else:
            pytest.fail("the Space app did not start within 60 s")
        from gradio_client import Client

        rows = Client(url, verbose=False).predict(api_name="/leaderboard")
        assert rows[0]["model"] == "acme/strong-70b" and rows[0]["rank"] == 1
    finally:
        process.terminate()
        process.wait(timeout=30)
