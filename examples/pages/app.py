"""The built-in pages, themed: every provider preset's button, a password form and email links.

The sign-in page shows a password form, a button for each preset (GitHub, Google, GitLab,
Discord, Microsoft Entra ID, Auth0, Keycloak, Okta) with its logo and brand colour, and the
email-link form, with "or" between them. ``AUTH_THEME`` sets the brand colour, the logo and
the colour scheme (``auto`` follows the browser's light or dark setting).

The preset buttons have placeholder client ids: they show the page, but the providers refuse
them; register the app with a provider and pass your own (see "Providers" in the docs). The
password form signs in ``demo@example.com`` / ``demo-password``; the email form shows the
"Check your email" page but sends nothing (pass ``Email(send=SMTPSender())`` for real mail).

Run it::

    flask --app examples/pages/app.py run --debug
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask, render_template_string

from flask_sessionext import AuthExt
from flask_sessionext.adapters import MemoryAdapter
from flask_sessionext.providers import (
    Auth0,
    Credentials,
    Discord,
    Email,
    GitHub,
    GitLab,
    Google,
    Keycloak,
    MicrosoftEntraID,
    Okta,
    Provider,
)

DEMO_USER = {"id": "1", "name": "Demo User", "email": "demo@example.com"}
PRESETS = (GitHub, Google, GitLab, Discord, MicrosoftEntraID, Auth0, Keycloak, Okta)
ISSUERS = {
    "auth0": "https://example.eu.auth0.com/",
    "keycloak": "https://sso.example.com/realms/example",
    "okta": "https://example.okta.com",
}
HOME = """<!doctype html><title>Home</title>
{% if session_data %}<p>Signed in as {{ session_data.user.name }}.
<a href="{{ url_for('sessionext.signout') }}">Sign out</a></p>
{% else %}<p><a href="{{ url_for('sessionext.signin') }}">Sign in</a></p>{% endif %}"""


def authorize(credentials: dict[str, str]) -> dict[str, str] | None:
    """The demo account; a real app checks a password hash."""
    email = credentials.get("email", "").strip().lower()
    password = credentials.get("password", "")
    if email == DEMO_USER["email"] and secrets.compare_digest(password.encode(), b"demo-password"):
        return DEMO_USER
    return None


def send_nothing(email: str, url: str, provider: Email) -> None:
    """The showcase has no mail server: the link is dropped (it signs in whoever has it)."""


def make_providers() -> list[Provider]:
    """The password form, one button per preset, and the email form."""
    fields = {
        "email": {"label": "Email", "type": "email"},
        "password": {"label": "Password", "type": "password"},
    }
    providers: list[Provider] = [Credentials(authorize=authorize, fields=fields, name="Password")]
    for preset in PRESETS:
        options: dict[str, Any] = {"client_id": "placeholder", "client_secret": "placeholder"}
        if preset is MicrosoftEntraID:
            options["tenant_id"] = "common"
        elif preset.__name__.lower() in ISSUERS:
            options["issuer"] = ISSUERS[preset.__name__.lower()]
        providers.append(preset(**options))
    providers.append(Email(name="Email", send=send_nothing))
    return providers


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The showcase app; ``config`` overrides any key (``AUTH_THEME``, ...)."""
    app = Flask(__name__)
    app.config.update(
        AUTH_SECRET=os.environ.get("AUTH_SECRET") or secrets.token_urlsafe(32),
        AUTH_SESSION_STRATEGY="jwt",
        AUTH_THEME={
            "color_scheme": "auto",
            "brand_color": "#4f46e5",
            "logo": "/static/logo.svg",
        },
    )
    app.config.update(config or {})
    AuthExt(app, providers=make_providers(), adapter=MemoryAdapter())

    @app.get("/")
    def index() -> str:
        return render_template_string(HOME)

    return app


app = create_app()
