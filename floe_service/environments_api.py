"""REST API for environments: the catalog's and those people make (``floe env ...``).

Making one queues its build (``environments.builds``); its state, size, last use and
build log are read here. Only an admin makes one public.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from containers.catalog import Catalog, Environment
from environments import custom as made
from environments.builder import EnvironmentBuilder
from environments.images import environment_chain, environment_state
from floe.core.access import Caller
from floe.core.locks import NamedLocks
from floe.core.refs import parse_number
from floe.core.text import without_secrets
from floe.db.models import ENV_READY, CustomEnvironment
from jobs.logs import read_from

from . import schemas
from .files import inert
from .handlers import APIHandler
from .operations import Route, operation

LOG_ANSWER_BYTES = 1024**2
# One make of a user's at a time: the check of builds in flight and the row it adds go together.
_making = NamedLocks()


def _time(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


def describe(
    db: Session,
    catalog: Catalog,
    builder: EnvironmentBuilder,
    environment: Environment,
    row: CustomEnvironment | None,
    prefix: str,
) -> dict:
    """One environment as the API shows it, with what this node has of its image."""
    ready = row is None or row.state == ENV_READY
    node = {"on_node": None, "image": environment.image, "size_bytes": None, "last_used": None}
    if ready:
        try:
            chain = environment_chain(environment, made.trusted_finder(db, catalog))
            node = environment_state(chain, builder)
        except Exception as err:  # what it was built on is gone: it cannot be told
            builder.log.warning("could not describe %s: %s", environment.slug, err)
    return {
        "name": environment.slug,
        "kind": "made" if row else "catalog",
        "display_name": environment.display_name,
        "description": environment.description,
        "owner": environment.owner,
        "version": row.number if row else None,
        "base": environment.base,
        # An index's token or password in a URL stays the owner's, also once it is public.
        "requirements": without_secrets(row.requirements) if row else None,
        "public": row.public if row else True,
        "state": row.state if row else ENV_READY,
        "reason": row.reason if row else "",
        "created": row.created if row else None,
        "image": node["image"] or environment.image,
        "on_node": node["on_node"],
        "size_bytes": node["size_bytes"],
        "last_used": _time(node["last_used"]),
        "url": f"{prefix}environments/{row.owner}/{row.name}/{row.number}" if row else None,
    }


def list_environments(
    sessions: object, catalog: Catalog, builder: EnvironmentBuilder, caller: Caller, prefix: str
) -> list[dict]:
    with sessions() as db:
        found = [
            describe(db, catalog, builder, e, None, prefix)
            for e in catalog.environments_for(caller)
        ]
        for row in made.visible_environments(db, caller):
            found.append(describe(db, catalog, builder, made.as_environment(row), row, prefix))
        return found


def make_environment(
    db: Session, caller: Caller, catalog: Catalog, body: dict
) -> CustomEnvironment:
    """Make (queue) an environment from the API's or the page's fields."""
    name = body.get("name")
    owner = name.split("/", 1)[0] if isinstance(name, str) and "/" in name else caller.name
    with _making.hold(owner):
        return made.create_environment(
            db,
            caller,
            catalog,
            name,
            body.get("from"),
            body.get("requirements"),
            body.get("description") or "",
        )


class EnvironmentAPIHandler(APIHandler):
    @property
    def builder(self) -> EnvironmentBuilder:
        return self.settings["builder"]

    def row(self, owner: str, name: str, number: str) -> CustomEnvironment:
        return made.get_environment(
            self.db(), self.caller, owner, name, parse_number(number, "the version")
        )

    def describe(self, row: CustomEnvironment) -> dict:
        catalog = self.settings["catalog"]
        environment = made.as_environment(row)
        return describe(self.db(), catalog, self.builder, environment, row, self.prefix)


class EnvironmentsHandler(EnvironmentAPIHandler):
    @operation(
        "Environments you may use: the catalog's and those people made, with their state, "
        "image size and last use on this node",
        response=list[schemas.EnvironmentInfo],
        errors=(),
    )
    async def get(self) -> None:
        self.release_db()
        catalog = self.settings["catalog"]
        found = await self.off_loop(
            list_environments, self.sessions, catalog, self.builder, self.caller, self.prefix
        )
        self.send(found, shape=list[schemas.EnvironmentInfo])

    @operation(
        "Make the next version of one of your environments (another plus requirements); "
        "its build starts now, its log at .../log",
        ok=202,
        body=schemas.NewEnvironment,
        response=schemas.EnvironmentInfo,
        errors=(400, 404, 409, 413, 429),
    )
    async def post(self) -> None:
        body = await self.body(schemas.NewEnvironment)
        await self.caller_in(body.name.split("/", 1)[0] if "/" in body.name else None)
        row = await self.off_loop(self._make, body)
        self.settings["builds"].start(row.id)
        self.send(await self.off_loop(self.describe, row), 202, shape=schemas.EnvironmentInfo)

    def _make(self, body: schemas.NewEnvironment) -> CustomEnvironment:
        return make_environment(
            self.db(), self.caller, self.settings["catalog"], body.model_dump(by_alias=True)
        )


class EnvironmentHandler(EnvironmentAPIHandler):
    @operation("One version of a made environment", response=schemas.EnvironmentInfo)
    async def get(self, owner: str, name: str, number: str) -> None:
        row = self.row(owner, name, number)
        self.send(await self.off_loop(self.describe, row), shape=schemas.EnvironmentInfo)


class PublicHandler(EnvironmentAPIHandler):
    @operation(
        "Make a made environment public (everyone may use it) or private again; admins only",
        body=schemas.EnvironmentPublic,
        response=schemas.EnvironmentInfo,
        errors=(400, 403, 404),
    )
    async def put(self, owner: str, name: str, number: str) -> None:
        body = await self.body(schemas.EnvironmentPublic)
        row = self.row(owner, name, number)
        made.set_public(self.db(), self.caller, row, body.public, self.builder)
        self.send(await self.off_loop(self.describe, row), shape=schemas.EnvironmentInfo)


class BuildLogHandler(EnvironmentAPIHandler):
    @operation(
        "The build's log so far, as text (from ?offset=, at most 1 MiB an answer)",
        query=schemas.BuildLogQuery,
        content="text/plain",
    )
    async def get(self, owner: str, name: str, number: str) -> None:
        offset = self.query(schemas.BuildLogQuery).offset
        row = self.row(owner, name, number)
        path = self.settings["builds"].log_path(row.id)
        self.release_db()
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        inert(self)  # what pip printed may hold anything
        self.finish(await self.off_loop(read_from, path, offset, LOG_ANSWER_BYTES))


ROUTES = [
    Route("/environments", EnvironmentsHandler),
    Route("/environments/{owner}/{name}/{number}", EnvironmentHandler),
    Route("/environments/{owner}/{name}/{number}/public", PublicHandler),
    Route("/environments/{owner}/{name}/{number}/log", BuildLogHandler),
]
