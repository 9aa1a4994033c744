"""Environments people make: another environment plus requirements, named and versioned.

``floe env create nlp --from datascience -r requirements.txt`` makes ``alice/nlp:1``, the next
one ``alice/nlp:2``. Each version is private to its owner until an admin makes it public; its
image is built when it is made (``environment_builds``) and again on a later use if the cache
let it go. A name a user writes for an environment is looked up here for workspaces and jobs
alike: a catalog slug first (``datascience``), else ``[owner/]name[:N]`` (the latest built
version when ``:N`` is left out; ``owner`` left out means the caller). Publishing pins a version
to the image it has now: while public it runs in that image only, kept out of the cache's
pruning, and is never built again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from containers.catalog import Catalog, Environment
from environments.builder import EnvironmentBuilder
from environments.requirements import parse_requirements
from floe.core.access import ENVIRONMENT, Caller, can_read, namespace_for
from floe.core.errors import (
    Conflict,
    FloeUserError,
    Forbidden,
    InvalidRequest,
    NotFound,
    NotReady,
    TooManyRequests,
    UnknownEnvironment,
)
from floe.core.refs import ENVIRONMENT_EXAMPLES, EnvironmentRef, check_name
from floe.db.base import add_numbered
from floe.db.models import (
    ENV_BUILDING,
    ENV_FAILED,
    ENV_QUEUED,
    ENV_READY,
    CustomEnvironment,
    EnvironmentName,
)
from floe.db.sharing import readable

MAX_DESCRIPTION = 2000
# Builds one user may have waiting or running at once; each may take up to the build timeout.
BUILDS_PER_USER = 1
# Publishing changes the cache's list of kept images from the table: one change at a time, so
# that a list read before another's change is never written after it.
_publishing = threading.RLock()


def as_environment(row: CustomEnvironment) -> Environment:
    return Environment(
        slug=row.full_name,
        display_name=row.full_name,
        image=row.image,
        description=row.description,
        base=row.base,
        requirements_text=row.requirements,
        owner=row.owner,
        approved_image_id=row.image_id if row.public else "",
    )


def may_use(caller: Caller | None, row: CustomEnvironment) -> bool:
    """The owner (a team's members), whoever it is shared with, an admin, or anyone once it
    is public (``None``: Floe itself)."""
    return caller is None or can_read(caller, row)


def find_environment(
    db: Session, catalog: Catalog, name: object, caller: Caller | None
) -> Environment:
    """The environment ``name`` means to ``caller`` (``None``: Floe itself, looking up what
    it checked before), ready to use; a clear 4xx otherwise."""
    if not isinstance(name, str) or not name:
        raise UnknownEnvironment(f"name an environment, like {ENVIRONMENT_EXAMPLES}")
    found = catalog.environment_for(caller, name)  # a team's is unknown to non-members
    if found is not None:
        return found
    row = _version(db, catalog, name, caller)
    if row.state in (ENV_QUEUED, ENV_BUILDING):
        raise NotReady(
            f"{row.full_name} is still being built ({row.state}); `floe env logs "
            f"{row.full_name}` follows it"
        )
    if row.state == ENV_FAILED:
        raise NotReady(f"{row.full_name} did not build: {row.reason}")
    return as_environment(row)


def _version(db: Session, catalog: Catalog, name: str, caller: Caller | None) -> CustomEnvironment:
    ref = EnvironmentRef.parse(name, caller.name if caller else None)
    unknown = UnknownEnvironment(
        f"unknown environment {name!r}; valid environments: "
        f"{', '.join(e.slug for e in catalog.environments_for(caller))}, or one made with "
        "`floe env create` (see `floe env ls`)"
    )
    if ref.owner is None:
        raise unknown
    query = select(CustomEnvironment).where(
        CustomEnvironment.owner == ref.owner, CustomEnvironment.name == ref.name
    )
    if ref.version is not None:
        row = db.scalar(query.where(CustomEnvironment.number == ref.version))
    else:  # the latest that was built, or else the latest
        rows = list(db.scalars(query.order_by(CustomEnvironment.number.desc())))
        row = next((r for r in rows if r.state == ENV_READY), rows[0] if rows else None)
    if row is None or not may_use(caller, row):
        raise unknown  # another's private one is not told apart from none
    return row


def trusted_finder(db: Session, catalog: Catalog) -> Callable[[str], Environment | None]:
    """Looks up what an environment was built on, as Floe (it was checked when made)."""

    def find(name: str) -> Environment | None:
        try:
            return find_environment(db, catalog, name, None)
        except FloeUserError:
            return None

    return find


def visible_environments(db: Session, caller: Caller) -> list[CustomEnvironment]:
    """Made environments ``caller`` may use: their own, their teams', those shared with them,
    public ones (an admin: all)."""
    query = select(CustomEnvironment).order_by(
        CustomEnvironment.owner, CustomEnvironment.name, CustomEnvironment.number
    )
    query = query.where(
        readable(
            caller,
            ENVIRONMENT,
            CustomEnvironment.owner,
            CustomEnvironment.name,
            CustomEnvironment.public,
        )
    )
    return list(db.scalars(query))


def get_named_environment(db: Session, caller: Caller, owner: str, name: str) -> CustomEnvironment:
    """The latest version of ``owner/name`` that ``caller`` may use (what a share is of)."""
    rows = db.scalars(
        select(CustomEnvironment)
        .where(CustomEnvironment.owner == owner, CustomEnvironment.name == name)
        .order_by(CustomEnvironment.number.desc())
    )
    row = next((r for r in rows if may_use(caller, r)), None)
    if row is None:
        raise NotFound(f"no environment {owner}/{name}")
    return row


def usable_environments(db: Session, catalog: Catalog, caller: Caller) -> list[Environment]:
    """What a spawn form or Run-as-job dialog offers: the catalog's ``caller`` may use (a
    team's to its members), then made ones built."""
    made = [as_environment(r) for r in visible_environments(db, caller) if r.state == ENV_READY]
    return catalog.environments_for(caller) + made


def get_environment(
    db: Session, caller: Caller, owner: str, name: str, number: int
) -> CustomEnvironment:
    row = db.scalar(
        select(CustomEnvironment).where(
            CustomEnvironment.owner == owner,
            CustomEnvironment.name == name,
            CustomEnvironment.number == number,
        )
    )
    if row is None or not may_use(caller, row):
        raise NotFound(f"no environment {owner}/{name}:{number}")
    return row


def create_environment(
    db: Session,
    caller: Caller,
    catalog: Catalog,
    name: object,
    base: object,
    requirements: object,
    description: object = "",
) -> CustomEnvironment:
    """The next version of ``caller``'s environment ``name``: ``base`` (an environment they may
    use, pinned to its version now) plus ``requirements`` (pip's format; packages from the
    index or by URL). ``name`` may be a team's (``ml-lab/nlp``), for a member. Queued to
    build; the caller commits nothing, this does."""
    owner, name = _new_name(caller, name)
    if catalog.environment_for(caller, name) is not None:  # a team's: not told to others
        raise Conflict(f"{name!r} is one of the catalog's environments; pick another name")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise InvalidRequest(
            f"description: at most {MAX_DESCRIPTION} characters", field="description"
        )
    if not isinstance(requirements, str):
        raise InvalidRequest("requirements: a requirements file's text", field="requirements")
    parsed = parse_requirements(requirements, source="requirements")
    if not parsed.lines:
        raise InvalidRequest(
            "requirements: name at least one package, e.g. 'transformers==4.46.0'",
            field="requirements",
        )
    try:
        pinned = find_environment(db, catalog, base, caller).slug
    except (NotReady, UnknownEnvironment) as err:
        err.naming("from")
        raise
    building = db.scalar(
        select(func.count(CustomEnvironment.id)).where(
            CustomEnvironment.owner == owner,
            CustomEnvironment.state.in_((ENV_QUEUED, ENV_BUILDING)),
        )
    )
    if building >= BUILDS_PER_USER:
        raise TooManyRequests(
            f"one of {owner}'s environments is being built already; make this one once it "
            "is done (`floe env ls`)"
        )
    row = add_numbered(
        db,
        CustomEnvironment.number,
        (CustomEnvironment.owner == owner) & (CustomEnvironment.name == name),
        EnvironmentName.last_number,
        lambda: db.get(EnvironmentName, (owner, name)) or EnvironmentName(owner=owner, name=name),
        lambda number: CustomEnvironment(
            owner=owner,
            name=name,
            number=number,
            base=pinned,
            requirements=parsed.text,
            description=description,
            state=ENV_QUEUED,
        ),
        f"another version of {owner}/{name} was made at the same moment; try again",
    )
    db.commit()
    return row


def _new_name(caller: Caller, text: object) -> tuple[str, str]:
    """(owner, name) of a new environment's name: ``nlp``, or a team's ``ml-lab/nlp``."""
    owner = None
    if isinstance(text, str) and "/" in text:
        owner, text = text.split("/", 1)
    name = check_name(text, "environment name")
    return namespace_for(caller, owner), name


def set_public(
    db: Session, caller: Caller, row: CustomEnvironment, public: bool, builder: EnvironmentBuilder
) -> None:
    """Only an admin makes an environment public (or private again). Public, it is pinned to
    the image this node has of it now, which the cache then keeps."""
    if not caller.admin:
        raise Forbidden("only an admin makes an environment public or private")
    with _publishing:
        if public:
            if row.state != ENV_READY:
                raise NotReady(f"{row.full_name} is {row.state}; publish it once it is ready")
            image_id = builder.image_id(row.image)
            if image_id is None:
                raise Conflict(
                    f"{row.full_name}'s image {row.image} is not on this node any more, and "
                    "what is published must be an image that exists: make it private, use it "
                    "once so that it is built again from its requirements, check it, then "
                    "publish it"
                )
            row.image_id = image_id
        row.public = public
        db.commit()
        keep_published_images(db, builder)


def keep_published_images(db: Session, builder: EnvironmentBuilder) -> None:
    """Tell the cache the images of every public environment (the service, on publishing and
    when it starts)."""
    public = select(CustomEnvironment.image_id).where(CustomEnvironment.public)
    with _publishing:
        builder.cache.publish({i for i in db.scalars(public) if i})
