"""Where rate limits count: Redis shared by two app processes, a Redis outage (a real
``redis-server`` stopped and started again), and the storage of the app's Flask-Limiter."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from flask.testing import FlaskClient
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.test import TestResponse

from flask_sessionext import AuthExt
from flask_sessionext.errors import ConfigurationError
from flask_sessionext.providers import Credentials

from . import test_token_outage
from .helpers import SECRET, authorize
from .processes import Server, init_app, running
from .test_concurrency import require_postgres
from .test_token_outage import RedisServer

#: A redis-server of the test's own on a free port, to stop and start again.
redis_server = test_token_outage.redis_server

API = "/api/auth"
HTTP_TIMEOUT = 10.0
A, B = "192.0.2.1", "192.0.2.2"


def credentials_app(**config: Any) -> Flask:
    """``alice`` and ``bob``, password ``pw`` (``tests/conftest.py``), on the JWT strategy."""
    app = Flask(__name__)
    app.config.update({"TESTING": True, "AUTH_SECRET": SECRET, **config})
    AuthExt(app, providers=[Credentials(authorize=authorize)])
    return app


def sign_in(client: FlaskClient, username: str, password: str, address: str) -> TestResponse:
    environ = {"REMOTE_ADDR": address}
    csrf = client.get(f"{API}/csrf", environ_base=environ).get_json()["csrfToken"]
    form = {"csrfToken": csrf, "username": username, "password": password}
    return client.post(f"{API}/callback/credentials", data=form, environ_base=environ)


def outcome(response: TestResponse | requests.Response) -> str:
    """``limited``, ``refused`` (a wrong password), ``signed in``, or the status."""
    if response.status_code == 429:
        assert int(response.headers["Retry-After"]) >= 1
        return "limited"
    location = response.headers.get("Location", "")
    if response.status_code == 302:
        return "refused" if "error=CredentialsSignin" in location else "signed in"
    return str(response.status_code)


# -- Redis shared by two processes -----------------------------------------------------------


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own in the shared Redis; its keys are deleted after."""
    prefix = f"sessionext-test-limits:{time.time_ns()}"
    yield prefix
    client = redis.Redis(host="127.0.0.1", port=6379)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


def http_sign_in(server: Server, username: str, password: str, address: str) -> str:
    """The credentials form over HTTP, from ``address`` as a proxy would tell it."""
    headers = {"X-Forwarded-For": address}
    with requests.Session() as http:
        csrf = http.get(f"{server.url}{API}/csrf", headers=headers, timeout=HTTP_TIMEOUT)
        form = {"csrfToken": csrf.json()["csrfToken"], "username": username, "password": password}
        response = http.post(
            f"{server.url}{API}/callback/credentials",
            data=form,
            headers=headers,
            allow_redirects=False,
            timeout=HTTP_TIMEOUT,
        )
    return outcome(response)


def test_two_processes_share_the_limits_in_redis(database_url: str, redis_prefix: str) -> None:
    require_postgres(database_url, "two server processes share a database server, not a file")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "AUTH_SECRET": SECRET,
        "RATE_LIMIT_PREFIX": redis_prefix,
    }
    init_app("tests.apps.db_app", env)
    with running("tests.apps.db_app", env, count=2) as (one, two):
        for i in range(10):
            assert http_sign_in((one, two)[i % 2], "ann@example.com", "wrong", A) == "refused"
        assert http_sign_in(one, "ann@example.com", "wrong", A) == "limited"
        assert http_sign_in(two, "ann@example.com", "wrong", B) == "limited"  # the account's
        assert http_sign_in(two, "ann@example.com", "pw", B) == "limited"
        assert http_sign_in(two, "ben@example.com", "pw", B) == "signed in"


# -- a Redis outage ------------------------------------------------------------------------


def test_a_storage_outage_lets_sign_ins_through_and_is_logged_once(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    storage = f"redis://127.0.0.1:{redis_server.port}/0?socket_connect_timeout=2&socket_timeout=2"
    app = credentials_app(AUTH_RATE_LIMIT_STORAGE=storage)
    caplog.set_level(logging.WARNING, logger="flask_sessionext")
    with app.test_client() as client:
        for _ in range(10):
            assert outcome(sign_in(client, "alice", "wrong", A)) == "refused"
        assert outcome(sign_in(client, "alice", "pw", A)) == "limited"

        redis_server.kill()
        # Passwords are still checked; nobody is locked out while the limits cannot count.
        for _ in range(3):
            assert outcome(sign_in(client, "alice", "wrong", A)) == "refused"
        assert outcome(sign_in(client, "alice", "pw", A)) == "signed in"
        failed = [r for r in caplog.records if "rate limit storage failed" in r.getMessage()]
        assert len(failed) == 1
        assert "unlimited" in failed[0].getMessage()

        redis_server.start()
        for _ in range(10):
            assert outcome(sign_in(client, "bob", "wrong", B)) == "refused"
        assert outcome(sign_in(client, "bob", "wrong", B)) == "limited"
    back = [r for r in caplog.records if "rate limit storage works again" in r.getMessage()]
    assert len(back) == 1


# -- the app's Flask-Limiter ---------------------------------------------------------------


def limiter_app(**config: Any) -> tuple[Flask, Limiter]:
    """The app of :func:`credentials_app`, counting in the storage of its Flask-Limiter."""
    app = Flask(__name__)
    app.config.update({"TESTING": True, "AUTH_SECRET": SECRET, **config})
    limiter = Limiter(get_remote_address, app=app, storage_uri="memory://")
    app.config["AUTH_RATE_LIMIT_STORAGE"] = limiter
    AuthExt(app, providers=[Credentials(authorize=authorize)])
    return app, limiter


def test_the_limits_share_the_apps_flask_limiter() -> None:
    app, limiter = limiter_app()
    with app.test_client() as client:
        for _ in range(10):
            assert outcome(sign_in(client, "alice", "wrong", A)) == "refused"
        assert outcome(sign_in(client, "alice", "pw", B)) == "limited"
        limiter.reset()  # the counts live in the limiter's storage
        assert outcome(sign_in(client, "alice", "pw", B)) == "signed in"


def test_a_disabled_flask_limiter_turns_the_limits_off() -> None:
    app, _ = limiter_app(RATELIMIT_ENABLED=False)
    with app.test_client() as client:
        for _ in range(12):
            assert outcome(sign_in(client, "alice", "wrong", A)) == "refused"


def test_a_flask_limiter_must_be_initialised_first() -> None:
    limiter = Limiter(get_remote_address, storage_uri="memory://")
    with pytest.raises(ConfigurationError, match=r"call limiter\.init_app\(app\) before"):
        credentials_app(AUTH_RATE_LIMIT_STORAGE=limiter)
