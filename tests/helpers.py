"""Helpers the tests share: the test app with a credentials provider, and signing in to it."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from flask import Flask, g, jsonify
from flask.testing import FlaskClient
from redis.backoff import NoBackoff
from redis.retry import Retry

from flask_sessionext import AuthExt, login_required
from flask_sessionext.providers import Credentials

SECRET = "test-secret-0123456789-0123456789-abcdef"

USERS: dict[str, dict[str, Any]] = {
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


def add_views(app: Flask) -> None:
    """A protected ``/private`` view showing the session and an open ``/open`` one."""

    @app.get("/private")
    @login_required
    def private() -> Any:
        return jsonify(g.session)

    @app.get("/open")
    def open_view() -> Any:
        return jsonify(signed_in=g.session is not None)


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


@contextmanager
def redis_prefix() -> Iterator[str]:
    """A ``RedisTokenStore`` prefix of this test's own; its keys on the local Redis (under the
    hash tag ``{prefix}``) are deleted afterwards."""
    prefix = f"sessionext-test:{time.time_ns()}:"
    try:
        yield prefix
    finally:
        client = redis.Redis(host="127.0.0.1", port=6379)
        for key in client.scan_iter(f"{{{prefix}}}*"):
            client.delete(key)
        client.close()


def unreachable_redis() -> redis.Redis:
    """A Redis client for a loopback port nobody listens on, which fails at once (no retries:
    redis-py's default retries with backoff for seconds)."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    return redis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0))
