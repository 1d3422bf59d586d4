"""Security of what strangers send: links that are not http(s) are refused, uploads are stored under their
sha256 only, and nothing a user types (a file name, a submission id, a release name) becomes a path."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from submissions.limits import Limits
from submissions.store import LocalBackend, Store, StoreError
from submissions.validation import ValidationError
from tests.hardening.conftest import CORPUS, serve_app

HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "//evil.example/x",
        "http:/no-host",
        "https://example.org/a b",
        "ftp://example.org/model",
    ],
)
def test_a_link_that_is_not_http_or_https_is_refused(make_store, link):
    store = make_store(Limits())
    with pytest.raises(ValidationError) as caught:
        store.submit(
            CORPUS / "reference.jsonl",
            release="mmlu@1.0.0",
            model={"name": "sec/model", "type": "other", "link": link},
            submitter="sec",
        )
    (problem,) = caught.value.problems
    assert problem.location == "field link" and problem.message.endswith("is not an http(s) URL")
    assert store.requests() == []


@pytest.fixture(scope="module")
def app(release, tmp_path_factory):
    store = Store(LocalBackend(tmp_path_factory.mktemp("security") / "store"), limits=Limits(per_day=0))
    store.register_release(str(release.public), str(release.labels))
    with serve_app(store, worker=False) as served:
        yield {**served, "store": store}


def call(app: dict, endpoint: str, data: list) -> list:
    """The app's HTTP API as curl would use it: POST the inputs, read the result from the event stream."""
    base = app["url"] + "gradio_api/call/" + endpoint.strip("/")
    event = httpx.post(base, json={"data": data}, timeout=60).json()["event_id"]
    with httpx.stream("GET", f"{base}/{event}", timeout=120) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data:")]
    return json.loads(lines[-1][len("data:") :])


@pytest.mark.parametrize(
    "name", ["../../x.jsonl", "..\\..\\x.jsonl", "/etc/passwd.jsonl", "a/../../../x.jsonl"]
)
def test_an_uploaded_file_is_kept_under_its_sha256_whatever_it_was_called(app, release, name, tmp_path):
    content = (CORPUS / "reference.jsonl").read_bytes()
    upload = httpx.post(
        app["url"] + "gradio_api/upload",
        files={"files": (name, content, "application/octet-stream")},
        timeout=60,
    )
    assert upload.status_code == 200
    (server_path,) = upload.json()
    file = {"path": server_path, "orig_name": name, "meta": {"_type": "gradio.FileData"}}
    status, sid, problems, _ = call(
        app, "submit", [file, release.ref, "sec/upload", f"r-{abs(hash(name))}", "", "other", "", "", "sec"]
    )
    assert len(sid) == 16, (status, problems)
    store: Store = app["store"]
    request = store.request(sid)
    assert (
        HEX64.match(request["raw_sha256"])
        and "/" not in request["raw_name"]
        and "\\" not in request["raw_name"]
    )
    raw = store.backend.root / "raw"
    assert all(HEX64.match(p.name) for p in raw.iterdir())
    assert (raw / request["raw_sha256"]).read_bytes() == content
    everything = [
        p.relative_to(store.backend.root).as_posix() for p in store.backend.root.rglob("*") if p.is_file()
    ]
    assert all(
        re.match(r"^(releases/[^/]+\.json|requests/[0-9a-f]{16}\.json|raw/[0-9a-f]{64})$", p)
        for p in everything
    )
    # nothing was written where the name pointed, relative to the upload folder or the store
    for base in (Path(server_path).parent, store.backend.root):
        assert not (base / name).resolve().exists() or (base / name).resolve() == Path(server_path).resolve()


@pytest.mark.parametrize(
    "sid",
    [
        "../../../../etc/passwd",
        "../results/0000000000000000",
        "..%2f..%2fetc%2fpasswd",
        "0000000000000000/../../x",
        "A" * 5000,
        "",
    ],
)
def test_a_submission_id_typed_by_a_user_never_becomes_a_path(app, sid):
    text = Client(app["url"], verbose=False).predict(sid, api_name="/status")
    assert text == "" if sid == "" else text.startswith("No submission")
    assert "passwd" not in text.replace(r"\/", "/") or "No submission" in text
    with pytest.raises(StoreError, match="a submission id is 16 hex digits"):
        app["store"].request(sid)


def test_the_store_refuses_paths_that_leave_it(make_store):
    store = make_store(Limits())
    for path in ("../outside.json", "requests/../../outside.json", "/etc/passwd"):
        with pytest.raises(StoreError, match="escapes the store"):
            store.backend.read_bytes(path)
    for ref in ("../../etc/passwd@1", "mmlu@1.0.0/../../x", "mmlu@../1"):
        with pytest.raises(StoreError, match="is not registered"):
            store.release(ref)
