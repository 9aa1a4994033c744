"""floe_requirements.txt read and normalised: one set of needs is one environment key."""

from __future__ import annotations

import pytest

from environments.requirements import BadRequirements, parse_requirements, read_requirements
from spawner.environment_builder import build_key


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
