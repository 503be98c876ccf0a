"""Access tokens for the token API: JWS signed with PyJWT, and the ``Authorization`` header.

HS256 uses a key derived from ``AUTH_SECRET`` with its own HKDF salt, so an access token can
never be taken for a session cookie or an OAuth check cookie (those are JWE, with other salts).
With RS256, ES256 or EdDSA the private key signs and ``GET /jwks`` publishes the public key.
Decoding pins the configured algorithm and key; nothing is taken from the token's header.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import jwt as pyjwt
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import JWKRegistry

from .config import TokenAPIConfig
from .errors import ConfigurationError, TokenError
from .jwt import hkdf

#: The HKDF salt of the HS256 key: distinct from every cookie name.
SALT = "flask-sessionext.access-token"
_KEY_TYPES = {"RS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}
# RFC 6750: "Bearer" (any case), one space, one b64token; capped at 8000 characters.
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9\-._~+/]{1,8000}=*)")
_OTHER_SCHEME = re.compile(r"(?![Bb][Ee][Aa][Rr][Ee][Rr] )[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]* ")


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header.

    ``None`` without the header, or for another scheme (``Basic``: not ours). Raises
    :class:`TokenError` for anything else: no scheme, two tokens, junk, too long.
    """
    if header is None or _OTHER_SCHEME.match(header):
        return None
    match = _BEARER.fullmatch(header)
    if match is None:
        raise TokenError("malformed Authorization header")
    return match.group(1)


def _check_strength(algorithm: str, public: Mapping[str, Any]) -> None:
    """Refuse, at start-up, a key the algorithm cannot use or that is too weak."""
    if algorithm == "ES256" and public.get("crv") != "P-256":
        raise ConfigurationError("ES256 needs a P-256 key (AUTH_TOKEN_PRIVATE_KEY).")
    if algorithm == "EdDSA" and public.get("crv") not in ("Ed25519", "Ed448"):
        raise ConfigurationError("EdDSA needs an Ed25519 or Ed448 key (AUTH_TOKEN_PRIVATE_KEY).")
    if algorithm == "RS256" and len(base64.urlsafe_b64decode(public["n"] + "==")) < 256:
        raise ConfigurationError("RS256 needs an RSA key of at least 2048 bits.")


class AccessTokens:
    """Signs and verifies one app's access tokens."""

    def __init__(self, config: TokenAPIConfig, secrets: Sequence[str]) -> None:
        self.config = config
        self.algorithm = config.algorithm
        if config.private_key is None:
            keys = [hkdf(s, SALT, "flask-sessionext access token key", 32) for s in secrets]
            self._signing: Any = keys[0]
            self._verifying: list[Any] = keys
        else:
            key_type = _KEY_TYPES[self.algorithm]
            try:
                with warnings.catch_warnings():  # a weak key gets a clear error just below
                    warnings.simplefilter("ignore", SecurityWarning)
                    private = JWKRegistry.import_key(config.private_key.encode(), key_type)
            except (JoseError, ValueError, TypeError) as error:
                raise ConfigurationError(
                    f"AUTH_TOKEN_PRIVATE_KEY is not a PEM {key_type} private key for "
                    f"{self.algorithm}: {type(error).__name__}"
                ) from error
            if not private.is_private:
                raise ConfigurationError("AUTH_TOKEN_PRIVATE_KEY holds a public key.")
            _check_strength(self.algorithm, private.as_dict(private=False))
            self._private_jwk = private
            self._signing = private.private_key
            self._verifying = [private.public_key]

    @cached_property
    def jwks(self) -> dict[str, Any] | None:
        """The public key set to publish, for asymmetric algorithms only."""
        if self.config.private_key is None:
            return None
        public = self._private_jwk.as_dict(private=False)
        return {"keys": [{**public, "alg": self.algorithm, "use": "sig", "kid": self.kid}]}

    @cached_property
    def kid(self) -> str | None:
        """The signing key's RFC 7638 thumbprint (asymmetric keys only)."""
        return None if self.config.private_key is None else self._private_jwk.thumbprint()

    def encode(self, claims: Mapping[str, Any], sid: str) -> str:
        """Sign ``claims`` adding ``iat``, ``exp``, ``jti``, ``sid`` (the refresh family) and
        ``iss``/``aud`` when configured."""
        now = int(time.time())
        body = {
            **claims,
            "sub": str(claims["sub"]),
            "iat": now,
            "exp": now + self.config.max_age,
            "jti": str(uuid.uuid4()),
            "sid": sid,
        }
        if self.config.issuer:
            body["iss"] = self.config.issuer
        if self.config.audience:
            body["aud"] = self.config.audience
        headers = {"kid": self.kid} if self.kid else None
        return pyjwt.encode(body, self._signing, algorithm=self.algorithm, headers=headers)

    def decode(self, token: str) -> dict[str, Any]:
        """Verify signature (the configured algorithm and key only), ``exp``, ``iss``, ``aud``."""
        for key in self._verifying:
            try:
                claims: dict[str, Any] = pyjwt.decode(
                    token,
                    key,
                    algorithms=[self.algorithm],
                    audience=self.config.audience,
                    issuer=self.config.issuer,
                    leeway=15,
                    options={"require": ["exp", "iat", "sub", "jti", "sid"]},
                )
                return claims
            except pyjwt.InvalidSignatureError:
                continue
            except pyjwt.PyJWTError as error:
                raise TokenError(f"access token refused: {type(error).__name__}") from error
        raise TokenError("access token refused: InvalidSignatureError")
