"""Custom session data with credentials, as in Auth.js's guide, done in Flask.

The user has a ``role`` and an ``access_token``: the role reaches the session (and the
browser), the access token stays inside the encrypted token, readable server-side only.

Run it: ``flask --app examples/credentials/app.py run --debug``, then sign in as
``alice`` / ``wonderland`` (admin) or ``bob`` / ``builder`` (user).
"""

from __future__ import annotations

import hmac
import os
import secrets
from typing import Any, Literal

from flask import Flask, render_template

from flask_sessionext import AuthExt, get_token, login_required
from flask_sessionext.providers import Credentials
from flask_sessionext.types import Session, SessionUser

Role = Literal["admin", "manager", "user"]


class AppUser(SessionUser, total=False):
    """What the browser may know about the user."""

    id: str
    role: Role


AppSession = Session[AppUser]


# A stand-in for your user store: password, role, and a token for a downstream API.
USERS: dict[str, dict[str, Any]] = {
    "alice": {"id": "1", "name": "Alice", "password": "wonderland", "role": "admin"},
    "bob": {"id": "2", "name": "Bob", "password": "builder", "role": "user"},
}


def authorize(credentials: dict[str, str]) -> dict[str, Any] | None:
    """Check the submitted username and password; return the user, or None to refuse."""
    record = USERS.get(credentials.get("username", ""))
    if record is None or not hmac.compare_digest(
        record["password"], credentials.get("password", "")
    ):
        return None
    return {
        "id": record["id"],
        "name": record["name"],
        "email": f"{credentials['username']}@example.com",
        "role": record["role"],
        "access_token": secrets.token_urlsafe(16),
    }


auth: AuthExt[AppSession] = AuthExt(providers=[Credentials(authorize=authorize)])


@auth.jwt_callback
def jwt(token: dict[str, Any], user: dict[str, Any] | None = None) -> dict[str, Any]:
    """On sign-in only, copy the role and the access token into the encrypted token."""
    if user:
        token["role"] = user["role"]
        token["access_token"] = user["access_token"]  # stays server-side
    return token


@auth.session_callback
def session(session: AppSession, token: dict[str, Any]) -> AppSession:
    """Expose the id and role to the app and the browser; never the access token."""
    session["user"]["id"] = token["sub"]
    session["user"]["role"] = token["role"]
    return session


def create_app() -> Flask:
    """The example app; AUTH_SECRET comes from the environment, with a throwaway default."""
    app = Flask(__name__)
    app.config["AUTH_SECRET"] = os.environ.get("AUTH_SECRET") or secrets.token_urlsafe(32)
    auth.init_app(app)

    @app.get("/")
    def index() -> str:
        return render_template("index.html")

    @app.get("/admin")
    @login_required
    def admin() -> str:
        current = auth.current_session
        assert current is not None
        token = get_token()  # the full token, server-side only
        access_token = str(token.get("access_token", "")) if token else ""
        return render_template(
            "admin.html", role=current["user"]["role"], token_preview=access_token[:6]
        )

    return app


app = create_app()
