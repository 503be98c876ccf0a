"""The test OpenID Provider of :mod:`tests.oidc_provider`, end to end with plain ``requests``.

This documents the fixture: how to start the OP, walk its login and consent forms, and what
its token endpoint does (codes, PKCE, refresh rotation, access token lifetime). It does not use
``flask_sessionext``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from .oidc_provider import OP, running_op, walk_login

CALLBACK = "http://localhost/auth/callback/oidc"


@pytest.fixture(scope="module")
def op() -> Iterator[OP]:
    with running_op([CALLBACK], access_token_ttl=2) as op:
        yield op


@pytest.fixture(scope="module")
def metadata(op: OP) -> dict[str, Any]:
    response = requests.get(op.discovery_url, timeout=5)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_part(token: str, index: int) -> dict[str, Any]:
    """A JWT's header (0) or claims (1), unverified."""
    part = token.split(".")[index]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return result


def jwt_claims(token: str) -> dict[str, Any]:
    return jwt_part(token, 1)


def authorize(op: OP, metadata: dict[str, Any], login: str) -> tuple[str, str, str]:
    """Sign in at the OP by hand: the code, the PKCE verifier and the nonce."""
    verifier = b64url(secrets.token_bytes(32))
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    query = {
        "response_type": "code",
        "client_id": op.client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid email profile",
        "state": state,
        "nonce": nonce,
        "code_challenge": b64url(hashlib.sha256(verifier.encode()).digest()),
        "code_challenge_method": "S256",
    }
    url = f"{metadata['authorization_endpoint']}?{urlencode(query)}"

    callback = walk_login(url, stop_at=CALLBACK, login=login)

    params = parse_qs(urlsplit(callback).query)
    assert params["state"] == [state]
    assert params["iss"] == [op.issuer]
    return params["code"][0], verifier, nonce


def exchange(op: OP, metadata: dict[str, Any], code: str, verifier: str) -> requests.Response:
    return requests.post(
        metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
        auth=(op.client_id, op.client_secret),
        timeout=5,
    )


def sign_in(op: OP, metadata: dict[str, Any], login: str = "alice") -> dict[str, Any]:
    """The authorization code flow by hand; the token response."""
    code, verifier, nonce = authorize(op, metadata, login)
    response = exchange(op, metadata, code, verifier)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    assert jwt_claims(tokens["id_token"])["nonce"] == nonce
    return tokens


def refresh(op: OP, metadata: dict[str, Any], refresh_token: str) -> requests.Response:
    return requests.post(
        metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(op.client_id, op.client_secret),
        timeout=5,
    )


def userinfo(metadata: dict[str, Any], access_token: str) -> requests.Response:
    return requests.get(
        metadata["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=5,
    )


def test_discovery(op: OP, metadata: dict[str, Any]) -> None:
    assert op.issuer.startswith("http://127.0.0.1:")
    assert metadata["issuer"] == op.issuer
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_endpoint"] == f"{op.issuer}/auth"
    assert metadata["token_endpoint"] == f"{op.issuer}/token"
    assert metadata["userinfo_endpoint"] == f"{op.issuer}/me"
    assert metadata["jwks_uri"] == f"{op.issuer}/jwks"
    assert "RS256" in metadata["id_token_signing_alg_values_supported"]
    keys = requests.get(metadata["jwks_uri"], timeout=5).json()["keys"]
    assert [(key["kty"], key["alg"], key["use"]) for key in keys] == [("RSA", "RS256", "sig")]
    assert "d" not in keys[0]


def test_code_flow_refresh_rotation_and_ttl(op: OP, metadata: dict[str, Any]) -> None:
    tokens = sign_in(op, metadata, login="alice")
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 2
    assert tokens["access_token"]
    assert tokens["refresh_token"]
    assert jwt_part(tokens["id_token"], 0)["alg"] == "RS256"
    claims = jwt_claims(tokens["id_token"])
    assert claims["iss"] == op.issuer
    assert claims["aud"] == op.client_id
    assert {k: claims[k] for k in ("sub", "email", "email_verified", "name", "picture")} == {
        "sub": "alice",
        "email": "alice@example.com",
        "email_verified": True,
        "name": "Alice",
        "picture": "https://example.com/alice.png",
    }
    info = userinfo(metadata, tokens["access_token"])
    assert info.status_code == 200, info.text
    assert info.json() == {
        "sub": "alice",
        "email": "alice@example.com",
        "email_verified": True,
        "name": "Alice",
        "picture": "https://example.com/alice.png",
    }

    # Refreshing rotates: a new refresh token, and the used one is refused.
    response = refresh(op, metadata, tokens["refresh_token"])
    assert response.status_code == 200, response.text
    refreshed = response.json()
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    assert refreshed["access_token"] != tokens["access_token"]
    assert jwt_claims(refreshed["id_token"])["sub"] == "alice"

    reused = refresh(op, metadata, tokens["refresh_token"])
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    # Reuse detection revokes the whole grant: the new refresh token is dead too.
    again = refresh(op, metadata, refreshed["refresh_token"])
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"

    # access_token_ttl=2: the first access token has expired by now (or shortly).
    time.sleep(max(0.0, 2.1 - (time.time() - claims["iat"])))
    expired = userinfo(metadata, tokens["access_token"])
    assert expired.status_code == 401


def test_pkce_is_required(op: OP, metadata: dict[str, Any]) -> None:
    query = {
        "response_type": "code",
        "client_id": op.client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid",
        "state": "s",
    }
    url = f"{metadata['authorization_endpoint']}?{urlencode(query)}"
    # Refused before any form: straight back to the callback with an error.
    callback = walk_login(url, stop_at=CALLBACK, login="bob")
    params = parse_qs(urlsplit(callback).query)
    assert params["error"] == ["invalid_request"]
    assert "PKCE" in params["error_description"][0]


def test_wrong_verifier_and_reused_code(op: OP, metadata: dict[str, Any]) -> None:
    code, verifier, _ = authorize(op, metadata, "bob")
    wrong = exchange(op, metadata, code, b64url(secrets.token_bytes(32)))
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"

    code, verifier, _ = authorize(op, metadata, "bob")
    assert exchange(op, metadata, code, verifier).status_code == 200
    reused = exchange(op, metadata, code, verifier)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"


def test_other_login(op: OP, metadata: dict[str, Any]) -> None:
    tokens = sign_in(op, metadata, login="carol")
    claims = jwt_claims(tokens["id_token"])
    assert (claims["sub"], claims["email"], claims["name"]) == (
        "carol",
        "carol@example.com",
        "Carol",
    )
