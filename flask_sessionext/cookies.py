"""Cookie names and options as Auth.js v5 uses them, and chunking of large session cookies.

Every cookie this package reads is read here, by :func:`read_cookie` (or :func:`read_chunked`):
a name the request carries more than once reads as absent. A sibling subdomain can set a
``Domain=`` cookie of the same name (and any subdomain a ``__Secure-`` one over https); with
two values there is no telling the attacker's from the user's, so neither is used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.sansio.http import parse_cookie
from werkzeug.wrappers import Request, Response

from .errors import SessionExtError

#: Longest value one cookie holds before it is split into ``<name>.0``, ``<name>.1``, ...
CHUNK_SIZE = 4096 - 160
#: Chunks read or written at most; a larger session token is refused.
MAX_CHUNKS = 16
#: ``Cookie`` headers whose parse is kept (per process; each is at most a few KB).
PARSED_HEADERS = 1024


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


def request_cookies(req: Request) -> Mapping[str, str]:
    """``req.cookies``, parsed from ``HTTP_COOKIE`` directly (``request.cookies`` first scans
    every header) and left where ``req.cookies`` finds it.

    A browser sends the same header on every request, so an immutable parse is shared, cached
    by the header's text.
    """
    cookies: Mapping[str, str] | None = req.__dict__.get("cookies")
    if cookies is None:
        header = req.environ.get("HTTP_COOKIE", "")
        cls = req.dict_storage_class
        parse = _parsed if cls is ImmutableMultiDict else _parse
        cookies = req.__dict__["cookies"] = parse(header, cls)
    return cookies


def _parse(header: str, cls: type[MultiDict[str, str]]) -> MultiDict[str, str]:
    """``header`` as Werkzeug parses it, into ``cls``."""
    text = header.encode("latin1", "replace").decode(errors="replace")  # as Werkzeug reads it
    return parse_cookie(text, cls=cls)


_parsed = lru_cache(maxsize=PARSED_HEADERS)(_parse)


def request_chunked(req: Request, name: str) -> tuple[Mapping[str, str], str | None]:
    """``req``'s cookies (as :func:`request_cookies`) and :func:`read_chunked` of ``name``.

    The pair is shared by requests sending the same ``Cookie`` header, so a warm request
    reads its session cookie with one cache lookup.
    """
    if "cookies" in req.__dict__ or req.dict_storage_class is not ImmutableMultiDict:
        cookies = request_cookies(req)
        return cookies, read_chunked(cookies, name)
    cookies, value = _read_shared(req.environ.get("HTTP_COOKIE", ""), name)
    req.__dict__["cookies"] = cookies
    return cookies, value


@lru_cache(maxsize=PARSED_HEADERS)
def _read_shared(header: str, name: str) -> tuple[Mapping[str, str], str | None]:
    cookies = _parsed(header, ImmutableMultiDict)
    return cookies, read_chunked(cookies, name)


def read_cookie(cookies: Mapping[str, str], name: str) -> str | None:
    """The value of cookie ``name``; ``None`` when the request has none, or more than one."""
    values = _values(cookies, name)
    return values[0] if len(values) == 1 else None


def _values(cookies: Mapping[str, str], name: str) -> list[str]:
    if isinstance(cookies, MultiDict):
        return cookies.getlist(name)
    value = cookies.get(name)
    return [] if value is None else [value]


def read_chunked(cookies: Mapping[str, str], name: str) -> str | None:
    """Return the value of ``name``, or of ``<name>.0``, ``<name>.1``, ... joined in order.

    A gap in the chunks ends the value (it then fails to decrypt); more than
    :data:`MAX_CHUNKS` of them, a longer value, or a name or chunk sent twice reads as no
    cookie.
    """
    values = _values(cookies, name)
    if values:
        if len(values) > 1:
            return None
        value = values[0]
    else:
        parts = []
        for i in range(MAX_CHUNKS + 1):
            chunk = _values(cookies, f"{name}.{i}")
            if not chunk:
                break
            if len(chunk) > 1:
                return None
            parts.append(chunk[0])
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
