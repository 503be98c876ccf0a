"""Ways to sign in: credentials, any OAuth 2 or OpenID Connect provider, and presets."""

from .base import Provider
from .credentials import Credentials
from .oauth import OAuth2
from .oidc import OIDC
from .presets import Auth0, Discord, GitHub, GitLab, Google, Keycloak, MicrosoftEntraID, Okta

__all__ = [
    "OIDC",
    "Auth0",
    "Credentials",
    "Discord",
    "GitHub",
    "GitLab",
    "Google",
    "Keycloak",
    "MicrosoftEntraID",
    "OAuth2",
    "Okta",
    "Provider",
]
