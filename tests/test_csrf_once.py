"""The auth routes check the CSRF token in one place, before any flow runs."""

from __future__ import annotations

from typing import Any

from flask import Flask

from flask_sessionext import AuthExt
from flask_sessionext.adapters import MemoryAdapter
from flask_sessionext.providers import Credentials, OAuth2

from .helpers import SECRET, authorize, csrf_token, session_cookie

#: Every CSRF-checked POST auth route, by a path that reaches it here, and the status and
#: error code a wrong token gets (a session update answers ``null``, as Auth.js).
CHECKED = {
    "/api/auth/signin/credentials": (403, "MissingCSRF"),
    "/api/auth/signin/plain": (403, "MissingCSRF"),
    "/api/auth/callback/credentials": (403, "MissingCSRF"),
    "/api/auth/signout": (403, "MissingCSRF"),
    "/api/auth/session": (400, None),
}
#: POST routes that take no CSRF token: the token API sends no cookies, and an OAuth
#: provider posts its callback (``response_mode=form_post``) with its own ``state`` check.
EXEMPT = {"token_login", "token_refresh", "token_logout", "callback"}


def app_with_every_route() -> Flask:
    app = Flask(__name__)
    app.config.update(TESTING=True, AUTH_SECRET=SECRET, AUTH_TOKEN_API=True)
    oauth = OAuth2(
        id="plain",
        client_id="client",
        client_secret="secret",
        authorization_endpoint="https://op.example/auth",
        token_endpoint="https://op.example/token",
        userinfo_endpoint="https://op.example/me",
    )
    AuthExt(app, providers=[Credentials(authorize=authorize), oauth], adapter=MemoryAdapter())
    return app


def test_every_post_route_is_checked_or_exempt_by_name() -> None:
    """A new POST auth route fails here until it is CSRF-checked or exempted on purpose."""
    app = app_with_every_route()
    posts = {
        str(rule.endpoint).removeprefix("sessionext.")
        for rule in app.url_map.iter_rules()
        if str(rule.endpoint).startswith("sessionext.") and "POST" in (rule.methods or ())
    }
    adapter = app.url_map.bind("localhost")
    checked = {
        adapter.match(path, method="POST")[0].removeprefix("sessionext.") for path in CHECKED
    }
    assert posts == checked | EXEMPT


def test_a_post_without_the_token_is_refused_before_the_flow() -> None:
    app = app_with_every_route()
    client = app.test_client()
    csrf_token(client)  # the cookie is there; the form does not carry the token
    form: dict[str, Any] = {"username": "alice", "password": "pw", "csrfToken": "0" * 64}
    for path, (status, code) in CHECKED.items():
        response = client.post(path, json=form, headers={"Accept": "application/json"})
        body = response.get_json()
        assert response.status_code == status, path
        assert (body if code is None else body["error"]) == code, path
        assert session_cookie(client) is None
