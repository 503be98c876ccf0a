"""Storage for database sessions, email sign-in and account linking."""

from .memory import MemoryAdapter
from .protocol import Adapter, StoredSession
from .sqlalchemy import (
    AccountMixin,
    SessionMixin,
    SQLAlchemyAdapter,
    UserMixin,
    VerificationTokenMixin,
)

__all__ = [
    "AccountMixin",
    "Adapter",
    "MemoryAdapter",
    "SQLAlchemyAdapter",
    "SessionMixin",
    "StoredSession",
    "UserMixin",
    "VerificationTokenMixin",
]
