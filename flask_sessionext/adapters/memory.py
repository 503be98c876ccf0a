"""An in-memory adapter for tests and demos: the same behaviour as a database, in dicts."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from ..errors import StoreConflict
from ..identity import normalize_email
from ..token_store import RefreshRecord
from .protocol import StoredAuthenticator, StoredSession, email_column

USER_FIELDS = ("id", "name", "email", "email_verified", "image")


class MemoryAdapter:
    """Keeps users, accounts, sessions and verification tokens in this process only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.users: dict[str, dict[str, Any]] = {}
        self.accounts: dict[tuple[str, str], dict[str, Any]] = {}
        self.sessions: dict[str, tuple[str, datetime]] = {}
        self.tokens: dict[tuple[str, str], datetime] = {}
        self.refresh_tokens: dict[str, tuple[RefreshRecord, datetime | None]] = {}
        self.authenticators: dict[str, StoredAuthenticator] = {}

    def create_user(self, user: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self._insert_user(user)

    def _insert_user(self, user: Mapping[str, Any]) -> dict[str, Any]:
        user_id = str(user.get("id") or uuid.uuid4())
        created = {field: user.get(field) for field in USER_FIELDS} | {"id": user_id}
        created["email"] = email_column(created["email"])
        if created["email"] and any(u["email"] == created["email"] for u in self.users.values()):
            raise StoreConflict("create_user: email taken")
        self.users[user_id] = created
        return dict(created)

    def get_user(self, user_id: str) -> dict[str, Any] | None:
        user = self.users.get(user_id)
        return dict(user) if user else None

    def get_user_by_email(self, email: str) -> dict[str, Any] | None:
        wanted = normalize_email(email)
        if wanted is None:
            return None
        return next((dict(u) for u in self.users.values() if u["email"] == wanted), None)

    def get_user_by_account(self, provider: str, provider_account_id: str) -> dict[str, Any] | None:
        account = self.accounts.get((provider, provider_account_id))
        return self.get_user(account["user_id"]) if account else None

    def update_user(self, user_id: str, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        with self._lock:
            user = self.users.get(user_id)
            if user is None:
                return None
            values = {k: v for k, v in changes.items() if k in USER_FIELDS and k != "id"}
            if "email" in values:
                values["email"] = email_column(values["email"])
                if values["email"] and any(
                    u["email"] == values["email"] for u in self.users.values() if u is not user
                ):
                    raise StoreConflict("update_user: email taken")
            user.update(values)
            return dict(user)

    def create_user_and_link(
        self, user: Mapping[str, Any], account: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            key = (account["provider"], account["providerAccountId"])
            if key in self.accounts:
                raise StoreConflict("create_user_and_link: account taken")
            created = self._insert_user(user)
            self.accounts[key] = {**account, "user_id": created["id"]}
            return created

    def link_account(self, user_id: str, account: Mapping[str, Any]) -> None:
        with self._lock:
            if user_id not in self.users:
                raise StoreConflict("link_account: the user does not exist")
            key = (account["provider"], account["providerAccountId"])
            if key in self.accounts:
                raise StoreConflict("link_account: account taken")
            self.accounts[key] = {**account, "user_id": user_id}

    def create_session(self, token_hash: str, user_id: str, expires: datetime) -> None:
        self.sessions[token_hash] = (user_id, expires)

    def get_session_and_user(self, token_hash: str) -> StoredSession | None:
        found = self.sessions.get(token_hash)
        user = self.get_user(found[0]) if found else None
        return StoredSession(user=user, expires=found[1]) if found and user else None

    def update_session(self, token_hash: str, expires: datetime) -> None:
        with self._lock:
            if token_hash in self.sessions:
                self.sessions[token_hash] = (self.sessions[token_hash][0], expires)

    def delete_session(self, token_hash: str) -> None:
        self.sessions.pop(token_hash, None)

    def delete_user_sessions(self, user_id: str) -> int:
        with self._lock:
            doomed = [k for k, (owner, _) in self.sessions.items() if owner == user_id]
            for key in doomed:
                del self.sessions[key]
            return len(doomed)

    def create_verification_token(
        self, identifier: str, token_hash: str, expires: datetime
    ) -> None:
        self.tokens[(identifier, token_hash)] = expires

    def use_verification_token(self, identifier: str, token_hash: str) -> datetime | None:
        return self.tokens.pop((identifier, token_hash), None)

    def save_refresh_token(
        self, token_hash: str, family: str, claims: Mapping[str, Any], expires: datetime
    ) -> None:
        with self._lock:
            self.refresh_tokens[token_hash] = (RefreshRecord(family, dict(claims), expires), None)

    def find_refresh_token(self, token_hash: str) -> tuple[RefreshRecord, datetime | None] | None:
        return self.refresh_tokens.get(token_hash)

    def rotate_refresh_token(
        self,
        token_hash: str,
        new_hash: str,
        family: str,
        claims: Mapping[str, Any],
        expires: datetime,
        now: datetime,
    ) -> bool:
        with self._lock:
            found = self.refresh_tokens.get(token_hash)
            if found is None or found[1] is not None or found[0].family != family:
                return False
            self.refresh_tokens[new_hash] = (RefreshRecord(family, dict(claims), expires), None)
            self.refresh_tokens[token_hash] = (found[0], now)
            return True

    def revoke_refresh_family(self, family: str) -> None:
        with self._lock:
            for key in [k for k, (r, _) in self.refresh_tokens.items() if r.family == family]:
                del self.refresh_tokens[key]

    def delete_expired(self, now: datetime) -> dict[str, int]:
        """Delete expired sessions, verification tokens and refresh tokens; count per table."""
        with self._lock:
            doomed: dict[str, tuple[dict[Any, Any], list[Any]]] = {
                "sessions": (self.sessions, [k for k, v in self.sessions.items() if v[1] <= now]),
                "verification_tokens": (
                    self.tokens,
                    [k for k, v in self.tokens.items() if v <= now],
                ),
                "refresh_tokens": (
                    self.refresh_tokens,
                    [k for k, v in self.refresh_tokens.items() if v[0].expires <= now],
                ),
            }
            for store, keys in doomed.values():
                for key in keys:
                    del store[key]
        return {name: len(keys) for name, (_, keys) in doomed.items()}

    def create_authenticator(self, authenticator: StoredAuthenticator) -> None:
        with self._lock:
            if authenticator.user_id not in self.users:
                raise StoreConflict("create_authenticator: the user does not exist")
            if authenticator.credential_id in self.authenticators:
                raise StoreConflict("create_authenticator: credential id taken")
            self.authenticators[authenticator.credential_id] = authenticator

    def get_authenticator(self, credential_id: str) -> StoredAuthenticator | None:
        return self.authenticators.get(credential_id)

    def list_authenticators(self, user_id: str) -> list[StoredAuthenticator]:
        return [a for a in self.authenticators.values() if a.user_id == user_id]

    def update_authenticator_counter(
        self, credential_id: str, expected: int, counter: int, backed_up: bool
    ) -> bool:
        with self._lock:
            found = self.authenticators.get(credential_id)
            if found is None or found.counter != expected:
                return False
            self.authenticators[credential_id] = replace(
                found, counter=counter, backed_up=backed_up
            )
            return True
