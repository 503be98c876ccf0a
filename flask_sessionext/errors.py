"""Exceptions raised by flask-sessionext, and the Auth.js error codes clients may see.

A flow raises an :class:`AuthError` subclass; the blueprint's error handler answers it (the
code on a page or as JSON, the detail in the log), as Auth.js's ``errors.ts`` and the one
``catch`` in its ``index.ts`` do.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

#: What a client-visible code of :class:`CredentialsSignin` may be.
_CLIENT_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: The page that shows an error: the sign-in page (try again) or the error page.
Page = Literal["signin", "error"]


class SessionExtError(Exception):
    """Base class of every exception this package raises."""


class ConfigurationError(SessionExtError):
    """The extension is configured wrongly; raised at ``init_app`` so the app refuses to start."""


class TokenError(SessionExtError):
    """A session token could not be decrypted or is no longer valid."""


class OAuthFlowError(SessionExtError):
    """A step of an OAuth or OpenID Connect sign-in failed; the message goes to the log only."""


class StoreError(SessionExtError):
    """The adapter's database failed or is unreachable; requests that need it answer 503."""


class StoreConflict(StoreError):
    """A write lost a race with another (a unique constraint); reading again resolves it."""


class BearerRejected(SessionExtError):
    """The request's ``Authorization: Bearer`` token is malformed, forged or expired (401)."""


class AuthError(SessionExtError):
    """A failed auth action, answered once by the blueprint as Auth.js does.

    The client sees only :attr:`code`: on :attr:`page` (a redirect), or as JSON with
    :attr:`status`. ``detail`` goes to the log only; ``params`` join the page's query.
    Raised as is, it is a server-side failure, shown as ``Configuration``.
    """

    code: ClassVar[str] = "Configuration"
    page: ClassVar[Page] = "error"
    status: ClassVar[int] = 500
    #: Whether a client may see the code (Auth.js's ``isClientError``); else it is logged as
    #: an error.
    client: ClassVar[bool] = False

    def __init__(self, detail: str = "", **params: str) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        self.params = params


class CredentialsSignin(AuthError):
    """The credentials provider refused the submitted fields.

    ``authorize()`` raises a subclass with its own ``code`` to tell the client why, as Auth.js
    apps do (``class InvalidLoginError extends CredentialsSignin { code = "..." }``)::

        class AccountLocked(CredentialsSignin):
            code = "account_locked"

    The client sees ``?error=CredentialsSignin&code=account_locked``: a subclass's ``code`` is
    its :attr:`client_code` (letters, digits, ``-`` and ``_``, at most 64; anything else shows
    as ``credentials``), and the error stays ``CredentialsSignin``. Returning ``None`` from
    ``authorize()`` refuses with ``code=credentials``.
    """

    code = "CredentialsSignin"
    page = "signin"
    status = 401
    client = True
    #: What the client sees as ``code=``.
    client_code: ClassVar[str] = "credentials"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("code")
        if own is not None:
            cls.client_code = own if _CLIENT_CODE.fullmatch(str(own)) else "credentials"
            cls.code = "CredentialsSignin"

    def __init__(self, detail: str = "", **params: str) -> None:
        super().__init__(detail, **{"code": self.client_code, **params})


class OAuthAccountNotLinked(AuthError):
    """The account's email belongs to another user, or the account to another signed-in user."""

    code = "OAuthAccountNotLinked"
    page = "signin"
    status = 400
    client = True


class OAuthCallbackError(AuthError):
    """The provider answered an error, or its callback failed a check."""

    code = "OAuthCallbackError"
    page = "signin"
    status = 400
    client = True


class MissingCSRF(AuthError):
    """The request carries no CSRF token matching its CSRF cookie."""

    code = "MissingCSRF"
    page = "signin"
    status = 403
    client = True


class AccessDenied(AuthError):
    """The ``signIn`` or ``jwt`` callback, or the provider, refused the sign-in."""

    code = "AccessDenied"
    page = "error"
    status = 403
    client = True


class Verification(AuthError):
    """An email sign-in link that is malformed, unknown, used or expired."""

    code = "Verification"
    page = "error"
    status = 403
    client = True


class TooManyRequests(AuthError):
    """A rate limit of ``action`` refused the request: 429 with ``Retry-After``, the error page
    shown in place (not a redirect); the limit is logged where it tripped."""

    code = "TooManyRequests"
    page = "error"
    status = 429
    client = True

    def __init__(self, action: str, retry_after: int) -> None:
        super().__init__()
        self.action = action
        self.retry_after = retry_after


class WebAuthnVerificationError(AuthError):
    """A passkey answer that could not be verified (challenge, origin, signature, counter)."""

    code = "WebAuthnVerificationError"
    page = "signin"
    status = 400
    client = True


#: The errors a client may see, by code.
CLIENT_ERRORS: dict[str, type[AuthError]] = {
    error.code: error
    for error in (
        CredentialsSignin,
        OAuthAccountNotLinked,
        OAuthCallbackError,
        MissingCSRF,
        AccessDenied,
        Verification,
        TooManyRequests,
        WebAuthnVerificationError,
    )
}


#: Class names, anywhere in an exception's class hierarchy, of failures to reach a store: the
#: DB-API's ``OperationalError`` and ``InterfaceError`` (sqlite3, psycopg, SQLAlchemy's
#: wrappers of them), redis-py's ``ConnectionError`` and ``TimeoutError``, SQLAlchemy's pool
#: ``TimeoutError`` and ``DisconnectionError``.
_STORE_FAILURES = frozenset(
    {"OperationalError", "InterfaceError", "ConnectionError", "TimeoutError", "DisconnectionError"}
)


def is_store_failure(error: BaseException) -> bool:
    """True when ``error`` means a database or cache could not be reached or failed to answer.

    ``OSError`` (refused connections, timeouts), :class:`StoreError`, and the driver errors
    named in ``_STORE_FAILURES``; a driver's ``DataError`` or ``IntegrityError`` is a bug or
    bad input, not an outage.
    """
    if isinstance(error, (OSError, StoreError)):
        return True
    return any(cls.__name__ in _STORE_FAILURES for cls in type(error).__mro__)
