"""Who gets in: nobody uninvited.

The ``admin`` account exists from the first start. Others sign up at /hub/signup and wait
until an admin approves them at /hub/authorize (or are created by an admin in /hub/admin).

To use OAuth instead (GitHub, GitLab, Google, any OIDC provider), install
``oauthenticator`` and, in ``$FLOE_DATA_DIR/jupyterhub_config.local.py``::

    c.JupyterHub.authenticator_class = "github"
    c.GitHubOAuthenticator.client_id = "..."
    c.GitHubOAuthenticator.client_secret = "..."
    c.GitHubOAuthenticator.allowed_organizations = {"myorg"}
"""

from __future__ import annotations

import os
import secrets

from .authenticator import FloeAuthenticator
from .settings import Settings, secret_file


def admin_password(settings: Settings) -> str:
    """The admin account's first password: ``FLOE_ADMIN_PASSWORD``, or one generated once
    and kept in the data dir (mode 0600). Never printed: the log says where it is."""
    from_env = os.environ.get("FLOE_ADMIN_PASSWORD")
    if from_env:
        return from_env
    path = settings.data_dir / "admin-password"
    password, _made = secret_file(path, lambda: secrets.token_urlsafe(18))
    print(f"\n  Floe admin login: admin; its first password is in {path}\n")
    return password


def configure_auth(c: object, settings: Settings) -> None:
    c.JupyterHub.authenticator_class = FloeAuthenticator
    # Set on Floe's authenticator only: a deployer who switches to OAuth (above) gets
    # neither "everyone may log in" nor an admin named by a login anyone could own there.
    c.FloeAuthenticator.admin_users = {"admin"}
    c.FloeAuthenticator.admin_password = admin_password(settings)
    # Approval by an admin is the gate; everyone approved may log in.
    c.FloeAuthenticator.allow_all = True
    c.NativeAuthenticator.open_signup = False
    c.NativeAuthenticator.minimum_password_length = 8
    c.NativeAuthenticator.check_common_password = True
