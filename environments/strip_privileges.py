"""Setuid and setgid bits and file capabilities removed from a whole filesystem: the last step
of every image Floe builds (``images/``) or commits (``environment_builder``).

A build runs pip as root, and a package's build backend could leave a setuid-root copy of
python behind; job code runs as uid 1000 and could then become root. ``python3
strip_privileges.py [ROOT]`` (ROOT: ``/``) stays on ROOT's filesystem, leaves out /proc, /sys
and /dev, says what it changed, and exits 1 naming what it could not change. Standard library
only, and old Pythons too: it runs inside the image being built.
"""

from __future__ import annotations

import errno
import os
import stat
import sys

CAPABILITY = "security.capability"
PRIVILEGE_BITS = stat.S_ISUID | stat.S_ISGID
LEFT_OUT = ("proc", "sys", "dev")


def _capability(path: str) -> bool:
    try:
        os.getxattr(path, CAPABILITY, follow_symlinks=False)
        return True
    except OSError as err:  # none, or a filesystem without extended attributes
        if err.errno in (errno.ENODATA, errno.ENOTSUP):
            return False
        raise


def _strip_one(path: str, info: os.stat_result, said: list[str]) -> None:
    if info.st_mode & PRIVILEGE_BITS:
        os.chmod(path, stat.S_IMODE(info.st_mode) & ~PRIVILEGE_BITS)
        said.append(f"removed setuid/setgid from {path}")
    if stat.S_ISREG(info.st_mode) and _capability(path):
        os.removexattr(path, CAPABILITY, follow_symlinks=False)
        said.append(f"removed file capabilities from {path}")


def strip(root: str = "/") -> tuple[list[str], list[str]]:
    """Strip every file and folder under ``root`` (symbolic links are not followed); returns
    what was changed and what could not be, one line each."""
    device = os.lstat(root).st_dev
    left_out = {os.path.join(root, name) for name in LEFT_OUT}
    said: list[str] = []
    failed: list[str] = []

    def unreadable(err: OSError) -> None:
        # A folder owned by another user that root without capabilities (an environment
        # build) may not list is one that build could not have written in either.
        try:
            foreign = os.lstat(err.filename).st_uid != os.geteuid()
        except OSError:
            foreign = False
        if not (foreign and err.errno == errno.EACCES):
            failed.append(f"cannot read {err.filename}: {err.strerror}")

    for folder, dirs, files in os.walk(root, onerror=unreadable):
        kept = []
        for name in dirs + files:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode):
                    continue
                if stat.S_ISDIR(info.st_mode) and (info.st_dev != device or path in left_out):
                    continue  # another filesystem (a mount), or the kernel's
                if stat.S_ISDIR(info.st_mode):
                    kept.append(name)
                _strip_one(path, info, said)
            except OSError as err:
                failed.append(f"cannot strip {path}: {err.strerror}")
        dirs[:] = [d for d in dirs if d in kept]
    return said, failed


def main() -> int:
    said, failed = strip(sys.argv[1] if len(sys.argv) > 1 else "/")
    # All on standard output, the failures last: the engine may reorder two streams' lines,
    # and a build's error shows the log's last lines.
    for line in said + failed:
        print(f"floe: {line}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
