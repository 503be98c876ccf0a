"""Sign in with any OpenID Provider, and keep its access token fresh.

The provider is found by discovery (``<issuer>/.well-known/openid-configuration``); the user's
name, email and picture come from the validated id_token. With ``refresh=True`` the provider's
access and refresh tokens stay inside the encrypted session token (server-side only) and the
access token is refreshed shortly before it expires. When a refresh fails, the token carries
``error="RefreshTokenError"``; the ``session`` callback passes that on, so pages can ask the
user to sign in again, as in Auth.js's refresh-token guide.

Configuration, from the environment:

``OIDC_ISSUER``, ``OIDC_CLIENT_ID``, ``OIDC_CLIENT_SECRET``
    the provider and this app's registration with it (required). Register the redirect URI
    ``<origin>/api/auth/callback/oidc``.
``OIDC_NAME``
    the provider's name on the sign-in button (default ``OpenID``).
``AUTH_SECRET``
    32+ random bytes that encrypt the session cookie (``flask auth secret`` makes one); with
    ``--debug`` a development secret in the instance folder is used when it is unset.
``AUTH_URL``
    the app's public origin, such as ``http://127.0.0.1:5000``; optional with ``--debug``,
    where the request's host is trusted.

Run it (see README.md for a local OpenID Provider to try it with)::

    OIDC_ISSUER=... OIDC_CLIENT_ID=... OIDC_CLIENT_SECRET=... \\
        flask --app examples/oidc/app.py run --debug
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, render_template

from flask_sessionext import AuthExt, get_token, login_required
from flask_sessionext.providers import OIDC
from flask_sessionext.types import Session, SessionUser

REQUIRED = ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET")


class AppSession(Session[SessionUser], total=False):
    """The default session, plus ``error`` when the provider's token could not be refreshed."""

    error: str


def session_callback(session: AppSession, token: dict[str, Any]) -> AppSession:
    """Show the default session, and tell the app (and the browser) when a refresh failed."""
    error = token.get("error")
    if error:
        session["error"] = str(error)  # "RefreshTokenError": the user should sign in again
    return session


def settings_from_env() -> dict[str, Any]:
    """The app's config from the environment (AUTH_SECRET and AUTH_URL are read by AuthExt)."""
    settings: dict[str, Any] = {name: os.environ.get(name, "") for name in REQUIRED}
    settings["OIDC_NAME"] = os.environ.get("OIDC_NAME") or "OpenID"
    return settings


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The example app, configured from the environment; ``config`` overrides any key."""
    app = Flask(__name__)
    app.config.update(settings_from_env())
    app.config.update(config or {})
    missing = [name for name in REQUIRED if not app.config.get(name)]
    if missing:
        raise RuntimeError(
            f"examples/oidc: set {', '.join(missing)} (see examples/oidc/README.md to run a "
            "local OpenID Provider)."
        )

    provider = OIDC(
        issuer=app.config["OIDC_ISSUER"],
        client_id=app.config["OIDC_CLIENT_ID"],
        client_secret=app.config["OIDC_CLIENT_SECRET"],
        name=app.config["OIDC_NAME"],
        refresh=True,  # keep the access token in the session token, refreshed when due
    )
    auth: AuthExt[AppSession] = AuthExt(providers=[provider])
    auth.session_callback(session_callback)
    auth.init_app(app)

    @app.get("/")
    def index() -> str:
        return render_template("index.html")

    @app.get("/profile")
    @login_required
    def profile() -> str:
        current = auth.current_session
        assert current is not None  # login_required let us in
        token: dict[str, Any] = dict(get_token() or {})  # server-side only; never render it
        expires_at = token.get("expires_at")
        return render_template(
            "profile.html",
            session_json=json.dumps(current, indent=2, sort_keys=True),
            provider_id=token.get("provider"),
            access_token_expires_in=(
                int(expires_at - time.time()) if isinstance(expires_at, int | float) else None
            ),
            has_refresh_token=bool(token.get("refresh_token")),
        )

    return app


app = create_app()
