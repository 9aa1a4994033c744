"""GPUs are exclusive, freed on stop, and survive a hub restart through spawner state."""

from types import SimpleNamespace

import pytest

from floe.errors import GpuUnavailable
from spawner.gpu import GpuAllocator, StaticGpuInventory, parse_nvidia_smi_indexes
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
