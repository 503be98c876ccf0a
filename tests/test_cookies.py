"""A cookie name sent twice reads as absent, for every cookie the extension reads.

A sibling subdomain can set a ``Domain=`` cookie of the same name (and any subdomain a
``__Secure-`` one over https): the browser then sends both, and the first one is not
necessarily the user's. Each test sends a real cookie next to a second value of the same name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, jsonify
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.datastructures import ImmutableMultiDict

from flask_sessionext import AuthExt, get_token
from flask_sessionext.adapters import MemoryAdapter
from flask_sessionext.cookies import CHUNK_SIZE, PLAIN, SECURE, read_chunked, read_cookie
from flask_sessionext.jwt import encode

from .database import signed_in_app
from .helpers import SECRET, build_app, csrf_token, session_cookie, sign_in
from .oidc_provider import OP, running_op, walk_login
from .test_oauth import CALLBACK, oauth_app, start

SESSION = "authjs.session-token"


def header(client: FlaskClient, *extra: tuple[str, str]) -> dict[str, str]:
    """A ``Cookie`` header with the client's cookies and ``extra`` ones, names repeated."""
    pairs = [(c.key, c.value) for c in (client._cookies or {}).values()] + list(extra)
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in pairs)}


def bare(app: Flask) -> FlaskClient:
    """A client that sends only the Cookie header it is given."""
    return app.test_client(use_cookies=False)


def expired(response: Any, name: str) -> bool:
    return any(
        h.startswith(f"{name}=;") and "Max-Age=0" in h
        for h in response.headers.getlist("Set-Cookie")
    )


def forged_session(sub: str) -> str:
    """A valid session token of another user (what an attacker holds for their own account)."""
    return encode({"sub": sub, "name": "Mallory"}, secret=SECRET, salt=SESSION, max_age=600)


def test_the_names_are_auth_js_names() -> None:
    assert (PLAIN.session_token, PLAIN.csrf_token) == (SESSION, "authjs.csrf-token")
    assert (SECURE.session_token, SECURE.csrf_token, SECURE.state) == (
        "__Secure-authjs.session-token",
        "__Host-authjs.csrf-token",
        "__Secure-authjs.state",
    )


def test_read_cookie_refuses_a_repeated_name() -> None:
    cookies = ImmutableMultiDict([("a", "1"), ("a", "2"), ("b", "3"), (f"{SESSION}.0", "x")])
    assert read_cookie(cookies, "a") is None and read_cookie(cookies, "b") == "3"
    assert read_cookie(cookies, "c") is None
    both = ImmutableMultiDict([(SESSION, "t"), (SESSION, "t")])
    assert read_chunked(both, SESSION) is None  # even the same value twice
    chunks = [(f"{SESSION}.0", "a"), (f"{SESSION}.1", "b"), (f"{SESSION}.1", "c")]
    assert read_chunked(ImmutableMultiDict(chunks), SESSION) is None
    assert read_chunked(ImmutableMultiDict(chunks[:2]), SESSION) == "ab"


@pytest.mark.parametrize("second", ["attacker", "same", "garbage"])
@pytest.mark.parametrize("first", [True, False])
def test_a_repeated_session_cookie_signs_out_and_is_cleared(second: str, first: bool) -> None:
    app = build_app()
    victim = app.test_client()
    sign_in(victim)
    own = session_cookie(victim)
    assert own is not None
    other = {"attacker": forged_session("mallory"), "same": own, "garbage": "x"}[second]
    pairs = [(SESSION, other), (SESSION, own)] if first else [(SESSION, own), (SESSION, other)]
    cookies = {"Cookie": "; ".join(f"{name}={value}" for name, value in pairs)}
    response = bare(app).get("/api/auth/session", headers=cookies)
    assert response.get_json() is None and expired(response, SESSION)
    assert bare(app).get("/open", headers=cookies).get_json() == {"signed_in": False}
    assert victim.get("/open").get_json() == {"signed_in": True}  # one cookie: still signed in


def test_a_repeated_chunk_signs_out() -> None:
    def configure(auth: AuthExt[Any]) -> None:
        @auth.jwt_callback
        def jwt(token: dict[str, Any]) -> dict[str, Any]:
            return {**token, "blob": "x" * (2 * CHUNK_SIZE)}

    app = build_app(configure)
    client = app.test_client()
    sign_in(client)
    chunks = [c.key for c in (client._cookies or {}).values() if c.key.startswith(SESSION + ".")]
    assert len(chunks) >= 3
    assert client.get("/open").get_json() == {"signed_in": True}
    response = bare(app).get("/api/auth/session", headers=header(client, (chunks[1], "x")))
    assert response.get_json() is None and expired(response, chunks[0])


def test_a_repeated_database_session_cookie_signs_out_and_keeps_the_row(
    database_url: str,
) -> None:
    app, adapter, client = signed_in_app(database_url)
    response = bare(app).get("/api/auth/session", headers=header(client, (SESSION, "x" * 43)))
    assert response.get_json() is None and expired(response, SESSION)
    with app.app_context(), adapter.engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(adapter.Session.__table__))
        assert rows.scalar() == 1  # nothing deleted: the user's own request still works
    assert client.get("/open").get_json() == {"signed_in": True}


def test_a_repeated_csrf_cookie_fails_the_check() -> None:
    app = build_app()
    client = app.test_client()
    token = csrf_token(client)
    own = client.get_cookie("authjs.csrf-token")
    assert own is not None
    twice = header(client, ("authjs.csrf-token", own.value))
    data = {"csrfToken": token, "username": "alice", "password": "pw"}
    response = bare(app).post("/api/auth/callback/credentials", data=data, headers=twice)
    assert response.headers["Location"] == "/api/auth/signin?error=MissingCSRF"
    assert not any(h.startswith(SESSION) for h in response.headers.getlist("Set-Cookie"))
    sign_in(client)
    twice = header(client, ("authjs.csrf-token", own.value))
    response = bare(app).post("/api/auth/signout", data={"csrfToken": token}, headers=twice)
    assert "error=MissingCSRF" in response.headers["Location"]
    assert client.get("/open").get_json() == {"signed_in": True}  # not signed out


@pytest.fixture(scope="module")
def op() -> Iterator[OP]:
    with running_op([CALLBACK + "oidc", CALLBACK + "oauth"]) as op:
        yield op


@pytest.mark.parametrize("name", ["authjs.state", "authjs.pkce.code_verifier", "authjs.nonce"])
def test_a_repeated_check_cookie_fails_the_oauth_callback(op: OP, name: str) -> None:
    app = oauth_app(op)
    victim, attacker = app.test_client(), app.test_client()
    callback = walk_login(start(victim, "oidc"), stop_at=CALLBACK + "oidc")
    start(attacker, "oidc")
    theirs = attacker.get_cookie(name)
    assert theirs is not None
    response = bare(app).get(callback, headers=header(victim, (name, theirs.value)))
    assert "error=OAuthCallbackError" in response.headers["Location"]
    assert not any(h.startswith(SESSION + "=e") for h in response.headers.getlist("Set-Cookie"))


def test_a_repeated_callback_url_cookie_is_not_followed(op: OP) -> None:
    app = oauth_app(op)
    victim, attacker = app.test_client(), app.test_client()
    callback = walk_login(start(victim, "oidc", "/private"), stop_at=CALLBACK + "oidc")
    start(attacker, "oidc", "/attacker-page")
    theirs = attacker.get_cookie("authjs.callback-url")
    assert theirs is not None
    cookies = header(victim, ("authjs.callback-url", theirs.value))
    response = bare(app).get(callback, headers=cookies)
    assert response.headers["Location"] == "http://localhost"  # neither URL: the base URL


def test_a_stray_session_cookie_does_not_hide_a_bearer_token() -> None:
    # Found by the fuzz suite: a bearer request that also carried an empty session chunk read
    # get_token() as None (the example's /api/me then failed with 500).
    store = MemoryAdapter()

    def configure(auth: AuthExt[Any]) -> None:
        auth.token_store = store

    app = build_app(configure, AUTH_TOKEN_API=True)

    @app.get("/token")
    def token() -> Any:
        return jsonify(sub=(get_token() or {}).get("sub"))

    client = bare(app)
    login = client.post("/api/auth/token/login", json={"username": "alice", "password": "pw"})
    bearer = {"Authorization": f"Bearer {login.get_json()['token']}"}
    for cookie in ("", f"{SESSION}.0=", f"{SESSION}=x; {SESSION}=y"):
        response = client.get("/token", headers={**bearer, "Cookie": cookie})
        assert response.get_json() == {"sub": "1"}, cookie
        assert not response.headers.getlist("Set-Cookie")


def test_the_shared_parse_of_a_cookie_header_answers_each_header_its_own() -> None:
    """The parse is cached by header text: two users' headers never share an answer, and the
    app's ``request.cookies`` is the same parse the session was read from."""
    app = build_app()

    @app.get("/whoami")
    def whoami() -> Any:
        from flask import g, request

        user = g.session["user"]["name"] if g.session else None
        return jsonify(user=user, theme=request.cookies.get("theme"))

    client = bare(app)
    alice, mallory = forged_session("alice"), forged_session("mallory")
    for _ in range(2):
        got = client.get("/whoami", headers={"Cookie": f"theme=dark; {SESSION}={alice}"})
        assert got.get_json() == {"user": "Mallory", "theme": "dark"}
        got = client.get("/whoami", headers={"Cookie": f"{SESSION}={mallory}; theme=light"})
        assert got.get_json() == {"user": "Mallory", "theme": "light"}
        got = client.get("/whoami", headers={"Cookie": "theme=dark"})
        assert got.get_json() == {"user": None, "theme": "dark"}


def test_a_mutable_cookie_dict_is_not_shared_between_requests() -> None:
    """An app whose request class keeps parameters in a mutable ``MultiDict`` gets its own
    parse per request: a change made in one request never reaches the next."""
    from flask import Request, request
    from werkzeug.datastructures import MultiDict

    class MutableRequest(Request):
        dict_storage_class = MultiDict[str, Any]

    app = build_app()
    app.request_class = MutableRequest

    @app.get("/taint")
    def taint() -> Any:
        from flask import g

        signed_in = g.session is not None  # the session is read first: its parse is used
        seen = request.cookies.get("theme")
        request.cookies["theme"] = "tainted"
        return jsonify(seen=seen, signed_in=signed_in)

    client = bare(app)
    for _ in range(2):
        got = client.get("/taint", headers={"Cookie": "theme=dark"})
        assert got.get_json() == {"seen": "dark", "signed_in": False}
