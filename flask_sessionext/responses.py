"""Answers shared by the auth routes: JSON or redirect, and errors that show only a safe code."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode, urljoin

from flask import current_app, jsonify, redirect, request, url_for
from werkzeug.wrappers import Response

from .errors import AuthError, ConfigurationError
from .logs import logger as logger

#: Status of the error page per code (any other: 400). ``Configuration`` is not 500 here: the
#: page only shows a code from its URL, and a page anyone can ask for must not be a way to put
#: 5xx in the operator's monitoring; the request that failed answered (and logged) it.
ERROR_STATUS = {"AccessDenied": 403, "Verification": 403, "TooManyRequests": 429}


def wants_json() -> bool:
    """True for API clients: ``X-Auth-Return-Redirect``, a bearer token or a JSON body, or
    JSON preferred over HTML."""
    if request.is_json or "X-Auth-Return-Redirect" in request.headers:
        return True
    if "Authorization" in request.headers:
        return True
    accept = request.accept_mimetypes
    return accept.best_match(("text/html", "application/json")) == "application/json" and (
        accept["application/json"] > accept["text/html"]
    )


def returns_redirect() -> bool:
    """True for Auth.js's own client (next-auth's ``signIn``, ``signOut``): it sends
    ``X-Auth-Return-Redirect`` and reads every answer, errors too, as ``200 {"url"}``."""
    return "X-Auth-Return-Redirect" in request.headers


def absolute(url: str) -> str:
    """``url`` on the app's public origin (``AUTH_URL``, or the trusted request host), as
    every ``url`` Auth.js answers is; unchanged when the origin is not known."""
    try:
        origin = current_app.extensions["sessionext"].origin(request)
    except ConfigurationError:  # an untrusted host: the answer is this error already
        return url
    return urljoin(f"{origin}{request.path}", url)


def go_to(url: str) -> Response:
    """Send the user to ``url``: a 302, or ``200 {"url": <absolute>}`` for JSON clients."""
    if wants_json():
        return jsonify(url=absolute(url))
    return redirect(url, 302)


def page_url(page: str, pages: Mapping[str, str], **params: str) -> str:
    """The URL of a built-in page, or of the app's own page configured in ``AUTH_PAGES``."""
    base = pages.get(page) or url_for(f"sessionext.{page}")
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{base}{'&' if '?' in base else '?'}{query}" if query else base


def error_response(error: AuthError, pages: Mapping[str, str]) -> Response:
    """Answer an auth failure: the safe code in a redirect (or JSON), the detail only in the log.

    An error a client may not see is logged as an error and shown as ``Configuration``.
    Auth.js's own client gets ``200 {"url"}`` as from Auth.js, other JSON clients the code
    and a 4xx status too.
    """
    if not error.client:
        logger.error("flask-sessionext %s: %s", error.code, error.detail or "no detail")
    elif error.detail:
        logger.warning("flask-sessionext %s: %s", error.code, error.detail)
    code = error.code if error.client else "Configuration"
    url = page_url(error.page, pages, error=code, **error.params)
    if returns_redirect():
        return jsonify(url=absolute(url))
    if wants_json():
        response = jsonify(url=absolute(url), error=code)
        response.status_code = error.status
        return response
    return redirect(url, 302)


def token_error(status: int, code: str, description: str) -> Response:
    """A JSON error of the token API."""
    response = jsonify(error=code, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def invalid_token(*_: object) -> Response:
    """401 for a bad bearer token, with the RFC 6750 challenge."""
    response = token_error(401, "invalid_token", "the access token is invalid or expired")
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response
