"""``POST /callback/credentials``: check the CSRF token, ``authorize``, then sign in."""

from __future__ import annotations

from werkzeug.wrappers import Response

from ..providers.credentials import Credentials
from ..responses import auth_error
from ..state import AuthState
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
    signed = provider.sign_in(credentials)
    if signed is None:
        return auth_error("CredentialsSignin", pages, code="credentials")
    user, account = signed
    return complete_signin(
        state, provider, user, account, credentials=credentials, next_url=next_url
    )
