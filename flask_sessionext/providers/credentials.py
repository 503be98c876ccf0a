"""Sign-in with any credentials the app checks itself (username and password, a code, ...)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

from ..errors import AuthError, CredentialsSignin, StoreError, is_store_failure
from ..i18n import N_
from ..identity import checked_user, normalize_email
from ..logs import log_failure
from ..types import Account, User
from .base import Provider

Authorize = Callable[[dict[str, str]], User | Mapping[str, object] | Literal[False] | None]

DEFAULT_FIELDS: Mapping[str, Mapping[str, str]] = {
    "username": {"label": N_("Username"), "type": "text"},
    "password": {"label": N_("Password"), "type": "password"},
}

AUTOCOMPLETE_BY_TYPE = {"password": "current-password", "email": "email"}
USERNAME_FIELDS = frozenset({"username", "user", "login"})


class Credentials(Provider):
    """``authorize(credentials)`` gets the submitted fields and returns a user dict or ``None``.

    ``fields`` describes the inputs of the built-in sign-in form (name → ``label``, HTML
    ``type``, optional ``placeholder`` and ``autocomplete``), as Auth.js's ``credentials`` option
    does. ``key_field`` names the field that says which account signs in, for the ``per key``
    rate limits (default: the first non-password field).
    """

    type: ClassVar[str] = "credentials"

    def __init__(
        self,
        authorize: Authorize,
        *,
        id: str = "credentials",
        name: str = "Credentials",
        fields: Mapping[str, Mapping[str, str]] = DEFAULT_FIELDS,
        key_field: str | None = None,
    ) -> None:
        super().__init__(id=id, name=name)
        self.authorize = authorize
        self.fields = fields
        self.key_field = key_field or next(
            (name for name, field in fields.items() if field.get("type") != "password"), None
        )

    def limit_key(self, credentials: Mapping[str, str]) -> str | None:
        """The account a sign-in names, for rate limits: ``key_field``'s value normalised (an
        email address as everywhere else, any other name stripped and case-folded)."""
        value = credentials.get(self.key_field, "") if self.key_field else ""
        name = normalize_email(value) or unicodedata.normalize("NFKC", value).strip().casefold()
        return name or None

    def autocomplete(self, name: str) -> str:
        """The ``autocomplete`` attribute of field ``name``: as given, else from its type
        (``current-password``, ``email``) or name (``username``); empty when unknown."""
        field = self.fields.get(name, {})
        if field.get("autocomplete"):
            return field["autocomplete"]
        kind = field.get("type", "text")
        if kind in AUTOCOMPLETE_BY_TYPE:
            return AUTOCOMPLETE_BY_TYPE[kind]
        return "username" if name in USERNAME_FIELDS else ""

    def sign_in(self, credentials: dict[str, str]) -> tuple[dict[str, Any], Account]:
        """Run ``authorize``: the user (its ``id`` a string) and the account.

        Raises :class:`~..errors.CredentialsSignin` when ``authorize`` refuses (returns
        ``None``/``False`` or raises one), :class:`~..errors.StoreError` when it failed to
        reach a store, and :class:`~..errors.AuthError` (``Configuration``) when it raised
        anything else or returned something without a valid ``id``.
        """
        where = f"authorize() of provider {self.id!r}"
        try:
            user = self.authorize(credentials)
        except CredentialsSignin:
            raise
        except Exception as error:
            if is_store_failure(error):  # logged (throttled) where the 503 is answered
                raise StoreError(f"{where}: {type(error).__name__}") from error
            log_failure("flask-sessionext: %s raised %s", where, type(error).__name__, error=error)
            raise AuthError(f"{where} raised {type(error).__name__}") from error
        if user is None or user is False:
            raise CredentialsSignin
        checked = checked_user(user, where)
        account: Account = {
            "provider": self.id,
            "type": "credentials",
            "providerAccountId": checked["id"],
        }
        return checked, account
