"""Email sign-in: ``POST /signin/<id>`` mails a one-time link, ``GET /callback/<id>`` uses it.

With an adapter, the token travels only in the link and the adapter stores
``sha256(token + secret)`` bound to the normalised address (Auth.js's
``createHash(`${token}${secret}`)``), so a leaked table grants nothing; using it deletes it,
so a link signs in once. Without one, the link is signed (:mod:`.email_link`).
"""

from __future__ import annotations

import re
import secrets
import traceback
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, cast
from urllib.parse import urlencode

from flask import after_this_request, jsonify, request
from werkzeug.wrappers import Response

from ..adapters.protocol import Adapter
from ..errors import AuthError, Verification
from ..hashing import sha256_hex
from ..i18n import N_, gettext
from ..identity import normalize_email
from ..pages import error_page
from ..providers.email import Email
from ..responses import go_to, logger, page_url, wants_json
from ..state import AuthState
from ..types import Account, User
from . import email_link
from .signin import complete_signin, signin_redirect

#: What a token from :func:`secrets.token_urlsafe` can look like; anything else is refused
#: before the database is asked.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")
INVALID_EMAIL = N_("Enter one valid email address, like name@example.com.")


def verification_token_hash(token: str, secret: str) -> str:
    """What the adapter stores for ``token``: SHA-256 hex of ``token + secret``."""
    return sha256_hex(token + secret)


def send_link(state: AuthState, provider: Email, email_value: object, next_url: str) -> Response:
    """Make a link for the address, mail it, and go to the verify-request page."""
    pages = state.config.pages
    email = _normalized(provider, email_value)
    if email is None:
        return _invalid_email()
    state.rate_limits.hit("email", email)
    adapter = state.ext.adapter
    origin = state.origin(request)
    elsewhere = signin_redirect(
        state,
        user=_known_user(adapter, email),
        account=_account(provider, email),
        email={"verificationRequest": True},
    )
    if elsewhere is not None:
        return go_to(elsewhere)
    signed: email_link.SignedLink | None = None
    token_hash = ""
    if adapter is None:
        signed = email_link.issue(state, provider, email)
        token, query = signed.token, {"callbackUrl": next_url, "token": signed.token}
    else:
        token = secrets.token_urlsafe(32)
        token_hash = verification_token_hash(token, state.config.secrets[0])
        expires = datetime.now(timezone.utc) + timedelta(seconds=provider.lifetime(stored=True))
        adapter.create_verification_token(email, token_hash, expires)
        query = {"callbackUrl": next_url, "token": token, "email": email}
    url = f"{origin}{state.config.base_path}/callback/{provider.id}?{urlencode(query)}"
    try:
        provider.send(email, url, provider)
    except Exception as error:
        if adapter is not None:
            adapter.use_verification_token(email, token_hash)  # nobody got it: drop it now
        raise AuthError(_send_failure(provider, error, token)) from None
    response = go_to(page_url("verify_request", pages, provider=provider.id, type="email"))
    if signed is not None:
        email_link.bind(response, state, provider, signed)
    return response


def verify_link(state: AuthState, provider: Email) -> Response:
    """Use the link (once) and sign the address in; any failure is ``Verification``."""
    if state.ext.adapter is None:
        return _verify_signed_link(state, provider)
    email = _normalized(provider, request.args.get("email"))
    token = request.args.get("token", "")
    if email is None or not _TOKEN.fullmatch(token):
        raise Verification("malformed email sign-in link")
    adapter = state.ext.adapter
    expires = None
    for secret in state.config.secrets:
        expires = adapter.use_verification_token(email, verification_token_hash(token, secret))
        if expires is not None:
            break
    if expires is None:
        raise Verification("unknown or used email sign-in token")
    if expires <= datetime.now(timezone.utc):
        raise Verification("expired email sign-in token")
    return _sign_in(state, provider, adapter, email)


def _verify_signed_link(state: AuthState, provider: Email) -> Response:
    """A link without a database: signed, unexpired, and asked for by this browser."""
    email, detail = email_link.use(state, provider, request.args.get("token", ""))
    if email is None:
        raise Verification(detail)

    @after_this_request
    def consume(response: Response) -> Response:  # the sign-in failing spends the link too
        email_link.consume(response, state)
        return response

    return _sign_in(state, provider, None, email)


def _sign_in(state: AuthState, provider: Email, adapter: Adapter | None, email: str) -> Response:
    return complete_signin(
        state,
        provider,
        _known_user(adapter, email),
        _account(provider, email),
        next_url=request.args.get("callbackUrl"),
    )


def _normalized(provider: Email, value: object) -> str | None:
    """The identifier for a submitted address: the provider's ``normalize``, then the one
    normal form of every stored address; a ``normalize`` that raises refuses it."""
    try:
        email = provider.normalize(value)
    except Exception:
        logger.exception("flask-sessionext: normalize() of email provider %r raised", provider.id)
        return None
    return normalize_email(email)


def _known_user(adapter: Adapter | None, email: str) -> User:
    """The stored user with this address, or a new one (created when the link is used).

    Without an adapter the user's ``id`` is the address itself.
    """
    if adapter is None:
        return {"id": email, "email": email}
    stored: dict[str, Any] | None = adapter.get_user_by_email(email)
    if stored is None:
        stored = {"id": str(uuid.uuid4()), "email": email, "email_verified": None}
    return cast(User, {**stored, "id": str(stored["id"])})


def _account(provider: Email, email: str) -> Account:
    return {"provider": provider.id, "type": "email", "providerAccountId": email}


def _send_failure(provider: Email, error: Exception, token: str) -> str:
    """What the log says about a failed send: never the token (the link signs in)."""
    message = str(error).replace(token, "[token]")
    frames = "".join(traceback.format_tb(error.__traceback__))
    return (
        f"send() of email provider {provider.id!r} raised {type(error).__name__}: {message}\n"
        f"{frames}"
    )


def _invalid_email() -> Response:
    """400: the address is not one valid address (no error code, nothing to redirect to)."""
    if wants_json():
        response = jsonify(message=gettext(INVALID_EMAIL), field="email")
        response.status_code = 400
        return response
    return error_page("", 400, INVALID_EMAIL)
