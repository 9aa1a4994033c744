"""What a user keeps is served inert on the hub's origin: it can never run as a page there."""

from __future__ import annotations

import pytest

from tests.service.helpers import make_dataset, submit, wait_for

FILES = {
    "x.html": b"<script>fetch('/hub/api/users/admin/tokens', {method: 'POST'})</script>",
    "x.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "x.xml": b"<?xml version='1.0'?><x/>",
    "notes.txt": b"plain words",
    "table.csv": b"a,b\n1,2\n",
    "data.json": b'{"a": 1}',
    "plot.png": b"\x89PNG\r\n\x1a\n",
    "model.bin": b"\x00\x01",
}


@pytest.fixture(scope="module")
def kept(service):
    owner, token = service.user("alice")
    make_dataset(service, token, "kept", FILES)
    return owner, token


@pytest.mark.parametrize(
    ("path", "content_type", "inline"),
    [
        ("x.html", "application/octet-stream", False),
        ("x.svg", "application/octet-stream", False),
        ("x.xml", "application/octet-stream", False),
        ("notes.txt", "text/plain; charset=utf-8", True),
        ("table.csv", "text/plain; charset=utf-8", True),
        ("data.json", "text/plain; charset=utf-8", True),
        ("plot.png", "image/png", True),
        ("model.bin", "application/octet-stream", False),
    ],
)
def test_files_are_inline_only_when_a_browser_cannot_run_them(
    service, kept, path, content_type, inline
):
    owner, token = kept
    resp = service.api("GET", f"datasets/{owner}/kept/versions/1/files/{path}", token)
    assert resp.status_code == 200 and resp.content == FILES[path]
    assert resp.headers["Content-Type"] == content_type
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Security-Policy"].startswith("sandbox")
    disposition = resp.headers.get("Content-Disposition", "")
    assert disposition.startswith("attachment") != inline, disposition


def test_a_file_name_cannot_add_to_the_header(service):
    owner, token = service.user("alice")
    name = 'evil"; filename=x.html; a=.txt'
    make_dataset(service, token, "names", {name: b"x"})
    resp = service.api("GET", f"datasets/{owner}/names/versions/1/files/{name}?download=1", token)
    disposition = resp.headers["Content-Disposition"]
    assert disposition.count(";") == 2 and disposition.count('"') == 2, disposition
    assert 'filename="evil__ filename=x.html_ a=.txt"' in disposition


def test_outputs_logs_and_notebooks_are_served_inert_too(service):
    _owner, token = service.user("alice")
    job = wait_for(service, token, submit(service, token, kind="command", command="<b>x</b>"))
    for path in (f"jobs/{job['id']}/logs", f"jobs/{job['id']}/output/files/out.txt"):
        resp = service.api("GET", path, token)
        assert resp.status_code == 200, path
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8", path
        assert resp.headers["X-Content-Type-Options"] == "nosniff", path
        assert resp.headers["Content-Security-Policy"].startswith("sandbox"), path
