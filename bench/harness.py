"""What every benchmark needs: a hub of its own in a scratch folder, and a place for figures."""

from __future__ import annotations

import json
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
