"""floe_requirements.txt read and normalised: one set of needs is one environment key."""

from __future__ import annotations

from pathlib import Path

import pytest

from environments.builder import REQUIREMENTS_LABEL, EnvironmentBuilder, build_key
from environments.cache import KEY_LABEL
from environments.requirements import BadRequirements, parse_requirements, read_requirements
from floe.core.text import without_secrets


def test_comments_spacing_and_order_do_not_change_the_key():
    a = parse_requirements("numpy==2.1  # arrays\n\npandas>=2\n")
    b = parse_requirements("# data\npandas>=2\n   numpy==2.1\n")
    assert a == b and a.lines == ("numpy==2.1", "pandas>=2")
    assert build_key("sha256:base", a) == build_key("sha256:base", b)
    # Another base image, or another requirement, is another environment.
    assert build_key("sha256:other", a) != build_key("sha256:base", a)
    assert parse_requirements("numpy==2.2\npandas>=2\n").digest() != a.digest()


def test_index_options_keep_their_place_before_the_packages():
    reqs = parse_requirements("torch\n--extra-index-url https://example.org/simple\n")
    assert reqs.lines == ("--extra-index-url https://example.org/simple", "torch")


def test_a_local_wheel_is_keyed_by_its_bytes(tmp_path):
    (tmp_path / "w-1.0-py3-none-any.whl").write_bytes(b"one")
    first = read_requirements_text(tmp_path, "./w-1.0-py3-none-any.whl\n")
    assert first.lines[0].startswith("./local/") and first.lines[0].endswith(
        "/w-1.0-py3-none-any.whl"
    )
    (tmp_path / "w-1.0-py3-none-any.whl").write_bytes(b"two")
    second = read_requirements_text(tmp_path, "w-1.0-py3-none-any.whl\n")
    assert first.digest() != second.digest()


def read_requirements_text(folder, text):
    (folder / "floe_requirements.txt").write_text(text)
    return read_requirements(folder)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("-r /etc/passwd\n", "line 1 ('-r /etc/passwd'): -r is not supported"),
        ("numpy\n-e ./mine\n", "line 2"),
        ("--find-links /srv/wheels\n", "--find-links is not supported"),
        ("--pre -r /etc/passwd\n", "-r is not supported"),
        ("../outside-1.0.tar.gz\n", "must be in the job's code folder"),
        ("/etc/shadow.whl\n", "must be in the job's code folder"),
        ("missing-1.0-py3-none-any.whl\n", "no such file in the job's code"),
        ("x" * 70_000, "over 64 KiB"),
    ],
)
def test_what_pip_would_read_from_elsewhere_is_refused_naming_the_line(tmp_path, text, says):
    (tmp_path / "code").mkdir()
    with pytest.raises(BadRequirements) as err:
        read_requirements_text(tmp_path / "code", text)
    assert says in err.value.message


def test_a_file_of_only_comments_asks_for_nothing(tmp_path):
    assert read_requirements_text(tmp_path, "# nothing yet\n\n") is None
    assert read_requirements(tmp_path / "nowhere") is None


def test_a_url_or_a_marker_is_a_requirement_not_a_local_file():
    reqs = parse_requirements(
        "x @ https://example.org/x-1.0-py3-none-any.whl\nrich>=13; python_version > '3'\n"
    )
    assert not reqs.local_files and len(reqs.lines) == 2


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("-i https://TOKEN@pkgs.example/simple", "-i https://***@pkgs.example/simple"),
        ("--index-url=https://me:s3cret@h:8443/x", "--index-url=https://***@h:8443/x"),
        ("--extra-index-url https://me@h/", "--extra-index-url https://***@h/"),
        (
            "pkg @ https://h/pkg.whl?Token=abc&v=1#sha256=ff",
            "pkg @ https://h/pkg.whl?Token=***&v=1#sha256=ff",
        ),
        (
            "https://h/x?X-Amz-Signature=zz&api_key=k&sig=s",
            "https://h/x?X-Amz-Signature=***&api_key=***&sig=***",
        ),
        ("git+https://ghp_abc@github.com/o/r.git@v1", "git+https://***@github.com/o/r.git@v1"),
        ("Looking in indexes: 'https://t@h/simple'", "Looking in indexes: 'https://***@h/simple'"),
        ("pkg @ https://h/a@b/pkg.whl  # none here", "pkg @ https://h/a@b/pkg.whl  # none here"),
        ("numpy==2.1 ; python_version > '3'", "numpy==2.1 ; python_version > '3'"),
        ("x @ https://f/x.whl#sha256=1&token=T", "x @ https://f/x.whl#sha256=1&token=***"),
        ("-i https://h/simple;auth=T/", "-i https://h/simple;auth=***"),
    ],
)
def test_any_credential_in_a_url_is_masked_for_showing(text, shown):
    assert without_secrets(text) == shown


def test_a_refused_line_is_named_without_its_token():
    with pytest.raises(BadRequirements) as refused:
        parse_requirements("--extra-index-url https://TOKEN@h/simple -r /etc/passwd\n")
    assert "TOKEN" not in str(refused.value) and "https://***@h/simple" in str(refused.value)


class _Engine:
    """What a build asks of Docker, acted out: pip's output names the index with its token."""

    base_url = "http+docker://fake"

    def __init__(self, key: str):
        self.image = {"Id": "sha256:built", "Config": {"Labels": {KEY_LABEL: key}}}
        self.read, self.labels = "", {}

    def containers(self, **_filters):
        return []

    def info(self):
        return {}

    def create_host_config(self, **config):
        return config

    def create_container(self, host_config, **_kwargs):
        folder = Path(host_config["mounts"][0]["Source"])
        self.read = (folder / "requirements.txt").read_text()
        return {"Id": "build"}

    def start(self, _container):
        pass

    def logs(self, _container, **_how):
        yield b"Looking in indexes: https://TOKEN@h/simple\nCollecting x @ https://f/x.whl?token=T\n"

    def wait(self, _container, timeout):
        pass

    def inspect_container(self, _container):
        return {"State": {"ExitCode": 0}}

    def commit(self, _container, conf, **_name):
        self.labels = conf["Labels"]
        return {"Id": self.image["Id"]}

    def remove_container(self, _container, force):
        pass

    def inspect_image(self, _image):
        return self.image


def test_pip_is_given_the_token_and_the_image_label_and_log_are_not(tmp_path):
    text = "-i https://TOKEN@h/simple\nx @ https://f/x.whl?token=T\n"
    requirements = parse_requirements(text)
    builder = EnvironmentBuilder(lock_dir=str(tmp_path), ca_bundle="")
    engine = builder._docker = _Engine("k")
    said: list[str] = []
    base = {"Id": "sha256:base", "Config": {}}
    builder._build(base, requirements, "k", "floe/env:k", said.append, lambda: False, 1e12)
    assert engine.read == requirements.text  # what pip installs from, unmasked
    label = engine.labels[REQUIREMENTS_LABEL]
    assert "TOKEN" not in label and "token=T" not in label and "https://***@h/simple" in label
    assert said == [
        "Looking in indexes: https://***@h/simple",
        "Collecting x @ https://f/x.whl?token=***",
    ]
