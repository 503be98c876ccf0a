"""Turning a ``callbackUrl`` from a request into a URL that is safe to redirect to."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .callbacks import Callback

# Browsers drop tabs and newlines inside URLs and read "\" as "/", so "/\tevil" and "/\evil"
# would become "//evil": any such character makes the value unusable.
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def callback_url(value: object, base_url: str, redirect: Callback[str]) -> str:
    """Return where to send the user: ``value`` if it passes the redirect callback, else the base.

    Only relative paths and absolute http(s) URLs reach the callback; ``//host``, ``/\\host``,
    ``javascript:`` and unparsable values fall back to ``base_url``.
    """
    if not isinstance(value, str) or not value or _UNSAFE.search(value):
        return base_url
    if value.startswith("//"):
        return base_url
    if not value.startswith("/"):
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError on a malformed port or IPv6 host
        except ValueError:
            return base_url
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return base_url
    url = redirect.or_none(url=value, base_url=base_url)
    return url if isinstance(url, str) and url else base_url
