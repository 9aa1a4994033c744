"""How much of a node one user may take: jobs running and waiting, how long a job may run,
how many metric lines it keeps. One configurable, ``c.JobLimits``, read by the runner and
by submitting; a user past a limit is told which, and what to do."""

from __future__ import annotations

from traitlets import Dict, Integer, TraitError, validate
from traitlets.config import LoggingConfigurable

from floe.trees.tree import MAX_ENTRIES

from .queue import Shares


class JobLimits(LoggingConfigurable):
    """Quotas and limits of jobs on this node."""

    max_running = Integer(
        16,
        config=True,
        help="Jobs that may run at once on this node; more wait in the 'queued' state.",
    )
    max_running_per_user = Integer(
        4,
        config=True,
        help="""Jobs one user may run at once; their others wait, and other users' jobs start
        first (the queue is fair between users).""",
    )
    max_running_per_machine = Dict(
        value_trait=Integer(),
        default_value={},
        config=True,
        help="""Jobs one user may run at once on a machine type, by its slug, e.g.
        {"gpu-1": 1}; within max_running_per_user.""",
    )
    max_queued_per_user = Integer(
        200,
        config=True,
        help="Jobs one user may have waiting at once; a submit past it is refused (429).",
    )
    max_task_jobs = Integer(
        100,
        config=True,
        help="""Jobs one task (a sweep over parameters) may hold: a larger grid is refused,
        and the submitter told to sample it (floe run --random N).""",
    )
    default_max_runtime = Integer(
        24 * 3600,
        config=True,
        help="""Seconds a job may run when it does not say (floe run --max-runtime); then Floe
        stops it, and its history says why.""",
    )
    max_runtime_ceiling = Integer(
        7 * 24 * 3600,
        config=True,
        help="The longest maximum runtime a job may ask for, in seconds.",
    )
    max_metric_lines = Integer(
        100_000,
        config=True,
        help="""Metric lines kept per job; later ones stay in the log but are not charted
        (the job's page charts at most a few hundred points of them anyway).""",
    )

    max_output_bytes = Integer(
        20 * 1024**3,
        config=True,
        help="""Bytes of /output a job keeps; a job whose /output grows past it is stopped, and
        what does not fit is listed in its log, not kept.""",
    )
    max_output_files = Integer(
        100_000,
        config=True,
        help="""Files and folders of /output a job keeps; a job whose /output holds more is
        stopped, and what is past it is not kept (the log says from where). At most
        1,000,000, the most one tree holds.""",
    )
    max_log_bytes = Integer(
        1024**3,
        config=True,
        help="Bytes a job's log may grow to; past it the job is stopped.",
    )

    @validate("max_output_files")
    def _check_output_files(self, proposal: dict) -> int:
        if not 1 <= proposal["value"] <= MAX_ENTRIES:
            raise TraitError(f"JobLimits.max_output_files: from 1 to {MAX_ENTRIES:,}")
        return proposal["value"]

    @property
    def shares(self) -> Shares:
        return Shares(self.max_running, self.max_running_per_user, self.max_running_per_machine)
