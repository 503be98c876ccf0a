"""Shared fixtures: a small app with a credentials provider, and a way to sign in through it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from flask_sessionext import AuthExt
from flask_sessionext.providers import Credentials

from .database import DATABASE_URL, add_views, dispose_apps

SECRET = "test-secret-0123456789-0123456789-abcdef"

USERS = {
    "alice": {"id": 1, "name": "Alice", "email": "alice@example.com", "role": "admin"},
    "bob": {"id": "b-2", "name": "Bob", "email": "bob@example.com", "role": "user"},
}


def authorize(credentials: dict[str, str]) -> dict[str, Any] | None:
    """Accept the password "pw" for every known user."""
    user = USERS.get(credentials.get("username", ""))
    if user is None or credentials.get("password") != "pw":
        return None
    return {**user, "access_token": f"at-{user['id']}"}


def build_app(configure: Callable[[AuthExt[Any]], None] | None = None, **config: Any) -> Flask:
    """An app with the auth routes, a protected ``/private`` view and an open ``/open`` one."""
    app = Flask(__name__)
    app.config.update({"TESTING": True, "AUTH_SECRET": SECRET, **config})
    auth: AuthExt[Any] = AuthExt(providers=[Credentials(authorize=authorize)])
    if configure is not None:
        configure(auth)
    auth.init_app(app)

    add_views(app)
    return app


@pytest.fixture
def app() -> Flask:
    return build_app()


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        yield client


@pytest.fixture
def database_url(tmp_path: Any) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new schema on PostgreSQL."""
    if not DATABASE_URL:
        yield f"sqlite:///{tmp_path}/test.db"
        dispose_apps()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(DATABASE_URL)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        separator = "&" if "?" in DATABASE_URL else "?"
        yield f"{DATABASE_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        dispose_apps()
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def csrf_token(client: FlaskClient) -> str:
    """Fetch a CSRF token (and its cookie) the way Auth.js clients do."""
    token = client.get("/api/auth/csrf").get_json()["csrfToken"]
    assert isinstance(token, str)
    return token


def sign_in(
    client: FlaskClient, username: str = "alice", password: str = "pw", **extra: str
) -> Any:
    """Post the credentials form with a valid CSRF token; return the response."""
    data = {"csrfToken": csrf_token(client), "username": username, "password": password, **extra}
    return client.post("/api/auth/callback/credentials", data=data)


def session_cookie(client: FlaskClient, name: str = "authjs.session-token") -> str | None:
    """The session cookie the test client holds, if any."""
    cookie = client.get_cookie(name)
    return cookie.value if cookie else None
