"""View decorators."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, overload

from flask import abort, current_app, g, jsonify, redirect, request

from .actions.body import form_body
from .csrf import verified_csrf
from .pages import error_page
from .responses import page_url, wants_json
from .state import current_state

F = TypeVar("F", bound=Callable[..., Any])


@overload
def login_required(view: F) -> F: ...
@overload
def login_required(*, allow: Callable[[Any], bool]) -> Callable[[F], F]: ...
def login_required(
    view: F | None = None, *, allow: Callable[[Any], bool] | None = None
) -> F | Callable[[F], F]:
    """Let only signed-in users reach ``view``; with ``allow``, only those it approves.

    ``@login_required`` or ``@login_required(allow=lambda session: ...)``. A signed-out user
    gets a 302 to the sign-in page with ``callbackUrl`` set to where they were going (JSON
    clients a 401); a signed-in user whom ``allow(g.session)`` refuses gets 403, as a page or
    ``{"error": "Forbidden"}``.
    """

    def decorate(view: F) -> F:
        call = _caller(view)

        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            session = g._get_current_object().session  # one proxy lookup, not two
            if session is None:
                if wants_json():
                    return jsonify(error="Unauthorized", message="Sign in to access this."), 401
                config = current_state().config
                return redirect(page_url("signin", config.pages, callbackUrl=_here(config.url)))
            if allow is not None and not allow(session):
                return _forbidden()
            return call(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate if view is None else decorate(view)


def _forbidden() -> Any:
    """403 for a signed-in user who may not see the page: the error page, or JSON."""
    return error_page("Forbidden", 403)


def _here(public_origin: str | None) -> str:
    """The URL of this request as the browser sees it: on ``AUTH_URL`` when set, so a proxy
    that forwards to ``http://127.0.0.1:8000`` does not leak into ``callbackUrl``."""
    if public_origin is None:
        return request.url
    query = request.query_string.decode("latin1")
    return f"{public_origin}{request.script_root}{request.path}{'?' + query if query else ''}"


def csrf_required(view: F) -> F:
    """Refuse a POST (or other unsafe method) to ``view`` unless it carries the CSRF token.

    The form field or JSON key ``csrfToken`` must match the CSRF cookie, as on the auth routes;
    put ``{{ csrf_token() }}`` in the form. Refused requests get 403 (JSON for JSON clients).
    """
    call = _caller(view)

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if request.method not in ("GET", "HEAD", "OPTIONS") and not verified_csrf(
            current_state(), form_body()
        ):
            if wants_json():
                return jsonify(error="MissingCSRF", message="The form expired. Try again."), 403
            abort(403)
        return call(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _caller(view: Callable[..., Any]) -> Callable[..., Any]:
    """``view`` itself, or Flask's sync wrapper for an ``async def`` view (decided once)."""
    if not inspect.iscoroutinefunction(view):
        return view
    return lambda *args, **kwargs: current_app.ensure_sync(view)(*args, **kwargs)
