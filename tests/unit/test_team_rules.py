"""The access rules with teams and shares, and teams as read from hub groups: pure functions."""

from __future__ import annotations

from dataclasses import dataclass

from floe.core.access import DATASET, PROJECT, Caller, can_manage, can_read, can_stop, can_write
from floe.core.teams import Directory, Team, memberships, team_name_problem


@dataclass
class Thing:
    owner: str
    share_name: str = "mnist"
    share_kind: str = DATASET
    public: bool = False
    submitted_by: str = ""


OWNER = Caller("alice")
MEMBER = Caller("bob", teams=frozenset({"ml-lab"}))
MAINTAINER = Caller("carol", teams=frozenset({"ml-lab"}), maintains=frozenset({"ml-lab"}))
SHARED = Caller("dave").with_shared({(DATASET, "ml-lab", "mnist"), (DATASET, "alice", "mnist")})
TEAM_SHARED = Caller("erin", teams=frozenset({"nlp"})).with_shared({(DATASET, "ml-lab", "mnist")})
STRANGER = Caller("mallory", teams=frozenset({"other"}))
ADMIN = Caller("root", admin=True)


def test_a_team_thing_is_read_and_added_to_by_members_and_managed_by_maintainers():
    thing = Thing("ml-lab")
    rules = {
        "member": (MEMBER, True, True, False),
        "maintainer": (MAINTAINER, True, True, True),
        "shared with them": (SHARED, True, False, False),
        "shared with their team": (TEAM_SHARED, True, False, False),
        "stranger": (STRANGER, False, False, False),
        "admin": (ADMIN, True, True, True),
        "a user, not the team": (OWNER, False, False, False),
    }
    for who, (caller, read, write, manage) in rules.items():
        assert can_read(caller, thing) is read, who
        assert can_write(caller, thing) is write, who
        assert can_manage(caller, thing) is manage, who


def test_a_share_is_of_one_kind_and_name_only():
    assert not can_read(SHARED, Thing("ml-lab", share_name="cifar"))
    assert not can_read(SHARED, Thing("ml-lab", share_kind=PROJECT))
    assert can_read(SHARED, Thing("alice"))
    assert not can_write(SHARED, Thing("alice"))


def test_a_job_is_stopped_by_who_ran_it_while_a_member_or_by_a_maintainer():
    job = Thing("ml-lab", share_kind=PROJECT, submitted_by="bob")
    assert can_stop(MEMBER, job)
    assert can_stop(MAINTAINER, job)
    assert not can_stop(Caller("zed", teams=frozenset({"ml-lab"})), job)
    assert not can_stop(Caller("bob"), job), "removed from the team: no longer"
    assert can_stop(OWNER, Thing("alice", share_kind=PROJECT))


def test_maintainers_are_members_and_names_must_fit_an_owner():
    team = Team.from_group(
        {"name": "ml-lab", "users": ["bob", "carol"], "properties": {"maintainers": ["carol", "x"]}}
    )
    assert team.maintainers == {"carol"}, "a maintainer who is not a member is none"
    assert Team.from_group({"name": "t", "users": ["a"], "properties": {"maintainers": "a"}})
    directory = Directory.of([team])
    assert directory.teams_of("carol") == ({"ml-lab"}, {"ml-lab"})
    assert directory.teams_of("nobody") == (frozenset(), frozenset())
    for bad in ("a/b", "a:b", "with space", "", "alice~2026"):
        assert team_name_problem(bad), bad
    assert team_name_problem("ml-lab") == ""
    assert memberships("bob", [("ml-lab", {"maintainers": ["bob"]}), ("x/y", None)]) == (
        {"ml-lab"},
        {"ml-lab"},
    )
    assert Caller.from_hub({"name": "bob"}, frozenset({"a"}), frozenset({"a", "b"})).maintains == {
        "a"
    }


def test_lists_are_grouped_mine_each_team_shared_with_me_then_public():
    from types import SimpleNamespace

    from floe.core.access import sections

    def dataset(owner, name, public=False):
        return SimpleNamespace(
            owner=owner, name=name, public=public, share_kind="dataset", share_name=name
        )

    caller = Caller(
        "ann", teams=frozenset({"ml", "cv"}), shared=frozenset({("dataset", "bob", "x")})
    )
    things = [
        dataset("bob", "x"),
        dataset("cv", "a"),
        dataset("ann", "m"),
        dataset("zed", "p", True),
    ]
    things.append(dataset("ml", "b"))
    found = [(title, [t.name for t in items]) for title, items in sections(caller, things)]
    assert found == [
        ("Mine", ["m"]),
        ("Team cv", ["a"]),
        ("Team ml", ["b"]),
        ("Shared with me", ["x"]),
        ("Public", ["p"]),
    ]
    admin = Caller("root", admin=True)
    assert [title for title, _ in sections(admin, [dataset("bob", "x")])] == ["bob's"]


def test_the_run_as_job_dialog_offers_my_projects_then_my_teams_not_those_shared():
    from floe.client.api import project_choices

    projects = [
        {"owner": "ann", "name": "cats", "full_name": "ann/cats", "writable": True},
        {"owner": "ml", "name": "cats", "full_name": "ml/cats", "writable": True},
        {"owner": "bob", "name": "dogs", "full_name": "bob/dogs", "writable": False},
    ]
    assert project_choices(projects, "ann") == ["cats", "ml/cats"]
