"""What a test run left behind: processes, network namespaces, links, mounts, loop devices,
folders in /var/tmp, and Docker containers, networks and volumes of this machine, looked at
when the run begins and when it ends (``tests.leftover_check`` is the pytest side).

Several runs (and ``make run`` hubs) may share the machine, so what is new at the end is only
counted as this run's when it bears one of the run's marks: the run's variable in its
environment (every process the run starts inherits it), the run's temporary folder, or a
name the run :func:`claim`-ed (a hub's instance, an engine's namespace). The rest is new but
nobody's in particular: the run's own too when no other run was seen meanwhile.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Each run sets it to a token of its own; every process it starts inherits it.
RUN_VARIABLE = "FLOE_TEST_RUN"
_ANY_RUN = f"{RUN_VARIABLE}="

_claimed: set[str] = set()


def claim(name: str) -> str:
    """Note that this run makes things named after ``name`` (a hub's instance, an engine's
    namespace, a folder): what bears it at the end is this run's. Returns ``name``."""
    _claimed.add(name)
    return name


def claimed() -> frozenset[str]:
    return frozenset(_claimed)


@dataclass(frozen=True)
class Thing:
    """One thing found on the machine. ``key`` tells it from the others of its ``kind`` in
    both looks (a pid is paired with its start time: pids are reused); ``names`` is what may
    say who made it. A ``hidden`` thing (a process inside a container, a container's own
    mount) is reported only when it bears the run's marks: its container is reported. A
    process's ``parent`` is its parent's key ("" under init, where orphans go)."""

    kind: str
    key: str
    shown: str
    names: tuple[str, ...] = ()
    hidden: bool = False
    parent: str = ""


@dataclass(frozen=True)
class Leftovers:
    """What is new at the end: ``ours`` bears the run's marks (or is a process under this
    run's), ``unmarked`` bears none and nobody else's."""

    ours: tuple[Thing, ...] = ()
    unmarked: tuple[Thing, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.ours or self.unmarked)


def bears(thing: Thing, marks: Iterable[str]) -> bool:
    return any(mark in name for mark in marks for name in thing.names)


def _lineage(thing: Thing, by_key: dict[str, Thing], marks: list[str], old: set, own: set) -> str:
    """Whose a process is, by the processes above it: "ours" under this run's process or
    one bearing its marks, "elsewhere" under one that was there before (another session's
    shell: not a leftover of this run), "orphan" under init."""
    seen = set()
    parent = by_key.get(thing.parent)
    while parent is not None and parent.key not in seen:
        seen.add(parent.key)
        if parent.key in own or bears(parent, marks):
            return "ours"
        if ("process", parent.key) in old or bears(parent, [_ANY_RUN]):
            return "elsewhere"
        parent = by_key.get(parent.parent)
    return "orphan"


def left_behind(
    before: Iterable[Thing],
    after: Iterable[Thing],
    marks: Iterable[str],
    own: Iterable[str] = (),
) -> Leftovers:
    """What ``after`` holds that ``before`` did not. It is the run's when it bears one of
    ``marks`` (substrings of its names) or is a process under the run's own process (keys
    in ``own``) or under one bearing them. Of the rest, a process under another that was
    there before is someone else's, and so is what bears another run's variable; hidden
    things are left out; what remains is ``unmarked``."""
    marks, own = [m for m in marks if m], set(own)
    old = {(t.kind, t.key) for t in before}
    after = list(after)
    by_key = {t.key: t for t in after if t.kind == "process"}
    ours, unmarked = [], []
    for thing in after:
        if (thing.kind, thing.key) in old:
            continue
        whose = _lineage(thing, by_key, marks, old, own) if thing.kind == "process" else ""
        if bears(thing, marks) or whose == "ours":
            ours.append(thing)
        elif not (thing.hidden or whose == "elsewhere" or bears(thing, [_ANY_RUN])):
            unmarked.append(thing)
    return Leftovers(tuple(ours), tuple(unmarked))


# A process that is a test run or a hub of its own: pytest, jupyterhub, a benchmark.
_RUN = re.compile(r"(^|[ /])(pytest|py\.test|jupyterhub)( |$)|-m (pytest|bench\.)")


def other_runs(processes: Iterable[Thing], marks: Iterable[str], mine: set[str]) -> list[Thing]:
    """The processes among ``processes`` that are another test run or hub (or carry another
    run's variable): not bearing ``marks``, and not this run's own process or its
    ancestors (keys in ``mine``)."""
    marks = [m for m in marks if m]
    return [
        t
        for t in processes
        if t.kind == "process"
        and not t.hidden
        and t.key not in mine
        and not bears(t, marks)
        and (_RUN.search(t.shown) or bears(t, [_ANY_RUN]))
    ]


def describe(things: Iterable[Thing]) -> list[str]:
    return [f"{t.kind}: {t.shown}" for t in sorted(things, key=lambda t: (t.kind, t.shown))]


# --- looking at the machine ------------------------------------------------------------


def _read(path: str | Path, binary: bool = False) -> str | bytes:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return b"" if binary else ""
    return data if binary else data.decode(errors="replace")


def _stat_fields(pid: str) -> list[str]:
    """/proc/PID/stat past the command (which may hold spaces): state is [0], ppid [1]."""
    stat = _read(f"/proc/{pid}/stat")
    return stat[stat.rfind(")") + 2 :].split()


def process_key(pid: int | str) -> str:
    """The pid and its start time: a key that a reused pid does not match."""
    fields = _stat_fields(str(pid))
    return f"{pid}@{fields[19]}" if len(fields) > 19 else f"{pid}@?"


def ancestors(pid: int) -> set[str]:
    """Keys of ``pid`` and every process above it."""
    keys = set()
    while pid > 1:
        keys.add(process_key(pid))
        fields = _stat_fields(str(pid))
        pid = int(fields[1]) if len(fields) > 1 else 0
    return keys


# A container's shim (of this machine's engine) is hidden: its container is reported.
_SHIM, _OF_DOCKER = "containerd-shim", "-address /var/run/docker/"


def processes() -> list[Thing]:
    """Live processes, kernel threads and zombies left out (a zombie has ended)."""
    own_namespace = os.readlink("/proc/self/ns/pid")
    stats = {pid: _stat_fields(pid) for pid in filter(str.isdigit, os.listdir("/proc"))}
    started = {pid: fields[19] for pid, fields in stats.items() if len(fields) > 19}
    found = []
    for pid, fields in stats.items():
        if pid not in started or fields[0] in "ZX" or pid == "2" or fields[1] == "2":
            continue
        argv = _read(f"/proc/{pid}/cmdline", binary=True)
        if not argv:
            continue  # a kernel thread, or gone meanwhile
        cmdline = argv.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
        env = _read(f"/proc/{pid}/environ", binary=True).split(b"\0")
        run = [v.decode(errors="replace") for v in env if v.startswith(_ANY_RUN.encode())]
        try:
            inside = os.readlink(f"/proc/{pid}/ns/pid") != own_namespace
        except OSError:
            continue
        inside = inside or (_SHIM in cmdline and _OF_DOCKER in cmdline)
        ppid = fields[1]
        found.append(
            Thing(
                "process",
                f"{pid}@{started[pid]}",
                f"{pid} {cmdline[:300]}",
                (cmdline, _read(f"/proc/{pid}/cgroup"), *run),
                hidden=inside,
                parent=f"{ppid}@{started.get(ppid, '?')}" if ppid not in ("0", "1") else "",
            )
        )
    return found


def processes_naming(in_cmdline: str, in_environ: str = "") -> list[int]:
    """Pids of this pid namespace's processes (this one and its ancestors left out) whose
    command line holds ``in_cmdline`` or whose environment has the entry ``in_environ``."""
    own_namespace = os.readlink("/proc/self/ns/pid")
    mine = ancestors(os.getpid())
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/ns/pid") != own_namespace or not _alive(pid):
                continue
        except OSError:
            continue
        argv = _read(f"/proc/{pid}/cmdline", binary=True).replace(b"\0", b" ")
        env = _read(f"/proc/{pid}/environ", binary=True).split(b"\0")
        if (in_cmdline.encode() in argv or (in_environ and in_environ.encode() in env)) and (
            process_key(pid) not in mine
        ):
            found.append(int(pid))
    return found


def _alive(pid: int | str) -> bool:
    fields = _stat_fields(str(pid))
    return bool(fields) and fields[0] not in "ZX"


def end_processes(pids: Iterable[int], timeout: float = 10) -> None:
    """SIGTERM ``pids``, then SIGKILL those still there after ``timeout`` seconds."""
    keys = {pid: process_key(pid) for pid in pids}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in keys:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            keys = {p: k for p, k in keys.items() if _alive(p) and process_key(p) == k}
            if not keys:
                return
            time.sleep(0.1)


def network_things() -> list[Thing]:
    """Named network namespaces (``ip netns``) and this namespace's links."""
    found = []
    try:
        found += [Thing("network namespace", n, n, (n,)) for n in os.listdir("/run/netns")]
    except OSError:
        pass
    # A container's end of its network (veth…) is hidden: the container is reported.
    found += [
        Thing("link", n, n, (n,), hidden=n.startswith("veth")) for n in os.listdir("/sys/class/net")
    ]
    return found


# A container's own mounts (its root, its network namespace, its /dev/shm): the container
# is reported instead.
_DOCKERS_OWN = ("/var/lib/docker/", "/run/docker/", "/var/run/docker/")


def mounts() -> list[Thing]:
    found = []
    for line in _read("/proc/self/mountinfo").splitlines():
        fields = line.split()
        point = fields[4].replace("\\040", " ")
        source = fields[fields.index("-") + 2] if "-" in fields else ""
        found.append(
            Thing(
                "mount",
                f"{fields[0]} {point}",
                f"{point} ({source})",
                (point, source),
                hidden=point.startswith(_DOCKERS_OWN),
            )
        )
    return found


def loop_devices() -> list[Thing]:
    """Attached loop devices and their backing files."""
    found = []
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        device, file = backing.parent.parent.name, _read(backing).strip()
        found.append(Thing("loop device", f"{device}:{file}", f"/dev/{device} ({file})", (file,)))
    return found


def var_tmp() -> list[Thing]:
    """Folders and files in /var/tmp (engines' and PostgreSQL's roots)."""
    try:
        names = os.listdir("/var/tmp")
    except OSError:
        return []
    return [Thing("in /var/tmp", n, f"/var/tmp/{n}", (f"/var/tmp/{n}",)) for n in names]


def docker_things() -> list[Thing]:
    """The first engine's containers, networks and volumes; none if it does not answer."""
    import docker  # only here: a machine without Docker still runs the fast tier

    try:
        api = docker.from_env(timeout=30).api
        containers = api.containers(all=True)
        networks = api.networks()
        volumes = api.volumes().get("Volumes") or []
    except Exception:  # noqa: BLE001 - no engine here: nothing of it to compare
        return []
    found = []
    for c in containers:
        name = ",".join(n.lstrip("/") for n in c.get("Names") or [])
        sources = tuple(m.get("Source") or m.get("Name") or "" for m in c.get("Mounts") or [])
        labels = tuple((c.get("Labels") or {}).values())
        shown = f"{name} ({c.get('Image')}, {c.get('Status')})"
        found.append(Thing("container", c["Id"], shown, (name, *sources, *labels)))
    for n in networks:
        labels = tuple((n.get("Labels") or {}).values())
        found.append(Thing("docker network", n["Id"], n["Name"], (n["Name"], *labels)))
    for v in volumes:
        labels = tuple((v.get("Labels") or {}).values())
        found.append(Thing("docker volume", v["Name"], v["Name"], (v["Name"], *labels)))
    return found


def look() -> list[Thing]:
    """Everything this module knows to look at, as it is now."""
    return processes() + network_things() + mounts() + loop_devices() + var_tmp() + docker_things()
