"""Storage for database sessions, email sign-in and account linking."""

from .memory import MemoryAdapter
from .protocol import Adapter, StoredSession
from .sqlalchemy import (
    AccountMixin,
    RefreshTokenMixin,
    SessionMixin,
    SQLAlchemyAdapter,
    UserMixin,
    VerificationTokenMixin,
)

__all__ = [
    "AccountMixin",
    "Adapter",
    "MemoryAdapter",
    "RefreshTokenMixin",
    "SQLAlchemyAdapter",
    "SessionMixin",
    "StoredSession",
    "UserMixin",
    "VerificationTokenMixin",
]
