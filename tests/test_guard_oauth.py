"""Guards of the OAuth callback that no other test pins: each fails when its check is removed.

The provider here accepts any code and ignores PKCE (the fake OP of ``test_oauth_failures``),
so the app's own checks are the only thing between a tampered callback and a session: an
expired check cookie, a check cookie of another provider, another provider's ``iss``, or an
attacker's ``state``. Each refusal is paired with the same flow untampered, which signs in.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from flask_sessionext import AuthExt
from flask_sessionext.jwt import decode, encode
from flask_sessionext.providers import OIDC

from . import test_oauth_failures
from .helpers import SECRET, csrf_token, session_cookie
from .oidc_provider import OP, running_op, walk_login
from .test_oauth_failures import CLIENT_ID, CLIENT_SECRET, FakeOP, assert_refused, tokens

fake = test_oauth_failures.fake  # the fake OP, a module-scoped fixture

#: The lifetime of the check cookies, as documented: 15 minutes.
CHECK_MAX_AGE = 15 * 60
COOKIES = {
    "state": "authjs.state",
    "pkce": "authjs.pkce.code_verifier",
    "nonce": "authjs.nonce",
    "callback": "authjs.callback-url",
}


def twin_client(fake: FakeOP, accounts: list[dict[str, Any]] | None = None) -> FlaskClient:
    """An app with two OpenID providers, ``fake`` and ``twin``, on the same OP and client;
    the ``account`` of each sign-in goes to ``accounts``."""
    app = Flask(__name__)
    app.config.update(TESTING=True, AUTH_SECRET=SECRET)
    auth: AuthExt[Any] = AuthExt(
        app,
        providers=[
            OIDC(issuer=fake.issuer, id=id, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
            for id in ("fake", "twin")
        ],
    )

    @auth.jwt_callback
    def jwt(token: dict[str, Any], account: dict[str, Any] | None) -> dict[str, Any]:
        if account is not None and accounts is not None:
            accounts.append(account)
        return token

    return app.test_client()


def begin(fake: FakeOP, client: FlaskClient, provider: str = "fake") -> dict[str, str]:
    """Start a sign-in; have the fake OP answer a valid id_token for its nonce; return the
    authorization request's parameters (``state``, ``nonce``...)."""
    data = {"csrfToken": csrf_token(client), "callbackUrl": "/done"}
    url = client.post(f"/api/auth/signin/{provider}", data=data).headers["Location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    answer = tokens(fake.id_token(query["nonce"]))
    fake.token = lambda: answer
    return query


def finish(client: FlaskClient, state: str, provider: str = "fake", extra: str = "") -> Any:
    return client.get(f"/api/auth/callback/{provider}?code=c0de&state={quote(state)}{extra}")


def assert_signed_in(client: FlaskClient, response: Any, location: str = "/done") -> None:
    assert response.status_code == 302
    assert response.headers["Location"] == f"http://localhost{location}"
    assert session_cookie(client) is not None


def reminted(client: FlaskClient, name: str, age: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace the check cookie ``name`` by the same one as if the app had set it ``age``
    seconds ago: the app's codec, secret and lifetime (the cookie's own ``exp - iat``)."""
    cookie = client.get_cookie(name)
    assert cookie is not None
    claims: dict[str, Any] = dict(decode(cookie.value, secret=SECRET, salt=name))
    payload = {"value": claims["value"], "provider": claims["provider"]}
    lifetime = int(claims["exp"]) - int(claims["iat"])
    real = time.time
    with monkeypatch.context() as clock:
        clock.setattr(time, "time", lambda: real() - age)
        value = encode(payload, secret=SECRET, salt=name, max_age=lifetime)
    client.set_cookie(name, value)


@pytest.mark.parametrize("check", ["state", "pkce", "nonce"])
def test_an_expired_check_cookie_is_refused(
    fake: FakeOP, check: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = twin_client(fake)
    query = begin(fake, client)
    reminted(client, COOKIES[check], CHECK_MAX_AGE + 60, monkeypatch)
    assert_refused(client, finish(client, query["state"]))


@pytest.mark.parametrize("check", ["state", "pkce", "nonce", "callback"])
def test_a_check_cookie_within_its_lifetime_is_accepted(
    fake: FakeOP, check: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = twin_client(fake)
    query = begin(fake, client)
    reminted(client, COOKIES[check], CHECK_MAX_AGE - 60, monkeypatch)
    assert_signed_in(client, finish(client, query["state"]))


def test_an_expired_callback_url_cookie_is_not_followed(
    fake: FakeOP, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = twin_client(fake)
    query = begin(fake, client)
    reminted(client, COOKIES["callback"], CHECK_MAX_AGE + 60, monkeypatch)
    assert_signed_in(client, finish(client, query["state"]), location="")


def test_check_cookies_of_one_provider_are_refused_by_another(fake: FakeOP) -> None:
    """Same OP, same client, same checks: only the provider binding tells them apart."""
    client = twin_client(fake)
    query = begin(fake, client, "fake")
    assert_refused(client, finish(client, query["state"], "twin"))
    # The very same flow finished at its own provider signs in.
    client = twin_client(fake)
    query = begin(fake, client, "fake")
    assert_signed_in(client, finish(client, query["state"], "fake"))


def test_an_iss_other_than_the_issuer_is_refused(fake: FakeOP) -> None:
    client = twin_client(fake)
    query = begin(fake, client)
    evil = "&iss=" + quote("https://evil.example", safe="")
    assert_refused(client, finish(client, query["state"], extra=evil))
    client = twin_client(fake)
    query = begin(fake, client)
    assert_signed_in(client, finish(client, query["state"], extra="&iss=" + quote(fake.issuer)))


def test_an_attackers_state_is_refused(fake: FakeOP) -> None:
    """Login CSRF: the victim's browser lands on the callback with the attacker's state.

    The attacker's state is a real one (from their own sign-in), and the OP would exchange
    the code: only comparing ``state`` with the victim's cookie stops the sign-in.
    """
    attacker = twin_client(fake)
    stolen = begin(fake, attacker)["state"]
    victim = twin_client(fake)
    own = begin(fake, victim)["state"]
    assert stolen != own
    assert_refused(victim, finish(victim, stolen))
    victim = twin_client(fake)
    assert_signed_in(victim, finish(victim, begin(fake, victim)["state"]))


def test_an_error_answer_never_signs_in_even_with_a_code(fake: FakeOP) -> None:
    """The provider answered an error: the callback stops there, whatever else it carries."""
    client = twin_client(fake)
    state = begin(fake, client)["state"]
    denied = finish(client, state, extra="&error=access_denied")
    assert denied.headers["Location"] == "/api/auth/error?error=AccessDenied"
    assert session_cookie(client) is None
    client = twin_client(fake)
    state = begin(fake, client)["state"]
    assert_refused(client, finish(client, state, extra="&error=server_error"))


def test_check_cookies_are_secure_on_https_short_lived_and_expired_once_used(
    fake: FakeOP,
) -> None:
    client = twin_client(fake)
    https = "https://localhost"
    csrf = client.get("/api/auth/csrf", base_url=https).get_json()["csrfToken"]
    data = {"csrfToken": csrf, "callbackUrl": "/done"}
    started = client.post("/api/auth/signin/fake", data=data, base_url=https)
    query = {k: v[0] for k, v in parse_qs(urlsplit(started.headers["Location"]).query).items()}
    answer = tokens(fake.id_token(query["nonce"]))
    fake.token = lambda: answer
    names = {f"__Secure-{name}" for name in COOKIES.values()}
    set_cookies = {h.split("=")[0]: h for h in started.headers.getlist("Set-Cookie")}
    assert names <= set(set_cookies)
    for name in names:
        attributes = set_cookies[name].split("; ")
        assert {"Secure", "HttpOnly", "SameSite=Lax", "Max-Age=900", "Path=/"} <= set(attributes)
    done = client.get(
        f"/api/auth/callback/fake?code=c0de&state={quote(query['state'])}", base_url=https
    )
    assert done.headers["Location"] == f"{https}/done"
    expired = {h.split("=")[0]: h for h in done.headers.getlist("Set-Cookie") if "Max-Age=0" in h}
    assert names <= set(expired)
    assert all("Secure" in expired[name].split("; ") for name in names)


def test_a_callback_without_state_or_code_is_refused(fake: FakeOP) -> None:
    """Each parameter left out of an otherwise valid callback: a clean refusal, never a 500."""
    for query in ("code=c0de", "state={state}"):
        client = twin_client(fake)
        state = begin(fake, client)["state"]
        response = client.get(f"/api/auth/callback/fake?{query.format(state=quote(state))}")
        assert_refused(client, response)


def test_a_form_post_callback_reads_the_form(fake: FakeOP) -> None:
    """``response_mode=form_post``: the provider POSTs code and state; the form is what counts."""
    client = twin_client(fake)
    state = begin(fake, client)["state"]
    response = client.post("/api/auth/callback/fake", data={"code": "c0de", "state": state})
    assert_signed_in(client, response)
    client = twin_client(fake)
    state = begin(fake, client)["state"]
    tampered = {"code": "c0de", "state": state + "x"}
    assert_refused(client, client.post(f"/api/auth/callback/fake?state={state}", data=tampered))


def test_the_account_carries_the_provider_the_subject_and_the_tokens(fake: FakeOP) -> None:
    """What account linking keys on (provider, providerAccountId) and the provider's tokens."""
    accounts: list[dict[str, Any]] = []
    client = twin_client(fake, accounts)
    assert_signed_in(client, finish(client, begin(fake, client)["state"]))
    [account] = accounts
    answered = fake.token()
    assert isinstance(answered, dict)
    assert account["provider"] == "fake" and account["type"] == "oidc"
    assert account["providerAccountId"] == "u1"
    assert account["access_token"] == answered["access_token"]
    assert account["id_token"] == answered["id_token"]
    assert account["token_type"] == "Bearer"
    assert account["expires_at"] > time.time()
    assert set(account) == {
        "provider",
        "type",
        "providerAccountId",
        "access_token",
        "id_token",
        "token_type",
        "expires_at",
    }


# --- the same guards against the real OpenID Provider -----------------------------------------

CALLBACK = "http://localhost/api/auth/callback/oidc"


@pytest.fixture(scope="module")
def op() -> Iterator[OP]:
    with running_op([CALLBACK]) as op:
        yield op


def real_client(op: OP) -> FlaskClient:
    app = Flask(__name__)
    app.config.update(TESTING=True, AUTH_SECRET=SECRET)
    AuthExt(
        app,
        providers=[OIDC(issuer=op.issuer, client_id=op.client_id, client_secret=op.client_secret)],
    )
    return app.test_client()


def real_callback(op: OP, client: FlaskClient) -> str:
    data = {"csrfToken": csrf_token(client), "callbackUrl": "/done"}
    url = client.post("/api/auth/signin/oidc", data=data).headers["Location"]
    return walk_login(url, stop_at=CALLBACK)


def test_the_ops_iss_is_checked(op: OP) -> None:
    """The OP announces RFC 9207 and sends ``iss``; a callback carrying another is refused."""
    metadata = requests.get(op.discovery_url, timeout=10).json()
    assert metadata["authorization_response_iss_parameter_supported"] is True
    client = real_client(op)
    callback = real_callback(op, client)
    params = parse_qs(urlsplit(callback).query)
    assert params["iss"] == [op.issuer]
    swapped = callback.replace(quote(op.issuer, safe=""), quote("http://evil.example", safe=""))
    assert swapped != callback
    assert_refused(client, client.get(swapped))
    client = real_client(op)
    assert_signed_in(client, client.get(real_callback(op, client)))
