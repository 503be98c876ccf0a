"""A small app with the token API on, run as its own process by the tests.

Configured by the environment, so several processes can share one refresh token store and
one secret:

- ``AUTH_SECRET``: the secret every process shares (required);
- ``TOKEN_STORE``: ``redis`` (:class:`RedisTokenStore`) or ``database`` (the SQLAlchemy
  adapter's ``refresh_tokens`` table) (required);
- ``DATABASE_URL``: the SQLAlchemy URL, for ``database``;
- ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) and ``REDIS_PREFIX`` (the store's key
  prefix, default ``sessionext:rt:``), for ``redis``;
- ``REUSE_GRACE``: whole seconds, for ``AUTH_TOKEN_REUSE_GRACE``
  (10 s) so a test can step past it without waiting long.

The Credentials provider accepts ``alice`` / ``pw``; the ``jwt`` and ``session`` callbacks add
her role. ``python -m tests.apps.token_app init`` creates the tables (``database`` only) and
exits; ``python -m tests.apps.token_app serve`` serves on a free 127.0.0.1 port and prints
``READY http://127.0.0.1:<port>`` once it accepts connections.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, g, jsonify
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from flask_sessionext import AuthExt, get_token, login_required
from flask_sessionext.adapters import SQLAlchemyAdapter
from flask_sessionext.providers import Credentials
from flask_sessionext.token_store import RedisTokenStore

from .serve import create_tables, main

USERS = {"alice": {"id": "1", "name": "Alice", "email": "alice@example.com", "role": "admin"}}
PASSWORD = "pw"


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
adapter = SQLAlchemyAdapter(db)


def authorize(credentials: dict[str, str]) -> dict[str, Any] | None:
    """``alice`` with the password ``pw``; anyone else is refused."""
    user = USERS.get(credentials.get("username", ""))
    return dict(user) if user is not None and credentials.get("password") == PASSWORD else None


def jwt_callback(token: dict[str, Any], user: dict[str, Any] | None = None) -> dict[str, Any]:
    if user:  # sign-in only; a refresh keeps the claims of the refresh token
        token["role"] = user["role"]
    return token


def session_callback(session: dict[str, Any], token: dict[str, Any]) -> dict[str, Any]:
    session["user"]["role"] = token.get("role")
    return session


def create_app() -> Flask:
    """The app, configured from the environment."""
    kind = os.environ["TOKEN_STORE"]
    if kind not in ("redis", "database"):
        raise SystemExit(f"TOKEN_STORE must be 'redis' or 'database', got {kind!r}")
    app = Flask(__name__)
    app.config.update(
        AUTH_SECRET=os.environ["AUTH_SECRET"],
        AUTH_TOKEN_API=True,
        AUTH_TOKEN_REUSE_GRACE=int(os.environ.get("REUSE_GRACE", "10")),
        AUTH_SESSION_STRATEGY="jwt",
        AUTH_TRUST_HOST=True,  # every process answers on its own port
    )
    if kind == "redis":
        import redis

        client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
        prefix = os.environ.get("REDIS_PREFIX", "sessionext:rt:")
        auth: AuthExt[Any] = AuthExt(
            providers=[Credentials(authorize=authorize)],
            token_store=RedisTokenStore(client, prefix=prefix),
        )
    else:
        app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
        db.init_app(app)
        auth = AuthExt(providers=[Credentials(authorize=authorize)], adapter=adapter)
    auth.jwt_callback(jwt_callback)
    auth.session_callback(session_callback)
    auth.init_app(app)

    @app.get("/private")
    @login_required
    def private() -> Any:
        token = get_token()
        return jsonify(session=g.session, sub=token["sub"] if token else None, pid=os.getpid())

    return app


if __name__ == "__main__":
    main(create_app, create_tables)
