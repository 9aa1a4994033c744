"""The image a job runs in: its environment's, plus the job's own floe_requirements.txt.

Each is built the first time anyone asks for it (the build's output in the job's log, the
job's reason saying so meanwhile) and reused ever after; a stopped job stops its build.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy.orm import Session

from environments.requirements import FILE_NAME as REQUIREMENTS_FILE
from environments.requirements import read_requirements
from floe.db.models import STARTING, Job
from spawner.catalog import Catalog, Environment
from spawner.environment_builder import EnvironmentBuilder
from spawner.environment_images import environment_image

from .job_folder import JobFolder
from .records import set_state

# How often a building job's environment build looks whether the job was stopped.
STOP_CHECK_S = 2


def job_image(
    db: Session,
    job: Job,
    environment: Environment,
    code: Path,
    folder: JobFolder,
    catalog: Catalog,
    builder: EnvironmentBuilder,
) -> str:
    """The environment's image, or (code with a floe_requirements.txt) the image of the
    environment plus those requirements: each built the first time, reused ever after."""
    requirements = read_requirements(code)
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
            set_state(db, job, STARTING, line, only_from=(STARTING,))

    image = environment_image(catalog, environment, builder, note, say, cancelled)
    if requirements is None:
        return image
    building = f"building environment: {job.environment} + {REQUIREMENTS_FILE}"
    built = builder.ensure(
        image, requirements, say=say, cancelled=cancelled, on_build=lambda: note(building)
    )
    if built.built:
        note(f"environment built in {built.seconds:.0f} s: {built.tag}")
    else:
        note(f"environment ready (built before, nothing installed): {built.tag}")
    return built.tag
