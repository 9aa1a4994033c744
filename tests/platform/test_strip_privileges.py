"""The last step of every image Floe builds: no setuid/setgid bit, no file capability left."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

from environments import strip_privileges
from environments.strip_privileges import CAPABILITY, strip

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="file capabilities are set by root")
# A Python another user may run (the test's own may sit in root's home).
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@needs_root
def test_setuid_setgid_and_capabilities_are_removed_and_nothing_else(tmp_path):
    root = tmp_path / "image"
    (root / "usr" / "bin").mkdir(parents=True)
    python = root / "usr" / "bin" / "python3"
    shutil.copy(sys.executable, python)
    os.chmod(python, 0o6755)  # what a hostile build backend would leave: setuid-root python
    ping = root / "usr" / "bin" / "ping"
    ping.write_bytes(b"#!/bin/sh\n")
    os.chmod(ping, 0o755)
    subprocess.run(["setcap", "cap_net_raw+ep", str(ping)], check=True)
    shared = root / "var" / "mail"
    shared.mkdir(parents=True)
    os.chmod(shared, 0o2775)
    plain = root / "usr" / "bin" / "tool"
    plain.write_text("#!/bin/sh\n")
    os.chmod(plain, 0o755)
    (root / "usr" / "bin" / "link").symlink_to("python3")
    # What the kernel serves is left alone (here a plain folder under the same name).
    kernel = root / "proc" / "self"
    kernel.mkdir(parents=True)
    os.chmod(kernel, 0o2755)

    said, failed = strip(str(root))

    assert failed == []
    assert _mode(python) == 0o755 and _mode(shared) == 0o775 and _mode(plain) == 0o755
    assert CAPABILITY not in os.listxattr(ping) and _mode(ping) == 0o755
    assert _mode(kernel) == 0o2755
    assert sorted(said) == sorted(
        [
            f"removed setuid/setgid from {python}",
            f"removed file capabilities from {ping}",
            f"removed setuid/setgid from {shared}",
        ]
    )
    # A second time there is nothing left to do.
    assert strip(str(root)) == ([], [])


def test_as_a_script_it_says_what_it_changed(tmp_path):
    mine = tmp_path / "tool"
    mine.write_text("x")
    os.chmod(mine, 0o4755)
    ran = subprocess.run(
        [sys.executable, strip_privileges.__file__, str(tmp_path)], capture_output=True, text=True
    )
    assert ran.returncode == 0 and f"removed setuid/setgid from {mine}" in ran.stdout, ran
    assert _mode(mine) == 0o755


@needs_root
@pytest.mark.skipif(SYSTEM_PYTHON is None, reason="no system python3 for uid 1000")
def test_what_it_may_not_change_fails_it_by_name():
    # Another user's setuid file: as uid 1000, without capabilities, it cannot be stripped.
    folder = tempfile.mkdtemp(prefix="floe-strip-")
    try:
        os.chmod(folder, 0o755)
        theirs = os.path.join(folder, "su")
        with open(theirs, "w") as out:
            out.write("x")
        os.chmod(theirs, 0o4755)
        script = shutil.copy(strip_privileges.__file__, folder)
        ran = subprocess.run(
            [SYSTEM_PYTHON, script, folder],
            capture_output=True,
            text=True,
            user=1000,
            group=1000,
            extra_groups=[],
        )
        assert ran.returncode == 1, ran
        assert ran.stdout.endswith(f"cannot strip {theirs}: Operation not permitted\n"), ran
        assert _mode(theirs) == 0o4755
    finally:
        shutil.rmtree(folder)
