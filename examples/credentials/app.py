"""Custom session data with credentials, as in Auth.js's guide, done in Flask.

The user has a ``role`` and an ``access_token``: the role reaches the session (and the
browser), the access token stays inside the encrypted token, readable server-side only.

There is no database. Besides the password form, the same users can sign in with an email
link: signed, valid for 10 minutes, and only in the browser that asked for it. With
``--debug`` the link is printed to the console; set ``AUTH_EMAIL_SERVER`` and
``AUTH_EMAIL_FROM`` to send it over SMTP.

Run it: ``flask --app examples/credentials/app.py run --debug``, then sign in as
``alice`` / ``wonderland`` (admin) or ``bob`` / ``builder`` (user), or ask for a link to
``alice@example.com``.
"""

from __future__ import annotations

import hmac
import os
import secrets
from typing import Any, Literal

from flask import Flask, render_template
from flask.helpers import get_debug_flag

from flask_sessionext import AuthExt, get_token, login_required
from flask_sessionext.providers import Credentials, Email, Provider, SMTPSender
from flask_sessionext.types import Session, SessionUser

Role = Literal["admin", "manager", "user"]
#: Settings read from the environment when set (SMTP is optional).
ENV_SETTINGS = (
    "AUTH_EMAIL_SERVER",
    "AUTH_EMAIL_FROM",
    "AUTH_EMAIL_USERNAME",
    "AUTH_EMAIL_PASSWORD",
)


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


def signed_in_user(username: str) -> dict[str, Any]:
    """The user as the session starts: what the ``jwt`` callback copies into the token."""
    record = USERS[username]
    return {
        "id": record["id"],
        "name": record["name"],
        "email": f"{username}@example.com",
        "role": record["role"],
        "access_token": secrets.token_urlsafe(16),
    }


def username_of(email: object) -> str | None:
    """The user an address belongs to, if any (``alice@example.com`` is ``alice``)."""
    name, at, domain = str(email).partition("@")
    return name if at and domain == "example.com" and name in USERS else None


def authorize(credentials: dict[str, str]) -> dict[str, Any] | None:
    """Check the submitted username and password; return the user, or None to refuse."""
    record = USERS.get(credentials.get("username", ""))
    # Compare bytes: compare_digest refuses str with non-ASCII characters (TypeError).
    password = credentials.get("password", "").encode()
    if record is None or not hmac.compare_digest(record["password"].encode(), password):
        return None
    return signed_in_user(credentials["username"])


def make_providers() -> list[Provider]:
    """The password form, and the email link when it can be delivered: over SMTP, or
    printed to the console in debug mode (``flask run --debug`` sets ``FLASK_DEBUG``)."""
    providers: list[Provider] = [Credentials(authorize=authorize)]
    if os.environ.get("AUTH_EMAIL_SERVER"):
        providers.append(Email(send=SMTPSender()))
    elif get_debug_flag():
        providers.append(Email())
    return providers


auth: AuthExt[AppSession] = AuthExt(providers=make_providers())  # no adapter, no database


@auth.signin_callback
def signin(user: dict[str, Any], account: dict[str, Any]) -> bool:
    """Email links only for the users we know: no link is sent to anyone else."""
    return account["type"] != "email" or username_of(user["email"]) is not None


@auth.jwt_callback
def jwt(
    token: dict[str, Any],
    user: dict[str, Any] | None = None,
    account: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """On sign-in only, copy the role and the access token into the encrypted token.

    Without a database, an email sign-in's user is just the address: find the rest here.
    """
    if user and account:
        if account["type"] == "email":
            username = username_of(user["email"])
            assert username is not None  # the signin callback let only known addresses in
            user = signed_in_user(username)
            token.update(sub=user["id"], name=user["name"])
        token["role"] = user["role"]
        token["access_token"] = user["access_token"]  # stays server-side
    return token


@auth.session_callback
def session(session: AppSession, token: dict[str, Any]) -> AppSession:
    """Expose the id and role to the app and the browser; never the access token."""
    session["user"]["id"] = token["sub"]
    session["user"]["role"] = token["role"]
    return session


def is_admin(session: AppSession) -> bool:
    """Who may open the Admin page."""
    return session["user"].get("role") == "admin"


def create_app() -> Flask:
    """The example app. AUTH_SECRET comes from the environment; ``flask --debug run`` keeps a
    development secret in the instance folder instead."""
    app = Flask(__name__)
    for name in ENV_SETTINGS:
        if os.environ.get(name):
            app.config[name] = os.environ[name]
    auth.init_app(app)

    @app.get("/")
    def index() -> str:
        return render_template("index.html")

    @app.get("/admin")
    @login_required(allow=is_admin)  # others get a 403 page in the extension's layout
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
