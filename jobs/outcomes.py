"""How a job ended, in the words its page and the CLI show: ``exit 3``, ``cell 2 failed: …``,
``out of memory (limit 2 GiB)``, ``stopped by alice``."""

from __future__ import annotations

import json
from pathlib import Path

from floe.core.errors import FloeUserError
from floe.core.job_states import JobState

from .logs import read_from


def ending(
    container_state: dict, stopped_by: str, result_note: Path, limit: str
) -> tuple[str, str]:
    """The job's final state and reason, from Docker's ``State`` of its container."""
    code = container_state.get("ExitCode")
    if stopped_by:
        return JobState.STOPPED, f"stopped by {stopped_by}"
    if container_state.get("NodeLost"):  # a Swarm node that stopped answering
        return JobState.ERROR, "node lost: the machine it ran on stopped answering"
    if code is None and container_state.get("Error"):  # a Swarm task that never ran
        return JobState.ERROR, f"could not start its container: {container_state['Error']}"
    if container_state.get("OOMKilled"):
        return JobState.ERROR, f"out of memory (limit {limit})"
    if code == 0:
        return JobState.COMPLETE, ""
    return JobState.ERROR, failure_reason(result_note, code, limit)


def failure_reason(result_note: Path, code: int | None, limit: str) -> str:
    note = read_from(result_note, 0, limit=4096)  # written by run_notebook.py
    if note:
        try:
            return str(json.loads(note)["reason"])[:1000]
        except (ValueError, KeyError, TypeError):
            pass
    if code == 137:
        return f"killed (exit 137): out of memory (limit {limit})?"
    if code == 127:
        return "exit 127: the environment's image has no python3 (Floe jobs need Python 3)"
    return f"exit {code}"


def start_failure(err: Exception, machine: str) -> str:
    """Why a job's container could not start."""
    if isinstance(err, FloeUserError):  # the job's own doing (its requirements): said as is
        return err.message
    text = getattr(err, "explanation", None) or str(err)
    if "could not select device driver" in text:
        return (
            f"the '{machine}' machine needs a GPU, but this node's Docker engine has no GPU "
            f"driver ({text}); ask the admin to install the NVIDIA container toolkit"
        )
    return f"could not start its container: {text}"
