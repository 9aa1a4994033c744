"""Jobs as Docker Swarm services (``swarm.backend``) on a real two-node swarm: a manager
and a worker, each a Docker engine of its own in a network namespace, joined by a veth pair
(``tests.second_engine``). The worker advertises one fake GPU as a generic resource.

The backend is tested on its own first, then under a real hub whose jobs run on the swarm,
with Floe's volume plugin on each node: datasets laid out where a job lands, straight from
S3, and each job's log and /output sent back; machines share nothing but the network."""

from __future__ import annotations

import io
import os
import time
import uuid
from datetime import datetime
from pathlib import Path

import docker
import pytest

from containers.catalog import Environment, Machine
from containers.spec import Mount, build_container_spec
from floe.trees.tree import Tree
from images.build import LOCAL_BASE
from jobs.backend import ContainerGone
from jobs.job_folder import OUTPUT_REPLACED
from jobs.outcomes import ending
from swarm.backend import SwarmBackend
from swarm.placement import GPU_KIND
from tests.floe_cli import floe as floe_cli
from tests.hub_process import HubProcess, free_port_block
from tests.second_engine import SecondEngine
from tests.swarm_setup import FAKE_GPU, two_node_swarm, user_with_dataset
from tests.swarm_setup import swarm_hub as swarm_hub_of

CPU = Machine("cpu", "CPU", cpu=0.5, memory_bytes=256 * 1024**2)
GPU = Machine("gpu", "GPU", cpu=0.5, memory_bytes=256 * 1024**2, gpus=1)


# A Floe registry for the hub of the hub-level tests, which both nodes trust.
REGISTRY_PORT = free_port_block(1)
# An image only this machine has: the node Swarm picks pulls it from Floe's registry.
HERE_ONLY = "floe/test-swarm-here-only:1"
ROOT_PYTHON = "/usr/local/bin/rootpy"


@pytest.fixture(scope="module")
def swarm():
    with two_node_swarm(233, registry_port=REGISTRY_PORT) as engines:
        yield engines


def _backend(manager: SecondEngine, **settings) -> SwarmBackend:
    return SwarmBackend(manager_url=f"unix://{manager.socket}", poll_seconds=0.3, **settings)


def _job(name: str, command: str, machine: Machine = CPU, mounts=(), gpus=()):
    return build_container_spec(
        name=name,
        environment=Environment("base", "Base", image=LOCAL_BASE),
        machine=machine,
        labels={"floe.kind": "job", "floe.test": "swarm"},
        env={"FLOE_MACHINE": machine.slug},
        command=["sh", "-c", command],
        mounts=list(mounts),
        gpu_device_ids=gpus,
        engine_log=False,
    )


def _node_id(engine: SecondEngine) -> str:
    return engine.client.info()["Swarm"]["NodeID"]


def _folder(path: Path) -> Path:
    path.mkdir()
    os.chmod(path, 0o777)  # the job runs as uid 1000
    return path


def test_a_job_runs_as_a_service_where_its_machine_type_is_placed(swarm, tmp_path):
    manager, worker = swarm
    backend = _backend(manager, machine_constraints={"cpu": ["node.role==worker"]})
    data = _folder(tmp_path / "in")
    (data / "x.txt").write_text("from the dataset\n")
    out = _folder(tmp_path / "out")
    spec = _job(
        "floe-job-swarm1",
        "cat /input/x.txt > /output/out.txt; touch /not-here 2>/dev/null || "
        "echo read-only >> /output/out.txt; cat /sys/fs/cgroup/pids/pids.max >> /output/out.txt; "
        "exit 3",
        mounts=[
            Mount(str(data), "/input", "bind", read_only=True),
            Mount(str(out), "/output", "bind"),
        ],
    )
    name = backend.create(spec)
    assert backend.find(name) is None  # made, not started: Swarm would start it at once
    backend.start(name)
    backend.wait(name)
    info = backend.find(name)
    assert info.state["ExitCode"] == 3 and info.state["Node"] == _node_id(worker)
    written = (out / "out.txt").read_text()
    assert written == f"from the dataset\nread-only\n{spec.pids_limit}\n"
    assert ending(info.state, "", tmp_path / "no-note", "256 MiB") == ("error", "exit 3")

    # What Swarm was asked for: limits and reservations, hardening, one task never restarted.
    service = manager.client.api.inspect_service(name)["Spec"]
    task = service["TaskTemplate"]
    assert task["Resources"]["Limits"] == {
        "NanoCPUs": 500_000_000,
        "MemoryBytes": 256 * 1024**2,
        "Pids": spec.pids_limit,
    }
    assert task["Resources"]["Reservations"] == {
        "NanoCPUs": 500_000_000,
        "MemoryBytes": 256 * 1024**2,
    }
    assert task["ContainerSpec"]["ReadOnly"] is True
    assert task["ContainerSpec"]["CapabilityDrop"] == ["ALL"]
    assert task["ContainerSpec"]["User"] == spec.user
    assert "NVIDIA_VISIBLE_DEVICES=void" in task["ContainerSpec"]["Env"]  # no GPU: none seen
    assert task["LogDriver"]["Name"] == "none"
    assert task["RestartPolicy"]["Condition"] == "none"
    assert task["Placement"]["Constraints"] == ["node.role==worker"]
    assert service["Mode"] == {"Replicated": {"Replicas": 1}}
    backend.remove(name)
    assert backend.find(name) is None


def test_gpu_jobs_go_only_where_a_gpu_is_free(swarm, tmp_path):
    manager, worker = swarm
    backend = _backend(manager)
    assert backend.places_gpus and backend.gpu_total() == 1  # the worker's, as advertised
    out = _folder(tmp_path / "out")
    jobs = [
        _job(
            f"floe-job-gpu{i}",
            f'tr "\\\\0" "\\\\n" < /proc/1/environ | grep DOCKER_RESOURCE > /output/{i}.txt; '
            "sleep 6",
            machine=GPU,
            mounts=[Mount(str(out), "/output", "bind")],
            gpus=("0",),  # one GPU: Swarm picks which
        )
        for i in (1, 2)
    ]
    for spec in jobs:
        backend.start(backend.create(spec))
    try:
        deadline = time.monotonic() + 60
        while not (states := [backend.find(spec.name).state for spec in jobs]) or not any(
            state["Status"] == "running" for state in states
        ):
            assert time.monotonic() < deadline, states
            time.sleep(0.3)
        (waiting,) = [state for state in states if state["Status"] != "running"]
        assert waiting["Status"] == "pending" and "insufficient resources" in waiting["Error"]
        for spec in jobs:
            backend.wait(spec.name)  # the second placed once the first gave its GPU back
            info = backend.find(spec.name)
            assert info.state["ExitCode"] == 0 and info.state["Node"] == _node_id(worker)
        for i in (1, 2):
            assert (out / f"{i}.txt").read_text() == f"DOCKER_RESOURCE_{GPU_KIND}={FAKE_GPU}\n"
    finally:
        for spec in jobs:
            backend.remove(spec.name)


def test_a_restarted_runner_finds_its_job_and_stops_it(swarm, tmp_path):
    manager, _worker = swarm
    out = _folder(tmp_path / "out")
    spec = _job(
        "floe-job-swarm3",
        "trap 'echo stopping > /output/bye; exit 0' TERM; while true; do sleep 0.2; done",
        mounts=[Mount(str(out), "/output", "bind")],
    )
    first = _backend(manager)
    first.start(first.create(spec))
    again = _backend(manager)  # the floe service restarted: it knows the name only
    deadline = time.monotonic() + 60
    while not (info := again.find(spec.name)).state["Running"]:
        assert time.monotonic() < deadline, info
        time.sleep(0.3)
    again.stop(spec.name, timeout=10)  # returns once the container has exited
    assert (out / "bye").read_text() == "stopping\n"
    # Until the runner removes it, a stopped job is found as last seen: it ran, so the
    # runner waits for its folder to come back from its node.
    last = again.find(spec.name).state
    assert (last["Status"], last["Running"], last["Ran"]) == ("shutdown", False, True)
    again.wait(spec.name)  # returns at once
    again.remove(spec.name)
    assert again.find(spec.name) is None
    with pytest.raises(ContainerGone):
        again.wait(spec.name)


@pytest.fixture(scope="module")
def swarm_hub(swarm, s3, tmp_path_factory):
    """A hub whose jobs run on the swarm, and Floe's volume plugin on both nodes (driver
    'floe', blobs straight from the hub's S3 bucket): (hub, {machine type: plugin cache})."""
    # It also holds a setuid-root python, as an image Floe did not build (and so did not
    # strip) might: a job can become root in its container where no-new-privileges is not set.
    dockerfile = (
        f"FROM {LOCAL_BASE}\nRUN echo pulled from the registry > /etc/here-only && "
        f'cp "$(readlink -f /usr/bin/python3)" {ROOT_PYTHON} && chmod 4755 {ROOT_PYTHON}\n'
    )
    docker.from_env().images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=HERE_ONLY, rm=True)
    here_only = (
        "c.Catalog.environments = c.Catalog.environments + "
        f"[{{'slug': 'here-only', 'display_name': 'Here only', 'image': '{HERE_ONLY}'}}]\n"
    )
    data = tmp_path_factory.mktemp("swarm-hub")
    try:
        with swarm_hub_of(*swarm, s3, data, REGISTRY_PORT, here_only) as running:
            yield running
    finally:
        engine = docker.from_env()
        pushed = f"127.0.0.1:{REGISTRY_PORT}/"
        for image in engine.images.list():
            for tag in image.tags:
                if tag.startswith((pushed, "floe/node-image:")) or tag == HERE_ONLY:
                    engine.images.remove(tag)


def _seconds_to_running(job: dict) -> float:
    times = {e["state"]: datetime.fromisoformat(e["time"]) for e in job["events"]}
    return (times["running"] - times["created"]).total_seconds()


def _wait(hub: HubProcess, token: str, job: dict, states=("complete", "error", "stopped")):
    deadline = time.monotonic() + 180
    while (model := hub.floe("GET", f"jobs/{job['id']}", token).json())["state"] not in states:
        if time.monotonic() > deadline:
            manager = hub.swarm_manager
            tasks = [(t["Status"], t.get("NodeID")) for t in manager.client.api.tasks()]
            logs = [path.read_text()[-3000:] for path in hub.data_dir.parent.glob("*-cache.log")]
            raise AssertionError(f"{model['state']}: {model['reason']}; tasks {tasks}; {logs}")
        time.sleep(0.3)
    return model


def test_jobs_on_either_machine_read_datasets_from_s3_and_send_back_log_and_output(
    swarm_hub, swarm, tmp_path
):
    hub, caches = swarm_hub
    files = {"w.txt": "weights from s3\n"}
    name, token, client = user_with_dataset(hub, "alice", tmp_path / "weights", "weights", files)
    digest = Tree.from_manifest(client.version(f"{name}/weights", 1)["files"]).digest

    def submit(machine: str, command: str, datasets: list[str], environment="plain") -> dict:
        body = {"project": "swarm", "kind": "command", "environment": environment}
        body.update(machine=machine, command=command, datasets=datasets)
        resp = hub.floe("POST", "jobs", token, json=body)
        assert resp.status_code == 201, resp.text
        return resp.json()

    # On the second machine: the version only S3 holds, laid out there and nowhere else.
    first = submit(
        "second",
        'cat /input/weights/w.txt > /output/copy.txt; echo \'{"step": 1, "loss": 0.25}\'',
        ["weights"],
    )
    first = _wait(hub, token, first)
    assert first["state"] == "complete", first
    assert (caches["second"] / "trees" / digest / "w.txt").read_text() == "weights from s3\n"
    assert not (caches["first"] / "trees" / digest).exists()
    output = hub.floe("GET", f"jobs/{first['id']}/output/files/copy.txt", token)
    assert output.text == "weights from s3\n"
    metrics = hub.floe("GET", f"jobs/{first['id']}/metrics", token).json()
    assert metrics["last"] == {"step": 1, "loss": 0.25}
    assert '{"step": 1' in hub.floe("GET", f"jobs/{first['id']}/logs", token).text

    # On the first machine: the second's /output, mounted as input.
    second = submit(
        "first", "cat /input/prev/copy.txt", [f"{name}/swarm/{first['number']}/output:/input/prev"]
    )
    second = _wait(hub, token, second)
    assert second["state"] == "complete", second
    assert "weights from s3" in hub.floe("GET", f"jobs/{second['id']}/logs", token).text
    tree = hub.floe("GET", f"jobs/{first['id']}/output", token).json()["tree"]
    assert (caches["first"] / "trees" / tree / "copy.txt").exists()

    # Stopped midway: what it wrote so far comes back all the same.
    stopped = submit("second", "echo partial > /output/p.txt; echo began; sleep 300", [])
    deadline = time.monotonic() + 120
    while "began" not in hub.floe("GET", f"jobs/{stopped['id']}/logs", token).text:
        assert time.monotonic() < deadline, "the job never began"
        time.sleep(0.3)
    assert hub.floe("POST", f"jobs/{stopped['id']}/stop", token).status_code == 202
    assert _wait(hub, token, stopped)["state"] == "stopped"
    kept = hub.floe("GET", f"jobs/{stopped['id']}/output/files/p.txt", token)
    assert kept.status_code == 200 and kept.text == "partial\n"

    # An image only this machine has: pushed to Floe's registry, pulled by the second machine.
    pulled = submit("second", "cat /etc/here-only", [], environment="here-only")
    pulled = _wait(hub, token, pulled)
    assert pulled["state"] == "complete", pulled
    assert "pulled from the registry" in hub.floe("GET", f"jobs/{pulled['id']}/logs", token).text
    pulled_by = f"{swarm[0].host_ip}:{REGISTRY_PORT}/floe/node-image@sha256:"  # its digest
    assert any(
        digest.startswith(pulled_by)
        for image in swarm[1].client.images.list()
        for digest in image.attrs.get("RepoDigests") or []
    )
    assert HERE_ONLY in docker.from_env().images.get(HERE_ONLY).tags  # pushing took no name

    # The same job again on the second machine: its tree is there already (warm).
    again = _wait(hub, token, submit("second", "cat /input/weights/w.txt", ["weights"]))
    assert again["state"] == "complete", again
    cold, warm, other = (_seconds_to_running(j) for j in (first, again, second))
    print(
        f"submit -> running: second machine cold {cold:.2f} s, warm {warm:.2f} s; "
        f"first machine {other:.2f} s"
    )


def test_a_job_that_becomes_root_on_its_node_cannot_send_back_the_nodes_files(swarm_hub):
    hub, _caches = swarm_hub
    name = f"mallory{uuid.uuid4().hex[:5]}"
    assert hub.api("POST", f"/users/{name}").status_code == 201
    token = hub.api("POST", f"/users/{name}/tokens", json={"note": "climb"}).json()["token"]
    swap = (
        "import os; print('euid', os.geteuid(), flush=True); "
        "os.rename('/floe-job/output', '/floe-job/gone'); os.symlink('/etc', '/floe-job/output')"
    )
    body = {"project": "climb", "kind": "command", "environment": "here-only"}
    body.update(machine="second", command=f'{ROOT_PYTHON} -c "{swap}"; echo done')
    resp = hub.floe("POST", "jobs", token, json=body)
    assert resp.status_code == 201, resp.text
    job = _wait(hub, token, resp.json())
    log = hub.floe("GET", f"jobs/{job['id']}/logs", token).text
    # Where the engine sets no-new-privileges on services the euid stays 1000 and the swap
    # fails; where it cannot (Engine 20.10 here), the node reads nothing behind the link.
    assert "euid 1000" in log or OUTPUT_REPLACED in log, log
    print("a setuid-root python on the node:", log.splitlines()[0])
    output = hub.floe("GET", f"jobs/{job['id']}/output", token)
    files = output.json().get("files", []) if output.status_code == 200 else []
    assert not [f for f in files if f["path"] in ("passwd", "shadow", "hostname")], files
    assert "root:" not in log


def test_a_job_waiting_for_room_on_the_swarm_is_starting_and_says_why(swarm_hub, swarm):
    hub, _caches = swarm_hub
    name = f"bob{uuid.uuid4().hex[:5]}"
    assert hub.api("POST", f"/users/{name}").status_code == 201
    token = hub.api("POST", f"/users/{name}/tokens", json={"note": "swarm"}).json()["token"]

    # The machines, their machine types and free GPUs, as a user sees them.
    catalog = hub.floe("GET", "catalog", token).json()
    assert catalog["gpus"] == {"total": 1, "free": 1}
    nodes = {n["role"]: n for n in catalog["nodes"]}
    assert nodes["manager"]["name"] == swarm[0].client.info()["Name"]
    assert "first" in nodes["manager"]["machine_types"]
    assert "second" not in nodes["manager"]["machine_types"]
    assert {"second", "gpu-small"} <= set(nodes["worker"]["machine_types"])
    assert "gpu-small" not in nodes["manager"]["machine_types"]  # no GPU there
    assert (nodes["worker"]["gpus"], nodes["worker"]["gpus_free"]) == (1, 1)
    assert all(n["state"] == "ready" and n["availability"] == "active" for n in nodes.values())
    listing = floe_cli(hub, token, "machine", "ls")
    assert listing.returncode == 0, listing.stderr
    worker_line = next(line for line in listing.stdout.splitlines() if " worker " in line)
    assert "ready" in worker_line and "1/1" in worker_line and "gpu-small" in worker_line

    body = {"project": "gpus", "kind": "command", "environment": "plain", "machine": "gpu-small"}
    jobs = []
    for _ in range(2):  # one GPU in the swarm (the worker's): the second waits for it
        resp = hub.floe("POST", "jobs", token, json={**body, "command": "sleep 4"})
        assert resp.status_code == 201, resp.text
        jobs.append(resp.json())
    deadline = time.monotonic() + 60
    while True:
        models = [hub.floe("GET", f"jobs/{j['id']}", token).json() for j in jobs]
        states = sorted(m["state"] for m in models)
        waiting = [m for m in models if m["state"] == "starting"]
        if states == ["running", "starting"] and "insufficient resources" in waiting[0]["reason"]:
            break
        assert time.monotonic() < deadline, [(m["state"], m["reason"]) for m in models]
        time.sleep(0.3)
    assert waiting[0]["reason"].startswith("waiting for a machine: no suitable node")
    assert waiting[0]["started"] is None  # its maximum runtime has not begun
    deadline = time.monotonic() + 10  # the machines' description is reused for 3 s
    while (gpus := hub.floe("GET", "catalog", token).json()["gpus"]) != {"total": 1, "free": 0}:
        assert time.monotonic() < deadline, gpus
        time.sleep(0.5)
    for job in jobs:
        assert _wait(hub, token, job)["state"] == "complete"


def test_a_job_on_a_machine_that_goes_away_ends_with_node_lost(swarm, tmp_path):
    """Last: it stops the worker."""
    manager, worker = swarm
    backend = _backend(manager, constraints=["node.role==worker"], node_lost_seconds=3)
    spec = _job("floe-job-swarm4", "sleep 600")
    backend.start(backend.create(spec))
    deadline = time.monotonic() + 60
    while not backend.find(spec.name).state["Running"]:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    worker.kill()
    started = time.monotonic()
    backend.wait(spec.name)
    info = backend.find(spec.name)
    assert info.state.get("NodeLost"), info
    assert ending(info.state, "", tmp_path / "no-note", "256 MiB") == (
        "error",
        "node lost: the machine it ran on stopped answering",
    )
    print(f"node lost noticed after {time.monotonic() - started:.1f} s")
    backend.remove(spec.name)
