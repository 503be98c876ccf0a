"""The auth routes, Auth.js's REST set: one small function per route."""

from __future__ import annotations

from flask import Blueprint, abort, g, jsonify, request
from werkzeug.wrappers import Response

from .actions import email as email_signin
from .actions import oauth, token_api
from .actions.body import form_body
from .actions.callback import credentials_callback
from .actions.session import resolve
from .actions.signout import signout as do_signout
from .config import AuthConfig
from .csrf import csrf_token, verified_csrf
from .errors import (
    CLIENT_ERRORS,
    AuthError,
    BearerRejected,
    MissingCSRF,
    SessionExtError,
    StoreError,
    TooManyRequests,
)
from .pages import error_page as render_error
from .pages import home_url, provider_groups, render_page, signin_error, store_unavailable
from .providers.base import Provider
from .providers.credentials import Credentials
from .providers.email import Email
from .providers.oauth import OAuth2
from .providers.passkey import Passkey
from .responses import (
    ERROR_STATUS,
    error_response,
    go_to,
    invalid_token,
    logger,
    page_url,
    wants_json,
)
from .state import AuthState, current_state


def make_blueprint(config: AuthConfig) -> Blueprint:
    """The ``sessionext`` blueprint; ``init_app`` mounts it at ``AUTH_BASE_PATH``."""
    bp = Blueprint("sessionext", __name__, template_folder="templates")
    bp.add_url_rule("/csrf", "csrf", get_csrf)
    bp.add_url_rule("/providers", "providers", get_providers)
    bp.add_url_rule("/session", "session", get_session)
    bp.add_url_rule("/session", "update_session", update_session, methods=["POST"])
    bp.add_url_rule("/signin", "signin", signin_page)
    bp.add_url_rule("/webauthn-options/<provider_id>", "webauthn_options", webauthn_options)
    bp.add_url_rule("/signin/<provider_id>", "signin_provider", signin, methods=["POST"])
    bp.add_url_rule("/callback/<provider_id>", "callback", callback, methods=["GET", "POST"])
    bp.add_url_rule("/signout", "signout", signout_page)
    bp.add_url_rule("/signout", "signout_post", signout, methods=["POST"])
    bp.add_url_rule("/error", "error", error_page)
    bp.add_url_rule("/verify-request", "verify_request", verify_request_page)
    if config.token_api is not None:
        paths = config.token_api.paths
        bp.add_url_rule(paths["login"], "token_login", token_login, methods=["POST"])
        bp.add_url_rule(paths["refresh"], "token_refresh", token_refresh, methods=["POST"])
        bp.add_url_rule(paths["logout"], "token_logout", token_logout, methods=["POST"])
        bp.add_url_rule(paths["jwks"], "jwks", jwks)
    bp.before_request(_check_csrf)
    bp.after_request(_private)
    # Flask asks the blueprint's handlers before the app's, each for the whole class hierarchy,
    # so the SessionExtError handler below would answer a StoreError or BearerRejected raised
    # here: the blueprint registers the app-level answers again, for its own routes.
    bp.register_error_handler(StoreError, store_unavailable)
    bp.register_error_handler(BearerRejected, invalid_token)
    bp.register_error_handler(AuthError, auth_error)
    bp.register_error_handler(SessionExtError, _configuration_error)
    return bp


def get_csrf() -> Response:
    """``{"csrfToken": ...}``; sets the CSRF cookie when the request had no valid one."""
    return jsonify(csrfToken=csrf_token())


def get_providers() -> Response:
    """Every configured provider with its sign-in and callback URLs."""
    state = current_state()
    base = state.origin(request) + state.config.base_path
    return jsonify(
        {
            p.id: {
                "id": p.id,
                "name": p.name,
                "type": p.type,
                "signinUrl": f"{base}/signin/{p.id}",
                "callbackUrl": f"{base}/callback/{p.id}",
            }
            for p in state.ext.providers.values()
        }
    )


def get_session() -> Response:
    """The session JSON, or ``null`` when signed out; the cookie's expiry slides."""
    g.session = resolve(reissue=True)
    return _session_json(g.session)


def update_session() -> Response:
    """Update the session from ``{"csrfToken", "data"}``: ``jwt`` runs with ``trigger="update"``."""
    g.session = resolve(reissue=True, trigger="update", data=form_body().get("data"))
    return _session_json(g.session)


def signin_page() -> Response:
    """The built-in sign-in page (template ``sessionext/signin.html``)."""
    state = current_state()
    if "signin" in state.config.pages:
        return go_to(page_url("signin", state.config.pages, **_query("callbackUrl", "error")))
    code = request.args.get("error", "")
    providers = list(state.ext.providers.values())
    return render_page(
        "signin.html",
        providers=providers,
        groups=provider_groups(providers),
        callback_url=state.next_url(request.args.get("callbackUrl"), request),
        error=code and signin_error(code),
    )


def signin(provider_id: str) -> Response:
    """Start signing in with a provider: OAuth providers redirect to the provider; credentials
    providers sign in from the form on the sign-in page instead."""
    state = current_state()
    provider = _provider(state, provider_id)
    body = form_body()
    next_url = state.next_url(body.get("callbackUrl"), request)
    if isinstance(provider, OAuth2):
        return oauth.start(state, provider, next_url)
    if isinstance(provider, Email):
        return email_signin.send_link(state, provider, body.get("email"), next_url)
    return go_to(page_url("signin", state.config.pages, callbackUrl=next_url))


def callback(provider_id: str) -> Response:
    """Finish a sign-in: the provider redirects here, or credentials are posted with CSRF."""
    state = current_state()
    provider = _provider(state, provider_id)
    if isinstance(provider, OAuth2):
        return oauth.callback(state, provider)
    if isinstance(provider, Credentials):
        if request.method != "POST":
            abort(405, valid_methods=["POST"])
        return credentials_callback(state, provider)
    if isinstance(provider, Email):
        if request.method != "GET":  # HEAD too: a link scanner's HEAD must not use the link
            abort(405, valid_methods=["GET"])
        return email_signin.verify_link(state, provider)
    if isinstance(provider, Passkey):
        if request.method != "POST":
            abort(405, valid_methods=["POST"])
        from .actions import passkey  # needs the optional webauthn package: see Passkey.init_app

        return passkey.callback(state, provider)
    abort(404)


def webauthn_options(provider_id: str) -> Response:
    """The WebAuthn options (and a fresh challenge) for ``?action=register|authenticate``."""
    state = current_state()
    provider = _provider(state, provider_id)
    if not isinstance(provider, Passkey):
        abort(404)
    from .actions import passkey  # needs the optional webauthn package: see Passkey.init_app

    return passkey.options(state, provider)


def signout_page() -> Response:
    """The built-in page that asks to confirm signing out (template ``sessionext/signout.html``)."""
    state = current_state()
    if "signout" in state.config.pages:
        return go_to(page_url("signout", state.config.pages, **_query("callbackUrl")))
    session = g.session
    user = session.get("user") if isinstance(session, dict) else None
    return render_page(
        "signout.html",
        signed_in=session is not None,
        user=user if isinstance(user, dict) else {},
        callback_url=state.next_url(request.args.get("callbackUrl"), request),
    )


def signout() -> Response:
    """Sign out (CSRF checked), then go to ``callbackUrl``."""
    state = current_state()
    return do_signout(state)


def error_page() -> Response:
    """The error page: only the codes a client may see are shown, anything else as generic."""
    state = current_state()
    code = request.args.get("error", "")
    if code not in CLIENT_ERRORS and code != "Configuration":
        code = ""
    if "error" in state.config.pages:
        return go_to(page_url("error", state.config.pages, error=code))
    return render_error(code, ERROR_STATUS.get(code, 400))


def verify_request_page() -> Response:
    """The page shown after an email sign-in link was sent (``sessionext/verify_request.html``)."""
    state = current_state()
    if "verify_request" in state.config.pages:
        return go_to(page_url("verify_request", state.config.pages, **_query("provider", "type")))
    return render_page(
        "verify_request.html",
        signin_url=page_url("signin", state.config.pages),
        home_url=home_url(),
    )


def token_login() -> Response:
    """Token API: credentials (JSON) → access and refresh token."""
    return token_api.login(current_state())


def token_refresh() -> Response:
    """Token API: a refresh token → a new pair."""
    return token_api.refresh(current_state())


def token_logout() -> Response:
    """Token API: revoke a refresh token family."""
    return token_api.logout(current_state())


def jwks() -> Response:
    """The public keys that verify access tokens (RS256, ES256 or EdDSA only)."""
    tokens = current_state().access_tokens
    if tokens is None or tokens.jwks is None:
        abort(404)
    return jsonify(tokens.jwks)


#: Routes whose POST changes state, so it must carry the CSRF token (besides ``signin_provider``
#: and the credentials and passkey ``callback``, which depend on the provider).
CSRF_ROUTES = frozenset({"sessionext.signout_post", "sessionext.update_session"})


def _check_csrf() -> Response | None:
    """The auth routes' one CSRF check, before the flow runs, as Auth.js's router does.

    A refused session update answers ``null`` (400), like Auth.js; any other refusal is
    ``MissingCSRF``.
    """
    if request.method != "POST":
        return None
    state = current_state()
    if not _needs_csrf(state) or verified_csrf(state, form_body()):
        return None
    if request.endpoint == "sessionext.update_session":
        return _json(None, 400)
    raise MissingCSRF


def _needs_csrf(state: AuthState) -> bool:
    """Whether this POST needs the token; an unknown provider is left to answer 404."""
    if request.endpoint in CSRF_ROUTES:
        return True
    provider_id = (request.view_args or {}).get("provider_id")
    provider = state.ext.providers.get(provider_id) if isinstance(provider_id, str) else None
    if request.endpoint == "sessionext.signin_provider":
        return provider is not None
    return request.endpoint == "sessionext.callback" and isinstance(
        provider, (Credentials, Passkey)
    )


def _provider(state: AuthState, provider_id: str) -> Provider:
    provider = state.ext.providers.get(provider_id)
    if provider is None:
        if wants_json():
            abort(_json({"error": "UnknownProvider", "provider": provider_id[:64]}, 404))
        abort(404)
    return provider


def _query(*names: str) -> dict[str, str]:
    return {name: request.args.get(name, "") for name in names}


def _session_json(session: object) -> Response:
    """The session as JSON; a session callback that returned something unserialisable is a
    configuration error, answered without a traceback."""
    try:
        return jsonify(session)
    except (TypeError, ValueError):
        logger.exception("flask-sessionext: the session callback returned a non-JSON value")
        return _json({"error": "Configuration"}, 500)


def _json(body: object, status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "private, no-cache, no-store"
    response.vary.add("Cookie")
    return response


def auth_error(error: AuthError) -> Response:
    """The one place a failed auth action is answered (Auth.js's one ``catch``).

    A browser sent back to the sign-in page keeps ``callbackUrl``, so a retry after a wrong
    password still lands where the user was going (JSON clients get Auth.js's exact answer).
    """
    if isinstance(error, TooManyRequests):
        return _too_many_requests(error)
    state = current_state()
    if error.page == "signin" and "callbackUrl" not in error.params and not wants_json():
        posted = form_body() if request.method == "POST" else {}  # the one body reader
        wanted = request.args.get("callbackUrl") or posted.get("callbackUrl")
        if wanted:
            error.params["callbackUrl"] = state.next_url(wanted, request)
    return error_response(error, state.config.pages)


def _too_many_requests(error: TooManyRequests) -> Response:
    """429 with ``Retry-After``: JSON as for any auth error (Auth.js's client reads its
    ``url``; 429, not its usual 200), else the error page itself, not a redirect."""
    if wants_json():
        response = error_response(error, current_state().config.pages)
        response.status_code = error.status
    else:
        response = render_error(error.code, error.status)
    response.headers["Retry-After"] = str(error.retry_after)
    return response


def _configuration_error(error: SessionExtError) -> Response:
    """Any other failure of this package: ``Configuration``, the detail in the log."""
    return auth_error(AuthError(str(error)))
