"""Run jupyterhub-idle-culler so that it stops as soon as the hub asks.

The hub stops its services with SIGINT, then SIGTERM. The culler starts with SIGINT ignored
and does not act on it, so every hub shutdown used to wait about 30 s for it.
"""

from __future__ import annotations

import signal
import sys

from jupyterhub_idle_culler import main


def _stop(signum: int, frame: object) -> None:
    sys.exit(0)  # the culler keeps no state: nothing to flush


if __name__ == "__main__":
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    main()
