"""``SessionCache``: database sessions served from the process, and every process told.

What users depend on, on SQLite and on PostgreSQL: a cached request costs no round trip; a
sign-out, a revocation, a user change through the adapter or the ORM is seen at once; a write
that tells nobody is seen within ``ttl``. On PostgreSQL: while the listener is down, silent,
or deaf behind PgBouncer in transaction mode, every request reads the database. A database
the cache cannot serve refuses to start. The PostgreSQL cases need it (skipped locally
without it, failed under CI); the two-process tests are in ``test_two_processes.py``.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, make_url, text

from flask_sessionext import AuthExt
from flask_sessionext.adapters import SessionCache, SQLAlchemyAdapter
from flask_sessionext.adapters.notify_listener import LISTENER
from flask_sessionext.errors import ConfigurationError
from flask_sessionext.providers import Credentials

from .database import DATABASE_URL, database_app, new_db
from .helpers import authorize, csrf_token, sign_in
from .netcut import relay
from .test_concurrency import require_postgres
from .test_fast_lookup import ONE_CONNECTION, engine_of, round_trips

#: Long enough that only a notification (or the listener going offline) explains an eviction.
LONG_TTL = 300.0
WAIT = 5.0


def cached_app(url: str, **options: Any) -> tuple[Flask, AuthExt[Any], FlaskClient]:
    """An app with the session cache on ``url`` (one pooled connection); Alice signed in."""
    db = new_db()
    options.setdefault("ttl", LONG_TTL)
    adapter = SQLAlchemyAdapter(db, session_cache=SessionCache(**options))

    def stored(credentials: dict[str, str]) -> Any:
        user = authorize(credentials)
        return user and {**user, "id": "u1"}

    pool: Any = ONE_CONNECTION
    app, auth, _ = database_app(
        url, [Credentials(authorize=stored)], db=db, adapter=adapter, **pool
    )
    with app.app_context():
        adapter.create_user({"id": "u1", "name": "Alice"})
    client = app.test_client()
    sign_in(client)
    return app, auth, client


def name(client: FlaskClient) -> Any:
    """The signed-in user's name, or ``None`` when signed out."""
    response = client.get("/private", headers={"Accept": "application/json"})
    if response.status_code == 401:
        return None
    assert response.status_code == 200, response.status_code
    return response.get_json()["user"]["name"]


def served_from_cache(app: Flask, client: FlaskClient) -> bool:
    """Whether a request now costs no round trip on the app's pooled connection."""
    with round_trips(app) as sent:
        assert name(client) is not None
    return not sent


def wait_cached(app: Flask, client: FlaskClient) -> None:
    """Until the listener is live and the session cached (a request then sends nothing)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if served_from_cache(app, client):
            return
        time.sleep(0.05)
    pytest.fail("the session was never served from the cache")


def wait_for(check: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {WAIT} s: {what}")
        time.sleep(0.02)


def raw_sql(app: Flask, statement: str) -> None:
    """A write through the app's engine that sends no notification (as another app's would)."""
    with engine_of(app).begin() as conn:
        conn.execute(text(statement))


def listen_url(url: str) -> str | None:
    """Behind PgBouncer (transaction mode cannot LISTEN) the listener needs the server."""
    assert DATABASE_URL is not None
    return DATABASE_URL if make_url(url).port != make_url(DATABASE_URL).port else None


@pytest.mark.through_pgbouncer
def test_a_cached_session_costs_no_round_trip_on_postgresql(database_url: str) -> None:
    require_postgres(database_url, "the session cache listens with PostgreSQL's LISTEN/NOTIFY")
    app, _, client = cached_app(database_url, listen_url=listen_url(database_url))
    wait_cached(app, client)
    response = client.get("/private")
    assert response.status_code == 200 and "Set-Cookie" not in response.headers


def test_a_cached_session_costs_no_round_trip_on_sqlite(tmp_path: Any) -> None:
    app, _, client = cached_app(f"sqlite:///{tmp_path}/cache.db")
    wait_cached(app, client)
    assert (tmp_path / "cache.db-sessionext").stat().st_size == 8  # the shared stamp


def test_sign_out_and_revocation_are_seen_at_once(cache_url: str) -> None:
    app, auth, client = cached_app(cache_url)
    wait_cached(app, client)
    signed_out = client.post("/api/auth/signout", data={"csrfToken": csrf_token(client)})
    assert signed_out.status_code == 302
    assert name(client) is None

    sign_in(client)
    wait_cached(app, client)
    with app.app_context():
        assert auth.revoke_sessions("u1") == 1
    assert name(client) is None


def test_user_changes_through_the_adapter_or_the_orm_are_seen_at_once(cache_url: str) -> None:
    app, auth, client = cached_app(cache_url)
    adapter: Any = auth.adapter
    wait_cached(app, client)
    with app.app_context():
        adapter.update_user("u1", {"name": "Alice A."})
    assert name(client) == "Alice A."

    wait_cached(app, client)
    with app.app_context():
        db = app.extensions["test_db"]
        db.session.get(adapter.User, "u1").name = "Alice B."
        db.session.commit()
    assert name(client) == "Alice B."

    wait_cached(app, client)
    with app.app_context():
        db.session.delete(db.session.get(adapter.User, "u1"))  # its sessions go with it
        db.session.commit()
    assert name(client) is None


def test_a_sliding_update_writes_once_and_the_next_request_reads_the_new_expiry(
    cache_url: str,
) -> None:
    app, _, client = cached_app(cache_url)
    wait_cached(app, client)
    # A day and a minute later (update age is one day), on the wall clock the flow reads:
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(days=1, minutes=1)):
        due = client.get("/private")
        assert "authjs.session-token=" in due.headers.get("Set-Cookie", "")
        then = client.get("/private")  # this process forgot its older expiry
        assert then.status_code == 200 and "Set-Cookie" not in then.headers


def test_a_write_that_tells_nobody_is_seen_within_ttl(cache_url: str) -> None:
    app, _, client = cached_app(cache_url, ttl=1.0)
    wait_cached(app, client)
    raw_sql(app, "UPDATE users SET name = 'Changed'")
    assert name(client) == "Alice"  # served from the cache: nobody was told
    time.sleep(1.1)
    assert name(client) == "Changed"


def test_while_the_listener_is_down_every_request_reads_the_database(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="flask_sessionext")
    require_postgres(database_url, "the session cache listens with PostgreSQL's LISTEN/NOTIFY")
    app, _, client = cached_app(database_url)
    wait_cached(app, client)
    assert DATABASE_URL is not None
    admin = create_engine(DATABASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        ended = conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :a"
            ),
            {"a": LISTENER},
        ).all()
    admin.dispose()
    assert ended
    raw_sql(app, "DELETE FROM sessions")  # no notification: only the database knows
    wait_for(lambda: name(client) is None, "the signed-out state, from the database")
    wait_for(lambda: any("listener failed" in r.getMessage() for r in caplog.records), "a log")

    sign_in(client)  # the listener reconnects: the cache serves again
    wait_cached(app, client)


def test_a_silent_listener_stops_the_cache_and_a_gap_empties_it(database_url: str) -> None:
    """The listener's connection neither answers nor closes: within ``3 * heartbeat`` every
    request reads the database; when it answers again, what was cached before is forgotten
    (notifications of the gap may be lost)."""
    require_postgres(database_url, "the session cache listens with PostgreSQL's LISTEN/NOTIFY")
    target = make_url(database_url)
    with relay((target.host or "127.0.0.1", target.port or 5432)) as silent:
        via_relay = target.set(host="127.0.0.1", port=silent.port)
        app, _, client = cached_app(
            database_url, heartbeat=0.2, listen_url=via_relay.render_as_string(False)
        )
        wait_cached(app, client)
        old = client.get_cookie("authjs.session-token")
        assert old is not None
        silent.stall()
        raw_sql(app, "DELETE FROM sessions")  # its notification is held back with the rest
        wait_for(lambda: name(client) is None, "the signed-out state, from the database")

        silent.resume()
        sign_in(client)
        wait_cached(app, client)  # live again
        client.set_cookie(old.key, old.value, domain=old.domain)
        assert name(client) is None  # the old entry did not survive the gap


def test_a_listener_behind_pgbouncer_transaction_mode_keeps_the_cache_off(
    pgbouncer_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """PgBouncer in transaction mode accepts LISTEN but delivers nothing: the listener's
    own ping never returns, so nothing is ever served from the cache."""
    caplog.set_level(logging.ERROR, logger="flask_sessionext")
    require_postgres(pgbouncer_database_url)
    app, _, client = cached_app(pgbouncer_database_url, heartbeat=0.2)
    wait_for(  # the first lookup starts the listener
        lambda: name(client) and any("DeafListener" in r.getMessage() for r in caplog.records),
        "the listener's complaint",
    )
    assert not any(served_from_cache(app, client) for _ in range(5))


def test_a_database_the_cache_cannot_serve_refuses_to_start() -> None:
    db = new_db()
    adapter = SQLAlchemyAdapter(db, session_cache=SessionCache())
    url = "mysql+pymysql://nobody@127.0.0.1:9/none"  # refused before a connection is tried
    with pytest.raises(ConfigurationError, match="PostgreSQL through psycopg 3"):
        database_app(url, [Credentials(authorize)], db=db, adapter=adapter)


def test_a_stamp_file_that_cannot_be_made_refuses_to_start(tmp_path: Any) -> None:
    db = new_db()
    adapter = SQLAlchemyAdapter(db, session_cache=SessionCache())
    url = f"sqlite:///{tmp_path}/missing/app.db"  # no such directory
    with pytest.raises(ConfigurationError, match="cannot open its stamp file"):
        database_app(url, [Credentials(authorize)], db=db, adapter=adapter)


def test_a_sqlite_uri_refuses_to_start(tmp_path: Any) -> None:
    db = new_db()
    adapter = SQLAlchemyAdapter(db, session_cache=SessionCache())
    url = f"sqlite:///file:{tmp_path}/c.db?mode=rwc&uri=true"
    with pytest.raises(ConfigurationError, match="plain path"):
        database_app(url, [Credentials(authorize)], db=db, adapter=adapter)


@pytest.mark.parametrize(
    "options",
    [{"ttl": 0}, {"heartbeat": -1}, {"size": 0}, {"channel": "Sessions"}, {"channel": "a;b"}],
)
def test_bad_cache_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        SessionCache(**options)
