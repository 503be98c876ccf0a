"""Passkeys, server side: ceremonies recorded from Chromium's virtual authenticator, replayed.

``tests/fixtures/passkeys.json`` holds a registration and a sign-in made by
``tests/test_passkey_browser.py`` (``SESSIONEXT_RECORD_PASSKEYS``): the app answers them as it
answered the browser, given the challenge cookie the options route set then.
"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import cbor2
import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_sessionext import AuthExt
from flask_sessionext.adapters import MemoryAdapter, StoredAuthenticator
from flask_sessionext.errors import ConfigurationError, StoreConflict
from flask_sessionext.jwt import encode
from flask_sessionext.providers import Credentials, Passkey

from .database import database_app
from .helpers import SECRET, add_views, csrf_token

RECORDED: dict[str, Any] = json.loads(
    (Path(__file__).parent / "fixtures" / "passkeys.json").read_text()
)
ORIGIN: str = RECORDED["origin"]
USER_ID: str = RECORDED["user_id"]
CHALLENGE_COOKIE = "authjs.challenge"
FAILED = "WebAuthnVerificationError"


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def challenge_of(ceremony: str) -> str:
    client_data = json.loads(b64decode(RECORDED[ceremony]["data"]["response"]["clientDataJSON"]))
    return str(client_data["challenge"])


def memory_app(provider: Passkey | None = None, **config: Any) -> tuple[Flask, MemoryAdapter]:
    adapter = MemoryAdapter()
    app = Flask(__name__)
    app.config.update({"TESTING": True, "AUTH_SECRET": SECRET, "AUTH_URL": ORIGIN, **config})
    providers = [provider or Passkey(allow_signup=True), Credentials(authorize=stored_user)]
    AuthExt(app, providers=providers, adapter=adapter)
    add_views(app)
    return app, adapter


def stored_user(credentials: dict[str, str]) -> dict[str, Any] | None:
    """Sign in as the recorded passkey's user ("ada") or as another one ("bob")."""
    ids = {"ada": USER_ID, "bob": "bob-id"}
    user_id = ids.get(credentials.get("username", ""))
    return {"id": user_id, "name": credentials["username"]} if user_id else None


def give_challenge(client: FlaskClient, kept: dict[str, Any], provider: str = "passkey") -> None:
    """The challenge cookie the options route sets, for a recorded ceremony."""
    value = encode(
        {"value": kept, "provider": provider}, secret=SECRET, salt=CHALLENGE_COOKIE, max_age=300
    )
    client.set_cookie(CHALLENGE_COOKIE, value)


def signup_challenge(**changes: Any) -> dict[str, Any]:
    user = {"id": USER_ID, "name": "Ada", "email": None}
    kept = {"action": "register", "challenge": challenge_of("register"), "user": user, "new": True}
    return kept | changes


def signin_challenge(**changes: Any) -> dict[str, Any]:
    kept = {"action": "authenticate", "challenge": challenge_of("authenticate"), "user": None}
    return kept | changes


def answer(client: FlaskClient, ceremony: str, data: Any = None, **fields: Any) -> Any:
    body = {
        "csrfToken": csrf_token(client),
        "action": RECORDED[ceremony]["action"],
        "data": RECORDED[ceremony]["data"] if data is None else data,
        "callbackUrl": "/private",
        **fields,
    }
    return client.post("/api/auth/callback/passkey", json=body)


def signed_in(client: FlaskClient) -> Any:
    return client.get("/api/auth/session").get_json()


def sign_up(client: FlaskClient, **changes: Any) -> Any:
    give_challenge(client, signup_challenge(**changes))
    return answer(client, "register")


def sign_in(client: FlaskClient, **changes: Any) -> Any:
    give_challenge(client, signin_challenge(**changes))
    return answer(client, "authenticate")


def refused(response: Any) -> bool:
    return bool(response.status_code == 400 and response.get_json()["error"] == FAILED)


@pytest.mark.parametrize("strategy", ["jwt", "database"])
def test_sign_up_then_sign_in_on_the_sql_adapter(database_url: str, strategy: str) -> None:
    app, _, adapter = database_app(
        database_url,
        [Passkey(allow_signup=True)],
        AUTH_URL=ORIGIN,
        AUTH_SESSION_STRATEGY=strategy,
    )
    client = app.test_client()
    response = sign_up(client)
    assert response.get_json() == {"url": f"{ORIGIN}/private"}
    assert signed_in(client)["user"]["name"] == "Ada"
    assert client.get_cookie(CHALLENGE_COOKIE) is None  # used up
    with app.app_context():
        [stored] = adapter.list_authenticators(USER_ID)
        user = adapter.get_user(USER_ID)
        assert user is not None and user["name"] == "Ada" and user["email_verified"] is None
    assert stored.credential_id == RECORDED["register"]["data"]["id"]
    assert stored.counter == 1 and stored.transports == ("internal",)
    assert stored.backed_up is False and stored.device_type == "single_device"
    client.post("/api/auth/signout", data={"csrfToken": csrf_token(client)})
    assert signed_in(client) is None
    assert sign_in(client).get_json() == {"url": f"{ORIGIN}/private"}
    assert signed_in(client)["user"]["name"] == "Ada"
    with app.app_context():
        after = adapter.get_authenticator(stored.credential_id)
        assert after is not None and after.counter == 2
    # The same answer again, with a fresh copy of its challenge cookie: the counter refuses it.
    other = app.test_client()
    assert refused(sign_in(other)) and signed_in(other) is None


def test_a_replayed_assertion_is_refused_by_the_counter() -> None:
    app, adapter = memory_app()
    client = app.test_client()
    sign_up(client)
    assert sign_in(client).status_code == 200
    replay = app.test_client()
    assert refused(sign_in(replay))
    assert signed_in(replay) is None
    credential = adapter.get_authenticator(RECORDED["authenticate"]["data"]["id"])
    assert credential is not None and credential.counter == 2


def test_a_used_challenge_cookie_is_gone() -> None:
    app, _ = memory_app()
    client = app.test_client()
    sign_up(client)
    client.post("/api/auth/signout", data={"csrfToken": csrf_token(client)})
    give_challenge(client, signin_challenge())
    assert answer(client, "authenticate").status_code == 200
    client.post("/api/auth/signout", data={"csrfToken": csrf_token(client)})
    response = answer(client, "authenticate")  # no challenge cookie now
    assert refused(response) and signed_in(client) is None


@pytest.mark.parametrize(
    "auth_url",
    [
        ORIGIN.replace("localhost", "127.0.0.1"),  # another origin, another RP ID
        ORIGIN.rsplit(":", 1)[0] + ":1",  # the same RP ID, another origin
        ORIGIN.replace("http:", "https:"),
    ],
)
def test_another_origin_is_refused(auth_url: str) -> None:
    app, adapter = memory_app(AUTH_URL=auth_url)
    client = app.test_client()
    assert refused(sign_up(client))
    assert adapter.authenticators == {} and adapter.users == {}
    assert signed_in(client) is None


def test_the_challenge_must_match() -> None:
    app, adapter = memory_app()
    client = app.test_client()
    assert refused(sign_up(client, challenge=b64encode(b"x" * 64)))
    assert adapter.users == {}
    sign_up(app.test_client())
    assert refused(sign_in(client, challenge=b64encode(b"y" * 64)))


def test_a_challenge_of_another_provider_or_action_is_refused() -> None:
    app, adapter = memory_app(Passkey(allow_signup=True))
    client = app.test_client()
    give_challenge(client, signup_challenge(), provider="other")
    assert refused(answer(client, "register"))
    give_challenge(client, signin_challenge())  # a sign-in challenge, a registration answer
    assert refused(answer(client, "register"))
    assert adapter.users == {}


def test_a_changed_answer_is_refused() -> None:
    app, _ = memory_app()
    sign_up(app.test_client())
    data = copy.deepcopy(RECORDED["authenticate"]["data"])
    signature = bytearray(b64decode(data["response"]["signature"]))
    signature[-1] ^= 1
    data["response"]["signature"] = b64encode(bytes(signature))
    client = app.test_client()
    give_challenge(client, signin_challenge())
    assert refused(answer(client, "authenticate", data=data))
    assert signed_in(client) is None


def _without_user_verification(data: dict[str, Any]) -> dict[str, Any]:
    """The registration with the UV flag cleared (attestation "none" signs nothing)."""
    changed = copy.deepcopy(data)
    attestation = cbor2.loads(b64decode(changed["response"]["attestationObject"]))
    auth_data = bytearray(attestation["authData"])
    auth_data[32] &= ~0x04
    attestation["authData"] = bytes(auth_data)
    changed["response"]["attestationObject"] = b64encode(cbor2.dumps(attestation))
    changed["response"]["authenticatorData"] = b64encode(bytes(auth_data))
    return changed


def test_user_verification_is_required_by_default() -> None:
    unverified = _without_user_verification(RECORDED["register"]["data"])
    app, adapter = memory_app()
    client = app.test_client()
    give_challenge(client, signup_challenge())
    assert refused(answer(client, "register", data=unverified))
    assert adapter.users == {}
    app, adapter = memory_app(Passkey(allow_signup=True, user_verification="preferred"))
    client = app.test_client()
    give_challenge(client, signup_challenge())
    assert answer(client, "register", data=unverified).status_code == 200
    assert list(adapter.users) == [USER_ID]


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        "[]",
        "x" * 70_000,
        {"id": "!!", "response": {}},
        {"id": "a" * 2000},
        {"id": RECORDED["authenticate"]["data"]["id"], "response": "nope"},
        {"id": RECORDED["authenticate"]["data"]["id"], "response": {"clientDataJSON": "%%"}},
        {"id": RECORDED["authenticate"]["data"]["id"], "rawId": 1, "response": {"a": 1}},
    ],
)
def test_malformed_answers_are_refused_without_a_5xx(data: Any) -> None:
    app, _ = memory_app()
    sign_up(app.test_client())
    client = app.test_client()
    give_challenge(client, signin_challenge())
    assert refused(answer(client, "authenticate", data=data))


def test_the_callback_needs_the_csrf_token_and_a_post() -> None:
    app, _ = memory_app()
    client = app.test_client()
    give_challenge(client, signup_challenge())
    response = client.post(
        "/api/auth/callback/passkey",
        json={"action": "register", "data": RECORDED["register"]["data"]},
    )
    assert response.status_code == 403 and response.get_json()["error"] == "MissingCSRF"
    assert client.get("/api/auth/callback/passkey").status_code == 405


def test_a_username_sign_in_accepts_only_that_users_passkeys() -> None:
    app, _ = memory_app()
    sign_up(app.test_client())
    client = app.test_client()
    assert refused(sign_in(client, user="someone-else"))
    assert sign_in(client, user=USER_ID).status_code == 200


def test_the_user_handle_must_be_the_credentials_user() -> None:
    app, adapter = memory_app()
    sign_up(app.test_client())
    credential_id = RECORDED["authenticate"]["data"]["id"]
    moved = adapter.authenticators[credential_id]
    adapter.users["mallory"] = {**adapter.users[USER_ID], "id": "mallory", "email": None}
    adapter.authenticators[credential_id] = StoredAuthenticator(
        **{**moved.__dict__, "user_id": "mallory"}
    )
    client = app.test_client()
    assert refused(sign_in(client)) and signed_in(client) is None


def test_a_signed_in_user_adds_a_passkey() -> None:
    app, adapter = memory_app(Passkey())
    adapter.create_user({"id": USER_ID, "name": "ada", "email": "ada@example.com"})
    client = app.test_client()
    assert client.get("/api/auth/webauthn-options/passkey?action=register").status_code == 403
    data = {"csrfToken": csrf_token(client), "username": "ada", "password": ""}
    client.post("/api/auth/callback/credentials", data=data)
    options = client.get("/api/auth/webauthn-options/passkey").get_json()
    assert options["action"] == "register"  # the default for a signed-in user
    user = options["options"]["user"]
    assert user["name"] == "ada@example.com" and user["displayName"] == "ada"
    assert b64decode(user["id"]) != USER_ID.encode()  # a hash, not the id itself
    give_challenge(client, signup_challenge(new=False))
    assert answer(client, "register").status_code == 200
    assert [a.user_id for a in adapter.list_authenticators(USER_ID)] == [USER_ID]
    assert list(adapter.users) == [USER_ID]  # nobody new
    # Registered: the options now exclude it, and name it for a username sign-in.
    options = client.get("/api/auth/webauthn-options/passkey?action=register").get_json()
    excluded = options["options"]["excludeCredentials"]
    assert [c["id"] for c in excluded] == [RECORDED["register"]["data"]["id"]]
    anonymous = app.test_client()
    options = anonymous.get(
        "/api/auth/webauthn-options/passkey?action=authenticate&email=ada@example.com"
    ).get_json()
    assert options["options"]["allowCredentials"] == [
        {"id": RECORDED["register"]["data"]["id"], "type": "public-key", "transports": ["internal"]}
    ]


def test_registration_is_for_the_user_who_started_it() -> None:
    app, adapter = memory_app(Passkey())
    adapter.create_user({"id": USER_ID, "name": "ada"})
    adapter.create_user({"id": "bob-id", "name": "bob"})
    client = app.test_client()
    data = {"csrfToken": csrf_token(client), "username": "bob", "password": ""}
    client.post("/api/auth/callback/credentials", data=data)
    give_challenge(client, signup_challenge(new=False))  # started as ada
    assert refused(answer(client, "register"))
    assert adapter.authenticators == {}


def test_a_passkey_registers_once() -> None:
    app, adapter = memory_app()
    sign_up(app.test_client())
    client = app.test_client()
    give_challenge(client, signup_challenge(user={"id": "another", "name": None, "email": None}))
    assert refused(answer(client, "register"))
    assert len(adapter.authenticators) == 1 and list(adapter.users) == [USER_ID]


def test_options() -> None:
    app, _ = memory_app(Passkey(allow_signup=True, rp_name="Example", timeout=30_000))
    client = app.test_client()
    response = client.get("/api/auth/webauthn-options/passkey?action=register&name=Ada")
    body = response.get_json()
    assert body["action"] == "register"
    options = body["options"]
    assert options["rp"] == {"id": "localhost", "name": "Example"}
    assert options["user"]["name"] == "Ada" and options["timeout"] == 30_000
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    [cookie] = response.headers.getlist("Set-Cookie")
    assert cookie.startswith(f"{CHALLENGE_COOKIE}=") and "HttpOnly" in cookie
    assert "Max-Age=300" in cookie and "SameSite=Lax" in cookie
    assert options["challenge"] not in cookie  # encrypted
    body = client.get("/api/auth/webauthn-options/passkey").get_json()
    assert body["action"] == "authenticate"  # the default when signed out
    assert body["options"]["allowCredentials"] == [] and body["options"]["rpId"] == "localhost"
    unknown = client.get("/api/auth/webauthn-options/passkey?email=nobody@example.com")
    assert unknown.get_json()["options"]["allowCredentials"] == []
    assert client.get("/api/auth/webauthn-options/passkey?action=x").status_code == 400
    assert (
        client.get(
            "/api/auth/webauthn-options/passkey?action=register&name=" + "n" * 65
        ).status_code
        == 400
    )
    assert client.get("/api/auth/webauthn-options/nope").status_code == 404
    assert client.get("/api/auth/webauthn-options/credentials").status_code == 404


def test_the_challenge_cookie_is_secure_on_https() -> None:
    app, _ = memory_app(AUTH_URL="https://example.com")
    response = app.test_client().get("/api/auth/webauthn-options/passkey")
    [cookie] = response.headers.getlist("Set-Cookie")
    assert cookie.startswith("__Secure-authjs.challenge=") and "Secure" in cookie


def test_the_signin_callback_decides_before_anything_is_stored() -> None:
    adapter = MemoryAdapter()
    app = Flask(__name__)
    app.config.update(TESTING=True, AUTH_SECRET=SECRET, AUTH_URL=ORIGIN)
    auth: AuthExt[Any] = AuthExt(providers=[Passkey(allow_signup=True)], adapter=adapter)
    auth.signin_callback(lambda account: account["type"] != "webauthn")
    auth.init_app(app)
    client = app.test_client()
    response = sign_up(client)
    assert response.get_json()["error"] == "AccessDenied"
    assert adapter.users == {} and adapter.authenticators == {}


def test_the_built_in_page_has_the_passkey_buttons() -> None:
    app, _ = memory_app()
    page = app.test_client().get("/api/auth/signin").get_data(as_text=True)
    assert "Sign in with Passkey" in page and "Create an account with a passkey" in page
    assert "/api/auth/webauthn-options/passkey" in page and "navigator.credentials" in page
    app, _ = memory_app(Passkey())
    page = app.test_client().get("/api/auth/signin").get_data(as_text=True)
    assert "Sign in with Passkey" in page and "Create an account" not in page


@pytest.mark.parametrize(
    ("config", "adapter", "message"),
    [
        ({}, MemoryAdapter(), "needs AUTH_URL"),
        ({"AUTH_URL": ORIGIN}, None, "needs an adapter"),
        ({"AUTH_URL": ORIGIN}, object(), "lacks create_authenticator"),
    ],
)
def test_passkeys_refuse_to_start_without(
    config: dict[str, Any], adapter: Any, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTH_URL", raising=False)
    app = Flask(__name__)
    app.config.update(TESTING=True, AUTH_SECRET=SECRET, **config)
    with pytest.raises(ConfigurationError, match=message):
        AuthExt(app, providers=[Passkey()], adapter=adapter)


def test_passkeys_refuse_to_start_without_webauthn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "webauthn", None)  # as if it were not installed
    app = Flask(__name__)
    app.config.update(TESTING=True, AUTH_SECRET=SECRET, AUTH_URL=ORIGIN)
    with pytest.raises(ConfigurationError, match=r"flask-sessionext\[passkey\]"):
        AuthExt(app, providers=[Passkey()], adapter=MemoryAdapter())


def test_provider_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="user_verification"):
        Passkey(user_verification="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        Passkey(timeout=5)


def test_the_sql_adapter_keeps_authenticators(database_url: str) -> None:
    app, _, adapter = database_app(database_url, [Passkey()], AUTH_URL=ORIGIN)
    key = StoredAuthenticator(
        credential_id="Y3JlZA",
        user_id=USER_ID,
        public_key=b"\x01\x02",
        counter=5,
        transports=("internal", "hybrid"),
        backed_up=True,
        device_type="multi_device",
    )
    with app.app_context():
        adapter.create_user({"id": USER_ID, "name": "Ada"})
        adapter.create_authenticator(key)
        assert adapter.get_authenticator("Y3JlZA") == key
        assert adapter.list_authenticators(USER_ID) == [key]
        assert adapter.list_authenticators("nobody") == []
        with pytest.raises(StoreConflict):
            adapter.create_authenticator(key)
        assert adapter.update_authenticator_counter("Y3JlZA", 4, 9, False) is False
        assert adapter.update_authenticator_counter("Y3JlZA", 5, 6, False) is True
        stored = adapter.get_authenticator("Y3JlZA")
        assert stored is not None and stored.counter == 6 and stored.backed_up is False
        assert adapter.get_authenticator("missing") is None


def test_apps_without_passkeys_never_import_webauthn() -> None:
    code = (
        "import sys\n"
        "sys.modules['webauthn'] = None\n"  # importing it would raise
        "from tests.helpers import build_app, sign_in\n"
        "client = build_app().test_client()\n"
        "assert client.get('/api/auth/signin').status_code == 200\n"
        "assert sign_in(client).status_code == 302\n"
        "assert client.get('/api/auth/webauthn-options/credentials').status_code == 404\n"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True, timeout=60)


def test_passkey_routes_are_rate_limited() -> None:
    app, _ = memory_app(AUTH_RATE_LIMITS={"passkey": "2/minute"})
    client = app.test_client()
    url = "/api/auth/webauthn-options/passkey"
    assert [client.get(url).status_code for _ in range(2)] == [200, 200]
    assert client.get(url).status_code == 429
    give_challenge(client, signup_challenge())
    assert answer(client, "register").status_code == 429  # the same budget
    assert client.get_cookie(CHALLENGE_COOKIE) is not None  # refused before it was read
