"""The database session strategy with Flask-SQLAlchemy (SQLite, or PostgreSQL in CI)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String, select, text, update
from sqlalchemy.orm import Mapped, mapped_column

from flask_sessionext import AuthExt
from flask_sessionext.adapters import SQLAlchemyAdapter, UserMixin
from flask_sessionext.errors import ConfigurationError
from flask_sessionext.providers import Credentials

from .database import database_app, new_db
from .helpers import SECRET, csrf_token, session_cookie

# Every test here runs twice: on PostgreSQL, and through a real PgBouncer (transaction mode).
pytestmark = pytest.mark.through_pgbouncer

SALT = "authjs.session-token"


def stored_authorize(app_ref: list[Flask]) -> Any:
    """Accept "pw" for any stored user, looked up by email."""

    def authorize(credentials: dict[str, str]) -> dict[str, Any] | None:
        adapter = app_ref[0].extensions["sessionext"].ext.adapter
        user = adapter.get_user_by_email(credentials.get("username", ""))
        return user if user and credentials.get("password") == "pw" else None

    return authorize


@pytest.fixture
def setup(database_url: str) -> tuple[Flask, AuthExt[Any], SQLAlchemyAdapter]:
    ref: list[Flask] = []
    app, auth, adapter = database_app(database_url, [Credentials(authorize=stored_authorize(ref))])
    ref.append(app)
    with app.app_context():
        adapter.create_user({"id": "u1", "name": "Ann", "email": "ann@example.com"})
        adapter.create_user({"id": "u2", "name": "Ben", "email": "ben@example.com"})
    return app, auth, adapter


def sign_in(client: FlaskClient, email: str = "ann@example.com") -> Any:
    data = {"csrfToken": csrf_token(client), "username": email, "password": "pw"}
    return client.post("/api/auth/callback/credentials", data=data)


def session_rows(app: Flask) -> list[Any]:
    db: SQLAlchemy = app.extensions["test_db"]
    adapter = app.extensions["sessionext"].ext.adapter
    with app.app_context():
        return list(db.session.execute(select(adapter.Session.__table__)).all())


def test_strategy_defaults_to_database_with_an_adapter(setup: Any) -> None:
    app, _, _ = setup
    assert app.config["AUTH_SESSION_STRATEGY"] == "database"
    assert app.extensions["sessionext"].config.strategy == "database"


def test_credentials_sign_in_creates_a_database_session(setup: Any) -> None:
    app, _, _ = setup
    client = app.test_client()
    assert sign_in(client).status_code == 302
    cookie = session_cookie(client)
    assert cookie is not None and len(cookie) == 43 and "." not in cookie  # opaque, not a JWT
    [row] = session_rows(app)
    assert row.session_token == hashlib.sha256(cookie.encode()).hexdigest()  # only the hash
    assert row.user_id == "u1"
    session = client.get("/api/auth/session").get_json()
    assert session["user"] == {"name": "Ann", "email": "ann@example.com", "image": None}
    with app.test_request_context(headers={"Cookie": f"{SALT}={cookie}"}):
        from flask_sessionext import get_token

        assert get_token() is None and get_token(raw=True) == cookie


def test_sign_out_deletes_the_row(setup: Any) -> None:
    app, _, _ = setup
    client = app.test_client()
    sign_in(client)
    client.post("/api/auth/signout", data={"csrfToken": csrf_token(client)})
    assert session_rows(app) == []
    assert client.get("/api/auth/session").get_json() is None


def test_a_stolen_cookie_is_useless_after_sign_out(setup: Any) -> None:
    app, _, _ = setup
    client = app.test_client()
    sign_in(client)
    stolen = session_cookie(client)
    client.post("/api/auth/signout", data={"csrfToken": csrf_token(client)})
    thief = app.test_client()
    thief.set_cookie(SALT, stolen or "")
    assert thief.get("/open").get_json() == {"signed_in": False}


def test_revoke_sessions_signs_a_user_out_everywhere(setup: Any) -> None:
    app, auth, _ = setup
    laptop, phone, other = app.test_client(), app.test_client(), app.test_client()
    sign_in(laptop)
    sign_in(phone)
    sign_in(other, "ben@example.com")
    with app.app_context():
        assert auth.revoke_sessions("u1") == 2
    assert laptop.get("/open").get_json() == {"signed_in": False}
    assert phone.get("/open").get_json() == {"signed_in": False}
    assert other.get("/open").get_json() == {"signed_in": True}


def expire_in(app: Flask, delta: timedelta) -> None:
    db: SQLAlchemy = app.extensions["test_db"]
    table = app.extensions["sessionext"].ext.adapter.Session.__table__
    with app.app_context():
        db.session.execute(update(table).values(expires=datetime.now(timezone.utc) + delta))
        db.session.commit()


def test_expired_rows_are_deleted_when_met(setup: Any) -> None:
    app, _, _ = setup
    client = app.test_client()
    sign_in(client)
    expire_in(app, timedelta(seconds=-1))
    response = client.get("/open")
    assert response.get_json() == {"signed_in": False}
    assert "authjs.session-token=;" in response.headers["Set-Cookie"]
    assert session_rows(app) == []


def test_expiry_slides_only_after_update_age(setup: Any) -> None:
    app, _, _ = setup
    client = app.test_client()
    sign_in(client)
    [before] = session_rows(app)
    ordinary = client.get("/private")
    assert "Set-Cookie" not in ordinary.headers
    [same] = session_rows(app)
    assert same.expires == before.expires  # nothing written
    # A day and a minute later (update age is one day):
    expire_in(app, timedelta(days=30) - timedelta(days=1, minutes=1))
    response = client.get("/private")
    assert "authjs.session-token=" in response.headers["Set-Cookie"]
    [after] = session_rows(app)
    expires = after.expires.replace(tzinfo=after.expires.tzinfo or timezone.utc)
    assert expires > datetime.now(timezone.utc) + timedelta(days=29, hours=23)


def test_update_runs_the_session_callback_with_trigger_update(database_url: str) -> None:
    seen: list[dict[str, Any]] = []
    ref: list[Flask] = []

    def configure(auth: AuthExt[Any], db: SQLAlchemy) -> None:
        @auth.session_callback
        def session(
            session: dict[str, Any], user: dict[str, Any], trigger: Any, new_session: Any
        ) -> dict[str, Any]:
            seen.append({"trigger": trigger, "new_session": new_session, "user": user["id"]})
            return {**session, "theme": (new_session or {}).get("theme", "light")}

    app, _, adapter = database_app(
        database_url, [Credentials(authorize=stored_authorize(ref))], configure
    )
    ref.append(app)
    with app.app_context():
        adapter.create_user({"id": "u1", "name": "Ann", "email": "ann@example.com"})
    client = app.test_client()
    sign_in(client)
    assert client.get("/api/auth/session").get_json()["theme"] == "light"
    body = {"csrfToken": csrf_token(client), "data": {"theme": "dark"}}
    assert client.post("/api/auth/session", json=body).get_json()["theme"] == "dark"
    assert seen[-1] == {"trigger": "update", "new_session": {"theme": "dark"}, "user": "u1"}
    assert seen[0]["trigger"] is None


def test_extra_user_columns_reach_the_session_callback(database_url: str) -> None:
    db = new_db()

    class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
        role: Mapped[str] = mapped_column(String(16), default="user")

    ref: list[Flask] = []

    def configure(auth: AuthExt[Any], db: SQLAlchemy) -> None:
        @auth.session_callback
        def session(session: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
            session["user"]["role"] = user["role"]
            return session

    app, _, adapter = database_app(
        database_url,
        [Credentials(authorize=stored_authorize(ref))],
        configure,
        db=db,
        adapter=SQLAlchemyAdapter(db, user_model=User),
    )
    ref.append(app)
    with app.app_context():
        adapter.create_user({"id": "a", "name": "Ada", "email": "ada@example.com", "role": "admin"})
    client = app.test_client()
    sign_in(client, "ada@example.com")
    assert client.get("/api/auth/session").get_json()["user"]["role"] == "admin"


def test_credentials_user_must_be_stored(database_url: str) -> None:
    app, _, _ = database_app(
        database_url, [Credentials(authorize=lambda c: {"id": "ghost", "name": "Ghost"})]
    )
    client = app.test_client()
    response = sign_in(client)
    assert response.headers["Location"] == "/api/auth/error?error=Configuration"
    assert session_cookie(client) is None


def test_unknown_or_forged_session_cookies_are_signed_out(setup: Any) -> None:
    app, _, _ = setup
    client = app.test_client()
    for value in ["x" * 43, "", "'; DROP TABLE sessions; --", "ä" * 20]:
        client.set_cookie(SALT, value)
        assert client.get("/open").get_json() == {"signed_in": False}
    sign_in(client)
    assert client.get("/open").get_json() == {"signed_in": True}  # the table is intact


def test_database_failure_answers_503_without_a_traceback(setup: Any) -> None:
    app, _, _ = setup
    client = app.test_client()
    sign_in(client)
    db: SQLAlchemy = app.extensions["test_db"]
    with app.app_context():
        db.session.execute(text("DROP TABLE sessions"))
        db.session.commit()
    page = client.get("/private")
    assert page.status_code == 503
    assert b"Traceback" not in page.get_data() and b"sessions" not in page.get_data()
    api = client.get("/api/auth/session", headers={"Accept": "application/json"})
    assert api.status_code == 503
    assert api.get_json()["error"] == "ServiceUnavailable"
    assert client.post("/api/auth/callback/credentials", data={}).status_code in (302, 503)


def test_jwt_strategy_with_an_adapter_works_without_touching_sessions(database_url: str) -> None:
    ref: list[Flask] = []
    app, _, _ = database_app(
        database_url, [Credentials(authorize=stored_authorize(ref))], AUTH_SESSION_STRATEGY="jwt"
    )
    ref.append(app)
    adapter = app.extensions["sessionext"].ext.adapter
    with app.app_context():
        adapter.create_user({"id": "u1", "name": "Ann", "email": "ann@example.com"})
    client = app.test_client()
    sign_in(client)
    assert (session_cookie(client) or "").count(".") == 4  # a JWE
    db: SQLAlchemy = app.extensions["test_db"]
    with app.app_context():
        db.session.execute(text("DROP TABLE sessions"))
        db.session.commit()
    assert client.get("/api/auth/session").get_json()["user"]["name"] == "Ann"


def test_database_strategy_needs_an_adapter() -> None:
    app = Flask(__name__)
    app.config.update(AUTH_SECRET=SECRET, AUTH_SESSION_STRATEGY="database")
    with pytest.raises(ConfigurationError, match="needs an adapter"):
        AuthExt(app, providers=[])


def test_revoke_sessions_needs_the_database_strategy() -> None:
    app = Flask(__name__)
    app.config.update(AUTH_SECRET=SECRET)
    auth: AuthExt[Any] = AuthExt(app, providers=[Credentials(authorize=lambda c: None)])
    with app.app_context(), pytest.raises(ConfigurationError, match="database"):
        auth.revoke_sessions("u1")


def test_an_account_left_by_a_deleted_user_does_not_block_sign_in(database_url: str) -> None:
    app, _, adapter = database_app(database_url, [Credentials(authorize=lambda c: None)])
    account = {"provider": "github", "type": "oauth", "providerAccountId": "42"}
    db: SQLAlchemy = app.extensions["test_db"]
    with app.app_context():
        first = adapter.create_user_and_link({"email": "a@example.com"}, account)
        db.session.execute(text("DELETE FROM users"))  # SQLite may leave the account behind
        db.session.commit()
        assert adapter.get_user_by_account("github", "42") is None
        second = adapter.create_user_and_link({"email": "a@example.com"}, account)
        assert second["id"] != first["id"]
        assert adapter.get_user_by_account("github", "42") == second


def test_linking_to_a_user_that_is_not_stored_is_refused(database_url: str) -> None:
    from flask_sessionext.errors import StoreConflict

    app, _, adapter = database_app(database_url, [Credentials(authorize=lambda c: None)])
    account = {"provider": "github", "type": "oauth", "providerAccountId": "7"}
    with app.app_context(), pytest.raises(StoreConflict):
        adapter.link_account("ghost", account)


def test_signing_in_again_ends_the_previous_session(setup: Any) -> None:
    app, _, _ = setup
    client = app.test_client()
    for _ in range(3):
        sign_in(client)
    [row] = session_rows(app)
    assert row.session_token == hashlib.sha256((session_cookie(client) or "").encode()).hexdigest()
