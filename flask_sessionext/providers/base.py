"""What every provider has: an id, a display name and a type."""

from __future__ import annotations

import re
from typing import ClassVar

_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class Provider:
    """A way to sign in; subclasses implement one kind (credentials, OAuth, email)."""

    type: ClassVar[str]

    def __init__(self, *, id: str, name: str) -> None:
        if not _ID.fullmatch(id):
            raise ValueError(
                f"provider id {id!r} must be lower-case letters, digits, '-' or '_' "
                "(it is part of URLs)."
            )
        self.id = id
        self.name = name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id!r}>"
