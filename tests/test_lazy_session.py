"""g.session: resolved lazily, once per request, and the cookie re-issued only when due."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask, g, jsonify, render_template_string
from flask.ctx import _AppCtxGlobals

from flask_sessionext import AuthExt
from flask_sessionext.jwt import decode, encode
from flask_sessionext.providers import Credentials

from .helpers import SECRET, authorize, build_app, session_cookie, sign_in

SALT = "authjs.session-token"


def counting_app(**config: Any) -> tuple[Flask, list[str]]:
    calls: list[str] = []

    def configure(auth: AuthExt[Any]) -> None:
        @auth.jwt_callback
        def jwt(token: dict[str, Any]) -> dict[str, Any]:
            calls.append("jwt")
            return token

        @auth.session_callback
        def session(session: dict[str, Any]) -> dict[str, Any]:
            calls.append("session")
            return session

    app = build_app(configure, **config)

    @app.get("/static-like")
    def static_like() -> str:
        return "no session needed"

    @app.get("/twice")
    def twice() -> str:
        first, second = g.session, g.session
        assert first is second
        return render_template_string("{{ session_data.user.name }}")

    return app, calls


def test_a_view_that_never_reads_the_session_costs_nothing() -> None:
    app, calls = counting_app()
    client = app.test_client()
    sign_in(client)
    calls.clear()
    response = client.get("/static-like")
    assert calls == []
    assert "Set-Cookie" not in response.headers
    assert "Vary" not in response.headers


def test_session_resolves_once_per_request_and_templates_share_it() -> None:
    app, calls = counting_app()
    client = app.test_client()
    sign_in(client)
    calls.clear()
    assert client.get("/twice").get_data() == b"Alice"
    assert calls == ["jwt", "session"]


def test_signed_out_is_really_none() -> None:
    app = build_app()
    with app.test_request_context("/"):
        assert g.session is None
        assert render_template_string("{{ session_data is none }}") == "True"


def test_ordinary_requests_do_not_rewrite_the_cookie() -> None:
    app, _ = counting_app()
    client = app.test_client()
    sign_in(client)
    response = client.get("/private")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert response.headers["Vary"] == "Cookie"


@pytest.mark.parametrize("callbacks", [True, False], ids=["callbacks", "no-callbacks"])
def test_cookie_slides_after_update_age_and_on_get_session(callbacks: bool) -> None:
    """Without callbacks the token is the decoded-token cache's own read-only view: it is
    re-issued as well, with the same claims."""
    config = {"AUTH_SESSION_UPDATE_AGE": 60}
    app = counting_app(**config)[0] if callbacks else build_app(None, **config)
    client = app.test_client()
    old = encode({"sub": "1", "name": "A"}, secret=SECRET, salt=SALT)
    old_claims = decode(old, secret=SECRET, salt=SALT)
    client.set_cookie(SALT, old)
    assert "Set-Cookie" not in client.get("/private").headers  # issued just now
    aged = dict(old_claims, iat=int(time.time()) - 120)
    from joserfc import jwe

    from flask_sessionext.jwt import derive_key

    key, kid = derive_key(SECRET, SALT)
    import json

    stale = jwe.encrypt_compact(
        {"alg": "dir", "enc": "A256CBC-HS512", "kid": kid}, json.dumps(aged).encode(), key
    )
    client.set_cookie(SALT, stale)
    response = client.get("/private")
    assert "authjs.session-token=" in response.headers["Set-Cookie"]
    fresh = decode(session_cookie(client) or "", secret=SECRET, salt=SALT)
    assert fresh["iat"] >= int(time.time()) - 1 and fresh["jti"] != old_claims["jti"]
    assert (fresh["sub"], fresh["name"]) == ("1", "A")
    # GET /session always slides the expiry, as in Auth.js.
    assert "Set-Cookie" in client.get("/api/auth/session").headers


def test_jwt_callback_changing_the_token_reissues_it() -> None:
    def configure(auth: AuthExt[Any]) -> None:
        @auth.jwt_callback
        def jwt(token: dict[str, Any]) -> dict[str, Any]:
            token["seen"] = token.get("seen", 0) + 1
            return token

    client = build_app(configure).test_client()
    sign_in(client)
    client.get("/private")
    claims: dict[str, Any] = dict(decode(session_cookie(client) or "", secret=SECRET, salt=SALT))
    assert claims["seen"] == 2  # sign-in, then the read that changed it


def test_a_g_class_set_after_init_app_is_wrapped_at_the_first_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class MyGlobals(_AppCtxGlobals):
        def hello(self) -> str:
            return "hi"

    app = build_app()
    app.app_ctx_globals_class = MyGlobals  # after init_app: g.session would be lost

    @app.get("/both")
    def both() -> Any:
        return jsonify(hello=g.hello(), signed_in=g.session is not None)

    client = app.test_client()
    sign_in(client)
    assert client.get("/both").get_json() == {"hello": "hi", "signed_in": True}
    assert client.get("/private").status_code == 200
    assert "MyGlobals" in caplog.text and "before init_app" in caplog.text


def test_the_apps_own_g_class_is_kept() -> None:
    class MyGlobals(_AppCtxGlobals):
        def hello(self) -> str:
            return "hi"

    app = Flask(__name__)
    app.app_ctx_globals_class = MyGlobals
    app.config.update(AUTH_SECRET=SECRET, TESTING=True)
    AuthExt(app, providers=[Credentials(authorize=authorize)])
    with app.test_request_context("/"):
        assert g.hello() == "hi"
        assert g.session is None
        g.other = 1
        assert g.other == 1
        assert g.get("missing", 5) == 5


def test_g_session_can_be_set_read_and_tested_like_any_g_attribute() -> None:
    """``g.session`` is resolved on first read and then an ordinary ``g`` attribute: a view
    may overwrite it, ``in g`` and ``g.get`` see it only once it is resolved or set."""
    app = build_app()
    with app.test_request_context("/"):
        assert "session" not in g
        assert g.get("session") is None
        assert g.session is None
        assert "session" in g
        g.session = {"user": {"name": "Set by the view"}}
        assert g.session == {"user": {"name": "Set by the view"}}
    with app.app_context():
        assert g.session is None  # no request: nobody is signed in
    assert type(g).__dict__.get("session") is None  # the proxy type holds no session


def test_vary_cookie_joins_the_views_own_vary_header() -> None:
    """A view's own ``Vary`` (in any letter case) keeps its value and gains ``Cookie``, in one
    header, so a shared cache never serves one user's page to another."""
    app = build_app()

    @app.get("/negotiated")
    def negotiated() -> Any:
        response = jsonify(signed_in=g.session is not None)
        response.headers["vary"] = "Accept-Encoding"
        return response

    client = app.test_client()
    sign_in(client)
    response = client.get("/negotiated")
    assert response.headers.getlist("Vary") == ["Accept-Encoding, Cookie"]


@pytest.mark.parametrize("callbacks", [True, False], ids=["session callback", "no callbacks"])
def test_what_one_request_does_to_its_session_never_reaches_the_next(callbacks: bool) -> None:
    """An unchanged token's session is built once per cookie; each request gets its own copy."""

    def configure(auth: AuthExt[Any]) -> None:
        if callbacks:

            @auth.session_callback
            def session(session: dict[str, Any]) -> dict[str, Any]:
                session["user"]["visits"] = session["user"].get("visits", 0) + 1
                session["seen"] = True
                return session

    app = build_app(configure)

    @app.get("/scribble")
    def scribble() -> Any:
        g.session["user"]["name"] = "Mallory"
        g.session["expires"] = "never"
        return jsonify(g.session)

    client = app.test_client()
    sign_in(client)
    client.get("/scribble")
    first, second = (client.get("/private").get_json() for _ in range(2))
    assert first == second
    assert first["user"]["name"] != "Mallory" and first["expires"] != "never"
    if callbacks:
        assert first["user"]["visits"] == 1


def test_a_jwt_callback_renaming_the_user_shows_the_new_name_in_the_same_request() -> None:
    rename: dict[str, str | None] = {"to": None}

    def configure(auth: AuthExt[Any]) -> None:
        @auth.jwt_callback
        def jwt(token: dict[str, Any]) -> dict[str, Any]:
            if rename["to"]:
                token["name"] = rename["to"]
            return token

    client = build_app(configure).test_client()
    sign_in(client)
    before = client.get("/private").get_json()["user"]["name"]
    rename["to"] = "Renamed"
    response = client.get("/private")
    assert before != "Renamed"
    assert response.get_json()["user"]["name"] == "Renamed"
    assert "authjs.session-token=" in response.headers["Set-Cookie"]
