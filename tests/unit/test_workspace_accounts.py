"""A workspace may be a newcomer's first act on a deleted user's name: the spawner claims the
name (``floe.db.accounts``) before it offers or uses anything kept under it."""

from __future__ import annotations

import asyncio
from datetime import datetime
from types import SimpleNamespace

import pytest
from jupyterhub.objects import Hub
from traitlets.config import Config

from floe.core.errors import UnknownEnvironment
from floe.db.models import ENV_READY, Account, CustomEnvironment
from spawner.workspace_spawner import WorkspaceSpawner

FIRST, NEXT = datetime(2026, 1, 2, 3, 4, 5), datetime(2026, 6, 7, 8, 9, 10)


def spawner(tmp_path, created: datetime) -> WorkspaceSpawner:
    c = Config()
    c.FloeDatabase.url = f"sqlite:///{tmp_path / 'floe.sqlite'}"
    user = SimpleNamespace(name="alice", id=1, url="/user/alice/", escaped_name="alice")
    user.created, user.admin = created, False
    return WorkspaceSpawner(config=c, user=user, hub=Hub())


@pytest.fixture
def first_alices_environment(tmp_path):
    with spawner(tmp_path, FIRST).database.sessions() as db:
        db.add(Account(name="alice", created="2026-01-02T03:04:05Z"))
        db.add(
            CustomEnvironment(
                owner="alice",
                name="nlp",
                number=1,
                base="datascience",
                requirements="tabulate==0.9.0\n",
                state=ENV_READY,
                image="floe/env:nlp",
            )
        )
        db.commit()


@pytest.mark.usefixtures("first_alices_environment")
def test_the_first_alice_is_offered_and_starts_her_workspace_in_her_environment(tmp_path):
    alice = spawner(tmp_path, FIRST)
    assert "alice/nlp:1" in asyncio.run(alice._render_options_form(alice))
    assert alice._find_environment("alice/nlp:1").image == "floe/env:nlp"


@pytest.mark.usefixtures("first_alices_environment")
def test_a_newcomer_named_alice_neither_sees_nor_starts_in_the_first_alices(tmp_path):
    newcomer = spawner(tmp_path, NEXT)
    form = asyncio.run(newcomer._render_options_form(newcomer))
    assert "alice/nlp:1" not in form
    with pytest.raises(UnknownEnvironment):
        newcomer._find_environment("alice/nlp:1")
    with newcomer.database.sessions() as db:
        (row,) = db.query(CustomEnvironment).all()
        assert row.owner == "alice~20260102030405"
