"""A small app that signs in with the test OpenID Provider and refreshes its access tokens,
run as its own process by the tests.

Configured by the environment, so several processes can share one store and one secret:

- ``AUTH_SECRET``: the secret every process shares (required);
- ``OP_ISSUER``, ``OP_CLIENT_ID``, ``OP_CLIENT_SECRET``: the OpenID Provider (required);
- ``AUTH_URL``: the public origin every process answers for (the OP redirects there);
- ``SHARED_STORE``: where the processes refresh a provider token once: ``redis``
  (:class:`RedisTokenStore` on ``REDIS_URL`` with the key prefix ``REDIS_PREFIX``),
  ``database`` (the SQLAlchemy adapter on ``DATABASE_URL``, JWT strategy) or ``none``.

``python -m tests.apps.oauth_app init`` creates the tables (``database`` only);
``python -m tests.apps.oauth_app serve`` serves on a free 127.0.0.1 port and prints
``READY http://127.0.0.1:<port>``. ``GET /provider-token`` answers the session's provider
access token (a test app: a real one never shows it) and its refresh error, if any.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, jsonify
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from flask_sessionext import AuthExt, get_token
from flask_sessionext.adapters import SQLAlchemyAdapter
from flask_sessionext.providers import OIDC
from flask_sessionext.token_store import RedisTokenStore

from .serve import create_tables, main


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
adapter = SQLAlchemyAdapter(db)


def create_app() -> Flask:
    """The app, configured from the environment."""
    store = os.environ["SHARED_STORE"]
    app = Flask(__name__)
    app.config.update(
        AUTH_SECRET=os.environ["AUTH_SECRET"],
        AUTH_URL=os.environ["AUTH_URL"],
        AUTH_SESSION_STRATEGY="jwt",
    )
    provider = OIDC(
        issuer=os.environ["OP_ISSUER"],
        client_id=os.environ["OP_CLIENT_ID"],
        client_secret=os.environ["OP_CLIENT_SECRET"],
        refresh=True,
    )
    options: dict[str, Any] = {}
    if store == "redis":
        import redis

        client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
        options["token_store"] = RedisTokenStore(client, prefix=os.environ["REDIS_PREFIX"])
    elif store == "database":
        app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
        db.init_app(app)
        options["adapter"] = adapter
    elif store != "none":
        raise SystemExit(f"SHARED_STORE must be 'redis', 'database' or 'none', got {store!r}")
    AuthExt(app, providers=[provider], **options)

    @app.get("/provider-token")
    def provider_token() -> Any:
        token = get_token()
        if token is None:
            return jsonify(None)
        return jsonify(access_token=token.get("access_token"), error=token.get("error"))

    return app


if __name__ == "__main__":
    main(create_app, create_tables)
