"""Check cookies: short-lived encrypted cookies that bind a multi-step flow to the browser.

Each holds one JSON value in a JWE (salted by the cookie's name) together with the provider
it was set for; the flows that use them (OAuth state/PKCE/nonce, email links without a
database, passkey challenges) expire them once used.
"""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.wrappers import Response

from ..cookies import expire_cookie, read_cookie, request_cookies, set_cookie
from ..errors import TokenError
from ..jwt import decode, encode
from ..state import AuthState

#: Default lifetime of a check cookie, in seconds.
CHECK_MAX_AGE = 15 * 60


def set_check(
    response: Response,
    state: AuthState,
    name: str,
    value: Any,
    *,
    provider: str,
    max_age: int = CHECK_MAX_AGE,
) -> None:
    """Set the check cookie ``name`` to ``value`` (any JSON), bound to ``provider``."""
    payload = encode(
        {"value": value, "provider": provider},
        secret=state.config.secrets,
        salt=name,
        max_age=max_age,
    )
    secure = state.cookie_names(request).secure
    set_cookie(response, name, payload, secure=secure, max_age=max_age)


def read_check(state: AuthState, name: str, *, provider: str) -> Any:
    """The value of the check cookie ``name`` if it decodes, is unexpired and was set for
    ``provider``; else ``None`` (also when the request carries the name twice)."""
    raw = read_cookie(request_cookies(request), name)
    if not raw:
        return None
    try:
        claims: dict[str, Any] = dict(decode(raw, secret=state.config.secrets, salt=name))
    except TokenError:
        return None
    return claims.get("value") if claims.get("provider") == provider else None


def clear_check(response: Response, state: AuthState, name: str) -> None:
    """Expire the check cookie ``name`` if the request carried it."""
    if name in request.cookies:
        expire_cookie(response, name, secure=state.cookie_names(request).secure)
