"""The image an environment runs in: its own, or one built from its base and requirements.

Workspaces (the hub), jobs and environments people make (the floe service) ask the same
question here: an environment with a ``base`` and requirements (a catalog entry, or a made one
like ``alice/nlp:2``) is built the first time anyone uses it (its progress said as it goes),
and found ever after. What made the image is told back step by step, from the first plain
image on, so a job can keep it (its provenance). A published one runs in the image an admin
approved, and in no other: if that image is gone, it is refused, never built again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from containers.catalog import Environment
from containers.stock import requirements_path
from environments.builder import LABEL_TEXT_MAX, EnvironmentBuilder
from environments.requirements import Requirements, parse_requirements
from floe.core.errors import Conflict
from floe.core.text import without_secrets

from .build_container import BuildFailed

Say = Callable[[str], None]
# How deep environments may build on each other (a made one on a made one on ...).
MAX_DEPTH = 16


class ApprovedImageGone(Conflict):
    """A published environment's approved image is no longer on this node."""


@dataclass
class Made:
    """An image and the steps that made it (``Job.provenance``)."""

    image: str
    steps: list[dict] = field(default_factory=list)


def environment_chain(
    environment: Environment, find: Callable[[str], Environment | None]
) -> list[Environment]:
    """``environment`` and what it is built on, the plain image's (or a published one's, whose
    image is what it is) environment first; ``find`` looks a base up by its name (a catalog
    slug or ``owner/name:N``)."""
    chain = [environment]
    while chain[0].built and not chain[0].approved_image_id:
        if len(chain) > MAX_DEPTH:
            raise BuildFailed(f"environment {environment.slug!r} builds on over {MAX_DEPTH} others")
        base = find(chain[0].base)
        if base is None:
            raise BuildFailed(
                f"environment {chain[0].slug!r} is built on {chain[0].base!r}, which is no "
                "longer offered"
            )
        chain.insert(0, base)
    return chain


def requirements_of(environment: Environment) -> Requirements:
    """What a built environment installs on its base."""
    if environment.requirements_text:
        return parse_requirements(
            environment.requirements_text, source=f"{environment.slug}'s requirements"
        )
    path = requirements_path(environment.requirements)
    return parse_requirements(path.read_text(encoding="utf-8"), code_dir=path.parent)


def approved_image(environment: Environment, builder: EnvironmentBuilder) -> str:
    """The id of a published environment's image, which this node must still have."""
    found = builder.image_id(environment.image)
    if found != environment.approved_image_id:
        raise ApprovedImageGone(
            f"the image an admin approved for {environment.slug} "
            f"({environment.approved_image_id[:19]}) is gone from this node, and it is not built "
            "again from its requirements (they may fetch other bytes now): an admin must "
            f"publish it again (`floe env publish {environment.slug}` once it is private and "
            "built again), or the deployer restores that image"
        )
    return found


def environment_image(
    chain: list[Environment],
    builder: EnvironmentBuilder,
    note: Say = lambda _line: None,
    say: Say = lambda _line: None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Made:
    """The image to run ``chain[-1]`` in (see :func:`environment_chain`), each step built now
    if it is its first use. ``note`` hears Floe's own lines (building, built), ``say`` the
    build's output."""
    root = chain[0]
    # A plain image's id is the caller's to tell (it inspects it anyway); one built on is
    # looked up here.
    if root.approved_image_id:
        root_id = approved_image(root, builder)
    else:
        root_id = builder.image_id(root.image) if len(chain) > 1 else ""
    made = Made(root.image, [step(root.slug, root.image, root_id)])
    for environment in chain[1:]:
        building = f"building environment {environment.slug} (its first use; later ones reuse it)"
        requirements = requirements_of(environment)
        built = builder.ensure(
            made.image,
            requirements,
            say=say,
            cancelled=cancelled,
            on_build=lambda line=building: note(line),
        )
        if built.built:
            note(f"environment {environment.slug} ready in {built.seconds:.0f} s: {built.tag}")
        made.image = built.tag
        made.steps.append(
            step(environment.slug, built.tag, built.image_id, requirements, built.key)
        )
    return made


def step(
    environment: str,
    image: str,
    image_id: str | None,
    requirements: Requirements | None = None,
    key: str = "",
) -> dict:
    """One line of provenance: which environment (or ``floe_requirements.txt``) made which
    image, from what."""
    made = {"environment": environment, "image": image, "id": image_id or ""}
    if requirements is not None:
        made["requirements"] = without_secrets(requirements.text)[:LABEL_TEXT_MAX]
        made["key"] = key
    return made


def environment_state(chain: list[Environment], builder: EnvironmentBuilder) -> dict:
    """Whether this node has the environment's image now (``on_node``; None: the engine could
    not say), its size and last use; nothing is built."""
    try:
        if chain[0].approved_image_id:
            approved_image(chain[0], builder)
        return builder.describe(chain[0].image, [requirements_of(e) for e in chain[1:]])
    except ApprovedImageGone:
        return {"on_node": False, "image": chain[-1].image, "size_bytes": None, "last_used": None}
    except Exception as err:  # the engine is away, a stock list unreadable: unknown, not a 500
        builder.log.warning("could not describe %s: %s", chain[-1].slug, err)
        return {"on_node": None, "image": "", "size_bytes": None, "last_used": None}
