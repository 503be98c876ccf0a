"""Refreshing provider access tokens kept in the session token, one refresh per token.

Refresh tokens are often single-use: two requests that both refresh with the same one would
lose the session. Within a process, concurrent requests wait for the one refresh in flight
and reuse its result for :data:`REUSE_SECONDS` (browsers send the old cookie until the new
one arrives). Across processes and hosts, a shared store (:class:`SharedRefresh`: Redis, or
the SQL adapter on PostgreSQL) runs the one refresh under a lock and keeps its result,
encrypted with ``AUTH_SECRET``, for the other processes.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol

from .errors import SessionExtError, StoreError
from .hashing import sha256_hex
from .jwt import Secret, decode, encode
from .responses import logger

#: Refresh this many seconds before the access token expires.
REFRESH_MARGIN = 60
#: How long a refresh result is reused for requests that still carry the old refresh token.
REUSE_SECONDS = 60
#: Results remembered at most.
MAX_REMEMBERED = 1024
#: What a shared refresh result is encrypted for (the JWE key derivation's salt).
RESULT_SALT = "flask-sessionext.refresh-result"


class SharedRefresh(Protocol):
    """A store every process of the app shares, where one refresh per token runs."""

    def refresh_once(self, key: str, run: Callable[[], str], ttl: int) -> str:
        """The value kept under ``key`` when another process refreshed already; else ``run()``
        under a lock on ``key`` that every process honours, kept for ``ttl`` seconds. Raises
        :class:`~.errors.StoreError` when the store fails before ``run`` has run."""


class Refresher:
    """Single-flight token refresh keyed by the refresh token (hashed): per process, and per
    deployment through ``shared``, whose stored results are encrypted with ``secrets``."""

    def __init__(self, shared: SharedRefresh | None = None, secrets: Secret = ()) -> None:
        self.shared = shared
        self._secrets = secrets
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[dict[str, Any]]] = {}
        self._done: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    def refresh(self, refresh_token: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Return new tokens for ``refresh_token``, calling ``run`` only once for it."""
        key = sha256_hex(refresh_token)
        with self._lock:
            done = self._done.get(key)
            if done is not None and time.monotonic() - done[0] < REUSE_SECONDS:
                return done[1]
            future = self._inflight.get(key)
            owner = future is None
            if future is None:
                future = self._inflight[key] = Future()
        if not owner:
            return future.result()
        try:
            result = self._once(key, run)
        except BaseException as error:
            future.set_exception(error)
            raise
        else:
            future.set_result(result)
            with self._lock:
                self._done[key] = (time.monotonic(), result)
                while len(self._done) > MAX_REMEMBERED:
                    self._done.popitem(last=False)
            return result
        finally:
            with self._lock:
                self._inflight.pop(key, None)

    def _once(self, key: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """``run()``, or through the shared store the result of the one process that ran it."""
        if self.shared is None:
            return run()
        sealed = self.shared.refresh_once(
            key,
            lambda: encode(run(), secret=self._secrets, salt=RESULT_SALT, max_age=REUSE_SECONDS),
            REUSE_SECONDS,
        )
        return dict(decode(sealed, secret=self._secrets, salt=RESULT_SALT))


def refreshed(
    token: dict[str, Any], run: Callable[[str], dict[str, Any]], refresher: Refresher
) -> dict[str, Any]:
    """``token`` with fresh provider tokens, or with ``error="RefreshTokenError"`` on failure.

    A store failure raises :class:`~.errors.StoreError` (503): nobody is signed out for it.
    """
    try:
        tokens = refresher.refresh(token["refresh_token"], lambda: run(token["refresh_token"]))
    except StoreError:
        raise
    except SessionExtError as error:  # the provider refused, failed, or is misconfigured
        logger.warning(
            "flask-sessionext: refreshing the %s access token failed: %s",
            token.get("provider"),
            error,
        )
        return {**token, "error": "RefreshTokenError"}
    # An answer without an expiry drops the old one, so it is not refreshed on every request.
    kept = {k: v for k, v in token.items() if k != "expires_at"}
    return {**kept, **provider_tokens(tokens, keep=token)}


def due(token: dict[str, Any], now: float) -> bool:
    """True when the token's provider access token expires within :data:`REFRESH_MARGIN`."""
    expires_at = token.get("expires_at")
    return (
        "error" not in token
        and isinstance(token.get("refresh_token"), str)
        and isinstance(expires_at, int | float)
        and expires_at - now < REFRESH_MARGIN
    )


def provider_tokens(tokens: dict[str, Any], keep: dict[str, Any] | None = None) -> dict[str, Any]:
    """The claims kept in the session token for refreshing: access token, expiry, refresh token.

    A provider that does not rotate refresh tokens keeps the one we had (``keep``).
    """
    claims = {"access_token": tokens["access_token"]}
    if tokens.get("expires_at") is not None:
        claims["expires_at"] = int(tokens["expires_at"])
    refresh_token = tokens.get("refresh_token") or (keep or {}).get("refresh_token")
    if refresh_token:
        claims["refresh_token"] = refresh_token
    return claims
