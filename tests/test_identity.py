"""A user is something with an id, and one mailbox is one user.

What ``authorize()``, a provider's ``profile()`` or an adapter gives back must be a dict with an
id before anything signs in; ``authorize()`` failing is told apart from a wrong password; every
address is stored and looked up in one normal form, by both adapters.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from flask_sessionext import AuthExt
from flask_sessionext.adapters import MemoryAdapter
from flask_sessionext.errors import CredentialsSignin, StoreConflict
from flask_sessionext.identity import normalize_email, user_id
from flask_sessionext.providers import Credentials

from .database import database_app
from .helpers import build_app, session_cookie, sign_in

INVALID_USERS: list[Any] = [
    {},
    {"id": None},
    {"id": ""},
    {"id": 1.5},
    {"id": True},
    {"id": ["1"]},
    {"id": "a\x00b"},
    {"id": "x" * 256},
    ["1"],
    "alice",
    True,
]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def app_with(authorize: Any, **config: Any) -> Flask:
    app = build_app(**config)
    app.extensions["sessionext"].ext.providers["credentials"].authorize = authorize
    return app


@pytest.mark.parametrize("user", INVALID_USERS, ids=repr)
def test_authorize_without_a_valid_id_is_a_configuration_error(user: Any, caplog: Any) -> None:
    client = app_with(lambda credentials: user).test_client()
    response = sign_in(client)
    assert response.headers["Location"] == "/api/auth/error?error=Configuration"
    assert session_cookie(client) is None and not response.headers.getlist("Set-Cookie")
    assert "authorize() of provider 'credentials' gave" in caplog.text


@pytest.mark.parametrize("user", INVALID_USERS[:4], ids=repr)
def test_the_token_api_refuses_a_user_without_an_id(user: Any) -> None:
    store = MemoryAdapter()

    def configure(auth: AuthExt[Any]) -> None:
        auth.token_store = store
        auth.providers["credentials"].authorize = lambda credentials: user  # type: ignore[attr-defined]

    app = build_app(configure, AUTH_TOKEN_API=True)
    response = app.test_client().post("/api/auth/token/login", json={"username": "a"})
    assert response.status_code == 500
    assert response.get_json()["error"] == "Configuration"
    assert "token" not in response.get_json() and store.refresh_tokens == {}


def test_an_integer_id_becomes_a_string() -> None:
    client = app_with(lambda credentials: {"id": 7, "name": "Seven"}).test_client()
    assert sign_in(client).headers["Location"] == "http://localhost"
    session = client.get("/api/auth/session").get_json()
    assert session["user"] == {"name": "Seven"}
    assert user_id({"id": 7}) == "7"


def test_a_refusal_is_credentials_signin() -> None:
    for refused in (None, False):
        client = app_with(lambda credentials, r=refused: r).test_client()
        location = sign_in(client).headers["Location"]
        assert location == "/api/auth/signin?error=CredentialsSignin&code=credentials"


def test_an_app_refusal_carries_its_code() -> None:
    class InvalidLogin(CredentialsSignin):
        code = "invalid_credentials"

    class BadCode(CredentialsSignin):
        code = "<script>"

    def authorize(credentials: dict[str, str]) -> None:
        raise InvalidLogin if credentials["username"] == "alice" else BadCode

    client = app_with(authorize).test_client()
    location = sign_in(client).headers["Location"]
    assert location == "/api/auth/signin?error=CredentialsSignin&code=invalid_credentials"
    location = sign_in(client, "bob").headers["Location"]
    assert location == "/api/auth/signin?error=CredentialsSignin&code=credentials"
    response = client.post("/api/auth/token/login", json={"username": "alice", "password": "pw"})
    assert response.status_code == 404  # no token API here; see test_token_api


def test_a_bug_in_authorize_is_a_configuration_error(caplog: Any) -> None:
    def authorize(credentials: dict[str, str]) -> None:
        raise KeyError("password=hunter2")

    client = app_with(authorize).test_client()
    response = sign_in(client)
    assert response.headers["Location"] == "/api/auth/error?error=Configuration"
    assert "authorize() of provider 'credentials' raised KeyError" in caplog.text


@pytest.fixture
def unreachable_postgres() -> Iterator[Any]:
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/test")
    yield engine
    engine.dispose()


def test_authorize_that_cannot_reach_its_database_answers_503(
    unreachable_postgres: Any, caplog: Any
) -> None:
    def authorize(credentials: dict[str, str]) -> dict[str, Any] | None:
        with unreachable_postgres.connect() as conn:  # a real refused connection
            conn.execute(text("SELECT 1"))
        return None

    client = app_with(authorize).test_client()
    response = sign_in(client)
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert b"unavailable" in response.data
    assert session_cookie(client) is None
    json = client.post(
        "/api/auth/callback/credentials",
        json={"csrfToken": "x", "username": "alice"},
        headers={"X-Auth-Return-Redirect": "1"},
    )
    # No CSRF: refused before authorize runs; Auth.js's client reads the error from the url.
    assert json.status_code == 200
    assert json.get_json() == {"url": "http://localhost/api/auth/signin?error=MissingCSRF"}
    assert "OperationalError" in caplog.text


def test_authorize_on_a_missing_sqlite_file_answers_503(tmp_path: Any) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/no/such/dir/users.db")

    def authorize(credentials: dict[str, str]) -> dict[str, Any] | None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None

    try:
        response = sign_in(app_with(authorize).test_client())
    finally:
        engine.dispose()
    assert response.status_code == 503


class ForgetfulAdapter(MemoryAdapter):
    """An adapter with a bug: its users come back without their id."""

    def get_user(self, user_id: str) -> dict[str, Any] | None:
        found = super().get_user(user_id)
        return found and {k: v for k, v in found.items() if k != "id"}


def test_an_adapter_user_without_an_id_is_a_configuration_error(caplog: Any) -> None:
    adapter = ForgetfulAdapter()
    stored = adapter.create_user({"name": "Ann"})
    app = Flask(__name__)
    app.config.update({"TESTING": True, "AUTH_SECRET": "s" * 40})
    auth: AuthExt[Any] = AuthExt(
        providers=[Credentials(authorize=lambda c: {"id": stored["id"]})], adapter=adapter
    )
    auth.init_app(app)
    client = app.test_client()
    response = sign_in(client)
    assert response.headers["Location"] == "/api/auth/error?error=Configuration"
    assert adapter.sessions == {} and session_cookie(client) is None
    assert "the adapter gave a dict without an 'id'" in caplog.text


# --- one mailbox, one user ----------------------------------------------------------------------

SPELLINGS = ["Ada@Corp.example", "ada@corp.example", " ada@corp.example ", "ADA@CORP.EXAMPLE\t"]


def test_every_spelling_normalises_to_one_address() -> None:
    assert {normalize_email(s) for s in SPELLINGS} == {"ada@corp.example"}
    for not_one in ("ada@corp.example, eve@corp.example", "Ada <ada@corp.example>", "ada"):
        assert normalize_email(not_one) is None


def check_adapter(adapter: Any) -> None:
    ada = adapter.create_user({"name": "Ada", "email": SPELLINGS[0]})
    assert ada["email"] == "ada@corp.example"
    for spelling in SPELLINGS:
        assert adapter.get_user_by_email(spelling)["id"] == ada["id"]
    assert adapter.get_user_by_email("not an address") is None
    with pytest.raises(StoreConflict):
        adapter.create_user({"name": "Ada again", "email": SPELLINGS[2]})
    with pytest.raises(ValueError, match="one valid address"):
        adapter.create_user({"name": "Two", "email": "a@x.example, b@x.example"})
    other = adapter.create_user({"name": "Other"})
    with pytest.raises(StoreConflict):
        adapter.update_user(other["id"], {"email": "ADA@corp.example"})
    assert adapter.update_user(other["id"], {"email": " Bo@Corp.Example"})["email"] == (
        "bo@corp.example"
    )


def test_the_memory_adapter_keeps_one_user_per_mailbox() -> None:
    check_adapter(MemoryAdapter())


def test_the_sqlalchemy_adapter_keeps_one_user_per_mailbox(database_url: str) -> None:
    app, _, adapter = database_app(database_url, [Credentials(authorize=lambda c: None)])
    with app.app_context():
        check_adapter(adapter)
