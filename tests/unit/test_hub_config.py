"""The hub's configuration: secrets kept private, the idle culler on by default and off at 0."""

import asyncio
import re
import stat

import bcrypt
import pytest
import toml
from traitlets.config import Config

from hub_config.hub import configure_proxy
from hub_config.services import configure_services
from hub_config.settings import Settings, read_settings, secret_file
from hub_config.traefik import FloeTraefikProxy


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


def test_floe_admin_is_a_scope_of_hub_admins_own_tokens_not_of_their_workspaces(tmp_path):
    from floe.core.access import ADMIN_SCOPE
    from hub_config.auth import configure_auth
    from hub_config.configure import finish

    c = Config()
    configure_auth(c, _settings(tmp_path, 0))
    configure_services(c, _settings(tmp_path, 0))
    finish(c)
    role = next(r for r in c.JupyterHub.load_roles if r["name"] == "floe-admin")
    assert role == {"name": "floe-admin", "scopes": [ADMIN_SCOPE], "users": ["admin"]}
    assert ADMIN_SCOPE in c.JupyterHub.custom_scopes
    floe = next(s for s in c.JupyterHub.services if s["name"] == "floe")
    assert floe["oauth_client_allowed_scopes"] == [ADMIN_SCOPE]


def test_the_admin_password_reaches_no_other_process(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOE_ADMIN_PASSWORD", "hunter2hunter2hunter2hunter2hunter2")
    monkeypatch.setenv("FLOE_BLOB_STORE", "local")
    c = Config()
    configure_services(c, _settings(tmp_path, 0))
    floe = next(s for s in c.JupyterHub.services if s["name"] == "floe")
    assert "FLOE_ADMIN_PASSWORD" not in floe["environment"]
    assert floe["environment"]["FLOE_BLOB_STORE"] == "local"


def test_switching_to_oauth_as_documented_lets_nobody_in_by_default(tmp_path, monkeypatch, capsys):
    from oauthenticator.github import GitHubOAuthenticator

    from hub_config.auth import configure_auth
    from hub_config.configure import finish

    monkeypatch.setenv("FLOE_ADMIN_PASSWORD", "x" * 32)
    c = Config()
    configure_auth(c, _settings(tmp_path, 0))
    configure_services(c, _settings(tmp_path, 0))
    # The example in hub_config/auth.py, as a deployer's jupyterhub_config.local.py has it.
    c.JupyterHub.authenticator_class = "github"
    c.GitHubOAuthenticator.client_id = "id"
    c.GitHubOAuthenticator.client_secret = "secret"
    c.GitHubOAuthenticator.allowed_organizations = {"myorg"}
    finish(c)
    github = GitHubOAuthenticator(config=c)
    assert github.allow_all is False
    # Whoever owns the GitHub login "admin" is no hub admin and no Floe admin here.
    assert github.admin_users == set()
    role = next(r for r in c.JupyterHub.load_roles if r["name"] == "floe-admin")
    assert role["users"] == []
    assert "x" * 32 not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"FLOE_PROXY": "nginx"}, "must be 'traefik' or 'chp'"),
        ({"FLOE_PUBLIC_URL": "ftp://floe.example.org"}, "http(s)://HOST[:PORT]"),
        ({"FLOE_PUBLIC_URL": "https://floe.example.org/hub"}, "with no path"),
        ({"FLOE_PUBLIC_URL": "https://floe.example.org"}, "needs a certificate"),
        ({"FLOE_PUBLIC_URL": "https://x.org", "FLOE_TLS_CERT": "/etc/hostname"}, "go together"),
        (
            {"FLOE_PUBLIC_URL": "https://x.org", "FLOE_TLS_CERT": "/nope", "FLOE_TLS_KEY": "/nope"},
            "no file this user can read",
        ),
        (
            {"FLOE_PUBLIC_URL": "https://x.org", "FLOE_PROXY": "chp", "FLOE_ACME_EMAIL": "a@x.org"},
            "served by traefik",
        ),
        ({"FLOE_REGISTRY": "registry.example.org"}, "must be HOST:PORT"),
        ({"FLOE_REGISTRY": "10.0.0.1:5000/floe"}, "must be HOST:PORT"),
        ({"FLOE_REGISTRY": "10.0.0.1:5000", "FLOE_REGISTRY_BIND": "10.0.0.1"}, "ADDR:PORT"),
    ],
)
def test_a_public_address_is_checked_at_start(tmp_path, monkeypatch, env, words):
    monkeypatch.setenv("FLOE_DATA_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit, match=re.escape(words)):
        read_settings()


def test_floe_registry_makes_the_hub_run_one_storing_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FLOE_REGISTRY", "10.0.0.1:5000")
    settings = read_settings()
    assert (settings.registry, settings.registry_bind) == ("10.0.0.1:5000", "10.0.0.1:5000")
    c = Config()
    configure_services(c, settings)
    registry = next(s for s in c.JupyterHub.services if s["name"] == "registry")
    config = (tmp_path / "registry.yml").read_text()
    assert registry["command"][-1] == str(tmp_path / "registry.yml")
    assert f"rootdirectory: {tmp_path / 'registry'}" in config and "addr: 10.0.0.1:5000" in config
    assert stat.S_IMODE((tmp_path / "registry").stat().st_mode) == 0o700
    # Pushing and pulling need the password, kept in the data dir; its hash is all it reads.
    password = (tmp_path / "registry_password").read_text().strip()
    htpasswd = tmp_path / "registry.htpasswd"
    assert f"path: {htpasswd}" in config and password not in config
    user, _, hashed = htpasswd.read_text().strip().partition(":")
    assert user == "floe" and bcrypt.checkpw(password.encode(), hashed.encode())
    assert stat.S_IMODE(htpasswd.stat().st_mode) == 0o600
    monkeypatch.delenv("FLOE_REGISTRY")
    c = Config()
    configure_services(c, read_settings())
    assert "registry" not in {s["name"] for s in c.JupyterHub.services}


def test_a_public_https_address_with_acme_makes_traefik_ask_lets_encrypt(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FLOE_PUBLIC_URL", "https://floe.example.org")
    monkeypatch.setenv("FLOE_ACME_EMAIL", "ops@example.org")
    public = read_settings().public
    assert (public.bind, public.redirect_port, public.host) == (
        "0.0.0.0:443",
        80,
        "floe.example.org",
    )
    c = Config()
    configure_proxy(c, read_settings())
    assert c.JupyterHub.proxy_class == "hub_config.traefik.FloeTraefikProxy"
    assert (c.FloeTraefikProxy.acme_email, c.FloeTraefikProxy.acme_domain) == (
        "ops@example.org",
        "floe.example.org",
    )
    assert c.FloeTraefikProxy.redirect_address == "0.0.0.0:80"
    # What traefik is told: a resolver asking Let's Encrypt, HTTP redirected, no calls home.
    proxy = FloeTraefikProxy(config=c, public_url="http://0.0.0.0:443")
    asyncio.run(proxy._setup_traefik_static_config())
    static = toml.load(c.FloeTraefikProxy.static_config_file)
    acme = static["certificatesResolvers"]["acme"]["acme"]
    assert acme["email"] == "ops@example.org" and "tlsChallenge" in acme
    https = static["entryPoints"]["https"]
    assert https["http"]["tls"]["certResolver"] == "acme"
    assert static["entryPoints"]["redirect"]["http"]["redirections"]["entryPoint"]["to"] == "https"
    assert static["global"] == {"checkNewVersion": False, "sendAnonymousUsage": False}


def test_installed_code_finds_its_tools_and_data_without_a_checkout(tmp_path, monkeypatch):
    from hub_config import settings

    monkeypatch.delenv("FLOE_TOOLS_DIR", raising=False)
    monkeypatch.delenv("FLOE_DATA_DIR", raising=False)
    assert settings.source_tree() == settings.CHECKOUT  # the tests run from one
    assert settings.tools_dir() == settings.CHECKOUT / ".tools"
    installed = tmp_path / "site-packages"  # no Makefile beside hub_config/
    monkeypatch.setattr(settings, "CHECKOUT", installed)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert settings.source_tree() is None
    assert settings.default_data_dir() == tmp_path / "home" / ".floe"
    monkeypatch.setenv("FLOE_DATA_DIR", str(tmp_path / "data"))
    assert settings.tools_dir() == tmp_path / "data" / "tools"
    monkeypatch.setenv("FLOE_TOOLS_DIR", str(tmp_path / "npm"))
    assert settings.tools_dir() == tmp_path / "npm"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "configurable-http-proxy").write_text("#!/bin/sh\n")
    (bin_dir / "configurable-http-proxy").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    assert settings.read_settings().proxy_command == bin_dir / "configurable-http-proxy"
