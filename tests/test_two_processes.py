"""Two app processes on one PostgreSQL: sign in on one, use and revoke on the other.

The app is ``tests/apps/db_app.py`` (database strategy, credentials), run twice as real
processes on their own loopback ports and spoken to over HTTP. Needs PostgreSQL, as
``tests/test_concurrency.py`` does: skipped without ``SESSIONEXT_TEST_DATABASE_URL``, failed
without it under ``CI``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from .helpers import SECRET
from .processes import Server, init_app, running
from .test_concurrency import require_postgres

APP = "tests.apps.db_app"
COOKIE = "authjs.session-token"
REVOKE_TOKEN = "revoke-test-0123456789"
HTTP_TIMEOUT = 10.0


def app_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "AUTH_SECRET": SECRET,
        "REVOKE_TOKEN": REVOKE_TOKEN,
        **extra,
    }


@pytest.fixture
def servers(database_url: str) -> Iterator[tuple[Server, Server]]:
    """Two processes of the app on one fresh schema, tables made once before they start."""
    require_postgres(database_url, "two server processes share a database server, not a file")
    env = app_env(database_url)
    init_app(APP, env)
    # Stopped before the database fixture drops the schema: no connection is left to it.
    with running(APP, env, count=2) as (a, b):
        yield a, b


def sign_in(server: Server, email: str) -> str:
    """CSRF token, then the credentials form, over HTTP; the session cookie it set."""
    with requests.Session() as http:
        csrf = http.get(f"{server.url}/api/auth/csrf", timeout=HTTP_TIMEOUT)
        assert csrf.status_code == 200
        form = {"csrfToken": csrf.json()["csrfToken"], "username": email, "password": "pw"}
        response = http.post(
            f"{server.url}/api/auth/callback/credentials",
            data=form,
            allow_redirects=False,
            timeout=HTTP_TIMEOUT,
        )
        assert response.status_code == 302, response.text
        assert "error" not in response.headers["Location"]
        cookie = http.cookies.get(COOKIE)
    assert cookie, "sign-in set no session cookie"
    return str(cookie)


def get(server: Server, path: str, cookie: str, **headers: str) -> requests.Response:
    return requests.get(
        f"{server.url}{path}",
        headers={"Cookie": f"{COOKIE}={cookie}", **headers},
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )


def user_email(response: requests.Response) -> Any:
    body = response.json()
    return body["user"]["email"] if body else None


def test_sign_in_on_one_process_use_and_revoke_on_the_other(
    servers: tuple[Server, Server],
) -> None:
    a, b = servers
    pids = {requests.get(f"{s.url}/pid", timeout=HTTP_TIMEOUT).json()["pid"] for s in servers}
    assert len(pids) == 2 and os.getpid() not in pids  # two processes, neither this one

    ann = sign_in(a, "ann@example.com")
    ben = sign_in(b, "ben@example.com")

    # The session made on A is good on B, and B's on A: the database is what they share.
    private = get(b, "/private", ann)
    assert private.status_code == 200 and user_email(private) == "ann@example.com"
    assert "Set-Cookie" not in private.headers  # an ordinary request writes nothing
    assert user_email(get(a, "/private", ann)) == "ann@example.com"
    assert user_email(get(a, "/private", ben)) == "ben@example.com"

    # The revoke route is the test's own and guarded: nobody else may call it.
    refused = requests.post(f"{b.url}/revoke/u1", timeout=HTTP_TIMEOUT)
    assert refused.status_code == 403
    assert get(a, "/private", ann).status_code == 200

    revoked = requests.post(
        f"{b.url}/revoke/u1", headers={"X-Test-Revoke": REVOKE_TOKEN}, timeout=HTTP_TIMEOUT
    )
    assert revoked.status_code == 200 and revoked.json() == {"revoked": 1}

    # Ann's cookie now fails on both processes, at once: no process cached her session.
    for server in (a, b):
        page = get(server, "/private", ann)
        assert page.status_code == 302, f"{server.url}: {page.status_code}"
        assert "/api/auth/signin" in page.headers["Location"]
        api = get(server, "/private", ann, Accept="application/json")
        assert api.status_code == 401
        session = get(server, "/api/auth/session", ann)
        assert session.status_code == 200 and session.json() is None
        assert f"{COOKIE}=;" in session.headers.get("Set-Cookie", "")  # the cookie is expired
    # Ben was not revoked.
    assert user_email(get(b, "/private", ben)) == "ben@example.com"
    assert user_email(get(a, "/private", ben)) == "ben@example.com"


@pytest.fixture
def cached_servers(cache_url: str) -> Iterator[tuple[Server, Server]]:
    """Two processes with the ``SessionCache`` on, ``ttl`` far longer than the test."""
    env = app_env(cache_url, SESSION_CACHE_TTL="300")
    init_app(APP, env)
    with running(APP, env, count=2) as (a, b):
        yield a, b


def user_name(server: Server, cookie: str) -> Any:
    body = get(server, "/private", cookie, Accept="application/json")
    return body.json()["user"]["name"] if body.status_code == 200 else None


def wait_until(check: Any, what: str) -> float:
    """Poll ``check`` for up to :data:`HTTP_TIMEOUT`; how long it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > HTTP_TIMEOUT:
            pytest.fail(f"not within {HTTP_TIMEOUT} s: {what}")
        time.sleep(0.02)
    return time.monotonic() - start


def test_with_the_session_cache_a_revocation_on_one_process_reaches_the_other(
    cached_servers: tuple[Server, Server], cache_url: str
) -> None:
    a, b = cached_servers
    ann, ben = sign_in(a, "ann@example.com"), sign_in(a, "ben@example.com")
    engine = create_engine(cache_url)
    try:
        # B serves Ann from its cache: a rename that sends no notification goes unseen.
        def cached() -> bool:
            before = user_name(b, ann)
            with engine.begin() as conn:
                conn.execute(text("UPDATE users SET name = name || '.' WHERE id = 'u1'"))
            return bool(user_name(b, ann) == before)

        wait_until(cached, "B serving Ann's session from its cache")

        # A revokes Ann, B hears of it (a NOTIFY, or the SQLite file's new stamp): signed out
        # there within moments, not after the ttl.
        revoked = requests.post(
            f"{a.url}/revoke/u1", headers={"X-Test-Revoke": REVOKE_TOKEN}, timeout=HTTP_TIMEOUT
        )
        assert revoked.json() == {"revoked": 1}
        assert wait_until(lambda: user_name(b, ann) is None, "Ann signed out on B") < 2

        # Ben signs out on A: his session is gone on B too.
        assert user_name(b, ben) == "Ben"
        with requests.Session() as http:
            http.cookies.set(COOKIE, ben)
            csrf = http.get(f"{a.url}/api/auth/csrf", timeout=HTTP_TIMEOUT).json()["csrfToken"]
            out = http.post(
                f"{a.url}/api/auth/signout",
                data={"csrfToken": csrf},
                allow_redirects=False,
                timeout=HTTP_TIMEOUT,
            )
            assert out.status_code == 302
        assert wait_until(lambda: user_name(b, ben) is None, "Ben signed out on B") < 2
    finally:
        engine.dispose()
