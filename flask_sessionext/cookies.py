"""Cookie names and options as Auth.js v5 uses them, and chunking of large session cookies."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from werkzeug.wrappers import Response

from .errors import SessionExtError

#: Longest value one cookie holds before it is split into ``<name>.0``, ``<name>.1``, ...
CHUNK_SIZE = 4096 - 160
#: Chunks read or written at most; a larger session token is refused.
MAX_CHUNKS = 16


@dataclass(frozen=True)
class CookieNames:
    """The names of the cookies this package sets, for plain or secure (https) origins."""

    session_token: str
    csrf_token: str
    callback_url: str
    state: str
    pkce: str
    nonce: str
    email_check: str
    challenge: str
    secure: bool

    @classmethod
    def build(cls, secure: bool) -> CookieNames:
        """Auth.js names: ``__Secure-`` on https, ``__Host-`` for the CSRF cookie."""
        prefix = "__Secure-" if secure else ""
        return cls(
            session_token=f"{prefix}authjs.session-token",
            csrf_token=f"{'__Host-' if secure else ''}authjs.csrf-token",
            callback_url=f"{prefix}authjs.callback-url",
            state=f"{prefix}authjs.state",
            pkce=f"{prefix}authjs.pkce.code_verifier",
            nonce=f"{prefix}authjs.nonce",
            email_check=f"{prefix}authjs.email-check",
            challenge=f"{prefix}authjs.challenge",
            secure=secure,
        )

    def check(self, check: str) -> str:
        """The cookie name of an OAuth check: ``state``, ``pkce`` or ``nonce``."""
        return {"state": self.state, "pkce": self.pkce, "nonce": self.nonce}[check]


PLAIN = CookieNames.build(secure=False)
SECURE = CookieNames.build(secure=True)


def set_cookie(
    response: Response, name: str, value: str, *, secure: bool, max_age: int | None = None
) -> None:
    """Set a cookie with the options every auth cookie shares."""
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="Lax"
    )


def expire_cookie(response: Response, name: str, *, secure: bool) -> None:
    """Expire a cookie set by :func:`set_cookie`."""
    response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="Lax")


def _chunk_names(cookies: Mapping[str, str], name: str) -> dict[int, str]:
    pattern = re.compile(re.escape(name) + r"\.(\d{1,3})")
    found: dict[int, str] = {}
    for key in cookies:
        match = pattern.fullmatch(key)
        if match:
            found[int(match.group(1))] = key
    return found


def read_chunked(cookies: Mapping[str, str], name: str) -> str | None:
    """Return the value of ``name``, or of ``<name>.0``, ``<name>.1``, ... joined in order.

    A gap in the chunks ends the value (it then fails to decrypt); more than
    :data:`MAX_CHUNKS` of them, or a longer value, reads as no cookie.
    """
    value = cookies.get(name)
    if value is None:
        parts = []
        for i in range(MAX_CHUNKS + 1):
            part = cookies.get(f"{name}.{i}")
            if part is None:
                break
            parts.append(part)
        value = "".join(parts)
    return value if value and len(value) <= CHUNK_SIZE * MAX_CHUNKS else None


def write_chunked(
    response: Response,
    cookies: Mapping[str, str],
    name: str,
    value: str,
    *,
    secure: bool,
    max_age: int,
) -> None:
    """Set ``value`` under ``name``, split in chunks when long; expire chunks left from before."""
    count = -(-len(value) // CHUNK_SIZE)
    if count > MAX_CHUNKS:
        raise SessionExtError(
            f"the session token is {len(value)} characters, over the {MAX_CHUNKS} cookies a "
            "session may use; keep large data out of the token (store an id, look it up)."
        )
    if count == 1:
        written = {name: value}
    else:
        written = {
            f"{name}.{i}": value[i * CHUNK_SIZE : (i + 1) * CHUNK_SIZE] for i in range(count)
        }
    for key, part in written.items():
        set_cookie(response, key, part, secure=secure, max_age=max_age)
    for key in _existing(cookies, name):
        if key not in written:
            expire_cookie(response, key, secure=secure)


def clear_chunked(
    response: Response, cookies: Mapping[str, str], name: str, *, secure: bool
) -> None:
    """Expire ``name`` and every chunk of it the request carried."""
    for key in _existing(cookies, name) or [name]:
        expire_cookie(response, key, secure=secure)


def _existing(cookies: Mapping[str, str], name: str) -> list[str]:
    return ([name] if name in cookies else []) + list(_chunk_names(cookies, name).values())
