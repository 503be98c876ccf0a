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


@dataclass(frozen=True)
class RefreshRecord:
    """A stored refresh token: its family, the token claims it refreshes, its expiry."""

    family: str
    claims: dict[str, Any]
    expires: datetime


class RefreshTokenStore(Protocol):
    """Where refresh tokens live: the SQLAlchemy adapter's table, or :class:`RedisTokenStore`."""

    def save_refresh_token(
        self,
        token_hash: str,
        family: str,
        claims: Mapping[str, Any],
        expires: datetime,
        parent: str | None = None,
    ) -> bool:
        """Store a new refresh token of ``family``; with ``parent`` (the hash of the token it
        replaces) only while that one is still stored, so a revoke that raced a refresh wins.
        Returns whether it was stored."""

    def use_refresh_token(
        self, token_hash: str, now: datetime
    ) -> tuple[RefreshRecord, datetime | None] | None:
        """Mark the token used, atomically: the record and when it was first used before
        (``None`` if this is its first use); ``None`` for an unknown or revoked token."""

    def revoke_refresh_family(self, family: str) -> None:
        """Revoke every token of the family (reuse detected, or logout)."""


class RedisTokenStore:
    """Refresh tokens in Redis, for JWT-strategy apps that run many processes or hosts.

    ``RedisTokenStore(redis.Redis(...))``; keys expire with their tokens. Each operation is
    one Lua script, so it is atomic (on one Redis server; the scripts are not cluster-safe).
    """

    # Stores a token, unless its parent (the token it replaces) is gone: revoked meanwhile.
    _SAVE = """
    if ARGV[5] ~= '' and redis.call('EXISTS', ARGV[6] .. ARGV[5]) == 0 then return 0 end
    redis.call('HSET', KEYS[1], 'family', ARGV[1], 'claims', ARGV[2], 'expires', ARGV[3])
    redis.call('EXPIRE', KEYS[1], ARGV[4])
    redis.call('SADD', KEYS[2], ARGV[7])
    redis.call('EXPIRE', KEYS[2], ARGV[4])
    return 1
    """
    # Deletes every token of a family and the family's set, atomically.
    _REVOKE = """
    for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
        redis.call('DEL', ARGV[1] .. member)
    end
    return redis.call('DEL', KEYS[1])
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
        self._save = client.register_script(self._SAVE)
        self._revoke = client.register_script(self._REVOKE)

    def _family_key(self, family: str) -> str:
        return f"{self.prefix}family:{family}"

    def save_refresh_token(
        self,
        token_hash: str,
        family: str,
        claims: Mapping[str, Any],
        expires: datetime,
        parent: str | None = None,
    ) -> bool:
        ttl = max(1, int(expires.timestamp() - _now()))
        keys = [self.prefix + token_hash, self._family_key(family)]
        args = [family, json.dumps(dict(claims)), int(expires.timestamp()), ttl]
        try:
            saved = self._save(keys=keys, args=[*args, parent or "", self.prefix, token_hash])
        except self._errors as error:
            raise StoreError(f"redis: {type(error).__name__}") from error
        return bool(saved)

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
            self._revoke(keys=[self._family_key(family)], args=[self.prefix])
        except self._errors as error:
            raise StoreError(f"redis: {type(error).__name__}") from error


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _now() -> float:
    return datetime.now(timezone.utc).timestamp()
