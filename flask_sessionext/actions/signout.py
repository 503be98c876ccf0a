"""``POST /signout``: end the session, expire its cookies, redirect."""

from __future__ import annotations

from flask import g, request
from werkzeug.wrappers import Response

from ..cookies import clear_chunked
from ..responses import go_to
from ..signals import send, signed_out
from ..state import AuthState, forget_request_session, request_auth
from .body import form_body
from .session import session_token_hash


def signout(state: AuthState) -> Response:
    """Sign the user out and redirect to ``callbackUrl``."""
    body = form_body()
    end_session(state)
    response = go_to(state.next_url(body.get("callbackUrl"), request))
    names = state.cookie_names(request)
    clear_chunked(response, request.cookies, names.session_token, secure=names.secure)
    return response


def end_session(state: AuthState) -> None:
    """End this request's session: delete its row (database strategy), read ``g.session`` as
    ``None`` from now on, send ``signed_out``. The caller expires the cookie."""
    g.session  # noqa: B018 - resolve, to know whose session ends
    ended = request_auth()
    if ended is not None and ended.opaque is not None and state.ext.adapter is not None:
        state.ext.adapter.delete_session(session_token_hash(ended.opaque))
    forget_request_session()
    if ended is not None and ended.user_id is not None:
        send(signed_out, token=ended.token, user_id=ended.user_id)
