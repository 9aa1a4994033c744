"""Build Floe's images: ``python -m images.build``.

The workspace image is rebuilt only when its inputs change: the files in
``images/workspace/``, the base image and the hub's JupyterHub version are hashed into the
label ``floe.inputs-hash``, and a second run with the same inputs returns in seconds.

The base: ``FLOE_BASE_IMAGE`` when set; otherwise ``debian:bookworm-slim`` if present or
pullable, else ``floe/base:bookworm``, built here once by ``base/make-base.sh``
(debootstrap -> docker import) for machines without a container registry.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import jupyterhub

from spawner.catalog import WORKSPACE_IMAGE

HERE = Path(__file__).resolve().parent
WORKSPACE_DIR = HERE / "workspace"
DEFAULT_BASE = "debian:bookworm-slim"
LOCAL_BASE = "floe/base:bookworm"
HASH_LABEL = "floe.inputs-hash"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def say(message: str) -> None:
    print(f"floe images: {message}", flush=True)


def _image_id(client: docker.DockerClient, name: str) -> str | None:
    try:
        return client.images.get(name).id
    except docker.errors.ImageNotFound:
        return None


def _try_pull(client: docker.DockerClient, name: str) -> bool:
    say(f"pulling {name}...")
    try:
        client.images.pull(name)
        return True
    except docker.errors.APIError as err:
        say(f"cannot pull {name} ({err.explanation or err}); building a base locally instead")
        return False


def ensure_base(client: docker.DockerClient) -> str:
    """Return the name of a base image that exists locally, making one if needed."""
    wanted = os.environ.get("FLOE_BASE_IMAGE")
    if wanted:
        if _image_id(client, wanted) or _try_pull(client, wanted):
            return wanted
        sys.exit(f"floe images: FLOE_BASE_IMAGE={wanted} is neither present nor pullable")
    for name in (DEFAULT_BASE, LOCAL_BASE):
        if _image_id(client, name):
            return name
    if _try_pull(client, DEFAULT_BASE):
        return DEFAULT_BASE
    started = time.monotonic()
    subprocess.run(["bash", str(HERE / "base" / "make-base.sh"), LOCAL_BASE], check=True)
    say(f"built {LOCAL_BASE} in {time.monotonic() - started:.0f} s")
    return LOCAL_BASE


def inputs_hash(base_id: str, build_args: dict[str, str]) -> str:
    digest = hashlib.sha256()
    digest.update(base_id.encode())
    for key in sorted(build_args):
        digest.update(f"{key}={build_args[key]}\n".encode())
    for path in sorted(WORKSPACE_DIR.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(WORKSPACE_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_workspace(force: bool = False) -> str:
    client = docker.from_env(timeout=600)
    base = ensure_base(client)
    base_id = client.images.get(base).id
    build_args = {"BASE_IMAGE": base, "JUPYTERHUB_VERSION": jupyterhub.__version__}
    wanted_hash = inputs_hash(base_id, build_args)
    try:
        current = client.images.get(WORKSPACE_IMAGE).labels.get(HASH_LABEL)
    except docker.errors.ImageNotFound:
        current = None
    if current == wanted_hash and not force:
        say(f"{WORKSPACE_IMAGE} is up to date")
        return WORKSPACE_IMAGE

    say(f"building {WORKSPACE_IMAGE} from {base} (a few minutes the first time)...")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="floe-build-") as context:
        shutil.copytree(WORKSPACE_DIR, context, dirs_exist_ok=True)
        shutil.copy(CA_BUNDLE, Path(context) / "ca-certificates.crt")
        cmd = ["docker", "build", "-t", WORKSPACE_IMAGE, "--label", f"{HASH_LABEL}={wanted_hash}"]
        for key, value in build_args.items():
            cmd += ["--build-arg", f"{key}={value}"]
        env = {**os.environ, "DOCKER_BUILDKIT": "0"}
        subprocess.run([*cmd, context], check=True, env=env)
    say(f"built {WORKSPACE_IMAGE} in {time.monotonic() - started:.0f} s")
    return WORKSPACE_IMAGE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if inputs are unchanged")
    args = parser.parse_args()
    build_workspace(force=args.force)


if __name__ == "__main__":
    main()
