"""The image an environment runs in: its own, or one built from its base and requirements.

Workspaces (the hub) and jobs (the floe service) ask the same question here: a catalog entry
with ``base`` and ``requirements`` is built the first time anyone uses it (with its progress
said as it goes), and found ever after.
"""

from __future__ import annotations

from collections.abc import Callable

from environments.requirements import parse_requirements
from environments.stock import requirements_path

from .catalog import Catalog, Environment
from .environment_builder import BuildFailed, EnvironmentBuilder

Say = Callable[[str], None]


def environment_image(
    catalog: Catalog,
    environment: Environment,
    builder: EnvironmentBuilder,
    note: Say = lambda _line: None,
    say: Say = lambda _line: None,
    cancelled: Callable[[], bool] = lambda: False,
) -> str:
    """The image to run ``environment`` in, built now if it is its first use.

    ``note`` hears Floe's own lines (building, built), ``say`` the build's output.
    """
    if not environment.built:
        return environment.image
    base = catalog.environment_by_slug(environment.base)
    if base is None:
        raise BuildFailed(
            f"environment {environment.slug!r} is built on {environment.base!r}, "
            "which the catalog no longer has"
        )
    base_image = environment_image(catalog, base, builder, note, say, cancelled)
    path = requirements_path(environment.requirements)
    requirements = parse_requirements(path.read_text(encoding="utf-8"), code_dir=path.parent)
    building = f"building environment {environment.slug} (its first use; later ones reuse it)"
    built = builder.ensure(
        base_image, requirements, say=say, cancelled=cancelled, on_build=lambda: note(building)
    )
    if built.built:
        note(f"environment {environment.slug} ready in {built.seconds:.0f} s: {built.tag}")
    return built.tag
