"""The pure parts of jobs: parameters injected safely, metric lines, ignore rules, names."""

from __future__ import annotations

import json
import tarfile

import pytest

from containers.catalog import Machine
from floe.client.ignore import IgnoreRules
from floe.core.errors import BadName
from floe.core.refs import check_project_name
from floe.trees.scan import select_files
from floe_node.job_volumes import _add_as_listed
from jobs.container.parameterize import INJECTED_TAG, check_parameters, inject_parameters
from jobs.logs import parse_metrics
from swarm.nodes import describe_nodes
from swarm.placement import satisfies


def _notebook(*cells):
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": list(cells)}


def _code(source, tags=()):
    return {
        "cell_type": "code",
        "metadata": {"tags": list(tags)},
        "source": source,
        "outputs": [],
        "execution_count": None,
    }


def test_parameters_go_after_the_tagged_cell_as_json_never_as_source():
    nb = _notebook(_code("import x"), _code("lr = 1", ["parameters"]), _code("train(lr)"))
    evil = "'); import os; os.system('rm -rf /'); ('"
    inject_parameters(nb, {"lr": 0.1, "name": evil, "layers": [64, 32]})
    injected = nb["cells"][2]
    assert INJECTED_TAG in injected["metadata"]["tags"]
    scope: dict = {}
    exec(injected["source"], scope)  # noqa: S102 - the point: what runs is only json.loads
    assert (scope["lr"], scope["name"], scope["layers"]) == (0.1, evil, [64, 32])
    assert nb["cells"][3]["source"] == "train(lr)"
    # Injecting again (a re-run of an executed notebook) replaces, never stacks.
    inject_parameters(nb, {"lr": 0.2})
    assert sum(INJECTED_TAG in c["metadata"]["tags"] for c in nb["cells"]) == 1


def test_without_a_parameters_cell_they_go_first():
    nb = _notebook(_code("print(lr)"))
    inject_parameters(nb, {"lr": 3})
    assert "lr = _floe_json.loads('3')" in nb["cells"][0]["source"]


@pytest.mark.parametrize("params", [{"class": 1}, {"1x": 1}, {"a-b": 1}, {"_floe_x": 1}, [1]])
def test_parameter_names_must_be_python_names(params):
    with pytest.raises(ValueError):
        check_parameters(params)


def test_metric_lines_are_json_objects_alone_on_a_line():
    log = (
        b'epoch 1\n{"step": 1, "loss": 0.5}\n  {"step": 2, "loss": 0.25}  \n'
        b'not {"a": 1}\n{"broken": \n[1, 2]\n{}\n{"acc": 0.9}\r\n'
    )
    assert parse_metrics(log)[0] == [
        {"step": 1, "loss": 0.5},
        {"step": 2, "loss": 0.25},
        {"acc": 0.9},
    ]
    assert json.dumps(parse_metrics(b"")[0]) == "[]"
    # What the API could not give back is no metric; a diverged loss is one, with no value.
    assert parse_metrics(b'{"loss": "\\ud800"}\n' + b'{"a": ' * 70 + b"1" + b"}" * 70)[0] == []
    assert parse_metrics(b'{"loss": NaN, "step": 3}\n')[0] == [{"loss": None, "step": 3}]
    # Every line that looks like a metric counts toward a job's cap, kept or not.
    flood = b"{}\n" * 10 + b'{"x": "' + b"y" * 5000 + b'"}\n' + b'{"a": 1}\n'
    assert parse_metrics(flood) == ([{"a": 1}], 12)
    assert parse_metrics(flood, most=3) == ([], 3)


def test_a_line_longer_than_a_read_still_moves_the_reading_on(tmp_path):
    from jobs.logs import read_whole_lines

    log = tmp_path / "log"
    log.write_bytes(b"x" * 3000 + b"\n" + b'{"a": 1}\n')
    first = read_whole_lines(log, 0, limit=1024)
    assert first == b"x" * 1024  # no newline in a whole read: given as it is
    assert read_whole_lines(log, 3001, limit=1024) == b'{"a": 1}\n'


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("train.py", False),
        (".env", False),
        (".git/config", True),
        (".ipynb_checkpoints/a.ipynb", True),
        ("pkg/__pycache__/a.pyc", True),
        ("data/train.csv", True),
        ("nested/data/x", True),
        ("data", False),
        ("weights.ckpt", True),
        ("runs/a/weights.ckpt", True),
        ("logs/tb/events.bin", True),
        ("logs/other/events.bin", False),
    ],
)
def test_floeignore_patterns(tmp_path, path, ignored):
    (tmp_path / ".floeignore").write_text(
        "# what the job does not need\ndata/\n*.ckpt\nlogs/tb/*\n"
    )
    assert IgnoreRules.for_folder(tmp_path).ignored(path) is ignored


@pytest.mark.parametrize("name", ["Cats", "", "a/b", "-x", "x" * 101])
def test_project_names_are_checked(name):
    with pytest.raises(BadName, match="project"):
        check_project_name(name)


def test_swarm_placement_constraints_as_floe_machine_ls_reads_them():
    node = {
        "ID": "n1",
        "Spec": {"Role": "worker", "Labels": {"gpu": "a100"}, "Availability": "active"},
        "Description": {
            "Hostname": "gpu-box",
            "Platform": {"OS": "linux", "Architecture": "x86_64"},
            "Engine": {"Labels": {"zone": "b"}},
            "Resources": {"NanoCPUs": 8 * 10**9, "MemoryBytes": 32 * 1024**3},
        },
    }
    assert satisfies(node, ["node.role==worker", "node.labels.gpu == a100"])
    assert satisfies(node, ["engine.labels.zone!=a"])
    assert satisfies(node, ["node.hostname==GPU-BOX", "node.platform.arch==x86_64"])
    assert not satisfies(node, ["node.role==manager"])
    assert not satisfies(node, ["node.labels.gpu!=a100"])
    assert not satisfies(node, ["node.labels.missing==x"])
    assert not satisfies(node, ["node.unknown==x"])  # a key not known here: not placed
    assert not satisfies(node, ["nonsense"])
    small = Machine("small", "Small", cpu=1, memory_bytes=1024**3)
    huge = Machine("huge", "Huge", cpu=16, memory_bytes=1024**3)
    gpu = Machine("gpu", "GPU", cpu=1, memory_bytes=1024**3, gpus=1)
    (info,) = describe_nodes([node], [], [small, huge, gpu], {"small": ["node.role==worker"]})
    assert info.machine_types == ["small"]  # too few CPUs for huge, no GPU advertised
    assert (info.name, info.cpu, info.gpus, info.gpus_free) == ("gpu-box", 8.0, 0, 0)
    two = [{"DiscreteResourceSpec": {"Kind": "NVIDIA-GPU", "Value": 2}}]
    task = {
        "NodeID": "n1",
        "Status": {"State": "running"},
        "Spec": {"Resources": {"Reservations": {"GenericResources": two}}},
    }
    node["Description"]["Resources"]["GenericResources"] = [
        {"NamedResourceSpec": {"Kind": "NVIDIA-GPU", "Value": f"GPU-{i}"}} for i in range(3)
    ]
    done = {**task, "Status": {"State": "complete"}}
    (info,) = describe_nodes([node], [task, done], [gpu], {})
    assert (info.gpus, info.gpus_free, info.machine_types) == (3, 1, ["gpu"])


def test_a_node_sends_only_the_files_it_listed_never_one_swapped_in_after(tmp_path):
    output = tmp_path / "output"
    output.mkdir()
    (output / "a.txt").write_text("the job's")
    (output / "b.txt").write_text("the job's too")
    secret = tmp_path / "node-secret"
    secret.write_text("this machine's")
    listed = {f.rel: f for f in select_files(output)}
    (output / "a.txt").unlink()
    (output / "a.txt").symlink_to(secret)  # swapped after the listing
    archive = tmp_path / "out.tar"
    with tarfile.open(archive, "w:") as tar:
        for found in listed.values():
            _add_as_listed(tar, found)
    with tarfile.open(archive) as tar:
        assert tar.getnames() == ["b.txt"]
        assert tar.extractfile("b.txt").read() == b"the job's too"


def test_output_is_measured_whole_with_few_descriptors_and_never_through_a_link(tmp_path):
    import resource

    from jobs.watch import folder_size

    output = tmp_path / "output"
    for i in range(600):  # more folders than descriptors left below
        (output / f"d{i}").mkdir(parents=True)
        (output / f"d{i}" / "w.bin").write_bytes(b"x" * 10)
    (output / "elsewhere").symlink_to("/usr")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        measured = folder_size(output, 10**9, 10**6)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert measured == (6000, 1201)
