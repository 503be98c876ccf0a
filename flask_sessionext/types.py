"""Typed shapes of the data flask-sessionext passes around, as Auth.js declares them.

Apps extend them the way Auth.js users augment ``next-auth``'s interfaces::

    class MyUser(SessionUser):
        role: Literal["admin", "manager", "user"]

    class MySession(Session[MyUser]):
        plan: str

    auth: AuthExt[MySession] = AuthExt(providers=[...])
    auth.current_session  # MySession | None
"""

from __future__ import annotations

from typing import Any, Generic, Literal, Protocol

from typing_extensions import NotRequired, TypedDict, TypeVar

Trigger = Literal["signIn", "signUp", "update", "refresh"]


class User(TypedDict, total=False):
    """The user a provider signs in; ``authorize`` returns one (extra keys are kept)."""

    id: str
    name: str | None
    email: str | None
    image: str | None


class Account(TypedDict, total=False):
    """How the user signed in: the provider and, for OAuth, its tokens."""

    provider: str
    type: Literal["credentials", "oauth", "oidc", "email", "webauthn"]
    providerAccountId: str
    access_token: str
    refresh_token: str
    expires_at: int
    token_type: str
    scope: str
    id_token: str


Profile = dict[str, Any]
"""The raw profile a provider returned (OAuth userinfo or id_token claims)."""


class JWT(TypedDict, total=False):
    """The session token's claims: the ``jwt`` callback's output, ``iat``, ``exp``, ``jti``."""

    name: str | None
    email: str | None
    picture: str | None
    sub: str
    iat: int
    exp: int
    jti: str


class SessionUser(TypedDict, total=False):
    """The user part of the default session; only these three fields reach the browser."""

    name: str | None
    email: str | None
    image: str | None


UserT = TypeVar("UserT", default=SessionUser)


class Session(TypedDict, Generic[UserT]):
    """The session the app and the browser see (``g.session``, ``GET /session``).

    ``Session[MyUser]`` types ``session["user"]`` as the app's own user shape.
    """

    user: NotRequired[UserT]
    expires: str


class JWTCallback(Protocol):
    """``@auth.jwt_callback``: return the token to keep, or ``None`` to sign the user out.

    A callback may declare only the keyword arguments it uses.
    """

    def __call__(
        self,
        *,
        token: JWT,
        user: User | None,
        account: Account | None,
        profile: Profile | None,
        is_new_user: bool | None,
        trigger: Trigger | None,
        session: Any,
    ) -> JWT | None: ...


class SessionCallback(Protocol):
    """``@auth.session_callback``: return what the app and the browser see as the session.

    ``token`` with the JWT strategy (and bearer tokens); ``user``, the stored row, with the
    database strategy, plus ``trigger`` and ``new_session`` on update.
    """

    def __call__(
        self,
        *,
        session: Session,
        token: JWT | None,
        user: dict[str, Any] | None,
        trigger: Trigger | None,
        new_session: Any,
    ) -> Session: ...


class SignInCallback(Protocol):
    """``@auth.signin_callback``: ``True`` allows, ``False`` denies, a string redirects there."""

    def __call__(
        self,
        *,
        user: User,
        account: Account | None,
        profile: Profile | None,
        email: Any,
        credentials: dict[str, str] | None,
    ) -> bool | str: ...


class RedirectCallback(Protocol):
    """``@auth.redirect_callback``: return the URL to send the user to after an auth action."""

    def __call__(self, *, url: str, base_url: str) -> str: ...
