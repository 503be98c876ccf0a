"""The end of every sign-in: the ``signIn`` and ``jwt`` callbacks, the cookie, the redirect."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, cast

from flask import request
from werkzeug.wrappers import Response

from ..adapters.protocol import Adapter
from ..cookies import read_chunked, write_chunked
from ..errors import AccessDenied, AuthError, ConfigurationError, SessionExtError
from ..identity import checked_user
from ..providers.base import Provider
from ..responses import go_to
from ..signals import send, signed_in
from ..state import AuthState, forget_request_session, write_session
from ..types import JWT, Account, Profile, User
from .accounts import email_user, oauth_user
from .session import session_token_hash

#: A flow's own way to store the user (passkeys): the stored user, and whether it is new.
StoreUser = Callable[[], tuple[Mapping[str, Any], bool]]


def complete_signin(
    state: AuthState,
    provider: Provider,
    user: Mapping[str, Any],
    account: Account,
    *,
    profile: Profile | None = None,
    credentials: dict[str, str] | None = None,
    next_url: object = None,
    token_claims: Mapping[str, Any] | None = None,
    verified_email: str | None = None,
    store: StoreUser | None = None,
) -> Response:
    """Sign ``user`` in: ``signIn``, linking, the session, the redirect.

    With an adapter, the user is the stored one (linked or created, see :mod:`.accounts`), or
    what ``store()`` returns with whether it is new, for a flow that stores it itself
    (passkeys); either runs once the ``signIn`` callback allowed the sign-in.
    ``token_claims`` are added to the default token before the ``jwt`` callback sees it
    (the provider tokens of a provider with ``refresh=True``); ``verified_email`` is the
    address an OAuth provider asserts as verified. A user without a valid id (from the
    provider or the adapter) is refused as ``Configuration``: no session, no cookie.
    """
    user = checked_user(user, f"provider {provider.id!r}")
    elsewhere = signin_redirect(
        state,
        user=cast(User, user),
        account=account,
        profile=profile,
        email={"verificationRequest": False} if account["type"] == "email" else None,
        credentials=credentials,
    )
    if elsewhere is not None:
        return go_to(elsewhere)
    started = start_session(
        state, user, account, provider, profile, token_claims, verified_email, store
    )
    response = go_to(state.next_url(next_url, request))
    names = state.cookie_names(request)
    if started.opaque is not None:
        max_age = state.config.max_age
        write_chunked(
            response,
            request.cookies,
            names.session_token,
            started.opaque,
            secure=names.secure,
            max_age=max_age,
        )
    elif started.token is not None:
        try:
            write_session(response, state, request.cookies, names, started.token)
        except (SessionExtError, TypeError, ValueError) as error:
            raise AuthError(f"session token not written: {error}") from error
    forget_request_session()
    started.announce(account)
    return response


@dataclass(frozen=True)
class Started:
    """A session just started: the stored user, and its token (JWT strategy) or opaque cookie
    value (database strategy)."""

    user: dict[str, Any]
    is_new_user: bool | None
    token: JWT | None
    opaque: str | None

    def announce(self, account: Account) -> None:
        """Send the ``signed_in`` signal."""
        user, token, is_new = dict(self.user), self.token, self.is_new_user
        send(signed_in, user=user, account=account, token=token, is_new_user=is_new)


def start_session(
    state: AuthState,
    user: dict[str, Any],
    account: Account,
    provider: Provider | None = None,
    profile: Profile | None = None,
    token_claims: Mapping[str, Any] | None = None,
    verified_email: str | None = None,
    store: StoreUser | None = None,
) -> Started:
    """After the ``signIn`` callback allowed it: link or look up the stored user, then run the
    ``jwt`` callback (JWT strategy) or create the session row (database strategy).
    ``provider`` is needed for OAuth accounts only (linking)."""
    adapter = state.ext.adapter
    is_new_user: bool | None = None
    if adapter is not None:
        if store is not None:
            stored, is_new_user = store()
        else:
            stored, is_new_user = _stored_user(
                state, adapter, provider, user, account, verified_email
            )
        user = checked_user(stored, "the adapter")
    if state.config.strategy == "database":
        raw = _new_stored_session(state, state.session_adapter, user["id"])
        return Started(user, is_new_user, None, raw)
    token = _run_signin_jwt(state, user, account, profile, is_new_user, token_claims)
    return Started(user, is_new_user, token, None)


def signin_redirect(state: AuthState, **arguments: Any) -> str | None:
    """Run the ``signIn`` callback: ``None`` to go on, or the URL it sends the user to instead.

    Raises :class:`~..errors.AccessDenied` when it refuses (``False``, an exception, anything
    but ``True`` or a URL).
    """
    allowed = state.callbacks.signin.or_none(**arguments)
    if isinstance(allowed, str) and allowed:
        return state.next_url(allowed, request)
    if allowed is not True:
        raise AccessDenied("signin_callback refused the sign-in")
    return None


def _stored_user(
    state: AuthState,
    adapter: Adapter,
    provider: Provider | None,
    user: Mapping[str, Any],
    account: Account,
    verified_email: str | None,
) -> tuple[Mapping[str, Any], bool | None]:
    """The adapter's user for this sign-in (credentials users must already be stored)."""
    if account["type"] == "email":
        return email_user(adapter, str(user["email"]))
    if account["type"] != "credentials":
        assert provider is not None, "an OAuth sign-in names its provider"
        return oauth_user(adapter, provider, user, account, verified_email)
    if state.config.strategy != "database":
        return user, None
    stored = adapter.get_user(str(user["id"]))
    if stored is None:
        raise ConfigurationError(
            f"authorize() returned user id {user['id']!r}, which is not in the adapter's users: "
            "with the database strategy, return a stored user."
        )
    return stored, None


def _new_stored_session(state: AuthState, adapter: Adapter, user_id: str) -> str:
    """Create a session row (its token hashed) and return the cookie value; end the session
    this browser had before."""
    previous = read_chunked(request.cookies, state.cookie_names(request).session_token)
    if previous:
        adapter.delete_session(session_token_hash(previous))
    raw = secrets.token_urlsafe(32)
    expires = datetime.now(timezone.utc) + timedelta(seconds=state.config.max_age)
    adapter.create_session(session_token_hash(raw), user_id, expires)
    return raw


def default_token(user: Mapping[str, Any]) -> dict[str, Any]:
    """Auth.js's token at sign-in: ``name``, ``email``, ``picture`` (when known) and ``sub``."""
    defaults = {"name": user.get("name"), "email": user.get("email"), "picture": user.get("image")}
    return {k: v for k, v in defaults.items() if v is not None} | {"sub": str(user["id"])}


def _run_signin_jwt(
    state: AuthState,
    user: Mapping[str, Any],
    account: Account,
    profile: Profile | None,
    is_new_user: bool | None,
    token_claims: Mapping[str, Any] | None,
) -> JWT:
    """The token at sign-in: Auth.js's defaults, then the app's ``jwt`` callback."""
    shaped = state.callbacks.jwt.or_none(
        token=default_token(user) | dict(token_claims or {}),
        user=dict(user),
        account=account,
        profile=profile,
        is_new_user=is_new_user,
        trigger="signUp" if is_new_user else "signIn",
    )
    if shaped is None:
        raise AccessDenied("jwt_callback refused")
    return cast(JWT, dict(shaped))
