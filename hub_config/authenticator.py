"""Floe's login: NativeAuthenticator (sign-up, then an admin approves), plus a bootstrap admin.

NativeAuthenticator is maintained by the JupyterHub team and keeps accounts in the hub's own
database. Floe adds one thing: the ``admin`` account exists from the first start, with the
password the deployer chose (``FLOE_ADMIN_PASSWORD``) or one generated and saved for them.
"""

from __future__ import annotations

from nativeauthenticator import NativeAuthenticator
from nativeauthenticator import handlers as native_handlers
from nativeauthenticator.orm import UserInfo
from traitlets import Unicode

from .teams import TEAM_HANDLERS, is_group


class _NoStats:
    """Stands in for ``handler.statsd``, which JupyterHub 6 removed but
    NativeAuthenticator 1.3.0's login handler still uses to time logins."""

    def timer(self, name: str) -> _NoStats:
        return self

    def start(self) -> _NoStats:
        return self

    def stop(self, send: bool = True) -> None:
        return None


class LoginHandler(native_handlers.LoginHandler):
    """NativeAuthenticator's login page (sign-up link, "waiting for approval" message),
    made to run on JupyterHub 6."""

    statsd = _NoStats()

    def _render(self, login_error: str | None = None, username: str | None = None, **_: object):
        return super()._render(login_error=login_error, username=username)


class FloeAuthenticator(NativeAuthenticator):
    """NativeAuthenticator whose admin account is created (or its password reset) at start."""

    admin_username = Unicode(
        "admin", config=True, help="Name of the admin account created at the first start."
    )
    admin_password = Unicode(
        "",
        config=True,
        help="""
        First password of the admin account, used when the account is created (the first
        start); change it afterwards at /hub/change-password. ``make run`` takes it from
        FLOE_ADMIN_PASSWORD or generates one in the data dir.
        """,
    )

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        if self.admin_password:
            self._ensure_admin_account()

    def get_handlers(self, app: object) -> list[tuple]:
        return TEAM_HANDLERS + [
            (route, LoginHandler if route == r"/login" else handler)
            for route, handler in super().get_handlers(app)
        ]

    def validate_username(self, username: str) -> bool:
        """NativeAuthenticator's rules, and no user named like a team (a hub group)."""
        if is_group(getattr(self, "db", None), username):
            self.log.warning("Refused the user name %r: %s", username, "a group has it")
            return False
        return super().validate_username(username)

    def _ensure_admin_account(self) -> None:
        """Create the admin account once; its password is then the admin's to change (a
        restart never resets it, so a changed password stays changed)."""
        name = self.normalize_username(self.admin_username)
        info = UserInfo.find(self.db, name)
        if info is None:
            if self.create_user(name, self.admin_password) is None:
                raise ValueError(
                    f"could not create the admin account {name!r}: the password must be at "
                    f"least {self.minimum_password_length} characters and not a common one"
                )
            self.log.info("Created the admin account %r", name)
        info = UserInfo.find(self.db, name)
        if not info.is_authorized:
            info.is_authorized = True
            self.db.commit()
