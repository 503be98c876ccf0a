"""Ready-made providers: endpoints, scopes and a profile mapping for well-known services.

Each takes the options of :class:`~.oauth.OAuth2` (``client_id``, ``client_secret``,
``profile=``, ``refresh=``, ...); the client id and secret may also come from
``AUTH_<ID>_ID`` and ``AUTH_<ID>_SECRET`` (``AUTH_GITHUB_ID``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from flask import Flask

from ..config import setting
from ..errors import OAuthFlowError
from ..identity import normalize_email
from ..theme import WHITE, Brand
from .oauth import Client, OAuth2
from .oidc import OIDC


class GitHub(OAuth2):
    """GitHub (OAuth apps and GitHub apps); the email is the verified primary one.

    ``/user`` shows only a public address, which GitHub does not vouch for: the address is
    read from ``/user/emails`` (scope ``user:email``), and only the primary, verified one
    counts. The profile then carries ``"email_verified": true``.
    """

    icon: ClassVar[str | None] = "github"
    default_brand: ClassVar[Brand | None] = Brand.of((36, 41, 47), WHITE, WHITE, (36, 41, 47))

    def __init__(self, *, id: str = "github", name: str = "GitHub", **options: Any) -> None:
        options.setdefault("scope", "read:user user:email")
        api = options.pop("api_url", "https://api.github.com")
        web = options.pop("base_url", "https://github.com")
        super().__init__(
            id=id,
            name=name,
            authorization_endpoint=f"{web}/login/oauth/authorize",
            token_endpoint=f"{web}/login/oauth/access_token",
            userinfo_endpoint=f"{api}/user",
            **options,
        )
        self.emails_endpoint = f"{api}/user/emails"

    def fetch_profile(
        self, client: Client, tokens: Mapping[str, Any], checks: Mapping[str, str]
    ) -> dict[str, Any]:
        """The ``/user`` profile, its email replaced by the primary verified one (if any)."""
        profile = super().fetch_profile(client, tokens, checks)
        try:
            emails = self.get_json(client, tokens, self.emails_endpoint)
        except OAuthFlowError:
            emails = None  # no user:email scope, or GitHub failed: no verified address
        primary = [
            e["email"]
            for e in (emails if isinstance(emails, list) else [])
            if isinstance(e, dict) and e.get("primary") is True and e.get("verified") is True
        ]
        if primary and isinstance(primary[0], str):
            profile["email"], profile["email_verified"] = primary[0], True
        else:
            profile["email_verified"] = False
        return profile

    def map_profile(self, profile: dict[str, Any], tokens: dict[str, Any]) -> Mapping[str, Any]:
        """GitHub's numeric id, name (or login), email and avatar."""
        return {
            "id": str(profile["id"]),
            "name": profile.get("name") or profile.get("login"),
            "email": profile.get("email"),
            "image": profile.get("avatar_url"),
        }


class GitLab(OAuth2):
    """GitLab.com, or a self-managed instance with ``base_url=``."""

    icon: ClassVar[str | None] = "gitlab"
    default_brand: ClassVar[Brand | None] = Brand.of((23, 19, 33), WHITE)

    def __init__(self, *, id: str = "gitlab", name: str = "GitLab", **options: Any) -> None:
        options.setdefault("scope", "read_user")
        base = options.pop("base_url", "https://gitlab.com")
        super().__init__(
            id=id,
            name=name,
            authorization_endpoint=f"{base}/oauth/authorize",
            token_endpoint=f"{base}/oauth/token",
            userinfo_endpoint=f"{base}/api/v4/user",
            **options,
        )

    def verified_email(self, profile: Mapping[str, Any]) -> str | None:
        """The email, when GitLab says the user confirmed it (``confirmed_at``)."""
        return normalize_email(profile.get("email")) if profile.get("confirmed_at") else None

    def map_profile(self, profile: dict[str, Any], tokens: dict[str, Any]) -> Mapping[str, Any]:
        """GitLab's id, name (or username), email and avatar."""
        return {
            "id": str(profile["id"]),
            "name": profile.get("name") or profile.get("username"),
            "email": profile.get("email"),
            "image": profile.get("avatar_url"),
        }


class Discord(OAuth2):
    """Discord; the image is the user's avatar, or Discord's default one."""

    icon: ClassVar[str | None] = "discord"
    default_brand: ClassVar[Brand | None] = Brand.of((88, 101, 242), WHITE)

    def __init__(self, *, id: str = "discord", name: str = "Discord", **options: Any) -> None:
        options.setdefault("scope", "identify email")
        super().__init__(
            id=id,
            name=name,
            authorization_endpoint="https://discord.com/api/oauth2/authorize",
            token_endpoint="https://discord.com/api/oauth2/token",
            userinfo_endpoint="https://discord.com/api/users/@me",
            **options,
        )

    def verified_email(self, profile: Mapping[str, Any]) -> str | None:
        """The email, when Discord says it is verified (``verified: true``)."""
        return normalize_email(profile.get("email")) if profile.get("verified") is True else None

    def map_profile(self, profile: dict[str, Any], tokens: dict[str, Any]) -> Mapping[str, Any]:
        """Discord's id, display name (or username), email and avatar URL."""
        user_id, avatar = str(profile["id"]), profile.get("avatar")
        if avatar:
            ext = "gif" if str(avatar).startswith("a_") else "png"
            image = f"https://cdn.discordapp.com/avatars/{user_id}/{avatar}.{ext}"
        else:
            image = f"https://cdn.discordapp.com/embed/avatars/{(int(user_id) >> 22) % 6}.png"
        return {
            "id": user_id,
            "name": profile.get("global_name") or profile.get("username"),
            "email": profile.get("email"),
            "image": image,
        }


class Google(OIDC):
    """Google accounts (OpenID Connect)."""

    icon: ClassVar[str | None] = "google"
    default_brand: ClassVar[Brand | None] = Brand.of(
        WHITE, (31, 31, 31), (19, 19, 20), (227, 227, 227)
    )

    def __init__(self, *, id: str = "google", name: str = "Google", **options: Any) -> None:
        super().__init__(issuer="https://accounts.google.com", id=id, name=name, **options)


class MicrosoftEntraID(OIDC):
    """Microsoft Entra ID (Azure AD) for one tenant: ``tenant_id`` is the directory's id.

    Without ``tenant_id`` or ``issuer``, ``AUTH_<ID>_TENANT_ID`` or ``AUTH_<ID>_ISSUER`` is read
    at ``init_app``.
    """

    icon: ClassVar[str | None] = "microsoft"
    default_brand: ClassVar[Brand | None] = Brand.of(WHITE, (94, 94, 94), (47, 47, 47), WHITE)

    def __init__(
        self,
        *,
        tenant_id: str | None = None,
        id: str = "microsoft-entra-id",
        name: str = "Microsoft Entra ID",
        **options: Any,
    ) -> None:
        super().__init__(id=id, name=name, **options)
        if tenant_id:
            self.issuer = _entra_issuer(tenant_id)

    def init_app(self, app: Flask, adapter: object | None) -> None:
        tenant = setting(app.config, f"{self.config_key}_TENANT_ID")
        if not self.issuer and tenant:
            self.issuer = _entra_issuer(str(tenant))
        super().init_app(app, adapter)


def _entra_issuer(tenant_id: str) -> str:
    return f"https://login.microsoftonline.com/{tenant_id}/v2.0"


class Auth0(OIDC):
    """An Auth0 tenant; ``issuer`` (or ``AUTH_AUTH0_ISSUER``) is ``https://<your-domain>/``."""

    icon: ClassVar[str | None] = "auth0"
    default_brand: ClassVar[Brand | None] = Brand.of((235, 84, 36))

    def __init__(self, *, id: str = "auth0", name: str = "Auth0", **options: Any) -> None:
        super().__init__(id=id, name=name, **options)


class Keycloak(OIDC):
    """A Keycloak realm; ``issuer`` (or ``AUTH_KEYCLOAK_ISSUER``) is
    ``https://<host>/realms/<realm>``."""

    icon: ClassVar[str | None] = "keycloak"
    default_brand: ClassVar[Brand | None] = Brand.of((0, 106, 135), WHITE)

    def __init__(self, *, id: str = "keycloak", name: str = "Keycloak", **options: Any) -> None:
        super().__init__(id=id, name=name, **options)


class Okta(OIDC):
    """An Okta org or authorization server; ``issuer`` (or ``AUTH_OKTA_ISSUER``) as Okta shows
    it."""

    icon: ClassVar[str | None] = "okta"
    default_brand: ClassVar[Brand | None] = Brand.of((22, 98, 221), WHITE)

    def __init__(self, *, id: str = "okta", name: str = "Okta", **options: Any) -> None:
        super().__init__(id=id, name=name, **options)
