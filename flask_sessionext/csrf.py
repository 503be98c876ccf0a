"""Double-submit CSRF token in Auth.js's format: cookie ``token|sha256hex(token + secret)``.

:func:`csrf_token` gives the current request's token (for the auth pages and the app's own
forms); :func:`verify` checks a submitted one against the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from urllib.parse import unquote

from flask import after_this_request, g, request
from werkzeug.wrappers import Response

from .cookies import set_cookie
from .state import current_state


def _digest(token: str, secret: str) -> str:
    return hashlib.sha256(f"{token}{secret}".encode()).hexdigest()


def new_token(secret: str) -> tuple[str, str]:
    """Return a fresh ``(token, cookie_value)``; the token is 32 random bytes in hex."""
    token = secrets.token_hex(32)
    return token, f"{token}|{_digest(token, secret)}"


def token_from_cookie(cookie: str | None, secrets_: Sequence[str]) -> str | None:
    """Return the token a CSRF cookie carries if any secret signed it, else ``None``."""
    if not cookie:
        return None
    token, _, digest = unquote(cookie).partition("|")
    if not token or not digest:
        return None
    for secret in secrets_:
        if hmac.compare_digest(digest, _digest(token, secret)):
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


def csrf_token() -> str:
    """The current request's CSRF token; the response sets its cookie when the request had none.

    Post it as ``csrfToken`` (form field or JSON key). Templates call ``{{ csrf_token() }}``.
    """
    token: str | None = g.get("_sessionext_csrf")
    if token is not None:
        return token
    state = current_state()
    names = state.cookie_names(request)
    token = token_from_cookie(request.cookies.get(names.csrf_token), state.config.secrets)
    if token is None:
        token, cookie = new_token(state.config.secrets[0])

        @after_this_request
        def set_csrf_cookie(response: Response) -> Response:
            set_cookie(response, names.csrf_token, cookie, secure=names.secure)
            return response

    g._sessionext_csrf = token
    return token
