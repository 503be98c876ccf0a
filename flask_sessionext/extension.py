"""The wiring on top: ``AuthExt`` and ``get_token``.

``init_app`` validates the config into the app's :class:`~.state.AuthState`, mounts the auth
blueprint, makes ``g.session`` lazy, writes the session cookie ``after_request``, answers
store and bearer failures on every route, and gives templates ``session_data`` and
``csrf_token``; the decorators fill the callback registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, Literal, cast, overload

from flask import Flask, Request, current_app, g, has_request_context
from flask.ctx import _AppCtxGlobals
from typing_extensions import TypeVar
from werkzeug.wrappers import Response

from . import callbacks as cb
from . import revocation
from .actions import direct
from .actions.session import resolve
from .adapters.protocol import Adapter
from .cli import auth_cli
from .config import AuthConfig, load_config, setting
from .csrf import csrf_token
from .errors import AuthError, BearerRejected, ConfigurationError, StoreError
from .logs import logger
from .pages import store_unavailable
from .providers.base import Provider
from .providers.credentials import Credentials
from .providers.oauth import OAuth2
from .responses import invalid_token
from .revocation import revocation_store
from .state import TOKEN_CACHE_SIZE, AuthState, Decoded, current_state, request_auth
from .token_store import RefreshTokenStore
from .types import JWT, Session
from .views import auth_error, make_blueprint

#: Re-exported: these lived here before :mod:`.state` held them.
__all__ = [
    "TOKEN_CACHE_SIZE",
    "AuthExt",
    "AuthState",
    "Decoded",
    "current_state",
    "get_token",
    "request_auth",
]

SessionT = TypeVar("SessionT", bound=Mapping[str, Any], default=Session)
F = TypeVar("F", bound=Callable[..., Any])
JwtCallback = Callable[..., Mapping[str, Any] | None]
SigninCallback = Callable[..., bool | str]
RedirectCallback = Callable[..., str]


class AuthExt(Generic[SessionT]):
    """Auth.js-style authentication for Flask.

    ``AuthExt(app, providers=[...])`` or ``auth = AuthExt(providers=[...])`` then
    ``auth.init_app(app)``. Per-app state lives in ``app.extensions["sessionext"]``; the
    extension keeps no reference to an app, so one instance may serve several.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        providers: Iterable[Provider] = (),
        adapter: Adapter | None = None,
        token_store: RefreshTokenStore | None = None,
    ) -> None:
        self.adapter = adapter
        self.token_store = token_store
        self.providers: dict[str, Provider] = {}
        for provider in providers:
            if provider.id in self.providers:
                raise ConfigurationError(f"two providers share the id {provider.id!r}.")
            self.providers[provider.id] = provider
        self.callbacks = cb.Callbacks()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Validate the ``AUTH_*`` config, register the auth routes and the request hooks."""
        if "sessionext" in app.extensions:
            raise RuntimeError(
                "flask-sessionext is already registered on this app; call init_app once per app."
            )
        config = load_config(app, has_adapter=self.adapter is not None)
        if not self.providers:
            raise ConfigurationError(
                "AuthExt has no providers, so nobody could sign in: pass them as "
                "AuthExt(providers=[Credentials(authorize=...), GitHub(), ...])."
            )
        clients = {
            p.id: p.client(app.config) for p in self.providers.values() if isinstance(p, OAuth2)
        }
        revocations = revocation_store(
            setting(app.config, "AUTH_JWT_REVOCATION"),
            {"token_store": self.token_store, "adapter": self.adapter},
            config.strategy,
        )
        check_adapter = getattr(self.adapter, "init_app", None)
        if check_adapter is not None:
            check_adapter(app)
        app.extensions["sessionext"] = AuthState(
            self, config, clients, self._token_store(config), revocations
        )
        for provider in self.providers.values():
            provider.init_app(app, self.adapter)
        blueprint = make_blueprint(config)
        app.register_blueprint(blueprint, url_prefix=config.base_path)
        # Flask-WTF's CSRFProtect would demand its own token on the auth routes, which check
        # Auth.js's double-submit token themselves (initialised later, see docs/pages.rst).
        exempt = getattr(app.extensions.get("csrf"), "exempt", None)
        if exempt is not None:
            exempt(blueprint)
        app.cli.add_command(auth_cli)
        app.app_ctx_globals_class = _lazy_session_globals(app.app_ctx_globals_class)
        app.before_request(_keep_lazy_globals)
        app.after_request(_after_request)
        app.register_error_handler(StoreError, store_unavailable)
        app.register_error_handler(BearerRejected, invalid_token)
        # ``auth.sign_in()`` in the app's own views raises ``AccessDenied`` the same way.
        app.register_error_handler(AuthError, auth_error)
        app.context_processor(_template_context)

    def _token_store(self, config: AuthConfig) -> RefreshTokenStore | None:
        """Where the token API keeps refresh tokens: ``token_store=``, else the adapter."""
        if config.token_api is None:
            return None
        if not any(isinstance(p, Credentials) for p in self.providers.values()):
            raise ConfigurationError("AUTH_TOKEN_API needs a Credentials provider to sign in.")
        store = self.token_store or self.adapter
        if not hasattr(store, "rotate_refresh_token"):
            raise ConfigurationError(
                "AUTH_TOKEN_API needs a refresh token store: an adapter such as "
                "SQLAlchemyAdapter(db), or token_store=RedisTokenStore(redis.Redis(...))."
            )
        return cast(RefreshTokenStore, store)

    @overload
    def jwt_callback(self, fn: JwtCallback) -> JwtCallback: ...
    @overload
    def jwt_callback(self, *, replace: bool = ...) -> Callable[[JwtCallback], JwtCallback]: ...
    def jwt_callback(self, fn: JwtCallback | None = None, *, replace: bool = False) -> Any:
        """Register the ``jwt`` callback: shape the token on sign-in, read and update.

        Called with ``token`` always; ``user``, ``account``, ``profile``, ``is_new_user`` and
        ``trigger="signIn"`` (``"signUp"`` for a user just created) on sign-in;
        ``trigger="update"`` and ``session`` on update; ``trigger="refresh"`` in the token API.
        Return the token to keep, or ``None`` to sign the user out. A second registration
        needs ``@auth.jwt_callback(replace=True)``, as do the other three callbacks.
        """
        return self._register("jwt", fn, replace)

    @overload
    def session_callback(self, fn: Callable[..., SessionT]) -> Callable[..., SessionT]: ...
    @overload
    def session_callback(
        self, *, replace: bool = ...
    ) -> Callable[[Callable[..., SessionT]], Callable[..., SessionT]]: ...
    def session_callback(
        self, fn: Callable[..., SessionT] | None = None, *, replace: bool = False
    ) -> Any:
        """Register the ``session`` callback: decide what the app and the browser see.

        Called with ``session`` (the default one) and ``token`` each time a session is
        resolved; with the database strategy ``user`` (the stored row) instead of ``token``,
        and ``trigger``/``new_session`` on update. ``None`` or an exception signs the user out.
        """
        return self._register("session", fn, replace)

    @overload
    def signin_callback(self, fn: SigninCallback) -> SigninCallback: ...
    @overload
    def signin_callback(
        self, *, replace: bool = ...
    ) -> Callable[[SigninCallback], SigninCallback]: ...
    def signin_callback(self, fn: SigninCallback | None = None, *, replace: bool = False) -> Any:
        """Register the ``signIn`` callback: ``False`` denies, a string redirects there."""
        return self._register("signin", fn, replace)

    @overload
    def redirect_callback(self, fn: RedirectCallback) -> RedirectCallback: ...
    @overload
    def redirect_callback(
        self, *, replace: bool = ...
    ) -> Callable[[RedirectCallback], RedirectCallback]: ...
    def redirect_callback(
        self, fn: RedirectCallback | None = None, *, replace: bool = False
    ) -> Any:
        """Register the ``redirect`` callback: map ``(url, base_url)`` to the URL to go to."""
        return self._register("redirect", fn, replace)

    def _register(self, kind: str, fn: F | None, replace: bool) -> F | Callable[[F], F]:
        """Register ``fn`` now, or return the decorator that will (``(replace=True)`` form)."""

        def register(fn: F) -> F:
            self.callbacks.register(kind, fn, replace=replace)
            return fn

        return register if fn is None else register(fn)

    def sign_in(self, user: Mapping[str, Any]) -> SessionT | None:
        """Sign ``user`` (a dict with an ``id``) in from a view, as after a sign-up or the app's
        own second factor; return the new session, which ``g.session`` holds from now on.

        Runs the ``signIn`` and ``jwt`` callbacks and sends ``signed_in`` as the routes do;
        with the database strategy the user must be stored and a session row is created. The
        current response carries the cookie. Raises :class:`~.errors.AccessDenied` when the
        ``signIn`` callback refuses, or answers a URL.
        """
        return cast("SessionT | None", direct.sign_in(current_state(), user))

    def sign_out(self) -> None:
        """Sign the current user out from a view: end the session (its row with the database
        strategy), send ``signed_out``; the current response expires the cookie."""
        direct.sign_out(current_state())

    def revoke_sessions(self, user_id: str) -> int:
        """Sign a user out everywhere.

        With the ``database`` strategy, delete every session row of ``user_id`` and return how
        many there were. With the ``jwt`` strategy and ``AUTH_JWT_REVOCATION``, record that
        every token of the user issued until now is revoked, on every host, and return 0 (a
        JWT cannot be counted). Without either, raise :class:`ConfigurationError`.
        """
        state = current_state()
        config = state.config
        if config.strategy == "database" and self.adapter is not None:
            return self.adapter.delete_user_sessions(str(user_id))
        if state.revocations is None:
            raise ConfigurationError(
                "revoke_sessions() needs the 'database' session strategy, or "
                "AUTH_JWT_REVOCATION with the 'jwt' strategy."
            )
        api = config.token_api
        lifetimes = (api.max_age, api.refresh_max_age) if api is not None else ()
        keep = max((config.max_age, *lifetimes))
        state.revocations.revoke_sessions_before(str(user_id), revocation.now(), keep)
        return 0

    @property
    def current_session(self) -> SessionT | None:
        """The current request's session, typed as this extension's session type."""
        return cast("SessionT | None", g.session)


def _lazy_session_globals(base: type[_AppCtxGlobals]) -> type[_AppCtxGlobals]:
    """Subclass the app's ``g`` class so ``g.session`` resolves on first access, then stays.

    ``g.session`` is then the real session dict or ``None``: no proxy stands in for it.
    """
    if getattr(base, "_sessionext_lazy", False):
        return base

    class SessionGlobals(base):  # type: ignore[valid-type,misc]
        _sessionext_lazy = True
        session = _LazySession()

    return SessionGlobals


class _LazySession:
    """``g.session``: resolved on the first read and kept in ``g``, which then shadows this
    (a non-data descriptor, as ``functools.cached_property``; no ``AttributeError`` raised)."""

    def __get__(self, obj: _AppCtxGlobals | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        found = obj.__dict__  # as ``_AppCtxGlobals.__setattr__`` does, without the call
        found["session"] = None  # also what error pages see if resolving fails (503)
        value = found["session"] = resolve(into=obj) if has_request_context() else None
        return value


def _keep_lazy_globals() -> None:
    """On the first request only: if the app set its own ``app_ctx_globals_class`` after
    ``init_app``, wrap that one too (and this request's ``g``), so ``g.session`` still works."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # A new list: Flask is iterating the old one right now; this hook never runs again.
    hooks = app.before_request_funcs
    hooks[None] = [hook for hook in hooks.get(None, ()) if hook is not _keep_lazy_globals]
    if getattr(app.app_ctx_globals_class, "_sessionext_lazy", False):
        return
    logger.warning(
        "flask-sessionext: app.app_ctx_globals_class was replaced after init_app; wrapping "
        "%s so g.session keeps working. Set it before init_app to silence this.",
        app.app_ctx_globals_class.__qualname__,
    )
    app.app_ctx_globals_class = _lazy_session_globals(app.app_ctx_globals_class)
    g._get_current_object().__class__ = app.app_ctx_globals_class


def _after_request(response: Response) -> Response:
    ra = request_auth()
    if ra is not None:
        ra.apply(response)
    return response


def _template_context() -> dict[str, Any]:
    """``session_data`` and ``auth_csrf_token()`` in every template; ``csrf_token()`` too,
    unless another extension (Flask-WTF) already owns that name."""
    context = {"session_data": g.session, "auth_csrf_token": csrf_token}
    if "csrf_token" not in current_app.jinja_env.globals:
        context["csrf_token"] = csrf_token
    return context


@overload
def get_token(request: Request | None = None, *, raw: Literal[False] = False) -> JWT | None: ...
@overload
def get_token(request: Request | None = None, *, raw: Literal[True]) -> str | None: ...
def get_token(request: Request | None = None, *, raw: bool = False) -> JWT | str | None:
    """Return the session token of ``request`` (default: the current one), as Auth.js ``getToken``.

    The decoded claims, or with ``raw=True`` the cookie string as sent; ``None`` when there is
    no valid session token. Server side only: never send it to the browser.
    """
    return current_state().read_token(request, raw)
