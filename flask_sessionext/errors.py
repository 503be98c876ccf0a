"""Exceptions raised by flask-sessionext, and the error codes clients may see."""

from __future__ import annotations


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
