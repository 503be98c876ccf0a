"""The session cache on SQLite: a stamp in a file next to the database, new after each change.

SQLite serves the processes of one host, so they share a file: ``<database>-sessionext``
holds eight random bytes, mapped into each process's memory. A cached session answers only
while the stamp is the one read before its lookup; a write that changed a session or user
replaces the stamp once it commits, and every process reads the database on its next
lookup (no thread, no message: a memory read per request). An in-memory database has one
process, and its stamp lives there.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from ..errors import ConfigurationError
from .session_cache import Entry, LocalSessions, SessionCache

#: What follows the database's path in the stamp file's name.
SUFFIX = "-sessionext"
#: The stamp's size in bytes.
SIZE = 8
#: Where a flush's changed keys wait for its commit, per cache, in ``Session.info``.
PENDING = "flask_sessionext.stamped"


class StampedSessions(LocalSessions):
    """Cached sessions of a SQLite engine, current while the shared stamp is unchanged."""

    def __init__(self, engine: Engine, config: SessionCache) -> None:
        super().__init__(config)
        self._stamp: mmap.mmap | bytearray = _stamp_of(engine.url.database)
        if not event.contains(Session, "after_commit", _committed):
            event.listen(Session, "after_commit", _committed)

    def version(self) -> bytes:
        return bytes(self._stamp[:SIZE])

    def changed(self, keys: Iterable[str]) -> None:
        """A change committed: a new stamp, so every process reads the database again."""
        self._stamp[:SIZE] = os.urandom(SIZE)
        self.forget(keys)

    def flushed(self, session: Session, conn: Connection, keys: Iterable[str]) -> None:
        """An ORM flush changed ``keys``: the stamp changes when its transaction commits
        (before, another process could read and keep the old rows under the new stamp)."""
        session.info.setdefault(PENDING, {}).setdefault(self, set()).update(keys)

    def _current(self, entry: Entry) -> bool:
        return entry.version == self._stamp[:SIZE]

    def _keeps(self, version: object) -> bool:
        return version == self._stamp[:SIZE]


def _stamp_of(database: str | None) -> mmap.mmap | bytearray:
    """The shared stamp of the SQLite file ``database`` (``None`` or ``:memory:``: this
    process's own)."""
    if not database or database == ":memory:":
        return bytearray(os.urandom(SIZE))
    if database.startswith("file:"):
        raise ConfigurationError(
            "SessionCache on SQLite needs the database as a plain path (sqlite:///app.db), "
            f"not the URI {database.split('?')[0]!r}: its stamp file goes next to it."
        )
    path = os.path.abspath(database) + SUFFIX
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise ConfigurationError(
            f"SessionCache cannot open its stamp file {path} ({error.strerror}): the app's "
            "processes need to create and write it, next to the database."
        ) from error
    try:
        if os.fstat(fd).st_size < SIZE:
            os.pwrite(fd, os.urandom(SIZE), 0)
        return mmap.mmap(fd, SIZE)
    finally:
        os.close(fd)


def _committed(session: Session) -> None:
    """Every ORM commit: the caches whose rows its flushes changed get a new stamp. (A
    rolled-back flush's keys wait for the session's next commit: one stamp too many.)"""
    for cache, keys in session.info.pop(PENDING, {}).items():
        cache.changed(keys)
