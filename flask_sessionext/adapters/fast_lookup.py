"""The per-request session lookup on the pool's DBAPI connection: one round trip, little else.

For pysqlite and psycopg 3 the lookup is compiled once per engine to its SQL string and run on
the connection the pool hands out, without SQLAlchemy's ``Connection``, execution context and
``Row``; each column's result processor (computed once) turns the row into what SQLAlchemy
would return. psycopg runs it in autocommit (no BEGIN, no ROLLBACK) and prepares it only when
asked. Other drivers, and engines with execution events or options, keep SQLAlchemy's path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.pool import PoolProxiedConnection

from ..errors import StoreError

#: The dialects (name, driver) the fast path knows how to run on.
FAST_DRIVERS = {("sqlite", "pysqlite"), ("postgresql", "psycopg")}

Processor = Callable[[Any], Any]


def has_execution_events(engine: Engine) -> bool:
    """Whether a listener (query logging, tracing) watches ``engine``'s statements: then the
    lookup goes through SQLAlchemy, which calls it."""
    events = engine.dispatch
    return bool(
        events.before_execute
        or events.after_execute
        or events.before_cursor_execute
        or events.after_cursor_execute
    )


def fast_path_possible(engine: Engine) -> bool:
    """Whether ``engine`` can run the lookup on its DBAPI connection: a known driver, and no
    engine-wide execution options (e.g. ``schema_translate_map``) for SQLAlchemy to apply."""
    dialect = engine.dialect
    known = (dialect.name, dialect.driver) in FAST_DRIVERS
    return known and not engine.get_execution_options()


class FastLookup:
    """The lookup statement compiled for one engine's dialect, run on the pool's connection."""

    def __init__(self, dialect: Dialect, statement: Select[Any], bind: str, prepare: bool) -> None:
        compiled = statement.compile(dialect=dialect)
        self._dialect = dialect
        self._sql = str(compiled)
        self._positional = compiled.positional
        self._bind_name = bind
        bind_type = compiled.binds[bind].type.dialect_impl(dialect)
        self._bind: Processor | None = bind_type.bind_processor(dialect)
        self._keys = tuple(statement.selected_columns.keys())
        self._types = [column.type.dialect_impl(dialect) for column in statement.selected_columns]
        self._processors: list[tuple[str, Processor]] | None = None
        self._psycopg = dialect.driver == "psycopg"
        self._prepare = prepare
        self._error: type[Any] = dialect.loaded_dbapi.Error

    def fetch(self, engine: Engine, value: str) -> dict[str, Any] | None:
        """The row for ``value`` as a dict of column keys, processed; ``None`` if none.

        A DBAPI error raises :class:`StoreError`; the connection is then discarded, and on a
        disconnect the pool's other connections are replaced too.
        """
        try:
            raw = engine.raw_connection()
        except self._error as error:
            raise StoreError(f"get_session_and_user: {type(error).__name__}") from error
        try:
            cursor = self._run(raw.driver_connection, self._params(value))
            row = cursor.fetchone()
        except self._error as error:
            self._discard(engine, raw, error)
            raise StoreError(f"get_session_and_user: {type(error).__name__}") from error
        finally:
            raw.close()
        return None if row is None else self._user(cursor, row)

    def _params(self, value: str) -> Any:
        """The statement's parameters in the driver's style."""
        bound = self._bind(value) if self._bind is not None else value
        return (bound,) if self._positional else {self._bind_name: bound}

    def _run(self, driver: Any, params: Any) -> Any:
        """Execute on the driver connection; the cursor, its rows not yet fetched."""
        if not self._psycopg:
            return driver.execute(self._sql, params)
        if driver.autocommit:
            return self._psycopg_run(driver, params)
        # Autocommit for this one statement: no BEGIN now, nothing for the pool's
        # reset-on-return to roll back (psycopg sends no ROLLBACK on an idle connection).
        driver.autocommit = True
        try:
            return self._psycopg_run(driver, params)
        finally:
            if not driver.closed:
                driver.autocommit = False

    def _psycopg_run(self, driver: Any, params: Any) -> Any:
        """psycopg 3: prepared only with ``prepared_statements`` (``prepare=False`` also keeps
        psycopg's automatic preparing away from this statement)."""
        return driver.execute(self._sql, params, prepare=self._prepare)

    def _discard(self, engine: Engine, raw: PoolProxiedConnection, error: Any) -> None:
        """Invalidate ``raw`` after a DBAPI error. On a disconnect also replace the pool, as
        SQLAlchemy marks all older connections stale then: a restarted server dropped them."""
        disconnect = self._dialect.is_disconnect(error, raw.dbapi_connection, None)
        if raw.is_valid:
            raw.invalidate(error)
        if disconnect:
            engine.dispose()

    def _user(self, cursor: Any, row: Sequence[Any]) -> dict[str, Any]:
        """``row`` as a dict, each value through its column type's result processor."""
        found = dict(zip(self._keys, row, strict=True))
        processors = self._processors
        if processors is None:
            processors = self._processors_for(cursor.description)
        for key, process in processors:
            found[key] = process(found[key])
        return found

    def _processors_for(self, description: Sequence[Any]) -> list[tuple[str, Processor]]:
        """The columns that have a result processor, with it; computed on the first row (the
        driver's type codes come with the cursor, whose ``description`` psycopg builds anew
        on each access)."""
        found: list[tuple[str, Processor]] = []
        for key, type_, column in zip(self._keys, self._types, description, strict=True):
            process = type_.result_processor(self._dialect, column[1])
            if process is not None:
                found.append((key, process))
        self._processors = found
        return found
