"""The house holds: every module in a room of ARCHITECTURE.md, imports only downwards, no cycle,
and the command line needing nothing on a laptop but what `pip install floe` brings.

The import graph is read from the source (every ``import``, also inside functions), not from
what happens to be loaded, so a lazy import cannot hide an upward one.
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

from tests.hub_process import REPO_ROOT

# Where first-party modules live: the repository, and the extension's own package root.
SOURCE_ROOTS = (REPO_ROOT, REPO_ROOT / "extensions" / "floe_jupyter")
SKIP_DIRS = {".venv", ".tools", "node_modules", "build", ".git", "lib", "labextension"}


def _modules() -> dict[str, Path]:
    found = {}
    for root in SOURCE_ROOTS:
        for path in root.rglob("*.py"):
            rel = path.relative_to(root)
            hidden = any(part.startswith(".") for part in rel.parts)
            if hidden or set(rel.parts) & SKIP_DIRS:
                continue
            if root == REPO_ROOT and rel.parts[0] == "extensions":
                continue  # read from the extension's own package root
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            if parts:
                found[".".join(parts)] = path
    return found


MODULES = _modules()
TOP_NAMES = {name.split(".")[0] for name in MODULES}


def _layers() -> tuple[dict[str, int], dict[str, str]]:
    """From ARCHITECTURE.md: each room's level, and the room each module prefix belongs to
    (a room is a module name, or ``name=prefix,prefix`` for several)."""
    text = (REPO_ROOT / "ARCHITECTURE.md").read_text()
    block = re.search(r"```layers\n(.*?)```", text, re.S).group(1)
    levels, rooms = {}, {}
    for number, line in enumerate(block.strip().splitlines(), 1):
        label, _, names = line.partition(":")
        assert int(label) == number, f"ARCHITECTURE.md layers out of order: {line}"
        for room in names.split():
            name, _, members = room.partition("=")
            levels[name] = number
            rooms.update({prefix: name for prefix in (members or name).split(",")})
    return levels, rooms


LEVEL, ROOM_OF_PREFIX = _layers()


def room_of(module: str) -> str | None:
    best = None
    for prefix in ROOM_OF_PREFIX:
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best or ""):
            best = prefix
    return ROOM_OF_PREFIX[best] if best else None


def _resolve(module: str, name: str) -> str | None:
    """The first-party module ``name`` names, seen from ``module``; None if not ours."""
    if name in MODULES:
        return name
    sibling = module.rpartition(".")[0] + "." + name  # scripts run with their folder on path
    if name.split(".")[0] not in TOP_NAMES and sibling in MODULES:
        return sibling
    parent = name
    while "." in parent:
        parent = parent.rpartition(".")[0]
        if parent in MODULES:
            return parent
    return None


def imports_of(module: str) -> Iterator[tuple[str, int]]:
    """``(name, line)`` of every import in ``module``, relative ones made absolute."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if full in MODULES else base), node.lineno


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for name, _line in imports_of(module):
            target = _resolve(module, name)
            if target and target != module:
                edges[module].add(target)
    return edges


def test_every_module_lives_in_a_room_of_the_architecture():
    homeless = sorted(m for m in MODULES if room_of(m) is None and not _is_bare_package(m))
    assert homeless == [], f"modules in no room of ARCHITECTURE.md: {homeless}"


def _is_bare_package(module: str) -> bool:
    """A package that only holds rooms (``floe``): it may import nothing."""
    return MODULES[module].name == "__init__.py" and not list(imports_of(module))


def test_imports_only_go_down_the_layers():
    wrong = []
    for module, targets in graph().items():
        here = room_of(module)
        for target in targets:
            there = room_of(target)
            if there is None or there == here or here is None:
                continue
            if LEVEL[there] >= LEVEL[here]:
                wrong.append(
                    f"{module} ({here}, level {LEVEL[here] + 1}) imports {target} "
                    f"({there}, level {LEVEL[there] + 1})"
                )
    assert wrong == [], "\n".join(sorted(wrong))


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_round_a_circle():
    assert _cycles(graph()) == []


def test_the_cycle_check_would_see_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _packages(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """The import graph between top-level folders (``floe``, ``jobs``, ...), tests and benchmarks
    aside (they may import anything)."""
    outer = {m.split(".")[0] for m in edges} - {"tests", "bench"}
    folded: dict[str, set[str]] = {name: set() for name in outer}
    for module, targets in edges.items():
        here = module.split(".")[0]
        if here in outer:
            folded[here] |= {t.split(".")[0] for t in targets} - {here}
    return folded


def test_no_top_level_folder_imports_itself_round_a_circle():
    assert _cycles(_packages(graph())) == []


def test_the_folder_cycle_check_would_see_one():
    edges = {"jobs.runner": {"floe.db.models"}, "floe.service.app": {"jobs.runner"}}
    assert _cycles(_packages(edges)) == [["floe", "jobs"]]


def test_each_top_level_folder_spans_neighbouring_levels_only():
    """No folder holds the foundation and the top at once: a folder's rooms (``jobs.container``,
    imported by nothing of Floe's, aside) sit on levels next to each other."""
    spread = {}
    for prefix, room in ROOM_OF_PREFIX.items():
        if room in LONE_ROOMS:
            continue
        spread.setdefault(prefix.split(".")[0], set()).add(LEVEL[room])
    wide = {folder: sorted(levels) for folder, levels in spread.items()
            if max(levels) - min(levels) > 2}  # fmt: skip
    assert wide == {}, f"folders holding rooms far apart: {wide}"


# What runs inside a job's container: mounted there, it imports nothing of Floe's, and only the
# jobs code it lives beside (and tests) imports it.
LONE_ROOMS = {"jobs.container"}


def test_a_lone_room_imports_nothing_and_only_its_folder_imports_it():
    edges = graph()
    for lone in LONE_ROOMS:
        inside = {m for m in edges if room_of(m) == lone}
        assert all(room_of(t) == lone for m in inside for t in edges[m]), lone
        folder = lone.split(".")[0]
        users = {m.split(".")[0] for m, ts in edges.items() if m not in inside and ts & inside}
        assert users <= {folder, "tests", "bench"}, (lone, users)


def _third_party_reached(start: str, edges: dict[str, set[str]]) -> dict[str, str]:
    """Every non-standard, non-first-party top-level module imported from ``start`` on,
    with one module that imports it."""
    seen, todo, found = set(), [start], {}
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(edges[module])
        for name, _line in imports_of(module):
            top = name.split(".")[0]
            if _resolve(module, name) is None and top not in sys.stdlib_module_names:
                found.setdefault(top, module)
    return found


def _laptop_modules() -> set[str]:
    """What `pip install floe` brings: the import names of the declared dependencies."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    wanted = {re.split(r"[<>=!~\[ ;]", d)[0].lower() for d in project["dependencies"]}
    return {
        module
        for module, dists in metadata.packages_distributions().items()
        if any(d.lower() in wanted for d in dists)
    }


def test_the_command_line_needs_only_what_pip_install_floe_brings():
    edges = graph()
    assert _third_party_reached("floe_cli.main", edges).keys() <= _laptop_modules()
    # The workspace extension runs in the workspace image beside Jupyter Server and tornado.
    extension = _third_party_reached("floe_jupyter.handlers", edges)
    assert extension.keys() <= _laptop_modules() | {"jupyter_server", "tornado"}, extension


def test_a_platform_import_in_the_command_line_would_be_caught(monkeypatch, tmp_path):
    assert "sqlalchemy" not in _third_party_reached("floe_cli.main", graph())
    patched = tmp_path / "api.py"
    patched.write_text(MODULES["floe.client.api"].read_text() + "\nimport sqlalchemy\n")
    monkeypatch.setitem(MODULES, "floe.client.api", patched)
    assert "sqlalchemy" in _third_party_reached("floe_cli.main", graph())
