"""Passkeys: sign up, sign in and add passkeys, with the JWT session strategy.

The session lives in the encrypted cookie; the database (SQLite by default) holds only the
users and their passkeys (the adapter's ``users`` and ``authenticators`` tables). A visitor
creates an account with a new passkey, signs in with it without typing anything (a
discoverable credential), and can add more passkeys from ``/account``.

Configuration, from the environment:

``AUTH_URL``
    required: the app's origin, like ``http://localhost:5000``. Its host is the WebAuthn RP
    ID, and passkeys work only there (``localhost`` counts as secure; ``127.0.0.1`` is not a
    valid RP ID).
``AUTH_SECRET``
    32+ random bytes (``flask auth secret`` makes one); ``flask --debug run`` keeps a
    development secret in the instance folder instead.
``DATABASE_URL``
    any SQLAlchemy URL; default: ``passkeys-example.db`` in the app's instance folder.

Run it::

    export AUTH_URL=http://localhost:5000
    flask --app examples/passkeys/app.py init-db
    flask --app examples/passkeys/app.py run --debug
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, render_template
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from flask_sessionext import AuthExt, login_required
from flask_sessionext.adapters import SQLAlchemyAdapter
from flask_sessionext.providers import Passkey


class Base(DeclarativeBase):
    """The declarative base of this app's models."""


db = SQLAlchemy(model_class=Base)
adapter = SQLAlchemyAdapter(db)  # declares users, authenticators, ... on db.Model, once
passkey = Passkey(allow_signup=True, rp_name="flask-sessionext passkeys example")


def session_callback(session: dict[str, Any], token: dict[str, Any]) -> dict[str, Any]:
    """Show the user's id: the account page lists the passkeys by it."""
    session["user"]["id"] = token["sub"]
    return session


def create_app() -> Flask:
    """The example app, configured from the environment (see the module docstring)."""
    app = Flask(__name__)
    app.config.update(
        AUTH_SESSION_STRATEGY="jwt",  # the adapter keeps only users and passkeys
        SQLALCHEMY_DATABASE_URI=os.environ.get("DATABASE_URL") or "sqlite:///passkeys-example.db",
    )
    db.init_app(app)
    auth: AuthExt[Any] = AuthExt(providers=[passkey], adapter=adapter)
    auth.session_callback(session_callback)
    auth.init_app(app)  # reads AUTH_URL and AUTH_SECRET from the environment; needs AUTH_URL

    @app.get("/")
    def index() -> str:
        return render_template("index.html")

    @app.get("/account")
    @login_required
    def account() -> str:
        current = auth.current_session
        assert current is not None
        passkeys = adapter.list_authenticators(current["user"]["id"])
        return render_template("account.html", passkeys=passkeys, provider=passkey)

    @app.cli.command("init-db")
    def init_db() -> None:
        """Create the tables."""
        db.create_all()
        print("Tables ready.")

    return app
