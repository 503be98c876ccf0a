"""The adapter protocol: what a database must offer for users, accounts and sessions.

The methods are Auth.js's adapter methods in Python names. Session and verification tokens
reach the adapter already hashed: a leaked table grants nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ..identity import normalize_email


@dataclass(frozen=True)
class StoredSession:
    """A session row joined with its user, as one lookup returns them."""

    user: dict[str, Any]
    expires: datetime


def email_column(value: object) -> str | None:
    """What an adapter stores as a user's email: the normal form, or ``None`` for no address.

    Raises ``ValueError`` for a value that is not one address, so nothing unnormalised is
    stored (two spellings of one mailbox would be two users).
    """
    if value is None:
        return None
    email = normalize_email(value)
    if email is None:
        raise ValueError("a user's email must be one valid address (see normalize_email)")
    return email


@dataclass(frozen=True)
class StoredAuthenticator:
    """A passkey: Auth.js's ``Authenticator`` model, in Python names.

    ``credential_id`` is the credential's id in base64url (as the browser sends it),
    ``public_key`` its COSE public key, ``counter`` the last sign count, ``transports`` what
    the browser reported (``internal``, ``hybrid``, ``usb``...), ``backed_up`` whether it is
    synced (a multi-device passkey).
    """

    credential_id: str
    user_id: str
    public_key: bytes
    counter: int
    transports: tuple[str, ...]
    backed_up: bool
    device_type: str


class AuthenticatorStore(Protocol):
    """What an adapter offers to keep passkeys (``providers.Passkey``)."""

    def create_authenticator(self, authenticator: StoredAuthenticator) -> None:
        """Store a new passkey; raise ``StoreConflict`` when its credential id is taken."""

    def get_authenticator(self, credential_id: str) -> StoredAuthenticator | None:
        """The passkey with this credential id."""

    def list_authenticators(self, user_id: str) -> list[StoredAuthenticator]:
        """Every passkey of the user."""

    def update_authenticator_counter(
        self, credential_id: str, expected: int, counter: int, backed_up: bool
    ) -> bool:
        """Set the sign count from ``expected`` to ``counter``, atomically; ``False`` when the
        stored count was no longer ``expected`` (another sign-in used it meanwhile)."""


class Adapter(Protocol):
    """Storage for the ``database`` session strategy, email sign-in and account linking.

    Every method is one transaction: it either happens whole or not at all. An adapter may
    also define ``init_app(app)``: ``AuthExt.init_app`` calls it, to refuse a configuration
    the app cannot serve.
    """

    def create_user(self, user: Mapping[str, Any]) -> dict[str, Any]:
        """Insert a user (``name``, ``email``, ``email_verified``, ``image``, ...); return it.

        The email is stored in its normal form (:func:`email_column`)."""

    def get_user(self, user_id: str) -> dict[str, Any] | None:
        """The user with this id."""

    def get_user_by_email(self, email: str) -> dict[str, Any] | None:
        """The user with this email, compared in its normal form (``None`` for a non-address)."""

    def get_user_by_account(self, provider: str, provider_account_id: str) -> dict[str, Any] | None:
        """The user linked to this provider account."""

    def update_user(self, user_id: str, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        """Apply ``changes`` to the user; return it, or ``None`` if it does not exist."""

    def create_user_and_link(
        self, user: Mapping[str, Any], account: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Create a user and link ``account`` to it, together; return the user."""

    def link_account(self, user_id: str, account: Mapping[str, Any]) -> None:
        """Link a provider account (Auth.js ``Account`` fields) to the user."""

    def create_session(self, token_hash: str, user_id: str, expires: datetime) -> None:
        """Store a session under the hash of its token."""

    def get_session_and_user(self, token_hash: str) -> StoredSession | None:
        """The session and its user in one query."""

    def update_session(self, token_hash: str, expires: datetime) -> None:
        """Move the session's expiry."""

    def delete_session(self, token_hash: str) -> None:
        """Delete one session (sign-out, or met expired)."""

    def delete_user_sessions(self, user_id: str) -> int:
        """Delete every session of the user ("sign out everywhere"); return how many."""

    def create_verification_token(
        self, identifier: str, token_hash: str, expires: datetime
    ) -> None:
        """Store an email sign-in token under its hash, bound to the identifier (the address)."""

    def use_verification_token(self, identifier: str, token_hash: str) -> datetime | None:
        """Delete the token and return its expiry, atomically; ``None`` if there was none."""
