"""The token API: bearer access tokens and rotating refresh tokens for SPAs and mobile apps.

``POST /api/auth/token/login`` trades a username and password (JSON) for a short-lived access
token and a refresh token; the client sends ``Authorization: Bearer <token>`` to ``/api/me``
and to ``GET /api/auth/session``; ``POST /api/auth/token/refresh`` trades the refresh token
for a new pair (the old one is spent); ``POST /api/auth/token/logout`` revokes them. This is
what @sidebase/nuxt-auth's ``local`` provider speaks.

Configuration, from the environment:

``AUTH_SECRET``
    32+ random bytes; it signs the access tokens (HS256). ``flask auth secret`` makes one;
    with ``--debug`` a development secret in the instance folder is used when it is unset.
``REDIS_URL``
    when set (``redis://127.0.0.1:6379/0``), refresh tokens live in Redis
    (``RedisTokenStore``); otherwise in the ``refresh_tokens`` table of a SQLite file
    (``DATABASE_URL``, default ``sqlite:///token-api-example.db`` in the instance folder).
``AUTH_TOKEN_MAX_AGE``
    seconds an access token lives; default 900.

Run it::

    flask --app examples/token_api/app.py run
    python examples/token_api/client.py          # in another terminal
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from flask import Flask, g, jsonify
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from flask_sessionext import AuthExt, get_token, login_required
from flask_sessionext.adapters import SQLAlchemyAdapter
from flask_sessionext.providers import Credentials
from flask_sessionext.token_store import RedisTokenStore

#: The demo user. A real app looks users up in its database.
DEMO_USER = {"id": "1", "name": "Demo", "email": "demo@example.com", "role": "admin"}
DEMO_USERNAME = "demo"
DEMO_PASSWORD_HASH = generate_password_hash("demo-password")


class Base(DeclarativeBase):
    """The declarative base of the adapter's models."""


db = SQLAlchemy(model_class=Base)
# Declares the adapter's tables, refresh_tokens among them, on db.Model: once, at import.
adapter = SQLAlchemyAdapter(db)


def authorize(credentials: dict[str, str]) -> dict[str, Any] | None:
    """The JSON body of ``POST /token/login``: the user, or ``None`` to refuse (401)."""
    # Compare bytes: compare_digest refuses str with non-ASCII characters (TypeError).
    known = hmac.compare_digest(credentials.get("username", "").encode(), DEMO_USERNAME.encode())
    password_ok = check_password_hash(DEMO_PASSWORD_HASH, credentials.get("password", ""))
    return dict(DEMO_USER) if known and password_ok else None


def jwt_callback(token: dict[str, Any], user: dict[str, Any] | None = None) -> dict[str, Any]:
    """The access token's claims. ``user`` is given at login only; a refresh keeps the claims
    the refresh token was issued with (``trigger="refresh"``)."""
    if user:
        token["role"] = user["role"]
    return token


def session_callback(session: dict[str, Any], token: dict[str, Any]) -> dict[str, Any]:
    """What ``g.session`` and ``GET /api/auth/session`` show."""
    session["user"]["role"] = token.get("role")
    return session


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The example app, configured from the environment; ``config`` overrides any key."""
    app = Flask(__name__)
    app.config.update(
        AUTH_TOKEN_API=True,
        AUTH_TOKEN_MAX_AGE=int(os.environ.get("AUTH_TOKEN_MAX_AGE") or 15 * 60),
        # No cookies here: the session strategy only matters to the cookie routes.
        AUTH_SESSION_STRATEGY="jwt",
        SQLALCHEMY_DATABASE_URI=os.environ.get("DATABASE_URL") or "sqlite:///token-api-example.db",
    )
    app.config.update(config or {})
    providers = [Credentials(authorize=authorize)]
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        import redis  # pip install "flask-sessionext[redis]"

        store = RedisTokenStore(redis.Redis.from_url(redis_url))
        auth: AuthExt[Any] = AuthExt(providers=providers, token_store=store)
    else:
        db.init_app(app)
        auth = AuthExt(providers=providers, adapter=adapter)
        with app.app_context():
            db.create_all()  # the adapter's tables, refresh_tokens among them
    auth.jwt_callback(jwt_callback)
    auth.session_callback(session_callback)
    auth.init_app(app)

    @app.get("/api/me")
    @login_required
    def me() -> Response:
        """Who the bearer token belongs to: the session, and some of the token's claims."""
        token = get_token()
        assert token is not None  # login_required let us in
        claims = {k: token.get(k) for k in ("sub", "role", "iat", "exp")}
        return jsonify(session=g.session, claims=claims)

    return app


app = create_app()
