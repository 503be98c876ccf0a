"""Sign-in with an OAuth 2 authorization server; every protocol step is done by Authlib."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from flask import Config

from ..config import setting
from ..errors import ConfigurationError, OAuthFlowError
from ..identity import normalize_email
from ..theme import NEUTRAL, brand_option, logo_option
from .base import Provider

ProfileMapper = Callable[[dict[str, Any], dict[str, Any]], Mapping[str, Any]]
CHECKS = frozenset({"pkce", "state", "nonce"})


@dataclass(frozen=True)
class Client:
    """The app's registration with a provider, resolved once per app at ``init_app``."""

    client_id: str
    client_secret: str | None


@dataclass(frozen=True)
class Endpoints:
    """Where the provider's authorization, token and userinfo endpoints are."""

    authorization: str
    token: str
    userinfo: str | None


class OAuth2(Provider):
    """A generic OAuth 2 provider: authorization-code flow with PKCE and state.

    ``profile(profile, tokens)`` maps what the userinfo endpoint returned to the user
    (``{"id", "name", "email", "image"}``); pass your own to change the mapping. The client id
    and secret may come from the app config: ``AUTH_<ID>_ID`` and ``AUTH_<ID>_SECRET``.
    With ``refresh=True`` the access token is kept in the session token and refreshed when
    it is about to expire (see "Refreshing provider tokens" in the docs). ``logo=`` (an image
    URL or path) and ``brand_color=`` (``#rrggbb``) style its button on the sign-in page.
    """

    type: ClassVar[str] = "oauth"
    default_checks: ClassVar[tuple[str, ...]] = ("pkce", "state")

    def __init__(
        self,
        *,
        id: str = "oauth",
        name: str = "OAuth",
        client_id: str | None = None,
        client_secret: str | None = None,
        authorization_endpoint: str | None = None,
        token_endpoint: str | None = None,
        userinfo_endpoint: str | None = None,
        scope: str = "",
        checks: Collection[str] | None = None,
        profile: ProfileMapper | None = None,
        authorization_params: Mapping[str, str] | None = None,
        token_endpoint_auth_method: str = "client_secret_basic",
        refresh: bool = False,
        allow_dangerous_email_account_linking: bool = False,
        timeout: float = 10.0,
        logo: str | None = None,
        brand_color: str | None = None,
    ) -> None:
        super().__init__(id=id, name=name)
        self.logo = logo_option(logo, id)
        self.brand = brand_option(brand_color, id) or self.default_brand or NEUTRAL
        self.client_id, self.client_secret = client_id, client_secret
        self._endpoints = (authorization_endpoint, token_endpoint, userinfo_endpoint)
        self.scope = scope
        self.checks = tuple(self.default_checks if checks is None else checks)
        if not set(self.checks) <= CHECKS or (
            "state" not in self.checks and "pkce" not in self.checks
        ):
            raise ValueError(f"checks must include 'pkce' or 'state', from {sorted(CHECKS)}.")
        self._profile = profile
        self.authorization_params = dict(authorization_params or {})
        self.token_endpoint_auth_method = token_endpoint_auth_method
        self.refresh = refresh
        self.allow_dangerous_email_account_linking = allow_dangerous_email_account_linking
        self.timeout = timeout

    @property
    def config_key(self) -> str:
        """The prefix of this provider's settings: ``AUTH_MY_IDP`` for the id ``my-idp``."""
        return "AUTH_" + self.id.upper().replace("-", "_")

    def client(self, config: Config) -> Client:
        """The client id and secret: given to the provider, or ``AUTH_<ID>_ID``/``_SECRET`` in
        the app config or the environment."""
        key = self.config_key
        client_id = self.client_id or setting(config, f"{key}_ID")
        secret = self.client_secret or setting(config, f"{key}_SECRET")
        if not client_id:
            raise ConfigurationError(
                f"provider {self.id!r} has no client id: pass client_id=... or set {key}_ID."
            )
        if not secret and self.token_endpoint_auth_method != "none":
            raise ConfigurationError(
                f"provider {self.id!r} has no client secret: pass client_secret=... or set "
                f"{key}_SECRET."
            )
        return Client(str(client_id), secret and str(secret))

    def endpoints(self) -> Endpoints:
        """The provider's endpoints (OpenID providers discover them)."""
        authorization, token, userinfo = self._endpoints
        if not authorization or not token:
            raise ConfigurationError(
                f"provider {self.id!r} needs authorization_endpoint and token_endpoint."
            )
        return Endpoints(authorization, token, userinfo)

    def session(
        self,
        client: Client,
        redirect_uri: str | None = None,
        token: Mapping[str, Any] | None = None,
    ) -> OAuth2Session:
        """An Authlib client session for one exchange with the provider."""
        return OAuth2Session(
            client.client_id,
            client.client_secret,
            token_endpoint_auth_method=self.token_endpoint_auth_method,
            scope=self.scope or None,
            redirect_uri=redirect_uri,
            token=dict(token) if token else None,
            code_challenge_method="S256" if "pkce" in self.checks else None,
            default_timeout=self.timeout,
        )

    def authorization_url(
        self, client: Client, redirect_uri: str, checks: Mapping[str, str]
    ) -> str:
        """The URL that starts the sign-in at the provider, carrying state, PKCE and nonce."""
        params = dict(self.authorization_params)
        if "nonce" in checks:
            params["nonce"] = checks["nonce"]
        with self.session(client, redirect_uri) as session:
            url, _ = session.create_authorization_url(
                self.endpoints().authorization,
                state=checks.get("state"),
                code_verifier=checks.get("pkce"),
                **params,
            )
        return str(url)

    def exchange_code(
        self, client: Client, redirect_uri: str, code: str, checks: Mapping[str, str]
    ) -> dict[str, Any]:
        """Trade the authorization code for tokens at the token endpoint."""
        with self.session(client, redirect_uri) as session, _failures("token request"):
            tokens = session.fetch_token(
                self.endpoints().token,
                grant_type="authorization_code",
                code=code,
                code_verifier=checks.get("pkce"),
            )
        if not isinstance(tokens, dict) or not tokens.get("access_token"):
            raise OAuthFlowError(f"provider {self.id!r} returned no access_token")
        return dict(tokens)

    def refresh_tokens(self, client: Client, refresh_token: str) -> dict[str, Any]:
        """Get a new access token (and maybe a new refresh token) with ``refresh_token``."""
        with self.session(client) as session, _failures("token refresh"):
            tokens = session.refresh_token(self.endpoints().token, refresh_token=refresh_token)
        if not isinstance(tokens, dict) or not tokens.get("access_token"):
            raise OAuthFlowError(f"provider {self.id!r} refreshed without an access_token")
        return dict(tokens)

    def fetch_profile(
        self, client: Client, tokens: Mapping[str, Any], checks: Mapping[str, str]
    ) -> dict[str, Any]:
        """The user's profile: the userinfo endpoint's JSON object."""
        url = self.endpoints().userinfo
        if not url:
            raise ConfigurationError(f"provider {self.id!r} needs a userinfo_endpoint.")
        profile = self.get_json(client, tokens, url)
        if not isinstance(profile, dict):
            raise OAuthFlowError(f"{url} answered {type(profile).__name__}, not a JSON object")
        return profile

    def get_json(self, client: Client, tokens: Mapping[str, Any], url: str) -> Any:
        """GET ``url`` with the access token and return the JSON it answers."""
        with self.session(client, token=tokens) as session, _failures(f"GET {url}"):
            response = session.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            return response.json()

    def profile(self, profile: dict[str, Any], tokens: dict[str, Any]) -> Mapping[str, Any]:
        """The user for ``profile``: the ``profile=`` mapping given, else :meth:`map_profile`."""
        if self._profile is not None:
            return self._profile(profile, tokens)
        return self.map_profile(profile, tokens)

    def verified_email(self, profile: Mapping[str, Any]) -> str | None:
        """The address this provider asserts the user has verified (normalised), or ``None``.

        Only such an address may link the account to an existing user (see
        ``allow_dangerous_email_account_linking``). By default the profile's ``email`` when
        its ``email_verified`` is exactly ``true``, as OpenID Connect defines it.
        """
        if profile.get("email_verified") is not True:
            return None
        return normalize_email(profile.get("email"))

    def map_profile(self, profile: dict[str, Any], tokens: dict[str, Any]) -> Mapping[str, Any]:
        """This provider's default mapping to ``{"id", "name", "email", "image"}``."""
        return {
            "id": profile.get("sub", profile.get("id")),
            "name": profile.get("name") or profile.get("preferred_username"),
            "email": profile.get("email"),
            "image": profile.get("picture"),
        }


@contextmanager
def _failures(step: str) -> Iterator[None]:
    """Turn transport and protocol errors of one step into :class:`OAuthFlowError`."""
    try:
        yield
    except OAuthError as error:
        raise OAuthFlowError(f"{step} failed: {error.error}") from error
    except (requests.RequestException, ValueError) as error:
        raise OAuthFlowError(f"{step} failed: {type(error).__name__}") from error
