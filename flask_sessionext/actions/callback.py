"""``POST /callback/credentials``: check the CSRF token, ``authorize``, then sign in."""

from __future__ import annotations

from werkzeug.wrappers import Response

from ..errors import CredentialsSignin, MissingCSRF
from ..providers.credentials import Credentials
from ..state import AuthState
from .body import form_body, verified_csrf
from .signin import complete_signin


def credentials_callback(state: AuthState, provider: Credentials) -> Response:
    """Sign in with the submitted fields; any refusal answers ``CredentialsSignin``."""
    body = form_body()
    if not verified_csrf(state, body):
        raise MissingCSRF
    next_url = body.pop("callbackUrl", None)
    fields = {k: v for k, v in body.items() if k != "csrfToken"}
    if not all(isinstance(v, str) for v in fields.values()):
        raise CredentialsSignin("a field was not a single string")
    credentials: dict[str, str] = fields
    signed = provider.sign_in(credentials)
    if signed is None:
        raise CredentialsSignin
    user, account = signed
    return complete_signin(
        state, provider, user, account, credentials=credentials, next_url=next_url
    )
