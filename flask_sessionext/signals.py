"""Blinker signals sent by flask-sessionext, in a private namespace.

Each is sent with the Flask app as sender; keyword arguments are listed per signal.
"""

from __future__ import annotations

from typing import Any

from blinker import NamedSignal, Namespace
from flask import current_app

_signals = Namespace()

#: A user signed in. Keyword arguments: ``user``, ``account``, ``token``.
signed_in = _signals.signal("signed-in")
#: A user signed out. Keyword arguments: ``token`` (the claims of the ended session, or None).
signed_out = _signals.signal("signed-out")
#: ``POST /session`` changed the session. Keyword arguments: ``token``, ``data``.
session_updated = _signals.signal("session-updated")


def send(signal: NamedSignal, **kwargs: Any) -> None:
    """Send ``signal`` with the current app (the real object, not the proxy) as sender."""
    signal.send(current_app._get_current_object(), **kwargs)  # type: ignore[attr-defined]
