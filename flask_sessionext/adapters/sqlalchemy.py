"""The adapter for Flask-SQLAlchemy: Auth.js's schema as typed SQLAlchemy 2 models.

The models join the app's ``db.Model`` metadata, so ``db.create_all()`` and Alembic see them.
To add columns, subclass a mixin and pass the model::

    class User(UserMixin, db.Model):
        role: Mapped[str] = mapped_column(default="user")

    adapter = SQLAlchemyAdapter(db, user_model=User)

Each method runs in its own transaction on its own connection, apart from ``db.session``:
the adapter never commits the app's pending changes. psycopg 3 prepares none of the
adapter's statements unless ``prepared_statements=True``, so it runs behind PgBouncer in
transaction pooling mode.
"""

from __future__ import annotations

import json
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    delete,
    event,
    exists,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column, object_session

from ..errors import StoreConflict, StoreError
from ..identity import normalize_email
from ..logs import logger
from ..token_store import RefreshRecord
from . import shared_state
from .fast_lookup import FastLookup, fast_path_possible, has_execution_events
from .notify_listener import NotifiedSessions
from .protocol import StoredAuthenticator, StoredSession, email_column
from .session_cache import SERVED, LocalSessions, SessionCache, check_engine, session_key, user_key
from .shared_state import SharedStateMixin
from .stamp_file import StampedSessions

P = ParamSpec("P")
R = TypeVar("R")


def _new_id() -> str:
    return str(uuid.uuid4())


def _store(method: Callable[P, R]) -> Callable[P, R]:
    """Report database failures as :class:`StoreError` (a lost unique race as ``StoreConflict``)."""

    @wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except IntegrityError as error:
            raise StoreConflict(f"{method.__name__}: {type(error.orig).__name__}") from error
        except SQLAlchemyError as error:
            raise StoreError(f"{method.__name__}: {type(error).__name__}") from error

    return wrapper


class UserMixin:
    """Columns of the ``users`` table."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=_new_id)
    name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    email_verified: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    image: Mapped[str | None] = mapped_column(Text)


class AccountMixin:
    """Columns of the ``accounts`` table: one row per provider account linked to a user."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("provider", "provider_account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    provider: Mapped[str] = mapped_column(String(64))
    provider_account_id: Mapped[str] = mapped_column(String(255))
    refresh_token: Mapped[str | None] = mapped_column(Text)
    access_token: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[int | None] = mapped_column(Integer)
    token_type: Mapped[str | None] = mapped_column(String(64))
    scope: Mapped[str | None] = mapped_column(Text)
    id_token: Mapped[str | None] = mapped_column(Text)
    session_state: Mapped[str | None] = mapped_column(Text)


class SessionMixin:
    """Columns of the ``sessions`` table; ``session_token`` holds the SHA-256 of the token."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_token: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VerificationTokenMixin:
    """Columns of the ``verification_tokens`` table; ``token`` holds a keyed hash."""

    __tablename__ = "verification_tokens"

    identifier: Mapped[str] = mapped_column(String(320), primary_key=True)
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RefreshTokenMixin:
    """Columns of the ``refresh_tokens`` table (token API); ``token_hash`` is a SHA-256."""

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family: Mapped[str] = mapped_column(String(64), index=True)
    claims: Mapped[str] = mapped_column(Text)
    expires: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


#: A passkey's base64url credential ID (up to 1023 bytes). On MySQL/MariaDB in ASCII with a
#: binary collation: utf8mb4 would exceed the 3072-byte key limit and compare case-blind.
CREDENTIAL_ID = String(1366).with_variant(
    mysql.VARCHAR(1366, charset="ascii", collation="ascii_bin"), "mysql", "mariadb"
)


class AuthenticatorMixin:
    """Columns of the ``authenticators`` table: one row per passkey (Auth.js's
    ``Authenticator``); ``transports`` is comma-separated, as in Auth.js."""

    __tablename__ = "authenticators"

    credential_id: Mapped[str] = mapped_column(CREDENTIAL_ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_public_key: Mapped[bytes] = mapped_column(LargeBinary)
    counter: Mapped[int] = mapped_column(BigInteger)
    credential_device_type: Mapped[str] = mapped_column(String(32))
    credential_backed_up: Mapped[bool] = mapped_column(Boolean)
    transports: Mapped[str | None] = mapped_column(String(255))


ACCOUNT_FIELDS = {
    "type": "type",
    "provider": "provider",
    "providerAccountId": "provider_account_id",
    "refresh_token": "refresh_token",
    "access_token": "access_token",
    "expires_at": "expires_at",
    "token_type": "token_type",
    "scope": "scope",
    "id_token": "id_token",
    "session_state": "session_state",
}


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (SQLite gives naive ones back)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


class SQLAlchemyAdapter:
    """Users, accounts, sessions and verification tokens in the app's Flask-SQLAlchemy ``db``.

    Models default to plain ones built on ``db.Model``; pass your subclasses of the mixins to
    add columns. Extra user columns reach the ``session_callback`` in ``user``.
    """

    def __init__(
        self,
        db: SQLAlchemy,
        *,
        user_model: type[Any] | None = None,
        account_model: type[Any] | None = None,
        session_model: type[Any] | None = None,
        verification_token_model: type[Any] | None = None,
        refresh_token_model: type[Any] | None = None,
        shared_state_model: type[Any] | None = None,
        prepared_statements: bool = False,
        authenticator_model: type[Any] | None = None,
        session_cache: SessionCache | None = None,
    ) -> None:
        self.db = db
        self.prepared_statements = prepared_statements
        self.session_cache = session_cache
        model = db.Model
        self.User: type[Any] = user_model or type(
            "User", (UserMixin, model), {"__module__": __name__}
        )
        self.Account: type[Any] = account_model or type(
            "Account", (AccountMixin, model), {"__module__": __name__}
        )
        self.Session: type[Any] = session_model or type(
            "Session", (SessionMixin, model), {"__module__": __name__}
        )
        self.VerificationToken: type[Any] = verification_token_model or type(
            "VerificationToken", (VerificationTokenMixin, model), {"__module__": __name__}
        )
        self.RefreshToken: type[Any] = refresh_token_model or type(
            "RefreshToken", (RefreshTokenMixin, model), {"__module__": __name__}
        )
        self.SharedState: type[Any] = shared_state_model or type(
            "SharedState", (SharedStateMixin, model), {"__module__": __name__}
        )
        self._refresh: Table = self.RefreshToken.__table__
        self._shared: Table = self.SharedState.__table__
        self.Authenticator: type[Any] = authenticator_model or type(
            "Authenticator", (AuthenticatorMixin, model), {"__module__": __name__}
        )
        self._authenticators: Table = self.Authenticator.__table__
        users: Table = self.User.__table__
        sessions: Table = self.Session.__table__
        self._users, self._sessions = users, sessions
        self._accounts: Table = self.Account.__table__
        self._tokens: Table = self.VerificationToken.__table__
        # One indexed query resolves a request's session: the statement is built once; on
        # SQLite and PostgreSQL (psycopg) it runs compiled, on the DBAPI connection.
        self._lookup = (
            select(sessions.c.expires, *users.c)
            .join_from(sessions, users, sessions.c.user_id == users.c.id)
            .where(sessions.c.session_token == bindparam("token"))
        )
        self._fast: weakref.WeakKeyDictionary[Engine, FastLookup | None] = (
            weakref.WeakKeyDictionary()
        )
        self._cached: weakref.WeakKeyDictionary[Engine, LocalSessions] = weakref.WeakKeyDictionary()
        if session_cache is not None:
            for model, key in ((self.User, "id"), (self.Session, "session_token")):
                for change in ("after_update", "after_delete"):
                    event.listen(model, change, self._orm_changed(key), propagate=True)

    def init_app(self, app: Flask) -> None:
        """Called by ``AuthExt.init_app``: refuse a ``session_cache`` that the app's database
        cannot serve (checked on first use instead when ``db.init_app`` comes later)."""
        if self.session_cache is None:
            return
        with app.app_context():
            try:
                engine = self.engine
            except RuntimeError:  # db.init_app(app) not called yet
                return
        self._cache(engine)

    @property
    def engine(self) -> Engine:
        """The engine of the current app's default bind."""
        return self.db.engine

    @contextmanager
    def _connect(self, *, begin: bool = False, autocommit: bool = False) -> Iterator[Connection]:
        """A connection of the app's engine for one method: in a transaction with ``begin``;
        with ``autocommit``, on a server database, without one (BEGIN and ROLLBACK would triple
        the round trips of the per-request lookup; SQLite has no round trips, and its switch
        would cost a PRAGMA on every check-in).

        Unless ``prepared_statements``, psycopg 3 prepares none of the method's statements (it
        would after five runs on a connection, and PgBouncer before 1.21 in transaction mode
        then hands that connection's server session to another client); the connection's own
        setting is back when it returns to the pool.
        """
        with self.engine.connect() as conn:
            driver = conn.connection.driver_connection
            threshold = None if self.prepared_statements else _prepare_threshold(driver)
            if threshold is not None:
                driver.prepare_threshold = None  # type: ignore[union-attr]
            try:
                if autocommit and conn.dialect.name != "sqlite":
                    conn.execution_options(isolation_level="AUTOCOMMIT")
                if begin:
                    with conn.begin():
                        yield conn
                else:
                    yield conn
            finally:
                if threshold is not None:
                    driver.prepare_threshold = threshold  # type: ignore[union-attr]

    def _user(self, conn: Connection, *where: Any) -> dict[str, Any] | None:
        row = conn.execute(select(self._users).where(*where)).first()
        return dict(row._mapping) if row else None

    @_store
    def create_user(self, user: Mapping[str, Any]) -> dict[str, Any]:
        with self._connect(begin=True) as conn:
            return self._insert_user(conn, user)

    def _insert_user(self, conn: Connection, user: Mapping[str, Any]) -> dict[str, Any]:
        values = {k: v for k, v in user.items() if k in self._users.c and v is not None}
        if "email" in values:
            values["email"] = email_column(values["email"])
        values.setdefault("id", _new_id())
        conn.execute(insert(self._users).values(**values))
        created = self._user(conn, self._users.c.id == values["id"])
        assert created is not None
        return created

    @_store
    def get_user(self, user_id: str) -> dict[str, Any] | None:
        with self._connect() as conn:
            return self._user(conn, self._users.c.id == user_id)

    @_store
    def get_user_by_email(self, email: str) -> dict[str, Any] | None:
        wanted = normalize_email(email)
        if wanted is None:
            return None
        with self._connect() as conn:
            return self._user(conn, self._users.c.email == wanted)

    @_store
    def get_user_by_account(self, provider: str, provider_account_id: str) -> dict[str, Any] | None:
        accounts = self._accounts
        with self._connect() as conn:
            row = conn.execute(
                select(self._users)
                .join_from(accounts, self._users, accounts.c.user_id == self._users.c.id)
                .where(
                    accounts.c.provider == provider,
                    accounts.c.provider_account_id == provider_account_id,
                )
            ).first()
        return dict(row._mapping) if row else None

    @_store
    def update_user(self, user_id: str, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        values = {k: v for k, v in changes.items() if k in self._users.c and k != "id"}
        if "email" in values:
            values["email"] = email_column(values["email"])
        with self._changing(user_key(user_id)) as conn:
            if values:
                conn.execute(
                    update(self._users).where(self._users.c.id == user_id).values(**values)
                )
            return self._user(conn, self._users.c.id == user_id)

    @_store
    def create_user_and_link(
        self, user: Mapping[str, Any], account: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self._connect(begin=True) as conn:
            created = self._insert_user(conn, user)
            self._insert_account(conn, created["id"], account)
            return created

    @_store
    def link_account(self, user_id: str, account: Mapping[str, Any]) -> None:
        with self._connect(begin=True) as conn:
            self._insert_account(conn, user_id, account)

    def _insert_account(self, conn: Connection, user_id: str, account: Mapping[str, Any]) -> None:
        accounts, users = self._accounts, self._users
        if conn.execute(select(users.c.id).where(users.c.id == user_id)).first() is None:
            raise StoreConflict("link_account: the user does not exist")
        # A row left by a deleted user (SQLite enforces no foreign keys unless asked) is no
        # one's account any more: remove it, or it would block this provider account forever.
        conn.execute(
            delete(accounts).where(
                accounts.c.provider == account["provider"],
                accounts.c.provider_account_id == account["providerAccountId"],
                ~exists().where(users.c.id == accounts.c.user_id),
            )
        )
        values = {column: account[key] for key, column in ACCOUNT_FIELDS.items() if key in account}
        conn.execute(insert(accounts).values(user_id=user_id, **values))

    @_store
    def create_session(self, token_hash: str, user_id: str, expires: datetime) -> None:
        with self._connect(begin=True) as conn:
            conn.execute(
                insert(self._sessions).values(
                    session_token=token_hash, user_id=user_id, expires=expires
                )
            )

    @_store
    def get_session_and_user(self, token_hash: str) -> StoredSession | None:
        engine = self.engine
        cache, version = None, None
        if self.session_cache is not None:
            cache = self._cache(engine)
            found = cache.get(token_hash)
            if found is not None:
                return found
            version = cache.version()
        fast = self._fast_lookup(engine)
        user = fast.fetch(engine, token_hash) if fast else self._slow_lookup(token_hash)
        if user is None:
            return None
        stored = StoredSession(user=user, expires=utc(user.pop("expires")))
        if cache is not None and version is not None:
            cache.put(token_hash, stored, version)
        return stored

    def _cache(self, engine: Engine) -> LocalSessions:
        """This process's cached sessions of ``engine`` (``session_cache``); made on first use,
        forgotten when the engine is disposed."""
        try:
            return self._cached[engine]
        except KeyError:
            config = self.session_cache
            assert config is not None
            check_engine(engine)
            made = NotifiedSessions if engine.dialect.name == "postgresql" else StampedSessions
            cache = self._cached[engine] = made(engine, config)
            event.listen(engine, "engine_disposed", lambda _: cache.stop())
            return cache

    @contextmanager
    def _changing(self, *keys: str, later_expiry: bool = False) -> Iterator[Connection]:
        """A transaction that changes the sessions ``keys`` name: with ``session_cache``,
        every process's cache hears of it (see :mod:`.session_cache`). A ``later_expiry``
        alone need not reach the others where that costs their whole cache (SQLite): an
        older expiry there only brings its own sliding update forward."""
        cache = self._cache(self.engine) if self.session_cache is not None else None
        with self._connect(begin=True) as conn:
            yield conn
            if cache is not None:
                cache.notify(conn, keys)
        if cache is not None and later_expiry:
            cache.forget(keys)
        elif cache is not None:
            cache.changed(keys)

    def _orm_changed(self, key: str) -> Callable[[Any, Connection, Any], None]:
        """A mapper event for ORM flushes that update or delete users or sessions: every
        process's cache hears of it (see :mod:`.session_cache`)."""
        make = user_key if key == "id" else session_key

        def changed(mapper: Any, conn: Connection, target: Any) -> None:
            session = object_session(target)
            if (conn.dialect.name, conn.dialect.driver) not in SERVED or session is None:
                return
            values = {getattr(target, key), *inspect(target).attrs[key].history.deleted}
            self._cache(conn.engine).flushed(session, conn, [make(value) for value in values])

        return changed

    def _fast_lookup(self, engine: Engine) -> FastLookup | None:
        """The lookup compiled for ``engine`` when it can skip SQLAlchemy's execution (see
        :mod:`.fast_lookup`); ``None`` while the engine has execution events to honour."""
        if has_execution_events(engine):
            return None
        try:
            return self._fast[engine]
        except KeyError:
            fast = None
            if fast_path_possible(engine):
                fast = FastLookup(engine.dialect, self._lookup, "token", self.prepared_statements)
            self._fast[engine] = fast
            return fast

    def _slow_lookup(self, token_hash: str) -> dict[str, Any] | None:
        """The lookup through SQLAlchemy's ``Connection``: any other driver, or events."""
        with self._connect(autocommit=True) as conn:
            row = conn.execute(self._lookup, {"token": token_hash}).first()
        return dict(row._mapping) if row else None

    @_store
    def update_session(self, token_hash: str, expires: datetime) -> None:
        sessions = self._sessions
        with self._changing(session_key(token_hash), later_expiry=True) as conn:
            conn.execute(
                update(sessions)
                .where(sessions.c.session_token == token_hash)
                .values(expires=expires)
            )

    @_store
    def delete_session(self, token_hash: str) -> None:
        sessions = self._sessions
        with self._changing(session_key(token_hash)) as conn:
            conn.execute(delete(sessions).where(sessions.c.session_token == token_hash))

    @_store
    def delete_user_sessions(self, user_id: str) -> int:
        sessions = self._sessions
        with self._changing(user_key(user_id)) as conn:
            return conn.execute(delete(sessions).where(sessions.c.user_id == user_id)).rowcount

    @_store
    def create_verification_token(
        self, identifier: str, token_hash: str, expires: datetime
    ) -> None:
        with self._connect(begin=True) as conn:
            conn.execute(
                insert(self._tokens).values(
                    identifier=identifier, token=token_hash, expires=expires
                )
            )

    @_store
    def use_verification_token(self, identifier: str, token_hash: str) -> datetime | None:
        table = self._tokens
        with self._connect(begin=True) as conn:
            row = conn.execute(
                delete(table)
                .where(table.c.identifier == identifier, table.c.token == token_hash)
                .returning(table.c.expires)
            ).first()
        return utc(row.expires) if row else None

    @_store
    def save_refresh_token(
        self, token_hash: str, family: str, claims: Mapping[str, Any], expires: datetime
    ) -> None:
        with self._connect(begin=True) as conn:
            self._insert_refresh(conn, token_hash, family, claims, expires)

    def _insert_refresh(
        self,
        conn: Connection,
        token_hash: str,
        family: str,
        claims: Mapping[str, Any],
        expires: datetime,
    ) -> None:
        values = {"family": family, "claims": json.dumps(dict(claims)), "expires": expires}
        conn.execute(insert(self._refresh).values(token_hash=token_hash, **values))

    @_store
    def find_refresh_token(self, token_hash: str) -> tuple[RefreshRecord, datetime | None] | None:
        table = self._refresh
        with self._connect() as conn:
            row = conn.execute(select(table).where(table.c.token_hash == token_hash)).first()
        if row is None:
            return None
        return _record(row), utc(row.used_at) if row.used_at is not None else None

    @_store
    def rotate_refresh_token(
        self,
        token_hash: str,
        new_hash: str,
        family: str,
        claims: Mapping[str, Any],
        expires: datetime,
        now: datetime,
    ) -> bool:
        table = self._refresh
        # One transaction: a failure before COMMIT rolls the spend back with the insert.
        with self._connect(begin=True) as conn:
            spent = conn.execute(
                update(table)
                .where(
                    table.c.token_hash == token_hash,
                    table.c.family == family,
                    table.c.used_at.is_(None),
                )
                .values(used_at=now)
            )
            if spent.rowcount != 1:
                return False
            self._insert_refresh(conn, new_hash, family, claims, expires)
        return True

    @_store
    def revoke_refresh_family(self, family: str) -> None:
        # Twice: the second pass (a new snapshot) removes a token stored by a rotation that
        # held its parent row while the first pass waited for it.
        for _ in range(2):
            with self._connect(begin=True) as conn:
                conn.execute(delete(self._refresh).where(self._refresh.c.family == family))

    def refresh_once(self, key: str, run: Callable[[], str], ttl: int) -> str:
        """Provider refresh once per deployment (see :class:`~..refresh.SharedRefresh`): on
        PostgreSQL under a transaction-level advisory lock on ``key``, the result kept in
        ``shared_state``; on other databases (one host) each process refreshes for itself."""
        if self.engine.dialect.name != "postgresql":
            return run()
        value: str | None = None
        try:
            with self._connect(begin=True) as conn:
                shared_state.lock(conn, key)
                now = datetime.now(timezone.utc)
                found = shared_state.read(conn, self._shared, key, now)
                if found is not None:
                    return found
                value = run()
                shared_state.write(conn, self._shared, key, value, now + timedelta(seconds=ttl))
        except SQLAlchemyError as error:
            if value is None:
                raise StoreError(f"refresh_once: {type(error).__name__}") from error
            # The provider spent the old refresh token: this process keeps the new one.
            logger.warning("flask-sessionext: a refresh result was not shared: %s", error)
        assert value is not None
        return value

    @_store
    def revoke_sessions_before(self, user_id: str, moment: int, keep: int) -> None:
        """``AUTH_JWT_REVOCATION``: see :class:`~..revocation.SessionRevocations`."""
        expires = datetime.fromtimestamp(moment + keep, timezone.utc)
        with self._connect(begin=True) as conn:
            shared_state.write(conn, self._shared, f"revoked:{user_id}", str(moment), expires)

    @_store
    def sessions_revoked_before(self, user_id: str) -> int | None:
        """``AUTH_JWT_REVOCATION``: see :class:`~..revocation.SessionRevocations`."""
        now = datetime.now(timezone.utc)
        with self._connect(autocommit=True) as conn:
            found = shared_state.read(conn, self._shared, f"revoked:{user_id}", now)
        return int(found) if found is not None else None

    @_store
    def delete_expired(self, now: datetime) -> dict[str, int]:
        """Delete expired sessions, verification tokens, refresh tokens and shared state;
        count per table."""
        tables = {
            "sessions": self._sessions,
            "verification_tokens": self._tokens,
            "refresh_tokens": self._refresh,
            "shared_state": self._shared,
        }
        with self._connect(begin=True) as conn:
            return {
                name: conn.execute(delete(table).where(table.c.expires <= now)).rowcount
                for name, table in tables.items()
            }

    @_store
    def create_authenticator(self, authenticator: StoredAuthenticator) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(self._authenticators).values(
                    credential_id=authenticator.credential_id,
                    user_id=authenticator.user_id,
                    credential_public_key=authenticator.public_key,
                    counter=authenticator.counter,
                    credential_device_type=authenticator.device_type,
                    credential_backed_up=authenticator.backed_up,
                    transports=",".join(authenticator.transports) or None,
                )
            )

    @_store
    def get_authenticator(self, credential_id: str) -> StoredAuthenticator | None:
        table = self._authenticators
        with self.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.credential_id == credential_id)).first()
        return _authenticator(row) if row else None

    @_store
    def list_authenticators(self, user_id: str) -> list[StoredAuthenticator]:
        table = self._authenticators
        with self.engine.connect() as conn:
            rows = conn.execute(select(table).where(table.c.user_id == user_id)).all()
        return [_authenticator(row) for row in rows]

    @_store
    def update_authenticator_counter(
        self, credential_id: str, expected: int, counter: int, backed_up: bool
    ) -> bool:
        table = self._authenticators
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(table)
                .where(table.c.credential_id == credential_id, table.c.counter == expected)
                .values(counter=counter, credential_backed_up=backed_up)
            )
        return changed.rowcount == 1


def _authenticator(row: Any) -> StoredAuthenticator:
    return StoredAuthenticator(
        credential_id=row.credential_id,
        user_id=row.user_id,
        public_key=bytes(row.credential_public_key),
        counter=row.counter,
        transports=tuple(t for t in (row.transports or "").split(",") if t),
        backed_up=bool(row.credential_backed_up),
        device_type=row.credential_device_type,
    )


def _prepare_threshold(driver: Any) -> int | None:
    """psycopg 3's count of runs after which it prepares a statement; ``None`` if it never
    will (turned off, or another driver)."""
    threshold = getattr(driver, "prepare_threshold", None)
    return threshold if isinstance(threshold, int) else None


def _record(row: Any) -> RefreshRecord:
    return RefreshRecord(row.family, json.loads(row.claims), utc(row.expires))
