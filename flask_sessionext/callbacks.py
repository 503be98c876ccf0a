"""The app's callbacks: calling them with only the keyword arguments they declare, and defaults.

Each default lives here once; :class:`Callbacks` starts with them and ``AuthExt``'s decorators
replace them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from .errors import ConfigurationError
from .responses import logger

R = TypeVar("R")


class Callback(Generic[R]):
    """An app callback, called with keyword arguments filtered to what it declares.

    The signature is inspected once, here; a parameter that would never be passed is an error
    at registration rather than a ``TypeError`` on some later request.
    """

    __slots__ = ("_accepts", "fn", "name")

    def __init__(self, name: str, fn: Callable[..., R], passed: frozenset[str]) -> None:
        params = inspect.signature(fn).parameters.values()
        self.fn, self.name = fn, name
        if any(p.kind is p.VAR_KEYWORD for p in params):
            self._accepts = passed
            return
        named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        required = {
            p.name
            for p in params
            if p.default is p.empty and p.kind is not p.VAR_POSITIONAL and p.name not in passed
        }
        if required:
            raise TypeError(
                f"{name} {fn.__qualname__}() requires {sorted(required)}, which is never passed; "
                f"it may declare any of {sorted(passed)}."
            )
        unknown = named - passed
        if unknown:
            raise TypeError(
                f"{name} {fn.__qualname__}() declares {sorted(unknown)}, which is never passed; "
                f"it may declare any of {sorted(passed)}."
            )
        self._accepts = frozenset(named & passed)

    def or_none(self, **kwargs: Any) -> R | None:
        """Call with the declared arguments (one not given is passed as ``None``); log an
        exception and answer ``None`` instead (which signs out, or refuses)."""
        try:
            return self.fn(**{name: kwargs.get(name) for name in self._accepts})
        except Exception:
            logger.exception("flask-sessionext: the %s raised; treating it as None", self.name)
            return None


JWT_ARGS = frozenset({"token", "user", "account", "profile", "is_new_user", "trigger", "session"})
SESSION_ARGS = frozenset({"session", "token", "user", "trigger", "new_session"})
SIGNIN_ARGS = frozenset({"user", "account", "profile", "email", "credentials"})
REDIRECT_ARGS = frozenset({"url", "base_url"})


class Callbacks:
    """The registry flows call: the app's ``jwt``, ``session``, ``signIn`` and ``redirect``.

    One per ``AuthExt``, shared by every app it serves, so a callback registered after
    ``init_app`` is seen at once.
    """

    __slots__ = ("custom_jwt", "custom_session", "jwt", "redirect", "session", "signin")

    def __init__(self) -> None:
        self.jwt: Callback[Mapping[str, Any] | None] = Callback(
            "jwt_callback", default_jwt, JWT_ARGS
        )
        self.session: Callback[Mapping[str, Any] | None] = Callback(
            "session_callback", default_session, SESSION_ARGS
        )
        self.signin: Callback[bool | str] = Callback("signin_callback", default_signin, SIGNIN_ARGS)
        self.redirect: Callback[str] = Callback(
            "redirect_callback", default_redirect, REDIRECT_ARGS
        )
        #: Whether the app registered its own ``jwt`` / ``session`` callback (read per request).
        self.custom_jwt = self.custom_session = False

    def register(self, kind: str, fn: Callable[..., Any], *, replace: bool = False) -> None:
        """Make ``fn`` the app's ``kind`` callback; replacing one the app registered before
        needs ``replace=True``, so two modules cannot silently override each other."""
        default, passed = _KINDS[kind]
        current: Callback[Any] = getattr(self, kind)
        if current.fn is not default and not replace:
            raise ConfigurationError(
                f"a {kind}_callback is already registered ({current.fn.__qualname__}); to "
                f"replace it, register the new one with @auth.{kind}_callback(replace=True)."
            )
        setattr(self, kind, Callback(f"{kind}_callback", fn, passed))
        self.custom_jwt = self.jwt.fn is not default_jwt
        self.custom_session = self.session.fn is not default_session


def default_jwt(token: dict[str, Any]) -> dict[str, Any]:
    """Keep the token as it is."""
    return token


def default_session(session: dict[str, Any]) -> dict[str, Any]:
    """Show the default session: ``user`` (name, email, image) and ``expires``."""
    return session


def default_signin() -> bool:
    """Let every user the provider vouched for sign in."""
    return True


def default_redirect(url: str, base_url: str) -> str:
    """Allow relative URLs and URLs on the app's own origin; anything else goes to the base."""
    if url.startswith("/"):
        return base_url + url
    return url if _origin(url) == base_url else base_url


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


#: Each kind of callback: its default and the arguments it may declare.
_KINDS: Mapping[str, tuple[Callable[..., Any], frozenset[str]]] = {
    "jwt": (default_jwt, JWT_ARGS),
    "session": (default_session, SESSION_ARGS),
    "signin": (default_signin, SIGNIN_ARGS),
    "redirect": (default_redirect, REDIRECT_ARGS),
}
