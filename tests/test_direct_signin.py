"""``auth.sign_in()``/``auth.sign_out()`` in the app's own views, and the ``AuthClient``."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, g, jsonify
from sqlalchemy import func, select

from flask_sessionext import AuthExt, signals
from flask_sessionext.errors import AuthError
from flask_sessionext.providers import Credentials
from flask_sessionext.testing import AuthClient

from .database import database_app
from .helpers import authorize, build_app, session_cookie


def with_role(auth: AuthExt[Any]) -> None:
    """The README's callbacks: the role into the token at sign-in, then into the session."""

    @auth.jwt_callback
    def jwt(token: dict[str, Any], user: dict[str, Any] | None = None) -> dict[str, Any]:
        if user is None:
            return token
        return {**token, "role": user.get("role") or token.get("role", "member")}

    @auth.session_callback
    def session(session: dict[str, Any], token: dict[str, Any]) -> dict[str, Any]:
        session["user"]["role"] = token["role"]
        return session


def signup_app() -> tuple[Flask, list[str]]:
    """A sign-up view that signs the new user in, and a sign-out view of the app's own."""
    holder: list[AuthExt[Any]] = []

    def configure(auth: AuthExt[Any]) -> None:
        with_role(auth)
        holder.append(auth)

    app = build_app(configure)
    auth = holder[0]
    events: list[str] = []
    signals.signed_in.connect(lambda s, **kw: events.append("in"), app, weak=False)
    signals.signed_out.connect(lambda s, **kw: events.append("out"), app, weak=False)

    @app.post("/signup")
    def signup() -> Any:
        session = auth.sign_in({"id": "u-9", "name": "Nina", "email": "nina@example.com"})
        assert g.session == session  # the rest of the request sees the new session
        return jsonify(session)

    @app.post("/leave")
    def leave() -> Any:
        auth.sign_out()
        return jsonify(signed_in=g.session is not None)

    return app, events


def test_a_view_signs_a_new_user_in_and_out_with_the_real_callbacks() -> None:
    app, events = signup_app()
    client = app.test_client()
    shown = client.post("/signup").get_json()
    assert shown["user"] == {"name": "Nina", "email": "nina@example.com", "role": "member"}
    assert session_cookie(client) is not None
    assert client.get("/private").get_json()["user"]["role"] == "member"
    assert client.post("/leave").get_json() == {"signed_in": False}
    assert session_cookie(client) is None
    assert client.get("/private").status_code == 302
    assert events == ["in", "out"]


def test_a_refusing_signin_callback_stops_a_view_sign_in() -> None:
    def configure(auth: AuthExt[Any]) -> None:
        @auth.signin_callback
        def allow(user: dict[str, Any]) -> bool:
            return False

        @app_views.append
        def signup() -> Any:
            auth.sign_in({"id": "u-1"})
            return "signed in"

    app_views: list[Any] = []
    app = build_app(configure)
    app.add_url_rule("/signup", view_func=app_views[0], methods=["POST"])
    client = app.test_client()
    response = client.post("/signup")
    assert response.status_code == 302
    assert response.headers["Location"] == "/api/auth/error?error=AccessDenied"
    assert session_cookie(client) is None


def test_a_user_without_an_id_is_refused() -> None:
    app, _ = signup_app()
    auth = app.extensions["sessionext"].ext
    with app.test_request_context("/"), pytest.raises(AuthError, match="needs an 'id'"):
        auth.sign_in({"name": "nobody"})


def test_auth_client_signs_in_through_the_apps_callbacks_with_claims() -> None:
    app = build_app(with_role)
    app.test_client_class = AuthClient
    client = app.test_client(user={"id": "7", "name": "Ada", "role": "admin"})
    assert client.get("/private").get_json()["user"] == {"name": "Ada", "role": "admin"}
    assert isinstance(client, AuthClient)
    client.sign_in({"id": "8", "name": "Bo"}, role="auditor")  # claims join the token
    assert client.get("/private").get_json()["user"]["role"] == "auditor"
    client.sign_out()
    assert client.get("/private").status_code == 302


def test_auth_client_with_the_database_strategy_makes_a_real_session_row(
    database_url: str,
) -> None:
    app, _, adapter = database_app(database_url, [Credentials(authorize=authorize)])
    db = app.extensions["test_db"]
    with app.app_context():
        stored = adapter.create_user({"name": "Ada", "email": "ada@example.com"})
    app.test_client_class = AuthClient

    def rows() -> int:
        with app.app_context():
            return int(db.session.scalar(select(func.count()).select_from(adapter.Session)))

    client = app.test_client(user=stored)
    assert client.get("/private").get_json()["user"]["name"] == "Ada"
    assert rows() == 1
    assert isinstance(client, AuthClient)
    client.sign_in(stored)  # again: the previous row ends, as in a browser
    assert rows() == 1
    client.sign_out()
    assert rows() == 0 and client.get("/private").status_code == 302
