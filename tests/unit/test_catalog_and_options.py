"""Spawn options are checked on the server against the deployer's catalog."""

import asyncio
import re
from datetime import datetime
from types import SimpleNamespace

import pytest
from jupyterhub.objects import Hub
from tornado import web
from traitlets import TraitError
from traitlets.config import Config

from containers.catalog import Catalog
from containers.options import options_from_form, parse_user_options
from containers.stock import requirements_path
from environments.requirements import parse_requirements
from floe.core.access import Caller
from floe.core.errors import InvalidOptions, UnknownEnvironment, UnknownMachine
from floe.core.sizes import parse_size
from spawner.workspace_spawner import WorkspaceSpawner


def test_defaults_are_python_on_cpu_small():
    options = parse_user_options({}, Catalog(), None)
    assert options.environment.slug == "python"
    assert options.machine.slug == "cpu-small"
    assert options.machine.cpu == 1
    assert options.machine.memory_bytes == 2 * 1024**3


def test_default_machines_match_the_documented_sizes():
    machines = {m.slug: m for m in Catalog().machine_list()}
    assert (machines["cpu-large"].cpu, machines["cpu-large"].memory_bytes) == (2, 8 * 1024**3)
    gpu = machines["gpu-1"]
    assert (gpu.gpus, gpu.cpu, gpu.memory_bytes) == (1, 4, 16 * 1024**3)
    assert gpu.summary == "1 GPU, 4 CPU, 16 GiB"


def test_unknown_machine_lists_the_valid_ones():
    with pytest.raises(UnknownMachine) as err:
        parse_user_options({"machine": "huge"}, Catalog(), None)
    assert err.value.status == 400
    assert "unknown machine 'huge'" in err.value.message
    assert "cpu-small, cpu-large, gpu-1" in err.value.message


def test_unknown_environment_lists_the_valid_ones():
    with pytest.raises(UnknownEnvironment) as err:
        parse_user_options({"environment": "r"}, Catalog(), None)
    assert (
        "unknown environment 'r'; valid environments: python, datascience, pytorch"
        == err.value.message
    )


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"machine": 3}, "'machine' must be a string"),
        ({"image": "evil/root"}, "unknown option(s) image"),
        ({"datasets": "mnist"}, "'datasets' must be a list of strings"),
        ({"datasets": [3]}, "'datasets' must be a list of strings"),
    ],
)
def test_malformed_options_are_refused(raw, fragment):
    with pytest.raises(InvalidOptions) as err:
        parse_user_options(raw, Catalog(), None)
    assert fragment in err.value.message


def test_form_fields_become_the_same_options_as_the_api():
    form = {"environment": ["python"], "machine": ["cpu-large"], "_xsrf": ["x"]}
    assert options_from_form(form) == {"environment": "python", "machine": "cpu-large"}
    form["dataset"] = ["alice/mnist:1", "bob/cats:2", ""]
    form["mount"] = ["", " /input/pets ", ""]
    assert options_from_form(form)["datasets"] == ["alice/mnist:1", "bob/cats:2:/input/pets"]
    options = parse_user_options(options_from_form(form), Catalog(), None)
    assert options.machine.slug == "cpu-large"


def test_deployer_catalog_from_config():
    config = Config()
    config.Catalog.machines = [
        {"slug": "tiny", "display_name": "Tiny", "cpu": 0.5, "memory": "512Mi"},
        {"slug": "big", "display_name": "Big", "cpu": 8, "memory": "32G", "default": True},
    ]
    catalog = Catalog(config=config)
    assert catalog.default_machine().slug == "big"
    assert catalog.default_machine().memory_bytes == 32 * 1000**3


@pytest.mark.parametrize(
    ("machines", "fragment"),
    [
        ([{"slug": "Bad Slug", "cpu": 1, "memory": "1Gi"}], "lowercase"),
        ([{"slug": "a", "cpu": 1, "memory": "lots"}], "is not a size"),
        ([{"slug": "a", "cpu": 1, "memory": "1Gi"}] * 2, "appears twice"),
        ([], "at least one"),
    ],
)
def test_bad_catalog_config_is_refused_at_start(machines, fragment):
    with pytest.raises(TraitError, match=fragment):
        Catalog(machines=machines)


def test_parse_size_units():
    assert parse_size("2Gi") == 2 * 1024**3
    assert parse_size("512M") == 512 * 1000**2
    assert parse_size(1024) == 1024


def test_stock_environments_are_built_on_python_from_fully_pinned_lists():
    catalog = Catalog()
    built = {e.slug: e for e in catalog.environment_list() if e.built}
    assert set(built) == {"datascience", "pytorch"}
    wanted = {
        "datascience": {"numpy", "pandas", "scipy", "scikit-learn", "matplotlib", "seaborn",
                        "pyarrow", "tqdm", "ipywidgets"},
        "pytorch": {"torch", "torchvision"},
    }  # fmt: skip
    for slug, environment in built.items():
        assert environment.base == "python" and not environment.image
        requirements = parse_requirements(requirements_path(environment.requirements).read_text())
        pins = dict(line.split("==") for line in requirements.lines)
        # Every line a pin (so two builds a month apart make the same thing), nothing looser.
        assert all(
            re.fullmatch(r"[a-z0-9-]+==[0-9][0-9a-z.+]*", line) for line in requirements.lines
        )
        assert wanted[slug] <= set(pins), (slug, wanted[slug] - set(pins))
    # The CUDA-enabled torch from the package index: its CUDA libraries are pinned beside it.
    torch = dict(line.split("==") for line in parse_requirements(
        requirements_path("stock:pytorch").read_text()).lines)  # fmt: skip
    assert any(name.startswith("nvidia-") for name in torch)


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        (
            {"slug": "x", "image": "a", "base": "python", "requirements": "stock:pytorch"},
            "not both",
        ),
        ({"slug": "x"}, "either an 'image' or a 'base'"),
        ({"slug": "x", "base": "python"}, "no 'requirements'"),
        ({"slug": "x", "base": "nowhere", "requirements": "stock:pytorch"}, "no environment"),
        ({"slug": "x", "base": "x", "requirements": "stock:pytorch"}, "build on each other"),
        ({"slug": "x", "base": "python", "requirements": "stock:nope"}, "there are stock:"),
        ({"slug": "x", "base": "python", "requirements": "reqs.txt"}, "absolute path"),
    ],
)
def test_a_built_environment_must_say_what_it_is_built_from(entry, fragment):
    with pytest.raises(TraitError, match=fragment):
        Catalog(environments=[{"slug": "python", "image": "floe/workspace:x"}, entry])


# --- entries limited to teams ----------------------------------------------------------------

LAB_MACHINES = [
    {"slug": "cpu-small", "display_name": "CPU small", "cpu": 1, "memory": "2Gi"},
    {"slug": "gpu-4", "display_name": "4 GPUs", "cpu": 16, "memory": "64Gi", "gpus": 4,
     "teams": ["ml-lab", "vision"]},
]  # fmt: skip
LAB_ENVIRONMENTS = [
    {"slug": "python", "display_name": "Python", "image": "floe/workspace:x"},
    {"slug": "lab-tools", "display_name": "Lab tools", "image": "lab/tools:3",
     "teams": ["ml-lab"]},
    {"slug": "lab-nlp", "display_name": "Lab NLP", "base": "lab-tools",
     "requirements": "stock:datascience", "teams": ["ml-lab"]},
]  # fmt: skip
MEMBER = Caller("alice", teams=frozenset({"ml-lab"}))
STRANGER = Caller("mallory", teams=frozenset({"other"}))
ADMIN = Caller("root", admin=True)


def lab_catalog() -> Catalog:
    return Catalog(machines=LAB_MACHINES, environments=LAB_ENVIRONMENTS)


def test_teams_are_read_from_the_config():
    config = Config()
    config.Catalog.machines = LAB_MACHINES
    config.Catalog.environments = LAB_ENVIRONMENTS
    catalog = Catalog(config=config)
    machines = {m.slug: m for m in catalog.machine_list()}
    assert machines["gpu-4"].teams == ("ml-lab", "vision")
    assert machines["cpu-small"].teams == ()
    assert catalog.environment_by_slug("lab-tools").teams == ("ml-lab",)
    assert catalog.environment_by_slug("python").teams == ()


def test_a_team_entry_is_offered_to_its_members_and_admins_only():
    catalog = lab_catalog()

    def slugs(entries):
        return [e.slug for e in entries]

    for caller in (MEMBER, Caller("vic", teams=frozenset({"vision"})), ADMIN, None):
        assert slugs(catalog.machines_for(caller)) == ["cpu-small", "gpu-4"], caller
        assert catalog.machine_for(caller, "gpu-4").gpus == 4
    assert slugs(catalog.environments_for(MEMBER)) == ["python", "lab-tools", "lab-nlp"]
    assert slugs(catalog.environments_for(ADMIN)) == ["python", "lab-tools", "lab-nlp"]
    for caller in (STRANGER, Caller("nobody")):
        assert slugs(catalog.machines_for(caller)) == ["cpu-small"]
        assert catalog.machine_for(caller, "gpu-4") is None
        assert slugs(catalog.environments_for(caller)) == ["python"]
        assert catalog.environment_for(caller, "lab-tools") is None
    # The vision team has the machine, not the ml-lab environments.
    assert slugs(catalog.environments_for(Caller("vic", teams=frozenset({"vision"})))) == ["python"]
    # The team itself (a team's schedule runs as the team) may use its entries.
    assert catalog.environment_for(Caller("ml-lab"), "lab-tools") is not None
    # Floe itself (the runner) still finds every entry.
    assert catalog.machine_by_slug("gpu-4") is not None
    assert catalog.environment_by_slug("lab-nlp").built


def test_a_non_member_is_refused_a_team_entry_as_if_there_were_none():
    catalog = lab_catalog()
    options = parse_user_options({"machine": "gpu-4", "environment": "lab-tools"}, catalog, MEMBER)
    assert (options.machine.slug, options.environment.slug) == ("gpu-4", "lab-tools")

    with pytest.raises(UnknownMachine) as team_only:
        parse_user_options({"machine": "gpu-4"}, catalog, STRANGER)
    with pytest.raises(UnknownMachine) as made_up:
        parse_user_options({"machine": "gpu-5"}, catalog, STRANGER)
    assert team_only.value.status == made_up.value.status == 400
    assert team_only.value.message == "unknown machine 'gpu-4'; valid machines: cpu-small"
    assert made_up.value.message == "unknown machine 'gpu-5'; valid machines: cpu-small"

    with pytest.raises(UnknownEnvironment) as err:
        parse_user_options({"environment": "lab-tools"}, catalog, STRANGER)
    assert err.value.message == "unknown environment 'lab-tools'; valid environments: python"
    # Leaving both out gives a non-member the defaults, which are everyone's.
    options = parse_user_options({}, catalog, STRANGER)
    assert (options.machine.slug, options.environment.slug) == ("cpu-small", "python")


def test_the_default_is_the_first_entry_that_is_everyones():
    machines = [dict(LAB_MACHINES[1]), dict(LAB_MACHINES[0])]  # the team's first
    assert Catalog(machines=machines).default_machine().slug == "cpu-small"


@pytest.mark.parametrize(
    ("teams", "fragment"),
    [
        ("ml-lab", "must be a non-empty list of team names"),
        ([], "must be a non-empty list of team names"),
        ({"ml-lab": True}, "must be a non-empty list of team names"),
        ([3], r"must be a list of team names \(strings\), not 3"),
        (["ml lab"], "cannot name a team"),
        (["ml/lab"], "cannot name a team"),
        (["alice~20260101"], "a form Floe keeps for itself"),
    ],
)
def test_bad_teams_are_refused_at_start(teams, fragment):
    machine = {"slug": "gpu-4", "cpu": 1, "memory": "1Gi", "teams": teams}
    with pytest.raises(TraitError, match=f"machine 'gpu-4': 'teams'.*{fragment}"):
        Catalog(machines=[LAB_MACHINES[0], machine])
    environment = {"slug": "lab", "image": "lab/tools:3", "teams": teams}
    with pytest.raises(TraitError, match=f"environment 'lab': 'teams'.*{fragment}"):
        Catalog(environments=[LAB_ENVIRONMENTS[0], environment])


@pytest.mark.parametrize(
    ("machines", "environments", "fragment"),
    [
        ([LAB_MACHINES[1]], LAB_ENVIRONMENTS, "every machine is limited to teams"),
        (
            [LAB_MACHINES[0], {**LAB_MACHINES[1], "default": True}],
            LAB_ENVIRONMENTS,
            "machine 'gpu-4' is the default, which is everyone's",
        ),
        (
            LAB_MACHINES,
            [*LAB_ENVIRONMENTS[:2], {**LAB_ENVIRONMENTS[2], "teams": None}],
            "environment 'lab-nlp' is built on 'lab-tools', which is for the teams ml-lab only",
        ),
        (
            LAB_MACHINES,
            [*LAB_ENVIRONMENTS[:2], {**LAB_ENVIRONMENTS[2], "teams": ["vision"]}],
            "environment 'lab-nlp' is built on 'lab-tools'",
        ),
    ],
)
def test_team_entries_everyone_would_get_are_refused_at_start(machines, environments, fragment):
    with pytest.raises(TraitError, match=re.escape(fragment)):
        Catalog(machines=machines, environments=environments)


def lab_spawner(tmp_path, groups: list[str]) -> WorkspaceSpawner:
    c = Config()
    c.FloeDatabase.url = f"sqlite:///{tmp_path / 'floe.sqlite'}"
    c.Catalog.machines = LAB_MACHINES
    c.Catalog.environments = LAB_ENVIRONMENTS
    user = SimpleNamespace(name="alice", id=1, url="/user/alice/", escaped_name="alice")
    user.created, user.admin = datetime(2026, 1, 2, 3, 4, 5), False
    user.groups = [SimpleNamespace(name=g, properties={}) for g in groups]
    return WorkspaceSpawner(config=c, user=user, hub=Hub())


def test_the_spawner_offers_and_takes_a_team_machine_from_members_only(tmp_path):
    member = lab_spawner(tmp_path, ["ml-lab"])
    form = asyncio.run(member._render_options_form(member))
    assert 'value="gpu-4"' in form and 'value="lab-tools"' in form
    options = member._parse_options({"machine": "gpu-4", "environment": "lab-tools"})
    assert (options.machine.slug, options.environment.slug) == ("gpu-4", "lab-tools")

    stranger = lab_spawner(tmp_path, ["other"])
    form = asyncio.run(stranger._render_options_form(stranger))
    assert "gpu-4" not in form and "lab-tools" not in form and 'value="cpu-small"' in form
    for raw, said in (
        ({"machine": "gpu-4"}, "unknown machine 'gpu-4'; valid machines: cpu-small"),
        ({"machine": "gpu-5"}, "unknown machine 'gpu-5'; valid machines: cpu-small"),
        ({"environment": "lab-tools"}, "unknown environment 'lab-tools'; valid environments: "),
    ):
        with pytest.raises(web.HTTPError) as err:
            stranger._parse_options(raw)
        assert err.value.status_code == 400 and err.value.log_message.startswith(said), raw
    assert err.value.log_message.split("valid environments: ")[1].startswith("python, or one")
