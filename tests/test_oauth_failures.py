"""A misbehaving provider, served by the test itself: every failure is a clean sign-in error.

Forged or invalid id_tokens, a failing or slow token endpoint and a userinfo that is not a
JSON object each answer ``OAuthCallbackError`` (never a 500) and grant no session.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from authlib.oidc.core.util import create_half_hash
from flask import Flask, Response, jsonify
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey
from joserfc.util import urlsafe_b64encode
from werkzeug.serving import make_server

from flask_sessionext import AuthExt
from flask_sessionext.jwt import decode, encode
from flask_sessionext.providers import OIDC, OAuth2

from .helpers import SECRET, csrf_token, session_cookie

SALT = "authjs.session-token"
CLIENT_ID, CLIENT_SECRET = "fake-client", "fake-secret-0123456789"
ACCESS_TOKEN = "fake-access-token"


class FakeOP:
    """A provider whose token and userinfo answers each test sets."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.token: Callable[[], Response | dict[str, Any]] = lambda: {}
        self.userinfo: Callable[[], Response | Any] = lambda: {"id": 1}
        self.issuer_in_discovery: str | None = None
        app = Flask("fake-op")
        app.add_url_rule("/.well-known/openid-configuration", "discovery", self._discovery)
        app.add_url_rule("/jwks", "jwks", lambda: jsonify(KeySet([self.key]).as_dict()))
        app.add_url_rule("/token", "token", lambda: self.token(), methods=["POST"])
        app.add_url_rule("/me", "me", lambda: self.userinfo())
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _discovery(self) -> Response:
        return jsonify(
            issuer=self.issuer_in_discovery or self.issuer,
            authorization_endpoint=f"{self.issuer}/auth",
            token_endpoint=f"{self.issuer}/token",
            userinfo_endpoint=f"{self.issuer}/me",
            jwks_uri=f"{self.issuer}/jwks",
            id_token_signing_alg_values_supported=["RS256"],
        )

    def id_token(
        self,
        nonce: str | None,
        *,
        header: dict[str, Any] | None = None,
        key: Any = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "sub": "u1",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "email": "u1@example.com",
            "name": "User One",
            "at_hash": create_half_hash(ACCESS_TOKEN, "RS256").decode(),
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        head = header or {"alg": "RS256", "kid": "k1"}
        return jwt.encode(head, body, key or self.key, algorithms=[head["alg"]])


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOP]:
    op = FakeOP()
    op.thread.start()
    yield op
    op.server.shutdown()


def make_client(fake: FakeOP) -> FlaskClient:
    app = Flask(__name__)
    app.config.update(TESTING=True, AUTH_SECRET=SECRET)
    client: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "timeout": 1.0,
    }
    AuthExt(
        app,
        providers=[
            OIDC(issuer=fake.issuer, id="fake", **client),
            OAuth2(
                id="plain",
                authorization_endpoint=f"{fake.issuer}/auth",
                token_endpoint=f"{fake.issuer}/token",
                userinfo_endpoint=f"{fake.issuer}/me",
                **client,
            ),
        ],
    )
    return app.test_client()


def run_flow(fake: FakeOP, provider: str, token: Callable[[str], Any]) -> tuple[FlaskClient, Any]:
    """Start a sign-in, let the fake OP answer the token request, and call our callback."""
    client = make_client(fake)
    data = {"csrfToken": csrf_token(client), "callbackUrl": "/done"}
    url = client.post(f"/api/auth/signin/{provider}", data=data).headers["Location"]
    query = parse_qs(urlsplit(url).query)
    nonce = query.get("nonce", [""])[0]
    answer = token(nonce)  # built here, so a broken forgery fails the test, not the fake OP
    fake.token = lambda: answer
    response = client.get(f"/api/auth/callback/{provider}?code=c0de&state={query['state'][0]}")
    return client, response


def tokens(id_token: str | None) -> dict[str, Any]:
    body = {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 300}
    return body | ({"id_token": id_token} if id_token else {})


def assert_refused(client: FlaskClient, response: Any) -> None:
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/api/auth/signin?error=OAuthCallbackError")
    assert session_cookie(client) is None


def test_a_valid_id_token_signs_in(fake: FakeOP) -> None:
    client, response = run_flow(fake, "fake", lambda nonce: tokens(fake.id_token(nonce)))
    assert response.headers["Location"] == "http://localhost/done"
    assert client.get("/api/auth/session").get_json()["user"]["name"] == "User One"


def unsigned(token: str) -> str:
    """The same claims with ``alg: none`` and no signature."""
    _, payload, _ = token.split(".")
    return f"{urlsafe_b64encode(json.dumps({'alg': 'none'}).encode()).decode()}.{payload}."


FORGERIES: dict[str, Callable[[FakeOP, str], str]] = {
    "another_key_same_kid": lambda f, n: f.id_token(
        n, key=RSAKey.generate_key(2048, parameters={"kid": "k1"})
    ),
    "alg_none": lambda f, n: unsigned(f.id_token(n)),
    "hs256_with_client_secret": lambda f, n: f.id_token(
        n, header={"alg": "HS256", "kid": "k1"}, key=OctKey.import_key(CLIENT_SECRET.encode() * 2)
    ),
    "wrong_audience": lambda f, n: f.id_token(n, aud="someone-else"),
    "wrong_issuer": lambda f, n: f.id_token(n, iss="https://evil.example"),
    "expired": lambda f, n: f.id_token(n, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
    "wrong_nonce": lambda f, n: f.id_token("not-" + n),
    "no_nonce": lambda f, n: f.id_token(None),
    "bad_at_hash": lambda f, n: f.id_token(n, at_hash="AAAAAAAAAAAAAAAAAAAAAA"),
    "foreign_azp": lambda f, n: f.id_token(n, aud=[CLIENT_ID, "other"], azp="other"),
    "not_a_jwt": lambda f, n: "not.a.jwt",
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_forged_or_invalid_id_token_is_refused(fake: FakeOP, forgery: str) -> None:
    make = FORGERIES[forgery]
    client, response = run_flow(fake, "fake", lambda nonce: tokens(make(fake, nonce)))
    assert_refused(client, response)


def test_missing_id_token_is_refused(fake: FakeOP) -> None:
    assert_refused(*run_flow(fake, "fake", lambda nonce: tokens(None)))


@pytest.mark.parametrize(
    "answer",
    [
        lambda: Response("boom", status=500),
        lambda: Response('{"error": "invalid_grant"}', status=400, mimetype="application/json"),
        lambda: Response("<html>not json</html>", mimetype="text/html"),
        lambda: {"token_type": "Bearer"},
    ],
    ids=["500", "invalid_grant", "html", "no_access_token"],
)
def test_failing_token_endpoint_is_refused(fake: FakeOP, answer: Callable[[], Any]) -> None:
    assert_refused(*run_flow(fake, "plain", lambda nonce: answer()))


def test_slow_token_endpoint_times_out(fake: FakeOP) -> None:
    answer = tokens(None)

    def slowly() -> dict[str, Any]:
        time.sleep(3)
        return answer

    client = make_client(fake)
    data = {"csrfToken": csrf_token(client)}
    url = client.post("/api/auth/signin/plain", data=data).headers["Location"]
    fake.token = slowly
    started = time.monotonic()
    state = parse_qs(urlsplit(url).query)["state"][0]
    response = client.get(f"/api/auth/callback/plain?code=c0de&state={state}")
    assert time.monotonic() - started < 2.5  # the provider's 1 s timeout, not the 3 s sleep
    assert_refused(client, response)


@pytest.mark.parametrize(
    "answer",
    [
        lambda: Response("<html>hi</html>", mimetype="text/html"),
        lambda: jsonify([1, 2]),
        lambda: Response("nope", status=401),
    ],
    ids=["html", "list", "401"],
)
def test_bad_userinfo_is_refused(fake: FakeOP, answer: Callable[[], Any]) -> None:
    fake.userinfo = answer
    try:
        assert_refused(*run_flow(fake, "plain", lambda nonce: tokens(None)))
    finally:
        fake.userinfo = lambda: {"id": 1}


def test_a_profile_without_an_id_is_a_configuration_error(fake: FakeOP) -> None:
    fake.userinfo = lambda: jsonify(name="no id")
    try:
        client, response = run_flow(fake, "plain", lambda nonce: tokens(None))
    finally:
        fake.userinfo = lambda: {"id": 1}
    assert response.headers["Location"] == "/api/auth/error?error=Configuration"
    assert session_cookie(client) is None


def test_plain_oauth_signs_in_with_userinfo(fake: FakeOP) -> None:
    fake.userinfo = lambda: {"id": 7, "name": "Seven", "email": "seven@example.com"}
    try:
        client, response = run_flow(fake, "plain", lambda nonce: tokens(None))
    finally:
        fake.userinfo = lambda: {"id": 1}
    assert response.headers["Location"] == "http://localhost/done"
    user = client.get("/api/auth/session").get_json()["user"]
    assert user == {"name": "Seven", "email": "seven@example.com"}


def test_discovery_with_another_issuer_is_a_configuration_error(fake: FakeOP) -> None:
    fake.issuer_in_discovery = "https://impostor.example"
    try:
        client = make_client(fake)
        response = client.post("/api/auth/signin/fake", data={"csrfToken": csrf_token(client)})
        assert response.headers["Location"] == "/api/auth/error?error=Configuration"
        # The page only shows the code (never 5xx); the failing request is what answers 500.
        assert client.get(response.headers["Location"]).status_code == 400
        json = client.post(
            "/api/auth/signin/fake",
            json={"csrfToken": csrf_token(client)},
            headers={"Accept": "application/json"},
        )
        assert json.status_code == 500
    finally:
        fake.issuer_in_discovery = None


def refreshing_client(fake: FakeOP) -> FlaskClient:
    app = Flask(__name__)
    app.config.update(TESTING=True, AUTH_SECRET=SECRET)
    options: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "timeout": 1.0,
    }
    auth: AuthExt[Any] = AuthExt(
        app, providers=[OIDC(issuer=fake.issuer, id="fake", refresh=True, **options)]
    )

    @auth.session_callback
    def session(session: dict[str, Any], token: dict[str, Any]) -> dict[str, Any]:
        return {**session, "error": token.get("error")}

    client = app.test_client()
    claims = {
        "sub": "u1",
        "provider": "fake",
        "access_token": "old",
        "refresh_token": "r1",
        "expires_at": int(time.time()),
    }
    client.set_cookie(SALT, encode(claims, secret=SECRET, salt=SALT))
    return client


def test_a_refresh_that_cannot_reach_a_sane_provider_is_an_error_not_a_500(fake: FakeOP) -> None:
    fake.issuer_in_discovery = "https://impostor.example"
    try:
        session = refreshing_client(fake).get("/api/auth/session")
    finally:
        fake.issuer_in_discovery = None
    assert session.status_code == 200
    assert session.get_json()["error"] == "RefreshTokenError"


def test_a_refresh_answer_without_expiry_is_not_refreshed_again(fake: FakeOP) -> None:
    fake.token = lambda: {"access_token": "new", "token_type": "Bearer"}
    client = refreshing_client(fake)
    assert client.get("/api/auth/session").get_json()["error"] is None
    claims = decode(session_cookie(client) or "", secret=SECRET, salt=SALT)
    assert claims["access_token"] == "new" and "expires_at" not in claims  # type: ignore[typeddict-item]
    assert claims["refresh_token"] == "r1"  # type: ignore[typeddict-item]
