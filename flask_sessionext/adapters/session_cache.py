"""An opt-in per-process cache of session lookups, evicted in every process by LISTEN/NOTIFY.

``SQLAlchemyAdapter(db, session_cache=SessionCache())`` keeps each session it looks up in the
process for at most ``ttl`` seconds. Whatever the adapter changes in a session or user row
(sign-out, ``revoke_sessions``, the sliding-expiry update, ``update_user``), and every ORM
flush that updates or deletes a user or session row, sends ``NOTIFY`` inside its transaction;
each process listens on a connection of its own and evicts on arrival (milliseconds after the
commit). While that connection is down, or has not answered its heartbeat for
``3 * heartbeat`` seconds, every lookup goes to the database and nothing is kept; after a gap
the cache starts empty. A write that sends no notification (raw SQL, another application) is
seen within ``ttl``.
"""

from __future__ import annotations

import copy
import os
import re
import threading
import time
import uuid
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, make_url, select
from sqlalchemy.engine import Connection, Engine

from ..errors import ConfigurationError
from ..logs import log_failure, logger
from .protocol import StoredSession

#: A ``NOTIFY`` channel: a plain lower-case SQL identifier, so it needs no quoting.
CHANNEL = re.compile(r"[a-z_][a-z0-9_]{0,62}")
#: Values a copy of the user dict may share with the cached one: they cannot be changed.
IMMUTABLE = (str, int, float, bool, bytes, datetime, type(None))
#: The longest wait between two attempts to connect the listener.
MAX_BACKOFF = 10.0
#: The listener's ``application_name`` (``pg_stat_activity`` shows it).
LISTENER = "flask-sessionext session cache"


class DeafListener(Exception):
    """The listener's own ``NOTIFY`` never came back: ``listen_url`` reaches PostgreSQL
    through a pooler in transaction mode (PgBouncer), where ``LISTEN`` hears nothing."""


@dataclass(frozen=True)
class SessionCache:
    """How the adapter caches session lookups (PostgreSQL with psycopg 3 only).

    ``ttl``: the longest a process serves a session without asking the database (the bound
    for writes that send no notification). ``size``: sessions kept per process.
    ``listen_url``: where the listener connects, when not the app's database URL (behind
    PgBouncer in transaction mode, which cannot ``LISTEN``: the server's own address).
    ``channel``: the ``NOTIFY`` channel. ``heartbeat``: seconds between liveness checks.
    """

    ttl: float = 30.0
    size: int = 10_000
    listen_url: str | None = None
    channel: str = "flask_sessionext"
    heartbeat: float = 1.0

    def __post_init__(self) -> None:
        if not self.ttl > 0 or not self.heartbeat > 0 or self.size < 1:
            raise ConfigurationError("SessionCache needs ttl > 0, heartbeat > 0 and size >= 1")
        if not CHANNEL.fullmatch(self.channel):
            raise ConfigurationError(
                f"SessionCache channel {self.channel!r} must be a lower-case SQL identifier"
            )

    def notify(self, conn: Connection, keys: Iterable[str]) -> None:
        """Send each eviction key on ``conn``, delivered when its transaction commits."""
        for key in keys:
            conn.execute(select(func.pg_notify(self.channel, key)))


def session_key(token_hash: str) -> str:
    """The eviction key of one session."""
    return f"s:{token_hash}"


def user_key(user_id: object) -> str:
    """The eviction key of every session of one user."""
    return f"u:{user_id}"


@dataclass(frozen=True, slots=True)
class _Entry:
    user: dict[str, Any]
    expires: datetime
    stored_at: float
    user_key: str
    deep: bool  # a value could be changed in place (a JSON column): copy it whole

    def session(self) -> StoredSession:
        user = copy.deepcopy(self.user) if self.deep else self.user.copy()
        return StoredSession(user=user, expires=self.expires)


def check_engine(engine: Engine) -> None:
    """Raise :class:`ConfigurationError` unless the cache can serve ``engine``'s database."""
    dialect = engine.dialect
    if (dialect.name, dialect.driver) != ("postgresql", "psycopg"):
        raise ConfigurationError(
            "SessionCache needs PostgreSQL through psycopg 3 (postgresql+psycopg://), whose "
            "LISTEN/NOTIFY evicts revoked sessions in every process; the app's database is "
            f"{dialect.name}+{dialect.driver}. Leave session_cache out."
        )


class LocalSessions:
    """One engine's cached sessions in this process, and the thread that keeps them current."""

    def __init__(self, engine: Engine, config: SessionCache) -> None:
        check_engine(engine)
        dialect = engine.dialect
        self.config = config
        url = make_url(config.listen_url) if config.listen_url else engine.url
        cargs, cparams = dialect.create_connect_args(url)
        self._connect_args = cargs, {**cparams, "application_name": LISTENER}
        self._engine = weakref.ref(engine)
        self._dialect = dialect
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self._live_until = 0.0  # monotonic; the cache answers only before it
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()
        _ALL.add(self)

    def get(self, token_hash: str) -> StoredSession | None:
        """The cached session, if the listener is live and the entry younger than ``ttl``."""
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        now = time.monotonic()
        if now >= self._live_until or now - entry.stored_at >= self.config.ttl:
            return None
        return entry.session()

    def generation(self) -> int | None:
        """Taken before a database read whose answer :meth:`put` may keep; ``None`` while the
        listener is not live (then nothing is kept). Starts the listener when none runs."""
        if self._listener is None:
            self._start()
        if time.monotonic() >= self._live_until:
            return None
        return self._generation

    def put(self, token_hash: str, stored: StoredSession, generation: int) -> None:
        """Keep ``stored`` unless an eviction came since ``generation`` was taken, or it could
        expire while kept (an expired session must be read, and deleted, from the database)."""
        ttl = self.config.ttl
        if stored.expires - datetime.now(timezone.utc) <= timedelta(seconds=ttl):
            return
        user = stored.user
        deep = not all(isinstance(value, IMMUTABLE) for value in user.values())
        entry = _Entry(
            user=copy.deepcopy(user) if deep else user.copy(),
            expires=stored.expires,
            stored_at=time.monotonic(),
            user_key=user_key(user.get("id")),
            deep=deep,
        )
        with self._lock:
            if generation != self._generation:
                return
            entries = self._entries
            if token_hash not in entries and len(entries) >= self.config.size:
                del entries[next(iter(entries))]  # the oldest
            entries[token_hash] = entry

    def evict(self, keys: Iterable[str]) -> None:
        """Forget the sessions ``keys`` name (:func:`session_key`, :func:`user_key`)."""
        with self._lock:
            self._generation += 1
            entries = self._entries
            for key in keys:
                kind, _, value = key.partition(":")
                if kind == "s":
                    entries.pop(value, None)
                elif kind == "u":
                    for token_hash in [h for h, e in entries.items() if e.user_key == key]:
                        del entries[token_hash]
                elif kind != "p":  # not a listener's ping nor ours: forget all, not guess
                    entries.clear()

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
            self.config.notify(conn, (payload,))

    def after_fork(self) -> None:
        """In a forked child: the parent's listener thread is gone, its entries unknown."""
        self._lock = threading.Lock()
        self._listener = None
        self._live_until = 0.0
        self._entries = {}


class _Gone(Exception):
    """The listener's cache was collected or stopped: the thread ends."""


def _alive(ref: weakref.ReferenceType[LocalSessions], stop: threading.Event) -> LocalSessions:
    cache = ref()
    if cache is None or stop.is_set():
        raise _Gone
    return cache


def _listen_and_hear(conn: Any, cache: LocalSessions) -> None:
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


def _listen(ref: weakref.ReferenceType[LocalSessions], stop: threading.Event) -> None:
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
                            _alive(ref, stop).evict((note.payload,))
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


_ALL: weakref.WeakSet[LocalSessions] = weakref.WeakSet()


def _after_fork() -> None:
    for cache in list(_ALL):
        cache.after_fork()


os.register_at_fork(after_in_child=_after_fork)
