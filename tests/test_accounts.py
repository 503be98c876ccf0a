"""Account linking with an adapter, end to end: Auth.js's rules against a real OpenID Provider.

Every sign-in walks the OP's login and consent forms, and the users, accounts and sessions
tables are read back from the database (SQLite, or PostgreSQL when
``SESSIONEXT_TEST_DATABASE_URL`` is set).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import select

from flask_sessionext import AuthExt
from flask_sessionext.adapters import SQLAlchemyAdapter
from flask_sessionext.jwt import decode
from flask_sessionext.providers import OIDC, Credentials
from flask_sessionext.signals import account_linked, user_created

from .database import database_app
from .helpers import SECRET, csrf_token, session_cookie
from .oidc_provider import OP, running_op, walk_login

SALT = "authjs.session-token"
CALLBACK = "http://localhost/api/auth/callback/"
#: Every provider id the tests register: the OP's one client lists each callback URL.
PROVIDER_IDS = ("oidc", "oidc2", "trusting")
NOT_LINKED = "/api/auth/signin?error=OAuthAccountNotLinked"


@pytest.fixture(scope="module")
def op() -> Iterator[OP]:
    with running_op([CALLBACK + p for p in PROVIDER_IDS], access_token_ttl=3600) as op:
        yield op


def oidc(op: OP, id: str = "oidc", **options: Any) -> OIDC:
    """An OIDC provider named ``id`` on the test OP (all share its one client)."""
    return OIDC(
        issuer=op.issuer,
        id=id,
        name=id,
        client_id=op.client_id,
        client_secret=op.client_secret,
        **options,
    )


@dataclass
class Harness:
    """A test app with the SQLAlchemy adapter, and what its callbacks and signals saw."""

    app: Flask
    auth: AuthExt[Any]
    adapter: SQLAlchemyAdapter
    jwt_calls: list[dict[str, Any]] = field(default_factory=list)
    session_users: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[str, ...]] = field(default_factory=list)

    def rows(self, model: str) -> list[dict[str, Any]]:
        """Every row of the adapter's ``User``, ``Account`` or ``Session`` table."""
        table = getattr(self.adapter, model).__table__
        with self.app.app_context(), self.adapter.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(select(table))]

    def create_user(self, **fields: Any) -> dict[str, Any]:
        with self.app.app_context():
            return self.adapter.create_user(fields)


Make = Callable[..., Harness]


@pytest.fixture
def make(database_url: str, op: OP) -> Iterator[Make]:
    """Build a :class:`Harness`; its signal receivers are disconnected after the test."""
    receivers: list[tuple[Any, Any]] = []

    def build(
        providers: list[Any] | None = None, strategy: str = "database", **config: Any
    ) -> Harness:
        ref: list[Harness] = []

        def configure(auth: AuthExt[Any], db: SQLAlchemy) -> None:
            @auth.jwt_callback
            def jwt(token: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
                ref[0].jwt_calls.append(kwargs)
                return token

            @auth.session_callback
            def session(session: dict[str, Any], user: Any = None) -> dict[str, Any]:
                if user is not None:  # the database strategy: the stored row
                    ref[0].session_users.append(dict(user))
                    session["user"]["id"] = user["id"]
                return session

        app, auth, adapter = database_app(
            database_url,
            providers if providers is not None else [oidc(op)],
            configure,
            AUTH_SESSION_STRATEGY=strategy,
            **config,
        )
        harness = Harness(app, auth, adapter)
        ref.append(harness)

        def on_user_created(sender: Flask, *, user: dict[str, Any], **kwargs: Any) -> None:
            harness.events.append(("user_created", user["id"]))

        def on_account_linked(
            sender: Flask, *, user: dict[str, Any], account: dict[str, Any], **kwargs: Any
        ) -> None:
            linked = ("account_linked", user["id"], account["provider"])
            harness.events.append((*linked, account["providerAccountId"]))

        for signal, receiver in [
            (user_created, on_user_created),
            (account_linked, on_account_linked),
        ]:
            signal.connect(receiver, sender=app, weak=False)
            receivers.append((signal, receiver))
        return harness

    yield build
    for signal, receiver in receivers:
        signal.disconnect(receiver)


def start(client: FlaskClient, provider: str) -> str:
    """POST /signin/<provider> with CSRF; the OP's authorization URL it redirects to."""
    data = {"csrfToken": csrf_token(client), "callbackUrl": "/private"}
    response = client.post(f"/api/auth/signin/{provider}", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return str(response.headers["Location"])


def sign_in(client: FlaskClient, provider: str = "oidc", login: str = "alice") -> str:
    """Sign in at the OP as ``login`` through ``provider``; where the app's callback sends us."""
    callback = walk_login(start(client, provider), stop_at=CALLBACK + provider, login=login)
    response = client.get(callback)
    assert response.status_code == 302, response.get_data(as_text=True)
    return str(response.headers["Location"])


def session_json(client: FlaskClient) -> Any:
    return client.get("/api/auth/session").get_json()


def token_of(client: FlaskClient) -> dict[str, Any]:
    """The claims of the client's JWT session cookie."""
    cookie = session_cookie(client)
    assert cookie is not None
    return dict(decode(cookie, secret=SECRET, salt=SALT))


# --- first and later sign-ins -------------------------------------------------------------------


def test_first_sign_in_creates_a_user_and_an_account(make: Make) -> None:
    h = make(strategy="jwt")
    client = h.app.test_client()
    assert sign_in(client) == "http://localhost/private"
    [user] = h.rows("User")
    assert user["name"] == "Alice" and user["email"] == "alice@example.com"
    assert user["image"] == "https://example.com/alice.png"
    assert user["id"] != "alice"  # the app's own id, not the provider's
    [account] = h.rows("Account")
    assert account["user_id"] == user["id"]
    assert (account["provider"], account["provider_account_id"], account["type"]) == (
        "oidc",
        "alice",
        "oidc",
    )
    assert account["access_token"] and account["refresh_token"] and account["id_token"]
    assert account["token_type"] == "Bearer" and "openid" in account["scope"]
    assert account["expires_at"] > time.time()
    # The jwt callback hears of the new user; the token's sub is the stored user's id.
    [signup] = h.jwt_calls
    assert signup["trigger"] == "signUp" and signup["is_new_user"] is True
    assert signup["user"]["id"] == user["id"] and signup["user"]["email"] == "alice@example.com"
    assert signup["account"]["provider"] == "oidc" and signup["profile"]["sub"] == "alice"
    token = token_of(client)
    assert token["sub"] == user["id"] and token["email"] == "alice@example.com"
    assert h.rows("Session") == []  # the JWT strategy keeps no session rows
    assert h.events == [
        ("user_created", user["id"]),
        ("account_linked", user["id"], "oidc", "alice"),
    ]


@pytest.mark.parametrize("strategy", ["jwt", "database"])
def test_the_same_account_signs_in_as_the_same_user(make: Make, strategy: str) -> None:
    h = make(strategy=strategy)
    sign_in(h.app.test_client())
    [user] = h.rows("User")
    events = list(h.events)
    laptop = h.app.test_client()  # another browser, signed out
    assert sign_in(laptop) == "http://localhost/private"
    assert h.rows("User") == [user]
    assert len(h.rows("Account")) == 1
    assert h.events == events  # nothing created or linked
    if strategy == "jwt":
        again = h.jwt_calls[-1]
        assert again["trigger"] == "signIn" and again["is_new_user"] is False
        assert token_of(laptop)["sub"] == user["id"]
    else:
        assert [row["user_id"] for row in h.rows("Session")] == [user["id"], user["id"]]
        assert session_json(laptop)["user"]["id"] == user["id"]


# --- an email that belongs to another user ------------------------------------------------------


@pytest.mark.parametrize("strategy", ["jwt", "database"])
def test_an_email_of_an_existing_user_is_not_linked(make: Make, strategy: str) -> None:
    h = make(strategy=strategy)
    carol = h.create_user(name="Carol", email="carol@example.com")
    client = h.app.test_client()
    assert sign_in(client, login="carol") == NOT_LINKED
    assert h.rows("User") == [carol]
    assert h.rows("Account") == [] and h.rows("Session") == []
    assert session_cookie(client) is None and session_json(client) is None
    assert h.events == [] and h.jwt_calls == []
    page = client.get(NOT_LINKED)
    assert page.status_code == 200


def test_an_email_of_an_existing_user_as_json(make: Make) -> None:
    h = make()
    h.create_user(name="Carol", email="carol@example.com")
    client = h.app.test_client()
    callback = walk_login(start(client, "oidc"), stop_at=CALLBACK + "oidc", login="carol")
    response = client.get(callback, headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.get_json() == {
        "url": f"http://localhost{NOT_LINKED}",
        "error": "OAuthAccountNotLinked",
    }
    assert h.rows("Account") == []
    # Auth.js's own client gets Auth.js's answer: 200, the error in the url.
    callback = walk_login(start(client, "oidc"), stop_at=CALLBACK + "oidc", login="carol")
    response = client.get(callback, headers={"X-Auth-Return-Redirect": "1"})
    assert response.status_code == 200
    assert response.get_json() == {"url": f"http://localhost{NOT_LINKED}"}


@pytest.mark.parametrize("strategy", ["jwt", "database"])
def test_dangerous_email_linking_links_to_the_existing_user(
    make: Make, op: OP, strategy: str
) -> None:
    h = make([oidc(op), oidc(op, "trusting", allow_dangerous_email_account_linking=True)], strategy)
    carol = h.create_user(name="Carol", email="carol@example.com")
    client = h.app.test_client()
    assert sign_in(client, "oidc", "carol") == NOT_LINKED  # the flag is per provider
    assert sign_in(client, "trusting", "carol") == "http://localhost/private"
    assert h.rows("User") == [carol]
    [account] = h.rows("Account")
    assert account["user_id"] == carol["id"] and account["provider"] == "trusting"
    assert h.events == [("account_linked", carol["id"], "trusting", "carol")]
    if strategy == "jwt":
        [linked] = h.jwt_calls
        assert linked["trigger"] == "signIn" and linked["is_new_user"] is False
        assert token_of(client)["sub"] == carol["id"]
    else:
        [row] = h.rows("Session")
        assert row["user_id"] == carol["id"]
        assert session_json(client)["user"]["id"] == carol["id"]


@pytest.mark.parametrize("variant", ["false", "string", "empty", "absent"])
def test_dangerous_linking_refuses_an_email_the_provider_does_not_verify(
    make: Make, op: OP, variant: str
) -> None:
    # email_verified false, "true", "" or missing: only a JSON true counts.
    h = make([oidc(op, "trusting", allow_dangerous_email_account_linking=True)])
    carol = h.create_user(name="Carol", email="carol@example.com")
    client = h.app.test_client()
    assert sign_in(client, "trusting", f"carol~{variant}") == NOT_LINKED
    assert h.rows("User") == [carol]
    assert h.rows("Account") == [] and h.rows("Session") == []
    assert session_cookie(client) is None and h.events == []


def test_an_unverified_email_does_not_claim_the_mailbox(make: Make, op: OP) -> None:
    h = make()
    client = h.app.test_client()
    assert sign_in(client, "oidc", "dora~false") == "http://localhost/private"
    [user] = h.rows("User")
    assert user["name"] == "Dora" and user["email"] is None
    with h.app.app_context():
        assert h.adapter.get_user_by_email("dora@example.com") is None


def test_addresses_are_compared_in_their_normal_form(make: Make, op: OP) -> None:
    h = make([oidc(op), oidc(op, "trusting", allow_dangerous_email_account_linking=True)])
    carol = h.create_user(name="Carol", email="  Carol@Example.COM ")
    assert carol["email"] == "carol@example.com"
    client = h.app.test_client()
    # The OP says CAROL@example.com: the same mailbox, so the same refusal as for carol@...
    assert sign_in(client, "oidc", "CAROL") == NOT_LINKED
    assert h.rows("User") == [carol] and h.rows("Account") == []
    # ... and dangerous linking (verified) links it to Carol instead of making a second user.
    assert sign_in(client, "trusting", "CAROL") == "http://localhost/private"
    assert h.rows("User") == [carol]
    [account] = h.rows("Account")
    assert account["user_id"] == carol["id"] and account["provider_account_id"] == "CAROL"


def test_a_new_user_stores_the_normal_form(make: Make) -> None:
    h = make()
    assert sign_in(h.app.test_client(), "oidc", "Eve") == "http://localhost/private"
    [user] = h.rows("User")
    assert user["email"] == "eve@example.com" and user["name"] == "Eve"


# --- linking while signed in --------------------------------------------------------------------


def test_a_signed_in_user_links_a_second_provider(make: Make, op: OP) -> None:
    h = make([oidc(op), oidc(op, "oidc2")])
    client = h.app.test_client()
    sign_in(client, "oidc", "alice")
    [alice] = h.rows("User")
    first_session = h.rows("Session")
    # Another login at the second provider, with another email: linked to who is signed in.
    assert sign_in(client, "oidc2", "alice-work") == "http://localhost/private"
    assert h.rows("User") == [alice]
    accounts = {(a["provider"], a["provider_account_id"]): a["user_id"] for a in h.rows("Account")}
    assert accounts == {("oidc", "alice"): alice["id"], ("oidc2", "alice-work"): alice["id"]}
    [row] = h.rows("Session")  # the new session replaced the old one
    assert row["user_id"] == alice["id"] and row != first_session[0]
    assert session_json(client)["user"] == {
        "id": alice["id"],
        "name": "Alice",
        "email": "alice@example.com",
        "image": "https://example.com/alice.png",
    }
    assert h.events == [
        ("user_created", alice["id"]),
        ("account_linked", alice["id"], "oidc", "alice"),
        ("account_linked", alice["id"], "oidc2", "alice-work"),
    ]
    # Either account now signs a fresh browser in as Alice.
    phone = h.app.test_client()
    sign_in(phone, "oidc2", "alice-work")
    assert session_json(phone)["user"]["id"] == alice["id"]
    assert len(h.rows("User")) == 1 and len(h.rows("Account")) == 2


def test_a_credentials_user_links_an_oauth_account(make: Make, op: OP) -> None:
    ref: list[Harness] = []

    def authorize(credentials: dict[str, str]) -> dict[str, Any] | None:
        with ref[0].app.app_context():
            user = ref[0].adapter.get_user_by_email(credentials.get("username", ""))
        return user if user and credentials.get("password") == "pw" else None

    h = make([Credentials(authorize=authorize), oidc(op)])
    ref.append(h)
    dana = h.create_user(name="Dana", email="dana@example.com")
    client = h.app.test_client()
    data = {"csrfToken": csrf_token(client), "username": "dana@example.com", "password": "pw"}
    assert client.post("/api/auth/callback/credentials", data=data).status_code == 302
    assert sign_in(client, "oidc", "dana-at-op") == "http://localhost/private"
    [account] = h.rows("Account")
    assert account["user_id"] == dana["id"] and account["provider_account_id"] == "dana-at-op"
    assert h.rows("User") == [dana]


@pytest.mark.parametrize("strategy", ["jwt", "database"])
def test_an_account_of_another_user_is_refused_while_signed_in(make: Make, strategy: str) -> None:
    h = make(strategy=strategy)
    sign_in(h.app.test_client(), login="alice")
    bob = h.app.test_client()
    sign_in(bob, login="bob")
    users = {u["email"]: u["id"] for u in h.rows("User")}
    events = list(h.events)
    assert sign_in(bob, login="alice") == NOT_LINKED
    # Nothing moved: each account stays with its user, and Bob is still Bob.
    accounts = {a["provider_account_id"]: a["user_id"] for a in h.rows("Account")}
    assert accounts == {"alice": users["alice@example.com"], "bob": users["bob@example.com"]}
    assert h.events == events
    assert session_json(bob)["user"]["email"] == "bob@example.com"
    if strategy == "database":
        assert sorted(r["user_id"] for r in h.rows("Session")) == sorted(users.values())
    else:
        assert token_of(bob)["sub"] == users["bob@example.com"]


# --- what the callbacks see ---------------------------------------------------------------------


def test_the_database_session_callback_receives_the_stored_user(make: Make) -> None:
    h = make()
    client = h.app.test_client()
    sign_in(client)
    assert h.jwt_calls == []  # the database strategy keeps no token
    [stored] = h.rows("User")
    session = session_json(client)
    assert session["user"]["id"] == stored["id"]
    seen = h.session_users[-1]
    assert set(seen) == {"id", "name", "email", "email_verified", "image"}
    assert {k: seen[k] for k in ("id", "name", "email", "image")} == {
        k: stored[k] for k in ("id", "name", "email", "image")
    }
