"""``POST /callback/credentials`` (its CSRF token already checked): ``authorize``, sign in."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from ..errors import CredentialsSignin
from ..providers.credentials import Credentials
from ..state import AuthState
from ..types import Account
from .body import form_body
from .signin import complete_signin


def credentials_callback(state: AuthState, provider: Credentials) -> Response:
    """Sign in with the submitted fields; a refusal answers ``CredentialsSignin`` with its code.

    ``authorize`` failing is not a refusal: a store failure answers 503, any other exception
    or an invalid user ``Configuration`` (see :meth:`Credentials.sign_in`).
    """
    body = form_body()
    next_url = body.pop("callbackUrl", None)
    fields = {k: v for k, v in body.items() if k != "csrfToken"}
    if not all(isinstance(v, str) for v in fields.values()):
        raise CredentialsSignin("a field was not a single string")
    credentials: dict[str, str] = fields
    user, account = limited_sign_in(state, "signin", provider, credentials)
    return complete_signin(
        state, provider, user, account, credentials=credentials, next_url=next_url
    )


def limited_sign_in(
    state: AuthState, action: str, provider: Credentials, credentials: dict[str, str]
) -> tuple[dict[str, Any], Account]:
    """``provider.sign_in`` behind the rate limits: count the attempt as ``action``, refuse
    while the client or the named account has too many failures, count a failure.

    Raises :class:`~..errors.TooManyRequests` before ``authorize`` runs, so a limited
    client learns nothing about the password, even a right one; and what ``sign_in`` raises.
    """
    limits, key = state.rate_limits, provider.limit_key(credentials)
    limits.hit(action, key)
    limits.check("signin_failed", key)
    try:
        return provider.sign_in(credentials)
    except CredentialsSignin:
        limits.count("signin_failed", key)
        raise
