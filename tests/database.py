"""Database fixtures: SQLite by default, PostgreSQL when ``SESSIONEXT_TEST_DATABASE_URL`` is set."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from flask_sessionext import AuthExt
from flask_sessionext.adapters import SQLAlchemyAdapter

from .helpers import SECRET, add_views

DATABASE_URL = os.environ.get("SESSIONEXT_TEST_DATABASE_URL")


_apps: list[Flask] = []


def track_app(app: Flask) -> None:
    """Have the ``database_url`` fixture close this app's pooled connections at teardown."""
    _apps.append(app)


def dispose_apps() -> None:
    """Close the pooled connections of every app the test made (PostgreSQL drops the schema)."""
    while _apps:
        app = _apps.pop()
        with app.app_context():
            app.extensions["sqlalchemy"].engine.dispose()


def new_db() -> SQLAlchemy:
    """A ``db`` with its own metadata, so every test app declares its own tables."""

    class Base(DeclarativeBase):
        pass

    return SQLAlchemy(model_class=Base)


def database_app(
    url: str,
    providers: list[Any],
    configure: Callable[[AuthExt[Any], SQLAlchemy], None] | None = None,
    *,
    db: SQLAlchemy | None = None,
    adapter: SQLAlchemyAdapter | None = None,
    **config: Any,
) -> tuple[Flask, AuthExt[Any], SQLAlchemyAdapter]:
    """An app with its own ``db`` and the SQLAlchemy adapter, tables created."""
    db = db or new_db()
    adapter = adapter or SQLAlchemyAdapter(db)
    app = Flask(__name__)
    app.config.update(
        {"TESTING": True, "AUTH_SECRET": SECRET, "SQLALCHEMY_DATABASE_URI": url, **config}
    )
    db.init_app(app)
    track_app(app)
    auth: AuthExt[Any] = AuthExt(providers=providers, adapter=adapter)
    if configure is not None:
        configure(auth, db)
    auth.init_app(app)
    with app.app_context():
        db.create_all()

    add_views(app)
    app.extensions["test_db"] = db
    return app, auth, adapter


def signed_in_app(url: str) -> tuple[Flask, SQLAlchemyAdapter, FlaskClient]:
    """An app with database sessions on ``url``, and a client signed in as the stored ``u1``."""
    from flask_sessionext.providers import Credentials

    from .helpers import authorize, sign_in

    def stored(credentials: dict[str, str]) -> Any:
        user = authorize(credentials)
        return user and {**user, "id": "u1"}

    app, _, adapter = database_app(url, [Credentials(authorize=stored)])
    with app.app_context():
        adapter.create_user({"id": "u1", "name": "Alice"})
    client = app.test_client()
    sign_in(client)
    assert client.get("/open").get_json() == {"signed_in": True}
    return app, adapter, client
