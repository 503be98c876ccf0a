"""Email links without a database: signed with itsdangerous, bound to the browser that asked.

The link's token is ``URLSafeTimedSerializer.dumps({"email", "nonce"})``, with a key derived
from each ``AUTH_SECRET`` by HKDF and a salt naming this purpose and the provider. The same
random nonce goes into the encrypted check cookie ``authjs.email-check`` of the browser that
asked. Using the link needs both, and expires the cookie: one use per browser, and no
server-side record at all.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from functools import lru_cache

from flask import request
from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from ..jwt import hkdf
from ..providers.email import Email
from ..state import AuthState
from .checks import clear_check, read_check, set_check

PURPOSE = "flask-sessionext email sign-in link"
#: Seconds the check cookie outlives the link, so that an expired link is met as expired.
COOKIE_GRACE = 60
#: Longest token read; a signed link's token is about 200 characters.
MAX_TOKEN_LENGTH = 1024


@dataclass(frozen=True)
class SignedLink:
    """A link's token, and the nonce that the asking browser's check cookie keeps."""

    token: str
    nonce: str


@lru_cache(maxsize=16)
def _keys(secrets_: tuple[str, ...]) -> tuple[bytes, ...]:
    """One signing key per secret, oldest first (itsdangerous signs with the last one)."""
    return tuple(hkdf(secret, PURPOSE, f"{PURPOSE} key", 32) for secret in reversed(secrets_))


def serializer(state: AuthState, provider: Email) -> URLSafeTimedSerializer:
    """The serializer that signs and checks the links of ``provider``."""
    return URLSafeTimedSerializer(
        list(_keys(state.config.secrets)), salt=f"{PURPOSE} ({provider.id})"
    )


def issue(state: AuthState, provider: Email, email: str) -> SignedLink:
    """A new signed link token for ``email``, with a fresh 256-bit nonce."""
    nonce = secrets.token_urlsafe(32)
    token = serializer(state, provider).dumps({"email": email, "nonce": nonce})
    return SignedLink(token=token, nonce=nonce)


def bind(response: Response, state: AuthState, provider: Email, link: SignedLink) -> None:
    """Keep the link's nonce in this browser's check cookie (replacing an earlier request's)."""
    max_age = provider.lifetime(stored=False) + COOKIE_GRACE
    name = state.cookie_names(request).email_check
    set_check(response, state, name, link.nonce, provider=provider.id, max_age=max_age)


def use(state: AuthState, provider: Email, token: str) -> tuple[str | None, str]:
    """The address a link signs in, or ``None`` and why not (for the log).

    The signature, the age (``max_age`` of the provider) and this browser's check cookie
    are checked; the caller then expires the cookie with :func:`consume`.
    """
    if len(token) > MAX_TOKEN_LENGTH:
        return None, "email sign-in link too long"
    try:
        payload = serializer(state, provider).loads(token, max_age=provider.lifetime(stored=False))
    except SignatureExpired:
        return None, "expired email sign-in link"
    except BadData:
        return None, "email sign-in link with a bad signature"
    email = payload.get("email") if isinstance(payload, dict) else None
    nonce = payload.get("nonce") if isinstance(payload, dict) else None
    if not isinstance(email, str) or not isinstance(nonce, str):
        return None, "malformed email sign-in link"
    name = state.cookie_names(request).email_check
    expected = read_check(state, name, provider=provider.id)
    if not isinstance(expected, str):
        return None, "email sign-in link opened without its check cookie (another browser?)"
    if not hmac.compare_digest(expected.encode(), nonce.encode()):
        return None, "email sign-in link from another request than this browser's last one"
    return email, ""


def consume(response: Response, state: AuthState) -> None:
    """Expire the check cookie: the link it matched cannot be used again in this browser."""
    clear_check(response, state, state.cookie_names(request).email_check)
