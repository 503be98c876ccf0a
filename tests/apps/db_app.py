"""A small app on the database session strategy, run as its own process by the tests.

Configured by the environment, so several processes can share one database and secret:

- ``DATABASE_URL``: the SQLAlchemy URL (required);
- ``AUTH_SECRET``: the secret every process shares (required);
- ``REVOKE_TOKEN``: what the ``X-Test-Revoke`` header of ``POST /revoke/<user_id>`` must be
  (without it, the route refuses everything);
- ``SESSION_CACHE_TTL``: turn the adapter's ``SessionCache`` on, with this ``ttl``;
- ``RATE_LIMIT_PREFIX``: count rate limits in Redis (``REDIS_URL``, default
  ``redis://127.0.0.1:6379/0``) under this key prefix, and take the client address from
  ``X-Forwarded-For`` (``ProxyFix``, as behind one proxy); without it, limits count in memory.

``python -m tests.apps.db_app init`` creates the tables and the users ``ann@example.com``
(id ``u1``) and ``ben@example.com`` (``u2``), password ``pw``, then exits.
``python -m tests.apps.db_app serve`` serves on a free 127.0.0.1 port and prints
``READY http://127.0.0.1:<port>`` once it accepts connections.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from flask import Flask, abort, g, jsonify, request
from flask_sqlalchemy import SQLAlchemy
from limits.storage import RedisStorage
from sqlalchemy.orm import DeclarativeBase
from werkzeug.middleware.proxy_fix import ProxyFix

from flask_sessionext import AuthExt, login_required
from flask_sessionext.adapters import SessionCache, SQLAlchemyAdapter
from flask_sessionext.providers import Credentials

from .serve import main

PASSWORD = "pw"
USERS = [
    {"id": "u1", "name": "Ann", "email": "ann@example.com"},
    {"id": "u2", "name": "Ben", "email": "ben@example.com"},
]


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
TTL = os.environ.get("SESSION_CACHE_TTL")
adapter = SQLAlchemyAdapter(db, session_cache=SessionCache(ttl=float(TTL)) if TTL else None)


def authorize(credentials: dict[str, str]) -> dict[str, Any] | None:
    """Any stored user, by email, with the password ``pw``."""
    user = adapter.get_user_by_email(credentials.get("username", ""))
    return user if user is not None and credentials.get("password") == PASSWORD else None


auth: AuthExt[Any] = AuthExt(providers=[Credentials(authorize=authorize)], adapter=adapter)


def create_app() -> Flask:
    """The app, configured from the environment."""
    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=os.environ["DATABASE_URL"],
        AUTH_SECRET=os.environ["AUTH_SECRET"],
        AUTH_SESSION_STRATEGY="database",
        AUTH_TRUST_HOST=True,  # every process answers on its own port
    )
    prefix = os.environ.get("RATE_LIMIT_PREFIX")
    if prefix:
        url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        app.config["AUTH_RATE_LIMIT_STORAGE"] = RedisStorage(url, key_prefix=prefix)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # type: ignore[method-assign]
    db.init_app(app)
    auth.init_app(app)

    @app.get("/private")
    @login_required
    def private() -> Any:
        return jsonify(g.session)

    @app.post("/revoke/<user_id>")
    def revoke(user_id: str) -> Any:
        expected = os.environ.get("REVOKE_TOKEN", "")
        given = request.headers.get("X-Test-Revoke", "")
        if not expected or not hmac.compare_digest(given, expected):
            abort(403)
        return jsonify(revoked=auth.revoke_sessions(user_id))

    return app


def init(app: Flask) -> None:
    """Create the tables and the users."""
    with app.app_context():
        db.create_all()
        for user in USERS:
            adapter.create_user(user)


if __name__ == "__main__":
    main(create_app, init)
