"""The request side of the double-submit CSRF token: the request's token, and checking a post.

:func:`csrf_token` gives the current request's token (for the auth pages and the app's own
forms); :func:`verified_csrf` checks a posted one against the cookie. The auth blueprint checks
it once, before the flows that need it; ``csrf_required`` does for the app's own views. The
token format is :mod:`.csrf_codec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import after_this_request, g, request
from werkzeug.wrappers import Response

from .cookies import read_cookie, request_cookies, set_cookie
from .csrf_codec import new_token, token_from_cookie, verify
from .state import AuthState, current_state

#: The codec's functions are re-exported: they lived here before ``csrf_codec``.
__all__ = ["csrf_token", "new_token", "token_from_cookie", "verified_csrf", "verify"]


def verified_csrf(state: AuthState, body: Mapping[str, Any]) -> bool:
    """True when the body's ``csrfToken`` matches the request's CSRF cookie."""
    cookie = read_cookie(request_cookies(request), state.cookie_names(request).csrf_token)
    return verify(cookie, body.get("csrfToken"), state.config.secrets)


def csrf_token() -> str:
    """The current request's CSRF token; the response sets its cookie when the request had none.

    Post it as ``csrfToken`` (form field or JSON key). Templates call ``{{ csrf_token() }}``.
    """
    token: str | None = g.get("_sessionext_csrf")
    if token is not None:
        return token
    state = current_state()
    names = state.cookie_names(request)
    cookie = read_cookie(request_cookies(request), names.csrf_token)
    token = token_from_cookie(cookie, state.config.secrets)
    if token is None:
        token, cookie = new_token(state.config.secrets[0])

        @after_this_request
        def set_csrf_cookie(response: Response) -> Response:
            set_cookie(response, names.csrf_token, cookie, secure=names.secure)
            return response

    g._sessionext_csrf = token
    return token
