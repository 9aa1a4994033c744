"""The hub's configuration: secrets kept private, the idle culler on by default and off at 0."""

import stat

from traitlets.config import Config

from hub_config.services import configure_services
from hub_config.settings import Settings, secret_file


def _settings(tmp_path, idle_timeout):
    return Settings(
        data_dir=tmp_path,
        instance="floe",
        port=8000,
        proxy_api_port=8001,
        hub_api_port=8002,
        service_port=8003,
        idle_timeout=idle_timeout,
        hub_db_url="sqlite://",
        floe_db_url="sqlite://",
        blob_store="local",
        s3={},
        gpu_devices=None,
    )


def test_idle_culler_runs_as_a_service_with_only_the_scopes_it_needs(tmp_path):
    c = Config()
    configure_services(c, _settings(tmp_path, 3600))
    services = {s["name"]: s for s in c.JupyterHub.services}
    assert "--timeout=3600" in services["idle-culler"]["command"]
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    role = roles["idle-culler"]
    assert role["services"] == ["idle-culler"]
    assert set(role["scopes"]) == {
        "list:users",
        "read:users:activity",
        "read:servers",
        "delete:servers",
    }


def test_idle_timeout_zero_turns_the_culler_off(tmp_path):
    c = Config()
    configure_services(c, _settings(tmp_path, 0))
    assert [s["name"] for s in c.JupyterHub.services] == ["floe"]


def test_secrets_are_made_once_and_readable_only_by_their_owner(tmp_path):
    first, made = secret_file(tmp_path / "token")
    assert made and len(first) == 64
    assert stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600
    again, made_again = secret_file(tmp_path / "token")
    assert (again, made_again) == (first, False)


def test_the_data_dir_is_made_private_at_every_start(tmp_path, monkeypatch):
    from hub_config.settings import read_settings

    data = tmp_path / "floe-data"
    data.mkdir(mode=0o755)  # as the Docker script leaves it, before the hub ever ran
    data.chmod(0o755)
    monkeypatch.setenv("FLOE_DATA_DIR", str(data))
    assert read_settings().data_dir == data
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
