"""next-auth's own client (``next-auth/react`` 5) against this server and against @auth/core.

``tests/interop/nextauth-client.mjs`` runs ``getProviders``, ``getCsrfToken``, ``getSession``,
``signIn('credentials', {redirect: false})`` (success, wrong password, no CSRF cookie),
``useSession().update`` and ``signOut`` in Node (and posts a sign-out without the CSRF token
and an update with a wrong one, as that client sends them), first against a real ``@auth/core``
server and then against the test app served here over HTTP; both must give the client the
same results. Auth.js's client reads errors from the ``url`` of a ``200`` answer, so a relative
``url`` or a 4xx status breaks it (``TypeError: Invalid URL``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import text
from werkzeug.serving import make_server

from flask_sessionext import AuthExt
from flask_sessionext.providers import Credentials

from .database import database_app
from .helpers import authorize, build_app, csrf_token
from .requirements import require_node, run_node

SCRIPT = Path(__file__).resolve().parent / "interop" / "nextauth-client.mjs"
PACKAGES = ("next-auth", "@auth/core", "react", "react-dom")


def configure(auth: AuthExt[Any]) -> None:
    """The same jwt callback as the @auth/core server's: a session update may set ``name``."""

    @auth.jwt_callback
    def jwt(token: dict[str, Any], trigger: str | None = None, session: Any = None) -> Any:
        if trigger == "update" and isinstance(session, dict) and "name" in session:
            token["name"] = str(session["name"])
        return token


@pytest.fixture
def origin() -> Iterator[str]:
    """The test app served over HTTP on a free loopback port, in this process."""
    server = make_server("127.0.0.1", 0, build_app(configure), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join()


def run_client(origin: str) -> dict[str, dict[str, Any]]:
    """Both runs of the client, each as ``{step: result}``."""
    node = require_node(*PACKAGES, what="The next-auth client test")
    runs = run_node(node, SCRIPT, origin)
    return {
        name: {step["step"]: step.get("result", step.get("threw")) for step in steps}
        for name, steps in runs.items()
    }


def test_nextauth_client_gets_what_authjs_gives(origin: str) -> None:
    runs = run_client(origin)
    ours, authjs = runs["ours"], runs["authjs"]
    assert ours == authjs
    # What an app relies on, stated once more, so that a change on both sides is noticed.
    assert ours["signIn wrong password"] == {
        "error": "CredentialsSignin",
        "code": "credentials",
        "status": 200,
        "ok": True,
        "url": None,
    }
    assert ours["signIn without the CSRF cookie"] == {
        "error": "MissingCSRF",
        "status": 200,
        "ok": True,
        "url": None,
    }
    assert ours["signIn"] == {"status": 200, "ok": True, "url": "<origin>/after-signin"}
    assert ours["getSession signed in"]["user"]["name"] == "Alice"
    assert ours["update session"]["user"]["name"] == "Ada"
    assert ours["getSession updated"]["user"]["name"] == "Ada"
    assert ours["signOut"] == {"url": "<origin>/bye"}
    for signed_out in ("getSession signed out", "getSession signed out again"):
        assert ours[signed_out] is None
    assert ours["signOut without the CSRF token"] == {
        "status": 200,
        "body": {"url": "<origin>/api/auth/signin?error=MissingCSRF"},
    }
    assert ours["update with a wrong CSRF token"] == {"status": 400, "body": None}
    assert ours["getProviders"]["credentials"]["signinUrl"] == (
        "<origin>/api/auth/signin/credentials"
    )


RETURN_REDIRECT = {"X-Auth-Return-Redirect": "1"}


def test_a_store_outage_is_503_with_a_url_the_client_can_read(database_url: str) -> None:
    """Auth.js has no outage answer; this server keeps 503 and adds the ``url`` that next-auth's
    ``signIn`` reads (without one it throws, or with ``redirect: true`` goes on as if signed in)."""
    app, _, adapter = database_app(database_url, [Credentials(authorize=authorize)])
    with app.app_context():
        adapter.create_user({"id": "1", "name": "Alice", "email": "alice@example.com"})
    db: SQLAlchemy = app.extensions["test_db"]
    with app.app_context():
        db.session.execute(text("DROP TABLE sessions"))  # a real failure of the store
        db.session.commit()
    client = app.test_client()
    data = {"csrfToken": csrf_token(client), "username": "alice", "password": "pw"}
    response = client.post("/api/auth/callback/credentials", data=data, headers=RETURN_REDIRECT)
    assert response.status_code == 503 and response.headers["Retry-After"]
    body = response.get_json()
    assert body["url"] == "http://localhost/api/auth/error?error=ServiceUnavailable"
    assert body["error"] == "ServiceUnavailable"


def test_every_url_is_absolute_on_the_public_origin() -> None:
    """``AUTH_URL`` is the origin of every ``url``, for Auth.js's client and other JSON clients."""
    client = build_app(AUTH_URL="https://app.example").test_client()
    token = csrf_token(client)
    wrong = {"csrfToken": token, "username": "alice", "password": "no"}
    answer = client.post("/api/auth/callback/credentials", data=wrong, headers=RETURN_REDIRECT)
    expected = "https://app.example/api/auth/signin?error=CredentialsSignin&code=credentials"
    assert (answer.status_code, answer.get_json()) == (200, {"url": expected})
    # Other JSON clients keep the richer answer, with the same absolute url.
    as_json = client.post("/api/auth/callback/credentials", json=wrong)
    assert as_json.status_code == 401
    assert as_json.get_json() == {"url": expected, "error": "CredentialsSignin"}
    signout = client.post("/api/auth/signout", data={"csrfToken": token}, headers=RETURN_REDIRECT)
    assert signout.get_json() == {"url": "https://app.example"}
