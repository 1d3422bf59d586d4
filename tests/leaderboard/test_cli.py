"""`robustboard serve` and `robustboard space`: one clear line for bad input, a real server otherwise."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from robustboard.cli import main


def test_serve_refuses_a_missing_store_folder(tmp_path, capsys):
    assert main(["serve", "--store", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    where = tmp_path / "nowhere"
    assert (
        err == f"robustboard serve: error: --store {where}: no such folder (register a release there first)"
    )


def test_serve_without_a_store_names_the_variable(monkeypatch, capsys):
    monkeypatch.delenv("ROBUSTBOARD_STORE", raising=False)
    assert main(["serve"]) == 2
    assert "ROBUSTBOARD_STORE" in capsys.readouterr().err


def test_serve_reports_a_bad_environment_value(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("ROBUSTBOARD_RANK_ALPHA", "often")
    assert main(["serve", "--store", str(tmp_path)]) == 2
    assert "ROBUSTBOARD_RANK_ALPHA='often' is not a number" in capsys.readouterr().err


def test_space_refuses_a_local_store(tmp_path, capsys):
    assert main(["space", "--out", str(tmp_path / "s"), "--store", str(tmp_path)]) == 2
    assert "a Space reads a Hub store" in capsys.readouterr().err


def test_serve_starts_the_app_on_the_given_port(store_copy):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "ROBUSTBOARD_WORKER": "0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "robustboard", "serve", "--store", str(store_copy), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    page = response.read().decode("utf-8", "replace")
                    break
            except OSError:
                assert process.poll() is None, process.stdout.read()
                time.sleep(0.25)
        else:
            pytest.fail("robustboard serve did not answer within 60 s")
        assert "<title>robustboard</title>" in page or "robustboard" in page
    finally:
        process.terminate()
        process.wait(timeout=30)
