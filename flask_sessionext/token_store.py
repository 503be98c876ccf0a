"""Refresh tokens of the token API: opaque, stored only as SHA-256, single use, in families.

Every login starts a family; each refresh spends one token and issues the next in the same
family. A token presented again after :data:`REUSE_GRACE` seconds is true reuse (a stolen
copy): the whole family is revoked, as OAuth 2.1 advises. Within the grace period a second
use (two tabs refreshing at once, a retried request) is refused without revoking anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from .errors import StoreError

#: Seconds after a refresh token's first use in which another use is a duplicate, not theft.
REUSE_GRACE = 10


@dataclass(frozen=True)
class RefreshRecord:
    """A stored refresh token: its family, the token claims it refreshes, its expiry."""

    family: str
    claims: dict[str, Any]
    expires: datetime


class RefreshTokenStore(Protocol):
    """Where refresh tokens live: the SQLAlchemy adapter's table, or :class:`RedisTokenStore`."""

    def save_refresh_token(
        self, token_hash: str, family: str, claims: Mapping[str, Any], expires: datetime
    ) -> None:
        """Store a new refresh token of ``family``."""

    def use_refresh_token(
        self, token_hash: str, now: datetime
    ) -> tuple[RefreshRecord, datetime | None] | None:
        """Mark the token used, atomically: the record and when it was first used before
        (``None`` if this is its first use); ``None`` for an unknown or revoked token."""

    def revoke_refresh_family(self, family: str) -> None:
        """Revoke every token of the family (reuse detected, or logout)."""


class RedisTokenStore:
    """Refresh tokens in Redis, for JWT-strategy apps that run many processes or hosts.

    ``RedisTokenStore(redis.Redis(...))``; keys expire with their tokens.
    """

    # Marks the token used and returns its fields with the previous use time, atomically.
    _USE = """
    local fields = redis.call('HGETALL', KEYS[1])
    if #fields == 0 then return nil end
    redis.call('HSETNX', KEYS[1], 'used_at', ARGV[1])
    return fields
    """

    def __init__(self, client: Any, *, prefix: str = "sessionext:rt:") -> None:
        from redis import RedisError  # the optional "redis" extra

        self._errors = RedisError
        self.client = client
        self.prefix = prefix
        self._use = client.register_script(self._USE)

    def _family_key(self, family: str) -> str:
        return f"{self.prefix}family:{family}"

    def save_refresh_token(
        self, token_hash: str, family: str, claims: Mapping[str, Any], expires: datetime
    ) -> None:
        key, ttl = self.prefix + token_hash, max(1, int(expires.timestamp() - _now()))
        try:
            with self.client.pipeline() as pipe:
                pipe.hset(
                    key,
                    mapping={
                        "family": family,
                        "claims": json.dumps(dict(claims)),
                        "expires": str(int(expires.timestamp())),
                    },
                )
                pipe.expire(key, ttl)
                pipe.sadd(self._family_key(family), token_hash)
                pipe.expire(self._family_key(family), ttl)
                pipe.execute()
        except self._errors as error:
            raise StoreError(f"redis: {type(error).__name__}") from error

    def use_refresh_token(
        self, token_hash: str, now: datetime
    ) -> tuple[RefreshRecord, datetime | None] | None:
        try:
            fields = self._use(keys=[self.prefix + token_hash], args=[str(now.timestamp())])
        except self._errors as error:
            raise StoreError(f"redis: {type(error).__name__}") from error
        if not fields:
            return None
        values = {_text(fields[i]): _text(fields[i + 1]) for i in range(0, len(fields), 2)}
        record = RefreshRecord(
            family=values["family"],
            claims=json.loads(values["claims"]),
            expires=datetime.fromtimestamp(int(values["expires"]), timezone.utc),
        )
        used = values.get("used_at")
        return record, datetime.fromtimestamp(float(used), timezone.utc) if used else None

    def revoke_refresh_family(self, family: str) -> None:
        try:
            members = self.client.smembers(self._family_key(family))
            keys = [self.prefix + _text(m) for m in members]
            self.client.delete(*keys, self._family_key(family))
        except self._errors as error:
            raise StoreError(f"redis: {type(error).__name__}") from error


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _now() -> float:
    return datetime.now(timezone.utc).timestamp()
