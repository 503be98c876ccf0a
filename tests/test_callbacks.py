"""jwt, session, signIn and redirect callbacks with Auth.js semantics."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_sessionext import AuthExt, get_token, signals
from flask_sessionext.errors import ConfigurationError
from flask_sessionext.jwt import decode, encode

from .helpers import SECRET, build_app, csrf_token, session_cookie, sign_in


def custom_data_app() -> tuple[Flask, list[dict[str, Any]]]:
    """The Auth.js guide: role and access token into the token, only the role to the session."""
    calls: list[dict[str, Any]] = []

    def configure(auth: AuthExt[Any]) -> None:
        @auth.jwt_callback
        def jwt(
            token: dict[str, Any],
            user: dict[str, Any] | None = None,
            account: dict[str, Any] | None = None,
            trigger: str | None = None,
            session: Any = None,
        ) -> dict[str, Any]:
            calls.append({"user": user, "account": account, "trigger": trigger, "session": session})
            if user:
                token["role"] = user["role"]
                token["access_token"] = user["access_token"]
            if trigger == "update" and isinstance(session, dict) and "role" in session:
                token["role"] = session["role"]
            return token

        @auth.session_callback
        def session(session: dict[str, Any], token: dict[str, Any]) -> dict[str, Any]:
            session["user"]["role"] = token["role"]
            session["uid"] = token["sub"]
            return session

    return build_app(configure), calls


def test_jwt_gets_user_and_account_on_sign_in_only() -> None:
    app, calls = custom_data_app()
    client = app.test_client()
    sign_in(client)
    assert calls == [
        {
            "user": {
                "id": "1",
                "name": "Alice",
                "email": "alice@example.com",
                "role": "admin",
                "access_token": "at-1",
            },
            "account": {"provider": "credentials", "type": "credentials", "providerAccountId": "1"},
            "trigger": "signIn",
            "session": None,
        }
    ]
    calls.clear()
    client.get("/private")
    assert calls == [{"user": None, "account": None, "trigger": None, "session": None}]


def test_role_reaches_the_session_and_access_token_stays_in_the_token() -> None:
    app, _ = custom_data_app()
    client = app.test_client()
    sign_in(client)
    session = client.get("/api/auth/session").get_json()
    assert session["user"] == {"name": "Alice", "email": "alice@example.com", "role": "admin"}
    assert session["uid"] == "1"
    assert "at-1" not in client.get("/api/auth/session").get_data(as_text=True)
    with app.test_request_context(
        headers={"Cookie": f"authjs.session-token={session_cookie(client)}"}
    ):
        token = get_token()
        assert token is not None
        assert token["access_token"] == "at-1"  # type: ignore[typeddict-item]
        assert token["sub"] == "1"
        assert {"iat", "exp", "jti"} <= set(token)
        assert isinstance(get_token(raw=True), str)


def test_update_runs_jwt_with_trigger_update_and_reissues(client: FlaskClient) -> None:
    app, calls = custom_data_app()
    client = app.test_client()
    sign_in(client)
    before = session_cookie(client)
    updates: list[Any] = []
    signals.session_updated.connect(
        lambda sender, **kw: updates.append(kw["data"]), app, weak=False
    )
    calls.clear()
    body = {"csrfToken": csrf_token(client), "data": {"role": "manager"}}
    response = client.post("/api/auth/session", json=body)
    assert response.get_json()["user"]["role"] == "manager"
    assert calls[-1]["trigger"] == "update" and calls[-1]["session"] == {"role": "manager"}
    assert session_cookie(client) != before
    assert client.get("/api/auth/session").get_json()["user"]["role"] == "manager"
    assert updates == [{"role": "manager"}]


def test_update_without_csrf_is_400_and_changes_nothing() -> None:
    app, _ = custom_data_app()
    client = app.test_client()
    sign_in(client)
    response = client.post("/api/auth/session", json={"data": {"role": "manager"}})
    assert response.status_code == 400
    assert response.get_json() is None
    assert client.get("/api/auth/session").get_json()["user"]["role"] == "admin"


def test_jwt_returning_none_signs_out_and_clears_the_cookie() -> None:
    def configure(auth: AuthExt[Any]) -> None:
        @auth.jwt_callback
        def jwt(token: dict[str, Any], trigger: str | None = None) -> dict[str, Any] | None:
            return token if trigger == "signIn" else None

    client = build_app(configure).test_client()
    sign_in(client)
    assert session_cookie(client)
    assert client.get("/open").get_json() == {"signed_in": False}
    assert session_cookie(client) is None


def test_get_token_is_none_when_the_jwt_callback_refuses_the_token() -> None:
    def configure(auth: AuthExt[Any]) -> None:
        @auth.jwt_callback
        def jwt(token: dict[str, Any], trigger: str | None = None) -> dict[str, Any] | None:
            return token if trigger == "signIn" else None

    app = build_app(configure)

    @app.get("/token")
    def token_view() -> Any:
        return {"token": get_token()}

    client = app.test_client()
    sign_in(client)
    assert client.get("/token").get_json() == {"token": None}


def test_exception_in_session_callback_signs_the_user_out(caplog: Any) -> None:
    def configure(auth: AuthExt[Any]) -> None:
        @auth.session_callback
        def session(session: dict[str, Any]) -> dict[str, Any]:
            raise LookupError("user was deleted")

    client = build_app(configure).test_client()
    sign_in(client)
    response = client.get("/open")
    assert response.status_code == 200
    assert response.get_json() == {"signed_in": False}
    assert session_cookie(client) is None
    assert "the session_callback raised" in caplog.text


def test_signin_callback_false_denies_and_a_string_redirects() -> None:
    verdict: list[bool | str] = [False]

    def configure(auth: AuthExt[Any]) -> None:
        @auth.signin_callback
        def allow(user: dict[str, Any], credentials: dict[str, str] | None) -> bool | str:
            assert credentials == {"username": "alice", "password": "pw"}
            return verdict[0]

    client = build_app(configure).test_client()
    response = sign_in(client)
    assert response.headers["Location"] == "/api/auth/error?error=AccessDenied"
    assert client.get(response.headers["Location"]).status_code == 403
    assert session_cookie(client) is None
    verdict[0] = "/welcome-back"
    assert sign_in(client).headers["Location"] == "http://localhost/welcome-back"
    assert session_cookie(client) is None
    verdict[0] = "https://evil.example/phish"  # passes the same redirect checks as callbackUrl
    assert sign_in(client).headers["Location"] == "http://localhost"


def test_redirect_callback_decides_where_to_go() -> None:
    def configure(auth: AuthExt[Any]) -> None:
        @auth.redirect_callback
        def redirect(url: str, base_url: str) -> str:
            return url if url.startswith("https://docs.example") else base_url + "/home"

    client = build_app(configure).test_client()
    assert sign_in(client, callbackUrl="https://docs.example/x").headers["Location"] == (
        "https://docs.example/x"
    )
    assert sign_in(client, callbackUrl="/anything").headers["Location"] == "http://localhost/home"


def test_callbacks_may_declare_kwargs_or_only_what_they_use() -> None:
    seen: dict[str, Any] = {}

    def configure(auth: AuthExt[Any]) -> None:
        @auth.jwt_callback
        def jwt(**kwargs: Any) -> Any:
            seen.update(kwargs)
            return kwargs["token"]

    sign_in(build_app(configure).test_client())
    assert set(seen) == {"token", "user", "account", "profile", "is_new_user", "trigger", "session"}


def test_a_callback_requiring_an_unknown_argument_is_refused_at_registration() -> None:
    auth: AuthExt[Any] = AuthExt(providers=[])
    with pytest.raises(TypeError, match=r"requires \['tokne'\]"):

        @auth.jwt_callback
        def jwt(tokne: dict[str, Any]) -> dict[str, Any]:
            return tokne


def test_a_second_callback_of_a_kind_is_refused_unless_it_asks_to_replace() -> None:
    def configure(auth: AuthExt[Any]) -> None:
        @auth.jwt_callback
        def first(token: dict[str, Any]) -> dict[str, Any]:
            return {**token, "by": "first"}

        with pytest.raises(ConfigurationError, match=r"already registered \(.*first\).*replace"):

            @auth.jwt_callback
            def second(token: dict[str, Any]) -> dict[str, Any]:
                return {**token, "by": "second"}

        @auth.jwt_callback(replace=True)
        def third(token: dict[str, Any]) -> dict[str, Any]:
            return {**token, "by": "third"}

        @auth.session_callback
        def session(session: dict[str, Any], token: dict[str, Any]) -> dict[str, Any]:
            return {**session, "by": token["by"]}

    client = build_app(configure).test_client()
    sign_in(client)
    assert client.get("/api/auth/session").get_json()["by"] == "third"


def test_a_callback_declaring_an_argument_never_passed_is_refused_with_the_valid_names() -> None:
    auth: AuthExt[Any] = AuthExt(providers=[])
    with pytest.raises(TypeError, match=r"declares \['usr'\].*'token', 'trigger', 'user'"):

        @auth.session_callback
        def session(session: dict[str, Any], usr: Any = None) -> dict[str, Any]:
            return session


def test_signals_for_sign_in_and_sign_out(client: FlaskClient) -> None:
    app = client.application
    events: list[str] = []
    signals.signed_in.connect(
        lambda s, **kw: events.append(f"in:{kw['user']['name']}"), app, weak=False
    )
    signals.signed_out.connect(
        lambda s, **kw: events.append(f"out:{kw['token']['sub']}"), app, weak=False
    )
    sign_in(client)
    client.post("/api/auth/signout", data={"csrfToken": csrf_token(client)})
    assert events == ["in:Alice", "out:1"]


def test_session_expires_reports_the_cookie_expiry() -> None:
    client = build_app().test_client()
    token = encode(
        {"sub": "1", "name": "A"}, secret=SECRET, salt="authjs.session-token", max_age=600
    )
    exp = decode(token, secret=SECRET, salt="authjs.session-token")["exp"]
    client.set_cookie("authjs.session-token", token)
    # A plain request does not slide the expiry: expires is the token's own exp.
    expected = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(exp))
    assert client.get("/private").get_json()["expires"] == expected


def test_a_session_callback_returning_non_json_is_a_clean_500() -> None:
    def configure(auth: AuthExt[Any]) -> None:
        @auth.session_callback
        def session(session: dict[str, Any]) -> dict[str, Any]:
            return {**session, "when": object()}

    client = build_app(configure).test_client()
    sign_in(client)
    response = client.get("/api/auth/session")
    assert response.status_code == 500
    assert response.get_json() == {"error": "Configuration"}


def test_a_redirect_callback_that_raises_falls_back_to_the_base_url() -> None:
    def configure(auth: AuthExt[Any]) -> None:
        @auth.redirect_callback
        def redirect(url: str) -> str:
            raise ValueError("bug in the app")

    client = build_app(configure).test_client()
    assert sign_in(client, callbackUrl="/private").headers["Location"] == "http://localhost"
    assert session_cookie(client)


@pytest.mark.parametrize("nested", [True, False], ids=["nested claim", "top-level claim"])
def test_a_jwt_callback_changing_the_token_in_place_never_changes_the_next_read(
    nested: bool,
) -> None:
    """The token the callback gets is its own: what it changes in place is re-issued in the
    response, but the same cookie sent again reads as it was signed (decoded-token cache)."""
    seen: list[Any] = []

    def configure(auth: AuthExt[Any]) -> None:
        @auth.jwt_callback
        def jwt(token: dict[str, Any], trigger: str | None = None) -> dict[str, Any]:
            if trigger == "signIn":
                token["prefs"] = {"visits": []}
            elif nested:
                seen.append(list(token["prefs"]["visits"]))
                token["prefs"]["visits"].append("read")
            else:
                seen.append(token.get("visits"))
                token["visits"] = 1
            return token

    app = build_app(configure)
    client = app.test_client()
    sign_in(client)
    signed = session_cookie(client)
    assert signed is not None
    for _ in range(3):
        client.set_cookie("authjs.session-token", signed)
        response = client.get("/private")
        assert response.status_code == 200
        assert "authjs.session-token=" in response.headers.get("Set-Cookie", "")
    empty: Any = [] if nested else None
    assert seen == [empty] * 3


def test_an_unchanged_token_is_not_reissued_and_a_changed_one_is() -> None:
    """Callbacks run on every read; only a token the jwt callback changed is written again."""
    change = {"now": False}

    def configure(auth: AuthExt[Any]) -> None:
        @auth.jwt_callback
        def jwt(token: dict[str, Any], user: dict[str, Any] | None = None) -> dict[str, Any]:
            if user:
                token["role"] = user["role"]
            if change["now"]:
                token["role"] = "manager"
            return token

        @auth.session_callback
        def session(session: dict[str, Any], token: dict[str, Any]) -> dict[str, Any]:
            session["user"]["role"] = token["role"]
            return session

    app = build_app(configure)
    client = app.test_client()
    sign_in(client)
    signed = session_cookie(client)
    for _ in range(2):
        response = client.get("/private")
        assert response.get_json()["user"]["role"] == "admin"
        assert "Set-Cookie" not in response.headers
    assert session_cookie(client) == signed
    change["now"] = True
    response = client.get("/private")
    assert response.get_json()["user"]["role"] == "manager"
    assert "authjs.session-token=" in response.headers["Set-Cookie"]
    new = session_cookie(client)
    assert new is not None and new != signed
    assert dict(decode(new, secret=SECRET, salt="authjs.session-token"))["role"] == "manager"
