"""The session cache on PostgreSQL: ``NOTIFY`` in each write's transaction, a listener per
process that forgets on arrival.

Each process listens on a connection of its own, outside the pool, and forgets a session (or
every session of a user) milliseconds after the commit. The listener proves itself when it
connects (a ping sent the way the app's writes send theirs must arrive) and then every
``heartbeat`` seconds. While it is down, or silent for ``3 * heartbeat`` seconds, the cache
answers nothing and keeps nothing; after a gap it starts empty.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
import weakref
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, make_url, select
from sqlalchemy.engine import Connection, Engine

from ..logs import log_failure, logger
from .session_cache import Entry, LocalSessions, SessionCache

#: The longest wait between two attempts to connect the listener.
MAX_BACKOFF = 10.0
#: The listener's ``application_name`` (``pg_stat_activity`` shows it).
LISTENER = "flask-sessionext session cache"


class DeafListener(Exception):
    """The listener's ping never came back: ``listen_url`` reaches PostgreSQL through a
    pooler in transaction mode (PgBouncer), where ``LISTEN`` hears nothing."""


class NotifiedSessions(LocalSessions):
    """Cached sessions of a PostgreSQL engine, and the thread that keeps them current."""

    def __init__(self, engine: Engine, config: SessionCache) -> None:
        super().__init__(config)
        dialect = engine.dialect
        url = make_url(config.listen_url) if config.listen_url else engine.url
        cargs, cparams = dialect.create_connect_args(url)
        self._connect_args = cargs, {**cparams, "application_name": LISTENER}
        self._engine = weakref.ref(engine)
        self._dialect = dialect
        self._generation = 0
        self._live_until = 0.0  # monotonic; the cache answers only before it
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()
        _ALL.add(self)

    def version(self) -> int | None:
        """The eviction count; ``None`` while the listener is not live. Starts the listener
        when none runs."""
        if self._listener is None:
            self._start()
        if time.monotonic() >= self._live_until:
            return None
        return self._generation

    def notify(self, conn: Connection, keys: Iterable[str]) -> None:
        """``NOTIFY`` each key on ``conn``: delivered to every listener when it commits."""
        for key in keys:
            conn.execute(select(func.pg_notify(self.config.channel, key)))

    def stop(self) -> None:
        """Forget everything and stop listening (the engine was disposed); the next lookup
        starts a new listener."""
        self._stop.set()
        self._listener = None
        self.mark_offline()

    def mark_offline(self) -> None:
        """The listener failed: answer nothing from the cache, and forget it."""
        with self._lock:
            self._live_until = 0.0
            self._generation += 1
            self._entries.clear()

    def mark_live(self, stop: threading.Event, fresh: bool) -> bool:
        """The listener of ``stop`` is live: answer from the cache for ``3 * heartbeat`` more
        seconds. On a new connection, or after a gap (notifications may have been missed),
        start empty. ``False`` once that listener was stopped."""
        now = time.monotonic()
        with self._lock:
            if stop.is_set():
                return False
            if fresh or now >= self._live_until:
                self._generation += 1
                self._entries.clear()
            self._live_until = now + 3 * self.config.heartbeat
        return True

    def connect(self) -> Any:
        """A new psycopg connection for the listener, in autocommit."""
        cargs, cparams = self._connect_args
        conn = self._dialect.loaded_dbapi.connect(*cargs, **cparams)
        conn.autocommit = True
        return conn

    def ping(self, payload: str) -> None:
        """Send ``payload`` the way the app's writes notify: through the app's engine."""
        engine = self._engine()
        if engine is None:
            raise _Gone
        with engine.begin() as conn:
            self.notify(conn, (payload,))

    def after_fork(self) -> None:
        """In a forked child: the parent's listener thread is gone, its entries unknown."""
        self._lock = threading.Lock()
        self._listener = None
        self._live_until = 0.0
        self._entries = {}

    def _current(self, entry: Entry) -> bool:
        return time.monotonic() < self._live_until

    def _keeps(self, version: object) -> bool:
        return version == self._generation

    def _forgotten(self) -> None:
        self._generation += 1

    def _start(self) -> None:
        with self._lock:
            if self._listener is not None:
                return
            self._stop = threading.Event()
            self._listener = threading.Thread(
                target=_listen,
                args=(weakref.ref(self), self._stop),
                name="flask-sessionext session cache",
                daemon=True,
            )
            self._listener.start()


class _Gone(Exception):
    """The listener's cache was collected or stopped: the thread ends."""


def _alive(ref: weakref.ReferenceType[NotifiedSessions], stop: threading.Event) -> NotifiedSessions:
    cache = ref()
    if cache is None or stop.is_set():
        raise _Gone
    return cache


def _listen_and_hear(conn: Any, cache: NotifiedSessions) -> None:
    """``LISTEN``, then prove it: a ping sent as the app's writes send theirs must arrive
    (behind a pooler in transaction mode it never does)."""
    config = cache.config
    conn.execute(f"LISTEN {config.channel}")
    ping = f"p:{uuid.uuid4()}"
    cache.ping(ping)
    for note in conn.notifies(timeout=3 * config.heartbeat):
        if note.payload == ping:
            return
    raise DeafListener("LISTEN hears nothing: is listen_url a pooler in transaction mode?")


def _listen(ref: weakref.ReferenceType[NotifiedSessions], stop: threading.Event) -> None:
    """The listener thread: LISTEN, evict on each notification, heartbeat; after a failure,
    offline and reconnect with a growing pause. Holds its cache only weakly: it ends when the
    cache is collected or stopped."""
    backoff = 0.5
    try:
        config = _alive(ref, stop).config
        while True:
            try:
                with _alive(ref, stop).connect() as conn:
                    _listen_and_hear(conn, _alive(ref, stop))
                    fresh = True
                    while _alive(ref, stop).mark_live(stop, fresh):
                        fresh, backoff = False, 0.5
                        for note in conn.notifies(timeout=config.heartbeat):
                            _alive(ref, stop).forget((note.payload,))
                        conn.execute("SELECT 1")
            except _Gone:
                raise
            except Exception as error:  # any failure: offline, then reconnect
                _alive(ref, stop).mark_offline()
                log_failure(
                    "flask-sessionext: the session cache's listener failed (%s); sessions "
                    "are read from the database until it reconnects",
                    type(error).__name__,
                    error=error,
                )
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
    except _Gone:
        logger.debug("flask-sessionext: the session cache's listener stopped")


_ALL: weakref.WeakSet[NotifiedSessions] = weakref.WeakSet()


def _after_fork() -> None:
    for cache in list(_ALL):
        cache.after_fork()


os.register_at_fork(after_in_child=_after_fork)
