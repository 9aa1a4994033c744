"""Spawn options are checked on the server against the deployer's catalog."""

import re

import pytest
from traitlets import TraitError
from traitlets.config import Config

from containers.catalog import Catalog
from containers.options import options_from_form, parse_user_options
from containers.stock import requirements_path
from environments.requirements import parse_requirements
from floe.core.errors import InvalidOptions, UnknownEnvironment, UnknownMachine
from floe.core.sizes import parse_size


def test_defaults_are_python_on_cpu_small():
    options = parse_user_options({}, Catalog())
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
        parse_user_options({"machine": "huge"}, Catalog())
    assert err.value.status == 400
    assert "unknown machine 'huge'" in err.value.message
    assert "cpu-small, cpu-large, gpu-1" in err.value.message


def test_unknown_environment_lists_the_valid_ones():
    with pytest.raises(UnknownEnvironment) as err:
        parse_user_options({"environment": "r"}, Catalog())
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
        parse_user_options(raw, Catalog())
    assert fragment in err.value.message


def test_form_fields_become_the_same_options_as_the_api():
    form = {"environment": ["python"], "machine": ["cpu-large"], "_xsrf": ["x"]}
    assert options_from_form(form) == {"environment": "python", "machine": "cpu-large"}
    form["dataset"] = ["alice/mnist:1", "bob/cats:2", ""]
    form["mount"] = ["", " /input/pets ", ""]
    assert options_from_form(form)["datasets"] == ["alice/mnist:1", "bob/cats:2:/input/pets"]
    options = parse_user_options(options_from_form(form), Catalog())
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
