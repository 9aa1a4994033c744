"""The names of the volumes a node's Floe volume plugin serves, in one place: the runner names
them in a job's mounts, the plugin reads them back.

- ``floe-tree-<sha256 digest>``: a tree (a dataset version, a job's code or output),
  read-only;
- ``floe-runner``: Floe's part inside every job (``jobs/container``) as installed on the node;
- ``floe-job-<container name>`` and ``floe-output-<container name>``: a job's folder (its log
  and result note) and its ``/output``, made on the node and sent to the floe service as the
  job runs and once it has ended.
"""

from __future__ import annotations

import re

TREE_VOLUME = re.compile(r"floe-tree-([0-9a-f]{64})")
RUNNER_VOLUME = "floe-runner"
# A job's container name (<instance>-job-<id>); Docker's volume names allow these characters.
JOB_VOLUME = re.compile(r"floe-(job|output)-([a-z0-9][a-z0-9_.-]{0,100}-job-[0-9]{1,18})")
NAMING = (
    "Floe's volumes are named floe-tree-<a tree's sha256 digest>, floe-runner, "
    "floe-job-<job container> or floe-output-<job container>"
)


def tree_volume(digest: str) -> str:
    return f"floe-tree-{digest}"


def job_volume(container: str) -> str:
    return f"floe-job-{container}"


def output_volume(container: str) -> str:
    return f"floe-output-{container}"
