"""Sign-in with any credentials the app checks itself (username and password, a code, ...)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar

from ..types import User
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
