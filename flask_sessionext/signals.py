"""Blinker signals sent by flask-sessionext, in a private namespace.

Each is sent with the Flask app as sender; keyword arguments are listed per signal.
"""

from __future__ import annotations

from typing import Any

from blinker import NamedSignal, Namespace
from flask import current_app

_signals = Namespace()

#: A user signed in. Keyword arguments: ``user``, ``account``, ``token`` (``None`` with the
#: database strategy) and ``is_new_user``.
signed_in = _signals.signal("signed-in")
#: A user signed out. Keyword arguments: ``token`` (the ended JWT's claims, or ``None`` with
#: the database strategy) and ``user_id`` (``None`` when nobody was signed in).
signed_out = _signals.signal("signed-out")
#: An adapter created a user at their first sign-in. Keyword arguments: ``user``.
user_created = _signals.signal("user-created")
#: A provider account was linked to a user. Keyword arguments: ``user``, ``account``.
account_linked = _signals.signal("account-linked")
#: ``POST /session`` changed the session. Keyword arguments: ``token``, ``data``.
session_updated = _signals.signal("session-updated")
#: A rate limit refused a request (429). Keyword arguments: ``action`` (``"signin_failed"``...),
#: ``scope`` (``"client"`` or ``"key"``), ``limit`` (like ``"10 per 1 minute"``),
#: ``retry_after`` (seconds), ``address`` (the client's) and ``key`` (the normalised account
#: name of a ``per key`` limit, else ``None``).
rate_limited = _signals.signal("rate-limited")


def send(signal: NamedSignal, **kwargs: Any) -> None:
    """Send ``signal`` with the current app (the real object, not the proxy) as sender."""
    signal.send(current_app._get_current_object(), **kwargs)  # type: ignore[attr-defined]
