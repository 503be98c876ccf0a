"""``POST /callback/credentials``: check the CSRF token, ``authorize``, then sign in."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from werkzeug.wrappers import Response

from ..extension import AuthState
from ..providers.credentials import Credentials
from ..responses import auth_error, logger
from ..types import Account
from .body import form_body, verified_csrf
from .signin import complete_signin


def credentials_callback(state: AuthState, provider: Credentials) -> Response:
    """Sign in with the submitted fields; any refusal answers ``CredentialsSignin``."""
    pages = state.config.pages
    body = form_body()
    if not verified_csrf(state, body):
        return auth_error("MissingCSRF", pages)
    next_url = body.pop("callbackUrl", None)
    fields = {k: v for k, v in body.items() if k != "csrfToken"}
    if not all(isinstance(v, str) for v in fields.values()):
        detail = "a field was not a single string"
        return auth_error("CredentialsSignin", pages, detail=detail, code="credentials")
    credentials: dict[str, str] = fields
    try:
        user = provider.authorize(credentials)
    except Exception:
        logger.exception("flask-sessionext: authorize() of provider %r raised", provider.id)
        user = None
    if not isinstance(user, Mapping):
        if user is not None:
            logger.error(
                "flask-sessionext: authorize() returned %s, not a dict", type(user).__name__
            )
        return auth_error("CredentialsSignin", pages, code="credentials")
    user_id = str(uuid.uuid4()) if user.get("id") is None else str(user["id"])
    user = {**user, "id": user_id}
    account: Account = {
        "provider": provider.id,
        "type": "credentials",
        "providerAccountId": user_id,
    }
    return complete_signin(
        state, provider, user, account, credentials=credentials, next_url=next_url
    )
