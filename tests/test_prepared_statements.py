"""psycopg 3 prepares none of the adapter's statements unless ``prepared_statements=True``.

Prepared statements break PgBouncer (before 1.21) in transaction mode; the database tests run
through a real one (``through_pgbouncer``). This checks the switch itself, on PostgreSQL
directly, on an app whose pool holds one connection: what that connection prepared.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import text

from flask_sessionext.adapters import SQLAlchemyAdapter
from flask_sessionext.providers import Credentials

from .database import database_app, new_db
from .helpers import sign_in
from .test_concurrency import require_postgres

LOOKUPS = 12  # psycopg prepares a statement on its sixth run on a connection


def one_connection_app(url: str, **options: Any) -> Flask:
    db = new_db()
    adapter = SQLAlchemyAdapter(db, **options)

    def authorize(credentials: dict[str, str]) -> dict[str, Any] | None:
        return adapter.get_user_by_email(credentials.get("username", ""))

    app, _, _ = database_app(
        url,
        [Credentials(authorize=authorize)],
        db=db,
        adapter=adapter,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0},
    )
    with app.app_context():
        adapter.create_user({"id": "u1", "name": "Ann", "email": "ann@example.com"})
    return app


def look_up_many_times(app: Flask) -> SQLAlchemy:
    """Sign in and resolve the session :data:`LOOKUPS` times; the app's ``db``."""
    client = app.test_client()
    assert sign_in(client, "ann@example.com").status_code == 302
    for _ in range(LOOKUPS):
        assert client.get("/private").status_code == 200
    db: SQLAlchemy = app.extensions["test_db"]
    return db


def prepared_after_lookups(app: Flask) -> tuple[int, Any]:
    """Sign in, resolve the session many times; the connection's prepared statements and its
    ``prepare_threshold`` afterwards."""
    db = look_up_many_times(app)
    with app.app_context(), db.engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one()
        threshold = conn.connection.driver_connection.prepare_threshold  # type: ignore[union-attr]
    return int(count), threshold


def test_the_adapter_prepares_nothing_by_default(database_url: str) -> None:
    require_postgres(database_url, "prepared statements are psycopg's, on PostgreSQL")
    count, threshold = prepared_after_lookups(one_connection_app(database_url))
    assert count == 0
    assert threshold == 5  # the app's own queries keep psycopg's setting


def test_prepared_statements_true_lets_psycopg_prepare(database_url: str) -> None:
    require_postgres(database_url, "prepared statements are psycopg's, on PostgreSQL")
    count, _ = prepared_after_lookups(one_connection_app(database_url, prepared_statements=True))
    assert count >= 1


def lookups_prepared(app: Flask) -> list[str]:
    """After a sign-in and many lookups, the prepared statements of the app's one connection
    that read the sessions table (read in autocommit: psycopg forgets its prepared statements
    on ROLLBACK)."""
    db = look_up_many_times(app)
    with app.app_context(), db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        rows = conn.execute(text("SELECT statement FROM pg_prepared_statements"))
        return [s for s in rows.scalars() if "FROM sessions JOIN users" in s]


@pytest.mark.parametrize(("options", "prepared"), [({}, 0), ({"prepared_statements": True}, 1)])
def test_the_session_lookup_is_prepared_only_when_asked(
    database_url: str, options: dict[str, Any], prepared: int
) -> None:
    require_postgres(database_url, "prepared statements are psycopg's, on PostgreSQL")
    app = one_connection_app(database_url, **options)
    assert len(lookups_prepared(app)) == prepared
