"""Teams: what reading through teams costs a request (issue 29's benchmark).

A real hub with 2000 users. First every user owns 50 jobs of their own, no teams: the median
of ``GET /api/jobs?limit=50`` and of a job page, as one of them. Then the same 100,000 jobs
owned by 100 teams of 20 (hub groups, 50 jobs each member ran): the same calls as a member.
The ratio is the cost of teams (target <= 1.2). Also: how long one reading of the hub's groups
takes (the service does one every c.TeamDirectory.refresh_seconds, never per request), and
what a request pays for membership (a lookup in the last reading, and one query for shares).

``python -m bench.teams [--teams 100 --members 20 --jobs 50 --calls 60]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

import requests
from sqlalchemy import insert, text
from sqlalchemy.orm import sessionmaker

from bench.harness import save_report, scratch_hub
from floe.db.database import make_sessionmaker
from floe.db.models import Job, JobEvent, Project
from tests.hub_process import HubProcess

BATCH = 200


def median_ms(call: object, count: int) -> float:
    call()  # warm
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def make_users(hub: HubProcess, names: list[str]) -> None:
    for i in range(0, len(names), BATCH):
        resp = hub.api("POST", "/users", json={"usernames": names[i : i + BATCH]})
        assert resp.status_code == 201, resp.text


def fill(sessions: sessionmaker, owners: list[tuple[str, list[str]]], jobs_each: int) -> int:
    """A project ``cats`` per owner, each with ``jobs_each`` complete jobs per runner; the id
    of the newest job the first owner's first runner ran."""
    now = datetime.now(UTC)
    with sessions() as db:
        db.execute(text("DELETE FROM job_events"))
        db.execute(text("DELETE FROM jobs"))
        db.execute(text("DELETE FROM projects"))
        for owner, runners in owners:
            project = Project(owner=owner, name="cats", last_job_number=jobs_each * len(runners))
            db.add(project)
            db.flush()
            rows = [
                {
                    "project_id": project.id,
                    "number": n * len(runners) + k + 1,
                    "owner": owner,
                    "submitted_by": runner,
                    "kind": "command",
                    "command": "python train.py",
                    "environment": "python",
                    "machine": "cpu-small",
                    "datasets": [],
                    "parameters": {"lr": 0.1},
                    "state": "complete",
                    "created": now,
                    "started": now,
                    "finished": now,
                    "gpu_ids": [],
                }
                for n in range(jobs_each)
                for k, runner in enumerate(runners)
            ]
            db.execute(insert(Job), rows)
        db.commit()
        mine = db.scalar(
            text("SELECT MAX(id) FROM jobs WHERE submitted_by = :me"), {"me": owners[0][1][0]}
        )
        db.execute(
            insert(JobEvent), [{"job_id": mine, "state": "complete", "reason": "", "time": now}]
        )
        db.commit()
    return mine


def measure(hub: HubProcess, token: str, job_id: int, calls: int) -> dict:
    session = requests.Session()
    session.headers["Authorization"] = f"token {token}"
    base = f"{hub.url}/services/floe/"

    def listing() -> None:
        resp = session.get(base + "api/jobs", params={"limit": 50}, timeout=60)
        assert resp.status_code == 200 and len(resp.json()) == 50, resp.text[:300]

    def page() -> None:
        resp = session.get(base + f"jobs/{job_id}", timeout=60)
        assert resp.status_code == 200, resp.status_code

    return {"api_jobs_ms": median_ms(listing, calls), "job_page_ms": median_ms(page, calls)}


def main() -> None:
    parser = argparse.ArgumentParser(description="the cost of teams per request")
    parser.add_argument("--teams", type=int, default=100)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=50, help="jobs per member")
    parser.add_argument("--calls", type=int, default=60)
    args = parser.parse_args()
    report: dict = {"teams": args.teams, "members": args.members, "jobs_each": args.jobs}
    with scratch_hub("teams") as (hub, _work):
        hub.start()
        users = [f"u{t:03d}m{m:02d}" for t in range(args.teams) for m in range(args.members)]
        make_users(hub, users)
        me = users[0]
        token = hub.api("POST", f"/users/{me}/tokens", json={"note": "bench"}).json()["token"]
        sessions = make_sessionmaker(f"sqlite:///{hub.data_dir / 'floe.sqlite'}")

        job = fill(sessions, [(u, [u]) for u in users], args.jobs)
        report["no_teams"] = measure(hub, token, job, args.calls)

        teams = [f"lab{t:03d}" for t in range(args.teams)]
        for t, team in enumerate(teams):
            members = users[t * args.members : (t + 1) * args.members]
            resp = hub.api("POST", f"/groups/{team}", json={"users": members})
            assert resp.status_code == 201, resp.text
        size = args.members
        owners = [(team, users[t * size : (t + 1) * size]) for t, team in enumerate(teams)]
        job = fill(sessions, owners, args.jobs)
        # The service sees the groups at its next reading (c.TeamDirectory.refresh_seconds).
        deadline = time.monotonic() + 120
        while hub.floe("GET", f"jobs/{job}", token).status_code != 200:
            assert time.monotonic() < deadline, "the team's jobs never became visible"
            time.sleep(1)
        report["teams_of_20"] = measure(hub, token, job, args.calls)

        admin = requests.Session()
        admin.headers["Authorization"] = f"token {hub.admin_token}"
        admin.headers["Accept"] = "application/jupyterhub-pagination+json"
        report["hub_groups_read_ms"] = median_ms(
            lambda: admin.get(f"{hub.url}/hub/api/groups", params={"limit": 200}, timeout=60),
            10,
        )
    base, teams_ = report["no_teams"], report["teams_of_20"]
    for key in ("api_jobs_ms", "job_page_ms"):
        report[key.replace("_ms", "_ratio")] = teams_[key] / base[key]
    save_report("teams", report)
    print(
        f"GET /api/jobs?limit=50: {teams_['api_jobs_ms']:.1f} ms with {args.teams} teams x "
        f"{args.members} members x {args.jobs} jobs vs {base['api_jobs_ms']:.1f} ms with no "
        f"teams, ratio {report['api_jobs_ratio']:.2f} (target <= 1.2)\n"
        f"job page: {teams_['job_page_ms']:.1f} ms vs {base['job_page_ms']:.1f} ms, ratio "
        f"{report['job_page_ratio']:.2f} (target <= 1.2)\n"
        f"membership: read from the hub every c.TeamDirectory.refresh_seconds (20 s), one "
        f"reading of {args.teams} groups {report['hub_groups_read_ms']:.1f} ms; a request "
        "looks its caller up in the last reading",
        flush=True,
    )


if __name__ == "__main__":
    main()
