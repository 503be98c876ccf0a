"""The end of every sign-in: the ``signIn`` and ``jwt`` callbacks, the cookie, the redirect."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from flask import g, request
from werkzeug.wrappers import Response

from ..errors import SessionExtError
from ..extension import AuthState
from ..redirects import callback_url
from ..responses import auth_error, go_to
from ..signals import send, signed_in
from ..types import JWT, Account, Profile, User
from .session import write_session


def complete_signin(
    state: AuthState,
    user: Mapping[str, Any],
    account: Account,
    *,
    profile: Profile | None = None,
    credentials: dict[str, str] | None = None,
    is_new_user: bool | None = None,
    next_url: object = None,
    token_claims: Mapping[str, Any] | None = None,
) -> Response:
    """Sign ``user`` (its ``id`` a string) in: ``signIn``, ``jwt``, the cookie, the redirect.

    ``token_claims`` are added to the default token before the ``jwt`` callback sees it
    (the provider tokens of a provider with ``refresh=True``).
    """
    ext, pages = state.ext, state.config.pages
    signed_user = cast(User, user)
    try:
        allowed = ext._signin(
            user=signed_user, account=account, profile=profile, email=None, credentials=credentials
        )
    except Exception as error:
        return auth_error("AccessDenied", pages, detail=f"signin_callback raised {error!r}")
    if isinstance(allowed, str) and allowed:
        return go_to(callback_url(allowed, state.origin(request), ext._redirect))
    if allowed is not True:
        return auth_error("AccessDenied", pages)
    defaults = {
        "name": signed_user.get("name"),
        "email": signed_user.get("email"),
        "picture": signed_user.get("image"),
        "sub": signed_user["id"],
    }
    token = cast(
        JWT, {k: v for k, v in defaults.items() if v is not None} | dict(token_claims or {})
    )
    try:
        shaped = ext._jwt(
            token=token,
            user=signed_user,
            account=account,
            profile=profile,
            is_new_user=is_new_user,
            trigger="signIn",
            session=None,
        )
    except Exception as error:
        return auth_error("Configuration", pages, detail=f"jwt_callback raised {error!r}")
    if shaped is None:
        return auth_error("AccessDenied", pages, detail="jwt_callback returned None at sign-in")
    response = go_to(callback_url(next_url, state.origin(request), ext._redirect))
    try:
        write_session(response, state.cookie_names(request), cast(JWT, dict(shaped)))
    except (SessionExtError, TypeError, ValueError) as error:
        return auth_error("Configuration", pages, detail=f"session token not written: {error}")
    g.session, g._sessionext = None, None
    send(signed_in, user=signed_user, account=account, token=dict(shaped))
    return response
