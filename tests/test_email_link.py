"""Email sign-in without a database: signed links, bound to the browser that asked, used once."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from flask_sessionext import AuthExt, get_token
from flask_sessionext.errors import ConfigurationError
from flask_sessionext.providers import Email

from .helpers import SECRET, add_views, csrf_token, session_cookie

Sent = list[tuple[str, str]]
CHECK_COOKIE = "authjs.email-check"
HOME = "http://localhost"
VERIFICATION = "/api/auth/error?error=Verification"
OTHER_SECRET = "other-secret-0123456789-0123456789-abcdef"


def link_app(
    outbox: Sent,
    *providers: Email,
    configure: Callable[[AuthExt[Any]], None] | None = None,
    **config: Any,
) -> Flask:
    """An app with an email provider and no adapter; sent links land in ``outbox``."""
    app = Flask(__name__)
    app.config.update({"TESTING": True, "AUTH_SECRET": SECRET, **config})
    auth: AuthExt[Any] = AuthExt(providers=providers or [Email(send=collect(outbox))])
    if configure is not None:
        configure(auth)
    auth.init_app(app)
    add_views(app)
    return app


def collect(outbox: Sent) -> Callable[[str, str, Email], None]:
    return lambda email, url, provider: outbox.append((email, url))


@pytest.fixture
def outbox() -> Sent:
    return []


@pytest.fixture
def app(outbox: Sent) -> Flask:
    return link_app(outbox)


def request_link(client: FlaskClient, email: str, provider: str = "email", **fields: str) -> Any:
    data = {"csrfToken": csrf_token(client), "email": email, **fields}
    return client.post(f"/api/auth/signin/{provider}", data=data)


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def with_token(url: str, token: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | {"token": token}
    return parts._replace(query=urlencode(query)).geturl()


def signed_in_as(client: FlaskClient) -> str | None:
    session = client.get("/api/auth/session").get_json()
    return session["user"]["email"] if session else None


def test_the_link_signs_in_the_browser_that_asked(app: Flask, outbox: Sent) -> None:
    client = app.test_client()
    response = request_link(client, "Ann@Example.COM", callbackUrl="/private")
    assert response.status_code == 302
    assert response.location == "/api/auth/verify-request?provider=email&type=email"
    assert client.get_cookie(CHECK_COOKIE) is not None
    [(email, url)] = outbox
    assert email == "ann@example.com"
    assert url.startswith("http://localhost/api/auth/callback/email?")
    assert set(parse_qs(urlsplit(url).query)) == {"callbackUrl", "token"}
    response = client.get(url)
    assert response.status_code == 302 and response.location == "http://localhost/private"
    assert signed_in_as(client) == "ann@example.com"
    assert client.get_cookie(CHECK_COOKIE) is None  # consumed
    with app.test_request_context(
        headers={"Cookie": f"authjs.session-token={session_cookie(client)}"}
    ):
        token = get_token()
        assert token is not None and token["sub"] == "ann@example.com"


def test_the_link_works_once(app: Flask, outbox: Sent) -> None:
    client = app.test_client()
    request_link(client, "ann@example.com")
    url = outbox[0][1]
    assert client.get(url).location == HOME
    client.post("/api/auth/signout", data={"csrfToken": csrf_token(client)})
    assert signed_in_as(client) is None
    replay = client.get(url)
    assert replay.location == VERIFICATION
    assert signed_in_as(client) is None
    page = client.get(replay.location)
    assert page.status_code == 403 and b"another browser" in page.data


def test_the_link_is_refused_in_another_browser(app: Flask, outbox: Sent, caplog: Any) -> None:
    asking, other = app.test_client(), app.test_client()
    request_link(asking, "ann@example.com")
    url = outbox[0][1]
    with caplog.at_level(logging.WARNING, "flask_sessionext"):
        assert other.get(url).location == VERIFICATION
    assert "without its check cookie" in caplog.text
    assert session_cookie(other) is None
    # A browser with a pending link of its own cannot use someone else's either.
    request_link(other, "bob@example.com")
    caplog.clear()
    with caplog.at_level(logging.WARNING, "flask_sessionext"):
        assert other.get(url).location == VERIFICATION
    assert "another request" in caplog.text
    assert session_cookie(other) is None
    # Neither refusal spent anything: both links still work where they were asked for.
    assert asking.get(url).location == HOME
    assert signed_in_as(asking) == "ann@example.com"
    assert other.get(outbox[1][1]).location == HOME
    assert signed_in_as(other) == "bob@example.com"


def test_only_the_latest_link_of_a_browser_works(app: Flask, outbox: Sent) -> None:
    client = app.test_client()
    request_link(client, "ann@example.com")
    request_link(client, "ann@example.com")
    first, second = outbox[0][1], outbox[1][1]
    assert client.get(first).location == VERIFICATION
    assert client.get(second).location == HOME


def test_an_expired_link_is_refused(app: Flask, outbox: Sent, caplog: Any) -> None:
    start = datetime.now(timezone.utc)
    with time_machine.travel(start, tick=False):
        client = app.test_client()
        request_link(client, "ann@example.com")
    url = outbox[0][1]
    with time_machine.travel(start + timedelta(minutes=10, seconds=30), tick=False):
        with caplog.at_level(logging.WARNING, "flask_sessionext"):
            assert client.get(url).location == VERIFICATION
        assert session_cookie(client) is None
    assert "expired email sign-in link" in caplog.text  # the link's age, not the cookie's


def test_a_link_works_until_it_expires(app: Flask, outbox: Sent) -> None:
    start = datetime.now(timezone.utc)
    with time_machine.travel(start, tick=False):
        client = app.test_client()
        request_link(client, "ann@example.com")
    with time_machine.travel(start + timedelta(minutes=9, seconds=59), tick=False):
        assert client.get(outbox[0][1]).location == HOME
        assert signed_in_as(client) == "ann@example.com"


def test_max_age_sets_the_lifetime(outbox: Sent, caplog: Any) -> None:
    app = link_app(outbox, Email(send=collect(outbox), max_age=60))
    start = datetime.now(timezone.utc)
    with time_machine.travel(start, tick=False):
        early, late = app.test_client(), app.test_client()
        request_link(early, "ann@example.com")
        request_link(late, "bob@example.com")
    with time_machine.travel(start + timedelta(seconds=59), tick=False):
        assert early.get(outbox[0][1]).location == HOME
    late_clock = time_machine.travel(start + timedelta(seconds=62), tick=False)
    with late_clock, caplog.at_level(logging.WARNING, "flask_sessionext"):
        assert late.get(outbox[1][1]).location == VERIFICATION
    assert "expired email sign-in link" in caplog.text


def _payload(token: str) -> dict[str, Any]:
    encoded = token.split(".")[0]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    return data


def _encode(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(text).rstrip(b"=").decode()


def _tampered(token: str) -> list[str]:
    payload, timestamp, signature = token.split(".")
    other_email = _encode({**_payload(token), "email": "mallory@example.com"})
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    return [
        f"{other_email}.{timestamp}.{signature}",  # another address, same signature
        f"{payload}.{timestamp}.{flipped}",  # a changed signature
        f"{payload}.{'AAAAAA'}.{signature}",  # a changed timestamp
        f"{payload}.{timestamp}",  # no signature
        "x" * 2000,
        "",
    ]


def test_a_tampered_link_is_refused(app: Flask, outbox: Sent) -> None:
    client = app.test_client()
    request_link(client, "ann@example.com")
    url = outbox[0][1]
    for token in _tampered(token_of(url)):
        response = client.get(with_token(url, token))
        assert response.location == VERIFICATION, token
        assert session_cookie(client) is None
    assert client.get(url.split("?")[0]).location == VERIFICATION  # no token at all
    assert client.get(url).location == HOME  # the genuine link was not spent
    assert signed_in_as(client) == "ann@example.com"


def test_a_link_signed_with_another_secret_is_refused(outbox: Sent) -> None:
    elsewhere = link_app(outbox, AUTH_SECRET=OTHER_SECRET)
    request_link(elsewhere.test_client(), "ann@example.com")
    app = link_app(outbox)
    client = app.test_client()
    request_link(client, "ann@example.com")
    assert client.get(with_token(outbox[1][1], token_of(outbox[0][1]))).location == VERIFICATION


def test_a_link_of_another_provider_is_refused(outbox: Sent) -> None:
    staff, users = [], []
    app = link_app(
        outbox,
        Email(send=lambda e, u, p: staff.append(u), id="staff"),
        Email(send=lambda e, u, p: users.append(u), id="email"),
    )
    client = app.test_client()
    request_link(client, "ann@example.com", provider="email")
    request_link(client, "ann@example.com", provider="staff")
    # The users' link opened at the staff provider's callback: another salt, another cookie.
    moved = users[0].replace("/callback/email", "/callback/staff")
    assert client.get(moved).location == VERIFICATION
    assert session_cookie(client) is None
    assert client.get(staff[0]).location == HOME


def test_links_survive_a_secret_rotation(outbox: Sent) -> None:
    before = link_app(outbox, AUTH_SECRET=OTHER_SECRET)
    client = before.test_client()
    request_link(client, "ann@example.com")
    check = client.get_cookie(CHECK_COOKIE)
    assert check is not None
    after = link_app(outbox, AUTH_SECRET=[SECRET, OTHER_SECRET])
    rotated = after.test_client()  # the same browser, after the deploy
    rotated.set_cookie(CHECK_COOKIE, check.value)
    assert rotated.get(outbox[0][1]).location == HOME
    assert signed_in_as(rotated) == "ann@example.com"


def test_the_signin_callback_decides_before_sending(outbox: Sent) -> None:
    seen: list[Any] = []

    def configure(auth: AuthExt[Any]) -> None:
        @auth.signin_callback
        def signin(user: Any, email: Any) -> bool:
            seen.append((dict(user), email))
            return str(user["email"]).endswith("@example.com")

    app = link_app(outbox, configure=configure)
    client = app.test_client()
    refused = request_link(client, "eve@elsewhere.test")
    assert refused.location == "/api/auth/error?error=AccessDenied"
    assert outbox == [] and client.get_cookie(CHECK_COOKIE) is None
    request_link(client, "ann@example.com")
    client.get(outbox[0][1])
    assert seen[1:] == [
        ({"id": "ann@example.com", "email": "ann@example.com"}, {"verificationRequest": True}),
        ({"id": "ann@example.com", "email": "ann@example.com"}, {"verificationRequest": False}),
    ]


def test_json_clients_get_the_verify_page_and_the_cookie(app: Flask, outbox: Sent) -> None:
    client = app.test_client()
    response = client.post(
        "/api/auth/signin/email", json={"csrfToken": csrf_token(client), "email": "a@example.com"}
    )
    verify = "http://localhost/api/auth/verify-request?provider=email&type=email"
    assert response.get_json() == {"url": verify}
    assert client.get_cookie(CHECK_COOKIE) is not None
    assert client.get(outbox[0][1]).location == HOME


def test_a_failing_sender_sets_no_check_cookie(outbox: Sent) -> None:
    def send(email: str, url: str, provider: Email) -> None:
        raise OSError("mail server down")

    app = link_app(outbox, Email(send=send))
    client = app.test_client()
    response = request_link(client, "ann@example.com")
    assert response.location == "/api/auth/error?error=Configuration"
    assert client.get_cookie(CHECK_COOKIE) is None


def test_the_check_cookie_is_secure_on_https(outbox: Sent) -> None:
    app = link_app(outbox, AUTH_URL="https://app.example.com")
    client = app.test_client()
    response = request_link(client, "ann@example.com")
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if "email-check" in c]
    assert cookie.startswith("__Secure-authjs.email-check=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_the_database_strategy_still_needs_an_adapter() -> None:
    app = Flask(__name__)
    app.config.update(TESTING=True, AUTH_SECRET=SECRET, AUTH_SESSION_STRATEGY="database")
    with pytest.raises(ConfigurationError, match="needs an adapter"):
        AuthExt(app, providers=[Email(send=print)])


def test_the_default_lifetimes() -> None:
    assert Email().lifetime(stored=False) == 600
    assert Email().lifetime(stored=True) == 24 * 60 * 60
    assert Email(max_age=90).lifetime(stored=False) == 90
