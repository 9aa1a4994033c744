"""A job that runs on another machine (Swarm with Floe's volume plugin): its folder is made on
the node by the plugin's job volumes (``floe_node.job_volumes``), and its log, result note and
/output come back through the service's node API (``jobs.job_return``). Here the "node" is a
folder of this machine and the container a fake, but the plugin's sender, the HTTP endpoints
and the runner are the real ones."""

from __future__ import annotations

import io
import secrets
import tarfile
import time
from dataclasses import replace
from pathlib import Path

import pytest

from floe.client.api import FloeClient
from floe_node.job_volumes import JobVolumes
from jobs import job_return
from jobs.job_folder import JobFolder
from tests.service.conftest import running_service, service_config
from tests.service.fake_backend import FakeBackend, FakeContainer
from tests.service.helpers import (
    assert_odd_output_kept,
    assert_swapped_folder_read_nothing_of_the_node,
    submit,
    wait_for,
)

NODE_TOKEN = secrets.token_hex(16)


class NodeFakeBackend(FakeBackend):
    """Fake containers whose job folder is the node plugin's, as on a Swarm node."""

    lays_out_trees = True
    folder_returns = True
    return_seconds = 20.0
    node: JobVolumes | None = None

    def create(self, spec):
        mounts = tuple(
            replace(m, source=self.node.mount(m.node_volume, spec.name))
            if m.node_volume.startswith(("floe-job-", "floe-output-"))
            else m
            for m in spec.mounts
        )
        return super().create(replace(spec, mounts=mounts))

    def _act(self, container: FakeContainer) -> None:
        super()._act(container)
        self.node.unmount(f"floe-job-{container.spec.name}", container.id)  # it exited


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("remote-service")
    config = service_config(data, f"sqlite:///{data / 'floe.sqlite'}")
    config.JobRunner.backend_class = NodeFakeBackend
    config.JobLimits.max_output_files = 1000  # "odd output" holds 200 nested folders
    with running_service(data, config, node_token=NODE_TOKEN) as service:
        client = FloeClient(service.url, NODE_TOKEN)
        NodeFakeBackend.node = JobVolumes(data / "node" / "jobs", client, ship_seconds=0.1)
        yield service
        NodeFakeBackend.node.close()


def _node_folder(remote, job: dict) -> Path:
    return remote.data / "node" / "jobs" / f"{remote.runner.instance}-job-{job['id']}"


def test_a_job_on_another_machine_sends_back_its_log_metrics_and_output(remote):
    _alice, token = remote.user("alice")
    running = submit(remote, token, kind="command", command="sleep")
    running = wait_for(remote, token, running, ("running",))
    # While it runs, what it printed reaches the service: the log, and the metric charted.
    deadline = time.monotonic() + 10
    while not remote.api("GET", f"jobs/{running['id']}/metrics", token).json()["last"]:
        assert time.monotonic() < deadline, "the running job's metrics never arrived"
        time.sleep(0.05)
    assert "ran: sleep" in remote.api("GET", f"jobs/{running['id']}/logs", token).text
    assert remote.runner.folder(running["id"]).output.is_dir()
    remote.api("POST", f"jobs/{running['id']}/stop", token)
    assert wait_for(remote, token, running)["state"] == "stopped"

    job = wait_for(remote, token, submit(remote, token, kind="command", command="train"))
    assert job["state"] == "complete", job["reason"]
    assert remote.api("GET", f"jobs/{job['id']}/output/files/out.txt", token).text == "train"
    assert remote.api("GET", f"jobs/{job['id']}/logs", token).text.startswith("ran: train\n")
    deadline = time.monotonic() + 10
    while _node_folder(remote, job).exists():  # dropped on the node once it is back
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_what_a_hostile_job_leaves_on_its_node_is_kept_as_on_one_machine(remote):
    _alice, token = remote.user("alice")
    job = wait_for(remote, token, submit(remote, token, kind="command", command="odd output"))
    assert_odd_output_kept(remote, token, job)


def test_a_job_that_swaps_its_output_on_its_node_sends_back_none_of_the_nodes_files(remote):
    _alice, token = remote.user("alice")
    job = wait_for(remote, token, submit(remote, token, kind="command", command="root swap"))
    assert_swapped_folder_read_nothing_of_the_node(remote, token, job, on_its_node=True)


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:") as tar:
        for info, content in members:
            info.size = len(content) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(content) if info.isfile() else None)
    return data.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    return info


def test_the_node_api_takes_only_the_node_token_and_only_a_running_jobs_folder(remote, tmp_path):
    _alice, token = remote.user("alice")
    job = wait_for(
        remote, token, submit(remote, token, kind="command", command="sleep"), ("running",)
    )
    name = f"{remote.runner.instance}-job-{job['id']}"

    # A user's token is no node token; no token at all is 401.
    assert remote.api("POST", f"nodes/jobs/{name}/returned", token).status_code == 403
    assert remote.api("POST", f"nodes/jobs/{name}/returned", None).status_code == 401
    other = f"someone-else-job-{job['id']}"
    assert remote.api("POST", f"nodes/jobs/{other}/returned", NODE_TOKEN).status_code == 404
    assert (
        remote.api("PUT", f"nodes/jobs/{name}/result", NODE_TOKEN, data=b"x" * 70_000).status_code
        == 413
    )

    # The log: bytes land once, a repeat is skipped, a gap is not filled. (The node's own
    # sender is held off meanwhile, once it has sent what the job printed.)
    folder = remote.runner.folder(job["id"])
    deadline = time.monotonic() + 10
    while "ran: sleep" not in folder.log.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with NodeFakeBackend.node.lock:
        NodeFakeBackend.node.sent.pop(name)
    had = remote.api("POST", f"nodes/jobs/{name}/log?offset=0", NODE_TOKEN, data=b"").json()
    offset = had["received"]
    for _ in range(2):
        sent = remote.api(
            "POST", f"nodes/jobs/{name}/log?offset={offset}", NODE_TOKEN, data=b"once\n"
        )
        assert sent.json()["received"] == offset + 5
    gap = remote.api("POST", f"nodes/jobs/{name}/log?offset={offset + 99}", NODE_TOKEN, data=b"?")
    assert gap.json()["received"] == offset + 5
    assert folder.log.read_text().count("once\n") == 1
    assert remote.api("POST", f"nodes/jobs/{name}/log?offset=-1", NODE_TOKEN).status_code == 400

    # /output: only files, folders and links that stay inside it are unpacked.
    secret = folder.path / "secret-of-the-service"
    archive = _tar(
        [
            (_member("./fine/ok.txt"), b"kept"),
            (_member("../escaped.txt"), b"no"),
            (_member("/etc/floe-owned"), b"no"),
            (_member("./to-etc", tarfile.SYMTYPE, "/etc/passwd"), b""),
            (_member("./up", tarfile.SYMTYPE, "../.."), b""),
            (_member("./hard", tarfile.LNKTYPE, "../result.json"), b""),
            (_member("./device", tarfile.CHRTYPE), b""),
            (_member("./fine/big.bin"), b"b" * (1024**2 + 1)),
        ]
    )
    put = remote.api("PUT", f"nodes/jobs/{name}/output", NODE_TOKEN, data=archive)
    assert put.status_code == 204, put.text
    unpacked = sorted(str(p.relative_to(folder.output)) for p in folder.output.rglob("*"))
    # A leading slash is dropped, as tar does: the file lands inside /output all the same.
    assert unpacked == ["etc", "etc/floe-owned", "fine", "fine/ok.txt"]
    assert not (folder.path / "escaped.txt").exists() and not secret.exists()
    log = folder.log.read_text()
    for line in (
        "../escaped.txt (would land outside /output)",
        "to-etc (is not a plain file or folder)",  # the node sends links as their files
        "up (is not a plain file or folder)",
        "hard (is not a plain file or folder)",
        "device (is not a plain file or folder)",
        "fine/big.bin (past the cap on bytes)",
    ):
        assert f"[floe] not kept from /output: {line}\n" in log, line
    assert str(folder.path) not in log  # the service's own paths are not told
    # The node sending again (its answer lost) unpacks nothing twice.
    before = folder.log.read_text()
    again = remote.api("PUT", f"nodes/jobs/{name}/output", NODE_TOKEN, data=b"not a tar")
    assert again.status_code == 204 and folder.log.read_text() == before
    elsewhere = JobFolder(tmp_path / "another")
    elsewhere.prepare()
    (tmp_path / "bad.tar").write_bytes(b"not a tar" * 100)
    job_return.unpack_output(elsewhere, tmp_path / "bad.tar", remote.runner.limits)
    assert "/output (the node sent a damaged archive" in elsewhere.log.read_text()

    with NodeFakeBackend.node.lock:
        NodeFakeBackend.node.sent[name] = None  # it goes on
    remote.api("POST", f"jobs/{job['id']}/stop", token)
    assert wait_for(remote, token, job)["state"] == "stopped"
    # An ended job takes nothing more: the node drops what it kept.
    late = remote.api("POST", f"nodes/jobs/{name}/log?offset=0", NODE_TOKEN, data=b"late")
    assert late.status_code == 409 and "has ended" in late.json()["error"]


def test_a_job_writing_past_its_caps_on_its_machine_is_stopped_and_kept_within_them(remote):
    _alice, token = remote.user("alice")
    job = submit(remote, token, kind="command", command="flood output")  # 2 MiB in /output
    job = wait_for(remote, token, job)
    assert job["state"] == "stopped", job
    assert job["reason"] == "stopped by its /output passing 1 MiB, the most a job keeps"
    log = remote.api("GET", f"jobs/{job['id']}/logs", token).text
    assert "[floe] not kept from /output: big (2 MiB, past the cap of 1 MiB)" in log


def test_a_job_whose_log_became_a_fifo_still_ends_and_keeps_its_output(remote):
    _alice, token = remote.user("alice")
    job = wait_for(remote, token, submit(remote, token, kind="command", command="fifo log"))
    assert job["state"] == "complete", job["reason"]  # nothing waited on the fifo
    assert remote.api("GET", f"jobs/{job['id']}/output", token).status_code == 200
    deadline = time.monotonic() + 10  # sent back: no sender of the node waits on the fifo
    while _node_folder(remote, job).exists():
        assert time.monotonic() < deadline, "the node never sent the job's folder back"
        time.sleep(0.05)
