"""Shares in the database, and the access rules of ``floe.core.access`` as SQL.

A list (``GET /api/jobs``, the datasets page, the spawn form) must show exactly what
``can_read`` would allow, row by row, without reading every row: :func:`readable` is that
rule as a WHERE clause. A caller's shares are loaded once per request (:func:`with_shares`),
one indexed query, so every later check is a set lookup.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, delete, false, or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from floe.core.access import SHARE_KINDS, Caller, can_manage, can_read
from floe.core.errors import Forbidden, InvalidRequest, NotFound

from .models import Share


def with_shares(db: Session, caller: Caller) -> Caller:
    """``caller`` with what is shared with them or with a team of theirs."""
    rows = db.execute(
        select(Share.kind, Share.owner, Share.name).where(Share.grantee.in_(caller.owners))
    )
    return caller.with_shared({(kind, owner, name) for kind, owner, name in rows})


def shared_names(caller: Caller, kind: str) -> list[tuple[str, str]]:
    return sorted((owner, name) for k, owner, name in caller.shared if k == kind)


def readable(
    caller: Caller,
    kind: str,
    owner: ColumnElement,
    name: ColumnElement,
    public: ColumnElement | None = None,
) -> ColumnElement:
    """``can_read`` as SQL, for rows whose owner and share name are the columns given (a job's
    share name is its project's name: join Project). Admins read everything."""
    if caller.admin:
        return ~false()
    terms = [owner.in_(sorted(caller.owners))]
    if public is not None:
        terms.append(public)
    pairs = shared_names(caller, kind)
    if pairs:
        terms.append(tuple_(owner, name).in_(pairs))
    return or_(*terms)


def shares_of(db: Session, kind: str, owner: str, name: str) -> list[Share]:
    """Who ``owner/name`` is shared with, by name."""
    return list(
        db.scalars(
            select(Share)
            .where(Share.kind == kind, Share.owner == owner, Share.name == name)
            .order_by(Share.grantee)
        )
    )


def share(db: Session, caller: Caller, thing: object, grantee: str) -> Share:
    """Share ``thing`` (a Dataset, Project or CustomEnvironment row) read-only with ``grantee``,
    a user or a team the caller has checked exists. Sharing again is no change."""
    kind, owner, name = _key(caller, thing)
    if grantee == owner:
        raise InvalidRequest(f"{owner}/{name} is {owner}'s already; share it with someone else")
    row = db.get(Share, (kind, owner, name, grantee))
    if row is not None:
        return row
    row = Share(kind=kind, owner=owner, name=name, grantee=grantee, created_by=caller.name)
    db.add(row)
    try:
        db.commit()
    except IntegrityError:  # the same share made at the same moment
        db.rollback()
        row = db.get(Share, (kind, owner, name, grantee))
    return row


def unshare(db: Session, caller: Caller, thing: object, grantee: str) -> None:
    """Stop sharing ``thing`` with ``grantee``; NotFound if it was not shared with them."""
    kind, owner, name = _key(caller, thing)
    gone = db.execute(
        delete(Share).where(
            Share.kind == kind, Share.owner == owner, Share.name == name, Share.grantee == grantee
        )
    ).rowcount
    db.commit()
    if not gone:
        raise NotFound(f"{owner}/{name} is not shared with {grantee}")


def drop_shares(db: Session, kind: str, owner: str, name: str) -> None:
    """Forget every share of a thing being deleted (a new thing of the same name starts
    shared with nobody). The caller commits."""
    db.execute(delete(Share).where(Share.kind == kind, Share.owner == owner, Share.name == name))


def check_may_share(caller: Caller, thing: object) -> None:
    """Forbidden (NotFound to one who may not read it) unless ``caller`` manages ``thing``."""
    _key(caller, thing)


def _key(caller: Caller, thing: object) -> tuple[str, str, str]:
    kind = getattr(thing, "share_kind", None)
    if kind not in SHARE_KINDS:
        raise InvalidRequest("only datasets, projects and environments may be shared")
    if not can_manage(caller, thing):
        what = f"{thing.owner}/{thing.share_name}"
        if can_read(caller, thing):
            raise Forbidden(f"only {thing.owner}'s maintainers (or an admin) may share {what}")
        raise NotFound(f"no {kind} {what}")
    return kind, thing.owner, thing.share_name
