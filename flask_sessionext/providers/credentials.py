"""Sign-in with any credentials the app checks itself (username and password, a code, ...)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from ..responses import logger
from ..types import Account, User
from .base import Provider

Authorize = Callable[[dict[str, str]], User | Mapping[str, object] | None]

DEFAULT_FIELDS: Mapping[str, Mapping[str, str]] = {
    "username": {"label": "Username", "type": "text"},
    "password": {"label": "Password", "type": "password"},
}


class Credentials(Provider):
    """``authorize(credentials)`` gets the submitted fields and returns a user dict or ``None``.

    ``fields`` describes the inputs of the built-in sign-in form (name → label and HTML type),
    as Auth.js's ``credentials`` option does.
    """

    type: ClassVar[str] = "credentials"

    def __init__(
        self,
        authorize: Authorize,
        *,
        id: str = "credentials",
        name: str = "Credentials",
        fields: Mapping[str, Mapping[str, str]] = DEFAULT_FIELDS,
    ) -> None:
        super().__init__(id=id, name=name)
        self.authorize = authorize
        self.fields = fields

    def sign_in(self, credentials: dict[str, str]) -> tuple[dict[str, Any], Account] | None:
        """Run ``authorize``: the user (its ``id`` a string, made up when missing) and the
        account, or ``None`` when refused. An exception in ``authorize`` is logged and refuses."""
        try:
            user = self.authorize(credentials)
        except Exception:
            logger.exception("flask-sessionext: authorize() of provider %r raised", self.id)
            return None
        if not isinstance(user, Mapping):
            if user is not None:
                logger.error("flask-sessionext: authorize() returned %s, not a dict", type(user))
            return None
        user_id = str(uuid.uuid4()) if user.get("id") is None else str(user["id"])
        account: Account = {
            "provider": self.id,
            "type": "credentials",
            "providerAccountId": user_id,
        }
        return {**user, "id": user_id}, account
