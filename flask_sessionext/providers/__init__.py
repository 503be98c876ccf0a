"""Ways to sign in: credentials, email links, passkeys, any OAuth 2 or OpenID Connect provider,
presets."""

from ..identity import normalize_email
from .base import Provider
from .credentials import Credentials
from .email import Email, SMTPSender
from .oauth import OAuth2
from .oidc import OIDC
from .passkey import Passkey
from .presets import Auth0, Discord, GitHub, GitLab, Google, Keycloak, MicrosoftEntraID, Okta

__all__ = [
    "OIDC",
    "Auth0",
    "Credentials",
    "Discord",
    "Email",
    "GitHub",
    "GitLab",
    "Google",
    "Keycloak",
    "MicrosoftEntraID",
    "OAuth2",
    "Okta",
    "Passkey",
    "Provider",
    "SMTPSender",
    "normalize_email",
]
