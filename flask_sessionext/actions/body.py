"""Reading a POST body: a form or a JSON object."""

from __future__ import annotations

from typing import Any

from flask import request

from ..csrf import verified_csrf

#: ``verified_csrf`` is re-exported: it lived here before moving to ``csrf``.
__all__ = ["form_body", "verified_csrf"]


def form_body() -> dict[str, Any]:
    """The request body as a dict: a JSON object, or form fields (a repeated field is a list).

    Any other body reads as empty, so the CSRF check refuses it.
    """
    if request.is_json:
        data = request.get_json(silent=True)
        return dict(data) if isinstance(data, dict) else {}
    return {key: values[0] if len(values) == 1 else values for key, values in request.form.lists()}
