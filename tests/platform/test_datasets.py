"""Versioned datasets through the real service: the floe CLI, the REST API, and mounts."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import docker
import pytest
import requests

from floe.client.api import FloeClient
from floe.client.transfer import download_version, upload_folder
from tests.floe_cli import FLOE, floe

pytestmark = pytest.mark.integration


def api(hub, token, method, path, **kwargs):
    return hub.floe(method, path, token, **kwargs)


def received_bytes(hub):
    return api(hub, hub.admin_token, "GET", "blobs/stats").json()["received_bytes"]


def make_folder(root: Path, count: int, size: int) -> Path:
    root.mkdir(parents=True)
    for i in range(count):
        (root / f"part-{i:03}.bin").write_bytes(os.urandom(size))
    return root


def test_upload_versions_dedup_and_download(hub, user_token, tmp_path):
    name, token = user_token("alice")
    data = make_folder(tmp_path / "mnist", 100, 20_000)
    assert floe(hub, token, "data", "init", "mnist", cwd=data).returncode == 0

    before = received_bytes(hub)
    first = floe(hub, token, "data", "upload", "-m", "first", cwd=data, home=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"{name}/mnist:1 (100 files)" in first.stdout
    # Small files travel in packs: their bytes plus a few bytes of framing each.
    assert 100 * 20_000 <= received_bytes(hub) - before <= 100 * (20_000 + 8)

    # One file of the hundred changes: only it travels.
    (data / "part-042.bin").write_bytes(os.urandom(20_000))
    before = received_bytes(hub)
    second = floe(hub, token, "data", "upload", "-m", "second", cwd=data, home=tmp_path)
    assert second.returncode == 0, second.stderr
    assert 20_000 <= received_bytes(hub) - before <= 20_008
    assert "uploading 100/100 files" in second.stderr
    assert "; 1 sent, 99 stored already" in second.stderr, second.stderr

    versions = json.loads(floe(hub, token, "data", "versions", "mnist", "--json").stdout)
    assert [(v["number"], v["message"], v["file_count"]) for v in versions] == [
        (1, "first", 100),
        (2, "second", 100),
    ]
    listing = floe(hub, token, "data", "ls").stdout
    assert f"{name}/mnist" in listing and "v2" in listing

    out = tmp_path / "download"
    got = floe(hub, token, "data", "download", "mnist:2", str(out))
    assert got.returncode == 0, got.stderr
    for path in data.glob("*.bin"):
        assert (out / path.name).read_bytes() == path.read_bytes()


def test_a_download_of_many_files_at_once_puts_each_in_its_place(hub, user_token, tmp_path):
    """Files are fetched four at a time, each into a temporary name of its own: one named
    like another's temporary file ("a" and "a.part") still gets its own bytes."""
    name, token = user_token("fetcher")
    data = make_folder(tmp_path / "many", 30, 3_000)
    (data / "a").write_bytes(b"a's bytes")
    (data / "a.part").write_bytes(b"the bytes of a.part")
    client = FloeClient(hub.url, token)
    client.create_dataset("many")
    upload_folder(client, f"{name}/many", data, "v1")
    download_version(client, f"{name}/many", None, tmp_path / "out")
    for path in data.iterdir():
        assert (tmp_path / "out" / path.name).read_bytes() == path.read_bytes(), path.name
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in data.iterdir()
    )


def test_interrupted_upload_leaves_no_version_and_resumes_with_what_is_missing(
    hub, user_token, tmp_path
):
    _name, token = user_token("resumer")
    data = make_folder(tmp_path / "big", 10, 50_000)
    client = FloeClient(hub.url, token)
    full = client.create_dataset("big")["full_name"]

    from floe.trees.scan import scan_folder

    tree, sources = scan_folder(data)
    blobs = sorted(tree.blob_ids())
    for blob in blobs[:4]:  # the connection dies after four files
        client.put_blob(blob, sources[blob])
    assert client.dataset(full)["versions"] == []

    before = received_bytes(hub)
    resumed = floe(hub, token, "data", "upload", "--dataset", full, "--folder", str(data))
    assert resumed.returncode == 0, resumed.stderr
    assert 6 * 50_000 <= received_bytes(hub) - before <= 6 * (50_000 + 8)
    assert [v["number"] for v in client.dataset(full)["versions"]] == [1]


def test_upload_cut_off_midway_leaves_no_blob_and_no_spool_file(hub, user_token):
    _name, token = user_token("cutoff")
    body = os.urandom(12 * 1024 * 1024)
    blob = hashlib.sha256(body).hexdigest()
    host, port = urlsplit(hub.url).hostname, urlsplit(hub.url).port
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(
            f"PUT /services/floe/api/blobs/{blob} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: token {token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        sock.sendall(body[: len(body) * 3 // 4])
        spool = hub.data_dir / "cache" / "spool"
        deadline = time.monotonic() + 30
        while not (spool.is_dir() and any(f.stat().st_size for f in spool.iterdir())):
            assert time.monotonic() < deadline, "the upload never reached the service"
            time.sleep(0.1)
        # The laptop's lid closes here.
    client = FloeClient(hub.url, token)
    while any(spool.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list(spool.iterdir()) == []
    assert client.missing_blobs([blob]) == [blob]


def test_bad_input_is_refused_with_what_was_wrong(hub, user_token, tmp_path):
    _name, token = user_token("careless")
    resp = api(hub, token, "POST", "datasets", json=["not", "an", "object"])
    assert resp.status_code == 400
    assert resp.json()["error"] == "the request body must be a JSON object"
    resp = api(hub, token, "POST", "datasets", json={"name": "Not OK!"})
    assert resp.status_code == 400
    assert "must be 1-100 lowercase letters" in resp.json()["error"]

    me = api(hub, token, "POST", "datasets", json={"name": "sneaky"}).json()["full_name"]
    manifest = [{"path": "../../etc/passwd", "sha256": "a" * 64, "size": 1}]
    resp = api(hub, token, "POST", f"datasets/{me}/versions", json={"manifest": manifest})
    assert resp.status_code == 400
    assert "'../../etc/passwd': '..' would point outside" in resp.json()["error"]

    resp = api(hub, token, "PUT", "blobs/" + "0" * 64, data=b"not those bytes")
    assert resp.status_code == 400
    assert "hash to" in resp.json()["error"]
    resp = api(hub, token, "POST", "blobs/pack", data=b"10\nshort")
    assert resp.status_code == 400
    assert "the pack ends 5 bytes short of a 10-byte blob" in resp.json()["error"]

    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    folder = tmp_path / "linky"
    folder.mkdir()
    os.symlink(outside, folder / "link.txt")
    floe(hub, token, "data", "init", "linky", cwd=folder)
    result = floe(hub, token, "data", "upload", cwd=folder)
    assert result.returncode == 2
    assert (
        "link.txt: is a link to" in result.stderr and "outside the uploaded folder" in result.stderr
    )

    resp = requests.get(f"{hub.url}/services/floe/api/datasets", timeout=30)
    assert resp.status_code == 401
    assert "token" in resp.json()["error"]


def test_private_datasets_stay_private_and_public_ones_are_shared(hub, user_token, tmp_path):
    owner, owner_token = user_token("owner")
    _other, other_token = user_token("other")
    for dataset, public in (("secret", False), ("shared", True)):
        folder = make_folder(tmp_path / dataset, 2, 100)
        args = ["data", "init", dataset] + (["--public"] if public else [])
        assert floe(hub, owner_token, *args, cwd=folder).returncode == 0
        assert floe(hub, owner_token, "data", "upload", cwd=folder).returncode == 0

    # (Other users' public datasets are listed too; the owner's private one is not.)
    listing = api(hub, other_token, "GET", "datasets").json()
    assert [d["full_name"] for d in listing if d["owner"] == owner] == [f"{owner}/shared"]
    resp = api(hub, other_token, "GET", f"datasets/{owner}/secret/versions/1")
    assert resp.status_code == 404
    assert resp.json()["error"] == f"no dataset {owner}/secret that you can read"
    assert api(hub, other_token, "GET", f"datasets/{owner}/shared/versions/1").status_code == 200
    upload = floe(
        hub,
        other_token,
        "data",
        "upload",
        "--dataset",
        f"{owner}/shared",
        "--folder",
        str(tmp_path / "shared"),
    )
    assert upload.returncode == 2 and f"only {owner} can add versions" in upload.stderr

    # The spawner applies the same rule: no mounting someone else's private data.
    other = _other
    resp = hub.api("POST", f"/users/{other}/server", json={"datasets": [f"{owner}/secret:1"]})
    assert resp.status_code == 400
    assert f"no dataset {owner}/secret that you can read" in resp.json()["message"]
    assert hub.api("GET", f"/users/{other}").json()["servers"] == {}


def test_workspace_mounts_two_versions_read_only(hub, user_token, tmp_path):
    name, token = user_token("mounter")
    data = make_folder(tmp_path / "digits", 3, 1000)
    floe(hub, token, "data", "init", "digits", cwd=data)
    floe(hub, token, "data", "upload", "-m", "v1", cwd=data)
    (data / "part-000.bin").write_text("version two")
    floe(hub, token, "data", "upload", "-m", "v2", cwd=data)

    for bad, fragment in (
        (["digits:1", "digits:2:/input/digits"], "two datasets are mounted at /input/digits"),
        (["digits:9"], "has no version 9"),
        (["digits:1:/home/jovyan"], "must be inside /input"),
        (["nope"], "no dataset"),
    ):
        resp = hub.api("POST", f"/users/{name}/server", json={"datasets": bad})
        assert resp.status_code == 400, resp.text
        assert fragment in resp.json()["message"]

    resp = hub.spawn(name, {"datasets": ["digits:1", "digits:2:/input/digits-v2"]})
    assert resp.status_code in (201, 202), resp.text
    container = docker.from_env().containers.get(f"{hub.instance}-workspace-{name}")
    assert container.labels["floe.datasets"] == f"{name}/digits:1,{name}/digits:2"

    def sh(cmd):
        result = container.exec_run(["sh", "-c", cmd])
        return result.exit_code, result.output.decode()

    assert sh("cat /input/digits-v2/part-000.bin") == (0, "version two")
    code, v1 = sh("wc -c < /input/digits/part-000.bin")
    assert (code, v1.strip()) == (0, "1000")
    code, out = sh("echo x > /input/digits/part-000.bin")
    assert code != 0 and "Read-only file system" in out
    code, out = sh("touch /input/digits-v2/new")
    assert code != 0 and "Read-only file system" in out


def test_pages_list_datasets_and_files_and_openapi_is_served(hub, user_token, tmp_path):
    name, token = user_token("browser")
    data = make_folder(tmp_path / "pics", 2, 10)
    floe(hub, token, "data", "init", "pics", "--description", "holiday pictures", cwd=data)
    floe(hub, token, "data", "upload", "-m", "the beach", cwd=data)

    session = requests.Session()
    session.headers["Authorization"] = f"token {token}"
    index = session.get(f"{hub.url}/services/floe/", timeout=30)
    assert index.status_code == 200
    assert f"{name}/pics" in index.text and "holiday pictures" in index.text
    page = session.get(f"{hub.url}/services/floe/datasets/{name}/pics/1", timeout=30)
    assert "part-000.bin" in page.text and "the beach" in page.text
    one = session.get(
        f"{hub.url}/services/floe/api/datasets/{name}/pics/versions/1/files/part-001.bin",
        timeout=30,
    )
    assert one.content == (data / "part-001.bin").read_bytes()

    spec = requests.get(f"{hub.url}/services/floe/api/openapi.json", timeout=30).json()
    assert spec["openapi"].startswith("3.")
    assert "/datasets/{owner}/{name}/versions" in spec["paths"]
    assert "/jobs/{job}/logs" in spec["paths"]


def test_login_is_kept_private_and_errors_say_what_to_do(hub, user_token, tmp_path):
    name, token = user_token("cli")
    result = floe(hub, None, "data", "ls", home=tmp_path)
    assert result.returncode == 2
    assert "not logged in: run `floe login --url" in result.stderr

    bad = floe(hub, None, "login", "--url", hub.url, "--token", "wrong", home=tmp_path)
    assert bad.returncode == 2 and "did not accept the token" in bad.stderr

    ok = floe(hub, None, "login", "--url", hub.url, "--token", token, home=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert f"as {name}" in ok.stdout
    config = tmp_path / "config" / "floe" / "config.json"
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    assert floe(hub, None, "data", "ls", home=tmp_path).returncode == 0

    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "FLOE_URL": "http://127.0.0.1:9",
    }
    down = subprocess.run([str(FLOE), "data", "ls"], env=env, capture_output=True, text=True)
    assert down.returncode == 1
    assert "could not reach Floe at http://127.0.0.1:9" in down.stderr


def test_a_refused_upload_never_breaks_a_neighbours_request(hub, user_token):
    """Tornado closes the connection of an upload it refused before reading its body; the
    proxy must be told, or it sends the next request down that connection (a 503)."""
    _name, token = user_token("neighbour")
    failures = []

    def refused_uploads():
        for _ in range(150):
            resp = requests.post(f"{hub.url}/services/floe/api/blobs/pack", data=b"x" * 67)
            failures.extend([resp.status_code] if resp.status_code != 401 else [])
            # A method tornado does not serve is answered before the request is read too.
            resp = api(hub, token, "TRACE", "datasets")
            failures.extend([resp.status_code] if resp.status_code != 405 else [])

    def neighbour():
        for _ in range(150):
            resp = api(hub, token, "POST", "blobs/missing", json={"blobs": []})
            failures.extend([resp.status_code] if resp.status_code != 200 else [])

    threads = [threading.Thread(target=t) for t in (refused_uploads, neighbour) * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
