"""Revocable JWT sessions (opt-in): a per-user "not before" time in a shared store.

With ``AUTH_JWT_REVOCATION = "token_store"`` (a :class:`~.token_store.RedisTokenStore`) or
``"adapter"`` (the SQLAlchemy adapter), ``auth.revoke_sessions(user_id)`` records the current
second for the user; every session token and bearer access token of that user issued in that
second or before then reads as signed out, on every host. That costs one store read per
request that carries a token; without the setting, nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol, cast

from .errors import ConfigurationError

#: The values ``AUTH_JWT_REVOCATION`` may take: which of ``AuthExt``'s stores keeps the times.
STORES = ("token_store", "adapter")


class SessionRevocations(Protocol):
    """A store every process shares, keeping when each user's sessions were last revoked."""

    def revoke_sessions_before(self, user_id: str, moment: int, keep: int) -> None:
        """Record that ``user_id``'s tokens issued at ``moment`` (Unix seconds) or earlier are
        revoked; keep it ``keep`` seconds (the longest a token lives)."""

    def sessions_revoked_before(self, user_id: str) -> int | None:
        """The last such ``moment`` for ``user_id``, if it is still kept."""


def revocation_store(
    setting: object, stores: Mapping[str, object], strategy: str
) -> SessionRevocations | None:
    """The store ``AUTH_JWT_REVOCATION`` names; :class:`ConfigurationError` if it cannot be."""
    if setting is None or setting is False:
        return None
    if setting not in STORES:
        raise ConfigurationError(
            f"AUTH_JWT_REVOCATION must be one of {', '.join(map(repr, STORES))} (the AuthExt "
            f"argument that keeps the revocation times), got {setting!r}."
        )
    if strategy != "jwt":
        raise ConfigurationError(
            "AUTH_JWT_REVOCATION is for the 'jwt' session strategy; with 'database' sessions "
            "auth.revoke_sessions() deletes the session rows."
        )
    store = stores.get(str(setting))
    if not hasattr(store, "sessions_revoked_before"):
        raise ConfigurationError(
            f"AUTH_JWT_REVOCATION = {setting!r} needs AuthExt({setting}=...) to be a shared "
            "store: SQLAlchemyAdapter(db) or RedisTokenStore(redis.Redis(...))."
        )
    return cast(SessionRevocations, store)


def revoked(store: SessionRevocations, claims: Mapping[str, Any]) -> bool:
    """Whether the token's user revoked their sessions since it was issued (one store read).

    Raises :class:`~.errors.StoreError` when the store fails: the request answers 503.
    """
    subject, issued = claims.get("sub"), claims.get("iat")
    if subject is None:
        return False
    before = store.sessions_revoked_before(str(subject))
    return before is not None and (not isinstance(issued, int | float) or issued <= before)


def now() -> int:
    """The current Unix second, the moment :meth:`revoke_sessions_before` records."""
    return int(time.time())
