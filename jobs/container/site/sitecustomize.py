"""Loaded by every Python program of a job (``PYTHONPATH`` points here): what it prints reaches
the log within ``FLOE_FLUSH_SECONDS`` while stdout keeps Python's own block buffering.

``PYTHONUNBUFFERED=1`` would make every ``print`` a system call (a job printing a million
lines runs seconds slower); a flush every half second costs nothing and is just as live.
A ``sitecustomize`` the image itself has is run afterwards, as if ours were not there.
"""

from __future__ import annotations

import importlib.util
import io
import os
import sys
import threading


def _flush_stdout_every(seconds: float) -> None:
    stop = threading.Event()
    while not stop.wait(seconds):
        stream = sys.stdout
        # Only Python's own file streams: a kernel's replacement stdout flushes itself.
        if isinstance(stream, io.TextIOWrapper):
            try:
                stream.flush()
            except (OSError, ValueError):
                return  # closed: the program is ending


def _run_the_images_own() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    for folder in sys.path:
        if not folder or os.path.abspath(folder) == here:
            continue
        candidate = os.path.join(folder, "sitecustomize.py")
        if os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location("_image_sitecustomize", candidate)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return


_seconds = float(os.environ.get("FLOE_FLUSH_SECONDS") or 0)
if _seconds > 0 and isinstance(sys.stdout, io.TextIOWrapper):
    threading.Thread(target=_flush_stdout_every, args=(_seconds,), daemon=True).start()
_run_the_images_own()
