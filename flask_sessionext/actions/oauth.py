"""OAuth and OpenID Connect sign-in: the redirect to the provider, and the callback.

State, PKCE verifier, nonce and the callback URL each travel in their own short-lived
encrypted cookie (salted by its name, bound to the provider), never in Flask's session,
and are expired as soon as the callback has used them.
"""

from __future__ import annotations

import hmac
from typing import Any

from authlib.common.security import generate_token
from flask import after_this_request, request
from werkzeug.wrappers import Response

from ..cookies import CookieNames
from ..errors import AccessDenied, OAuthCallbackError, OAuthFlowError
from ..identity import checked_user
from ..providers.oauth import OAuth2
from ..providers.oidc import OIDC
from ..refresh import provider_tokens
from ..responses import go_to, logger
from ..state import AuthState
from ..types import Account
from .body import form_fields
from .checks import clear_check, read_check, set_check
from .signin import complete_signin

_LENGTHS = {"state": 32, "pkce": 64, "nonce": 32}


def callback_uri(state: AuthState, provider: OAuth2) -> str:
    """The redirect URI registered with the provider: ``<origin><base path>/callback/<id>``."""
    return f"{state.origin(request)}{state.config.base_path}/callback/{provider.id}"


def start(state: AuthState, provider: OAuth2, next_url: str) -> Response:
    """Send the user to the provider, with fresh checks stored in their cookies."""
    checks = {check: generate_token(_LENGTHS[check]) for check in provider.checks}
    url = provider.authorization_url(
        state.clients[provider.id], callback_uri(state, provider), checks
    )
    response = go_to(url)
    names = state.cookie_names(request)
    for check, value in [*checks.items(), ("callback", next_url)]:
        set_check(response, state, _cookie_name(names, check), value, provider=provider.id)
    return response


def callback(state: AuthState, provider: OAuth2) -> Response:
    """Finish the sign-in: verify the checks, exchange the code, read the profile, sign in."""
    names = state.cookie_names(request)
    checks = {
        check: _text(read_check(state, _cookie_name(names, check), provider=provider.id))
        for check in [*provider.checks, "callback"]
    }

    @after_this_request
    def clear_checks(response: Response) -> Response:  # a failed sign-in spends them too
        for check in [*provider.checks, "callback"]:
            clear_check(response, state, _cookie_name(names, check))
        return response

    return _finish(state, provider, checks)


def _finish(state: AuthState, provider: OAuth2, checks: dict[str, str | None]) -> Response:
    params = request.args if request.method == "GET" else form_fields()
    if "error" in params:
        error = params.get("error", "")[:64]
        shown = AccessDenied if error == "access_denied" else OAuthCallbackError
        raise shown(f"provider {provider.id!r} answered error={error!r}")
    missing = [check for check in provider.checks if checks[check] is None]
    if missing:
        raise OAuthCallbackError(f"missing or invalid {missing} cookie")
    if "state" in provider.checks and not hmac.compare_digest(
        str(checks["state"]).encode(), params.get("state", "").encode()
    ):
        raise OAuthCallbackError("state does not match")
    issuer = params.get("iss")
    if isinstance(provider, OIDC) and issuer is not None and issuer != provider.issuer:
        raise OAuthCallbackError("iss does not match the issuer")
    code = params.get("code")
    if not code:
        raise OAuthCallbackError("no authorization code")
    client = state.clients[provider.id]
    verified = {k: v for k, v in checks.items() if v is not None}
    try:
        tokens = provider.exchange_code(client, callback_uri(state, provider), code, verified)
        profile = provider.fetch_profile(client, tokens, verified)
        user = provider.profile(profile, tokens)
        verified_email = provider.verified_email(profile)
    except OAuthFlowError as error:
        raise OAuthCallbackError(f"{provider.id}: {error}") from error
    except Exception as error:
        logger.exception(
            "flask-sessionext: the profile of provider %r could not be read", provider.id
        )
        raise OAuthCallbackError(f"{provider.id}: {type(error).__name__}") from error
    user = checked_user(user, f"profile() of provider {provider.id!r}")
    account = _account(provider, user["id"], tokens)
    extra = {"provider": provider.id, **provider_tokens(tokens)} if provider.refresh else {}
    return complete_signin(
        state,
        provider,
        user,
        account,
        profile=profile,
        next_url=checks["callback"],
        token_claims=extra,
        verified_email=verified_email,
    )


def _account(provider: OAuth2, account_id: str, tokens: dict[str, Any]) -> Account:
    account: dict[str, Any] = {
        "provider": provider.id,
        "type": provider.type,
        "providerAccountId": account_id,
    }
    for key in ("access_token", "refresh_token", "expires_at", "token_type", "scope", "id_token"):
        if tokens.get(key) is not None:
            account[key] = tokens[key]
    return account  # type: ignore[return-value]


def _cookie_name(names: CookieNames, check: str) -> str:
    return names.callback_url if check == "callback" else names.check(check)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
