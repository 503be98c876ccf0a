"""Provider presets: endpoints, scopes and profile mappings of well-known services."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, cast

import pytest
from flask import Config, Flask, jsonify
from werkzeug.serving import make_server

from flask_sessionext import AuthExt
from flask_sessionext.errors import ConfigurationError
from flask_sessionext.providers import (
    OIDC,
    Auth0,
    Discord,
    GitHub,
    GitLab,
    Google,
    Keycloak,
    MicrosoftEntraID,
    OAuth2,
    Okta,
)
from flask_sessionext.providers.oauth import Client


def test_github() -> None:
    github = GitHub(client_id="id", client_secret="secret")
    endpoints = github.endpoints()
    assert endpoints.authorization == "https://github.com/login/oauth/authorize"
    assert endpoints.token == "https://github.com/login/oauth/access_token"
    assert endpoints.userinfo == "https://api.github.com/user"
    assert github.scope == "read:user user:email" and github.checks == ("pkce", "state")
    profile = {
        "id": 42,
        "login": "octocat",
        "name": None,
        "email": "o@example.com",
        "avatar_url": "https://avatars.example/42",
    }
    assert github.profile(profile, {}) == {
        "id": "42",
        "name": "octocat",
        "email": "o@example.com",
        "image": "https://avatars.example/42",
    }


@pytest.fixture(scope="module")
def github_api() -> Iterator[tuple[str, dict[str, Any]]]:
    """A local stand-in for api.github.com's ``/user`` and ``/user/emails``."""
    answers: dict[str, Any] = {}
    app = Flask("fake-github")
    app.add_url_rule("/user", "user", lambda: jsonify(answers["user"]))
    app.add_url_rule(
        "/user/emails",
        "emails",
        lambda: jsonify(answers["emails"]) if answers["emails"] is not None else ("", 404),
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", answers
    server.shutdown()


PUBLIC = {"id": 1, "login": "octo", "email": "public@example.com"}


@pytest.mark.parametrize(
    ("emails", "email", "verified"),
    [
        (
            [
                {"email": "old@example.com", "primary": False, "verified": True},
                {"email": "Octo@Example.com", "primary": True, "verified": True},
            ],
            "Octo@Example.com",
            "octo@example.com",
        ),
        ([{"email": "octo@example.com", "primary": True, "verified": False}], None, None),
        ([{"email": "octo@example.com", "primary": True, "verified": "true"}], None, None),
        ([{"email": "octo@example.com", "primary": False, "verified": True}], None, None),
        (None, None, None),  # no user:email scope: /user/emails refuses
    ],
)
def test_github_uses_only_the_verified_primary_email(
    github_api: tuple[str, dict[str, Any]], emails: Any, email: str | None, verified: str | None
) -> None:
    url, answers = github_api
    answers.update(user=dict(PUBLIC), emails=emails)
    github = GitHub(client_id="id", client_secret="s", api_url=url)
    profile = github.fetch_profile(Client("id", "s"), {"access_token": "t"}, {})
    assert profile["email"] == (email or "public@example.com")
    assert github.verified_email(profile) == verified


@pytest.mark.parametrize(
    ("provider", "profile", "verified"),
    [
        (Discord, {"email": "N@Example.com", "verified": True}, "n@example.com"),
        (Discord, {"email": "n@example.com", "verified": False}, None),
        (Discord, {"email": "n@example.com"}, None),
        (
            GitLab,
            {"email": "G@Example.com", "confirmed_at": "2024-01-01T00:00:00Z"},
            "g@example.com",
        ),
        (GitLab, {"email": "g@example.com", "confirmed_at": None}, None),
        (OAuth2, {"email": "o@example.com", "email_verified": True}, "o@example.com"),
        (OAuth2, {"email": "o@example.com", "email_verified": "true"}, None),
        (OAuth2, {"email": "o@example.com", "email_verified": 1}, None),
    ],
)
def test_which_addresses_a_preset_vouches_for(
    provider: Any, profile: dict[str, Any], verified: str | None
) -> None:
    assert provider(client_id="id", client_secret="s").verified_email(profile) == verified


def test_gitlab_self_managed() -> None:
    gitlab = GitLab(client_id="id", client_secret="s", base_url="https://git.example")
    assert gitlab.endpoints().userinfo == "https://git.example/api/v4/user"
    assert gitlab.profile({"id": 7, "username": "dev", "avatar_url": "a"}, {}) == {
        "id": "7",
        "name": "dev",
        "email": None,
        "image": "a",
    }


@pytest.mark.parametrize(
    ("avatar", "image"),
    [
        ("abc", "https://cdn.discordapp.com/avatars/80351110224678912/abc.png"),
        ("a_anim", "https://cdn.discordapp.com/avatars/80351110224678912/a_anim.gif"),
        (None, "https://cdn.discordapp.com/embed/avatars/5.png"),
    ],
)
def test_discord_avatar(avatar: str | None, image: str) -> None:
    discord = Discord(client_id="id", client_secret="s")
    profile = {
        "id": "80351110224678912",
        "username": "nelly",
        "global_name": "Nelly",
        "avatar": avatar,
        "email": "n@example.com",
    }
    user = discord.profile(profile, {})
    assert user["image"] == image and user["name"] == "Nelly" and user["id"] == "80351110224678912"


@pytest.mark.parametrize(
    ("provider", "issuer", "provider_id"),
    [
        (Google(client_id="i", client_secret="s"), "https://accounts.google.com", "google"),
        (
            MicrosoftEntraID(tenant_id="t-1", client_id="i", client_secret="s"),
            "https://login.microsoftonline.com/t-1/v2.0",
            "microsoft-entra-id",
        ),
        (
            Auth0(issuer="https://me.eu.auth0.com/", client_id="i", client_secret="s"),
            "https://me.eu.auth0.com/",
            "auth0",
        ),
        (
            Keycloak(issuer="https://kc.example/realms/r", client_id="i", client_secret="s"),
            "https://kc.example/realms/r",
            "keycloak",
        ),
        (
            Okta(issuer="https://dev-1.okta.com", client_id="i", client_secret="s"),
            "https://dev-1.okta.com",
            "okta",
        ),
    ],
)
def test_openid_presets(provider: Any, issuer: str, provider_id: str) -> None:
    assert provider.issuer == issuer and provider.id == provider_id
    assert provider.type == "oidc" and provider.checks == ("pkce", "state", "nonce")
    assert provider.scope == "openid email profile"
    claims = {"sub": "s1", "name": "N", "email": "e@example.com", "picture": "p"}
    assert provider.profile(claims, {}) == {
        "id": "s1",
        "name": "N",
        "email": "e@example.com",
        "image": "p",
    }


def test_client_credentials_from_config_use_the_provider_id() -> None:
    config = Config(".")
    config.update(AUTH_MICROSOFT_ENTRA_ID_ID="cid", AUTH_MICROSOFT_ENTRA_ID_SECRET="sec")
    client = MicrosoftEntraID(tenant_id="t").client(config)
    assert (client.client_id, client.client_secret) == ("cid", "sec")
    with pytest.raises(ConfigurationError, match="AUTH_GITHUB_SECRET"):
        GitHub(client_id="only-id").client(Config("."))


def test_public_clients_need_no_secret() -> None:
    provider = OAuth2(
        id="public",
        client_id="cid",
        token_endpoint_auth_method="none",
        authorization_endpoint="https://a.example/auth",
        token_endpoint="https://a.example/token",
    )
    assert provider.client(Config(".")).client_secret is None


def test_checks_must_protect_the_flow() -> None:
    with pytest.raises(ValueError, match="checks"):
        OAuth2(id="x", checks=("nonce",))
    with pytest.raises(ValueError, match="checks"):
        OAuth2(id="x", checks=("pkce", "magic"))


def test_a_profile_mapping_can_be_overridden() -> None:
    github = GitHub(client_id="i", client_secret="s", profile=lambda p, t: {"id": p["login"]})
    assert github.profile({"login": "octocat", "id": 1}, {}) == {"id": "octocat"}


def test_deployment_values_come_from_config_or_environment_at_init_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing deployment-specific is needed at import: ``AUTH_<ID>_*`` is read at init_app."""
    auth: AuthExt[Any] = AuthExt(providers=[Keycloak(), MicrosoftEntraID(), Okta(id="corp")])
    monkeypatch.setenv("AUTH_KEYCLOAK_ID", "kc-env")
    monkeypatch.setenv("AUTH_KEYCLOAK_SECRET", "kc-secret")
    monkeypatch.setenv("AUTH_KEYCLOAK_ISSUER", "https://env.example/realms/r")
    app = Flask(__name__)
    app.config.update(
        AUTH_SECRET="s" * 32,
        AUTH_KEYCLOAK_ISSUER="https://kc.example/realms/r",  # config wins over the environment
        AUTH_MICROSOFT_ENTRA_ID_ID="ms",
        AUTH_MICROSOFT_ENTRA_ID_SECRET="ms-secret",
        AUTH_MICROSOFT_ENTRA_ID_TENANT_ID="t-9",
        AUTH_CORP_ID="okta",
        AUTH_CORP_SECRET="okta-secret",
        AUTH_CORP_ISSUER="https://dev-9.okta.com",
    )
    auth.init_app(app)
    providers, clients = auth.providers, app.extensions["sessionext"].clients
    assert cast(OIDC, providers["keycloak"]).issuer == "https://kc.example/realms/r"
    assert clients["keycloak"].client_id == "kc-env"
    issuer = "https://login.microsoftonline.com/t-9/v2.0"
    assert cast(OIDC, providers["microsoft-entra-id"]).issuer == issuer
    assert cast(OIDC, providers["corp"]).issuer == "https://dev-9.okta.com"


def test_an_oidc_provider_without_issuer_stops_init_app() -> None:
    app = Flask(__name__)
    app.config.update(AUTH_SECRET="s" * 32, AUTH_AUTH0_ID="i", AUTH_AUTH0_SECRET="s")
    with pytest.raises(ConfigurationError, match="AUTH_AUTH0_ISSUER"):
        AuthExt(app, providers=[Auth0()])
