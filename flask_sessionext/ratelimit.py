"""Per-app rate limits of the auth flows, counted by the ``limits`` library.

Each action (``signin``, ``signin_failed``, ``email``, ...) has limits per client address
(``request.remote_addr``) and, where the request names an account, per key (a keyed hash of the
normalised account name, so the storage holds no addresses). A storage that fails lets requests
through: a warning is logged when the outage starts and when it ends.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

from flask import request
from limits.errors import ConfigurationError as LimitsConfigurationError
from limits.errors import StorageError
from limits.storage import MovingWindowSupport, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter, RateLimiter

from .config import Limit, RateLimitConfig, SharedLimiter, shared_limiter
from .errors import ConfigurationError, TooManyRequests
from .logs import logger
from .signals import rate_limited, send


class RateLimits:
    """The limits of one app: ``hit`` counts a request, ``check`` only looks, ``count`` never
    refuses; ``hit`` and ``check`` raise :class:`~.errors.TooManyRequests` when over a limit."""

    def __init__(self, config: RateLimitConfig | None, secret: str) -> None:
        self._secret = secret.encode()
        self._source = config.storage if config else "memory://"
        self._shared = shared_limiter(self._source)
        self._strategy: RateLimiter | None = None
        self._down = False
        self._lock = threading.Lock()
        self.limits = dict(config.limits) if config else {}
        if self._shared is not None:
            if not self._shared.enabled:
                self.limits = {}  # the app turned its Flask-Limiter off: these go with it
            elif not _initialised(self._shared):
                raise ConfigurationError(
                    "AUTH_RATE_LIMIT_STORAGE is a Flask-Limiter Limiter that is not initialised; "
                    "call limiter.init_app(app) before auth.init_app(app)."
                )
        elif self.limits:
            try:
                self._strategy = self._connect()
            except ConfigurationError:
                raise
            except Exception as error:  # e.g. a Redis Cluster unreachable at start: retried
                self._outage(error)

    def hit(self, action: str, key: str | None = None) -> None:
        """Count one request of ``action`` (for the client and ``key``); refuse when over."""
        self._apply(action, key, _hit)

    def check(self, action: str, key: str | None = None) -> None:
        """Refuse when one more request of ``action`` would be over a limit; count nothing."""
        self._apply(action, key, _test)

    def count(self, action: str, key: str | None = None) -> None:
        """Count one request of ``action`` without refusing it (a failed sign-in, after it)."""
        self._apply(action, key, _count)

    def _apply(self, action: str, key: str | None, step: Step) -> None:
        for limit, ids in self._bound(action, key):
            wait = self._refusal(step, limit, ids)
            if wait is None:
                continue
            scope = "key" if limit.per_key else "client"
            logger.info(
                "flask-sessionext: the %r rate limit %s per %s tripped", action, limit.item, scope
            )
            send(
                rate_limited,
                action=action,
                scope=scope,
                limit=str(limit.item),
                retry_after=wait,
                address=request.remote_addr,
                key=key if limit.per_key else None,
            )
            raise TooManyRequests(action, wait)

    def _bound(self, action: str, key: str | None) -> Iterator[tuple[Limit, tuple[str, ...]]]:
        """Each limit of ``action`` with the identifiers of this request's counter."""
        for limit in self.limits.get(action, ()):
            if not limit.per_key:
                yield limit, ("sessionext", action, "client", request.remote_addr or "")
            elif key:
                digest = hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()
                yield limit, ("sessionext", action, "key", digest[:32])

    def _refusal(self, step: Step, limit: Limit, ids: tuple[str, ...]) -> int | None:
        """Seconds to wait if ``step`` refuses; ``None`` if it allows or the storage fails."""
        try:
            strategy = self._current()
            outage = _outage_errors(strategy.storage)
        except ConfigurationError:
            raise
        except Exception as error:  # the storage could not even be reached to be built
            self._outage(error)
            return None
        try:
            wait = None if step(strategy, limit, ids) else _wait(strategy, limit, ids)
        except outage as error:
            self._outage(error)
            return None
        if self._down:
            self._down = False
            logger.warning("flask-sessionext: the rate limit storage works again")
        return wait

    def _current(self) -> RateLimiter:
        if self._shared is not None:
            return self._shared.limiter  # Flask-Limiter's own, or its in-memory fallback
        with self._lock:
            if self._strategy is None:
                self._strategy = self._connect()
            return self._strategy

    def _connect(self) -> RateLimiter:
        """The strategy over the configured storage: a moving window where the storage has one."""
        source = self._source
        if isinstance(source, Storage):
            storage = source
        else:
            scheme = urlsplit(str(source)).scheme
            try:
                built = storage_from_string(str(source), wrap_exceptions=True)
            except LimitsConfigurationError:
                raise ConfigurationError(
                    f"AUTH_RATE_LIMIT_STORAGE: limits has no {scheme}:// storage, or its client "
                    "package is missing (redis:// needs `pip install redis`)."
                ) from None
            if not isinstance(built, Storage):
                raise ConfigurationError(
                    f"AUTH_RATE_LIMIT_STORAGE: {scheme}:// is an asyncio storage; "
                    "use the scheme without 'async+'."
                )
            storage = built
        if isinstance(storage, MovingWindowSupport):
            return MovingWindowRateLimiter(storage)
        return FixedWindowRateLimiter(storage)

    def _outage(self, error: BaseException) -> None:
        """Log the first failure of an outage; later ones until it ends stay quiet."""
        if not self._down:
            self._down = True
            logger.warning(
                "flask-sessionext: the rate limit storage failed (%s: %s); requests pass "
                "unlimited until it works again",
                type(error).__name__,
                error,
            )


Step = Callable[[RateLimiter, Limit, tuple[str, ...]], bool]


def _hit(strategy: RateLimiter, limit: Limit, ids: tuple[str, ...]) -> bool:
    return strategy.hit(limit.item, *ids)


def _test(strategy: RateLimiter, limit: Limit, ids: tuple[str, ...]) -> bool:
    return strategy.test(limit.item, *ids)


def _count(strategy: RateLimiter, limit: Limit, ids: tuple[str, ...]) -> bool:
    strategy.hit(limit.item, *ids)
    return True


def _wait(strategy: RateLimiter, limit: Limit, ids: tuple[str, ...]) -> int:
    """Whole seconds until ``limit`` lets one more request through (at least 1)."""
    reset = strategy.get_window_stats(limit.item, *ids).reset_time
    return max(1, math.ceil(reset - time.time()))


def _outage_errors(storage: object) -> tuple[type[BaseException], ...]:
    """What a storage raises when it is unreachable: limits' wrapper or the client's own."""
    base = storage.base_exceptions if isinstance(storage, Storage) else ()
    return (StorageError, *(base if isinstance(base, tuple) else (base,)))


def _initialised(limiter: SharedLimiter) -> bool:
    try:
        return limiter.limiter is not None
    except AssertionError:  # Flask-Limiter asserts it has a strategy
        return False
