"""Who a user is: the one normal form of an email address, and what counts as a user id.

Everything that stores, looks up, compares or links an address goes through
:func:`normalize_email`; everything that turns an app's or a provider's answer into a signed-in
user goes through :func:`user_id`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from .errors import AuthError

#: Longest address accepted, in characters (the ``users.email`` column is 320 long).
MAX_EMAIL_LENGTH = 320
MAX_LOCAL_BYTES = 64
MAX_DOMAIN_BYTES = 255
MAX_LABEL_BYTES = 63
#: Longest user id accepted, in characters.
MAX_USER_ID_LENGTH = 255

# Dot-atom text of RFC 5322 (plus any non-ASCII character, RFC 6531). Everything else (quotes,
# comments, whitespace, ``,;:<>[]\\``, controls) is refused, so a value is one plain address.
_LOCAL_ASCII = frozenset("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-/=?^_`{|}~.")


def normalize_email(value: object) -> str | None:
    """The canonical form of one email address, or ``None`` when ``value`` is not one.

    NFKC-normalised, stripped and lower-cased; exactly one ``@``; the local part is a plain
    dot-atom (no quoted string, comment, whitespace, control character, ``,;:<>[]\\``); the
    domain is kept in Unicode (not IDNA-encoded), each label letters, digits and inner
    hyphens. At most 320 characters, 64 bytes before the ``@``.
    """
    if not isinstance(value, str) or len(value) > 4 * MAX_EMAIL_LENGTH:
        return None
    text = unicodedata.normalize("NFKC", value).strip().lower()
    if not text or len(text) > MAX_EMAIL_LENGTH:
        return None
    local, at, domain = text.partition("@")
    if not at or not _valid_local(local) or not _valid_domain(domain):
        return None
    return text


def _valid_local(local: str) -> bool:
    if not local or len(local.encode()) > MAX_LOCAL_BYTES:
        return False
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return False
    return all(ch in _LOCAL_ASCII or (ord(ch) > 0x7F and _printable(ch)) for ch in local)


def _valid_domain(domain: str) -> bool:
    if not domain or len(domain.encode()) > MAX_DOMAIN_BYTES:
        return False
    for label in domain.split("."):
        if not label or len(label.encode()) > MAX_LABEL_BYTES:
            return False
        if label.startswith("-") or label.endswith("-"):
            return False
        for ch in label:
            if ch == "-" or (ch.isascii() and ch.isalnum()):
                continue
            if ch.isascii() or not (ch.isalnum() or unicodedata.category(ch).startswith("M")):
                return False
    return True


def _printable(ch: str) -> bool:
    """Not a space, separator, control, format or unassigned character."""
    return unicodedata.category(ch)[0] not in "ZC"


def user_id(user: object) -> str | None:
    """The id of ``user`` as a string, or ``None`` when ``user`` is not a user.

    A user is a mapping whose ``id`` is a non-empty string (at most 255 characters, no
    control characters) or an integer; anything else (``{}``, ``{"id": None}``,
    ``{"id": ""}``, a list, a float or ``True`` as the id) is refused.
    """
    if not isinstance(user, Mapping):
        return None
    value = user.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value or len(value) > MAX_USER_ID_LENGTH:
        return None
    return value if value.isprintable() else None


def describe(user: object) -> str:
    """What was wrong with a refused user, for the log (never its values)."""
    if not isinstance(user, Mapping):
        return f"a {type(user).__name__}, not a dict"
    if "id" not in user:
        return "a dict without an 'id'"
    return f"a dict whose 'id' is an invalid {type(user['id']).__name__}"


def checked_user(user: object, source: str) -> dict[str, Any]:
    """``user`` as a dict with its id a string; raises :class:`~.errors.AuthError`
    (``Configuration``, the reason in the log) when :func:`user_id` refuses it."""
    found = user_id(user)
    if found is None:
        raise AuthError(
            f"sign-in refused: {source} gave {describe(user)}; a user needs an 'id' (a "
            "non-empty string or an integer)"
        )
    return {**user, "id": found}  # type: ignore[dict-item]
