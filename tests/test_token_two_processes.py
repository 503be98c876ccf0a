"""Two app processes share one refresh token store: the token API across processes.

The app is ``tests/apps/token_app.py`` (token API on, Credentials provider), run twice as real
processes on their own loopback ports and spoken to over HTTP, once on Redis
(``RedisTokenStore``) and once on PostgreSQL (the SQLAlchemy adapter's ``refresh_tokens``).
The PostgreSQL run needs ``SESSIONEXT_TEST_DATABASE_URL``: skipped without it, failed without
it under ``CI``. The processes run with ``REUSE_GRACE`` shortened to one second.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from .helpers import SECRET, redis_prefix
from .processes import Server, init_app, running
from .test_concurrency import require_postgres

APP = "tests.apps.token_app"
API = "/api/auth"
GRACE = 1  # seconds: the processes' REUSE_GRACE
HTTP_TIMEOUT = 10.0


@pytest.fixture
def store_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The environment of the app processes: one store, one secret, a one-second grace."""
    env = {**os.environ, "AUTH_SECRET": SECRET, "REUSE_GRACE": str(GRACE)}
    if request.param == "redis":
        with redis_prefix() as prefix:
            yield {**env, "TOKEN_STORE": "redis", "REDIS_PREFIX": prefix}
        return
    database_url = request.getfixturevalue("database_url")
    require_postgres(database_url, "SQLite is not a store two server processes would share")
    env = {**env, "TOKEN_STORE": "database", "DATABASE_URL": database_url}
    init_app(APP, env)
    yield env


@pytest.fixture
def servers(store_env: dict[str, str]) -> Iterator[tuple[Server, Server]]:
    """Two processes of the app on one store, started side by side, always stopped."""
    # Stopped before the database fixture drops the schema: no connection is left to it.
    with running(APP, store_env, count=2) as (a, b):
        yield a, b


def post(server: Server, route: str, body: Any = None, **headers: str) -> requests.Response:
    return requests.post(
        f"{server.url}{API}{route}", json=body, headers=headers, timeout=HTTP_TIMEOUT
    )


def refresh(server: Server, refresh_token: str) -> requests.Response:
    return post(server, "/token/refresh", {"refreshToken": refresh_token})


def private(server: Server, access_token: str) -> requests.Response:
    return requests.get(
        f"{server.url}/private",
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        timeout=HTTP_TIMEOUT,
    )


def at_once(servers: tuple[Server, Server], refresh_token: str) -> list[requests.Response]:
    """The same refresh request to both processes, released together by a barrier."""
    barrier = threading.Barrier(len(servers))
    results: dict[int, requests.Response] = {}
    errors: list[BaseException] = []

    def fire(index: int, server: Server) -> None:
        try:
            barrier.wait(timeout=HTTP_TIMEOUT)
            results[index] = refresh(server, refresh_token)
        except BaseException as error:  # reported in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=fire, args=item) for item in enumerate(servers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=2 * HTTP_TIMEOUT)
    assert not errors, errors
    return [results[i] for i in range(len(servers))]


@pytest.mark.parametrize("store_env", ["redis", "postgresql"], indirect=True)
def test_one_refresh_token_fired_at_two_processes_at_once(
    servers: tuple[Server, Server],
) -> None:
    a, b = servers
    pids = {requests.get(f"{s.url}/pid", timeout=HTTP_TIMEOUT).json()["pid"] for s in servers}
    assert len(pids) == 2 and os.getpid() not in pids  # two processes, neither this one

    login = post(a, "/token/login", {"username": "alice", "password": "pw"})
    assert login.status_code == 200, login.text
    first = login.json()
    assert set(first) == {"token", "refreshToken", "expiresIn"}

    # An access token issued by A verifies on B: same secret, nothing shared but the store.
    on_b = private(b, first["token"])
    assert on_b.status_code == 200, on_b.text
    assert on_b.json()["sub"] == "1" and on_b.json()["session"]["user"]["role"] == "admin"
    assert private(a, first["token"]).status_code == 200

    # The same refresh token at both processes at the same moment: one rotation, and both
    # get its successor (within the grace window a duplicate is a retry or a second tab).
    results = at_once(servers, first["refreshToken"])
    assert [r.status_code for r in results] == [200, 200], [r.text for r in results]
    pairs = [r.json() for r in results]
    assert pairs[0]["refreshToken"] == pairs[1]["refreshToken"] != first["refreshToken"]

    # The pair works on both processes; the duplicate revoked nothing, so the successor
    # still refreshes, once.
    assert private(b, pairs[0]["token"]).status_code == 200
    third = refresh(b, pairs[0]["refreshToken"])
    assert third.status_code == 200, third.text
    latest = third.json()
    assert private(a, latest["token"]).status_code == 200

    # After the grace window, the first refresh token again is true reuse (a stolen copy):
    # refused, and its whole family revoked, on whichever process sees it.
    time.sleep(GRACE + 0.2)
    replay = refresh(a, first["refreshToken"])
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_grant"
    for server in (a, b):
        revoked = refresh(server, latest["refreshToken"])
        assert revoked.status_code == 401, f"{server.url}: {revoked.text}"
        assert revoked.json()["error"] == "invalid_grant"
    # A new login starts a new family, unaffected.
    again = post(b, "/token/login", {"username": "alice", "password": "pw"}).json()
    assert refresh(a, again["refreshToken"]).status_code == 200
