"""The ``shared_state`` table: short-lived values every process of an app shares.

A provider refresh's result (for the processes that did not run it) and a user's "sessions
revoked" time live here, each under a key, until ``expires``. ``flask auth cleanup`` deletes
expired rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, Table, Text, delete, func, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

#: How long a PostgreSQL transaction waits for another's refresh lock before giving up (503).
LOCK_TIMEOUT = "30s"


class SharedStateMixin:
    """Columns of the ``shared_state`` table: ``key``, ``value`` and ``expires``."""

    __tablename__ = "shared_state"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def read(conn: Connection, table: Table, key: str, now: datetime) -> str | None:
    """The value under ``key`` unless it expired."""
    found = conn.execute(
        select(table.c.value).where(table.c.key == key, table.c.expires > now)
    ).scalar_one_or_none()
    return str(found) if found is not None else None


def write(conn: Connection, table: Table, key: str, value: str, expires: datetime) -> None:
    """Set ``key`` in the caller's transaction (replacing what was there)."""
    conn.execute(delete(table).where(table.c.key == key))
    conn.execute(insert(table).values(key=key, value=value, expires=expires))


def lock(conn: Connection, key: str) -> None:
    """Take PostgreSQL's transaction-level advisory lock on ``key`` (a hex digest), waiting at
    most :data:`LOCK_TIMEOUT`. It is released at COMMIT or ROLLBACK, so it also holds behind
    PgBouncer in transaction mode."""
    conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    conn.execute(select(func.pg_advisory_xact_lock(int(key[:15], 16))))
