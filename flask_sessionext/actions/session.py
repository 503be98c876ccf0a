"""Resolving the session of a request, updating it, and re-issuing its cookie when due."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, cast

from flask import request
from flask.ctx import _AppCtxGlobals

from ..bearer import bearer_token
from ..cookies import request_chunked
from ..default_session import copied, default_session, iso_time
from ..errors import BearerRejected, TokenError
from ..hashing import sha256_hex
from ..identity import describe, user_id
from ..refresh import due, refreshed
from ..responses import logger
from ..revocation import revoked
from ..signals import send, session_updated
from ..state import (
    AuthState,
    Decoded,
    RequestAuth,
    current_state,
    track_request_auth,
    write_session,
)
from ..types import JWT, Session, SessionUser, Trigger

#: What ``g.session`` holds: the session callback's answer, or ``None`` when signed out.
Shown = Mapping[str, Any] | None

#: ``RequestAuth`` and ``write_session`` are re-exported: they lived here before ``state``.
__all__ = ["RequestAuth", "resolve", "session_token_hash", "write_session"]


def resolve(
    *,
    reissue: bool = False,
    trigger: Trigger | None = None,
    data: Any = None,
    into: _AppCtxGlobals | None = None,
) -> Shown:
    """Resolve the current request's session: cookie → token → ``jwt`` → ``session`` callbacks.

    ``None`` when signed out. A bad cookie, ``None`` from the ``jwt`` callback, or an exception
    in the ``session`` callback reads as signed out and expires the cookie.
    On ``POST /session`` the ``jwt`` callback gets ``trigger="update"`` and ``session=data``.
    ``into`` is this request's ``g`` when the caller holds it (saves looking it up).
    """
    state = current_state()
    req = request._get_current_object()  # type: ignore[attr-defined]
    names = state.cookie_names(req)
    cookies, raw = request_chunked(req, names.session_token)
    ra = track_request_auth(state, cookies, names, into)
    if raw is None:
        if state.access_tokens is not None and "HTTP_AUTHORIZATION" in req.environ:
            found = _resolve_bearer(state, ra, req.environ["HTTP_AUTHORIZATION"])
            if ra.bearer:  # signed in by the token: cookies play no part (none is cleared)
                return found
        prefix = names.session_token
        ra.clear = any(k == prefix or k.startswith(prefix + ".") for k in cookies)
        return None
    if state.config.strategy == "database":
        return _resolve_stored(state, ra, raw, trigger, data)
    try:
        decoded = state.decoded(raw, names.session_token)
    except TokenError as error:
        logger.info("flask-sessionext: session cookie refused: %s", error)
        ra.clear = True
        return None
    if state.revocations is not None and revoked(state.revocations, decoded.claims):
        logger.info("flask-sessionext: session cookie refused: its sessions were revoked")
        ra.clear = True
        return None
    callbacks = state.callbacks
    if trigger is None and not (
        callbacks.custom_jwt or callbacks.custom_session or state.refreshable
    ):
        token: JWT = decoded.claims  # type: ignore[assignment]  # unchangeable: the cache's view
    else:
        changed = _run_jwt(state, decoded, ra, trigger, data)
        if changed is None:
            return None
        token = changed
    now = time.time()
    ra.reissue = ra.reissue or reissue or now - token.get("iat", 0) >= state.config.update_age
    if ra.reissue or decoded.session is None:
        exp = int(now) + state.config.max_age if ra.reissue else token.get("exp", now)
        session = default_session(token, exp)
    else:  # not reissued: the token is the one decoded (any change reissues), so is its session
        session = copied(decoded.session)
    ra.token, ra.user_id = token, token.get("sub")
    # ``_shown`` answers ``session`` itself without a callback; not calling it saves a call.
    return _shown(state, ra, session, token=token) if callbacks.custom_session else session


def jwt_session(state: AuthState, ra: RequestAuth, token: JWT, exp: float) -> Shown:
    """What the app sees of ``token`` (expiring at ``exp``), recorded on ``ra``."""
    ra.token, ra.user_id = token, token.get("sub")
    return _shown(state, ra, default_session(token, exp), token=token)


def stored_session(state: AuthState, ra: RequestAuth, raw: str) -> Shown:
    """What the app sees of the database session whose cookie value is ``raw``."""
    return _resolve_stored(state, ra, raw, None, None)


def _resolve_bearer(state: AuthState, ra: RequestAuth, header: str) -> Shown:
    """The token API: a session from a valid access token; a bad one raises (401)."""
    assert state.access_tokens is not None
    try:
        token = bearer_token(header)
        claims = state.access_tokens.decode(token) if token is not None else None
    except TokenError as error:
        raise BearerRejected(str(error)) from error
    if claims is None:
        return None
    if state.revocations is not None and revoked(state.revocations, claims):
        raise BearerRejected("the user's sessions were revoked")
    ra.bearer, ra.token, ra.user_id = True, cast(JWT, claims), str(claims["sub"])
    return _shown(state, ra, default_session(ra.token, claims["exp"]), token=claims)


def _resolve_stored(
    state: AuthState, ra: RequestAuth, raw: str, trigger: Trigger | None, data: Any
) -> Shown:
    """The database strategy: one lookup of the hashed token; expiry slides after update_age."""
    adapter = state.session_adapter
    token_hash = session_token_hash(raw)
    stored = adapter.get_session_and_user(token_hash)
    now = datetime.now(timezone.utc)
    if stored is not None and stored.expires <= now:
        adapter.delete_session(token_hash)
        stored = None
    found = user_id(stored.user) if stored is not None else None
    if stored is not None and found is None:
        logger.error(
            "flask-sessionext Configuration: the adapter's session user is %s; signed out",
            describe(stored.user),
        )
    if stored is None or found is None:
        ra.clear = True
        return None
    expires = stored.expires
    config = state.config
    if expires - timedelta(seconds=config.max_age - config.update_age) <= now:
        expires = now + timedelta(seconds=config.max_age)
        adapter.update_session(token_hash, expires)
        ra.reissue = True
    ra.opaque, ra.user_id = raw, found
    user = stored.user
    shown: SessionUser = {"name": user.get("name"), "email": user.get("email")}
    shown["image"] = user.get("image")
    session: Session = {"user": shown, "expires": iso_time(int(expires.timestamp()))}
    result = _shown(state, ra, session, user=user, trigger=trigger, new_session=data)
    if result is None:
        adapter.delete_session(token_hash)
    elif trigger == "update":
        send(session_updated, token=None, data=data)
    return result


def session_token_hash(raw: str) -> str:
    """What the sessions table stores for a session cookie: its SHA-256, in hex."""
    return sha256_hex(raw)


def _run_jwt(
    state: AuthState, decoded: Decoded, ra: RequestAuth, trigger: Trigger | None, data: Any
) -> JWT | None:
    """The token after provider-token refresh (when due) and the app's ``jwt`` callback.

    Works on a fresh copy of the cached claims that callbacks may change freely (a shallow
    one when every claim is a scalar, else a deep one), so nothing they do reaches the cache.
    """
    callbacks = state.callbacks
    claims = decoded.copy()
    if state.refreshable:
        claims = _refreshed_when_due(state, claims, ra)
    if trigger is None and not callbacks.custom_jwt:
        return cast(JWT, claims)
    token = callbacks.jwt.or_none(token=claims, trigger=trigger, session=data)
    if token is None:
        ra.clear = True
        return None
    ra.reissue = ra.reissue or trigger is not None or token != decoded.claims
    if trigger == "update":
        send(session_updated, token=token, data=data)
    return cast(JWT, token if token is claims else dict(token))


def _refreshed_when_due(
    state: AuthState, claims: dict[str, Any], ra: RequestAuth
) -> dict[str, Any]:
    """The claims with the provider's tokens refreshed when they are due (then reissued)."""
    provider_id = claims.get("provider")
    provider = state.refreshable.get(provider_id) if isinstance(provider_id, str) else None
    if provider is None or not due(claims, time.time()):
        return claims
    run = partial(provider.refresh_tokens, state.clients[provider.id])
    claims = refreshed(claims, run, state.refresher)
    ra.reissue = True
    return claims


def _shown(state: AuthState, ra: RequestAuth, session: Session, **context: Any) -> Shown:
    """What the app and browser see: the ``session`` callback's answer (``None``, or an
    exception in it, signs the user out)."""
    if not state.callbacks.custom_session:
        return session
    shown = state.callbacks.session.or_none(session=session, **context)
    if shown is None:
        ra.clear = True
    return shown
