"""Provider token refresh happens once per deployment, not once per process.

Two processes of ``tests/apps/oauth_app.py`` (JWT strategy, ``OIDC(refresh=True)``) share a
store, Redis or PostgreSQL, and the test OpenID Provider, which rotates refresh tokens (a used
one is refused, and its reuse revokes the grant). 50 requests carrying one session whose
access token has expired reach both processes at once: the OP must see exactly one refresh,
every request must get the one new access token, and both processes must then accept the
new session. The PostgreSQL run needs ``SESSIONEXT_TEST_DATABASE_URL`` (skipped without it,
failed without it under ``CI``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from flask_sessionext.jwt import decode, encode

from .helpers import SECRET, redis_prefix
from .oidc_provider import OP, running_op, walk_login
from .processes import Server, init_app, running
from .test_concurrency import require_postgres

APP = "tests.apps.oauth_app"
ORIGIN = "http://app.test"  # AUTH_URL of both processes: the OP redirects there
CALLBACK = f"{ORIGIN}/api/auth/callback/oidc"
COOKIE = "authjs.session-token"
REQUESTS = 50
HTTP_TIMEOUT = 20.0


@pytest.fixture(scope="module")
def op() -> Iterator[OP]:
    with running_op([CALLBACK], access_token_ttl=3600) as op:
        yield op


@pytest.fixture
def servers(request: pytest.FixtureRequest, op: OP) -> Iterator[tuple[Server, Server]]:
    """Two processes of the app on one shared store, started side by side, always stopped."""
    env = {
        **os.environ,
        "AUTH_SECRET": SECRET,
        "AUTH_URL": ORIGIN,
        "OP_ISSUER": op.issuer,
        "OP_CLIENT_ID": op.client_id,
        "OP_CLIENT_SECRET": op.client_secret,
        "SHARED_STORE": request.param,
    }
    if request.param == "redis":
        with redis_prefix() as prefix, running(APP, {**env, "REDIS_PREFIX": prefix}, 2) as pair:
            yield pair[0], pair[1]
        return
    database_url = request.getfixturevalue("database_url")
    require_postgres(database_url, "SQLite is not a store two server processes would share")
    env["DATABASE_URL"] = database_url
    init_app(APP, env)
    with running(APP, env, count=2) as (a, b):
        yield a, b


def sign_in(server: Server) -> str:
    """Through the app and the OP's forms, over HTTP; the session cookie it set."""
    with requests.Session() as http:
        csrf = http.get(f"{server.url}/api/auth/csrf", timeout=HTTP_TIMEOUT).json()["csrfToken"]
        start = http.post(
            f"{server.url}/api/auth/signin/oidc",
            data={"csrfToken": csrf, "callbackUrl": "/"},
            allow_redirects=False,
            timeout=HTTP_TIMEOUT,
        )
        assert start.status_code == 302, start.text
        callback = walk_login(start.headers["Location"], stop_at=CALLBACK)
        back = http.get(
            f"{server.url}/api/auth/callback/oidc?{urlsplit(callback).query}",
            allow_redirects=False,
            timeout=HTTP_TIMEOUT,
        )
        assert back.status_code == 302 and "error" not in back.headers["Location"], back.text
        cookie = http.cookies.get(COOKIE)
    assert cookie, "sign-in set no session cookie"
    return str(cookie)


def expired(cookie: str) -> tuple[str, dict[str, Any]]:
    """The session cookie as it is once its provider access token has expired."""
    claims = dict(decode(cookie, secret=SECRET, salt=COOKIE))
    claims["expires_at"] = int(time.time()) - 10
    return encode(claims, secret=SECRET, salt=COOKIE), claims


def provider_token(server: Server, cookie: str) -> tuple[dict[str, Any], str | None]:
    """``GET /provider-token`` with the session cookie; its JSON and the new cookie it set."""
    response = requests.get(
        f"{server.url}/provider-token",
        headers={"Cookie": f"{COOKIE}={cookie}"},
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return response.json(), response.cookies.get(COOKIE)


def all_at_once(servers: tuple[Server, Server], cookie: str) -> list[Any]:
    """:data:`REQUESTS` requests with ``cookie``, half to each process, released together."""
    barrier = threading.Barrier(REQUESTS)
    results: list[Any] = []
    errors: list[BaseException] = []

    def fire(index: int) -> None:
        try:
            barrier.wait(timeout=HTTP_TIMEOUT)
            results.append(provider_token(servers[index % 2], cookie))
        except BaseException as error:  # reported in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=2 * HTTP_TIMEOUT)
    assert not errors, errors[:3]
    return results


@pytest.mark.parametrize("servers", ["redis", "database"], indirect=True)
def test_fifty_requests_on_two_processes_refresh_once(
    servers: tuple[Server, Server], op: OP
) -> None:
    cookie, old = expired(sign_in(servers[0]))  # signed in on one process
    before = op.refresh_grants()

    results = all_at_once(servers, cookie)

    assert op.refresh_grants() == before + 1  # one refresh at the provider, for 50 requests
    assert len(results) == REQUESTS
    assert all(body["error"] is None for body, _ in results), results[:3]  # nobody signed out
    tokens = {body["access_token"] for body, _ in results}
    assert len(tokens) == 1 and old["access_token"] not in tokens
    fresh = tokens.pop()
    userinfo = requests.get(
        f"{op.issuer}/me", headers={"Authorization": f"Bearer {fresh}"}, timeout=HTTP_TIMEOUT
    )
    assert userinfo.status_code == 200 and userinfo.json()["sub"] == "alice"

    # Each answer carried the new session; both processes take it, with no refresh more.
    cookies = {new for _, new in results}
    assert None not in cookies
    for server in servers:
        for new in list(cookies)[:3]:
            body, _ = provider_token(server, str(new))
            assert body == {"access_token": fresh, "error": None}
    assert op.refresh_grants() == before + 1
