"""The first program of every job container: run the job with all it prints going to the log.

The log is a file on the host (``/floe-job/log``), written as the program prints, so nothing is
lost when the floe service restarts while the job runs. It is the only copy: the engine keeps
none (``docker logs`` of a job container is empty), which halves the cost of every line.
The program writes into the file itself: the log is live, and nothing copies it on the way.
"""

from __future__ import annotations

import os
import subprocess
import sys

LOG = "/floe-job/log"
RUNNER = os.path.dirname(os.path.abspath(__file__))


def program() -> list[str]:
    if os.environ.get("FLOE_MODE") == "serve" and not os.environ.get("FLOE_COMMAND"):
        return [sys.executable, "-u", os.path.join(RUNNER, "serve_wsgi.py")]
    if os.environ.get("FLOE_JOB_KIND") == "notebook":
        name = os.environ["FLOE_NOTEBOOK"]
        return [
            sys.executable,
            os.path.join(RUNNER, "run_notebook.py"),
            os.path.join("/code", name),
            os.path.join("/output", name),
        ]
    return ["/bin/sh", "-c", os.environ["FLOE_COMMAND"]]


def run_into(log: object, argv: list[str], env: dict[str, str]) -> int:
    """Run ``argv`` with stdout and stderr appended straight to the log file: no copying
    process in between, so a line costs the program one write and nothing more."""
    return subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, env=env).returncode


def main() -> int:
    os.chdir("/code")
    env = dict(os.environ)
    with open(LOG, "ab", buffering=0) as log:
        code = run_into(log, program(), env)
    # A child killed by a signal: report it the way shells do (128 + signal).
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
