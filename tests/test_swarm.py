"""Jobs as Docker Swarm services (``jobs.swarm_backend``) on a real two-node swarm: a manager
and a worker, each a Docker engine of its own in a network namespace, joined by a veth pair
(``tests.second_engine``). The worker advertises one fake GPU as a generic resource."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from images.build import LOCAL_BASE
from jobs.backend import ContainerGone
from jobs.outcomes import ending
from jobs.swarm_backend import GPU_KIND, SwarmBackend
from spawner.catalog import Environment, Machine
from spawner.container_spec import Mount, build_container_spec
from tests.second_engine import SecondEngine

CPU = Machine("cpu", "CPU", cpu=0.5, memory_bytes=256 * 1024**2)
GPU = Machine("gpu", "GPU", cpu=0.5, memory_bytes=256 * 1024**2, gpus=1)
FAKE_GPU = "GPU-0f0e0d0c"


@pytest.fixture(scope="module")
def swarm():
    manager, worker = SecondEngine(subnet=233), SecondEngine(subnet=234)
    try:
        manager.start(images=(LOCAL_BASE,))
        worker.start(
            images=(LOCAL_BASE,), extra_args=(f"--node-generic-resource {GPU_KIND}={FAKE_GPU}",)
        )
        here, there = manager.link(worker, 235)
        manager.client.swarm.init(advertise_addr=here, listen_addr=f"{here}:2377")
        token = manager.client.swarm.attrs["JoinTokens"]["Worker"]
        worker.client.swarm.join(
            remote_addrs=[f"{here}:2377"],
            join_token=token,
            advertise_addr=there,
            listen_addr=f"{there}:2377",
        )
        yield manager, worker
    finally:
        worker.stop()
        manager.stop()


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
    assert again.find(spec.name) is None
    with pytest.raises(ContainerGone):
        again.wait(spec.name)


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
