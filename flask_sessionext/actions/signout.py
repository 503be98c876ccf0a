"""``POST /signout``: end the session, expire its cookies, redirect."""

from __future__ import annotations

from flask import g, request
from werkzeug.wrappers import Response

from ..cookies import clear_chunked
from ..extension import AuthState
from ..redirects import callback_url
from ..responses import go_to
from ..signals import send, signed_out
from .body import form_body, verified_csrf


def signout(state: AuthState) -> Response | None:
    """Sign the user out and redirect to ``callbackUrl``; ``None`` when the CSRF check fails."""
    body = form_body()
    if not verified_csrf(state, body):
        return None
    token = state.read_token(request, raw=False)
    g.session = None
    g._sessionext = None
    response = go_to(
        callback_url(body.get("callbackUrl"), state.origin(request), state.ext._redirect)
    )
    names = state.cookie_names(request)
    clear_chunked(response, request.cookies, names.session_token, secure=names.secure)
    send(signed_out, token=token)
    return response
