"""The double-submit CSRF token in Auth.js's format, as pure functions (no Flask, no state).

The cookie holds ``token|sha256hex(token + secret)``; a form posts the ``token`` back as
``csrfToken``. :mod:`.csrf` is the request side.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from urllib.parse import unquote

from .hashing import sha256_hex


def new_token(secret: str) -> tuple[str, str]:
    """Return a fresh ``(token, cookie_value)``; the token is 32 random bytes in hex."""
    token = secrets.token_hex(32)
    return token, f"{token}|{sha256_hex(token + secret)}"


def token_from_cookie(cookie: str | None, secrets_: Sequence[str]) -> str | None:
    """Return the token a CSRF cookie carries if any secret signed it, else ``None``."""
    if not cookie:
        return None
    token, _, digest = unquote(cookie).partition("|")
    if not token or not digest:
        return None
    for secret in secrets_:
        if hmac.compare_digest(digest, sha256_hex(token + secret)):
            return token
    return None


def verify(cookie: str | None, submitted: object, secrets_: Sequence[str]) -> bool:
    """True when ``submitted`` equals the token of a valid CSRF cookie (constant time)."""
    token = token_from_cookie(cookie, secrets_)
    return (
        token is not None
        and isinstance(submitted, str)
        and hmac.compare_digest(token.encode(), submitted.encode())
    )
