"""Auth.js's default session: the part of a token or a stored user the browser may see."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from .types import Session, SessionUser


def default_session(token: Mapping[str, Any], exp: float) -> Session:
    """Only name, email and image (the token's ``picture``) of the user, and the expiry."""
    user: SessionUser = {}
    if "name" in token:
        user["name"] = token["name"]
    if "email" in token:
        user["email"] = token["email"]
    if "picture" in token:
        user["image"] = token["picture"]
    return {"user": user, "expires": iso_time(int(exp))}


def copied(session: Session) -> Session:
    """A copy of a default session that shares no dict with ``session``."""
    return {"user": dict(session["user"]), "expires": session["expires"]}  # type: ignore[typeddict-item]


@lru_cache(maxsize=256)
def iso_time(timestamp: int) -> str:
    """``timestamp`` as JavaScript's ``toISOString()`` writes it."""
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
