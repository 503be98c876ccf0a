"""Guards of the token API that no other test pins: each fails when its check is removed.

Refresh tokens are stored only as hashes, an expired one is refused, a revoke that interleaves
with a refresh on the SQL store leaves no live token, and an expired access token signed with
the app's own key is refused (not merely one signed with a stranger's key).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event, select, text
from sqlalchemy.engine import Connection, Engine

from flask_sessionext.adapters import MemoryAdapter, SQLAlchemyAdapter
from flask_sessionext.errors import ConfigurationError
from flask_sessionext.token_store import RedisTokenStore

from . import test_token_api
from .test_token_api import API, bearer, login, sql_token_app, token_app

# The token-API app on each refresh-token store (memory, Redis, SQL), and its Redis store.
make_app, redis_store = test_token_api.make_app, test_token_api.redis_store

#: Longest a test waits for a thread it started to reach a point (a hang, not a timing).
DEADLINE = 30.0


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def stored_text(app: Flask) -> str:
    """Everything the app's refresh-token store holds, rows and keys, as one string."""
    store = app.extensions["sessionext"].token_store
    if isinstance(store, RedisTokenStore):
        client = store.client
        parts: list[str] = []
        for key in client.scan_iter(f"{store.prefix}*"):
            kind = client.type(key)
            kind = kind.decode() if isinstance(kind, bytes) else kind
            value: Any = {
                "hash": client.hgetall,
                "set": client.smembers,
                "string": client.get,
                "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
                "list": lambda k: client.lrange(k, 0, -1),
            }[kind](key)
            parts.append(f"{key!r}={value!r}")
        return "\n".join(parts)
    if isinstance(store, SQLAlchemyAdapter):
        db: SQLAlchemy = store.db
        with app.app_context(), db.engine.connect() as conn:
            return "\n".join(
                repr(row)
                for table in db.metadata.sorted_tables
                for row in conn.execute(select(table)).all()
            )
    assert isinstance(store, MemoryAdapter)
    return repr(vars(store))


def test_refresh_tokens_are_stored_only_as_hashes(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    client = app.test_client()
    first = login(client).get_json()["refreshToken"]
    second = client.post(f"{API}/token/refresh", json={"refreshToken": first}).get_json()
    stored = stored_text(app)
    for token in (first, second["refreshToken"]):
        assert token not in stored  # a leaked store grants nothing
        assert _sha256(token) in stored  # and this is the store the tokens live in


def test_an_expired_refresh_token_is_refused(make_app: Callable[..., Flask]) -> None:
    """A token past its expiry is refused even while the store still holds it."""
    app = make_app()
    client = app.test_client()
    live = login(client).get_json()
    family = bearer_claims(app, live["token"])["sid"]
    store = app.extensions["sessionext"].token_store
    expired, fresh = "e" * 43, "f" * 43
    past = datetime.now(timezone.utc) - timedelta(minutes=5)
    future = datetime.now(timezone.utc) + timedelta(minutes=5)
    with app.app_context():
        store.save_refresh_token(_sha256(expired), family, {"sub": "1", "role": "admin"}, past)
        store.save_refresh_token(_sha256(fresh), family, {"sub": "1", "role": "admin"}, future)
    refused = client.post(f"{API}/token/refresh", json={"refreshToken": expired})
    assert refused.status_code == 401
    assert refused.get_json()["error"] == "invalid_grant"
    # The same record with a future expiry works: only the expiry refused the first one.
    assert client.post(f"{API}/token/refresh", json={"refreshToken": fresh}).status_code == 200


def bearer_claims(app: Flask, token: str) -> dict[str, Any]:
    """The claims of an access token, verified by the app itself."""
    access = app.extensions["sessionext"].access_tokens
    return dict(access.decode(token))


# --- an expired access token signed with the app's own key -----------------------------------


def pem(key: PrivateKeyTypes) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def es256_pem() -> str:
    return pem(ec.generate_private_key(ec.SECP256R1()))


STRONG_KEYS: dict[str, tuple[str, Callable[[], PrivateKeyTypes]]] = {
    "ES256": ("ES256", lambda: ec.generate_private_key(ec.SECP256R1())),
    "RS256-2048": ("RS256", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    "EdDSA-Ed25519": ("EdDSA", ed25519.Ed25519PrivateKey.generate),
    "EdDSA-Ed448": ("EdDSA", ed448.Ed448PrivateKey.generate),
}


@pytest.mark.parametrize("kind", sorted(STRONG_KEYS))
def test_every_asymmetric_algorithm_starts_with_a_strong_key_and_verifies_by_jwks(
    kind: str,
) -> None:
    """The key checks refuse only weak or mismatched keys: each strong one signs tokens that
    another service verifies with the published JWKS alone."""
    algorithm, generate = STRONG_KEYS[kind]
    app = token_app(
        adapter=MemoryAdapter(),
        AUTH_SESSION_STRATEGY="jwt",
        AUTH_TOKEN_ALGORITHM=algorithm,
        AUTH_TOKEN_PRIVATE_KEY=pem(generate()),
    )
    client = app.test_client()
    token = login(client).get_json()["token"]
    assert client.get("/private", headers=bearer(token)).status_code == 200
    [jwk] = client.get(f"{API}/jwks").get_json()["keys"]
    assert jwk["alg"] == algorithm and "d" not in jwk
    public = pyjwt.PyJWK(jwk).key
    assert pyjwt.decode(token, public, algorithms=[algorithm])["sub"] == "1"


def test_an_rsa_key_just_under_2048_bits_is_refused() -> None:
    short = rsa.generate_private_key(public_exponent=65537, key_size=2040)  # noqa: S505
    with pytest.raises(ConfigurationError, match="2048"):
        token_app(
            adapter=MemoryAdapter(),
            AUTH_SESSION_STRATEGY="jwt",
            AUTH_TOKEN_ALGORITHM="RS256",
            AUTH_TOKEN_PRIVATE_KEY=pem(short),
        )


@pytest.mark.parametrize("algorithm", ["HS256", "ES256"])
def test_an_expired_access_token_with_a_valid_signature_is_refused(
    algorithm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = {"AUTH_TOKEN_ALGORITHM": "ES256", "AUTH_TOKEN_PRIVATE_KEY": es256_pem()}
    app = token_app(
        adapter=MemoryAdapter(),
        AUTH_SESSION_STRATEGY="jwt",
        **(keys if algorithm == "ES256" else {}),
    )
    client = app.test_client()
    real = time.time
    with monkeypatch.context() as clock:
        # Log in 16 minutes ago: the app's own signer issues a 15-minute token then.
        clock.setattr(time, "time", lambda: real() - 16 * 60)
        old = login(client).get_json()["token"]
    response = client.get("/private", headers=bearer(old))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert client.get(f"{API}/session", headers=bearer(old)).status_code == 401
    # Logged in 14 minutes ago, the same signer's token is still good.
    with monkeypatch.context() as clock:
        clock.setattr(time, "time", lambda: real() - 14 * 60)
        recent = login(client).get_json()["token"]
    assert client.get("/private", headers=bearer(recent)).status_code == 200


# --- a revoke interleaved with a refresh on the SQL store -------------------------------------


@pytest.fixture
def sql_app(database_url: str) -> Iterator[tuple[Flask, Engine]]:
    """The token-API app on the SQL adapter, and its engine."""
    app = sql_token_app(
        database_url,
        AUTH_TOKEN_REUSE_GRACE=3600,
        # SQLite: a write that meets another's lock fails at once instead of waiting, so the
        # test sees the revoke blocked (a 503) rather than guessing from the clock.
        SQLALCHEMY_ENGINE_OPTIONS=(
            {"connect_args": {"timeout": 0}} if database_url.startswith("sqlite") else {}
        ),
    )
    with app.app_context():
        yield app, app.extensions["sqlalchemy"].engine


class Pause:
    """Holds one thread's transaction just before it inserts a refresh token, on the real
    connection (an engine event, no stand-in for the store)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.thread: int | None = None
        self.reached = threading.Event()
        self.release = threading.Event()
        self.backend_pid: int | None = None
        event.listen(engine, "before_cursor_execute", self._before)

    def _before(self, conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() != self.thread:
            return
        if not statement.lstrip().upper().startswith("INSERT INTO REFRESH_TOKENS"):
            return
        if conn.dialect.name == "postgresql":
            self.backend_pid = conn.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
        self.reached.set()
        assert self.release.wait(DEADLINE), "the test never released the paused refresh"

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)


def wait_until_blocked_or_done(engine: Engine, pause: Pause, revoke: threading.Thread) -> None:
    """Return once the revoke waits on the paused refresh's lock, or has finished.

    PostgreSQL tells which backend blocks which (``pg_blocking_pids``); on SQLite (no busy
    timeout here) a revoke that meets the refresh's write lock finishes at once, with a 503.
    """
    deadline = time.monotonic() + DEADLINE
    while revoke.is_alive():
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                blocked = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE :pid = ANY(pg_blocking_pids(pid))"
                    ),
                    {"pid": pause.backend_pid},
                ).scalar_one()
            if blocked:
                return
        assert time.monotonic() < deadline, "the revoke neither finished nor waited on the lock"
        revoke.join(0.01)


def test_a_revoke_interleaved_with_a_refresh_leaves_no_live_token(
    sql_app: tuple[Flask, Engine],
) -> None:
    """Logout runs while a refresh has spent the old token but not yet stored the new one."""
    app, engine = sql_app
    first = login(app.test_client()).get_json()
    pause = Pause(engine)
    results: dict[str, Any] = {}

    def refresh() -> None:
        pause.thread = threading.get_ident()
        results["refresh"] = app.test_client().post(
            f"{API}/token/refresh", json={"refreshToken": first["refreshToken"]}
        )

    def logout() -> None:
        results["logout"] = app.test_client().post(
            f"{API}/token/logout", headers=bearer(first["token"])
        )

    refresher = threading.Thread(target=refresh)
    revoker = threading.Thread(target=logout)
    try:
        refresher.start()
        assert pause.reached.wait(DEADLINE), "the refresh never reached its insert"
        revoker.start()
        wait_until_blocked_or_done(engine, pause, revoker)
    finally:
        pause.release.set()
        refresher.join(DEADLINE)
        revoker.join(DEADLINE)
        pause.remove()
    if results["logout"].status_code == 503:
        # SQLite: the refresh held the database's write lock, so the revoke could not run
        # (and signed no one out); run it again now the refresh is done.
        logout()
    assert results["logout"].status_code == 200
    answer = results["refresh"]
    assert answer.status_code in (200, 401)
    if answer.status_code == 200:
        # The refresh won its row, but the revoke must still catch the token it stored.
        again = app.test_client().post(
            f"{API}/token/refresh", json={"refreshToken": answer.get_json()["refreshToken"]}
        )
        assert again.status_code == 401
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM refresh_tokens")).scalar_one() == 0
