"""The token API for SPAs, mobile apps and nuxt-auth's ``local`` provider.

``POST /token/login`` trades credentials for an access token and a refresh token,
``POST /token/refresh`` trades a refresh token for a new pair, ``POST /token/logout`` revokes
the family. These routes take no cookies, so they need no CSRF token.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import jsonify, request
from werkzeug.wrappers import Response

from ..bearer import bearer_token
from ..errors import CredentialsSignin, TokenError
from ..hashing import sha256_hex
from ..jwt import hkdf
from ..providers.credentials import Credentials
from ..responses import invalid_token, logger
from ..responses import token_error as error
from ..revocation import revoked
from ..signals import send, signed_in, signed_out
from ..state import AuthState
from .body import json_body
from .callback import limited_sign_in
from .signin import default_token

#: Claims issued anew on every access token; never carried over from the stored claims.
_ISSUED = frozenset({"iat", "exp", "jti", "sid", "iss", "aud", "nbf"})


def login(state: AuthState) -> Response:
    """Credentials in a JSON object → ``{"token", "refreshToken", "expiresIn"}``."""
    body = json_body()
    if not isinstance(body, dict):
        return error(400, "invalid_request", "the body must be a JSON object")
    provider = _credentials_provider(state, body.pop("provider", None))
    if provider is None:
        return error(400, "invalid_request", "no such credentials provider")
    if not all(isinstance(v, str) for v in body.values()):
        return error(400, "invalid_request", "every field must be a string")
    try:
        user, account = limited_sign_in(state, "token_login", provider, body)
    except CredentialsSignin as refused:
        return error(401, "CredentialsSignin", f"sign-in failed ({refused.client_code})")
    allowed = state.callbacks.signin.or_none(user=user, account=account, credentials=body)
    shaped = (
        state.callbacks.jwt.or_none(
            token=default_token(user), user=user, account=account, trigger="signIn"
        )
        if allowed is True
        else None
    )
    if shaped is None:
        return error(403, "AccessDenied", "sign-in refused")
    response = _issue(state, dict(shaped), family=str(uuid.uuid4()))
    send(signed_in, user=user, account=account, token=dict(shaped), is_new_user=None)
    return response


def refresh(state: AuthState) -> Response:
    """``{"refreshToken"}`` → a new pair; the old refresh token is spent.

    Spending it and storing its successor is one atomic store operation, so a store failure
    leaves it valid for the retry. The successor is derived from it, so a second use within
    ``AUTH_TOKEN_REUSE_GRACE`` seconds (a retry whose answer was lost, a second tab) gets the
    same successor while that is unused; a later one is reuse of a stolen token, and revokes
    the whole family.
    """
    state.rate_limits.hit("token_refresh")
    body = json_body()
    value = body.get("refreshToken") if isinstance(body, dict) else None
    if not isinstance(value, str) or not 20 <= len(value) <= 200:
        return error(400, "invalid_request", "refreshToken is required")
    store, tokens, now = state.token_store, state.access_tokens, datetime.now(timezone.utc)
    assert store is not None and tokens is not None
    found = store.find_refresh_token(sha256_hex(value))
    if found is None:
        return error(401, "invalid_grant", "unknown, used or revoked refresh token")
    record, used_at = found
    if used_at is not None and now - used_at > timedelta(seconds=tokens.config.reuse_grace):
        logger.warning("flask-sessionext: refresh token reused; revoking its family")
        store.revoke_refresh_family(record.family)
        return error(401, "invalid_grant", "refresh token already used")
    if record.expires <= now:
        return error(401, "invalid_grant", "refresh token expired")
    if state.revocations is not None:
        born = record.expires - timedelta(seconds=tokens.config.refresh_max_age)
        if revoked(state.revocations, {**record.claims, "iat": int(born.timestamp())}):
            store.revoke_refresh_family(record.family)
            return error(401, "invalid_grant", "the user's sessions were revoked")
    successor = _successor(state, value)
    if used_at is None:
        kept = {k: v for k, v in record.claims.items() if k not in _ISSUED}
        shaped = state.callbacks.jwt.or_none(token=kept, trigger="refresh")
        if shaped is None:
            store.revoke_refresh_family(record.family)
            return error(401, "invalid_grant", "refresh refused")
        claims = {k: v for k, v in shaped.items() if k not in _ISSUED}
        expires = now + timedelta(seconds=tokens.config.refresh_max_age)
        args = (sha256_hex(value), sha256_hex(successor), record.family, claims, expires, now)
        if store.rotate_refresh_token(*args):
            return _answer(state, successor, claims, record.family)
    # Spent already, within the grace: the successor again, unless it is used or revoked.
    issued = store.find_refresh_token(sha256_hex(successor))
    if issued is None or issued[1] is not None:
        return error(401, "invalid_grant", "refresh token already used")
    return _answer(state, successor, issued[0].claims, record.family)


def logout(state: AuthState) -> Response:
    """Revoke the family of ``{"refreshToken"}``, or of the access token in ``Authorization``."""
    store = state.token_store
    assert store is not None and state.access_tokens is not None
    body = json_body()
    value = body.get("refreshToken") if isinstance(body, dict) else None
    if isinstance(value, str) and value:
        found = store.find_refresh_token(sha256_hex(value))
        if found is None:
            return jsonify({})
        family, claims = found[0].family, found[0].claims
    else:
        try:
            token = bearer_token(request.headers.get("Authorization"))
            if token is None:
                return error(400, "invalid_request", "send refreshToken or an access token")
            claims = state.access_tokens.decode(token)
        except TokenError:
            return invalid_token()
        family = str(claims["sid"])
    store.revoke_refresh_family(family)
    send(signed_out, token=claims, user_id=str(claims.get("sub")))
    return jsonify({})


def _issue(state: AuthState, claims: dict[str, Any], family: str) -> Response:
    """Start a family: store its first refresh token and answer it with an access token."""
    tokens, store = state.access_tokens, state.token_store
    assert tokens is not None and store is not None
    claims = {k: v for k, v in claims.items() if k not in _ISSUED}
    refresh_token = secrets.token_urlsafe(32)
    expires = datetime.now(timezone.utc) + timedelta(seconds=tokens.config.refresh_max_age)
    store.save_refresh_token(sha256_hex(refresh_token), family, claims, expires)
    return _answer(state, refresh_token, claims, family)


def _answer(state: AuthState, refresh_token: str, claims: dict[str, Any], family: str) -> Response:
    """The token API's answer: a new access token with ``refresh_token``."""
    tokens = state.access_tokens
    assert tokens is not None
    return jsonify(
        token=tokens.encode(claims, sid=family),
        refreshToken=refresh_token,
        expiresIn=tokens.config.max_age,
    )


def _successor(state: AuthState, refresh_token: str) -> str:
    """The refresh token that replaces ``refresh_token``: derived from it with the secret, so
    a retried refresh gets the same one and nobody without the secret can compute it."""
    info = "flask-sessionext refresh token successor"
    key = hkdf(state.config.secrets[0], refresh_token, info, 32)
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode()


def _credentials_provider(state: AuthState, provider_id: object) -> Credentials | None:
    providers = state.ext.providers.values()
    for provider in providers:
        if isinstance(provider, Credentials) and provider_id in (None, provider.id):
            return provider
    return None
