"""What a job's container is: its environment variables, labels and mounts.

Built on the container-spec builder workspaces use (``containers.spec``); the runner
only adds where the pieces live on this node and asks Docker for the container.
"""

from __future__ import annotations

import json
from pathlib import Path

from containers.catalog import Environment, Machine
from containers.gpu import GPU_LABEL
from containers.spec import (
    CONTAINER_HOME,
    CONTAINER_USER,
    ContainerSpec,
    Mount,
    build_container_spec,
)
from dataset_mounter.mounts import ResolvedMount
from dataset_mounter.node_volumes import RUNNER_VOLUME, job_volume, output_volume, tree_volume
from floe.db.models import SERVE, Job

from .job_folder import JobFolder

# Floe's part inside every job (entry, headless notebooks, parameters), mounted read-only.
RUNNER_DIR = Path(__file__).resolve().parent / "container"


def job_container_spec(
    job: Job,
    environment: Environment,
    machine: Machine,
    *,
    name: str,
    instance: str,
    code: Path,
    code_tree: str,
    inputs: list[ResolvedMount],
    folder: JobFolder,
    sources: list[str],
    network: str,
    flush_seconds: float,
    port: int,
) -> ContainerSpec:
    """The container of ``job``: code at /code, inputs under /input, a writable /output.

    Each mount also names the volume a node's Floe plugin serves in its place
    (``dataset_mounter.node_volumes``), for backends that run jobs on other machines."""
    env = {
        "FLOE_JOB": job.full_name,
        "FLOE_JOB_ID": str(job.id),
        "FLOE_JOB_KIND": job.kind,
        "FLOE_PARAMETERS": json.dumps(job.parameters),
        "FLOE_ENVIRONMENT": job.environment,
        "FLOE_MACHINE": job.machine,
    }
    if flush_seconds > 0:
        env["FLOE_FLUSH_SECONDS"] = str(flush_seconds)
        env["PYTHONPATH"] = "/opt/floe-runner/site"
    if job.mode == SERVE:
        env["FLOE_MODE"] = SERVE
        env["PORT"] = str(port)
    if job.kind == "notebook":
        env["FLOE_NOTEBOOK"] = job.notebook
    else:
        env["FLOE_COMMAND"] = job.command
    return build_container_spec(
        name=name,
        environment=environment,
        machine=machine,
        labels={
            "floe.kind": "job",
            "floe.job": str(job.id),
            "floe.instance": instance,
            "floe.user": job.owner,
            GPU_LABEL: ",".join(job.gpu_ids),
            "floe.datasets": ",".join(sources),
        },
        env=env,
        command=["python3", "/opt/floe-runner/entry.py"],
        mounts=[
            Mount(str(code), "/code", "bind", read_only=True, node_volume=tree_volume(code_tree)),
            *(
                Mount(
                    str(m.path or ""),
                    m.target,
                    "bind",
                    read_only=True,
                    node_volume=tree_volume(m.tree),
                )
                for m in inputs
            ),
            Mount(str(folder.output), "/output", "bind", node_volume=output_volume(name)),
            Mount(str(folder.path), "/floe-job", "bind", node_volume=job_volume(name)),
            Mount(
                str(RUNNER_DIR),
                "/opt/floe-runner",
                "bind",
                read_only=True,
                node_volume=RUNNER_VOLUME,
            ),
        ],
        gpu_device_ids=job.gpu_ids,
        network=network or None,
        working_dir="/code",
        # The container writes its own log file (jobs/container/entry.py): the engine
        # keeping a second copy would double the cost of every line.
        engine_log=False,
        # The image is read-only: /tmp and the home (pip --user, caches) are memory.
        scratch=(("/tmp", ""), (CONTAINER_HOME, CONTAINER_USER)),
    )
