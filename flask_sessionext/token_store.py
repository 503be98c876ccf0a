"""Refresh tokens of the token API: opaque, stored only as SHA-256, single use, in families.

Every login starts a family; each refresh spends one token and stores the next in the same
family, in one atomic step, so a store failure leaves the old token valid. A token presented
again after ``AUTH_TOKEN_REUSE_GRACE`` seconds is true reuse (a stolen copy): the whole family is
revoked, as OAuth 2.1 advises.

:class:`RedisTokenStore` also holds what every process of a deployment shares besides:
the lock and result of a provider token refresh (:class:`~.refresh.SharedRefresh`), and
when a user's JWT sessions were revoked (:class:`~.revocation.SessionRevocations`).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from .errors import ConfigurationError, StoreError
from .logs import logger

#: How long a provider refresh may hold its lock (the provider's HTTP timeout is 10 s).
LOCK_SECONDS = 30
#: How often a process waiting for another's refresh looks for its result, in seconds.
LOCK_POLL = 0.02


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
        """Store the first token of a new ``family`` (a login)."""

    def find_refresh_token(self, token_hash: str) -> tuple[RefreshRecord, datetime | None] | None:
        """The stored token and when it was spent (``None`` while unspent); ``None`` for an
        unknown or revoked token. Changes nothing."""

    def rotate_refresh_token(
        self,
        token_hash: str,
        new_hash: str,
        family: str,
        claims: Mapping[str, Any],
        expires: datetime,
        now: datetime,
    ) -> bool:
        """Spend the token and store its successor in ``family``, atomically: both or neither.
        ``False`` (nothing changed) when the token was already spent or revoked."""

    def revoke_refresh_family(self, family: str) -> None:
        """Revoke every token of the family (reuse detected, or logout)."""


class RedisTokenStore:
    """Refresh tokens in Redis, for JWT-strategy apps that run many processes or hosts.

    ``RedisTokenStore(redis.Redis(...))`` or ``RedisTokenStore(redis.cluster.RedisCluster(...))``;
    keys expire with their tokens. Each change is one Lua script, so it is atomic. Every key
    starts with the hash tag ``{prefix}``, so a script's keys share one cluster slot (and a
    store's keys one node of a Redis Cluster; give several apps different prefixes).
    """

    # Stores the first token of a family.
    _SAVE = """
    redis.call('HSET', KEYS[1], 'family', ARGV[1], 'claims', ARGV[2], 'expires', ARGV[3])
    redis.call('EXPIRE', KEYS[1], ARGV[4])
    redis.call('SADD', KEYS[2], ARGV[5])
    redis.call('EXPIRE', KEYS[2], ARGV[4])
    return 1
    """
    # Spends KEYS[1] and stores its successor KEYS[2] in the family KEYS[3], unless KEYS[1] is
    # gone (revoked) or spent. The spend is the last write: a script cut short by an error
    # leaves the old token valid.
    _ROTATE = """
    if redis.call('HGET', KEYS[1], 'family') ~= ARGV[1] then return 0 end
    if redis.call('HEXISTS', KEYS[1], 'used_at') == 1 then return 0 end
    redis.call('HSET', KEYS[2], 'family', ARGV[1], 'claims', ARGV[2], 'expires', ARGV[3])
    redis.call('EXPIRE', KEYS[2], ARGV[4])
    redis.call('SADD', KEYS[3], ARGV[5])
    redis.call('EXPIRE', KEYS[3], ARGV[4])
    redis.call('HSET', KEYS[1], 'used_at', ARGV[6])
    return 1
    """
    # Deletes every token of a family and the family's set, atomically (the tokens' keys are
    # the prefix, ARGV[1], and a member: the same hash tag, so the same slot).
    _REVOKE = """
    for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
        redis.call('DEL', ARGV[1] .. member)
    end
    return redis.call('DEL', KEYS[1])
    """

    # Deletes the lock KEYS[1] only while it is still ours (ARGV[1]): an expired lock that
    # another process took since is not released by the first holder.
    _UNLOCK = """
    if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
    return 0
    """

    def __init__(self, client: Any, *, prefix: str = "sessionext:rt:") -> None:
        from redis.exceptions import RedisClusterException, RedisError  # the "redis" extra

        if not prefix or "{" in prefix or "}" in prefix:
            raise ConfigurationError(
                f"RedisTokenStore prefix {prefix!r}: give a non-empty prefix without braces "
                "(the store wraps it in braces: a Redis Cluster hash tag)."
            )
        self._errors = (RedisError, RedisClusterException)
        self.client = client
        self.prefix = "{" + prefix + "}"
        self._save = client.register_script(self._SAVE)
        self._rotate = client.register_script(self._ROTATE)
        self._revoke = client.register_script(self._REVOKE)
        self._unlock = client.register_script(self._UNLOCK)

    def _family_key(self, family: str) -> str:
        return f"{self.prefix}family:{family}"

    def _call(self, command: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a Redis command or script; a Redis failure becomes :class:`StoreError`."""
        try:
            return command(*args, **kwargs)
        except self._errors as error:
            raise StoreError(f"redis: {type(error).__name__}") from error

    def save_refresh_token(
        self, token_hash: str, family: str, claims: Mapping[str, Any], expires: datetime
    ) -> None:
        keys = [self.prefix + token_hash, self._family_key(family)]
        self._call(self._save, keys=keys, args=[*_fields(family, claims, expires), token_hash])

    def find_refresh_token(self, token_hash: str) -> tuple[RefreshRecord, datetime | None] | None:
        fields = self._call(self.client.hgetall, self.prefix + token_hash)
        if not fields:
            return None
        values = {_text(k): _text(v) for k, v in fields.items()}
        record = RefreshRecord(
            family=values["family"],
            claims=json.loads(values["claims"]),
            expires=datetime.fromtimestamp(int(values["expires"]), timezone.utc),
        )
        used = values.get("used_at")
        return record, datetime.fromtimestamp(float(used), timezone.utc) if used else None

    def rotate_refresh_token(
        self,
        token_hash: str,
        new_hash: str,
        family: str,
        claims: Mapping[str, Any],
        expires: datetime,
        now: datetime,
    ) -> bool:
        keys = [self.prefix + token_hash, self.prefix + new_hash, self._family_key(family)]
        args = [*_fields(family, claims, expires), new_hash, str(now.timestamp())]
        return bool(self._call(self._rotate, keys=keys, args=args))

    def revoke_refresh_family(self, family: str) -> None:
        self._call(self._revoke, keys=[self._family_key(family)], args=[self.prefix])

    def refresh_once(self, key: str, run: Callable[[], str], ttl: int) -> str:
        """Provider refresh once per deployment: the process that takes the lock
        (``SET NX PX`` with a random token) runs ``run`` and keeps its result for ``ttl``
        seconds; the others wait for that result (see :class:`~.refresh.SharedRefresh`)."""
        done, lock = f"{self.prefix}refreshed:{key}", f"{self.prefix}refreshing:{key}"
        deadline = time.monotonic() + LOCK_SECONDS
        while True:
            found = self._call(self.client.get, done)
            if found is not None:
                return _text(found)
            owner = secrets.token_hex(16)
            if self._call(self.client.set, lock, owner, nx=True, px=LOCK_SECONDS * 1000):
                try:
                    found = self._call(self.client.get, done)  # finished before our lock?
                    return _text(found) if found is not None else self._keep(done, run(), ttl)
                finally:
                    with suppress(StoreError):  # the lock expires by itself
                        self._call(self._unlock, keys=[lock], args=[owner])
            if time.monotonic() > deadline:
                raise StoreError(f"redis: a provider refresh held its lock over {LOCK_SECONDS} s")
            time.sleep(LOCK_POLL)

    def revoke_sessions_before(self, user_id: str, moment: int, keep: int) -> None:
        """``AUTH_JWT_REVOCATION``: see :class:`~.revocation.SessionRevocations`."""
        self._call(self.client.set, f"{self.prefix}revoked:{user_id}", moment, ex=keep)

    def sessions_revoked_before(self, user_id: str) -> int | None:
        """``AUTH_JWT_REVOCATION``: see :class:`~.revocation.SessionRevocations`."""
        found = self._call(self.client.get, f"{self.prefix}revoked:{user_id}")
        return int(found) if found is not None else None

    def _keep(self, key: str, value: str, ttl: int) -> str:
        """Keep ``value`` for the other processes; if Redis fails now, this process still has
        it (the provider already spent the old refresh token)."""
        try:
            self._call(self.client.set, key, value, ex=ttl)
        except StoreError as error:
            logger.warning("flask-sessionext: a refresh result was not shared: %s", error)
        return value


def _fields(family: str, claims: Mapping[str, Any], expires: datetime) -> list[Any]:
    """A token's stored fields and its time to live: family, claims, expiry, seconds left."""
    ttl = max(1, int(expires.timestamp() - _now()))
    return [family, json.dumps(dict(claims)), int(expires.timestamp()), ttl]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _now() -> float:
    return datetime.now(timezone.utc).timestamp()
