"""Reading a POST body (form or JSON object) and checking its CSRF token."""

from __future__ import annotations

from typing import Any

from flask import request

from .. import csrf
from ..state import AuthState


def form_body() -> dict[str, Any]:
    """The request body as a dict: a JSON object, or form fields (a repeated field is a list).

    Any other body reads as empty, so the CSRF check refuses it.
    """
    if request.is_json:
        data = request.get_json(silent=True)
        return dict(data) if isinstance(data, dict) else {}
    return {key: values[0] if len(values) == 1 else values for key, values in request.form.lists()}


def verified_csrf(state: AuthState, body: dict[str, Any]) -> bool:
    """True when the body's ``csrfToken`` matches the request's CSRF cookie."""
    cookie = request.cookies.get(state.cookie_names(request).csrf_token)
    return csrf.verify(cookie, body.get("csrfToken"), state.config.secrets)
