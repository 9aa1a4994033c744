"""The image a job runs in: its environment's, plus the job's own floe_requirements.txt.

Each is built the first time anyone asks for it (the build's output in the job's log, the
job's reason saying so meanwhile) and reused ever after; a stopped job stops its build. What
made the image is kept with the job (``Job.provenance``). A re-run in the same environment runs
in the very image its job ran in while this node has it; once it is gone, the same steps are
built again on the environment's image of today.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session

from containers.catalog import Environment
from environments.builder import EnvironmentBuilder
from environments.images import Made, environment_image, step
from environments.requirements import FILE_NAME as REQUIREMENTS_FILE
from environments.requirements import read_requirements
from floe.core.job_states import JobState
from floe.db.models import Job

from .job_folder import JobFolder
from .records import set_state

# How often a building job's environment build looks whether the job was stopped.
STOP_CHECK_S = 2


def job_image(
    db: Session,
    job: Job,
    chain: list[Environment],
    code: Path,
    folder: JobFolder,
    builder: EnvironmentBuilder,
    image_id: Callable[[str], str | None],
) -> Made:
    """The image of the job's environment (``chain``: see ``environment_chain``), plus its
    code's floe_requirements.txt if it has one: each built the first time, reused ever after.
    ``image_id`` tells an image's id on the node the job runs on (None: not there)."""
    requirements = read_requirements(code)
    pinned = _pinned_image(job, image_id)
    if pinned is not None:
        folder.note([f"environment ready (the image {pinned.image} ran in; nothing installed)"])
        return pinned
    checked = [time.monotonic()]

    def cancelled() -> bool:
        if time.monotonic() - checked[0] < STOP_CHECK_S:
            return False
        checked[0] = time.monotonic()
        db.refresh(job)
        return bool(job.stop_requested_by)

    def say(line: str) -> None:
        folder.append(line + "\n")

    def note(line: str) -> None:
        folder.note([line])
        if line.startswith("building environment"):  # the job's page says so meanwhile
            set_state(db, job, JobState.STARTING, line, only_from=(JobState.STARTING,))

    made = environment_image(chain, builder, note, say, cancelled)
    if requirements is None:
        return made
    building = f"building environment: {job.environment} + {REQUIREMENTS_FILE}"
    built = builder.ensure(
        made.image, requirements, say=say, cancelled=cancelled, on_build=lambda: note(building)
    )
    if built.built:
        note(f"environment built in {built.seconds:.0f} s: {built.tag}")
    else:
        note(f"environment ready (built before, nothing installed): {built.tag}")
    made.steps.append(step(REQUIREMENTS_FILE, built.tag, built.image_id, requirements, built.key))
    made.image = built.tag
    return made


def _pinned_image(job: Job, image_id: Callable[[str], str | None]) -> Made | None:
    """A re-run's image: the one its job ran in (``image_digest`` copied at the re-run), if
    this node still has it."""
    if not (job.rerun_of and job.image_digest and job.provenance):
        return None
    if image_id(job.image_digest) != job.image_digest:
        return None
    return Made(job.image_digest, list(job.provenance))
