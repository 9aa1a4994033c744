"""Following a job whose container runs on another machine (``SwarmBackend``): it stays
'starting' until Swarm's task runs, and once it ended its folder must come back from that
machine before the runner keeps what it left (``jobs.job_return``)."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.orm import sessionmaker

from floe.core.job_states import JobState
from floe.db.models import Job

from .backend import ContainerGone, RunnerBackend
from .job_folder import JobFolder
from .job_return import has_returned, mark_awaited
from .records import set_state

log = logging.getLogger("floe.jobs")


def wait_started(
    backend: RunnerBackend, sessions: sessionmaker, job_id: int, container_id: str
) -> None:
    """Keep the job 'starting' (saying why it waits) until its container runs, then make it
    'running': its maximum runtime counts from then."""

    def say(reason: str) -> None:
        with sessions() as db:
            set_state(
                db, db.get(Job, job_id), JobState.STARTING, reason, only_from=(JobState.STARTING,)
            )

    while True:
        try:
            started = backend.wait_started(container_id, say)
            break
        except ContainerGone:
            return
        except Exception as err:  # the manager away for a moment: ask again
            log.warning("job %s: waiting for it to start: %s", job_id, err)
            threading.Event().wait(2)
    if started:  # not a job stopped (or failed to start) while it waited
        with sessions() as db:
            set_state(db, db.get(Job, job_id), JobState.RUNNING, only_from=(JobState.STARTING,))


def await_return(backend: RunnerBackend, job_id: int, folder: JobFolder, state: dict) -> None:
    """Wait (``backend.return_seconds`` at most) for the machine that ran the job to send back
    the end of its log and /output: only if its container ran, and its machine is still there
    to send them."""
    if not state.get("Ran") or state.get("NodeLost"):
        return
    mark_awaited(folder)  # the node is told, should it have missed the container's end
    deadline = time.monotonic() + backend.return_seconds
    while not has_returned(folder):
        if time.monotonic() > deadline:
            folder.note(["its machine did not send back the end of its log and /output"])
            log.warning("job %s: its folder never came back from its machine", job_id)
            return
        threading.Event().wait(0.2)
