"""Job benchmarks against a real hub, each beside ``docker run`` of the same image (the floor).

``python -m bench.jobs [--jobs 10] [--burst 20] [--lines 1000000]``

(1) Run-as-job (API submit) -> container running, and -> the first cell's output in the log,
    medians over N notebook jobs; floors: ``docker run -d`` returning (container running) and
    ``docker run`` of the same notebook with the same runner printing its first output.
(2) 20 jobs submitted at once: all complete, every log line and output file there.
(3) A job printing 1M lines: wall time with Floe's log capture ÷ the same container run bare.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import threading
import time
from pathlib import Path

from bench.harness import save_report, scratch_hub
from containers.catalog import WORKSPACE_IMAGE
from floe.client.api import FloeClient
from jobs.job_container import RUNNER_DIR
from tests.notebooks import notebook

FIRST = "first-output-marker"
NOTEBOOK = notebook(f"print('{FIRST}')")


def wait_state(client: FloeClient, job_id: int, states: set[str], timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.job(job_id)
        if job["state"] in states:
            return job
        time.sleep(0.02)
    raise TimeoutError(f"job {job_id} not in {states}")


def submit_and_time(client: FloeClient) -> tuple[float, float]:
    """Seconds from submit to 'running' and to the first output line in the followed log."""
    started = time.perf_counter()
    job = client.submit_job(
        {"project": "bench", "kind": "notebook", "name": "first.ipynb", "notebook": NOTEBOOK}
    )
    running: list[float] = []

    def watch_state() -> None:
        wait_state(client, job["id"], {"running", "complete", "error"})
        running.append(time.perf_counter() - started)

    watcher = threading.Thread(target=watch_state)
    watcher.start()
    resp = client.request("GET", f"jobs/{job['id']}/logs", params={"follow": 1}, stream=True)
    text, first = "", None
    for chunk in resp.iter_content(None):
        text += chunk.decode()
        if first is None and FIRST in text:
            first = time.perf_counter() - started
    watcher.join()
    done = wait_state(client, job["id"], {"complete", "error"})
    if done["state"] != "complete" or first is None:
        raise RuntimeError(f"benchmark job failed: {done['reason']}\n{text}")
    return running[0], first


def floor_running() -> float:
    started = time.perf_counter()
    cid = subprocess.run(
        ["docker", "run", "-d", WORKSPACE_IMAGE, "true"], capture_output=True, text=True, check=True
    ).stdout.strip()
    seconds = time.perf_counter() - started
    subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
    return seconds


def floor_first_output(work: Path) -> float:
    """``docker run`` of the same notebook with the same runner, to its first output line."""
    code = work / "code"
    code.mkdir(exist_ok=True)
    (code / "first.ipynb").write_text(json.dumps(NOTEBOOK))
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            "docker",
            "run",
            "--rm",
            "-v",
            f"{code}:/code:ro",
            "-v",
            f"{RUNNER_DIR}:/opt/r:ro",
            "-e",
            "PYTHONUNBUFFERED=1",
            WORKSPACE_IMAGE,
            "python3",
            "/opt/r/run_notebook.py",
            "/code/first.ipynb",
            "/tmp/out.ipynb",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    first = None
    for line in proc.stdout:
        if first is None and FIRST in line:
            first = time.perf_counter() - started
    proc.wait()
    return first


def burst(client: FloeClient, count: int) -> dict:
    lines = 1000
    command = f"for i in $(seq 1 {lines}); do echo line $i; done; echo ok > /output/done.txt"
    started = time.perf_counter()
    submitted = []
    threads = [
        threading.Thread(
            target=lambda: submitted.append(
                client.submit_job({"project": "burst", "kind": "command", "command": command})
            )
        )
        for _ in range(count)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    finished = [wait_state(client, j["id"], {"complete", "error", "stopped"}) for j in submitted]
    wall = time.perf_counter() - started
    complete = whole = 0
    for job in finished:
        complete += job["state"] == "complete"
        log = client.request("GET", f"jobs/{job['id']}/logs").text.splitlines()
        outputs = {f["path"] for f in client.output(job["id"])["files"]}
        whole += log == [f"line {i}" for i in range(1, lines + 1)] and outputs == {"done.txt"}
    return {"jobs": count, "complete": complete, "whole": whole, "wall_s": wall}


def bare_run(command: list[str], env: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["docker", "run", "--rm", *env, WORKSPACE_IMAGE, *command],
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - started


def million_lines(client: FloeClient, lines: int) -> dict:
    """Floe's job vs ``docker run`` of the same command, bare and with PYTHONUNBUFFERED=1
    (what a live log would cost without Floe's periodic flush)."""
    program = f"for i in range({lines}): print(i)"
    command = ["python3", "-c", program]
    bare = [bare_run(command, []) for _ in range(3)]
    unbuffered = [bare_run(command, ["-e", "PYTHONUNBUFFERED=1"]) for _ in range(3)]
    floe = []
    for _ in range(3):
        started = time.perf_counter()
        job = client.submit_job(
            {"project": "lines", "kind": "command", "command": f"python3 -c '{program}'"}
        )
        job = wait_state(client, job["id"], {"complete", "error"})
        floe.append(time.perf_counter() - started)
        log = client.request("GET", f"jobs/{job['id']}/logs").content
        kept = log.count(b"\n")
        if job["state"] != "complete" or kept != lines:
            raise RuntimeError(f"lost lines: {kept} of {lines} kept")
    return {
        "lines": lines,
        "bare_s": statistics.median(bare),
        "bare_unbuffered_s": statistics.median(unbuffered),
        "floe_s": statistics.median(floe),
        "ratio": statistics.median(floe) / statistics.median(bare),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="job benchmarks")
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--parts", default="1,2,3", help="which measurements, e.g. 3")
    parser.add_argument(
        "--buffered",
        action="store_true",
        help="run jobs with c.JobRunner.python_flush_seconds = 0 (Python's own buffering)",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    report: dict = {}
    # One user submits everything here: let them use the whole node, as before shares existed.
    local_config = "c.JobLimits.max_running_per_user = 16\n"
    if args.buffered:
        local_config += "c.JobRunner.python_flush_seconds = 0\n"
    with scratch_hub("jobs", local_config) as (hub, work):
        hub.start()
        client = FloeClient(hub.url, hub.admin_token)
        if "1" in parts:
            startup(client, args.jobs, work, report)
        if "2" in parts:
            report["burst"] = burst(client, args.burst)
            b = report["burst"]
            print(
                f"(2) {b['jobs']} jobs at once: {b['complete']} complete, {b['whole']} with "
                f"every log line and output file, all done in {b['wall_s']:.1f} s",
                flush=True,
            )
        if "3" in parts:
            report["lines"] = million_lines(client, args.lines)
            m = report["lines"]
            print(
                f"(3) {m['lines']} log lines, median of 3: Floe job {m['floe_s']:.2f} s (submit "
                f"to complete, every line kept) vs docker run {m['bare_s']:.2f} s, ratio "
                f"{m['ratio']:.3f} (target <= 1.10); docker run with PYTHONUNBUFFERED=1 (live "
                f"output without Floe) {m['bare_unbuffered_s']:.2f} s",
                flush=True,
            )
    save_report("jobs", report)


def startup(client: FloeClient, count: int, work: Path, report: dict) -> None:
    """(1): submit -> running and -> first output, beside their docker run floors."""
    submit_and_time(client)  # warm: the kernel's first start reads the image from disk
    running, first, floors_running, floors_first = [], [], [], []
    for _ in range(count):
        r, f = submit_and_time(client)
        running.append(r)
        first.append(f)
        floors_running.append(floor_running())
        floors_first.append(floor_first_output(work))
    report["running_s"] = statistics.median(running)
    report["first_output_s"] = statistics.median(first)
    report["floor_running_s"] = statistics.median(floors_running)
    report["floor_first_output_s"] = statistics.median(floors_first)
    print(
        f"(1) median of {count}: submit -> running {report['running_s']:.2f} s "
        f"(target <= 1.5; docker run -d {report['floor_running_s']:.2f} s, ratio "
        f"{report['running_s'] / report['floor_running_s']:.2f}); submit -> first cell "
        f"output {report['first_output_s']:.2f} s (target <= 3; docker run of the same "
        f"notebook {report['floor_first_output_s']:.2f} s, ratio "
        f"{report['first_output_s'] / report['floor_first_output_s']:.2f})",
        flush=True,
    )


if __name__ == "__main__":
    main()
