"""The session token codec: Auth.js v5's encrypted JWT, byte-compatible with ``@auth/core``.

A token is a compact JWE (``alg: dir``, ``enc: A256CBC-HS512``) whose key is derived from the
secret with HKDF, salted by the cookie name, so a cookie written by Next.js or Nuxt decodes here
and the other way round.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, cast

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import GuestProtocol, OctKey, thumbprint
from joserfc.jwt import JWTClaimsRegistry
from joserfc.util import urlsafe_b64encode

from .errors import TokenError

if TYPE_CHECKING:
    from .types import JWT

__all__ = ["CLOCK_TOLERANCE", "DEFAULT_MAX_AGE", "decode", "derive_key", "encode"]

#: Seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat``, as in Auth.js.
CLOCK_TOLERANCE = 15
#: Default lifetime of a session token: 30 days, as in Auth.js.
DEFAULT_MAX_AGE = 30 * 24 * 60 * 60

_ALG = "dir"
_ENC = "A256CBC-HS512"
_DECODE_ALGORITHMS = (_ALG, _ENC, "A256GCM")
# Key length per content encryption, and the thumbprint digest @auth/core pairs with it.
_KEY_SPECS: dict[str, tuple[int, Literal["sha256", "sha512"]]] = {
    "A256CBC-HS512": (64, "sha512"),
    "A256GCM": (32, "sha256"),
}

Secret = str | Sequence[str]


def hkdf(secret: str, salt: str, info: str, length: int) -> bytes:
    """HKDF-SHA256 of ``secret``: every key this package derives from ``AUTH_SECRET``."""
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=salt.encode(), info=info.encode()
    ).derive(secret.encode())


@lru_cache(maxsize=64)
def derive_key(secret: str, salt: str, enc: str = _ENC) -> tuple[OctKey, str]:
    """Return the encryption key for ``(secret, salt, enc)`` and its ``kid``, derived once.

    HKDF-SHA256 with info ``Auth.js Generated Encryption Key (<salt>)``; the ``kid`` is the
    RFC 7638 thumbprint (SHA-512 for the 64-byte key), exactly as ``@auth/core`` computes them.
    """
    try:
        length, digest = _KEY_SPECS[enc]
    except KeyError:
        raise TokenError(f"unsupported content encryption {enc!r}") from None
    raw = hkdf(secret, salt, f"Auth.js Generated Encryption Key ({salt})", length)
    kid = thumbprint({"kty": "oct", "k": urlsafe_b64encode(raw).decode()}, digest)
    return OctKey.import_key(raw), kid


def _secrets(secret: Secret) -> Sequence[str]:
    return (secret,) if isinstance(secret, str) else secret


def encode(
    token: Mapping[str, Any],
    *,
    secret: Secret,
    salt: str,
    max_age: int = DEFAULT_MAX_AGE,
) -> str:
    """Encrypt ``token`` as Auth.js does, adding ``iat``, ``exp`` (now + ``max_age``) and ``jti``.

    With a list of secrets the first one encrypts.
    """
    key, kid = derive_key(_secrets(secret)[0], salt)
    now = int(time.time())
    claims = {**token, "iat": now, "exp": now + max_age, "jti": str(uuid.uuid4())}
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
    header = {"alg": _ALG, "enc": _ENC, "kid": kid}
    return jwe.encrypt_compact(header, payload, key, algorithms=[_ALG, _ENC])


def decode(token: str, *, secret: Secret, salt: str) -> JWT:
    """Decrypt and validate a token made by :func:`encode` or by ``@auth/core``.

    Every secret is tried (the one whose ``kid`` matches); ``exp``, ``nbf`` and ``iat`` are
    checked with :data:`CLOCK_TOLERANCE`. Any failure raises :class:`~.errors.TokenError`.
    """
    secrets = _secrets(secret)

    def pick_key(obj: GuestProtocol) -> OctKey:
        header = obj.headers()
        kid, enc = header.get("kid"), header.get("enc", _ENC)
        for candidate in secrets:
            key, key_id = derive_key(candidate, salt, enc)
            if kid is None or kid == key_id:
                return key
        raise TokenError("no secret matches the token's kid")

    try:
        message = jwe.decrypt_compact(token, pick_key, algorithms=_DECODE_ALGORITHMS)
        claims = json.loads(cast(bytes, message.plaintext))
        if not isinstance(claims, dict):
            raise TokenError("the token's payload is not a JSON object")
        JWTClaimsRegistry(leeway=CLOCK_TOLERANCE).validate(claims)
    except TokenError:
        raise
    except (JoseError, ValueError, TypeError) as error:
        raise TokenError(str(error) or type(error).__name__) from error
    return cast("JWT", claims)
