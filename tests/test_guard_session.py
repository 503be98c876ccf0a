"""Guards of session resolution and redirects that no other test pins: each fails when its
check is removed.

Only http(s) URLs reach an app's own ``redirect_callback``; a ``session_callback`` that
refuses deletes the database session (a copied cookie stops working); a cached session token
still expires; a refusing ``session_callback`` signs a JWT session out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_sessionext import AuthExt
from flask_sessionext.adapters import MemoryAdapter
from flask_sessionext.jwt import CLOCK_TOLERANCE, DEFAULT_MAX_AGE
from flask_sessionext.providers import Credentials

from .database import database_app
from .helpers import build_app, csrf_token, session_cookie, sign_in

SALT = "authjs.session-token"

# --- only http(s) URLs reach the redirect callback --------------------------------------------

NOT_HTTP = [
    "javascript:alert(1)",
    "JavaScript:alert(document.cookie)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "ftp://evil.example/x",
    "mailto:someone@evil.example",
    "http:evil.example",
    "https:///evil.example",
]


def permissive_app(seen: list[str]) -> Flask:
    """An app whose ``redirect_callback`` lets every URL through, and records each one."""

    def configure(auth: AuthExt[Any]) -> None:
        @auth.redirect_callback
        def redirect(url: str, base_url: str) -> str:
            seen.append(url)
            return url

    return build_app(configure)


@pytest.mark.parametrize("url", NOT_HTTP)
def test_only_http_urls_reach_the_redirect_callback(url: str) -> None:
    seen: list[str] = []
    client = permissive_app(seen).test_client()
    signed_in = sign_in(client, callbackUrl=url)
    assert signed_in.headers["Location"] == "http://localhost"
    out = client.post(
        "/api/auth/signout", data={"csrfToken": csrf_token(client), "callbackUrl": url}
    )
    assert out.headers["Location"] == "http://localhost"
    assert seen == []


def test_the_permissive_callback_does_get_http_urls() -> None:
    """The control: a foreign https URL passes the scheme check and the callback allows it."""
    seen: list[str] = []
    client = permissive_app(seen).test_client()
    url = "https://elsewhere.example/after"
    assert sign_in(client, callbackUrl=url).headers["Location"] == url
    assert seen == [url]


# --- a refusing session_callback deletes the database session ----------------------------------


def refusing_app(make: str, database_url: str, verdict: list[str]) -> Flask:
    """A database-strategy app whose ``session_callback`` accepts, answers ``None`` or raises,
    as ``verdict[0]`` says."""

    def authorize(credentials: dict[str, str]) -> dict[str, Any] | None:
        ok = credentials.get("password") == "pw"
        return {"id": "u1", "name": "Ann", "email": "ann@example.com"} if ok else None

    def configure(auth: AuthExt[Any], *_: Any) -> None:
        @auth.session_callback
        def session(session: dict[str, Any]) -> dict[str, Any] | None:
            if verdict[0] == "raise":
                raise LookupError("the user was banned")
            return None if verdict[0] == "none" else session

    providers = [Credentials(authorize=authorize)]
    auth: AuthExt[Any]
    if make == "memory":
        app = Flask(__name__)
        app.config.update(TESTING=True, AUTH_SECRET="s" * 40)
        auth = AuthExt(providers=providers, adapter=MemoryAdapter())
        configure(auth)
        auth.init_app(app)
    else:
        app, auth, _ = database_app(database_url, providers, configure)
    assert auth.adapter is not None
    with app.app_context():
        auth.adapter.create_user({"id": "u1", "name": "Ann", "email": "ann@example.com"})
    return app


@pytest.mark.parametrize("make", ["memory", "database"])
@pytest.mark.parametrize("refusal", ["none", "raise"])
def test_a_refusing_session_callback_deletes_the_stored_session(
    make: str, refusal: str, database_url: str
) -> None:
    verdict = ["accept"]
    app = refusing_app(make, database_url, verdict)
    client = app.test_client()
    sign_in(client, "ann")
    cookie = session_cookie(client)
    assert cookie is not None and client.get("/api/auth/session").get_json() is not None
    verdict[0] = refusal
    assert client.get("/api/auth/session").get_json() is None
    assert session_cookie(client) is None
    # The callback accepts again, but a copy of the cookie taken before is dead: the row is gone.
    verdict[0] = "accept"
    copy = app.test_client()
    copy.set_cookie(SALT, cookie)
    assert copy.get("/api/auth/session").get_json() is None


# --- a cached session token still expires --------------------------------------------------------


def later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move the clock ``seconds`` ahead for the rest of the test."""
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + seconds)


def test_a_cached_session_token_is_refused_once_the_clock_passes_its_expiry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = build_app().test_client()
    sign_in(client)
    for _ in range(2):  # decoded once, then served from the cache
        assert client.get("/open").get_json() == {"signed_in": True}
    later(monkeypatch, DEFAULT_MAX_AGE + CLOCK_TOLERANCE + 60)
    response = client.get("/open")
    assert response.get_json() == {"signed_in": False}
    assert f"{SALT}=;" in response.headers["Set-Cookie"]
    assert client.get("/api/auth/session").get_json() is None


def test_a_cached_session_token_is_good_until_its_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    client = build_app().test_client()
    sign_in(client)
    assert client.get("/open").get_json() == {"signed_in": True}
    later(monkeypatch, DEFAULT_MAX_AGE - 60)
    assert client.get("/open").get_json() == {"signed_in": True}


# --- a refusing session_callback signs a JWT session out ------------------------------------------


def test_a_session_callback_answering_none_signs_the_jwt_session_out() -> None:
    verdict: list[Callable[[dict[str, Any]], Any]] = [lambda session: session]

    def configure(auth: AuthExt[Any]) -> None:
        @auth.session_callback
        def session(session: dict[str, Any]) -> Any:
            return verdict[0](session)

    client: FlaskClient = build_app(configure).test_client()
    sign_in(client)
    assert client.get("/private").status_code == 200
    verdict[0] = lambda session: None
    response = client.get("/api/auth/session")
    assert response.status_code == 200 and response.get_json() is None
    assert f"{SALT}=;" in response.headers["Set-Cookie"]
    assert session_cookie(client) is None
    assert client.get("/private").status_code == 302
