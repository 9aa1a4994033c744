"""The hub itself: where it listens, where it keeps state, and its proxy."""

from __future__ import annotations

import logging

import bcrypt

from .settings import Settings, secret_file


def configure_hub(c: object, settings: Settings, gateway: str) -> None:
    data = settings.data_dir
    public = settings.public
    # The proxy listens here: on 127.0.0.1 unless the deployer gave a public address; with a
    # certificate file it serves HTTPS (JupyterHub hands ssl_cert and ssl_key to the proxy).
    scheme = "https" if public and public.tls_cert else "http"
    c.JupyterHub.bind_url = f"{scheme}://{public.bind if public else f'127.0.0.1:{settings.port}'}"
    if public:
        c.JupyterHub.public_url = public.url  # links, redirects, secure cookies under HTTPS
    if public and public.tls_cert:
        c.JupyterHub.ssl_cert = public.tls_cert
        c.JupyterHub.ssl_key = public.tls_key
    if public and public.https:
        # The login cookies are secure with an https public_url; the XSRF cookie too.
        c.JupyterHub.tornado_settings = {"xsrf_cookie_kwargs": {"secure": True}}
    # The hub API listens on the workspace network's gateway: containers reach it there.
    c.JupyterHub.hub_bind_url = f"http://{gateway}:{settings.hub_api_port}"
    c.JupyterHub.db_url = settings.hub_db_url
    c.JupyterHub.cookie_secret_file = str(data / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(data / "jupyterhub.pid")
    # Workspaces keep running while the hub restarts (it finds them again from its database).
    c.JupyterHub.cleanup_servers = False

    configure_proxy(c, settings)

    log_file = logging.FileHandler(data / "hub.log")
    log_file.setFormatter(logging.Formatter("[%(levelname)1.1s %(asctime)s %(name)s] %(message)s"))
    logging.getLogger("JupyterHub").addHandler(log_file)


def configure_proxy(c: object, settings: Settings) -> None:
    """traefik (the default) or configurable-http-proxy, started and stopped by the hub."""
    data = settings.data_dir
    token = secret_file(data / "proxy_auth_token")[0]
    api_url = f"http://127.0.0.1:{settings.proxy_api_port}"
    if settings.proxy == "chp":
        if not settings.proxy_command.exists():
            raise SystemExit(
                f"floe: configurable-http-proxy not found at {settings.proxy_command}; "
                "run `make tools`"
            )
        c.ConfigurableHTTPProxy.command = [str(settings.proxy_command)]
        c.ConfigurableHTTPProxy.api_url = api_url
        c.ConfigurableHTTPProxy.auth_token = token
        c.ConfigurableHTTPProxy.pid_file = str(data / "jupyterhub-proxy.pid")
        return
    c.JupyterHub.proxy_class = "hub_config.traefik.FloeTraefikProxy"
    folder = data / "traefik"
    folder.mkdir(mode=0o700, exist_ok=True)
    proxy = c.FloeTraefikProxy
    proxy.static_config_file = str(folder / "traefik.toml")
    proxy.dynamic_config_file = str(folder / "rules.toml")
    proxy.pid_file = str(folder / "traefik.pid")
    proxy.log_file = str(data / "traefik.log")
    proxy.traefik_api_url = api_url
    proxy.traefik_api_username = "floe"
    proxy.traefik_api_password = token
    # traefik checks the API's password at every call (the hub polls it for each route):
    # a random 256-bit token needs no slow hash, so bcrypt's cheapest cost keeps calls fast.
    proxy.traefik_api_hashed_password = bcrypt.hashpw(
        token.encode(), bcrypt.gensalt(rounds=4)
    ).decode()
    public = settings.public
    if public and public.https:
        proxy.acme_email = public.acme_email
        proxy.acme_domain = public.host
        proxy.acme_storage = str(folder / "acme.json")
        if public.redirect_port:
            proxy.redirect_address = f"{public.bind_ip}:{public.redirect_port}"
