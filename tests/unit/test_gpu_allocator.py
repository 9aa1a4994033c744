"""GPUs are exclusive, freed on stop, and survive a hub restart through spawner state."""

import json
import multiprocessing
import time
from types import SimpleNamespace

import pytest

from containers.gpu import ClaimsFile, GpuAllocator, StaticGpuInventory, parse_nvidia_smi_indexes
from floe.core.errors import GpuUnavailable
from spawner.workspace_spawner import WorkspaceSpawner


def test_each_holder_gets_its_own_gpus():
    allocator = GpuAllocator(["0", "1", "2"])
    a = allocator.claim("workspace:alice/", 1)
    b = allocator.claim("workspace:bob/", 2)
    assert not set(a) & set(b)
    assert allocator.free_ids() == []
    assert allocator.claim("workspace:alice/", 1) == a  # asking again is idempotent


def test_no_free_gpu_is_a_clear_error_and_release_frees():
    allocator = GpuAllocator(["0"])
    allocator.claim("job:1", 1)
    with pytest.raises(GpuUnavailable) as err:
        allocator.claim("workspace:alice/", 1)
    assert err.value.status == 503
    assert "only 0 of 1 are free" in err.value.message
    allocator.release("job:1")
    assert allocator.claim("workspace:alice/", 1) == ["0"]


def test_node_without_gpus_says_so():
    with pytest.raises(GpuUnavailable, match="has no GPUs; pick a CPU machine"):
        GpuAllocator([]).claim("workspace:alice/", 1)


def test_nvidia_smi_output_is_parsed():
    assert parse_nvidia_smi_indexes("0\n1\n\n") == ["0", "1"]
    assert parse_nvidia_smi_indexes("No devices were found\n") == []


def test_static_inventory_from_config():
    assert StaticGpuInventory(devices=["GPU-abc", "GPU-def"]).device_ids() == ["GPU-abc", "GPU-def"]


@pytest.fixture
def fresh_allocator(monkeypatch):
    allocator = GpuAllocator(["0", "1"])
    monkeypatch.setattr(WorkspaceSpawner, "_allocator", allocator)
    return allocator


def _spawner(name):
    spawner = WorkspaceSpawner()
    spawner.user = SimpleNamespace(name=name, id=1, url=f"/user/{name}/")
    return spawner


def test_gpu_ids_survive_a_hub_restart(fresh_allocator):
    before = _spawner("alice")
    before.gpu_ids = fresh_allocator.claim(before.gpu_holder, 1)
    state = before.get_state()
    assert state["gpu_ids"] == before.gpu_ids

    # A restarted hub has a fresh allocator and loads each spawner's saved state.
    restarted = GpuAllocator(["0", "1"])
    WorkspaceSpawner._allocator = restarted
    after = _spawner("alice")
    after.load_state(state)
    assert after.gpu_ids == before.gpu_ids
    assert restarted.held_by("workspace:alice/") == before.gpu_ids
    other = restarted.claim("workspace:bob/", 1)
    assert other != before.gpu_ids

    after.clear_state()
    assert restarted.held_by("workspace:alice/") == []


def test_hub_and_service_never_pick_the_same_gpu_before_a_container_has_it(tmp_path):
    # The hub (workspaces) and the floe service (jobs) are two processes, two allocators;
    # no container is labelled yet, so only the shared claims file keeps them apart.
    claims = tmp_path / "gpu-claims.json"
    hub = GpuAllocator(["0", "1"], claims, scope="floe-workspace/")
    service = GpuAllocator(["0", "1"], claims, scope="floe/")
    assert hub.claim("workspace:alice/", 1) == ["0"]
    assert service.free_ids() == ["1"]  # what the job dialog shows sees the claim too
    assert service.free_ids(busy={"1"}) == []  # and the labels of running containers
    assert service.claim("job:1", 1) == ["1"]
    with pytest.raises(GpuUnavailable, match="only 0 of 2 are free"):
        service.claim("job:2", 1)
    hub.release("workspace:alice/")
    assert service.claim("job:2", 1) == ["0"]


def _claim_one(claims, scope, barrier, results):
    allocator = GpuAllocator([str(i) for i in range(6)], claims, scope=scope)
    barrier.wait()
    results.put(allocator.claim("job:1", 1)[0])


def test_claims_at_the_same_moment_from_six_processes_get_six_gpus(tmp_path):
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(6), ctx.Queue()
    procs = [
        ctx.Process(target=_claim_one, args=(tmp_path / "c.json", f"p{i}/", barrier, results))
        for i in range(6)
    ]
    for proc in procs:
        proc.start()
    got = sorted(results.get(timeout=60) for _ in procs)
    for proc in procs:
        proc.join(60)
    assert got == ["0", "1", "2", "3", "4", "5"]


def test_a_claim_left_by_a_dead_process_expires(tmp_path):
    path = tmp_path / "gpu-claims.json"
    path.write_text(json.dumps({"gone/job:9": {"ids": ["0"], "at": time.time() - 3600}}))
    assert GpuAllocator(["0"], path, scope="floe/").claim("job:1", 1) == ["0"]
    assert "gone/job:9" not in json.loads(path.read_text())
    with ClaimsFile(path).locked() as claims:
        assert claims == {"floe/job:1": {"ids": ["0"], "at": claims["floe/job:1"]["at"]}}


def test_claims_file_is_configured_for_every_inventory_and_floe_sets_it(tmp_path):
    from traitlets.config import Config

    from hub_config.settings import read_settings

    c = Config()
    c.GpuInventory.claims_file = "/run/floe/claims.json"
    assert StaticGpuInventory(config=c).claims_file == "/run/floe/claims.json"
    settings = read_settings()
    assert settings.floe_config().GpuInventory.claims_file == str(
        settings.data_dir / "gpu-claims.json"
    )
