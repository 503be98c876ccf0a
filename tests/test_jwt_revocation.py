"""Revocable JWT sessions: ``AUTH_JWT_REVOCATION`` and ``auth.revoke_sessions(user_id)``.

Two apps with one secret and one store stand for two hosts. The store is a real Redis
(``RedisTokenStore``) or the SQLAlchemy adapter (SQLite, or PostgreSQL in CI).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from flask_sessionext import AuthExt
from flask_sessionext.errors import ConfigurationError
from flask_sessionext.providers import Credentials
from flask_sessionext.token_store import RedisTokenStore

from .database import database_app
from .helpers import (
    SECRET,
    add_views,
    authorize,
    redis_prefix,
    session_cookie,
    sign_in,
    unreachable_redis,
)

API = "/api/auth"
COOKIE = "authjs.session-token"


def redis_app(store: RedisTokenStore, **config: Any) -> tuple[Flask, AuthExt[Any]]:
    app = Flask(__name__)
    app.config.update(
        {"TESTING": True, "AUTH_SECRET": SECRET, "AUTH_JWT_REVOCATION": "token_store", **config}
    )
    auth: AuthExt[Any] = AuthExt(
        app, providers=[Credentials(authorize=authorize)], token_store=store
    )
    add_views(app)
    return app, auth


@pytest.fixture(params=["redis", "adapter"])
def hosts(
    request: pytest.FixtureRequest, database_url: str
) -> Iterator[Callable[..., tuple[Flask, AuthExt[Any]]]]:
    """Build apps ("hosts") that share one revocation store: Redis, or the SQL adapter."""
    if request.param == "redis":
        with redis_prefix() as prefix:
            store = RedisTokenStore(redis.Redis(host="127.0.0.1", port=6379), prefix=prefix)
            yield lambda **config: redis_app(store, **config)
            store.client.close()
        return

    def make(**config: Any) -> tuple[Flask, AuthExt[Any]]:
        app, auth, _ = database_app(
            database_url,
            [Credentials(authorize=authorize)],
            AUTH_SESSION_STRATEGY="jwt",
            AUTH_JWT_REVOCATION="adapter",
            **config,
        )
        return app, auth

    yield make


def session_of(client: FlaskClient) -> Any:
    return client.get(f"{API}/session").get_json()


def test_revoked_sessions_read_as_signed_out_on_every_host(
    hosts: Callable[..., tuple[Flask, AuthExt[Any]]],
) -> None:
    (one, auth), (two, _) = hosts(), hosts()
    alice, bob = one.test_client(), two.test_client()
    sign_in(alice, "alice")
    sign_in(bob, "bob")
    cookie = session_cookie(alice)
    elsewhere = two.test_client()  # Alice's cookie, on the other host
    elsewhere.set_cookie(COOKIE, cookie or "")
    assert session_of(elsewhere)["user"]["name"] == "Alice"

    with one.app_context():
        assert auth.revoke_sessions("1") == 0  # JWTs cannot be counted

    for client in (alice, elsewhere):
        response = client.get(f"{API}/session")
        assert response.status_code == 200 and response.get_json() is None
        assert f"{COOKIE}=;" in response.headers.get("Set-Cookie", "")  # expired
        assert client.get("/private", headers={"Accept": "application/json"}).status_code == 401
    assert session_of(bob)["user"]["name"] == "Bob"  # others are untouched
    # A sign-in after the revoked second is a new session (revocation counts whole seconds).
    time.sleep(1.05)
    again = one.test_client()
    sign_in(again, "alice")
    assert session_of(again)["user"]["name"] == "Alice"


def test_bearer_tokens_and_refresh_tokens_of_the_token_api_are_revoked(
    hosts: Callable[..., tuple[Flask, AuthExt[Any]]],
) -> None:
    app, auth = hosts(AUTH_TOKEN_API=True)
    client = app.test_client()
    login = client.post(f"{API}/token/login", json={"username": "alice", "password": "pw"})
    pair = login.get_json()
    bearer = {"Authorization": f"Bearer {pair['token']}", "Accept": "application/json"}
    assert client.get("/private", headers=bearer).status_code == 200
    with app.app_context():
        auth.revoke_sessions("1")
    assert client.get("/private", headers=bearer).status_code == 401
    refreshed = client.post(f"{API}/token/refresh", json={"refreshToken": pair["refreshToken"]})
    assert refreshed.status_code == 401
    assert refreshed.get_json()["error"] == "invalid_grant"


def dead_redis_store() -> RedisTokenStore:
    return RedisTokenStore(unreachable_redis())


def test_a_store_outage_answers_503_and_signs_nobody_out() -> None:
    with redis_prefix() as prefix:
        good = RedisTokenStore(redis.Redis(host="127.0.0.1", port=6379), prefix=prefix)
        app, _ = redis_app(good)
        client = app.test_client()
        sign_in(client, "alice")
        cookie = session_cookie(client)
        good.client.close()
    down, _ = redis_app(dead_redis_store())
    client = down.test_client()
    client.set_cookie(COOKIE, cookie or "")
    response = client.get(f"{API}/session", headers={"Accept": "application/json"})
    assert response.status_code == 503
    assert "Set-Cookie" not in response.headers and session_cookie(client) == cookie


def test_without_the_setting_no_store_is_read() -> None:
    """Off by default: a JWT session needs nothing but the cookie (the store here is down)."""
    app = Flask(__name__)
    app.config.update(TESTING=True, AUTH_SECRET=SECRET)
    AuthExt(app, providers=[Credentials(authorize=authorize)], token_store=dead_redis_store())
    client = app.test_client()
    sign_in(client, "alice")
    assert session_of(client)["user"]["name"] == "Alice"


def test_misconfiguration_refuses_to_start(database_url: str) -> None:
    with pytest.raises(ConfigurationError, match="AUTH_JWT_REVOCATION must be one of"):
        redis_app(dead_redis_store(), AUTH_JWT_REVOCATION="redis")
    app = Flask(__name__)
    app.config.update(TESTING=True, AUTH_SECRET=SECRET, AUTH_JWT_REVOCATION="adapter")
    with pytest.raises(ConfigurationError, match="needs AuthExt"):
        AuthExt(app, providers=[Credentials(authorize=authorize)])
    with pytest.raises(ConfigurationError, match="'jwt' session strategy"):
        database_app(
            database_url, [Credentials(authorize=authorize)], AUTH_JWT_REVOCATION="adapter"
        )
    plain = Flask(__name__)
    plain.config.update(TESTING=True, AUTH_SECRET=SECRET)
    auth: AuthExt[Any] = AuthExt(plain, providers=[Credentials(authorize=authorize)])
    with plain.app_context(), pytest.raises(ConfigurationError, match="AUTH_JWT_REVOCATION"):
        auth.revoke_sessions("1")
