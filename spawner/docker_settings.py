"""DockerSpawner's settings under Floe: carried into the one container spec, or refused.

WorkspaceSpawner makes its containers with the container-spec builder jobs share, not with
DockerSpawner's ``create_object``. DockerSpawner's settings that describe a container
(``volumes``, ``read_only_volumes``, ``mounts``, ``extra_host_config``,
``extra_create_kwargs``) are carried into that spec; settings whose job Floe does another way
(the image, the limits, host port bindings) are refused when the hub starts, each named with
what to use instead. None is silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

from traitlets.config import Config

from containers.spec import Mount, UnsupportedSetting, check_extras

SPAWNER_SECTIONS = ("Spawner", "DockerSpawner", "WorkspaceSpawner", "SwarmWorkspaceSpawner")
# Settings Floe decides itself, and what a deployer uses instead.
REFUSED = {
    "image": "environments (images) are picked from c.Catalog.environments",
    "allowed_images": "environments (images) are picked from c.Catalog.environments",
    "image_whitelist": "environments (images) are picked from c.Catalog.environments",
    "container_image": "environments (images) are picked from c.Catalog.environments",
    "mem_limit": "limits come from the machine type: c.Catalog.machines",
    "cpu_limit": "limits come from the machine type: c.Catalog.machines",
    "mem_guarantee": "limits come from the machine type: c.Catalog.machines",
    "cpu_guarantee": "limits come from the machine type: c.Catalog.machines",
    "host_ip": "workspaces are reached on their Docker network, never on host ports",
    "links": "Docker links are not supported; put services on the workspace network",
}


def _configured(config: Config, name: str) -> Iterable[tuple[str, object]]:
    for section in SPAWNER_SECTIONS:
        if section in config and name in config[section]:
            yield section, config[section][name]


def unsupported_settings(config: Config) -> list[str]:
    """Every spawner setting in ``config`` that Floe cannot honour, each said in a line."""
    problems = []
    for name, instead in REFUSED.items():
        for section, _value in _configured(config, name):
            problems.append(f"c.{section}.{name} does nothing in Floe: {instead}")
    for section, value in _configured(config, "use_internal_ip"):
        if value is False:
            problems.append(
                f"c.{section}.use_internal_ip = False does nothing in Floe: workspaces are "
                "reached on their Docker network, never on host ports"
            )
    extras = {}
    for name in ("extra_host_config", "extra_create_kwargs"):
        for _section, value in _configured(config, name):
            if isinstance(value, dict):  # callables are checked at each spawn
                extras[name] = value
    try:
        check_extras(extras.get("extra_host_config", {}), extras.get("extra_create_kwargs", {}))
    except UnsupportedSetting as err:
        problems.append(str(err))
    return problems


def mounts_from_binds(binds: dict[str, dict]) -> list[Mount]:
    """DockerSpawner's ``volume_binds`` (``volumes`` and ``read_only_volumes``) as mounts."""
    mounts = []
    for source, bind in binds.items():
        mode = bind.get("mode", "rw")
        if mode not in ("rw", "ro") or bind.get("propagation"):
            raise UnsupportedSetting(
                f"c.DockerSpawner.volumes[{source!r}]: mode {mode!r} and propagation are not "
                "supported; use 'rw' or 'ro' (or c.DockerSpawner.mounts)"
            )
        kind = "bind" if source.startswith("/") else "volume"
        mounts.append(Mount(source, bind["bind"], kind, read_only=mode == "ro"))
    return mounts


def mounts_from_docker(mounts: list[dict]) -> list[Mount]:
    """DockerSpawner's ``mounts`` (docker-py Mount dicts) as mounts."""
    found = []
    for mount in mounts:
        extra = sorted(set(mount) - {"Target", "Source", "Type", "ReadOnly"})
        if extra or mount.get("Type", "volume") not in ("bind", "volume"):
            raise UnsupportedSetting(
                f"c.DockerSpawner.mounts: {mount.get('Target')!r} uses {extra or mount['Type']}; "
                "Floe mounts volumes and binds with source, target, type and read_only only"
            )
        found.append(
            Mount(
                mount["Source"],
                mount["Target"],
                mount.get("Type", "volume"),
                bool(mount.get("ReadOnly")),
            )
        )
    return found
