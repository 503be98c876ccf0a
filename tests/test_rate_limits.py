"""Rate limits, on by default: credentials sign-in, email links and the token API.

The app keeps users in SQLite, or PostgreSQL when ``SESSIONEXT_TEST_DATABASE_URL`` is set;
each request names its client address (``REMOTE_ADDR``). Windows pass by moving the clock
with time-machine (what Flask-Limiter's own tests use), never by sleeping.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from flask_sessionext import AuthExt, signals
from flask_sessionext.adapters import SQLAlchemyAdapter
from flask_sessionext.errors import ConfigurationError
from flask_sessionext.providers import Credentials, Email

from .database import database_app
from .helpers import SECRET

API = "/api/auth"
ANN, BEN = "ann@example.com", "ben@example.com"
A, B, C = "192.0.2.1", "192.0.2.2", "2001:db8::3"
FIELDS = {"email": {"label": "Email", "type": "email"}, "password": {"type": "password"}}
Sent = list[str]


def make_app(database_url: str, outbox: Sent, **config: Any) -> Flask:
    """Credentials (email + password ``pw`` of a stored user) and email links; tables, users."""
    adapters: list[SQLAlchemyAdapter] = []

    def authorize(credentials: dict[str, str]) -> Any:
        user = adapters[0].get_user_by_email(credentials.get("email", "").strip().lower())
        return user if user is not None and credentials.get("password") == "pw" else None

    providers = [
        Credentials(authorize=authorize, fields=FIELDS),
        Email(send=lambda email, url, provider: outbox.append(email)),
    ]
    app, _, adapter = database_app(
        database_url, providers, AUTH_SESSION_STRATEGY="database", AUTH_TOKEN_API=True, **config
    )
    adapters.append(adapter)
    with app.app_context():
        adapter.create_user({"id": "u1", "email": ANN, "name": "Ann"})
        adapter.create_user({"id": "u2", "email": BEN, "name": "Ben"})
    return app


@pytest.fixture
def outbox() -> Sent:
    return []


@pytest.fixture
def app(database_url: str, outbox: Sent) -> Flask:
    return make_app(database_url, outbox)


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        yield client


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    """The clock, ticking from now, that a test moves past a window."""
    with time_machine.travel(time.time(), tick=True) as traveller:
        yield traveller


def sign_in(
    client: FlaskClient, email: str, password: str, address: str, **headers: str
) -> TestResponse:
    """The credentials form (with its CSRF token) from ``address``."""
    environ = {"REMOTE_ADDR": address}
    csrf = client.get(f"{API}/csrf", environ_base=environ).get_json()["csrfToken"]
    form = {"csrfToken": csrf, "email": email, "password": password}
    return client.post(
        f"{API}/callback/credentials", data=form, environ_base=environ, headers=headers
    )


def request_link(client: FlaskClient, email: str, address: str, **headers: str) -> TestResponse:
    environ = {"REMOTE_ADDR": address}
    csrf = client.get(f"{API}/csrf", environ_base=environ).get_json()["csrfToken"]
    return client.post(
        f"{API}/signin/email",
        data={"csrfToken": csrf, "email": email},
        environ_base=environ,
        headers=headers,
    )


def token_login(client: FlaskClient, email: str, password: str, address: str) -> TestResponse:
    return client.post(
        f"{API}/token/login",
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def refused(response: TestResponse) -> bool:
    """A credentials sign-in answered as a wrong password (not limited, not signed in)."""
    return response.status_code == 302 and "error=CredentialsSignin" in response.location


def signed_in(response: TestResponse) -> bool:
    return response.status_code == 302 and "error" not in response.location


def limited(response: TestResponse) -> bool:
    """429 with a ``Retry-After`` of whole seconds, no more than the longest window used here."""
    if response.status_code != 429:
        return False
    retry = response.headers.get("Retry-After", "")
    return retry.isdigit() and 1 <= int(retry) <= 60 * 60


def fail(client: FlaskClient, email: str, address: str, times: int) -> None:
    for _ in range(times):
        assert refused(sign_in(client, email, "wrong", address))


# -- credentials sign-in ------------------------------------------------------------------


@pytest.mark.parametrize("email", [ANN, "nobody@example.com"], ids=["known", "unknown"])
def test_the_11th_failure_for_an_account_is_refused_from_any_address(
    client: FlaskClient, email: str
) -> None:
    fail(client, email, A, 10)
    eleventh = sign_in(client, email, "wrong", A)
    assert limited(eleventh)
    twelfth = sign_in(client, email, "wrong", B)  # a fresh address: the account's own limit
    assert limited(twelfth)
    # The same for a known and an unknown account: nothing to learn about who exists.
    assert b"Too many attempts" in twelfth.data
    assert email.encode() not in twelfth.data
    # Other accounts from that address are not limited by this one's failures.
    assert signed_in(sign_in(client, BEN, "pw", B))


def test_the_account_key_is_normalised(client: FlaskClient) -> None:
    for i, spelling in enumerate([ANN, " Ann@Example.com", "ANN@EXAMPLE.COM "] * 4):
        if i == 10:
            break
        assert refused(sign_in(client, spelling, "wrong", f"198.51.100.{i}"))
    assert limited(sign_in(client, "aNN@example.COM", "wrong", B))


def test_a_right_password_from_a_limited_address_is_refused_until_the_window_passes(
    client: FlaskClient, clock: time_machine.Traveller
) -> None:
    for i in range(10):  # ten accounts, one failure each: the address's limit, no account's
        assert refused(sign_in(client, f"guess{i}@example.com", "wrong", A))
    assert limited(sign_in(client, ANN, "pw", A))
    assert signed_in(sign_in(client, ANN, "pw", B))  # ann herself is not limited
    clock.shift(61)
    assert signed_in(sign_in(client, ANN, "pw", A))


def test_the_account_limit_resets_after_its_window(
    client: FlaskClient, clock: time_machine.Traveller
) -> None:
    fail(client, ANN, A, 10)
    clock.shift(61)  # the address's one-minute window has passed, the account's has not
    assert limited(sign_in(client, ANN, "pw", A))
    clock.shift(4 * 60)
    assert signed_in(sign_in(client, ANN, "pw", C))


def test_successes_do_not_count_as_failures_nor_reset_them(client: FlaskClient) -> None:
    fail(client, ANN, A, 5)
    for _ in range(5):
        assert signed_in(sign_in(client, BEN, "pw", A))
    fail(client, ANN, A, 5)
    assert limited(sign_in(client, ANN, "wrong", A))


def test_attempts_of_any_outcome_are_limited_per_address(client: FlaskClient) -> None:
    for _ in range(30):
        assert signed_in(sign_in(client, BEN, "pw", A))
    assert limited(sign_in(client, BEN, "pw", A))
    assert signed_in(sign_in(client, BEN, "pw", B))


def test_the_answer_fits_the_client(client: FlaskClient) -> None:
    fail(client, ANN, A, 10)
    page = sign_in(client, ANN, "wrong", A)
    assert limited(page)
    assert page.mimetype == "text/html"
    assert b"Too many attempts" in page.data

    api = sign_in(client, ANN, "wrong", A, Accept="application/json")
    assert limited(api)
    assert api.get_json()["error"] == "TooManyRequests"

    # Auth.js's client reads the error code from the URL it is given.
    authjs = sign_in(client, ANN, "wrong", A, **{"X-Auth-Return-Redirect": "1"})
    assert limited(authjs)
    url = authjs.get_json()["url"]
    assert url.endswith(f"{API}/error?error=TooManyRequests")
    shown = client.get(url)
    assert shown.status_code == 429
    assert b"Too many attempts" in shown.data


def test_the_signal_names_the_limit(client: FlaskClient, app: Flask) -> None:
    seen: list[dict[str, Any]] = []

    def record(sender: Flask, **kwargs: Any) -> None:
        assert sender is app
        seen.append(kwargs)

    fail(client, ANN, A, 10)
    with signals.rate_limited.connected_to(record):
        assert limited(sign_in(client, ANN, "wrong", B))
    (event,) = seen
    assert event["action"] == "signin_failed"
    assert event["scope"] == "key"
    assert event["key"] == ANN
    assert event["address"] == B
    assert event["limit"] == "10 per 5 minute"
    assert 1 <= event["retry_after"] <= 5 * 60


def test_limits_off(database_url: str, outbox: Sent) -> None:
    app = make_app(database_url, outbox, AUTH_RATE_LIMITS=False)
    with app.test_client() as client:
        fail(client, ANN, A, 40)
        assert signed_in(sign_in(client, ANN, "pw", A))
        for _ in range(5):
            assert request_link(client, ANN, A).status_code == 302
    assert outbox == [ANN] * 5


def test_one_action_off_or_tuned(database_url: str, outbox: Sent) -> None:
    limits = {"signin_failed": None, "signin": "3/hour per key; 100/hour"}
    app = make_app(database_url, outbox, AUTH_RATE_LIMITS=limits)
    with app.test_client() as client:
        fail(client, BEN, A, 3)
        assert limited(sign_in(client, BEN, "pw", B))  # ben's 3 attempts an hour are spent
        fail(client, ANN, A, 3)  # failures have no limit of their own here


# -- email links ---------------------------------------------------------------------------


def test_links_to_one_address_stop_after_the_limit(client: FlaskClient, outbox: Sent) -> None:
    for address in (A, B, C):
        assert request_link(client, ANN, address).status_code == 302
    assert limited(request_link(client, " Ann@Example.COM", "203.0.113.9"))
    assert outbox == [ANN] * 3
    assert request_link(client, BEN, A).status_code == 302
    assert outbox == [ANN] * 3 + [BEN]


def test_links_from_one_client_stop_after_the_limit(
    client: FlaskClient, outbox: Sent, clock: time_machine.Traveller
) -> None:
    for i in range(10):
        assert request_link(client, f"user{i}@example.com", A).status_code == 302
    response = request_link(client, ANN, A, Accept="application/json")
    assert limited(response)
    assert response.get_json()["error"] == "TooManyRequests"
    assert len(outbox) == 10
    clock.shift(61)
    assert request_link(client, ANN, A).status_code == 302


# -- token API -----------------------------------------------------------------------------


def test_token_login_failures_share_the_sign_in_limits(client: FlaskClient) -> None:
    fail(client, ANN, A, 5)
    for _ in range(5):
        assert token_login(client, ANN, "wrong", A).status_code == 401
    response = token_login(client, ANN, "pw", B)
    assert limited(response)
    assert response.get_json()["error"] == "TooManyRequests"
    assert token_login(client, BEN, "pw", B).status_code == 200


def test_token_refresh_is_limited_per_client(database_url: str, outbox: Sent) -> None:
    app = make_app(database_url, outbox, AUTH_RATE_LIMITS={"token_refresh": "2/minute"})
    with app.test_client() as client:
        pair = token_login(client, BEN, "pw", A).get_json()
        env = {"REMOTE_ADDR": A}
        first = client.post(
            f"{API}/token/refresh", json={"refreshToken": pair["refreshToken"]}, environ_base=env
        )
        assert first.status_code == 200
        body = {"refreshToken": first.get_json()["refreshToken"]}
        assert client.post(f"{API}/token/refresh", json={"x": 1}, environ_base=env).status_code
        third = client.post(f"{API}/token/refresh", json=body, environ_base=env)
        assert limited(third)
        assert third.get_json()["error"] == "TooManyRequests"
        other = client.post(f"{API}/token/refresh", json=body, environ_base={"REMOTE_ADDR": B})
        assert other.status_code == 200


def test_the_default_token_refresh_limit(client: FlaskClient) -> None:
    env = {"REMOTE_ADDR": A}
    for _ in range(60):
        response = client.post(f"{API}/token/refresh", json={}, environ_base=env)
        assert response.status_code == 400
    assert limited(client.post(f"{API}/token/refresh", json={}, environ_base=env))


# -- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"signin_failed": "ten a minute"}, "AUTH_RATE_LIMITS['signin_failed'] has 'ten a minute'"),
        ({"signin": "10/minute;"}, "AUTH_RATE_LIMITS['signin'] has ''"),
        ({"email": 10}, "AUTH_RATE_LIMITS['email'] must be a string"),
        ({"signin_failure": "1/minute"}, "unknown actions ['signin_failure']"),
        ({"token_refresh": "5/minute per key"}, "'per key' limits do not apply"),
        (True, "AUTH_RATE_LIMITS must be a dict"),
    ],
)
def test_bad_limits_refuse_to_start(limits: object, message: str) -> None:
    app = Flask(__name__)
    app.config.update(AUTH_SECRET=SECRET, AUTH_RATE_LIMITS=limits)
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        init_auth(app)


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ("localhost:6379", "must be a limits storage URI"),
        (None, "got a NoneType"),
        ("rediz://:hunter2@localhost:6379", "limits has no rediz:// storage"),
        ("async+memory://", "asyncio storage"),
    ],
)
def test_a_bad_storage_refuses_to_start(storage: object, message: str) -> None:
    app = Flask(__name__)
    app.config.update(AUTH_SECRET=SECRET, AUTH_RATE_LIMIT_STORAGE=storage)
    with pytest.raises(ConfigurationError, match=re.escape(message)) as raised:
        init_auth(app)
    assert "hunter2" not in str(raised.value)


def init_auth(app: Flask) -> None:
    AuthExt(app, providers=[Credentials(authorize=lambda credentials: None)])
