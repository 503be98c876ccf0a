"""examples/database: database sessions, a role column, sign out everywhere, account linking.

The example runs on the test database (SQLite, or PostgreSQL when
``SESSIONEXT_TEST_DATABASE_URL`` is set) through ``DATABASE_URL``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from .oidc_provider import OP, running_op, walk_login

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "database" / "app.py"
CALLBACK = "http://localhost/api/auth/callback/oidc"
DEMO = {"email": "demo@example.com", "password": "demo-password"}


@pytest.fixture(scope="module")
def op() -> Iterator[OP]:
    with running_op([CALLBACK]) as op:
        yield op


@pytest.fixture
def apps() -> list[Flask]:
    """The example apps a test made; their pooled connections are closed after it."""
    return []


def load_example(
    monkeypatch: pytest.MonkeyPatch, database_url: str, apps: list[Flask], **env: str
) -> Iterator[ModuleType]:
    """The example module on the test database, after ``flask init-db``; ``env`` set first."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("AUTH_SECRET", "example-secret-" + "d" * 32)
    for name in ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "AUTH_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("database_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    module.app.config["TESTING"] = True
    result = module.app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "sign in as demo@example.com / demo-password (admin)" in result.output
    apps.append(module.app)
    yield module
    for app in apps:  # close pooled connections before the test schema is dropped
        with app.app_context():
            module.db.engine.dispose()


@pytest.fixture
def example(
    monkeypatch: pytest.MonkeyPatch, database_url: str, apps: list[Flask]
) -> Iterator[ModuleType]:
    """The example module on the test database, after ``flask init-db``."""
    yield from load_example(monkeypatch, database_url, apps)


@pytest.fixture
def cached_example(
    monkeypatch: pytest.MonkeyPatch, database_url: str, apps: list[Flask]
) -> Iterator[ModuleType]:
    """The example with ``SESSION_CACHE_TTL`` set."""
    yield from load_example(monkeypatch, database_url, apps, SESSION_CACHE_TTL="300")


def csrf(client: FlaskClient) -> str:
    token = client.get("/api/auth/csrf").get_json()["csrfToken"]
    assert isinstance(token, str)
    return token


def sign_in(
    client: FlaskClient, email: str = DEMO["email"], password: str = DEMO["password"]
) -> str:
    data = {"csrfToken": csrf(client), "email": email, "password": password}
    response = client.post("/api/auth/callback/credentials", data=data)
    assert response.status_code == 302
    return str(response.headers["Location"])


def session_count(client: FlaskClient) -> str:
    page = client.get("/account").get_data(as_text=True)
    return page.split('id="session-count">', 1)[1].split("<", 1)[0]


def test_init_db_is_idempotent_and_stores_only_a_password_hash(example: ModuleType) -> None:
    result = example.app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0 and "demo@example.com already exists" in result.output
    with example.app.app_context():
        [(user, stored)] = example.db.session.execute(
            select(example.User, example.Password.hash).join(example.Password)
        ).all()
    assert user.email == "demo@example.com" and user.role == "admin"
    assert stored != DEMO["password"] and stored.startswith(("scrypt:", "pbkdf2:"))


@pytest.mark.parametrize("cached", [False, True], ids=["uncached", "session-cache"])
def test_role_reaches_the_session_and_sign_out_everywhere(
    request: pytest.FixtureRequest, cached: bool
) -> None:
    example = request.getfixturevalue("cached_example" if cached else "example")
    laptop, phone = example.app.test_client(), example.app.test_client()
    assert sign_in(laptop) == "http://localhost"
    home = laptop.get("/").get_data(as_text=True)
    assert "your role is\n  <strong>admin</strong>" in home
    session = laptop.get("/api/auth/session").get_json()
    assert session["user"]["role"] == "admin" and session["user"]["email"] == DEMO["email"]
    assert session["user"]["id"]
    assert (example.adapter.session_cache is not None) is cached
    for _ in range(20):  # with the cache, its listener is live by now and the session kept
        laptop.get("/api/auth/session")
    with example.app.app_context():  # a role changed through the ORM shows at once
        example.db.session.get(example.User, session["user"]["id"]).role = "editor"
        example.db.session.commit()
    assert laptop.get("/api/auth/session").get_json()["user"]["role"] == "editor"
    sign_in(phone)
    assert session_count(laptop) == "2"
    # The button posts Auth.js's CSRF token; without it nothing happens.
    assert phone.post("/account/sign-out-everywhere").status_code == 403
    forged = {"csrfToken": "0" * 64}
    assert phone.post("/account/sign-out-everywhere", data=forged).status_code == 403
    assert session_count(laptop) == "2"
    response = phone.post("/account/sign-out-everywhere", data={"csrfToken": csrf(phone)})
    assert response.status_code == 303 and response.headers["Location"] == "/?ended=2"
    assert "2 sessions ended" in phone.get("/?ended=2").get_data(as_text=True)
    assert laptop.get("/api/auth/session").get_json() is None
    assert phone.get("/api/auth/session").get_json() is None
    assert laptop.get("/account").status_code == 302  # to the sign-in page


def test_wrong_password_or_unknown_email_is_refused(example: ModuleType) -> None:
    client = example.app.test_client()
    assert "error=CredentialsSignin" in sign_in(client, password="wrong")
    assert "error=CredentialsSignin" in sign_in(client, email="nobody@example.com")
    assert client.get("/api/auth/session").get_json() is None


@pytest.mark.parametrize(
    "email", ["demo\x00@example.com", "dëmo@example.com", "a@b@c", " DEMO@Example.com\x00"]
)
def test_hostile_emails_are_refused_not_raised(example: ModuleType, email: str) -> None:
    client = example.app.test_client()
    assert "error=CredentialsSignin" in sign_in(client, email=email, password="pässwörd\x00")


def test_any_spelling_of_the_address_signs_in(example: ModuleType) -> None:
    assert sign_in(example.app.test_client(), email="  Demo@EXAMPLE.com ") == "http://localhost"


def test_no_openid_provider_unless_configured(example: ModuleType) -> None:
    providers = example.app.test_client().get("/api/auth/providers").get_json()
    assert list(providers) == ["credentials"]


def test_an_openid_account_links_to_the_signed_in_user(
    example: ModuleType, op: OP, apps: list[Flask]
) -> None:
    app: Flask = example.create_app(
        {
            "TESTING": True,
            "OIDC_ISSUER": op.issuer,
            "OIDC_CLIENT_ID": op.client_id,
            "OIDC_CLIENT_SECRET": op.client_secret,
        }
    )
    apps.append(app)
    client = app.test_client()
    # The OP's "demo" has the demo user's email: refused until linked while signed in.
    start = client.post("/api/auth/signin/oidc", data={"csrfToken": csrf(client)})
    callback = walk_login(start.headers["Location"], stop_at=CALLBACK, login="demo")
    refused = client.get(callback).headers["Location"]
    assert refused == "/api/auth/signin?error=OAuthAccountNotLinked"
    page = client.get(refused).get_data(as_text=True)
    assert "sign in with the account you used before" in page
    sign_in(client)
    assert "Link your OpenID account" in client.get("/account").get_data(as_text=True)
    data = {"csrfToken": csrf(client), "callbackUrl": "/account"}
    start = client.post("/api/auth/signin/oidc", data=data)
    callback = walk_login(start.headers["Location"], stop_at=CALLBACK, login="demo")
    assert client.get(callback).headers["Location"] == "http://localhost/account"
    page = client.get("/account").get_data(as_text=True)
    assert "OpenID:\n    linked" in page
    demo = client.get("/api/auth/session").get_json()["user"]
    # A fresh browser signs in with the OpenID account as the demo user, role and all.
    other = app.test_client()
    start = other.post("/api/auth/signin/oidc", data={"csrfToken": csrf(other)})
    other.get(walk_login(start.headers["Location"], stop_at=CALLBACK, login="demo"))
    assert other.get("/api/auth/session").get_json()["user"] == demo
    # A new OpenID user gets the role column's default.
    newcomer = app.test_client()
    start = newcomer.post("/api/auth/signin/oidc", data={"csrfToken": csrf(newcomer)})
    newcomer.get(walk_login(start.headers["Location"], stop_at=CALLBACK, login="newbie"))
    user: dict[str, Any] = newcomer.get("/api/auth/session").get_json()["user"]
    assert user["email"] == "newbie@example.com" and user["role"] == "user"


def test_email_link_in_debug_mode_signs_in_the_stored_user(
    example: ModuleType, apps: list[Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    app: Flask = example.create_app({"TESTING": True})
    apps.append(app)
    client = app.test_client()
    data = {"csrfToken": csrf(client), "email": DEMO["email"]}
    response = client.post("/api/auth/signin/email", data=data)
    assert response.headers["Location"].startswith("/api/auth/verify-request")
    link = next(
        word for word in capsys.readouterr().err.split() if "/api/auth/callback/email?" in word
    )
    assert client.get(link).status_code == 302
    assert client.get("/api/auth/session").get_json()["user"]["role"] == "admin"
