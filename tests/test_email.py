"""Email sign-in ("magic links") with the SQLAlchemy adapter (SQLite, or PostgreSQL in CI)."""

from __future__ import annotations

import hashlib
import logging
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import default as default_policy
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from flask_sessionext import AuthExt
from flask_sessionext.actions.email import verification_token_hash
from flask_sessionext.adapters import MemoryAdapter, SQLAlchemyAdapter
from flask_sessionext.errors import ConfigurationError
from flask_sessionext.providers import Email, SMTPSender, normalize_email
from flask_sessionext.providers.email import sign_in_message

from .database import database_app
from .helpers import SECRET, csrf_token, session_cookie

Sent = list[tuple[str, str, Email]]
OLD_SECRET = "old-secret-0123456789-0123456789-abcdef"


@pytest.fixture
def outbox() -> Sent:
    return []


def email_app(
    database_url: str,
    outbox: Sent,
    configure: Any = None,
    provider: Email | None = None,
    **config: Any,
) -> tuple[Flask, AuthExt[Any], SQLAlchemyAdapter]:
    provider = provider or Email(send=lambda email, url, p: outbox.append((email, url, p)))
    return database_app(database_url, [provider], configure, **config)


@pytest.fixture
def setup(database_url: str, outbox: Sent) -> tuple[Flask, AuthExt[Any], SQLAlchemyAdapter]:
    return email_app(database_url, outbox)


def request_link(client: FlaskClient, email: str, **fields: str) -> Any:
    data = {"csrfToken": csrf_token(client), "email": email, **fields}
    return client.post("/api/auth/signin/email", data=data)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    return parts._replace(query=urlencode({**query(url), **changes})).geturl()


def token_rows(app: Flask, adapter: SQLAlchemyAdapter) -> list[Any]:
    with app.app_context():
        return list(app.extensions["test_db"].session.execute(select(adapter._tokens)).all())


def users(app: Flask, adapter: SQLAlchemyAdapter) -> list[Any]:
    with app.app_context():
        return list(app.extensions["test_db"].session.execute(select(adapter._users)).all())


# --- the whole flow ---------------------------------------------------------------------------


def test_sign_in_creates_a_verified_user(setup: Any, outbox: Sent) -> None:
    app, _, adapter = setup
    client = app.test_client()
    response = request_link(client, "  New.User@Example.COM ", callbackUrl="/private")
    assert response.status_code == 302
    assert response.location == "/api/auth/verify-request?provider=email&type=email"
    [(email, url, provider)] = outbox
    assert email == "new.user@example.com" and provider.id == "email"
    assert url.startswith("http://localhost/api/auth/callback/email?")
    assert query(url)["email"] == email
    assert query(url)["callbackUrl"] == "http://localhost/private"
    assert users(app, adapter) == []  # nobody is created before the link is used

    response = client.get(url)
    assert response.status_code == 302
    assert response.location == "http://localhost/private"
    assert session_cookie(client) is not None
    session = client.get("/api/auth/session").get_json()
    assert session["user"]["email"] == "new.user@example.com"
    [user] = users(app, adapter)
    assert user.email == "new.user@example.com" and user.email_verified is not None
    assert token_rows(app, adapter) == []


def test_an_existing_user_signs_in_as_themselves(setup: Any, outbox: Sent) -> None:
    app, _, adapter = setup
    with app.app_context():
        adapter.create_user({"id": "u1", "name": "Ann", "email": "ann@example.com"})
    client = app.test_client()
    request_link(client, "ann@EXAMPLE.com")
    assert client.get(outbox[0][1]).status_code == 302
    session = client.get("/api/auth/session").get_json()
    assert session["user"] == {"name": "Ann", "email": "ann@example.com", "image": None}
    [user] = users(app, adapter)
    assert user.id == "u1" and user.email_verified is not None


def test_the_link_signs_in_once(setup: Any, outbox: Sent) -> None:
    app, _, _ = setup
    client = app.test_client()
    request_link(client, "ann@example.com")
    url = outbox[0][1]
    assert client.get(url).location == "http://localhost"
    other = app.test_client()
    replay = other.get(url)
    assert replay.status_code == 302
    assert replay.location == "/api/auth/error?error=Verification"
    assert session_cookie(other) is None
    page = other.get(replay.location)
    assert page.status_code == 403 and b"no longer valid" in page.data


def test_an_expired_link_is_refused(setup: Any, outbox: Sent) -> None:
    app, _, adapter = setup
    client = app.test_client()
    before = datetime.now(timezone.utc)
    request_link(client, "ann@example.com")
    [row] = token_rows(app, adapter)
    expires = (
        row.expires.replace(tzinfo=timezone.utc) if row.expires.tzinfo is None else row.expires
    )
    assert abs(expires - (before + timedelta(days=1))) < timedelta(seconds=5)
    with app.app_context():
        db = app.extensions["test_db"]
        db.session.execute(
            update(adapter._tokens).values(
                expires=datetime.now(timezone.utc) - timedelta(seconds=1)
            )
        )
        db.session.commit()
    response = client.get(outbox[0][1])
    assert response.location == "/api/auth/error?error=Verification"
    assert session_cookie(client) is None
    assert token_rows(app, adapter) == []  # used up all the same


def test_max_age_sets_the_expiry(database_url: str, outbox: Sent) -> None:
    send = lambda email, url, p: outbox.append((email, url, p))  # noqa: E731
    app, _, adapter = email_app(database_url, outbox, provider=Email(send=send, max_age=60))
    before = datetime.now(timezone.utc)
    request_link(app.test_client(), "ann@example.com")
    [row] = token_rows(app, adapter)
    expires = (
        row.expires.replace(tzinfo=timezone.utc) if row.expires.tzinfo is None else row.expires
    )
    assert timedelta(seconds=55) < expires - before < timedelta(seconds=65)


def test_the_link_works_only_for_its_address(setup: Any, outbox: Sent) -> None:
    app, _, _ = setup
    client = app.test_client()
    request_link(client, "ann@example.com")
    url = outbox[0][1]
    for forged in ("mallory@example.com", "ann+x@example.com", "ann@example.org", "nonsense"):
        response = client.get(with_query(url, email=forged))
        assert response.location == "/api/auth/error?error=Verification", forged
        assert session_cookie(client) is None
    assert client.get(url).location == "http://localhost"  # the real link still works


@pytest.mark.parametrize(
    "token",
    ["", "short", "x" * 43, "a" * 200, "tok en with spaces and more than sixteen", "ä" * 43],
)
def test_a_tampered_token_is_refused(setup: Any, outbox: Sent, token: str) -> None:
    app, _, _ = setup
    client = app.test_client()
    request_link(client, "ann@example.com")
    url = outbox[0][1]
    response = client.get(with_query(url, token=token))
    assert response.location == "/api/auth/error?error=Verification"
    flipped = query(url)["token"][:-1] + ("A" if query(url)["token"][-1] != "A" else "B")
    assert client.get(with_query(url, token=flipped)).location.endswith("error=Verification")
    assert client.get(url).location == "http://localhost"


def test_a_link_without_parameters_is_refused(setup: Any) -> None:
    app, _, _ = setup
    response = app.test_client().get("/api/auth/callback/email")
    assert response.location == "/api/auth/error?error=Verification"


def test_only_get_uses_the_link(setup: Any, outbox: Sent) -> None:
    app, _, _ = setup
    client = app.test_client()
    request_link(client, "ann@example.com")
    url = outbox[0][1]
    assert client.head(url).status_code == 405  # a mail scanner's HEAD leaves it usable
    assert client.post(url).status_code == 405
    assert client.get(url).location == "http://localhost"


def test_sign_in_needs_the_csrf_token(setup: Any, outbox: Sent) -> None:
    app, _, adapter = setup
    client = app.test_client()
    csrf_token(client)
    response = client.post("/api/auth/signin/email", data={"email": "ann@example.com"})
    assert response.location == "/api/auth/signin?error=MissingCSRF"
    bad = {"email": "ann@example.com", "csrfToken": "0" * 64}
    assert client.post("/api/auth/signin/email", data=bad).location.endswith("MissingCSRF")
    assert outbox == [] and token_rows(app, adapter) == []


# --- addresses --------------------------------------------------------------------------------

INVALID = [
    "a@b@c",
    '"x"@ex.com',
    "x(comment)@ex.com",
    "a@ex.com, b@ex.com",
    "a@ex.com;b@ex.com",
    "<a@ex.com>",
    "Ann <a@ex.com>",
    "",
    "   ",
    "a",
    "@ex.com",
    "a@",
    "a" * 400 + "@ex.com",
    "a" * 65 + "@ex.com",
    "a@" + "b" * 64 + ".com",
    "a b@ex.com",
    "a@ex ample.com",
    "a\n@ex.com",
    "a@ex.com\r\nBcc: x@evil.com",
    "a\x00@ex.com",
    ".a@ex.com",
    "a.@ex.com",
    "a..b@ex.com",
    "a@ex..com",
    "a@-ex.com",
    "a@ex-.com",
    "a@ex_ample.com",
    "a@[127.0.0.1]",
    "a\\b@ex.com",
    "a:b@ex.com",
    "a@ex.com.",
    "a\u200b@ex.com",
]


@pytest.mark.parametrize("value", INVALID)
def test_normalize_email_refuses(value: str) -> None:
    assert normalize_email(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("\uff21\uff22\uff23@\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com", "abc@example.com"),
        ("  Ann.Lee+news@Example.COM\t", "ann.lee+news@example.com"),
        ("J\u00dcRGEN@B\u00dcCHER.DE", "j\u00fcrgen@b\u00fccher.de"),
        ("o'brien@ex.com", "o'brien@ex.com"),
        ("a@localhost", "a@localhost"),
        ("jürgen@BÜCHER.de", "jürgen@bücher.de"),
        ("user@xn--bcher-kva.de", "user@xn--bcher-kva.de"),
    ],
)
def test_normalize_email(value: str, expected: str) -> None:
    assert normalize_email(value) == expected


@pytest.mark.parametrize("value", [None, 1, ["a@ex.com"], b"a@ex.com"])
def test_normalize_email_needs_a_string(value: object) -> None:
    assert normalize_email(value) is None


@pytest.mark.parametrize("value", ["a@b@c", '"x"@ex.com', "a@ex.com, b@ex.com", "", "a" * 400])
def test_an_invalid_address_answers_400(setup: Any, outbox: Sent, value: str) -> None:
    app, _, adapter = setup
    client = app.test_client()
    response = request_link(client, value)
    assert response.status_code == 400
    assert b"valid email address" in response.data
    response = client.post(
        "/api/auth/signin/email",
        json={"csrfToken": csrf_token(client), "email": value},
        headers={"X-Auth-Return-Redirect": "1"},
    )
    assert response.status_code == 400
    assert response.get_json()["field"] == "email"
    assert outbox == [] and token_rows(app, adapter) == []


def test_a_missing_or_repeated_email_field_answers_400(setup: Any, outbox: Sent) -> None:
    app, _, _ = setup
    client = app.test_client()
    token = csrf_token(client)
    assert client.post("/api/auth/signin/email", data={"csrfToken": token}).status_code == 400
    data = {"csrfToken": token, "email": ["a@ex.com", "b@ex.com"]}
    assert client.post("/api/auth/signin/email", data=data).status_code == 400
    assert outbox == []


def test_a_custom_normalizer(database_url: str, outbox: Sent) -> None:
    def lower(value: object) -> str | None:
        email = normalize_email(value)
        return email and email.lower()

    send = lambda email, url, p: outbox.append((email, url, p))  # noqa: E731
    app, _, _ = email_app(database_url, outbox, provider=Email(send=send, normalize=lower))
    client = app.test_client()
    request_link(client, "Ann@Example.com")
    assert outbox[0][0] == "ann@example.com"
    assert client.get(outbox[0][1]).status_code == 302
    assert client.get("/api/auth/session").get_json()["user"]["email"] == "ann@example.com"


def test_a_normalizer_that_raises_refuses_the_address(
    database_url: str, outbox: Sent, caplog: Any
) -> None:
    def broken(value: object) -> str | None:
        raise RuntimeError("bug")

    send = lambda email, url, p: outbox.append((email, url, p))  # noqa: E731
    app, _, _ = email_app(database_url, outbox, provider=Email(send=send, normalize=broken))
    client = app.test_client()
    assert request_link(client, "ann@example.com").status_code == 400
    link = "/api/auth/callback/email?" + urlencode({"token": "t" * 43, "email": "a@ex.com"})
    assert client.get(link).location == "/api/auth/error?error=Verification"
    assert "normalize() of email provider 'email' raised" in caplog.text
    assert outbox == []


# --- storage ----------------------------------------------------------------------------------


def test_tokens_are_stored_hashed(setup: Any, outbox: Sent) -> None:
    app, _, adapter = setup
    request_link(app.test_client(), "ann@example.com")
    token = query(outbox[0][1])["token"]
    assert len(token) == 43
    [row] = token_rows(app, adapter)
    assert row.identifier == "ann@example.com"
    assert row.token == hashlib.sha256(f"{token}{SECRET}".encode()).hexdigest()
    assert row.token == verification_token_hash(token, SECRET)
    assert all(token not in str(value) for value in row)


def test_a_link_from_before_a_secret_rotation_still_works(database_url: str, outbox: Sent) -> None:
    app, _, adapter = email_app(database_url, outbox, AUTH_SECRET=[SECRET, OLD_SECRET])
    with app.app_context():
        adapter.create_verification_token(
            "ann@example.com",
            verification_token_hash("t" * 43, OLD_SECRET),
            datetime.now(timezone.utc) + timedelta(minutes=5),
        )
    client = app.test_client()
    url = "/api/auth/callback/email?" + urlencode({"token": "t" * 43, "email": "ann@example.com"})
    assert client.get(url).location == "http://localhost"
    request_link(client, "ben@example.com")
    [row] = token_rows(app, adapter)
    assert row.token == verification_token_hash(query(outbox[0][1])["token"], SECRET)  # newest


# --- callbackUrl, JSON clients, pages -------------------------------------------------------


def test_callback_url_is_checked_at_both_ends(setup: Any, outbox: Sent) -> None:
    app, _, _ = setup
    client = app.test_client()
    request_link(client, "ann@example.com", callbackUrl="https://evil.example/x")
    url = outbox[0][1]
    assert query(url)["callbackUrl"] == "http://localhost"
    forged = with_query(url, callbackUrl="//evil.example/")
    assert client.get(forged).location == "http://localhost"


def test_json_clients_get_the_url(setup: Any, outbox: Sent) -> None:
    app, _, _ = setup
    client = app.test_client()
    response = client.post(
        "/api/auth/signin/email",
        json={"csrfToken": csrf_token(client), "email": "ann@example.com", "callbackUrl": "/x"},
        headers={"X-Auth-Return-Redirect": "1"},
    )
    assert response.status_code == 200
    assert response.get_json() == {
        "url": "http://localhost/api/auth/verify-request?provider=email&type=email"
    }
    assert query(outbox[0][1])["callbackUrl"] == "http://localhost/x"


def test_the_verify_request_page(setup: Any) -> None:
    app, _, _ = setup
    response = app.test_client().get("/api/auth/verify-request?provider=email&type=email")
    assert response.status_code == 200
    assert b"Check your email" in response.data
    assert response.headers["Cache-Control"] == "private, no-cache, no-store"


def test_a_custom_verify_request_page(database_url: str, outbox: Sent) -> None:
    app, _, _ = email_app(database_url, outbox, AUTH_PAGES={"verify_request": "/check-mail"})
    client = app.test_client()
    assert request_link(client, "ann@example.com").location == (
        "/check-mail?provider=email&type=email"
    )
    response = client.get("/api/auth/verify-request?provider=email&type=email")
    assert response.location == "/check-mail?provider=email&type=email"


def test_providers_lists_the_email_provider(setup: Any) -> None:
    app, _, _ = setup
    providers = app.test_client().get("/api/auth/providers").get_json()
    assert providers["email"] == {
        "id": "email",
        "name": "Email",
        "type": "email",
        "signinUrl": "http://localhost/api/auth/signin/email",
        "callbackUrl": "http://localhost/api/auth/callback/email",
    }


# --- callbacks and failures -----------------------------------------------------------------


def test_signin_callback_is_asked_before_sending(database_url: str, outbox: Sent) -> None:
    calls: list[dict[str, Any]] = []

    def configure(auth: AuthExt[Any], db: Any) -> None:
        @auth.signin_callback
        def signin(user: Any, account: Any, email: Any) -> bool:
            calls.append({"user": user, "account": account, "email": email})
            return str(user["email"]).endswith("@example.com")

    app, _, adapter = email_app(database_url, outbox, configure)
    client = app.test_client()
    response = request_link(client, "eve@evil.example")
    assert response.location == "/api/auth/error?error=AccessDenied"
    assert outbox == [] and token_rows(app, adapter) == []
    assert calls[0]["email"] == {"verificationRequest": True}
    assert calls[0]["account"] == {
        "provider": "email",
        "type": "email",
        "providerAccountId": "eve@evil.example",
    }
    request_link(client, "ann@example.com")
    client.get(outbox[0][1])
    assert calls[-1]["email"] == {"verificationRequest": False}
    assert session_cookie(client) is not None


def test_a_failing_sender_answers_configuration_without_the_token(
    database_url: str, caplog: Any
) -> None:
    sent: list[str] = []

    def send(email: str, url: str, provider: Email) -> None:
        sent.append(url)
        raise RuntimeError(f"could not deliver {url}")

    app, _, adapter = database_app(database_url, [Email(send=send)])
    with caplog.at_level(logging.WARNING, logger="flask_sessionext"):
        response = request_link(app.test_client(), "ann@example.com")
    assert response.location == "/api/auth/error?error=Configuration"
    token = query(sent[0])["token"]
    assert "RuntimeError" in caplog.text and "could not deliver" in caplog.text
    assert token not in caplog.text
    assert token_rows(app, adapter) == []


def test_jwt_strategy_with_email(database_url: str, outbox: Sent) -> None:
    app, _, adapter = email_app(database_url, outbox, AUTH_SESSION_STRATEGY="jwt")
    client = app.test_client()
    request_link(client, "ann@example.com")
    client.get(outbox[0][1])
    cookie = session_cookie(client)
    assert cookie is not None and cookie.count(".") == 4  # a JWE, not a database session
    [user] = users(app, adapter)
    session = client.get("/api/auth/session").get_json()
    assert session["user"]["email"] == "ann@example.com"
    with app.test_request_context(headers={"Cookie": f"authjs.session-token={cookie}"}):
        from flask_sessionext import get_token

        token = get_token()
        assert token is not None and token["sub"] == user.id


# --- start-up checks and the development sender ---------------------------------------------


def plain_app(**config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update({"AUTH_SECRET": SECRET, **config})
    return app


def test_production_needs_a_sender() -> None:
    with pytest.raises(ConfigurationError, match="has no sender"):
        AuthExt(plain_app(), providers=[Email()], adapter=MemoryAdapter())
    AuthExt(plain_app(DEBUG=True), providers=[Email()], adapter=MemoryAdapter())
    AuthExt(plain_app(), providers=[Email(send=print)], adapter=MemoryAdapter())


def test_max_age_must_be_positive() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_age"):
            Email(max_age=bad)  # type: ignore[arg-type]


def test_the_development_sender_prints_the_link(capsys: Any, caplog: Any) -> None:
    app = plain_app(TESTING=True)
    AuthExt(app, providers=[Email()], adapter=MemoryAdapter())
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="flask_sessionext"):
        assert request_link(client, "ann@example.com").status_code == 302
    printed = capsys.readouterr().err
    url = printed.split("\n  ", 1)[1].strip()
    assert "DEV ONLY" in printed and url.startswith("http://localhost/api/auth/callback/email?")
    assert "DEV ONLY" in caplog.text and query(url)["token"] not in caplog.text
    assert client.get(url).location == "http://localhost"


# --- the email and the SMTP sender ------------------------------------------------------------


def test_the_email_body_escapes_everything() -> None:
    url = 'https://ex.com"><script>x</script>/cb?token=abc&email=a%40b.c'
    message = sign_in_message("a@b.c", url, sender="Site <no-reply@ex.com>")
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    assert html is not None and text is not None
    body = html.get_content()
    assert "<script>" not in body and '"><' not in body
    assert "&lt;script&gt;" in body and "&amp;email=" in body and "&#34;&gt;" in body
    assert url in text.get_content()
    assert message["Subject"] == 'Sign in to ex.com"><script>x<'


def test_the_email_refuses_header_injection() -> None:
    with pytest.raises(ValueError):
        sign_in_message("a@b.c", "https://ex.com/", sender="x@ex.com", subject="Hi\r\nBcc: e@x")


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.messages.append((envelope, message_from_bytes(content, policy=default_policy)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"mailer", b"pw")
        return AuthResult(success=ok, handled=False)

    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def smtp_config(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "AUTH_EMAIL_SERVER": "127.0.0.1",
        "AUTH_EMAIL_PORT": port,
        "AUTH_EMAIL_FROM": "Example <no-reply@example.com>",
        "AUTH_EMAIL_STARTTLS": False,
        **extra,
    }


def test_the_smtp_sender_delivers_the_link(database_url: str, smtp_server: Any) -> None:
    inbox, port = smtp_server
    app, _, _ = database_app(
        database_url,
        [Email(send=SMTPSender())],
        **smtp_config(port, AUTH_EMAIL_USERNAME="mailer", AUTH_EMAIL_PASSWORD="pw"),
    )
    client = app.test_client()
    response = request_link(client, "Ann@Example.com", callbackUrl="/private")
    assert response.location == "/api/auth/verify-request?provider=email&type=email"
    [(envelope, message)] = inbox.messages
    assert envelope.rcpt_tos == ["ann@example.com"]
    assert envelope.mail_from == "no-reply@example.com"
    assert message["To"] == "ann@example.com"
    assert message["From"] == "Example <no-reply@example.com>"
    assert message["Subject"] == "Sign in to localhost"
    assert isinstance(message, EmailMessage)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    url = next(line for line in text.get_content().splitlines() if line.startswith("http"))
    assert url.startswith("http://localhost/api/auth/callback/email?")
    assert f'href="{url.replace("&", "&amp;")}"' in html.get_content()
    assert "localhost" in html.get_content()
    assert client.get(url).location == "http://localhost/private"
    assert client.get("/api/auth/session").get_json()["user"]["email"] == "ann@example.com"


def test_the_smtp_sender_refuses_a_server_without_starttls(
    database_url: str, smtp_server: Any, caplog: Any
) -> None:
    inbox, port = smtp_server
    config = smtp_config(port, AUTH_EMAIL_STARTTLS=True)
    app, _, adapter = database_app(database_url, [Email(send=SMTPSender())], **config)
    with caplog.at_level(logging.ERROR, logger="flask_sessionext"):
        response = request_link(app.test_client(), "ann@example.com")
    assert response.location == "/api/auth/error?error=Configuration"
    assert inbox.messages == [] and token_rows(app, adapter) == []
    assert "SMTPNotSupportedError" in caplog.text


def test_the_smtp_sender_reports_a_login_failure(database_url: str, smtp_server: Any) -> None:
    inbox, port = smtp_server
    config = smtp_config(port, AUTH_EMAIL_USERNAME="mailer", AUTH_EMAIL_PASSWORD="wrong")
    app, _, _ = database_app(database_url, [Email(send=SMTPSender())], **config)
    response = request_link(app.test_client(), "ann@example.com")
    assert response.location == "/api/auth/error?error=Configuration"
    assert inbox.messages == []


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({}, "AUTH_EMAIL_SERVER"),
        ({"AUTH_EMAIL_SERVER": "smtp.example.com"}, "AUTH_EMAIL_FROM"),
        ({"AUTH_EMAIL_SERVER": "smtp.example.com", "AUTH_EMAIL_FROM": "nobody"}, "AUTH_EMAIL_FROM"),
        (
            {"AUTH_EMAIL_SERVER": "s", "AUTH_EMAIL_FROM": "a@ex.com", "AUTH_EMAIL_PORT": "25"},
            "AUTH_EMAIL_PORT",
        ),
        (
            {"AUTH_EMAIL_SERVER": "s", "AUTH_EMAIL_FROM": "a@ex.com", "AUTH_EMAIL_USERNAME": "u"},
            "AUTH_EMAIL_PASSWORD",
        ),
    ],
)
def test_the_smtp_sender_checks_its_config_at_start(config: dict[str, Any], error: str) -> None:
    app = plain_app(**config)
    with pytest.raises(ConfigurationError, match=error):
        AuthExt(app, providers=[Email(send=SMTPSender())], adapter=MemoryAdapter())


def test_the_smtp_sender_defaults() -> None:
    app = plain_app(AUTH_EMAIL_SERVER="smtp.example.com", AUTH_EMAIL_FROM="a@ex.com")
    AuthExt(app, providers=[Email(send=SMTPSender())], adapter=MemoryAdapter())
    assert app.config["AUTH_EMAIL_STARTTLS"] is True and app.config["AUTH_EMAIL_SSL"] is False
    from flask_sessionext.providers.email import smtp_settings

    assert smtp_settings(app.config).port == 587
    assert smtp_settings({**app.config, "AUTH_EMAIL_SSL": True}).port == 465
