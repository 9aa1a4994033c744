"""Build Floe's images: ``python -m images.build``.

The workspace image is rebuilt only when its inputs change: the files in
``images/workspace/``, the Floe code that runs inside (the JupyterLab extension in
``extensions/floe_jupyter`` and the upload client it uses), the base image and the hub's
JupyterHub version are hashed into the label ``floe.inputs-hash``, and a second run with the
same inputs returns in seconds.

The base: ``FLOE_BASE_IMAGE`` when set; otherwise ``debian:bookworm-slim`` if present or
pullable, else ``floe/base:bookworm``, built here by ``base/make-base.sh`` (debootstrap ->
docker import) for machines without a container registry, again when its recipe changes.

Every image made here ends with ``environments/strip_privileges.py`` (no setuid/setgid bit or file
capability left), as every environment build does.
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

from containers.catalog import WORKSPACE_IMAGE, Catalog
from environments.build_container import STRIP_SCRIPT
from environments.builder import EnvironmentBuilder
from environments.image_registry import push
from environments.images import environment_chain, environment_image
from hub_config.registry import registry_password
from hub_config.settings import read_settings

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
WORKSPACE_DIR = HERE / "workspace"
EXTENSION_DIR = REPO_ROOT / "extensions" / "floe_jupyter"
# What of the extension is source (the rest is npm's and the build's output).
EXTENSION_SOURCES = (
    "pyproject.toml",
    "package.json",
    "yarn.lock",
    "tsconfig.json",
    "install.json",
    ".yarnrc.yml",
    "src",
    "style",
    "floe_jupyter/*.py",
    "jupyter-config",
)
# The part of Floe the extension imports (installed into the image without dependencies).
CLIENT_SOURCES = (
    "pyproject.toml",
    "floe/__init__.py",
    "floe/core/*.py",
    "floe/client/*.py",
    "floe_cli/*.py",  # the image has the floe command too
    "floe/trees/*.py",
)
WHEEL_CACHE = REPO_ROOT / ".tools" / "wheels"
DEFAULT_BASE = "debian:bookworm-slim"
LOCAL_BASE = "floe/base:bookworm"
HASH_LABEL = "floe.inputs-hash"
STRIP_SOURCE = str(STRIP_SCRIPT.relative_to(REPO_ROOT))
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def say(message: str) -> None:
    print(f"floe images: {message}", flush=True)


def tell_step(outcome: str) -> None:
    """Add a phrase to the one line `make images` prints of this build (scripts/step.sh)."""
    path = os.environ.get("FLOE_STEP_OUTCOME")
    if path:
        with open(path, "a") as file:
            file.write(outcome + "\n")


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
    if _image_id(client, DEFAULT_BASE):
        return DEFAULT_BASE
    make_base = HERE / "base" / "make-base.sh"
    recipe = sources_hash(REPO_ROOT, (str(make_base.relative_to(REPO_ROOT)), STRIP_SOURCE))
    try:
        if client.images.get(LOCAL_BASE).labels.get(HASH_LABEL) == recipe:
            return LOCAL_BASE
    except docker.errors.ImageNotFound:
        pass
    if _try_pull(client, DEFAULT_BASE):
        return DEFAULT_BASE
    started = time.monotonic()
    subprocess.run(
        ["bash", str(make_base), LOCAL_BASE, str(STRIP_SCRIPT), f"{HASH_LABEL}={recipe}"],
        check=True,
    )
    say(f"built {LOCAL_BASE} in {time.monotonic() - started:.0f} s")
    return LOCAL_BASE


def _files(root: Path, patterns: tuple[str, ...]) -> list[Path]:
    found: set[Path] = set()
    for pattern in patterns:
        for path in root.glob(pattern):
            found.update(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file())
    return sorted(found)


def _hash_files(digest: hashlib._Hash, root: Path, files: list[Path]) -> None:
    for path in files:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())


def sources_hash(root: Path, patterns: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    _hash_files(digest, root, _files(root, patterns))
    return digest.hexdigest()[:16]


def inputs_hash(base_id: str, build_args: dict[str, str]) -> str:
    digest = hashlib.sha256()
    digest.update(base_id.encode())
    for key in sorted(build_args):
        digest.update(f"{key}={build_args[key]}\n".encode())
    _hash_files(digest, WORKSPACE_DIR, _files(WORKSPACE_DIR, ("*",)))
    digest.update(sources_hash(REPO_ROOT, (STRIP_SOURCE,)).encode())
    digest.update(sources_hash(EXTENSION_DIR, EXTENSION_SOURCES).encode())
    digest.update(sources_hash(REPO_ROOT, CLIENT_SOURCES).encode())
    return digest.hexdigest()[:16]


def _pip_wheel(source: Path, dest: Path) -> None:
    # CI=1 makes yarn refuse to touch the lockfile; the lockfile is committed and current.
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dest), str(source)],
        check=True,
        env=env,
    )


def extension_wheel() -> Path:
    """The JupyterLab extension's wheel, built once per version of its sources."""
    cached = WHEEL_CACHE / f"floe_jupyter-{sources_hash(EXTENSION_DIR, EXTENSION_SOURCES)}"
    wheels = list(cached.glob("*.whl"))
    if wheels:
        return wheels[0]
    say("building the JupyterLab extension (npm packages the first time: about 2 minutes)...")
    started = time.monotonic()
    # The builder skips the JavaScript build when its output exists: start from clean.
    for stale in ("floe_jupyter/labextension", "lib"):
        shutil.rmtree(EXTENSION_DIR / stale, ignore_errors=True)
    (EXTENSION_DIR / "tsconfig.tsbuildinfo").unlink(missing_ok=True)
    _pip_wheel(EXTENSION_DIR, cached)
    say(f"built the extension in {time.monotonic() - started:.0f} s")
    return next(cached.glob("*.whl"))


def collect_wheels(dest: Path) -> None:
    """What the image installs of Floe itself: the extension and the upload client."""
    dest.mkdir()
    shutil.copy(extension_wheel(), dest)
    _pip_wheel(REPO_ROOT, dest)
    shutil.rmtree(REPO_ROOT / "build", ignore_errors=True)  # setuptools' leftovers


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
        tell_step("up to date")
        return WORKSPACE_IMAGE

    say(f"building {WORKSPACE_IMAGE} from {base} (a few minutes the first time)...")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="floe-build-") as context:
        shutil.copytree(WORKSPACE_DIR, context, dirs_exist_ok=True)
        shutil.copy(CA_BUNDLE, Path(context) / "ca-certificates.crt")
        shutil.copy(STRIP_SCRIPT, Path(context) / STRIP_SCRIPT.name)
        collect_wheels(Path(context) / "wheels")
        cmd = ["docker", "build", "-t", WORKSPACE_IMAGE, "--label", f"{HASH_LABEL}={wanted_hash}"]
        for key, value in build_args.items():
            cmd += ["--build-arg", f"{key}={value}"]
        env = {**os.environ, "DOCKER_BUILDKIT": "0"}
        subprocess.run([*cmd, context], check=True, env=env)
    say(f"built {WORKSPACE_IMAGE} in {time.monotonic() - started:.0f} s")
    tell_step("built")
    return WORKSPACE_IMAGE


def build_environments(names: str) -> list[str]:
    """Build the catalog's built environments ahead of their first use (``--envs all``)."""
    catalog = Catalog()
    built = [e for e in catalog.environment_list() if e.built]
    wanted = built if names == "all" else [e for e in built if e.slug in names.split(",")]
    unknown = set(names.split(",")) - {e.slug for e in built} - {"all", "python"}
    if unknown:
        sys.exit(f"floe images: no built environment {', '.join(sorted(unknown))}")
    data_dir = Path(os.environ.get("FLOE_DATA_DIR", REPO_ROOT / ".floe"))
    builder = EnvironmentBuilder(lock_dir=str(data_dir / "builds"))
    images = []
    for environment in wanted:
        started = time.monotonic()
        chain = environment_chain(environment, catalog.environment_by_slug)
        image = environment_image(chain, builder, note=say, say=print).image
        size = builder.api.inspect_image(image)["Size"]
        say(f"{environment.slug}: {image}, {size / 1e9:.1f} GB, {time.monotonic() - started:.0f} s")
        images.append(image)
    tell_step(f"{len(images)} environment{'s' if len(images) != 1 else ''} ready")
    return images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if inputs are unchanged")
    parser.add_argument(
        "--envs",
        default="",
        help="also build these environments of the catalog now (comma-separated, or 'all'); "
        "otherwise each is built on its first use",
    )
    args = parser.parse_args()
    images = [build_workspace(force=args.force)]
    if args.envs:
        images += build_environments(args.envs)
    settings = read_settings()
    if settings.registry:  # a cluster's machines pull them from Floe's registry
        password = registry_password(settings.data_dir)
        for image in images:
            try:
                say(f"pushed {push(image, settings.registry, password)}")
            except (RuntimeError, docker.errors.APIError) as err:
                # The hub runs the registry: on the very first `make run` it is not up yet.
                say(f"not pushed to {settings.registry} ({err}); `make images` pushes once it runs")
                tell_step(f"not pushed to {settings.registry} yet (`make images` once it runs)")
                break
        else:
            tell_step(f"pushed to {settings.registry}")


if __name__ == "__main__":
    main()
