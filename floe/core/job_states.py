"""A job's states in one place: their names, which of them are final, the order pages list
them in. The database, the API, the pages and the command line all read them from here."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """Where a job is in its life, in the order it goes through them. A member is the text
    itself (``JobState.RUNNING == "running"``): the values are what the database keeps and
    the API tells, so none may ever change."""

    CREATED = "created"
    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    COMPLETE = "complete"
    ERROR = "error"
    STOPPED = "stopped"


# The states a job never leaves (a task, whose state is one of its jobs', too).
FINISHED = frozenset({JobState.COMPLETE, JobState.ERROR, JobState.STOPPED})

# Jobs sorted by state: the live first, the busiest of them first; then the finished, those
# that went wrong before those that went well.
ORDER = (
    JobState.RUNNING,
    JobState.STARTING,
    JobState.QUEUED,
    JobState.CREATED,
    JobState.ERROR,
    JobState.STOPPED,
    JobState.COMPLETE,
)
