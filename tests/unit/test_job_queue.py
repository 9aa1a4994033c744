"""The queue is fair: one user's hundred jobs never delay another's first, and nobody runs
more than their share."""

from __future__ import annotations

from jobs.queue import Running, Shares, TeamLimits, Waiting, start_fairly


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


def _gpu(i, owner, user="", gpus=1):
    return Waiting(i, owner, "gpu-1", user=user, gpus=gpus)


def test_a_team_at_its_gpu_share_waits_while_a_team_below_its_share_starts():
    # Two GPUs free of four; ml-lab runs 2 (its half), cv-lab 0 of its half. ml-lab's jobs
    # are older, yet cv-lab's start first.
    teams = {
        "ml-lab": TeamLimits(owed={"gpu-1": 2.0}),
        "cv-lab": TeamLimits(owed={"gpu-1": 2.0}),
    }
    shares = Shares(total=16, per_user=10, per_user_machine={}, teams=teams)
    running = [Running("ml-lab", "gpu-1", user="ann", gpus=1) for _ in range(2)]
    queued = [_gpu(1, "ml-lab", "ann"), _gpu(2, "ml-lab", "bob"), _gpu(3, "cv-lab", "cat")]
    free = [2]

    def start(job):
        if not free[0]:
            return False
        free[0] -= 1
        started.append(job.id)
        return True

    started: list[int] = []
    waits = start_fairly(queued, running, shares, start)
    assert started[0] == 3  # below its share: first, though the newest
    # The one GPU left goes to ml-lab (nothing stays idle), to bob: ann runs both of its two.
    # Job 1 found no GPU free: the runner says so (start's own reason).
    assert started == [3, 2]
    assert waits == {}


def test_teams_below_share_then_no_share_then_at_share():
    teams = {"a": TeamLimits(owed={"gpu-1": 1.0}), "b": TeamLimits(owed={"gpu-1": 1.0})}
    shares = Shares(total=16, per_user=10, per_user_machine={}, teams=teams)
    running = [Running("a", "gpu-1", user="ann", gpus=1)]  # a at its share, b below
    queued = [_gpu(1, "a", "ann"), _gpu(2, "solo"), _gpu(3, "b", "bob")]
    started, waits = _run(queued, running, shares)
    assert started == [3, 2, 1]
    assert waits == {}


def test_jobs_at_their_share_that_could_not_start_say_why():
    teams = {"a": TeamLimits(owed={"gpu-1": 1.0})}
    shares = Shares(total=2, per_user=10, per_user_machine={}, teams=teams)
    running = [Running("a", "gpu-1", user="ann", gpus=1), Running("x", "cpu")]
    started, waits = _run([_gpu(1, "a", "ann")], running, shares)
    assert started == []
    assert waits == {1: "team a runs its share of 'gpu-1'; teams below their share start first"}


def test_a_teams_own_limits_hold_its_jobs_and_say_why():
    teams = {"ml-lab": TeamLimits(max_running=2, max_gpus=3)}
    shares = Shares(total=16, per_user=10, per_user_machine={}, teams=teams)
    queued = [
        Waiting(1, "ml-lab", "cpu", user="ann"),
        Waiting(2, "ml-lab", "cpu", user="bob"),
        Waiting(3, "ml-lab", "cpu", user="cat"),
        Waiting(4, "ann", "cpu"),  # ann's own work is not the team's
    ]
    started, waits = _run(queued, [], shares)
    assert started == [1, 4, 2]
    assert waits == {
        3: "team ml-lab has 2 job(s) running, the most it may run at once (`floe team show ml-lab`)"
    }
    running = [Running("ml-lab", "gpu-2", user="ann", gpus=2)]
    started, waits = _run([_gpu(5, "ml-lab", "bob", gpus=2)], running, shares)
    assert started == []
    assert "uses 2 of the 3 GPU(s)" in waits[5]


def test_the_per_user_limit_counts_a_users_team_jobs_too():
    shares = Shares(total=16, per_user=2, per_user_machine={})
    queued = [Waiting(1, "ml-lab", "cpu", user="ann"), Waiting(2, "ann", "cpu")]
    running = [Running("cv-lab", "cpu", user="ann")]
    started, waits = _run(queued, running, shares)
    assert started == [1]
    assert waits == {2: "ann has 2 job(s) running, the most one user may run"}


def test_within_a_team_the_user_with_fewest_running_goes_first():
    shares = Shares(total=2, per_user=10, per_user_machine={})
    running = [Running("ml-lab", "cpu", user="ann")]
    queued = [Waiting(1, "ml-lab", "cpu", user="ann"), Waiting(2, "ml-lab", "cpu", user="bob")]
    started, _waits = _run(queued, running, shares)
    assert started == [2]
