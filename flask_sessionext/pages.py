"""Rendering the built-in pages: the theme, the translated messages, one context for all.

Every page extends ``sessionext/layout.html`` and gets ``theme`` (the validated
``AUTH_THEME``) and ``_`` (:func:`~.i18n.gettext`) besides its own variables; ``csrf_token()``
and ``session_data`` come from the app's template context (see "Built-in pages" in the docs).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import current_app, g, make_response, render_template, request
from werkzeug.wrappers import Response

from .i18n import N_, gettext, language
from .logs import log_failure
from .providers.base import Provider
from .responses import absolute, page_url, returns_redirect, wants_json
from .theme import Theme, load_theme

#: Provider types with a form of their own on the sign-in page; the others are buttons.
FORM_TYPES = frozenset({"credentials", "email", "webauthn"})

DEFAULT_THEME = load_theme({})

#: The sign-in page's alert for each Auth.js error code it is sent with.
SIGNIN_MESSAGES = {
    "CredentialsSignin": N_("Sign in failed. Check the details you provided are correct."),
    "OAuthAccountNotLinked": N_(
        "To confirm your identity, sign in with the account you used before."
    ),
    "OAuthCallbackError": N_("The sign-in provider did not complete the sign-in. Try again."),
    "OAuthSignin": N_("Try signing in with a different account."),
    "OAuthCreateAccount": N_("Try signing in with a different account."),
    "EmailCreateAccount": N_("Try signing in with a different account."),
    "Callback": N_("Try signing in with a different account."),
    "EmailSignin": N_("The email could not be sent. Try again."),
    "SessionRequired": N_("Sign in to see this page."),
    "MissingCSRF": N_("The form expired. Try again."),
    "WebAuthnVerificationError": N_("The passkey could not be verified. Try again."),
}
#: The error page's heading and message for each Auth.js error code it shows.
ERROR_PAGES = {
    "Configuration": (
        N_("Server error"),
        N_("There is a problem with the server configuration; the log has details."),
    ),
    "AccessDenied": (N_("Access denied"), N_("You do not have permission to sign in.")),
    "Forbidden": (
        N_("Not for your account"),
        N_("You are signed in, but this page is not for your account."),
    ),
    "Verification": (
        N_("Unable to sign in"),
        N_(
            "The sign-in link is no longer valid. It may have been used or have expired, or "
            "have been opened in another browser than the one that asked for it."
        ),
    ),
    "ServiceUnavailable": (
        N_("Sign-in unavailable"),
        N_("Sign-in is unavailable right now. Try again in a moment."),
    ),
    "TooManyRequests": (
        N_("Too many attempts"),
        N_("Too many attempts. Wait a few minutes, then try again."),
    ),
}
DEFAULT_ERROR = (N_("Sign-in error"), N_("Unable to sign in."))


def error_text(code: str) -> tuple[str, str]:
    """The heading and message for ``code``, translated; a generic one for unknown codes."""
    if code in ERROR_PAGES:
        title, message = ERROR_PAGES[code]
    elif code in SIGNIN_MESSAGES:
        title, message = DEFAULT_ERROR[0], SIGNIN_MESSAGES[code]
    else:
        title, message = DEFAULT_ERROR
    return gettext(title), gettext(message)


def signin_error(code: str) -> str:
    """The sign-in page's alert for ``code``, translated; a generic one for unknown codes."""
    return gettext(SIGNIN_MESSAGES.get(code, DEFAULT_ERROR[1]))


def current_theme() -> Theme:
    """The current app's ``AUTH_THEME``; the default before ``init_app`` ran."""
    state = current_app.extensions.get("sessionext")
    return state.config.theme if state is not None else DEFAULT_THEME


def render_page(template: str, status: int = 200, **context: Any) -> Response:
    """Render ``sessionext/<template>`` with ``theme``, ``lang`` and ``_``; ``context`` adds
    the page's own variables."""
    html = render_template(
        f"sessionext/{template}", theme=current_theme(), lang=language(), _=gettext, **context
    )
    return make_response(html, status)


def provider_groups(providers: Iterable[Provider]) -> list[list[Provider]]:
    """Providers in their order, in runs: each form alone, consecutive buttons together
    (the sign-in page puts "or" between runs)."""
    groups: list[list[Provider]] = []
    for provider in providers:
        if groups and provider.type not in FORM_TYPES and groups[-1][-1].type not in FORM_TYPES:
            groups[-1].append(provider)
        else:
            groups.append([provider])
    return groups


def home_url() -> str:
    """The app's root, where the pages' "home" links go."""
    return request.script_root + "/"


def error_page(code: str, status: int, message: str | None = None) -> Response:
    """The error page for ``code`` (its heading, message and next step), in HTML or JSON;
    ``message`` (untranslated) replaces the code's own."""
    title, text = error_text(code)
    message = text if message is None else gettext(message)
    if wants_json():
        response = make_response({"error": code or "Default", "message": message}, status)
        return response
    pages = current_app.extensions["sessionext"].config.pages
    return render_page(
        "error.html",
        status,
        code=code,
        title=title,
        message=message,
        signin_url=page_url("signin", pages),
        home_url=home_url(),
    )


def store_unavailable(error: Exception) -> Response:
    """503 when the adapter's database fails: no traceback, the detail only in the log."""
    log_failure("flask-sessionext: the session store failed: %s", error, error=error)
    if "session" not in g.__dict__:
        g.session = None  # the page must not ask the failing store who is signed in
    response = error_page("ServiceUnavailable", 503)
    if returns_redirect():  # Auth.js's client reads the error from a url; give it one
        pages = current_app.extensions["sessionext"].config.pages
        url = absolute(page_url("error", pages, error="ServiceUnavailable"))
        response = make_response({**response.get_json(), "url": url}, 503)
    response.headers["Retry-After"] = "5"
    return response
