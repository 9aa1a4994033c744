"""No image Floe makes lets uid 1000 become root: no setuid/setgid file, no file capability.

The images ``make images`` builds (the workspace image, and the base it debootstraps where no
registry answers) and the environments Floe builds on an image that had some."""

from __future__ import annotations

import io
import secrets
import struct

import docker
import pytest

from containers.catalog import WORKSPACE_IMAGE
from environments.build_container import BuildFailed
from environments.builder import EnvironmentBuilder
from environments.requirements import parse_requirements
from images.build import LOCAL_BASE
from tests.wheels import make_wheel

pytestmark = pytest.mark.integration

# Each line one privileged file: setuid/setgid ones by find, file capabilities by Python.
LIST_PRIVILEGED = r"""
find / -xdev \( -path /proc -o -path /sys -o -path /dev \) -prune -o -perm /6000 -print
python3 - <<'EOF'
import os
for folder, _dirs, files in os.walk("/"):
    if folder.startswith(("/proc", "/sys", "/dev")):
        continue
    for name in files:
        path = os.path.join(folder, name)
        try:
            os.getxattr(path, "security.capability", follow_symlinks=False)
            print("capabilities:", path)
        except OSError:
            pass
EOF
"""
# cap_net_raw, effective: what `setcap cap_net_raw+ep` writes (VFS_CAP_REVISION_2).
NET_RAW = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)


def privileged_files(client: docker.DockerClient, image: str) -> list[str]:
    out = client.containers.run(
        image, ["sh", "-c", LIST_PRIVILEGED], user="0", network_mode="none", remove=True
    )
    return out.decode().split("\n")[:-1]


@pytest.mark.parametrize("image", [WORKSPACE_IMAGE, LOCAL_BASE])
def test_the_images_make_images_builds_keep_no_setuid_file_or_capability(image):
    client = docker.from_env()
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        pytest.skip(f"{image} is not built here (make images)")
    assert privileged_files(client, image) == []


@pytest.fixture
def base_with(tmp_path):
    """An image on the workspace image with a setuid-root shell, or with a file capability."""
    client = docker.from_env()
    made = []

    def build(step: str) -> str:
        tag = f"floetest-{secrets.token_hex(3)}/base:1"
        dockerfile = f"FROM {WORKSPACE_IMAGE}\nUSER root\nRUN {step}\nUSER 1000\n"
        client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
        made.append(tag)
        return tag

    yield build
    for tag in made:
        client.images.remove(tag, force=True)


def _requirements(tmp_path):
    name, data = make_wheel("floeharden", f"NONCE = {secrets.token_hex(8)!r}\n")
    (tmp_path / name).write_bytes(data)
    return parse_requirements(f"./{name}\n", code_dir=tmp_path)


def test_an_environment_build_strips_what_its_base_and_pip_left(tmp_path, base_with):
    base = base_with("cp /bin/sh /usr/local/bin/rootsh && chmod 6755 /usr/local/bin/rootsh")
    builder = EnvironmentBuilder(
        lock_dir=str(tmp_path), repository=f"floetest-{secrets.token_hex(3)}/env"
    )
    client = docker.from_env()
    assert "/usr/local/bin/rootsh" in privileged_files(client, base)
    built = builder.ensure(base, _requirements(tmp_path))
    try:
        assert privileged_files(client, built.tag) == []
    finally:
        client.images.remove(built.tag, force=True)


def test_a_capability_a_build_may_not_remove_fails_it_by_name(tmp_path, base_with):
    setcap = f"import os; os.setxattr('/usr/local/bin/pinger', 'security.capability', {NET_RAW!r})"
    base = base_with(f'cp /bin/true /usr/local/bin/pinger && python3 -c "{setcap}"')
    client = docker.from_env()
    assert "capabilities: /usr/local/bin/pinger" in privileged_files(client, base)
    builder = EnvironmentBuilder(
        lock_dir=str(tmp_path), repository=f"floetest-{secrets.token_hex(3)}/env"
    )
    try:
        with pytest.raises(BuildFailed, match="setuid/setgid bit and file capability") as failed:
            builder.ensure(base, _requirements(tmp_path))
    finally:  # a build that should have failed leaves no image behind
        for image in client.images.list(builder.repository):
            client.images.remove(image.id, force=True)
    assert "/usr/local/bin/pinger" in failed.value.message


def test_a_strip_defeated_inside_the_image_is_caught_from_outside(tmp_path, base_with, monkeypatch):
    """Code from pip runs as root before the strip and could stop it (a .pth file, a python
    shim): what the build would commit is read from its layers here all the same."""
    from environments import builder as environment_builder

    base = base_with("cp /bin/sh /usr/local/bin/rootsh && chmod 4755 /usr/local/bin/rootsh")
    pip_only = environment_builder.BUILD_COMMAND.split("; kill -9")[0]
    monkeypatch.setattr(environment_builder, "BUILD_COMMAND", pip_only)
    builder = EnvironmentBuilder(
        lock_dir=str(tmp_path), repository=f"floetest-{secrets.token_hex(3)}/env"
    )
    client = docker.from_env()
    try:
        with pytest.raises(BuildFailed, match="setuid, setgid or file capabilities") as failed:
            builder.ensure(base, _requirements(tmp_path))
    finally:
        for image in client.images.list(builder.repository):
            client.images.remove(image.id, force=True)
    assert "/usr/local/bin/rootsh" in failed.value.message
    assert client.images.list(builder.repository) == []
