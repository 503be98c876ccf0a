"""Every bad input gets a 4xx or the signed-out state: never a 500, never a session."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from joserfc import jwe
from werkzeug.datastructures import MultiDict

from flask_sessionext import AuthExt
from flask_sessionext.callbacks import REDIRECT_ARGS, Callback, default_redirect
from flask_sessionext.cookies import CHUNK_SIZE, MAX_CHUNKS
from flask_sessionext.jwt import derive_key, encode
from flask_sessionext.redirects import callback_url

from .helpers import SECRET, build_app, csrf_token, session_cookie, sign_in

SALT = "authjs.session-token"


def raw_token(claims: Any, enc: str = "A256CBC-HS512", secret: str = SECRET) -> str:
    """A token with exactly these claims (no iat/exp/jti added), as an attacker with the key."""
    key, kid = derive_key(secret, SALT, enc)
    header = {"alg": "dir", "enc": enc, "kid": kid}
    return jwe.encrypt_compact(header, json.dumps(claims).encode(), key)


def valid() -> str:
    return encode({"sub": "1", "name": "A"}, secret=SECRET, salt=SALT)


BAD_COOKIES = {
    "garbage": "not-a-token",
    "five_dots": "a.b.c.d.e",
    "truncated": valid()[:-10],
    "tampered": valid()[:60] + ("A" if valid()[60] != "A" else "B") + valid()[61:],
    "other_secret": encode({"sub": "1"}, secret="another-secret-" + "x" * 32, salt=SALT),
    "other_salt": encode({"sub": "1"}, secret=SECRET, salt="authjs.state"),
    "expired": encode({"sub": "1"}, secret=SECRET, salt=SALT, max_age=-60),
    "not_yet_valid": raw_token({"sub": "1", "nbf": int(time.time()) + 3600}),
    "payload_is_a_list": raw_token(["sub", "1"]),
    "payload_not_json": jwe.encrypt_compact(
        {"alg": "dir", "enc": "A256CBC-HS512", "kid": derive_key(SECRET, SALT)[1]},
        b"\xff\xfe",
        derive_key(SECRET, SALT)[0],
    ),
    "oversized": "x" * (CHUNK_SIZE * MAX_CHUNKS + 1),
    "unicode": "ñ" * 100,
}


@pytest.mark.parametrize("name", sorted(BAD_COOKIES))
def test_bad_session_cookie_reads_as_signed_out_and_is_cleared(name: str) -> None:
    client = build_app().test_client(use_cookies=False)
    cookie = {"Cookie": f"{SALT}={BAD_COOKIES[name]}"}
    response = client.get("/open", headers=cookie)
    assert response.status_code == 200
    assert response.get_json() == {"signed_in": False}
    assert "authjs.session-token=;" in response.headers["Set-Cookie"]
    assert client.get("/private", headers=cookie).status_code == 302
    assert client.get("/api/auth/session", headers=cookie).get_json() is None


def test_expiry_within_the_clock_tolerance_is_accepted() -> None:
    client = build_app().test_client()
    now = int(time.time())
    client.set_cookie(SALT, raw_token({"sub": "1", "iat": now - 60, "exp": now - 5}))
    assert client.get("/open").get_json() == {"signed_in": True}


def test_a_cached_token_still_expires() -> None:
    client = build_app().test_client()
    now = int(time.time())
    client.set_cookie(SALT, raw_token({"sub": "1", "iat": now - 60, "exp": now - 14}))
    assert client.get("/open").get_json() == {"signed_in": True}
    time.sleep(1.1)
    assert client.get("/open").get_json() == {"signed_in": False}


def test_a_missing_chunk_reads_as_signed_out_and_all_chunks_are_cleared() -> None:
    client = build_app().test_client()
    big = encode({"sub": "1", "blob": "x" * 9000}, secret=SECRET, salt=SALT)
    parts = [big[i : i + CHUNK_SIZE] for i in range(0, len(big), CHUNK_SIZE)]
    assert len(parts) >= 3
    for i, part in enumerate(parts):
        if i != 1:
            client.set_cookie(f"{SALT}.{i}", part)
    response = client.get("/open")
    assert response.get_json() == {"signed_in": False}
    cleared = response.headers.getlist("Set-Cookie")
    assert {c.split("=")[0] for c in cleared} == {
        f"{SALT}.{i}" for i in range(len(parts)) if i != 1
    }
    for i, part in enumerate(parts):
        client.set_cookie(f"{SALT}.{i}", part)
    assert client.get("/open").get_json() == {"signed_in": True}


@pytest.mark.parametrize("token", [None, "", "0" * 64, "x"])
def test_wrong_or_missing_csrf_token_is_refused_everywhere(token: str | None) -> None:
    client = build_app().test_client()
    csrf_token(client)
    data = {"username": "alice", "password": "pw"} | (
        {"csrfToken": token} if token is not None else {}
    )
    response = client.post("/api/auth/callback/credentials", data=data)
    assert response.status_code == 302
    assert "error=MissingCSRF" in response.headers["Location"]
    assert session_cookie(client) is None
    json_response = client.post(
        "/api/auth/callback/credentials", data=data, headers={"Accept": "application/json"}
    )
    assert json_response.status_code == 403


def test_a_csrf_token_from_another_browser_is_refused() -> None:
    victim, attacker = build_app().test_client(), build_app().test_client()
    attacker_token = csrf_token(attacker)
    csrf_token(victim)
    response = victim.post(
        "/api/auth/callback/credentials",
        data={"csrfToken": attacker_token, "username": "alice", "password": "pw"},
    )
    assert "error=MissingCSRF" in response.headers["Location"]


def test_a_forged_csrf_cookie_is_refused() -> None:
    client = build_app().test_client()
    client.set_cookie("authjs.csrf-token", "a" * 64 + "|" + "b" * 64)
    data = {"csrfToken": "a" * 64, "username": "alice", "password": "pw"}
    response = client.post("/api/auth/callback/credentials", data=data)
    assert "error=MissingCSRF" in response.headers["Location"]


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example",
        "https://evil.example/path?x=1",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,hi",
        "http://[::1",
        "http://localhost:99999",
        "http://localhost.evil.example",
        "",
    ],
)
def test_foreign_or_malformed_callback_url_falls_back_to_the_base(url: str) -> None:
    client = build_app().test_client()
    response = sign_in(client, callbackUrl=url)
    assert response.status_code == 302
    assert response.headers["Location"] == "http://localhost"
    page = client.get("/api/auth/signin", query_string={"callbackUrl": url})
    assert page.status_code == 200
    assert 'name="callbackUrl" value="http://localhost"' in page.get_data(as_text=True)


def test_same_origin_callback_urls_are_kept() -> None:
    redirect = Callback("redirect_callback", default_redirect, REDIRECT_ARGS)
    base = "https://app.example"
    assert callback_url("/a?b=c#d", base, redirect) == "https://app.example/a?b=c#d"
    assert callback_url("https://app.example/x", base, redirect) == "https://app.example/x"
    assert callback_url("https://app.example:444/x", base, redirect) == base
    assert callback_url(["/a"], base, redirect) == base


@pytest.mark.parametrize("path", ["/api/auth/callback/nope", "/api/auth/signin/nope"])
def test_unknown_provider_is_404(path: str) -> None:
    client = build_app().test_client()
    data = {"csrfToken": csrf_token(client)}
    assert client.post(path, data=data).status_code == 404
    response = client.post(path, data=data, headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json() == {"error": "UnknownProvider", "provider": "nope"}


def test_credentials_callback_only_takes_post(client: FlaskClient) -> None:
    assert client.get("/api/auth/callback/credentials").status_code == 405


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("username=alice&password=pw", "text/plain"),
        ("[1, 2]", "application/json"),
        ('"alice"', "application/json"),
        ("{not json", "application/json"),
        ("\xff\xfe", "application/x-www-form-urlencoded"),
    ],
)
def test_non_form_bodies_are_refused(body: str, content_type: str) -> None:
    client = build_app().test_client()
    csrf_token(client)
    response = client.post("/api/auth/callback/credentials", data=body, content_type=content_type)
    if content_type == "application/json":  # a JSON client gets JSON back
        assert response.status_code == 403
        assert response.get_json()["error"] == "MissingCSRF"
    else:
        assert response.status_code == 302
        assert "error=MissingCSRF" in response.headers["Location"]
    assert session_cookie(client) is None
    update = client.post("/api/auth/session", data=body, content_type=content_type)
    assert update.status_code == 400


def test_credentials_field_given_as_a_list_is_refused() -> None:
    client = build_app().test_client()
    token = csrf_token(client)
    form = [("csrfToken", token), ("username", "alice"), ("username", "bob"), ("password", "pw")]
    response = client.post("/api/auth/callback/credentials", data=MultiDict(form))
    assert "error=CredentialsSignin" in response.headers["Location"]
    as_json = {"csrfToken": token, "username": ["alice"], "password": "pw"}
    response = client.post("/api/auth/callback/credentials", json=as_json)
    assert response.status_code == 401
    assert response.get_json()["error"] == "CredentialsSignin"
    assert session_cookie(client) is None


def test_authorize_returning_a_non_dict_is_refused() -> None:
    app = build_app()
    app.extensions["sessionext"].ext.providers["credentials"].authorize = lambda c: "yes"
    client = app.test_client()
    assert sign_in(client).headers["Location"] == "/api/auth/error?error=Configuration"
    assert session_cookie(client) is None


def test_a_token_too_large_for_cookies_fails_sign_in_cleanly() -> None:
    def configure(auth: AuthExt[Any]) -> None:
        @auth.jwt_callback
        def jwt(token: dict[str, Any]) -> dict[str, Any]:
            token["blob"] = "x" * (CHUNK_SIZE * MAX_CHUNKS)
            return token

    client = build_app(configure).test_client()
    response = sign_in(client)
    assert response.headers["Location"] == "/api/auth/error?error=Configuration"
    assert session_cookie(client) is None
    assert client.get("/open").get_json() == {"signed_in": False}
