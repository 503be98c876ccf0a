"""View decorators."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, jsonify, redirect, request

from .extension import current_state
from .responses import page_url, wants_json

F = TypeVar("F", bound=Callable[..., Any])


def login_required(view: F) -> F:
    """Let only signed-in users reach ``view``.

    Others get a 302 to the sign-in page with ``callbackUrl`` set to where they were going,
    or, when they ask for JSON, a 401 JSON body.
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.session is None:
            if wants_json():
                return jsonify(error="Unauthorized", message="Sign in to access this."), 401
            return redirect(
                page_url("signin", current_state().config.pages, callbackUrl=request.url)
            )
        return current_app.ensure_sync(view)(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
