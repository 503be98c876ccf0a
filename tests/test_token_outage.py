"""A store outage during a token refresh never signs the user out.

The refresh token store fails for real at each step of a refresh: a dedicated Redis server is
killed, a PostgreSQL backend is terminated, a SQLite statement fails inside the transaction,
the network drops the answer of a rotation that ran (``tests/netcut.py``). The client gets 503
and its retry of the same refresh token succeeds; the family is never revoked.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Engine

from flask_sessionext.token_store import RedisTokenStore

from .netcut import relay
from .requirements import unavailable
from .test_token_api import API, bearer, login, sql_token_app, token_app

# No retries: each outage is one failed command, answered at once.
NO_RETRY = Retry(NoBackoff(), 0)


class RedisServer:
    """A redis-server of this test alone, on a free port, persisting every write to disk, so
    it can be killed and restarted without losing the tokens."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary, self.directory = binary, directory
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        persist = ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
        self.process = subprocess.Popen(
            [self.binary, *args, *persist],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = redis.Redis(port=self.port)
        deadline = time.monotonic() + 20
        while True:
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        probe.close()

    def kill(self) -> None:
        """An outage: the server dies at once (its data survives in the append-only file)."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("The Redis outage tests", "`redis-server` is not on PATH")
    server = RedisServer(binary, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def redis_app(server: RedisServer) -> Flask:
    client = redis.Redis(port=server.port, retry=NO_RETRY)
    return token_app(store=RedisTokenStore(client))


def before_rotating(app: Flask, action: Callable[[], None]) -> None:
    """Run ``action`` in the next refresh after the store found the old token, just before
    the rotation is sent to it."""
    store = app.extensions["sessionext"].token_store
    rotate = store.rotate_refresh_token

    def outage_then_rotate(*args: Any) -> bool:
        store.rotate_refresh_token = rotate
        action()
        return bool(rotate(*args))

    store.rotate_refresh_token = outage_then_rotate


def sha256(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def refresh(client: FlaskClient, refresh_token: str) -> Any:
    return client.post(f"{API}/token/refresh", json={"refreshToken": refresh_token})


def assert_retry_succeeds(client: FlaskClient, refresh_token: str, failed: Any) -> None:
    """The failed refresh answered 503; the retry gets a pair whose tokens both work."""
    assert failed.status_code == 503, failed.get_data(as_text=True)
    assert failed.headers["Retry-After"]
    retried = refresh(client, refresh_token)
    assert retried.status_code == 200, retried.get_data(as_text=True)
    pair = retried.get_json()
    assert client.get("/private", headers=bearer(pair["token"])).status_code == 200
    # The family survived: the new refresh token refreshes.
    assert refresh(client, pair["refreshToken"]).status_code == 200


def test_redis_down_when_the_refresh_starts(redis_server: RedisServer) -> None:
    client = redis_app(redis_server).test_client()
    first = login(client).get_json()["refreshToken"]
    redis_server.kill()
    failed = refresh(client, first)
    redis_server.start()
    assert_retry_succeeds(client, first, failed)


def test_redis_dies_between_reading_and_rotating(redis_server: RedisServer) -> None:
    app = redis_app(redis_server)
    client = app.test_client()
    first = login(client).get_json()["refreshToken"]
    before_rotating(app, redis_server.kill)
    failed = refresh(client, first)
    redis_server.start()
    assert_retry_succeeds(client, first, failed)


def test_redis_answer_lost_after_the_rotation_ran(redis_server: RedisServer) -> None:
    """Redis ran the rotation, then the network dropped its answer: the client got 503 and
    its retry gets the successor the lost answer carried."""
    with relay(("127.0.0.1", redis_server.port)) as cut:
        app = token_app(store=RedisTokenStore(redis.Redis(port=cut.port, retry=NO_RETRY)))
        client = app.test_client()
        # One refresh first, so the rotation script is loaded and the cut hits its run.
        assert refresh(client, login(client).get_json()["refreshToken"]).status_code == 200
        first = login(client).get_json()["refreshToken"]
        before_rotating(app, lambda: cut.cut_answer_to(b"EVALSHA"))
        failed = refresh(client, first)
        assert cut.cuts == 1
        found = RedisTokenStore(redis.Redis(port=redis_server.port)).find_refresh_token(
            sha256(first)
        )
        assert found is not None and found[1] is not None  # Redis did spend it
        assert_retry_succeeds(client, first, failed)


@pytest.fixture
def sql_app(database_url: str) -> Flask:
    return sql_token_app(database_url)


def engine_of(app: Flask) -> Engine:
    with app.app_context():
        engine: Engine = app.extensions["sqlalchemy"].engine
    return engine


def fail_at(app: Flask, step: str) -> None:
    """Make the database fail for real once, at ``step`` of the next refresh: the statement
    starting with ``step`` (``SELECT``, ``UPDATE``, ``INSERT``) or the ``COMMIT``.

    PostgreSQL: the connection's backend is terminated (``pg_terminate_backend``) just before.
    SQLite (no server to lose): the statement itself fails, raised by a trigger.
    """
    engine = engine_of(app)
    pending = [step]

    def terminate(connection: Any) -> None:
        pending.clear()
        pid = connection.connection.dbapi_connection.info.backend_pid
        with engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    @event.listens_for(engine, "before_cursor_execute")
    def before(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if pending and "refresh_tokens" in statement and statement.startswith(step):
            terminate(connection)

    @event.listens_for(engine, "commit")
    def commit(connection: Any) -> None:
        if pending and step == "COMMIT":
            terminate(connection)


def test_sql_outage_at_each_step_of_a_refresh(sql_app: Flask, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("terminating the connection needs PostgreSQL (SQLite: the test below)")
    client = sql_app.test_client()
    for step in ("SELECT", "UPDATE", "INSERT", "COMMIT"):
        first = login(client).get_json()["refreshToken"]
        fail_at(sql_app, step)
        failed = refresh(client, first)
        assert_retry_succeeds(client, first, failed)


@pytest.mark.parametrize("database", ["sqlite", "configured"])
def test_sql_statement_fails_between_spending_and_storing(
    database: str, database_url: str, tmp_path: Path
) -> None:
    """The successor's INSERT fails inside the rotation's transaction: the spend rolls back.
    On SQLite always, and on the configured database (PostgreSQL in CI)."""
    url = f"sqlite:///{tmp_path}/outage.db" if database == "sqlite" else database_url
    sql_app = sql_token_app(url)
    with engine_of(sql_app).begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER outage BEFORE INSERT ON refresh_tokens"
                " WHEN (SELECT count(*) FROM refresh_tokens) > 0"
                " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION outage() RETURNS trigger LANGUAGE plpgsql AS $$"
                " BEGIN IF (SELECT count(*) FROM refresh_tokens) > 0 THEN"
                " RAISE EXCEPTION 'disk I/O error'; END IF; RETURN NEW; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER outage BEFORE INSERT ON refresh_tokens"
                " FOR EACH ROW EXECUTE FUNCTION outage()"
            )
    client = sql_app.test_client()
    first = login(client).get_json()["refreshToken"]
    failed = refresh(client, first)
    with engine_of(sql_app).begin() as conn:
        sqlite = conn.dialect.name == "sqlite"
        conn.exec_driver_sql("DROP TRIGGER outage" + ("" if sqlite else " ON refresh_tokens"))
    assert_retry_succeeds(client, first, failed)


def test_postgresql_commit_answer_lost(database_url: str) -> None:
    """PostgreSQL committed the rotation, then the network dropped its answer."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a network between app and database needs PostgreSQL")
    url = make_url(database_url)
    with relay((url.host or "127.0.0.1", url.port or 5432)) as cut:
        app = sql_token_app(url.set(host="127.0.0.1", port=cut.port).render_as_string(False))
        client = app.test_client()
        first = login(client).get_json()["refreshToken"]
        before_rotating(app, lambda: cut.cut_answer_to(b"COMMIT"))
        failed = refresh(client, first)
        assert cut.cuts == 1
        with app.app_context():
            found = app.extensions["sessionext"].token_store.find_refresh_token(sha256(first))
        assert found is not None and found[1] is not None  # the database did spend it
        assert_retry_succeeds(client, first, failed)
