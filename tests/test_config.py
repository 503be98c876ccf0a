"""init_app: registration, config defaults, and refusing to start when misconfigured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_sessionext import AuthExt
from flask_sessionext.errors import ConfigurationError
from flask_sessionext.providers import Credentials

from .helpers import SECRET, authorize, build_app, sign_in


def make(**config: object) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    return app


def test_init_app_registers_state_defaults_and_routes() -> None:
    app = make(AUTH_SECRET=SECRET)
    auth = AuthExt(providers=[Credentials(authorize=authorize)])
    auth.init_app(app)
    assert app.extensions["sessionext"].ext is auth
    assert app.config["AUTH_BASE_PATH"] == "/api/auth"
    assert app.config["AUTH_SESSION_MAX_AGE"] == 30 * 24 * 3600
    assert app.config["AUTH_SESSION_UPDATE_AGE"] == 24 * 3600
    assert not hasattr(auth, "app")
    assert "/api/auth/session" in {rule.rule for rule in app.url_map.iter_rules()}


def test_constructor_with_app_is_the_same_as_init_app() -> None:
    app = make(AUTH_SECRET=SECRET)
    auth = AuthExt(app, providers=[Credentials(authorize=authorize)])
    assert app.extensions["sessionext"].ext is auth


def test_init_app_twice_is_refused() -> None:
    app = make(AUTH_SECRET=SECRET)
    auth = AuthExt(app, providers=[Credentials(authorize=authorize)])
    with pytest.raises(RuntimeError, match="already registered"):
        auth.init_app(app)


def test_one_extension_serves_two_apps() -> None:
    auth = AuthExt(providers=[Credentials(authorize=authorize)])
    first, second = make(AUTH_SECRET=SECRET, TESTING=True), make(AUTH_SECRET="z" * 32)
    auth.init_app(first)
    auth.init_app(second)
    assert first.extensions["sessionext"].config.secrets == (SECRET,)
    assert second.extensions["sessionext"].config.secrets == ("z" * 32,)


@pytest.mark.parametrize("secret", [None, "", "short", ["x" * 40, "short"], [], 42])
def test_missing_or_short_secret_stops_init_app_and_says_how(secret: object) -> None:
    with pytest.raises(ConfigurationError, match="flask auth secret"):
        AuthExt(make(AUTH_SECRET=secret), providers=[])


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("AUTH_SESSION_MAX_AGE", 0, "AUTH_SESSION_MAX_AGE"),
        ("AUTH_SESSION_UPDATE_AGE", -1, "AUTH_SESSION_UPDATE_AGE"),
        ("AUTH_SESSION_STRATEGY", "database", "AUTH_SESSION_STRATEGY"),
        ("AUTH_URL", "example.com", "absolute"),
        ("AUTH_URL", "https://example.com/app", "AUTH_BASE_PATH"),
        ("AUTH_PAGES", {"login": "/login"}, "unknown pages"),
    ],
)
def test_bad_settings_stop_init_app(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        AuthExt(make(AUTH_SECRET=SECRET, **{key: value}), providers=[])


def test_duplicate_provider_ids_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="share the id"):
        AuthExt(providers=[Credentials(authorize=authorize), Credentials(authorize=authorize)])


def test_provider_id_must_fit_in_a_url() -> None:
    with pytest.raises(ValueError, match="provider id"):
        Credentials(authorize=authorize, id="../evil")


def test_custom_base_path() -> None:
    app = build_app(AUTH_BASE_PATH="/auth/")
    client = app.test_client()
    assert client.get("/auth/session").get_json() is None
    assert client.get("/api/auth/session").status_code == 404


def test_rotated_secret_still_reads_old_sessions() -> None:
    old = build_app(AUTH_SECRET="o" * 32)
    client = old.test_client()
    sign_in(client)
    cookie = client.get_cookie("authjs.session-token")
    assert cookie is not None
    rotated = build_app(AUTH_SECRET=["n" * 32, "o" * 32]).test_client()
    rotated.set_cookie("authjs.session-token", cookie.value)
    session = rotated.get("/api/auth/session").get_json()
    assert session["user"]["name"] == "Alice"
    # The re-issued cookie is encrypted with the new secret: the old app can't read it.
    fresh = rotated.get_cookie("authjs.session-token")
    assert fresh is not None and fresh.value != cookie.value
    client.set_cookie("authjs.session-token", fresh.value)
    assert client.get("/api/auth/session").get_json() is None


def test_untrusted_host_refuses_auth_routes_until_auth_url_is_set() -> None:
    app = build_app(TESTING=False)
    client = app.test_client()
    response = client.get("/api/auth/providers")
    assert response.status_code == 302
    assert "error=Configuration" in response.headers["Location"]
    trusted = build_app(TESTING=False, AUTH_URL="https://app.example").test_client()
    providers = trusted.get("/api/auth/providers").get_json()
    assert providers["credentials"]["callbackUrl"] == (
        "https://app.example/api/auth/callback/credentials"
    )


def test_auth_js_environment_variables_fill_what_the_config_lacks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTH_SECRET", "e" * 32)
    monkeypatch.setenv("AUTH_SECRET_1", "n" * 32)
    monkeypatch.setenv("AUTH_URL", "https://env.example")
    monkeypatch.setenv("AUTH_TRUST_HOST", "1")
    state = build_app(AUTH_SECRET=None).extensions["sessionext"]
    assert state.config.secrets == ("n" * 32, "e" * 32)  # the numbered one encrypts, as Auth.js
    assert state.config.url == "https://env.example" and state.config.trust_host is True
    configured = build_app(AUTH_URL="https://config.example", AUTH_TRUST_HOST=False)
    config = configured.extensions["sessionext"].config
    assert config.secrets == (SECRET,)  # the app config wins
    assert config.url == "https://config.example" and config.trust_host is False


def test_an_unreadable_boolean_in_the_environment_stops_init_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTH_TRUST_HOST", "maybe")
    with pytest.raises(ConfigurationError, match="AUTH_TRUST_HOST"):
        build_app()


def test_debug_mode_keeps_one_development_secret_in_the_instance_folder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``flask --debug run`` reloads keep users signed in; production still refuses to start."""

    def app(debug: bool) -> Flask:
        app = Flask(__name__, instance_path=str(tmp_path / "instance"))
        app.debug = debug
        AuthExt(app, providers=[Credentials(authorize=authorize)])
        return app

    first, second = app(True), app(True)
    secrets = first.extensions["sessionext"].config.secrets
    assert secrets == second.extensions["sessionext"].config.secrets
    assert len(secrets[0]) >= 43
    assert (tmp_path / "instance" / "sessionext-dev-secret").stat().st_mode & 0o077 == 0
    assert "development secret" in caplog.text and secrets[0] not in caplog.text
    with pytest.raises(ConfigurationError, match="AUTH_SECRET is not set"):
        app(False)


def test_a_module_level_extension_without_providers_stops_init_app() -> None:
    auth: AuthExt[Any] = AuthExt()  # as an app factory's module would create it
    with pytest.raises(ConfigurationError, match="no providers"):
        auth.init_app(make(AUTH_SECRET=SECRET))
