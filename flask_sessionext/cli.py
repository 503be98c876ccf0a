"""The ``flask auth`` command group: a new secret, a configuration check, and cleanup."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from .cookies import PLAIN, SECURE
from .errors import SessionExtError
from .providers.oauth import OAuth2
from .providers.oidc import OIDC
from .state import AuthState, current_state

#: Random bytes in a secret from ``flask auth secret`` (Auth.js's ``npx auth secret`` uses 32).
SECRET_BYTES = 32


@click.group("auth")
def auth_cli() -> None:
    """flask-sessionext: secrets, configuration check, cleanup of expired rows."""


@auth_cli.command("secret")
def secret_command() -> None:
    """Print a new random value for AUTH_SECRET."""
    click.echo(secrets.token_urlsafe(SECRET_BYTES))
    click.echo("Set it as AUTH_SECRET (environment or app config); keep it out of git.", err=True)


@auth_cli.command("check")
@with_appcontext
def check_command() -> None:
    """Check the configuration and print what to register at each provider."""
    state = current_state()
    config = state.config
    problems: list[str] = []
    origin = config.url
    if origin is None:
        origin = "http://localhost:5000"
        if not (config.trust_host or current_app.debug or current_app.testing):
            problems.append(
                "AUTH_URL is not set and the request host is not trusted: every auth route "
                "answers Configuration. Set AUTH_URL to the app's public origin."
            )
        click.echo(f"AUTH_URL: not set (URLs below assume {origin})")
    else:
        click.echo(f"AUTH_URL: {origin}")
    click.echo(f"strategy: {config.strategy}")
    click.echo(f"cookies: {_cookie_names(state)}")
    click.echo("providers:")
    for provider in state.ext.providers.values():
        click.echo(f"  {provider.id} ({provider.type}, {provider.name!r})")
        if isinstance(provider, OAuth2):
            click.echo(f"    callback URL: {origin}{config.base_path}/callback/{provider.id}")
        if isinstance(provider, OIDC):
            problems.extend(_discovery(provider))
    if problems:
        for problem in problems:
            click.echo(f"problem: {problem}", err=True)
        raise SystemExit(1)
    click.echo("ok")


@auth_cli.command("cleanup")
@with_appcontext
def cleanup_command() -> None:
    """Delete expired sessions, verification tokens and refresh tokens; print the counts."""
    ext = current_state().ext
    stores: list[Any] = [s for s in (ext.adapter, ext.token_store) if s is not None]
    cleanable = [s for s in dict.fromkeys(stores) if hasattr(s, "delete_expired")]
    if not cleanable:
        raise click.ClickException(
            "nothing to clean: this app has no adapter or token store that keeps expired rows "
            "(Redis keys expire by themselves)."
        )
    now = datetime.now(timezone.utc)
    for store in cleanable:
        try:
            counts: dict[str, int] = store.delete_expired(now)
        except SessionExtError as error:
            raise click.ClickException(f"the store failed: {error}") from error
        for table, count in counts.items():
            click.echo(f"{table}: {count} deleted")


def _cookie_names(state: AuthState) -> str:
    if state.secure is None:
        return f"{PLAIN.session_token} on http, {SECURE.session_token} on https"
    return (SECURE if state.secure else PLAIN).session_token


def _discovery(provider: OIDC) -> list[str]:
    """Print whether the provider's discovery answers; return the problem, if any."""
    try:
        metadata = provider.metadata()
    except SessionExtError as error:
        return [f"provider {provider.id!r}: {error}"]
    click.echo(f"    discovery: ok ({metadata['issuer']})")
    return []
