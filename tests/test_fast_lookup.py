"""The per-request session lookup on the DBAPI connection (pysqlite, psycopg 3).

What users depend on: the user dict is what SQLAlchemy would return (every column type's result
processing), one round trip per request and nothing else, an outage answers 503 and keeps the
cookie, the request after recovery works; other drivers (MariaDB) keep SQLAlchemy's path.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import DateTime, String, create_engine, event, make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from flask_sessionext import AuthExt
from flask_sessionext.adapters import SQLAlchemyAdapter, UserMixin
from flask_sessionext.adapters.fast_lookup import FastLookup
from flask_sessionext.providers import Credentials

from .database import database_app, dispose_apps, new_db
from .helpers import session_cookie, sign_in
from .netcut import relay
from .requirements import unavailable
from .test_concurrency import require_postgres

SALT = "authjs.session-token"
#: MariaDB for the generic path (``.ci/run`` starts it): a skip locally when none answers, a
#: failure under CI.
MYSQL_URL = os.environ.get("SESSIONEXT_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
BORN = datetime(1815, 12, 10, 9, 30, tzinfo=timezone.utc)


class Tags(TypeDecorator[list[str]]):
    """A list kept as JSON text: only its result processor turns it back into a list."""

    impl = String(255)
    cache_ok = True

    def process_bind_param(self, value: list[str] | None, dialect: Any) -> str | None:
        return None if value is None else json.dumps(value)

    def process_result_value(self, value: str | None, dialect: Any) -> list[str] | None:
        return None if value is None else json.loads(value)


def extra_columns_app(url: str, **config: Any) -> tuple[Flask, SQLAlchemyAdapter, FlaskClient]:
    """An app whose users have a TypeDecorator and a DateTime column; Ada signed in."""
    db = new_db()

    class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
        tags: Mapped[list[str] | None] = mapped_column(Tags())
        born: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    adapter = SQLAlchemyAdapter(db, user_model=User)

    def authorize(credentials: dict[str, str]) -> dict[str, Any] | None:
        return adapter.get_user_by_email(credentials.get("username", ""))

    def configure(auth: AuthExt[Any], _: Any) -> None:
        @auth.session_callback
        def session(session: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
            session["user"]["tags"] = user["tags"]
            session["user"]["born"] = user["born"].isoformat()
            return session

    app, _, _ = database_app(
        url, [Credentials(authorize=authorize)], configure, db=db, adapter=adapter, **config
    )
    with app.app_context():
        ada = {"id": "a", "name": "Ada", "email": "ada@example.com"}
        adapter.create_user({**ada, "tags": ["admin", "x"], "born": BORN})
    client = app.test_client()
    assert sign_in(client, "ada@example.com").status_code == 302
    return app, adapter, client


@pytest.fixture
def fast_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The values the fast path looked up (so a test knows it ran)."""
    calls: list[str] = []
    original = FastLookup.fetch

    def fetch(self: FastLookup, engine: Engine, value: str) -> dict[str, Any] | None:
        calls.append(value)
        return original(self, engine, value)

    monkeypatch.setattr(FastLookup, "fetch", fetch)
    return calls


def engine_of(app: Flask) -> Engine:
    with app.app_context():
        engine: Engine = app.extensions["sqlalchemy"].engine
    return engine


def assert_processed(app: Flask, adapter: SQLAlchemyAdapter, client: FlaskClient) -> None:
    """The session callback saw the columns processed; the adapter returns them typed."""
    user = client.get("/private").get_json()["user"]
    assert user["tags"] == ["admin", "x"]
    assert datetime.fromisoformat(user["born"]).replace(tzinfo=timezone.utc) == BORN
    token = _token_hash(client)
    with app.app_context():
        stored = adapter.get_session_and_user(token)
    assert stored is not None
    assert stored.user["tags"] == ["admin", "x"] and isinstance(stored.user["born"], datetime)
    assert stored.expires.tzinfo is not None and stored.expires > datetime.now(timezone.utc)
    assert "expires" not in stored.user


def _token_hash(client: FlaskClient) -> str:
    import hashlib

    return hashlib.sha256((session_cookie(client) or "").encode()).hexdigest()


@pytest.mark.through_pgbouncer
def test_extra_columns_come_back_processed(database_url: str, fast_calls: list[str]) -> None:
    app, adapter, client = extra_columns_app(database_url)
    assert_processed(app, adapter, client)
    assert fast_calls  # the fast path answered


def test_extra_columns_come_back_processed_on_sqlite(tmp_path: Path, fast_calls: list[str]) -> None:
    """SQLite keeps DateTime as text: SQLAlchemy's processor parses it."""
    app, adapter, client = extra_columns_app(f"sqlite:///{tmp_path}/extra.db")
    assert_processed(app, adapter, client)
    assert fast_calls


@contextmanager
def round_trips(app: Flask) -> Iterator[list[str]]:
    """What the app's only pooled connection sent meanwhile: SQLite's statements (its trace
    callback), or PostgreSQL's round trips (libpq's trace: one ``ReadyForQuery`` each, with the
    frontend messages before it)."""
    engine = engine_of(app)
    raw = engine.raw_connection()
    driver: Any = raw.driver_connection
    found: list[str] = []
    if engine.dialect.name == "sqlite":
        driver.set_trace_callback(found.append)
        raw.close()
        yield found
        raw = engine.raw_connection()
        raw.driver_connection.set_trace_callback(None)  # type: ignore[union-attr]
        raw.close()
        return
    with tempfile.TemporaryFile() as trace:
        driver.pgconn.trace(trace.fileno())
        raw.close()
        yield found
        raw = engine.raw_connection()
        raw.driver_connection.pgconn.untrace()  # type: ignore[union-attr]
        raw.close()
        trace.seek(0)
        found += _round_trips(trace.read().decode())


def _round_trips(trace: str) -> list[str]:
    """libpq trace lines grouped per round trip: the frontend messages of each."""
    trips, sent = [], []
    for line in trace.splitlines():
        fields = line.split("\t")
        direction, message = (fields[1], fields[3]) if len(fields) > 3 else ("", "")
        if direction == "F":
            sent.append(message + fields[4] if message == "Query" else message)
        elif message == "ReadyForQuery":
            trips.append(" ".join(sent))
            sent = []
    return trips


ONE_CONNECTION = {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0}}


@pytest.mark.through_pgbouncer
def test_a_request_costs_one_round_trip(database_url: str, fast_calls: list[str]) -> None:
    app, _, client = extra_columns_app(database_url, **ONE_CONNECTION)
    assert client.get("/private").status_code == 200
    with round_trips(app) as sent:
        response = client.get("/private")
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    assert len(sent) == 1, sent
    assert "BEGIN" not in sent[0] and "ROLLBACK" not in sent[0]
    if engine_of(app).dialect.name == "sqlite":
        assert sent[0].startswith("SELECT")
    assert len(fast_calls) == 2


def test_a_request_without_the_session_costs_no_round_trip(tmp_path: Path) -> None:
    app, _, client = extra_columns_app(f"sqlite:///{tmp_path}/none.db", **ONE_CONNECTION)
    with round_trips(app) as sent:
        assert client.get("/not-a-view").status_code == 404
        assert client.get("/private").status_code == 200
    assert len(sent) == 1  # the protected view's lookup only


@pytest.mark.through_pgbouncer
def test_an_expired_session_is_deleted(database_url: str, fast_calls: list[str]) -> None:
    app, adapter, client = extra_columns_app(database_url)
    with engine_of(app).begin() as conn:
        conn.execute(adapter.Session.__table__.update().values(expires=datetime(2000, 1, 1)))
    response = client.get("/open")
    assert response.get_json() == {"signed_in": False}
    assert f"{SALT}=;" in response.headers["Set-Cookie"]
    with engine_of(app).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sessions")).scalar_one() == 0
    assert fast_calls


def pooled_backends(engine: Engine, count: int) -> list[int]:
    """Fill the pool with ``count`` connections; their PostgreSQL backend pids."""
    raws = [engine.raw_connection() for _ in range(count)]
    pids = [raw.driver_connection.info.backend_pid for raw in raws]  # type: ignore[union-attr]
    for raw in raws:
        raw.close()
    return pids


def assert_503_keeps_the_cookie(client: FlaskClient) -> None:
    cookie = session_cookie(client)
    response = client.get("/private")
    assert response.status_code == 503
    assert SALT not in response.headers.get("Set-Cookie", "")
    assert session_cookie(client) == cookie is not None


def test_terminated_connections_answer_503_then_the_next_request_works(
    database_url: str, fast_calls: list[str]
) -> None:
    """Every pooled connection dies (a server restart): one 503, the cookie kept; the next
    request gets a new connection, not the next dead one."""
    require_postgres(database_url, "terminating backends needs PostgreSQL")
    app, _, client = extra_columns_app(database_url, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 3})
    pids = pooled_backends(engine_of(app), 3)
    admin = create_engine(database_url)
    with admin.begin() as conn:
        for pid in pids:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()
    assert_503_keeps_the_cookie(client)
    for _ in range(3):
        assert client.get("/private").status_code == 200
    assert len(fast_calls) == 4


def test_a_lost_answer_answers_503_then_the_next_request_works(
    database_url: str, fast_calls: list[str]
) -> None:
    """The network drops the lookup's answer (``tests/netcut.py``): 503, the cookie kept."""
    require_postgres(database_url, "the relay forwards to PostgreSQL")
    server = make_url(database_url)
    with relay((server.host or "127.0.0.1", server.port or 5432)) as cut:
        url = server.set(host="127.0.0.1", port=cut.port).render_as_string(hide_password=False)
        _, _, client = extra_columns_app(url)
        cut.cut_answer_to(b"FROM sessions JOIN users")
        assert_503_keeps_the_cookie(client)
        assert cut.cuts == 1
        assert client.get("/private").status_code == 200
    assert len(fast_calls) == 2


def test_execution_events_see_the_lookup(tmp_path: Path, fast_calls: list[str]) -> None:
    """With a listener on the engine's statements (query logging, tracing), the lookup goes
    through SQLAlchemy so the listener sees it."""
    app, _, client = extra_columns_app(f"sqlite:///{tmp_path}/events.db")
    seen: list[str] = []
    event.listen(engine_of(app), "before_cursor_execute", lambda *a: seen.append(a[2]))
    assert client.get("/private").get_json()["user"]["tags"] == ["admin", "x"]
    assert [s for s in seen if "FROM sessions JOIN users" in s]
    assert fast_calls == []


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """The MariaDB test database, emptied afterwards."""
    engine = create_engine(MYSQL_URL, connect_args={"connect_timeout": 2})
    try:
        engine.connect().close()
    except (SQLAlchemyError, ImportError) as error:
        unavailable("the MariaDB test", f"no MariaDB/MySQL at {MYSQL_URL}: {type(error).__name__}")
    yield MYSQL_URL
    dispose_apps()
    with engine.begin() as conn:
        tables = conn.execute(text("SHOW TABLES")).scalars().all()
        conn.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
        for table in tables:
            conn.execute(text(f"DROP TABLE `{table}`"))
    engine.dispose()


def test_mariadb_keeps_sqlalchemys_path(mysql_url: str, fast_calls: list[str]) -> None:
    app, adapter, client = extra_columns_app(mysql_url)
    assert_processed(app, adapter, client)
    with engine_of(app).begin() as conn:
        conn.execute(adapter.Session.__table__.update().values(expires=datetime(2000, 1, 1)))
    assert client.get("/open").get_json() == {"signed_in": False}
    with engine_of(app).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sessions")).scalar_one() == 0
    assert fast_calls == []


@pytest.mark.through_pgbouncer
def test_a_connection_that_failed_is_not_handed_out_again(database_url: str) -> None:
    """Any error on the lookup (here the table is gone) discards its connection: the pool
    never hands out one left in an unknown state (e.g. still in autocommit)."""
    app, _, client = extra_columns_app(database_url, **ONE_CONNECTION)
    engine = engine_of(app)
    raw = engine.raw_connection()
    before = raw.driver_connection
    raw.close()
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE sessions"))
    assert_503_keeps_the_cookie(client)
    raw = engine.raw_connection()
    assert raw.driver_connection is not before
    raw.close()
