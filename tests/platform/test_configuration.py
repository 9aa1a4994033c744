"""Configuration a deployer can find and trust: listed by --help-all, one plug-point per idea,
and no DockerSpawner setting silently dropped (carried into the container spec, or refused)."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import docker
import pytest
from jupyterhub.objects import Hub, Server
from tornado import web
from traitlets.config import Config

from containers.gpu import GpuSettings, StaticGpuInventory
from hub_config.configure import refuse_unsupported
from spawner.docker_settings import unsupported_settings
from spawner.workspace_spawner import WorkspaceSpawner

BIN = Path(sys.executable).parent


def _help_all(*command: str) -> str:
    result = subprocess.run(
        [*command, "--help-all"], capture_output=True, text=True, timeout=120, cwd="/"
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_jupyterhub_help_all_lists_the_workspace_spawner_and_its_settings():
    shown = _help_all(str(BIN / "jupyterhub"))
    assert "floe: spawner.workspace_spawner.WorkspaceSpawner" in shown
    for setting in ("home_volume_template", "docker_threads", "ready_poll_interval"):
        assert f"--WorkspaceSpawner.{setting}=" in shown, setting


def test_the_floe_service_answers_help_all_with_its_own_settings():
    shown = _help_all(sys.executable, "-m", "floe_service")
    for setting in (
        "JobRunner.backend_class",
        "JobLimits.max_running",
        "JobLimits.max_running_per_user",
        "JobLimits.default_max_runtime",
        "DockerBackend.timeout",
        "Catalog.machines",
        "Catalog.environments",
        "LocalStore.root",
        "S3Store.bucket",
        "DatasetSettings.blob_store_class",
        "DatasetSettings.mount_roots",
        "GpuSettings.inventory_class",
        "StaticGpuInventory.devices",
        "FloeDatabase.url",
    ):
        assert f"--{setting}=" in shown, setting


def test_the_gpu_inventory_is_one_setting_for_workspaces_and_jobs():
    c = Config()
    c.GpuSettings.inventory_class = StaticGpuInventory
    c.StaticGpuInventory.devices = ["a", "b"]
    spawner = WorkspaceSpawner(config=c)
    assert GpuSettings(parent=spawner).allocator("x/").total == 2
    assert "gpu_inventory_class" not in WorkspaceSpawner.class_traits()


@pytest.mark.parametrize(
    ("section", "name", "value", "fragment"),
    [
        ("DockerSpawner", "image", "jupyter/base", "c.Catalog.environments"),
        ("Spawner", "mem_limit", "4G", "c.Catalog.machines"),
        ("WorkspaceSpawner", "cpu_limit", 2, "c.Catalog.machines"),
        ("DockerSpawner", "allowed_images", ["a"], "c.Catalog.environments"),
        ("DockerSpawner", "use_internal_ip", False, "never on host ports"),
        ("DockerSpawner", "host_ip", "0.0.0.0", "never on host ports"),
        ("DockerSpawner", "links", {"db": "db"}, "Docker links are not supported"),
        ("DockerSpawner", "extra_host_config", {"privileged": True}, "never privileged"),
        ("DockerSpawner", "extra_host_config", {"mem_limit": "9g"}, "c.Catalog.machines"),
        ("DockerSpawner", "extra_create_kwargs", {"user": "root"}, "run as uid 1000"),
    ],
)
def test_settings_floe_cannot_honour_stop_the_hub_naming_them(section, name, value, fragment):
    c = Config()
    c[section][name] = value
    problems = unsupported_settings(c)
    assert len(problems) == 1 and fragment in problems[0], problems
    assert name in problems[0]
    with pytest.raises(SystemExit, match=fragment):
        refuse_unsupported(c)


def test_floe_s_own_hub_configuration_is_accepted():
    c = Config()
    c.DockerSpawner.network_name = "floe-net"
    c.DockerSpawner.prefix = "floe-workspace"
    c.DockerSpawner.extra_host_config = {"shm_size": "1g"}
    c.DockerSpawner.use_internal_ip = True
    assert unsupported_settings(c) == []


def _spawner(c: Config) -> WorkspaceSpawner:
    c.Spawner.cmd = ["jupyterhub-singleuser"]  # no image to inspect for its command
    user = SimpleNamespace(name="alice", id=1, url="/user/alice/", escaped_name="alice")
    spawner = WorkspaceSpawner(config=c, user=user, hub=Hub())
    spawner.server = Server(base_url="/user/alice/")
    spawner.api_token = "token"
    return spawner


def test_dockerspawner_volumes_mounts_and_extras_reach_the_container():
    c = Config()
    c.DockerSpawner.volumes = {
        "/srv/shared": {"bind": "/home/jovyan/shared", "mode": "ro"},
        "scratch-{username}": "/scratch",
    }
    c.DockerSpawner.mounts = [
        {"type": "bind", "source": "/srv/models", "target": "/models", "read_only": True}
    ]
    c.DockerSpawner.extra_host_config = {"shm_size": "1g"}
    c.DockerSpawner.extra_create_kwargs = {"hostname": "ws-{username}"}
    spec = asyncio.run(_spawner(c).container_spec())
    kwargs = spec.create_kwargs(docker.APIClient(base_url="unix://var/run/docker.sock"))
    mounts = {
        m["Target"]: (m["Source"], m["Type"], m["ReadOnly"])
        for m in kwargs["host_config"]["Mounts"]
    }
    assert mounts["/home/jovyan/shared"] == ("/srv/shared", "bind", True)
    assert mounts["/scratch"] == ("scratch-alice", "volume", False)
    assert mounts["/models"] == ("/srv/models", "bind", True)
    assert kwargs["host_config"]["ShmSize"] == 1024**3
    assert kwargs["hostname"] == "ws-alice"
    # Floe's own rules still hold beside them.
    assert kwargs["host_config"]["CapDrop"] == ["ALL"] and kwargs["user"] == "1000:100"


@pytest.mark.parametrize(
    ("setting", "value", "fragment"),
    [
        ("volumes", {"/var/run/docker.sock": "/var/run/docker.sock"}, "Docker socket"),
        ("volumes", {"/srv/x": {"bind": "/x", "mode": "z"}}, "mode 'z'"),
        ("extra_host_config", {"cap_drop": []}, "drops all capabilities"),
    ],
)
def test_a_setting_that_would_undo_floe_s_rules_is_refused_at_spawn(setting, value, fragment):
    c = Config()
    c.DockerSpawner[setting] = value
    with pytest.raises(web.HTTPError, match=fragment):
        asyncio.run(_spawner(c).container_spec())


@pytest.mark.parametrize(
    ("section", "name", "new"),
    [
        ("DatasetSettings", "db_url", "c.FloeDatabase.url"),
        ("JobRunner", "gpu_inventory_class", "c.GpuSettings.inventory_class"),
        ("WorkspaceSpawner", "gpu_inventory_class", "c.GpuSettings.inventory_class"),
    ],
)
def test_a_renamed_setting_stops_the_hub_naming_the_new_one(section, name, new):
    c = Config()
    c[section][name] = "x"
    with pytest.raises(SystemExit, match=f"c.{section}.{name} is now {new}"):
        refuse_unsupported(c)


def test_the_old_code_limit_variables_are_named_not_ignored(monkeypatch):
    from floe.client.api import FloeError
    from floe.client.transfer import code_max_bytes

    assert code_max_bytes() == 100 * 1024**2
    monkeypatch.setenv("FLOE_CODE_MAX_SIZE", "1Gi")
    assert code_max_bytes() == 1024**3
    monkeypatch.setenv("FLOE_CODE_MAX_MIB", "5")
    with pytest.raises(FloeError, match="FLOE_CODE_MAX_MIB is now FLOE_CODE_MAX_SIZE"):
        code_max_bytes()


def test_no_two_users_share_a_home_disk_however_their_names_escape():
    # Escaped names use "-" as their escape; a hash of a long name is set apart by a ".".
    names = ["x" * 60 + "4@example.org" + "." * 20, "x" * 60 + ";baaa896272143c2b2023c91eef1550"]
    homes = set()
    for name in names + ["alice", "x" * 200]:
        spawner = _spawner(Config())
        spawner.user = SimpleNamespace(name=name, id=1, url=f"/user/{name}/")
        homes.add(spawner.home_name)
        assert "/" not in spawner.home_name and len(spawner.home_name) <= 128
    assert len(homes) == 4


@pytest.mark.parametrize(
    ("section", "name", "old", "new"),
    [
        ("GpuSettings", "inventory_class", "spawner.gpu.NvidiaSmiGpuInventory",
         "containers.gpu.NvidiaSmiGpuInventory"),
        ("JobRunner", "backend_class", "jobs.swarm_backend.SwarmBackend",
         "swarm.backend.SwarmBackend"),
        ("JupyterHub", "spawner_class", "spawner.swarm_workspaces.SwarmWorkspaceSpawner",
         "swarm.workspaces.SwarmWorkspaceSpawner"),
    ],
)  # fmt: skip
def test_a_class_that_moved_stops_the_hub_naming_where_it_is_now(section, name, old, new):
    c = Config()
    c[section][name] = old
    with pytest.raises(
        SystemExit, match=f"c.{section}.{name} = '{old}': that class is now '{new}'"
    ):
        refuse_unsupported(c)
    c[section][name] = new  # and the new one is there
    module, _, attr = new.rpartition(".")
    assert getattr(importlib.import_module(module), attr)
    refuse_unsupported(c)


def test_a_class_that_moved_stops_a_nodes_plugin_too(tmp_path):
    from floe_node.volume_plugin import VolumePlugin

    config = tmp_path / "plugin.py"
    config.write_text(
        "c.VolumePlugin.blob_store_class = 'dataset_mounter.volume_plugin.ServiceStore'\n"
    )
    with pytest.raises(SystemExit, match="floe_node.volume_driver.ServiceStore"):
        VolumePlugin().initialize(["-f", str(config)])
