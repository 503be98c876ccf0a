"""Passkeys (WebAuthn): ``GET /webauthn-options/<id>`` then ``POST /callback/<id>``.

The options route makes a random challenge and keeps it, with the ceremony's action and user,
in the encrypted check cookie ``authjs.challenge`` (bound to the provider, five minutes). The
callback reads it once (its response expires the cookie), has py_webauthn verify the
browser's answer against ``AUTH_URL``'s RP ID and origin, checks and advances the sign
counter, and signs the user in.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any, cast
from urllib.parse import urlsplit

from flask import after_this_request, jsonify, request
from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from werkzeug.wrappers import Response

from ..adapters.protocol import Adapter, AuthenticatorStore, StoredAuthenticator
from ..errors import StoreConflict, WebAuthnVerificationError
from ..identity import normalize_email
from ..providers.passkey import Passkey
from ..responses import logger
from ..signals import send, user_created
from ..state import AuthState
from ..types import Account
from .accounts import signed_in_user_id
from .body import form_body
from .checks import clear_check, read_check, set_check
from .signin import complete_signin

#: Lifetime of a challenge, in seconds.
CHALLENGE_MAX_AGE = 5 * 60
#: Longest credential id accepted (1023 bytes in base64url) and longest answer, in characters.
MAX_CREDENTIAL_ID = 1366
MAX_ANSWER = 64 * 1024
MAX_NAME = 64
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_TRANSPORTS = frozenset(t.value for t in AuthenticatorTransport)


def options(state: AuthState, provider: Passkey) -> Response:
    """The options for ``navigator.credentials.create()`` or ``.get()``, as Auth.js sends them:
    ``{"action": ..., "options": ...}``; the challenge goes into its check cookie."""
    state.rate_limits.hit("passkey")
    adapter = _adapter(state)
    action = request.args.get("action") or (
        "register" if signed_in_user_id() is not None else "authenticate"
    )
    made: tuple[str, dict[str, Any]] | Response
    if action == "authenticate":
        made = _authentication_options(state, provider, adapter)
    elif action == "register":
        made = _registration_options(state, provider, adapter)
    else:
        return _refused(400, "action must be 'register' or 'authenticate'.")
    if isinstance(made, Response):
        return made
    public, kept = made
    response = jsonify(action=action, options=json.loads(public))
    name = state.cookie_names(request).challenge
    set_check(
        response, state, name, {"action": action, **kept},
        provider=provider.id, max_age=CHALLENGE_MAX_AGE,
    )  # fmt: skip
    return response


def callback(state: AuthState, provider: Passkey) -> Response:
    """Verify the browser's answer to the challenge (once) and sign the user in."""
    state.rate_limits.hit("passkey")
    body = form_body()  # its CSRF token was checked before the flow (views._check_csrf)
    name = state.cookie_names(request).challenge
    kept = read_check(state, name, provider=provider.id)

    @after_this_request
    def spend_challenge(response: Response) -> Response:  # a failed answer spends it too
        clear_check(response, state, name)
        return response

    if not isinstance(kept, dict) or not isinstance(kept.get("challenge"), str):
        raise WebAuthnVerificationError("no challenge cookie: expired, used, or another browser")
    action = body.get("action")
    if action != kept.get("action"):
        raise WebAuthnVerificationError(
            f"the answer is for {action!r}, the challenge for a {kept['action']}"
        )
    answer = _answer(body.get("data"))
    if answer is None:
        raise WebAuthnVerificationError("data is not a WebAuthn credential (JSON object)")
    if action == "authenticate":
        return _authenticate(state, provider, answer, kept, body.get("callbackUrl"))
    return _register(state, provider, answer, kept, body.get("callbackUrl"))


def _authentication_options(
    state: AuthState, provider: Passkey, adapter: Adapter
) -> tuple[str, dict[str, Any]]:
    """Any passkey of the site (discoverable), or with ``?email=`` the passkeys of that user."""
    email = normalize_email(request.args.get("email")) if "email" in request.args else None
    user = adapter.get_user_by_email(email) if email else None
    allowed = _store(state).list_authenticators(str(user["id"])) if user else []
    made = generate_authentication_options(
        rp_id=_rp_id(state),
        timeout=provider.timeout,
        allow_credentials=[_descriptor(a) for a in allowed],
        user_verification=UserVerificationRequirement(provider.user_verification),
    )
    kept = {"challenge": bytes_to_base64url(made.challenge), "user": user and str(user["id"])}
    return options_to_json(made), kept


def _registration_options(
    state: AuthState, provider: Passkey, adapter: Adapter
) -> tuple[str, dict[str, Any]] | Response:
    """A new passkey for the signed-in user, or (``allow_signup``) for a new user."""
    current = signed_in_user_id()
    if current is not None:
        stored = adapter.get_user(current)
        if stored is None:
            return _refused(400, "the signed-in user is not stored in the adapter.")
        user: dict[str, Any] = {
            "id": str(stored["id"]),
            "name": stored.get("name"),
            "email": stored.get("email"),
        }
        existing = _store(state).list_authenticators(user["id"])
    elif provider.allow_signup:
        name = request.args.get("name", "").strip()
        if len(name) > MAX_NAME:
            return _refused(400, f"name is longer than {MAX_NAME} characters.")
        user, existing = {"id": str(uuid.uuid4()), "name": name or None, "email": None}, []
    else:
        return _refused(403, "sign in first to add a passkey.", error="AccessDenied")
    label = user["email"] or user["name"] or f"{_rp_id(state)} account"
    made = generate_registration_options(
        rp_id=_rp_id(state),
        rp_name=provider.rp_name or _rp_id(state),
        user_name=label,
        user_id=user_handle(user["id"]),
        user_display_name=user["name"] or label,
        timeout=provider.timeout,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            require_resident_key=True,
            user_verification=UserVerificationRequirement(provider.user_verification),
        ),
        exclude_credentials=[_descriptor(a) for a in existing],
    )
    kept = {
        "challenge": bytes_to_base64url(made.challenge),
        "user": user,
        "new": current is None,
    }
    return options_to_json(made), kept


def _authenticate(
    state: AuthState, provider: Passkey, answer: dict[str, Any], kept: dict[str, Any], next_url: Any
) -> Response:
    credential_id = answer.get("id")
    if not isinstance(credential_id, str) or not _is_base64url(credential_id, MAX_CREDENTIAL_ID):
        raise WebAuthnVerificationError("the credential id is malformed")
    store = _store(state)
    stored = store.get_authenticator(credential_id)
    if stored is None:
        raise WebAuthnVerificationError("unknown credential")
    if kept.get("user") not in (None, stored.user_id):
        raise WebAuthnVerificationError(
            "the credential belongs to another user than the one asked for"
        )
    handle = _response(answer).get("userHandle")
    if handle and handle != bytes_to_base64url(user_handle(stored.user_id)):
        raise WebAuthnVerificationError("the user handle does not match the credential's user")
    try:
        verified = verify_authentication_response(
            credential=answer,
            expected_challenge=base64url_to_bytes(kept["challenge"]),
            expected_rp_id=_rp_id(state),
            expected_origin=_origin(state),
            credential_public_key=stored.public_key,
            credential_current_sign_count=stored.counter,
            require_user_verification=provider.user_verification == "required",
        )
    except Exception as error:  # any malformed or forged answer: py_webauthn, CBOR, crypto
        raise WebAuthnVerificationError(
            f"authentication refused: {type(error).__name__}: {error}"
        ) from None
    if not store.update_authenticator_counter(
        stored.credential_id, stored.counter, verified.new_sign_count, verified.credential_backed_up
    ):
        raise WebAuthnVerificationError(
            "the sign counter moved meanwhile (the same answer used twice?)"
        )
    user = _adapter(state).get_user(stored.user_id)
    if user is None:
        raise WebAuthnVerificationError("the credential's user no longer exists")
    return complete_signin(
        state,
        provider,
        {**user, "id": str(user["id"])},
        _account(provider, stored.credential_id),
        next_url=next_url,
        store=lambda: (user, False),
    )


def _register(
    state: AuthState, provider: Passkey, answer: dict[str, Any], kept: dict[str, Any], next_url: Any
) -> Response:
    user: dict[str, Any] = kept["user"]
    new = bool(kept.get("new"))
    if not new and signed_in_user_id() != user["id"]:
        raise WebAuthnVerificationError("the registration started for another signed-in user")
    try:
        verified = verify_registration_response(
            credential=answer,
            expected_challenge=base64url_to_bytes(kept["challenge"]),
            expected_rp_id=_rp_id(state),
            expected_origin=_origin(state),
            require_user_verification=provider.user_verification == "required",
        )
    except Exception as error:  # any malformed or forged answer: py_webauthn, CBOR, crypto
        raise WebAuthnVerificationError(
            f"registration refused: {type(error).__name__}: {error}"
        ) from None
    transports = _response(answer).get("transports")
    authenticator = StoredAuthenticator(
        credential_id=bytes_to_base64url(verified.credential_id),
        user_id=user["id"],
        public_key=verified.credential_public_key,
        counter=verified.sign_count,
        transports=tuple(t for t in transports if isinstance(t, str) and t in _TRANSPORTS)
        if isinstance(transports, list)
        else (),
        backed_up=verified.credential_backed_up,
        device_type=verified.credential_device_type.value,
    )

    def store_user() -> tuple[dict[str, Any], bool]:
        adapter = _adapter(state)
        if _store(state).get_authenticator(authenticator.credential_id) is not None:
            raise WebAuthnVerificationError("this passkey is registered already")
        if new:
            stored = adapter.create_user({"id": user["id"], "name": user["name"]})
            send(user_created, user=stored)
        else:
            found = adapter.get_user(user["id"])
            if found is None:
                raise WebAuthnVerificationError("the signed-in user no longer exists")
            stored = found
        try:
            _store(state).create_authenticator(authenticator)
        except StoreConflict:
            raise WebAuthnVerificationError("this passkey is registered already") from None
        return stored, new

    return complete_signin(
        state,
        provider,
        {k: v for k, v in user.items() if v is not None},
        _account(provider, authenticator.credential_id),
        next_url=next_url,
        store=store_user,
    )


def user_handle(user_id: str) -> bytes:
    """The WebAuthn user handle of a user: SHA-256 of its id (32 bytes, no personal data)."""
    return hashlib.sha256(user_id.encode()).digest()


def _answer(data: object) -> dict[str, Any] | None:
    """The credential the browser returned: a JSON object, or its text (a form field)."""
    if isinstance(data, str):
        if len(data) > MAX_ANSWER:
            return None
        try:
            data = json.loads(data)
        except ValueError:
            return None
    return cast(dict[str, Any], data) if isinstance(data, dict) else None


def _response(answer: dict[str, Any]) -> dict[str, Any]:
    """The ``response`` member of a credential, when it is an object."""
    part = answer.get("response")
    return cast(dict[str, Any], part) if isinstance(part, dict) else {}


def _descriptor(authenticator: StoredAuthenticator) -> PublicKeyCredentialDescriptor:
    return PublicKeyCredentialDescriptor(
        id=base64url_to_bytes(authenticator.credential_id),
        transports=[AuthenticatorTransport(t) for t in authenticator.transports],
    )


def _account(provider: Passkey, credential_id: str) -> Account:
    return {"provider": provider.id, "type": "webauthn", "providerAccountId": credential_id}


def _is_base64url(value: str, limit: int) -> bool:
    return len(value) <= limit and bool(_BASE64URL.fullmatch(value))


def _origin(state: AuthState) -> str:
    """The only origin a ceremony may come from: ``AUTH_URL`` (``Passkey.init_app`` checks it)."""
    return cast(str, state.config.url)


def _rp_id(state: AuthState) -> str:
    """The RP ID: the host of ``AUTH_URL``."""
    return cast(str, urlsplit(_origin(state)).hostname)


def _adapter(state: AuthState) -> Adapter:
    return cast(Adapter, state.ext.adapter)


def _store(state: AuthState) -> AuthenticatorStore:
    return cast(AuthenticatorStore, state.ext.adapter)


def _refused(status: int, message: str, *, error: str = "BadRequest") -> Response:
    """A JSON refusal of the options route (it answers only scripts)."""
    logger.info("flask-sessionext passkey options refused: %s", message)
    response = jsonify(error=error, message=message)
    response.status_code = status
    return response
