"""Environment benchmarks against a real hub: requirements built once, and the stock stacks.

``python -m bench.environments [--runs 3] [--parts a,b,c]``

(a) A job with a floe_requirements.txt of a mid-size package (pandas, numpy with it): submit ->
    running of a later run ÷ the same job without requirements (target <= 1.1); beside it what
    installing them in every run costs (pip in a fresh container, as jobs did before).
(b) The first build of that environment ÷ a plain ``docker build --no-cache`` of the same
    Dockerfile and context (target <= 1.1).
(c) The ``datascience`` environment: build time and image size; ``import pandas, sklearn`` in
    a fresh job, and that job's submit -> complete.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import docker

from bench.harness import save_report, scratch_hub
from bench.jobs import wait_state
from containers.catalog import WORKSPACE_IMAGE, Catalog
from environments.build_container import CONTEXT
from environments.builder import BUILD_COMMAND, EnvironmentBuilder, build_key
from environments.images import environment_chain, environment_image
from environments.requirements import parse_requirements
from floe.client.api import FloeClient

# pandas as the datascience environment pins it (numpy comes with it).
PANDAS = next(
    line
    for line in Path(__file__)
    .resolve()
    .parent.parent.joinpath("environments", "stock", "datascience.txt")
    .read_text()
    .splitlines()
    if line.startswith("pandas==")
)
REQUIREMENTS = f"{PANDAS}\n"
COMMAND = "python3 -c 'print(42)'"


def _code(client: FloeClient, files: dict[str, bytes]) -> list[dict]:
    manifest = []
    for path, data in files.items():
        sha = hashlib.sha256(data).hexdigest()
        client.request("PUT", f"blobs/{sha}", data=data)
        manifest.append({"path": path, "sha256": sha, "size": len(data)})
    return manifest


def submit_to_running(client: FloeClient, code: list[dict] | None) -> tuple[float, dict]:
    started = time.perf_counter()
    body = {"project": "envs", "kind": "command", "command": COMMAND}
    if code:
        body["code"] = code
    job = client.submit_job(body)
    wait_state(client, job["id"], {"running", "complete", "error"}, timeout=1800)
    seconds = time.perf_counter() - started
    done = wait_state(client, job["id"], {"complete", "error"}, timeout=1800)
    if done["state"] != "complete":
        raise RuntimeError(f"benchmark job failed: {done['reason']}")
    return seconds, done


def forget(builder: EnvironmentBuilder, requirements_text: str) -> None:
    """Remove the environment's image, so the next job builds it from nothing."""
    base_id = builder.image_id(WORKSPACE_IMAGE)
    tag = builder.tag(build_key(base_id, parse_requirements(requirements_text)))
    try:
        docker.from_env().images.remove(tag, force=True)
    except docker.errors.ImageNotFound:
        pass


def pip_every_run(runs: int) -> float:
    """What each job paid when requirements were installed before every run."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [
                "docker", "run", "--rm", "-u", "0",
                "-v", "/etc/ssl/certs/ca-certificates.crt:/ca.crt:ro",
                WORKSPACE_IMAGE, "sh", "-c",
                f"env -i PATH=$PATH HOME=/root pip install -q --no-cache-dir --cert /ca.crt "
                f"--target /tmp/p '{PANDAS}' && python3 -c 'print(42)'",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def part_a(client: FloeClient, builder: EnvironmentBuilder, runs: int, report: dict) -> None:
    code = _code(client, {"floe_requirements.txt": REQUIREMENTS.encode()})
    forget(builder, REQUIREMENTS)
    first, _ = submit_to_running(client, code)
    later = statistics.median(submit_to_running(client, code)[0] for _ in range(runs))
    plain = statistics.median(submit_to_running(client, None)[0] for _ in range(runs))
    every = pip_every_run(runs)
    report["a"] = {
        "requirements": REQUIREMENTS.strip(),
        "first_run_s": first,
        "later_run_s": later,
        "no_requirements_s": plain,
        "ratio": later / plain,
        "pip_every_run_s": every,
    }
    print(
        f"(a) {REQUIREMENTS.strip()}: submit -> running, median of {runs}: later runs "
        f"{later:.2f} s vs the same job without requirements {plain:.2f} s, ratio "
        f"{later / plain:.2f} (target <= 1.10); the first run (building) {first:.1f} s; "
        f"installing them in every run instead: {every:.1f} s a run",
        flush=True,
    )


def part_b(builder: EnvironmentBuilder, runs: int, report: dict) -> None:
    """Floe's first build and a plain docker build, taken in turns (the index's speed varies)."""
    requirements = parse_requirements(REQUIREMENTS)
    base_id = builder.image_id(WORKSPACE_IMAGE)
    floe, plain = [], []
    for _ in range(runs):
        forget(builder, REQUIREMENTS)
        started = time.perf_counter()
        built = builder.ensure(WORKSPACE_IMAGE, requirements)
        floe.append(time.perf_counter() - started)
        with tempfile.TemporaryDirectory(prefix="floe-bench-build-") as context:
            # The same install, as a Dockerfile would say it.
            cert = builder._write_context(Path(context), requirements)
            Path(context, "Dockerfile").write_text(
                f"FROM {base_id}\nUSER root\nCOPY . {CONTEXT}/\nWORKDIR {CONTEXT}\n"
                f"RUN {BUILD_COMMAND.format(cert=cert)}\n"
            )
            started = time.perf_counter()
            subprocess.run(
                ["docker", "build", "--no-cache", "-q", "-t", "floe-bench/plain-build", context],
                check=True,
                stdout=subprocess.DEVNULL,
                env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/bin:/bin"},
            )
            plain.append(time.perf_counter() - started)
        docker.from_env().images.remove("floe-bench/plain-build", force=True)
    floe_s, plain_s = statistics.median(floe), statistics.median(plain)
    report["b"] = {"floe_build_s": floe_s, "docker_build_s": plain_s, "ratio": floe_s / plain_s}
    print(
        f"(b) first build of {built.tag}, median of {runs}: {floe_s:.1f} s vs docker build "
        f"--no-cache of the same Dockerfile {plain_s:.1f} s, ratio {floe_s / plain_s:.2f} "
        "(target <= 1.10)",
        flush=True,
    )


def part_c(client: FloeClient, builder: EnvironmentBuilder, report: dict) -> None:
    catalog = Catalog()
    started = time.perf_counter()
    datascience = catalog.environment_by_slug("datascience")
    chain = environment_chain(datascience, catalog.environment_by_slug)
    image = environment_image(chain, builder).image
    build_s = time.perf_counter() - started
    size = docker.from_env().images.get(image).attrs["Size"]
    program = (
        "import time; t = time.time(); import pandas, sklearn; print('import', time.time() - t)"
    )
    started = time.perf_counter()
    job = client.submit_job(
        {"project": "envs", "kind": "command", "environment": "datascience",
         "command": f'python3 -c "{program}"'}
    )  # fmt: skip
    done = wait_state(client, job["id"], {"complete", "error"}, timeout=1800)
    total = time.perf_counter() - started
    log = client.request("GET", f"jobs/{job['id']}/logs").text
    found = re.search(r"^import ([0-9.]+)$", log, re.MULTILINE)
    if done["state"] != "complete" or not found:
        raise RuntimeError(f"datascience job failed: {done['reason']}\n{log}")
    report["c"] = {
        "image": image,
        "build_s": build_s,
        "size_bytes": size,
        "import_s": float(found.group(1)),
        "job_submit_to_complete_s": total,
    }
    print(
        f"(c) datascience: built in {build_s:.0f} s (0 when built before), image "
        f"{size / 1e9:.2f} GB; import pandas, sklearn in a fresh job {float(found.group(1)):.2f} "
        f"s, the job submit -> complete {total:.1f} s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="environment benchmarks")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--parts", default="a,b,c")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    report: dict = {}
    with scratch_hub("envs") as (hub, _work):
        hub.start()
        client = FloeClient(hub.url, hub.admin_token)
        # As the hub and the floe service build: on Floe's fenced network.
        builder = EnvironmentBuilder(
            lock_dir=str(hub.data_dir / "builds"), network=f"{hub.instance}-net"
        )
        if "a" in parts:
            part_a(client, builder, args.runs, report)
        if "b" in parts:
            part_b(builder, args.runs, report)
        if "c" in parts:
            part_c(client, builder, report)
    save_report("environments", report)


if __name__ == "__main__":
    main()
