"""Storage for database sessions, email sign-in, account linking and passkeys."""

from .memory import MemoryAdapter
from .protocol import Adapter, AuthenticatorStore, StoredAuthenticator, StoredSession
from .session_cache import SessionCache
from .sqlalchemy import (
    AccountMixin,
    AuthenticatorMixin,
    RefreshTokenMixin,
    SessionMixin,
    SQLAlchemyAdapter,
    UserMixin,
    VerificationTokenMixin,
)

__all__ = [
    "AccountMixin",
    "Adapter",
    "AuthenticatorMixin",
    "AuthenticatorStore",
    "MemoryAdapter",
    "RefreshTokenMixin",
    "SQLAlchemyAdapter",
    "SessionCache",
    "SessionMixin",
    "StoredAuthenticator",
    "StoredSession",
    "UserMixin",
    "VerificationTokenMixin",
]
