"""OAuth 2 and OpenID Connect sign-in against a real OpenID Provider (panva's oidc-provider)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask, g, jsonify
from flask.testing import FlaskClient

from flask_sessionext import AuthExt, get_token
from flask_sessionext.errors import ConfigurationError
from flask_sessionext.jwt import decode, encode
from flask_sessionext.providers import OIDC, OAuth2

from .helpers import SECRET, build_app, csrf_token, session_cookie, unreachable_redis
from .oidc_provider import OP, running_op, walk_login

SALT = "authjs.session-token"
CALLBACK = "http://localhost/api/auth/callback/"


@pytest.fixture(scope="module")
def op() -> Iterator[OP]:
    with running_op([CALLBACK + "oidc", CALLBACK + "oauth"], access_token_ttl=3600) as op:
        yield op


def providers(op: OP, **options: Any) -> list[Any]:
    """An OIDC provider (discovery) and a plain OAuth 2 one (userinfo) on the same OP."""
    client: dict[str, Any] = {"client_id": op.client_id, "client_secret": op.client_secret}
    return [
        OIDC(issuer=op.issuer, **client, **options),
        OAuth2(
            id="oauth",
            name="Plain OAuth",
            authorization_endpoint=f"{op.issuer}/auth",
            token_endpoint=f"{op.issuer}/token",
            userinfo_endpoint=f"{op.issuer}/me",
            scope="openid email profile",
            **client,
        ),
    ]


def oauth_app(op: OP, calls: list[dict[str, Any]] | None = None, **options: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(TESTING=True, AUTH_SECRET=SECRET)
    auth: AuthExt[Any] = AuthExt(app, providers=providers(op, **options))

    @auth.jwt_callback
    def jwt(token: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if calls is not None:
            calls.append(kwargs)
        if kwargs["account"]:
            token["provider_access_token"] = kwargs["account"]["access_token"]
        return token

    @auth.session_callback
    def session(session: dict[str, Any], token: dict[str, Any]) -> dict[str, Any]:
        if "error" in token:
            session["error"] = token["error"]
        return session

    @app.get("/private")
    def private() -> Any:
        return jsonify(g.session)

    @app.get("/provider-token")
    def provider_token() -> Any:
        token = get_token()
        return jsonify(token and token.get("access_token"))

    return app


def start(client: FlaskClient, provider: str, callback_url: str = "/private") -> str:
    """POST /signin/<provider> with CSRF; return the authorization URL it redirects to."""
    data = {"csrfToken": csrf_token(client), "callbackUrl": callback_url}
    response = client.post(f"/api/auth/signin/{provider}", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return str(response.headers["Location"])


def sign_in(client: FlaskClient, provider: str = "oidc", login: str = "alice") -> Any:
    """The whole flow: our redirect, the OP's login and consent forms, our callback."""
    callback = walk_login(start(client, provider), stop_at=CALLBACK + provider, login=login)
    return client.get(callback)


@pytest.mark.parametrize("provider", ["oidc", "oauth"])
def test_sign_in_through_the_op(op: OP, provider: str) -> None:
    calls: list[dict[str, Any]] = []
    client = oauth_app(op, calls).test_client()
    response = sign_in(client, provider)
    assert response.status_code == 302
    assert response.headers["Location"] == "http://localhost/private"
    session = client.get("/private").get_json()
    assert session["user"] == {
        "name": "Alice",
        "email": "alice@example.com",
        "image": "https://example.com/alice.png",
    }
    first, second = calls
    assert first["trigger"] == "signIn"
    assert first["user"]["id"] == "alice"
    account = first["account"]
    assert account["provider"] == provider and account["providerAccountId"] == "alice"
    assert account["type"] == ("oidc" if provider == "oidc" else "oauth")
    assert account["token_type"] == "Bearer" and account["access_token"]
    assert account["refresh_token"] and account["expires_at"] > time.time()
    assert ("id_token" in account) is True
    assert first["profile"]["sub"] == "alice" and first["profile"]["email_verified"] is True
    # account and profile come only at sign-in; later reads get the token alone.
    assert second["account"] is None and second["profile"] is None and second["trigger"] is None
    with client.application.test_request_context(
        headers={"Cookie": f"{SALT}={session_cookie(client)}"}
    ):
        token = get_token()
        assert token is not None and token["sub"] == "alice"
        assert token["provider_access_token"] == account["access_token"]  # type: ignore[typeddict-item]


def test_check_cookies_are_short_lived_bound_and_used_once(op: OP) -> None:
    client = oauth_app(op).test_client()
    url = start(client, "oidc")
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    assert query["redirect_uri"] == [CALLBACK + "oidc"]
    names = ["authjs.state", "authjs.pkce.code_verifier", "authjs.nonce", "authjs.callback-url"]
    for name in names:
        cookie = client.get_cookie(name)
        assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
        assert cookie.max_age == 900
        # Distinct salts: a check cookie never decodes as a session.
        with pytest.raises(Exception, match="kid"):
            decode(cookie.value, secret=SECRET, salt=SALT)
    state_cookie = client.get_cookie("authjs.state")
    assert state_cookie is not None
    assert query["state"][0] not in state_cookie.value  # encrypted, not readable
    callback = walk_login(url, stop_at=CALLBACK + "oidc")
    assert client.get(callback).headers["Location"] == "http://localhost/private"
    assert all(client.get_cookie(name) is None for name in names)
    # Replaying the callback: the checks are gone (and the code is spent at the OP).
    client.post("/api/auth/signout", data={"csrfToken": csrf_token(client)})
    replay = client.get(callback)
    assert "error=OAuthCallbackError" in replay.headers["Location"]
    assert session_cookie(client) is None


def test_provider_error_access_denied(op: OP) -> None:
    client = oauth_app(op).test_client()
    url = start(client, "oidc")
    state = parse_qs(urlsplit(url).query)["state"][0]
    response = client.get(f"/api/auth/callback/oidc?error=access_denied&state={state}")
    assert response.headers["Location"] == "/api/auth/error?error=AccessDenied"
    other = client.get("/api/auth/callback/oidc?error=server_error&error_description=boom")
    assert "error=OAuthCallbackError" in other.headers["Location"]
    assert "boom" not in other.headers["Location"]


def test_missing_or_mismatched_state_is_refused(op: OP) -> None:
    client = oauth_app(op).test_client()
    callback = walk_login(start(client, "oidc"), stop_at=CALLBACK + "oidc")
    stranger = oauth_app(op).test_client()  # no check cookies at all
    assert "error=OAuthCallbackError" in stranger.get(callback).headers["Location"]
    tampered = callback.replace("state=", "state=x")
    response = client.get(tampered)
    assert "error=OAuthCallbackError" in response.headers["Location"]
    assert session_cookie(client) is None


def test_stripped_or_swapped_pkce_is_refused(op: OP) -> None:
    client = oauth_app(op).test_client()
    callback = walk_login(start(client, "oidc"), stop_at=CALLBACK + "oidc")
    client.delete_cookie("authjs.pkce.code_verifier")
    assert "error=OAuthCallbackError" in client.get(callback).headers["Location"]
    # An attacker's own verifier cookie: the OP refuses the code (PKCE bound at /auth).
    victim, attacker = oauth_app(op).test_client(), oauth_app(op).test_client()
    callback = walk_login(start(victim, "oidc"), stop_at=CALLBACK + "oidc")
    start(attacker, "oidc")
    pkce = attacker.get_cookie("authjs.pkce.code_verifier")
    assert pkce is not None
    victim.set_cookie("authjs.pkce.code_verifier", pkce.value)
    assert "error=OAuthCallbackError" in victim.get(callback).headers["Location"]
    assert session_cookie(victim) is None


def test_check_cookies_are_bound_to_their_provider(op: OP) -> None:
    client = oauth_app(op).test_client()
    callback = walk_login(start(client, "oauth"), stop_at=CALLBACK + "oauth")
    hijacked = callback.replace(CALLBACK + "oauth", CALLBACK + "oidc")
    assert "error=OAuthCallbackError" in client.get(hijacked).headers["Location"]


def test_json_clients_get_the_authorization_url(op: OP) -> None:
    client = oauth_app(op).test_client()
    data = {"csrfToken": csrf_token(client)}
    response = client.post(
        "/api/auth/signin/oidc", data=data, headers={"X-Auth-Return-Redirect": "1"}
    )
    assert response.get_json()["url"].startswith(f"{op.issuer}/auth?")


def test_signin_without_csrf_does_not_start_a_flow(op: OP) -> None:
    client = oauth_app(op).test_client()
    response = client.post("/api/auth/signin/oidc", data={"csrfToken": "nope"})
    assert "error=MissingCSRF" in response.headers["Location"]
    assert client.get_cookie("authjs.state") is None


def test_providers_and_signin_page_list_every_provider(op: OP) -> None:
    client = oauth_app(op).test_client()
    listed = client.get("/api/auth/providers").get_json()
    assert {k: v["type"] for k, v in listed.items()} == {"oidc": "oidc", "oauth": "oauth"}
    page = client.get("/api/auth/signin").get_data(as_text=True)
    assert 'action="/api/auth/signin/oidc"' in page and "Sign in with OpenID" in page
    assert 'action="/api/auth/signin/oauth"' in page and "Sign in with Plain OAuth" in page


def test_client_credentials_come_from_config_or_refuse_to_start(op: OP) -> None:
    app = Flask(__name__)
    app.config.update(AUTH_SECRET=SECRET, AUTH_OIDC_ID="from-config", AUTH_OIDC_SECRET="s" * 20)
    AuthExt(app, providers=[OIDC(issuer=op.issuer)])
    assert app.extensions["sessionext"].clients["oidc"].client_id == "from-config"
    bare = Flask(__name__)
    bare.config.update(AUTH_SECRET=SECRET)
    with pytest.raises(ConfigurationError, match="AUTH_OIDC_ID"):
        AuthExt(bare, providers=[OIDC(issuer=op.issuer)])


def test_custom_profile_mapping(op: OP) -> None:
    def profile(profile: dict[str, Any], tokens: dict[str, Any]) -> dict[str, Any]:
        return {"id": "user-" + profile["sub"], "name": profile["email"], "email": None}

    client = oauth_app(op, profile=profile).test_client()
    sign_in(client)
    assert client.get("/private").get_json()["user"] == {"name": "alice@example.com"}


# --- refreshing the provider's access token ---------------------------------------------------


def refresh_app(op: OP) -> Flask:
    return oauth_app(op, refresh=True)


def aged(client: FlaskClient, **changes: Any) -> dict[str, Any]:
    """Rewrite the client's session token as if its access token were about to expire."""
    claims = dict(decode(session_cookie(client) or "", secret=SECRET, salt=SALT))
    claims.update({"expires_at": int(time.time()) + 5, **changes})
    client.set_cookie(SALT, encode(claims, secret=SECRET, salt=SALT))
    return claims


def test_refresh_when_due_rotates_the_tokens(op: OP) -> None:
    client = refresh_app(op).test_client()
    sign_in(client)
    first = dict(decode(session_cookie(client) or "", secret=SECRET, salt=SALT))
    assert first["provider"] == "oidc" and first["refresh_token"] and first["access_token"]
    assert "Set-Cookie" not in client.get("/private").headers  # not due: nothing happens
    old = aged(client)
    response = client.get("/private")
    assert "error" not in response.get_json()
    new: dict[str, Any] = dict(decode(session_cookie(client) or "", secret=SECRET, salt=SALT))
    assert new["access_token"] != old["access_token"]
    assert new["refresh_token"] != old["refresh_token"]  # the OP rotates refresh tokens
    assert new["expires_at"] > time.time() + 3000
    userinfo = op_userinfo(op, new["access_token"])
    assert userinfo["sub"] == "alice"


def test_get_token_sees_the_refreshed_access_token_in_the_same_request(op: OP) -> None:
    client = refresh_app(op).test_client()
    sign_in(client)
    old = aged(client)
    fresh = client.get("/provider-token").get_json()
    assert fresh != old["access_token"]
    claims: dict[str, Any] = dict(decode(session_cookie(client) or "", secret=SECRET, salt=SALT))
    assert fresh == claims["access_token"]


def op_userinfo(op: OP, access_token: str) -> dict[str, Any]:
    import requests

    response = requests.get(
        f"{op.issuer}/me", headers={"Authorization": f"Bearer {access_token}"}, timeout=5
    )
    response.raise_for_status()
    return dict(response.json())


def test_concurrent_requests_spend_the_refresh_token_once(op: OP) -> None:
    app = refresh_app(op)
    client = app.test_client()
    sign_in(client)
    aged(client)
    cookie = session_cookie(client)
    results: list[dict[str, Any]] = []
    barrier = threading.Barrier(8)

    def request() -> None:
        with app.test_client() as own:
            own.set_cookie(SALT, cookie or "")
            barrier.wait()
            own.get("/private")
            results.append(dict(decode(session_cookie(own) or "", secret=SECRET, salt=SALT)))

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert all("error" not in token for token in results)
    assert len({token["access_token"] for token in results}) == 1  # one refresh, shared
    # The one new refresh token still works: had a second refresh spent the old one, the OP
    # would have revoked the whole grant on reuse.
    client.set_cookie(SALT, encode({**results[0], "expires_at": 0}, secret=SECRET, salt=SALT))
    assert "error" not in client.get("/private").get_json()


def test_a_shared_store_outage_during_a_refresh_answers_503_and_keeps_the_session(
    op: OP,
) -> None:
    """The store that coordinates refreshes across processes is down: 503, not signed out."""
    from flask_sessionext.token_store import RedisTokenStore

    store = RedisTokenStore(unreachable_redis())
    app = Flask(__name__)
    app.config.update(TESTING=True, AUTH_SECRET=SECRET)
    AuthExt(app, providers=providers(op, refresh=True), token_store=store)
    client = app.test_client()
    assert sign_in(client).status_code == 302
    aged(client)
    before, grants = session_cookie(client), op.refresh_grants()
    response = client.get("/api/auth/session", headers={"Accept": "application/json"})
    assert response.status_code == 503
    assert "Set-Cookie" not in response.headers and session_cookie(client) == before
    assert op.refresh_grants() == grants  # the old refresh token was not spent


def test_failed_refresh_sets_refresh_token_error(op: OP) -> None:
    client = refresh_app(op).test_client()
    sign_in(client)
    aged(client, refresh_token="revoked-or-bogus")
    assert client.get("/private").get_json()["error"] == "RefreshTokenError"
    token = decode(session_cookie(client) or "", secret=SECRET, salt=SALT)
    assert token["error"] == "RefreshTokenError"  # type: ignore[typeddict-item]
    # Not retried on every request: the app decides (sign in again).
    assert "Set-Cookie" not in client.get("/private").headers


def test_credentials_app_is_untouched_by_oauth() -> None:
    client = build_app().test_client()
    assert json.loads(client.get("/api/auth/providers").get_data())["credentials"]
