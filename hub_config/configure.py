"""``configure(c)``: Floe's whole hub configuration, applied to JupyterHub's config object."""

from __future__ import annotations

from traitlets.config import Config

from floe.db.base import make_engine
from floe.db.migrations import upgrade_database
from spawner.docker_settings import unsupported_settings

from .auth import configure_auth
from .authenticator import FloeAuthenticator
from .firewall import FirewallError, isolate
from .hub import configure_hub
from .network import ensure_network
from .services import FLOE_ADMIN_ROLE, configure_services
from .settings import Settings, read_settings, renamed_settings
from .workspaces import configure_workspaces


def configure(c: object) -> Settings:
    """Apply Floe's configuration to JupyterHub's config object ``c``."""
    settings = read_settings()
    # Floe's database is brought up to date here, before the floe service and the spawner
    # open it, so they never migrate it at the same moment.
    upgrade_database(make_engine(settings.floe_db_url))
    # Containers reach the hub API and the floe service on this network's gateway, and
    # nothing else of this machine's.
    gateway = ensure_network(settings.network_name)
    fence(settings, gateway)
    configure_hub(c, settings, gateway)
    configure_auth(c, settings)
    configure_workspaces(c, settings, gateway)
    configure_services(c, settings, gateway)
    return settings


def fence(settings: Settings, gateway: str) -> None:
    """The firewall around Floe's containers (``hub_config.firewall``), or a refusal to start
    without one, unless the deployer said FLOE_FIREWALL=off."""
    if not settings.firewall:
        print("floe: FLOE_FIREWALL=off: containers can reach every port of this machine")
        return
    ports = [settings.hub_api_port, settings.service_port]
    try:
        isolate(
            settings.network_name,
            gateway,
            ports,
            egress=settings.egress,
            allowed=settings.egress_allow,
        )
    except FirewallError as err:
        raise SystemExit(
            f"floe: cannot fence Floe's containers in ({err}); run the hub as root with "
            "iptables, or set FLOE_FIREWALL=off to run without (any container then reaches "
            "every port of this machine)"
        ) from None


def finish(c: Config) -> None:
    """After the deployer's own file: Floe's admin account is a Floe admin while Floe's login
    is used (never a same-named login of another provider); then refuse what is unsupported."""
    if c.JupyterHub.authenticator_class is FloeAuthenticator:
        role = next(r for r in c.JupyterHub.load_roles if r["name"] == FLOE_ADMIN_ROLE)
        role["users"] = sorted({*role["users"], *c.FloeAuthenticator.admin_users})
    refuse_unsupported(c)


def refuse_unsupported(c: Config) -> None:
    """Stop the hub at start when a setting would be silently ignored: one Floe decides
    itself, or one Floe has renamed. Each is named, with what to use instead."""
    problems = unsupported_settings(c) + renamed_settings(c)
    if problems:
        raise SystemExit("floe: refusing to start:\n  " + "\n  ".join(problems))
