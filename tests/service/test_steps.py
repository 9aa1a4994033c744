"""floe.yml through the installed command: `floe init` writes one, `floe run STEP` runs a
step with the file's defaults under the command line's flags, and the job records its step."""

from __future__ import annotations

from tests.service.helpers import floe_fast, make_dataset, wait_for

FLOE_YML = """\
env: python
parameters:
  lr: 0.01
  epochs: 2
max_runtime: 30m
command: echo default
steps:
  train:
    command: echo training
    parameters:
      lr: 0.1
    machine: cpu-tiny
  api:
    mode: serve
    command: serve
"""


def test_floe_yml_steps_defaults_and_flags(service, tmp_path):
    _name, token = service.user("stepper")

    def floe(*args):
        return floe_fast(service, token, *args, cwd=tmp_path)

    init = floe("init", "cats")
    assert init.returncode == 0 and "wrote floe.yml" in init.stdout, init.stderr
    assert (tmp_path / "floe.yml").read_text().startswith("# floe.yml")
    nothing = floe("run")  # the template sets nothing: there is nothing to run
    assert nothing.returncode == 2 and "a step of floe.yml" in nothing.stderr

    (tmp_path / "floe.yml").write_text(FLOE_YML)
    train = floe("run", "train", "--param", "epochs=5")
    assert train.returncode == 0, train.stderr
    job = service.api("GET", "jobs?project=cats", token).json()[0]
    assert job["step"] == "train" and job["command"] == "echo training"
    assert job["parameters"] == {"lr": 0.1, "epochs": 5}
    assert job["machine"] == "cpu-tiny" and job["environment"] == "python"
    assert job["max_runtime"] == 1800
    assert "step train of floe.yml" in floe("status", str(job["number"])).stdout

    # No command: the file's; a command that is no step: that command, with the defaults.
    assert floe("run", "--env", "datascience", "--max-runtime", "10m").returncode == 0
    job = service.api("GET", "jobs?project=cats", token).json()[0]
    assert job["command"] == "echo default" and job["step"] is None
    assert job["environment"] == "datascience" and job["max_runtime"] == 600
    assert floe("run", "echo", "other").returncode == 0
    job = service.api("GET", "jobs?project=cats", token).json()[0]
    assert job["command"] == "echo other" and job["parameters"] == {"lr": 0.01, "epochs": 2}

    # A step may serve; a re-run keeps the step.
    api = floe("run", "api")
    assert api.returncode == 0 and "serving at" in api.stdout, api.stderr
    job = service.api("GET", "jobs?project=cats", token).json()[0]
    assert job["mode"] == "serve" and job["step"] == "api"
    rerun = service.api("POST", f"jobs/{job['id']}/rerun", token, json={}).json()
    assert rerun["step"] == "api" and rerun["mode"] == "serve"
    for stop in (job, rerun):
        service.api("POST", f"jobs/{stop['id']}/stop", token)

    (tmp_path / "floe.yml").write_text("steps:\n  train:\n    comand: x\n")
    broken = floe("run", "train")
    assert broken.returncode == 2 and "floe.yml line 3: unknown key 'comand'" in broken.stderr


def test_floe_info_and_floe_clone(service, tmp_path):
    _name, token = service.user("looker")
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text("print('hi')\n")
    (project / "sub").mkdir()
    (project / "sub" / "data.txt").write_text("x" * 100)
    assert floe_fast(service, token, "init", "cats", cwd=project).returncode == 0
    ran = floe_fast(service, token, "run", "metrics 3", "--param", "lr=0.1", cwd=project)
    assert ran.returncode == 0, ran.stderr
    job = service.api("GET", "jobs?project=cats", token).json()[0]
    wait_for(service, token, job)

    info = floe_fast(service, token, "info", job["name"], cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    text = info.stdout
    assert f"{job['name']}  complete" in text and "metrics 3" in text
    assert 'parameters   {"lr": 0.1}' in text and "step 4" in text  # the last metric values
    assert f"output       {job['name']}/output" in text
    assert "code         3 files" in text and f"floe clone {job['name']}" in text, text

    cloned = floe_fast(service, token, "clone", job["name"], "again", cwd=tmp_path)
    assert cloned.returncode == 0, cloned.stderr
    assert (tmp_path / "again" / "train.py").read_text() == "print('hi')\n"
    assert (tmp_path / "again" / "sub" / "data.txt").read_text() == "x" * 100
    refused = floe_fast(service, token, "clone", job["name"], "again", cwd=tmp_path)
    assert refused.returncode == 2 and "not empty" in refused.stderr
    # Another user cannot clone it.
    _other, other_token = service.user("other")
    assert floe_fast(service, other_token, "clone", job["name"], "x", cwd=tmp_path).returncode == 2


def test_floe_data_clone_makes_a_folder_that_is_the_dataset(service, tmp_path):
    owner, token = service.user("cloner")
    make_dataset(service, token, "digits", {"a.txt": b"1 2 3", "sub/b.txt": b"x" * 5000})
    cloned = floe_fast(service, token, "data", "clone", f"{owner}/digits:1", cwd=tmp_path)
    assert cloned.returncode == 0, cloned.stderr
    folder = tmp_path / "digits"
    assert (folder / "a.txt").read_bytes() == b"1 2 3"
    assert (folder / "sub" / "b.txt").read_bytes() == b"x" * 5000
    # The progress line says how fast it went.
    assert "downloading 2/2 files" in cloned.stderr and "/s in " in cloned.stderr, cloned.stderr
    # The folder is the dataset: an upload there makes its next version.
    (folder / "c.txt").write_text("new")
    upload = floe_fast(service, token, "data", "upload", "-m", "more", cwd=folder)
    assert upload.returncode == 0, upload.stderr
    dataset = service.api("GET", f"datasets/{owner}/digits", token).json()
    assert dataset["latest_version"] == 2
    again = floe_fast(service, token, "data", "clone", f"{owner}/digits", "digits", cwd=tmp_path)
    assert again.returncode == 2 and "not empty" in again.stderr
