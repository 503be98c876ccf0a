"""What every provider has: an id, a display name and a type."""

from __future__ import annotations

import re
from typing import ClassVar

from flask import Flask

from ..theme import Brand

_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class Provider:
    """A way to sign in; subclasses implement one kind (credentials, OAuth, email)."""

    type: ClassVar[str]
    #: The logo shipped with the package (``sessionext/logos/<icon>.svg``), for presets.
    icon: ClassVar[str | None] = None
    #: The button's colours when no ``brand_color=`` is given.
    default_brand: ClassVar[Brand | None] = None

    def __init__(self, *, id: str, name: str) -> None:
        if not _ID.fullmatch(id):
            raise ValueError(
                f"provider id {id!r} must be lower-case letters, digits, '-' or '_' "
                "(it is part of URLs)."
            )
        self.id = id
        self.name = name
        #: An image URL for the sign-in button (``logo=``), shown instead of :attr:`icon`.
        self.logo: str | None = None
        self.brand = self.default_brand

    def init_app(self, app: Flask, adapter: object | None) -> None:
        """Check, at ``init_app``, what this provider needs of the app; raise
        :class:`~flask_sessionext.errors.ConfigurationError` so a misconfigured app won't start."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id!r}>"
