"""Sign-in with an OpenID Provider: discovery, and id_token validation through Authlib."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import requests
from authlib.oidc.core import CodeIDToken
from flask import Flask
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from ..config import setting
from ..errors import ConfigurationError, OAuthFlowError
from .oauth import Client, Endpoints, OAuth2

#: Seconds of clock skew tolerated on id_token times.
ID_TOKEN_LEEWAY = 60


class OIDC(OAuth2):
    """An OpenID Connect provider, configured from ``<issuer>/.well-known/openid-configuration``.

    The profile is the validated id_token's claims (signature from the provider's JWKS with
    the algorithms it announces, ``iss``, ``aud``, ``azp``, ``exp``, ``iat``, ``nonce``,
    ``at_hash``). Checks default to PKCE, state and nonce.
    """

    type: ClassVar[str] = "oidc"
    default_checks: ClassVar[tuple[str, ...]] = ("pkce", "state", "nonce")

    def __init__(
        self,
        *,
        issuer: str | None = None,
        id: str = "oidc",
        name: str = "OpenID",
        scope: str = "openid email profile",
        **options: Any,
    ) -> None:
        super().__init__(id=id, name=name, scope=scope, **options)
        self.issuer = issuer or ""
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    def init_app(self, app: Flask, adapter: object | None) -> None:
        """Take the issuer from ``AUTH_<ID>_ISSUER`` (config or environment) when not given."""
        super().init_app(app, adapter)
        if not self.issuer:
            self.issuer = str(setting(app.config, f"{self.config_key}_ISSUER") or "")
        if not self.issuer:
            raise ConfigurationError(
                f"provider {self.id!r} has no issuer: pass issuer=... or set "
                f"{self.config_key}_ISSUER."
            )

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document, fetched once and checked against ``issuer``."""
        if self._metadata is None:
            with self._lock:
                if self._metadata is None:
                    self._metadata = self._discover()
        return self._metadata

    def _discover(self) -> dict[str, Any]:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            response = requests.get(url, timeout=self.timeout)
            response.raise_for_status()
            metadata = response.json()
        except (requests.RequestException, ValueError) as error:
            raise OAuthFlowError(f"discovery at {url} failed: {type(error).__name__}") from error
        found = metadata.get("issuer") if isinstance(metadata, dict) else None
        if not isinstance(metadata, dict) or found != self.issuer:
            raise ConfigurationError(
                f"provider {self.id!r}: the discovery document at {url} names the issuer "
                f"{found!r}, but {self.issuer!r} was configured; they must match exactly "
                "(mind a trailing slash)."
            )
        missing = [k for k in ("authorization_endpoint", "token_endpoint") if k not in metadata]
        if missing:
            raise ConfigurationError(f"provider {self.id!r}: discovery lacks {missing}.")
        return metadata

    def endpoints(self) -> Endpoints:
        """Endpoints given explicitly win over the discovered ones."""
        authorization, token, userinfo = self._endpoints
        metadata = self.metadata()
        return Endpoints(
            authorization or metadata["authorization_endpoint"],
            token or metadata["token_endpoint"],
            userinfo or metadata.get("userinfo_endpoint"),
        )

    def fetch_profile(
        self, client: Client, tokens: Mapping[str, Any], checks: Mapping[str, str]
    ) -> dict[str, Any]:
        """The claims of the id_token, after Authlib's OpenID Connect validation."""
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OAuthFlowError(f"provider {self.id!r} returned no id_token")
        algorithms = [
            alg
            for alg in self.metadata().get("id_token_signing_alg_values_supported", ["RS256"])
            if alg != "none" and not alg.startswith("HS")
        ]
        registry = JWSRegistry(algorithms=algorithms, strict_check_header=False)
        try:
            try:
                decoded = jwt.decode(id_token, self._key_set(), registry=registry)
            except InvalidKeyIdError:
                decoded = jwt.decode(id_token, self._key_set(refresh=True), registry=registry)
            claims = CodeIDToken(
                decoded.claims,
                decoded.header,
                {
                    "iss": {"essential": True, "value": self.issuer},
                    "aud": {"essential": True, "value": client.client_id},
                },
                {
                    "nonce": checks.get("nonce"),
                    "client_id": client.client_id,
                    "access_token": tokens.get("access_token"),
                },
            )
            claims.validate(leeway=ID_TOKEN_LEEWAY)
        except (JoseError, ValueError, TypeError) as error:
            raise OAuthFlowError(f"id_token refused: {type(error).__name__}: {error}") from error
        return dict(claims)

    def _key_set(self, refresh: bool = False) -> KeySet:
        """The provider's signing keys from ``jwks_uri``; fetched again for an unknown ``kid``."""
        if self._keys is None or refresh:
            url = self.metadata().get("jwks_uri")
            if not url:
                raise ConfigurationError(f"provider {self.id!r} announces no jwks_uri.")
            try:
                response = requests.get(url, timeout=self.timeout)
                response.raise_for_status()
                self._keys = KeySet.import_key_set(response.json())
            except (requests.RequestException, ValueError, JoseError) as error:
                raise OAuthFlowError(f"JWKS at {url} failed: {type(error).__name__}") from error
        return self._keys
