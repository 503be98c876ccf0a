"""An opt-in per-process cache of session lookups that every process hears revoked.

``SQLAlchemyAdapter(db, session_cache=SessionCache())`` keeps each session it looks up in the
process for at most ``ttl`` seconds. Whatever changes a session or user row (sign-out,
``revoke_sessions``, the sliding-expiry update, ``update_user``, an ORM flush that updates or
deletes a user or session) reaches every process's cache: on PostgreSQL by ``NOTIFY`` inside
its transaction (:mod:`.notify_listener`), on SQLite by a new stamp in a file next to the
database once it commits (:mod:`.stamp_file`). A write that does neither (raw SQL, another
application) is seen within ``ttl``. This module holds what both share.
"""

from __future__ import annotations

import copy
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from ..errors import ConfigurationError
from .protocol import StoredSession

#: A ``NOTIFY`` channel: a plain lower-case SQL identifier, so it needs no quoting.
CHANNEL = re.compile(r"[a-z_][a-z0-9_]{0,62}")
#: Values a copy of the user dict may share with the cached one: they cannot be changed.
IMMUTABLE = (str, int, float, bool, bytes, datetime, type(None))
#: The databases (name, driver) the cache can serve.
SERVED = {("postgresql", "psycopg"), ("sqlite", "pysqlite")}


@dataclass(frozen=True)
class SessionCache:
    """How the adapter caches session lookups (PostgreSQL with psycopg 3, or SQLite).

    ``ttl``: the longest a process serves a session without asking the database (the bound
    for writes that tell nobody). ``size``: sessions kept per process. PostgreSQL only:
    ``listen_url``, where the listener connects when not the app's database URL (behind
    PgBouncer in transaction mode, which cannot ``LISTEN``: the server's own address);
    ``channel``, the ``NOTIFY`` channel; ``heartbeat``, seconds between liveness checks.
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


def check_engine(engine: Engine) -> None:
    """Raise :class:`ConfigurationError` unless the cache can serve ``engine``'s database."""
    dialect = engine.dialect
    if (dialect.name, dialect.driver) not in SERVED:
        raise ConfigurationError(
            "SessionCache needs PostgreSQL through psycopg 3 (postgresql+psycopg://), whose "
            "LISTEN/NOTIFY tells every process of a revoked session, or SQLite (one host); "
            f"the app's database is {dialect.name}+{dialect.driver}. Leave session_cache out."
        )


def session_key(token_hash: str) -> str:
    """The eviction key of one session."""
    return f"s:{token_hash}"


def user_key(user_id: object) -> str:
    """The eviction key of every session of one user."""
    return f"u:{user_id}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One cached session, and when and from which version it was read."""

    user: dict[str, Any]
    expires: datetime
    stored_at: float
    user_key: str
    version: object  # what :meth:`LocalSessions.version` was before the database read
    deep: bool  # a value could be changed in place (a JSON column): copy it whole

    def session(self) -> StoredSession:
        user = copy.deepcopy(self.user) if self.deep else self.user.copy()
        return StoredSession(user=user, expires=self.expires)


class LocalSessions(ABC):
    """One engine's cached sessions in this process; subclasses hear of changes."""

    def __init__(self, config: SessionCache) -> None:
        self.config = config
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> StoredSession | None:
        """The cached session, if it is younger than ``ttl`` and still current."""
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if time.monotonic() - entry.stored_at >= self.config.ttl or not self._current(entry):
            return None
        return entry.session()

    @abstractmethod
    def version(self) -> object | None:
        """Taken before a database read whose answer :meth:`put` may keep; ``None`` when
        nothing may be kept now."""

    def put(self, token_hash: str, stored: StoredSession, version: object) -> None:
        """Keep ``stored`` unless a change came since ``version`` was taken, or it could
        expire while kept (an expired session must be read, and deleted, from the database)."""
        ttl = self.config.ttl
        if stored.expires - datetime.now(timezone.utc) <= timedelta(seconds=ttl):
            return
        user = stored.user
        deep = not all(isinstance(value, IMMUTABLE) for value in user.values())
        entry = Entry(
            user=copy.deepcopy(user) if deep else user.copy(),
            expires=stored.expires,
            stored_at=time.monotonic(),
            user_key=user_key(user.get("id")),
            version=version,
            deep=deep,
        )
        with self._lock:
            if not self._keeps(version):
                return
            entries = self._entries
            if token_hash not in entries and len(entries) >= self.config.size:
                del entries[next(iter(entries))]  # the oldest
            entries[token_hash] = entry

    def forget(self, keys: Iterable[str]) -> None:
        """Forget the sessions ``keys`` name (:func:`session_key`, :func:`user_key`) here."""
        with self._lock:
            self._forgotten()
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

    def forget_all(self) -> None:
        """Forget every session here (reads in flight are not kept either)."""
        with self._lock:
            self._forgotten()
            self._entries.clear()

    def notify(self, conn: Connection, keys: Iterable[str]) -> None:
        """A write that changes ``keys`` runs on ``conn``, in its transaction: tell the other
        processes, when this database can do it as part of the transaction (by default it
        cannot: :meth:`changed` tells them)."""
        return None

    def changed(self, keys: Iterable[str]) -> None:
        """A write that changed ``keys`` committed: this process forgets them; where
        :meth:`notify` could not, the other processes are told now."""
        self.forget(keys)

    def flushed(self, session: Session, conn: Connection, keys: Iterable[str]) -> None:
        """An ORM flush on ``conn`` updated or deleted rows that ``keys`` name."""
        self.notify(conn, keys)
        self.changed(keys)

    def stop(self) -> None:
        """The engine was disposed: forget everything."""
        self.forget_all()

    @abstractmethod
    def _current(self, entry: Entry) -> bool:
        """Whether ``entry`` may be answered now (beyond its age)."""

    @abstractmethod
    def _keeps(self, version: object) -> bool:
        """Whether an answer read after taking ``version`` may be kept (under the lock)."""

    def _forgotten(self) -> None:
        """Something was forgotten (under the lock): reads still in flight must not be kept
        (by default their :meth:`version` already tells)."""
        return None
