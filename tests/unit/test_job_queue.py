"""The queue is fair: one user's hundred jobs never delay another's first, and nobody runs
more than their share."""

from __future__ import annotations

from jobs.queue import Running, Shares, Waiting, start_fairly


def _run(queued, running, shares, refuse=()):
    started = []

    def start(job):
        if job.id in refuse:
            return False
        started.append(job.id)
        return True

    waits = start_fairly(queued, running, shares, start)
    return started, waits


def test_one_users_hundred_jobs_do_not_delay_anothers_first():
    queued = [Waiting(i, "alice", "cpu") for i in range(1, 101)] + [Waiting(101, "bob", "cpu")]
    started, _waits = _run(queued, [], Shares(total=3, per_user=10, per_user_machine={}))
    assert started == [1, 101, 2]


def test_nobody_runs_more_than_their_share_and_is_told_why():
    queued = [Waiting(i, "alice", "cpu") for i in (1, 2, 3)] + [Waiting(4, "bob", "gpu")]
    shares = Shares(total=16, per_user=2, per_user_machine={"gpu": 1})
    started, waits = _run(queued, [Running("bob", "gpu")], shares)
    assert started == [1, 2]
    assert waits == {
        3: "alice has 2 job(s) running, the most one user may run",
        4: "bob has 1 job(s) running on 'gpu', the most one user may run there",
    }


def test_a_job_that_cannot_start_now_does_not_hold_up_the_rest():
    queued = [Waiting(1, "alice", "gpu"), Waiting(2, "bob", "cpu")]
    started, _waits = _run(queued, [], Shares(total=4, per_user=4, per_user_machine={}), {1})
    assert started == [2]


def test_a_task_runs_at_most_its_parallel_jobs_and_others_go_on():
    task = [Waiting(i, "alice", "cpu", task=7, parallel=2) for i in (1, 2, 3, 4)]
    other = [Waiting(5, "alice", "cpu")]
    shares = Shares(total=16, per_user=10, per_user_machine={})
    started, waits = _run(task + other, [Running("alice", "cpu", task=7)], shares)
    assert started == [1, 5]  # one of the task's was running already: one more, then the rest
    assert waits == {
        2: "its task runs 2 job(s) at once, the most it asked for",
        3: "its task runs 2 job(s) at once, the most it asked for",
        4: "its task runs 2 job(s) at once, the most it asked for",
    }
