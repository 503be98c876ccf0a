"""The bottom layer: one app's state (:class:`AuthState`) and one request's (:class:`RequestAuth`).

Flows (``actions/*``), the views and the extension all import from here; this module imports
no flow and no wiring (``AuthExt`` only under ``TYPE_CHECKING``), so the import graph has no
cycle. See ``docs/internals.rst``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from flask import Request, current_app, g, has_request_context, request
from flask.ctx import _AppCtxGlobals
from werkzeug.wrappers import Response

from .bearer import AccessTokens
from .callbacks import Callbacks
from .config import AuthConfig
from .cookies import PLAIN, SECURE, CookieNames, clear_chunked, read_chunked, write_chunked
from .default_session import default_session
from .errors import ConfigurationError, SessionExtError, TokenError
from .jwt import CLOCK_TOLERANCE, decode, encode
from .providers.oauth import Client, OAuth2
from .ratelimit import RateLimits
from .redirects import callback_url
from .refresh import Refresher, SharedRefresh
from .responses import logger
from .revocation import SessionRevocations
from .token_store import RefreshTokenStore
from .types import JWT, Session

if TYPE_CHECKING:
    from .adapters.protocol import Adapter
    from .extension import AuthExt

#: Decoded session tokens kept per app, keyed by the exact cookie string.
TOKEN_CACHE_SIZE = 1024


#: Claim values a shallow copy of the claims leaves unshared (nothing in them can change).
SCALARS = (str, int, float, bool, type(None))


class Decoded(NamedTuple):
    """A decoded session token as cached: its expiry, its JSON text, a read-only view,
    whether every claim is a scalar (then a shallow copy is a full copy), and its default
    session (``None`` without ``exp``)."""

    exp: int | None
    text: str
    claims: MappingProxyType[str, Any]
    flat: bool
    session: Session | None

    def copy(self) -> dict[str, Any]:
        """The claims as a new dict that shares nothing mutable with the cache."""
        return self.claims.copy() if self.flat else cast(dict[str, Any], json.loads(self.text))


@dataclass(eq=False)
class AuthState:
    """What one app needs at request time: its extension, validated config and callbacks."""

    ext: AuthExt[Any]
    config: AuthConfig
    clients: Mapping[str, Client]
    token_store: RefreshTokenStore | None
    #: Where ``AUTH_JWT_REVOCATION`` keeps revocation times; ``None`` when it is off.
    revocations: SessionRevocations | None = None
    refresher: Refresher = field(init=False, repr=False)
    callbacks: Callbacks = field(init=False)
    rate_limits: RateLimits = field(init=False, repr=False)
    #: The providers whose tokens stay in the session and are refreshed, by id.
    refreshable: Mapping[str, OAuth2] = field(init=False)
    secure: bool | None = field(init=False)
    access_tokens: AccessTokens | None = field(init=False)
    _decoded: Callable[[str, str], Decoded] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        secrets = self.config.secrets
        api = self.config.token_api
        self.access_tokens = AccessTokens(api, self.config.secrets) if api else None
        self.rate_limits = RateLimits(self.config.rate_limits, secrets[0])
        url, forced = self.config.url, self.config.cookie_secure
        self.secure = forced if forced is not None else url.startswith("https:") if url else None
        self.callbacks = self.ext.callbacks
        self.refreshable = {
            p.id: p for p in self.ext.providers.values() if isinstance(p, OAuth2) and p.refresh
        }
        self.refresher = Refresher(shared_refresh(self.ext), secrets)

        @lru_cache(maxsize=TOKEN_CACHE_SIZE)
        def decoded(raw: str, salt: str) -> Decoded:
            claims = decode(raw, secret=secrets, salt=salt)
            flat = all(isinstance(value, SCALARS) for value in claims.values())
            view = MappingProxyType(dict(claims))
            exp = claims.get("exp")
            session = default_session(claims, exp) if exp is not None else None
            return Decoded(exp, json.dumps(claims), view, flat, session)

        self._decoded = decoded

    @property
    def session_adapter(self) -> Adapter:
        """The adapter keeping database sessions (``init_app`` refuses the ``database``
        strategy without one)."""
        adapter = self.ext.adapter
        if adapter is None:
            raise ConfigurationError("the 'database' session strategy needs an adapter")
        return adapter

    def cookie_names(self, req: Request) -> CookieNames:
        """``__Secure-`` names when the app is served over https."""
        secure = self.secure
        if secure is None:
            secure = req.is_secure
        return SECURE if secure else PLAIN

    def origin(self, req: Request) -> str:
        """The app's public origin: ``AUTH_URL``, or the request's host when it is trusted."""
        if self.config.url:
            return self.config.url
        app = current_app
        if self.config.trust_host or app.config.get("TRUSTED_HOSTS") or app.debug or app.testing:
            return req.host_url.rstrip("/")
        raise ConfigurationError(
            "UntrustedHost: set AUTH_URL to the app's public origin, or AUTH_TRUST_HOST = True "
            "when a proxy you control sets the Host header."
        )

    def next_url(self, value: object, req: Request) -> str:
        """Where to send the user: ``value`` as the ``redirect`` callback allows, else the base."""
        return callback_url(value, self.origin(req), self.callbacks.redirect)

    def decoded(self, raw: str, salt: str) -> Decoded:
        """``raw`` decrypted at most once per distinct cookie; ``exp`` checked on every call.

        Raises :class:`~.errors.TokenError`.
        """
        found = self._decoded(raw, salt)
        if found.exp is not None and found.exp <= time.time() - CLOCK_TOLERANCE:
            raise TokenError("the session token has expired")
        return found

    def read_token(self, req: Request | None, raw: bool) -> JWT | str | None:
        """:func:`flask_sessionext.get_token`: the request's token, decoded unless ``raw``.

        For the current request this is the token as this response leaves it (after a
        provider-token refresh or a ``jwt`` callback change), or the bearer token's claims.
        """
        current: Request | None = (
            request._get_current_object()  # type: ignore[attr-defined]
            if has_request_context()
            else None
        )
        if req is None:
            if current is None:
                raise RuntimeError("get_token() needs a request: call it in a view or pass one.")
            req = current
        if not raw and req is current:
            if request_auth() is None:
                g.session  # noqa: B018 - resolves the session (and refreshes) once
            resolved = request_auth()
            if resolved is not None:
                if resolved.token is None or resolved.clear:
                    return None  # signed out, refused by the jwt callback, or a database session
                return cast(JWT, json.loads(json.dumps(dict(resolved.token))))
        if self.config.strategy == "database" and not raw:
            return None  # the cookie is an opaque session id: there is no token to read
        value = read_chunked(req.cookies, self.cookie_names(req).session_token)
        if value is None or raw:
            return value
        try:
            return cast(JWT, self.decoded(value, self.cookie_names(req).session_token).copy())
        except TokenError:
            return None


def shared_refresh(ext: AuthExt[Any]) -> SharedRefresh | None:
    """Where the processes of the app refresh a provider token once: ``token_store`` (Redis)
    if it can, else the adapter; ``None`` (each process for itself) with neither."""
    for store in (ext.token_store, ext.adapter):
        if hasattr(store, "refresh_once"):
            return cast(SharedRefresh, store)
    return None


def current_state() -> AuthState:
    """The :class:`AuthState` of the current app, with a clear error when it has none."""
    try:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        found: AuthState = app.extensions["sessionext"]
        return found
    except KeyError:
        raise RuntimeError(
            "flask-sessionext is not initialised on this app; did you forget auth.init_app(app)?"
        ) from None


@dataclass(slots=True)
class RequestAuth:
    """What the response must do with the session cookie; kept on ``g`` for one request.

    ``state`` and ``cookies`` (the request's) are given when resolving starts, so writing the
    response looks nothing up. ``token`` is the JWT strategy's claims; ``opaque`` the database
    strategy's cookie value. ``user_id`` is who is signed in (the token's ``sub`` or the
    session row's user).
    """

    state: AuthState
    cookies: Mapping[str, str]
    names: CookieNames
    token: JWT | None = None
    opaque: str | None = None
    user_id: str | None = None
    bearer: bool = False
    reissue: bool = False
    clear: bool = False

    def apply(self, response: Response) -> None:
        """Write, refresh or expire the session cookie; mark the response as per-user."""
        varies = "Authorization" if self.bearer else "Cookie"
        # A loop, not ``in``: Werkzeug's ``Headers.__contains__`` raises and catches an
        # HTTPException for a missing header, the most expensive step of a warm request.
        for key, _ in response.headers:
            if key.lower() == "vary":
                response.vary.add(varies)
                break
        else:
            response.headers.add("Vary", varies)
        if self.bearer:
            return
        if self.reissue and not self.clear and self.opaque is not None:
            max_age = self.state.config.max_age
            name, secure = self.names.session_token, self.names.secure
            write_chunked(response, self.cookies, name, self.opaque, secure=secure, max_age=max_age)
            return
        if self.token is not None and self.reissue and not self.clear:
            try:
                write_session(response, self.state, self.cookies, self.names, self.token)
                return
            except (SessionExtError, TypeError, ValueError):
                logger.exception("flask-sessionext: the session token could not be written")
                self.clear = True
        if self.clear:
            clear_chunked(
                response, self.cookies, self.names.session_token, secure=self.names.secure
            )


def write_session(
    response: Response,
    state: AuthState,
    cookies: Mapping[str, str],
    names: CookieNames,
    token: JWT,
) -> None:
    """Encrypt ``token`` into the session cookie(s) of ``response``, expiring stale chunks of
    the request's ``cookies``, as Flask's ``save_session(app, session, response)``.

    Raises :class:`~.errors.SessionExtError` (too large) or ``TypeError`` (not JSON).
    """
    config = state.config
    value = encode(token, secret=config.secrets, salt=names.session_token, max_age=config.max_age)
    write_chunked(
        response,
        cookies,
        names.session_token,
        value,
        secure=names.secure,
        max_age=config.max_age,
    )


def request_auth() -> RequestAuth | None:
    """This request's session bookkeeping, if ``g.session`` was resolved."""
    found: RequestAuth | None = g._get_current_object().__dict__.get("_sessionext")
    return found


def track_request_auth(
    state: AuthState,
    cookies: Mapping[str, str],
    names: CookieNames,
    into: _AppCtxGlobals | None = None,
) -> RequestAuth:
    """Start this request's session bookkeeping (``g.session`` is being resolved), in ``into``
    (this request's ``g``; looked up when not given)."""
    found = (g._get_current_object() if into is None else into).__dict__
    ra = found["_sessionext"] = RequestAuth(state, cookies, names)
    return ra


def forget_request_session() -> None:
    """The session changed hands in this request (sign-in, sign-out): ``g.session`` reads
    ``None`` from now on and ``after_request`` leaves the cookies the flow set alone."""
    g.session, g._sessionext = None, None
