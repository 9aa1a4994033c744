"""What every benchmark needs: a hub of its own in a scratch folder, and a place for figures."""

from __future__ import annotations

import json
import os
import resource
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.hub_process import REPO_ROOT, HubProcess

RESULTS = REPO_ROOT / "bench-results"


@contextmanager
def scratch_hub(name: str, local_config: str = "") -> Iterator[tuple[HubProcess, Path]]:
    """A hub (not started yet) and a scratch folder; both are removed afterwards.

    ``local_config`` becomes the hub's ``jupyterhub_config.local.py``.
    """
    work = Path(tempfile.mkdtemp(prefix=f"floe-bench-{name}-", dir="/var/tmp"))
    hub = HubProcess(
        instance=f"bench{name}{uuid.uuid4().hex[:4]}",
        data_dir=work / "hub",
        admin_password=secrets.token_urlsafe(16),
    )
    if local_config:
        hub.data_dir.mkdir(parents=True)
        hub.data_dir.joinpath("jupyterhub_config.local.py").write_text(local_config)
    try:
        yield hub, work
    finally:
        hub.stop()
        hub.remove_docker_objects()
        shutil.rmtree(work, ignore_errors=True)


def save_report(name: str, report: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2))


def cpu_seconds(pid: int) -> float:
    """CPU-seconds (user and system) process ``pid`` has spent."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hub_cpu_seconds(hub: HubProcess) -> dict[str, float]:
    """CPU-seconds spent so far by the hub's process tree, by part (its proxy, the floe
    service, the hub itself), and by this process (the client): where an operation's work
    went."""
    spent = {"proxy": 0.0, "floe_service": 0.0, "hub": 0.0}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if not _in_tree(int(pid), hub.proc.pid if hub.proc else -1):
                continue
            program = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "traefik" in program.split(" ")[0] or "configurable-http-proxy" in program:
                spent["proxy"] += cpu_seconds(int(pid))
            elif "floe_service" in program:
                spent["floe_service"] += cpu_seconds(int(pid))
            else:
                spent["hub"] += cpu_seconds(int(pid))
        except (OSError, ValueError):
            continue  # gone meanwhile
    usage = resource.getrusage(resource.RUSAGE_SELF)
    spent["client"] = usage.ru_utime + usage.ru_stime
    return spent


def _in_tree(pid: int, root: int) -> bool:
    """Whether ``pid`` is ``root`` or one of its descendants."""
    while pid > 1:
        if pid == root:
            return True
        pid = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    return False
