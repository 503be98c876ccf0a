"""Sign-in with a passkey (WebAuthn), as Auth.js's Passkey provider.

The server side of the ceremonies is Duo's ``webauthn`` package (``pip install
"flask-sessionext[passkey]"``); the flows are in :mod:`..actions.passkey`. Credentials live in
the adapter's ``authenticators`` table, whatever the session strategy.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from flask import Flask

from ..errors import ConfigurationError
from .base import Provider

UserVerification = Literal["required", "preferred", "discouraged"]
#: The adapter methods a passkey provider needs, besides the users ones.
AUTHENTICATOR_METHODS = (
    "create_authenticator",
    "get_authenticator",
    "list_authenticators",
    "update_authenticator_counter",
)


class Passkey(Provider):
    """Sign in with a passkey: WebAuthn registration and authentication.

    A signed-in user registers a passkey; with ``allow_signup=True`` a visitor may also
    create an account with a new passkey and an email address. Passkeys sign in without a
    username (discoverable credentials) or after typing the address. The relying party is
    ``AUTH_URL``: its host is the RP ID and the URL the only accepted origin, so an app without
    ``AUTH_URL`` refuses to start. ``user_verification`` is asked of the authenticator
    (``"required"`` by default: a PIN or biometric check, refused when missing); ``rp_name``
    is shown by the browser (default: the host).
    """

    type: ClassVar[str] = "webauthn"

    def __init__(
        self,
        *,
        id: str = "passkey",
        name: str = "Passkey",
        allow_signup: bool = False,
        user_verification: UserVerification = "required",
        rp_name: str | None = None,
        timeout: int = 60_000,
    ) -> None:
        super().__init__(id=id, name=name)
        if user_verification not in ("required", "preferred", "discouraged"):
            raise ValueError(
                "user_verification must be 'required', 'preferred' or 'discouraged', "
                f"got {user_verification!r}."
            )
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1000:
            raise ValueError(f"timeout is in milliseconds, at least 1000, got {timeout!r}.")
        self.allow_signup = allow_signup
        self.user_verification: UserVerification = user_verification
        self.rp_name = rp_name
        self.timeout = timeout

    def init_app(self, app: Flask, adapter: object | None) -> None:
        """Refuse to start without ``webauthn``, an adapter that stores authenticators, or
        ``AUTH_URL``."""
        try:
            import webauthn  # noqa: F401 - the optional dependency of the passkey flow
        except ImportError:
            raise ConfigurationError(
                f"passkey provider {self.id!r} needs the webauthn package: "
                'pip install "flask-sessionext[passkey]".'
            ) from None
        missing = [m for m in AUTHENTICATOR_METHODS if not callable(getattr(adapter, m, None))]
        if adapter is None or missing:
            raise ConfigurationError(
                f"passkey provider {self.id!r} needs an adapter that stores authenticators "
                "(SQLAlchemyAdapter or MemoryAdapter), with either session strategy"
                + (f"; this one lacks {', '.join(missing)}." if adapter is not None else ".")
            )
        if not app.config.get("AUTH_URL"):
            raise ConfigurationError(
                f"passkey provider {self.id!r} needs AUTH_URL: its host is the WebAuthn RP ID "
                "and it is the only origin accepted (like 'https://example.com')."
            )
