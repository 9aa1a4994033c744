"""An environment build may write only so much into its image (``c.EnvironmentBuilder.max_bytes``):
one that writes past it fails saying so and leaves no image, on this machine's engine
(overlay2 on ext4, no quotas: measured) as it would where the engine caps the layer."""

from __future__ import annotations

import secrets

import docker
import pytest

from containers.catalog import WORKSPACE_IMAGE
from environments import build_disk
from environments.build_container import BuildFailed
from environments.builder import EnvironmentBuilder
from environments.requirements import parse_requirements
from tests.wheels import make_wheel

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


def _wheel_of(tmp_path, mib: int):
    """Requirements of one local wheel holding ``mib`` MiB that do not compress."""
    data = secrets.token_hex(mib * MIB // 2)
    name, wheel = make_wheel(f"floebig{secrets.token_hex(3)}", f"DATA = {data!r}\n")
    (tmp_path / name).write_bytes(wheel)
    return parse_requirements(f"./{name}\n", code_dir=tmp_path)


def test_a_build_writing_past_its_cap_fails_saying_so_and_keeps_no_image(tmp_path):
    builder = EnvironmentBuilder(
        lock_dir=str(tmp_path),
        repository=f"floetest-{secrets.token_hex(3)}/env",
        max_bytes=4 * MIB,
    )
    client = docker.from_env()
    try:
        with pytest.raises(BuildFailed, match="wrote more than 4 MiB into its image") as failed:
            builder.ensure(WORKSPACE_IMAGE, _wheel_of(tmp_path, 12))
        assert "c.EnvironmentBuilder.max_bytes" in failed.value.message
        assert client.images.list(builder.repository) == []
        leftover = client.containers.list(
            all=True, filters={"label": "floe.kind=environment-build"}
        )
        assert not [c for c in leftover if c.image.id == client.images.get(WORKSPACE_IMAGE).id]
        # Within the cap, the same kind of build goes through.
        builder.max_bytes = 64 * MIB
        built = builder.ensure(WORKSPACE_IMAGE, _wheel_of(tmp_path, 2))
        assert client.images.get(built.tag)
    finally:
        for image in client.images.list(builder.repository):
            client.images.remove(image.id, force=True)


def test_where_the_engine_has_no_quota_the_cap_is_measured(tmp_path):
    """This machine's engine (overlay2 on ext4) refuses a size quota: Floe notes it and
    measures instead; no file may pass the cap whatever the engine."""
    from containers.catalog import Environment, Machine
    from containers.spec import build_container_spec

    api = docker.APIClient()
    spec = build_container_spec(
        name=f"floetest-quota-{secrets.token_hex(3)}",
        environment=Environment(slug="b", display_name="b", image=WORKSPACE_IMAGE),
        machine=Machine("b", "b", cpu=0.5, memory_bytes=256 * MIB),
        labels={},
        env={},
        command=["sh", "-c", "head -c 8M /dev/zero > /tmp/big"],
        mounts=[],
        read_only=False,
        scratch=(),
        user="0:0",
    )
    disk = build_disk.BuildDisk(api, 4 * MIB)
    container = disk.create(spec.create_kwargs(api))
    try:
        info = api.info()
        backing = dict(info.get("DriverStatus") or []).get("Backing Filesystem", "")
        if info["Driver"] == "overlay2" and backing != "xfs":
            assert not disk.engine_capped and api.base_url in build_disk._quota_refused
        assert disk.written() == 0 and disk.past() == ""
        api.start(container)
        code = api.wait(container, timeout=60)["StatusCode"]
        assert code != 0  # the one file could not pass 4 MiB
        assert "wrote more than 4 MiB" in disk.past(code=build_disk.FILE_TOO_BIG)
    finally:
        api.remove_container(container, force=True)
