"""The Hub subcommands' arguments, and `robustboard hub-server` as a real process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi

from robustboard.cli import main

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data: Path, *args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "robustboard",
            "hub-server",
            "--port",
            str(port),
            "--data",
            str(data),
            *args,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"hub-server exited: {proc.stderr.read()}")
        try:
            httpx.get(f"{url}/api/datasets", timeout=1)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("hub-server did not start")


def stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


def test_hub_server_serves_users_and_orgs_and_keeps_data(tmp_path):
    proc, url = start_server(tmp_path / "data", "--user", "alice:hf_cli_alice", "--org", "lab:alice")
    try:
        api = HfApi(endpoint=url, token="hf_cli_alice")
        assert api.whoami()["name"] == "alice"
        api.create_repo("lab/demo", repo_type="dataset", private=True)
        api.upload_file(path_or_fileobj=b"hi", path_in_repo="hi.txt", repo_id="lab/demo", repo_type="dataset")
    finally:
        stop(proc)
    proc, url = start_server(tmp_path / "data")  # restarted without options: users and repos persist
    try:
        files = HfApi(endpoint=url, token="hf_cli_alice").list_repo_files("lab/demo", repo_type="dataset")
        assert files == [".gitattributes", "hi.txt"]
    finally:
        stop(proc)


def test_hub_server_without_users_creates_one_and_prints_its_token(tmp_path):
    proc, url = start_server(tmp_path / "data")
    err = stop(proc)
    token = err.split("created user 'local' with token ", 1)[1].split()[0]
    assert token.startswith("hf_")
    assert f"HF_ENDPOINT={url}" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["publish", "rel", "--repo", "not-a-repo-id"],
        ["publish", "rel", "--repo", "o/r", "--retries", "0"],
        ["pull", "--repo", "o/r", "--out", "x"],  # --revision is required
        ["versions", "--repo", "o/r", "--timeout", "-1"],
    ],
)
def test_malformed_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2 and "error:" in capsys.readouterr().err


def test_user_errors_are_one_line_and_exit_2(offline, tmp_path, capsys):
    assert main(["publish", str(tmp_path), "--repo", "o/r", "--endpoint", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1
        and err.startswith("robustboard publish: error: ")
        and "manifest.json: missing" in err
    )
