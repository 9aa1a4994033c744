"""floe.yml as the command line reads it: defaults, steps, and errors that name their line."""

from __future__ import annotations

import re

import pytest

from floe_cli import floe_yml
from floe_cli.verbs import UsageError

GOOD = """\
env: python
data: mnist:1
parameters:
  lr: 0.01
  epochs: 2
max_runtime: 2h
command: python train.py
steps:
  train:
    command: python train.py --big
    parameters:
      lr: 0.1
    machine: cpu-tiny
  api:
    mode: serve
"""


def read(tmp_path, text: str):
    (tmp_path / "floe.yml").write_text(text)
    return floe_yml.read(tmp_path)


def test_defaults_and_steps_merge_step_over_defaults(tmp_path):
    config = read(tmp_path, GOOD)
    assert config.settings(None).values == {
        "env": "python",
        "data": ["mnist:1"],
        "parameters": {"lr": 0.01, "epochs": 2},
        "max_runtime": 7200,
        "command": "python train.py",
    }
    train = config.settings("train")
    assert train.step == "train"
    assert train.values["command"] == "python train.py --big"
    assert train.values["parameters"] == {"lr": 0.1, "epochs": 2}
    assert train.values["machine"] == "cpu-tiny" and train.values["env"] == "python"
    assert config.settings("api").values["mode"] == "serve"


def test_no_file_is_none_and_the_template_is_all_comments(tmp_path):
    assert floe_yml.read(tmp_path) is None
    assert floe_yml.write_template(tmp_path, "cats")
    assert not floe_yml.write_template(tmp_path, "cats")  # never overwritten
    config = floe_yml.read(tmp_path)
    assert config.defaults == {} and config.steps == {}
    # Uncommented, the template's examples are a valid file.
    text = (tmp_path / "floe.yml").read_text()
    setting = re.compile(r"# ( *[a-z_]+:| *- )")
    example = "\n".join(
        x[2:] for x in text.splitlines() if setting.match(x) and "floe.yml" not in x
    )
    assert read(tmp_path, example).steps.keys() == {"train", "api"}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("env: python\ncommand: [unclosed\n", "line 3: not YAML"),
        ("env: python\nenviroment: gpu\n", "line 2: unknown key 'enviroment'"),
        ("env: python\nparameters: 3\n", "line 2: parameters must be a mapping"),
        ("steps:\n  train:\n    comand: x\n", "line 3: unknown key 'comand'"),
        ("steps:\n  Train!:\n    command: x\n", "line 2: step name 'Train!'"),
        ("max_runtime: soon\n", "line 1: max_runtime"),
        ("data:\n  - mnist\n  - 3\n", "line 3: data must be"),
        ("mode: forever\n", "line 1: mode must be run or serve"),
        ("- just\n- a list\n", "line 1: the file must be a mapping"),
        ("steps: [a, b]\n", "line 1: steps must be a mapping"),
    ],
)
def test_a_wrong_file_is_an_error_naming_its_line(tmp_path, text, words):
    with pytest.raises(UsageError) as err:
        read(tmp_path, text)
    assert words in str(err.value) and "floe.yml" in str(err.value)
