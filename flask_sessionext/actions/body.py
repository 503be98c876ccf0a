"""Reading a request body: the one place the auth routes do it.

A body that is too large (over :data:`MAX_BODY` bytes), not valid JSON, nested deeper than
:data:`MAX_DEPTH`, or a form Werkzeug cannot parse reads as no body: the route then refuses
the request with its usual 4xx (a failed CSRF check, ``invalid_request``), and the log gets
one WARNING line. Nothing a client sends raises.
"""

from __future__ import annotations

import json
from typing import Any

from flask import request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from ..csrf import verified_csrf
from ..logs import logger

#: ``verified_csrf`` is re-exported: it lived here before moving to ``csrf``.
__all__ = ["MAX_BODY", "MAX_DEPTH", "form_body", "form_fields", "json_body", "verified_csrf"]

#: Largest body an auth route reads, in bytes (a sign-in form is under 1 KB, a passkey answer
#: a few KB).
MAX_BODY = 256 * 1024
#: Deepest nesting of arrays and objects accepted in a JSON body.
MAX_DEPTH = 32


def json_body() -> Any:
    """The JSON value of the body, or ``None`` when the request has no acceptable JSON body."""
    if not request.is_json:
        return None
    data = _data()
    if data is None:
        return None
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as error:  # RecursionError: nested beyond the stack
        _refused(f"not JSON ({type(error).__name__})")
        return None
    if _depth(value) > MAX_DEPTH:
        _refused(f"JSON nested deeper than {MAX_DEPTH}")
        return None
    return value


def form_fields() -> MultiDict[str, str]:
    """The body's form fields; empty when there are none or the form cannot be read."""
    _limit()
    try:
        return request.form
    except (HTTPException, ValueError) as error:
        _refused(f"unreadable form ({type(error).__name__})")
        return MultiDict()


def form_body() -> dict[str, Any]:
    """The request body as a dict: a JSON object, or form fields (a repeated field is a list).

    Any other body reads as empty, so the CSRF check refuses it.
    """
    if request.is_json:
        data = json_body()
        return dict(data) if isinstance(data, dict) else {}
    fields = form_fields()
    return {key: values[0] if len(values) == 1 else values for key, values in fields.lists()}


def _limit() -> None:
    """Cap what Werkzeug reads of this request's body at :data:`MAX_BODY` bytes."""
    current = request.max_content_length
    request.max_content_length = MAX_BODY if current is None else min(current, MAX_BODY)


def _data() -> bytes | None:
    _limit()
    try:
        return request.get_data(cache=True)
    except HTTPException as error:  # 413 from the cap above, or a broken stream
        _refused(f"unreadable ({type(error).__name__})")
        return None


def _depth(value: Any) -> int:
    """How deep arrays and objects nest in ``value`` (iteratively: no recursion limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                stack.extend((child, level + 1) for child in item)
    return deepest


def _refused(reason: str) -> None:
    logger.warning("flask-sessionext: request body refused: %s", reason)
