"""``auth.sign_in()`` and ``auth.sign_out()``: signing in and out from the app's own views.

After a sign-up form or the app's own second factor, as Flask-Login's ``login_user()`` or
Auth.js's server-side ``signIn()``: the same callbacks and signals as the routes, and the
response of the current request carries the cookie (``after_request`` writes it).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, cast

from flask import g, request

from ..errors import AccessDenied
from ..identity import checked_user
from ..state import AuthState, track_request_auth
from ..types import Account, User
from .session import jwt_session, stored_session
from .signin import signin_redirect, start_session
from .signout import end_session


def sign_in(
    state: AuthState, user: Mapping[str, Any], token_claims: Mapping[str, Any] | None = None
) -> Any:
    """Sign ``user`` in for this request and the ones after it; return the new session.

    The ``signIn`` callback runs (a refusal, or a URL it answers, raises
    :class:`~..errors.AccessDenied`: there is no redirect to follow here), then the ``jwt``
    callback or, with the database strategy, a new session row for the stored user.
    ``token_claims`` join the token before the ``jwt`` callback sees it (tests use them).
    """
    checked = checked_user(user, "auth.sign_in()")
    account: Account = {
        "provider": "credentials",
        "type": "credentials",
        "providerAccountId": checked["id"],
    }
    elsewhere = signin_redirect(
        state, user=cast(User, checked), account=account, profile=None, email=None, credentials=None
    )
    if elsewhere is not None:
        raise AccessDenied("signin_callback answered a URL; auth.sign_in() cannot redirect")
    started = start_session(state, checked, account, token_claims=token_claims)
    ra = track_request_auth(state, request.cookies, state.cookie_names(request))
    ra.reissue = True
    if started.opaque is not None:
        g.session = stored_session(state, ra, started.opaque)
    else:
        assert started.token is not None
        g.session = jwt_session(state, ra, started.token, time.time() + state.config.max_age)
    started.announce(account)
    return g.session


def sign_out(state: AuthState) -> None:
    """End the current request's session; its cookie expires with this response."""
    end_session(state)
    track_request_auth(state, request.cookies, state.cookie_names(request)).clear = True
