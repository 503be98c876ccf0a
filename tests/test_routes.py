"""The auth routes as Auth.js v5 answers them: bodies, status codes, cookies, redirects."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from flask_sessionext import AuthExt, login_required
from flask_sessionext.csrf import token_from_cookie

from .helpers import SECRET, build_app, csrf_token, session_cookie, sign_in

JSON = {"Accept": "application/json"}


def test_csrf_sets_a_double_submit_cookie_in_authjs_format(client: FlaskClient) -> None:
    response = client.get("/api/auth/csrf")
    token = response.get_json()["csrfToken"]
    assert len(token) == 64 and int(token, 16) >= 0
    cookie = client.get_cookie("authjs.csrf-token")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert token_from_cookie(cookie.value, [SECRET]) == token
    # A valid cookie is reused, not replaced.
    again = client.get("/api/auth/csrf")
    assert again.get_json()["csrfToken"] == token
    assert "Set-Cookie" not in again.headers


def test_providers_lists_each_with_its_urls(client: FlaskClient) -> None:
    assert client.get("/api/auth/providers").get_json() == {
        "credentials": {
            "id": "credentials",
            "name": "Credentials",
            "type": "credentials",
            "signinUrl": "http://localhost/api/auth/signin/credentials",
            "callbackUrl": "http://localhost/api/auth/callback/credentials",
        }
    }


def test_signed_out_session_is_null_and_never_cached(client: FlaskClient) -> None:
    response = client.get("/api/auth/session")
    assert response.status_code == 200
    assert response.get_data() == b"null\n"
    assert response.headers["Cache-Control"] == "private, no-cache, no-store"
    assert "Cookie" in response.headers["Vary"]


def test_credentials_sign_in_sets_cookie_and_redirects(client: FlaskClient) -> None:
    response = sign_in(client, callbackUrl="/private?x=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "http://localhost/private?x=1"
    cookie = client.get_cookie("authjs.session-token")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert cookie.path == "/" and not cookie.secure
    session = client.get("/api/auth/session").get_json()
    assert session["user"] == {"name": "Alice", "email": "alice@example.com"}
    assert session["expires"].endswith("Z")
    assert client.get("/private").get_json()["user"] == session["user"]


def test_sign_in_without_callback_url_goes_to_the_base_url(client: FlaskClient) -> None:
    assert sign_in(client).headers["Location"] == "http://localhost"


def test_json_clients_get_the_url_instead_of_a_redirect(client: FlaskClient) -> None:
    data = {"csrfToken": csrf_token(client), "username": "bob", "password": "pw"}
    response = client.post(
        "/api/auth/callback/credentials", data=data, headers={"X-Auth-Return-Redirect": "1"}
    )
    assert response.status_code == 200
    assert response.get_json() == {"url": "http://localhost"}
    assert session_cookie(client)


def test_wrong_password_redirects_to_signin_with_credentials_signin(client: FlaskClient) -> None:
    response = sign_in(client, password="nope")
    assert response.status_code == 302
    assert response.headers["Location"] == (
        "/api/auth/signin?error=CredentialsSignin&code=credentials"
    )
    assert session_cookie(client) is None
    page = client.get(response.headers["Location"])
    assert "Sign in failed" in page.get_data(as_text=True)


def test_wrong_password_is_401_json_for_json_clients(client: FlaskClient) -> None:
    data = {"csrfToken": csrf_token(client), "username": "alice", "password": "x"}
    response = client.post("/api/auth/callback/credentials", data=data, headers=JSON)
    assert response.status_code == 401
    assert response.get_json()["error"] == "CredentialsSignin"


def test_authorize_exception_is_logged_and_answers_configuration(
    client: FlaskClient, caplog: object
) -> None:
    state = client.application.extensions["sessionext"]

    def broken(credentials: dict[str, str]) -> None:
        raise RuntimeError("database is down: password=hunter2")

    state.ext.providers["credentials"].authorize = broken
    response = sign_in(client)
    assert response.headers["Location"] == "/api/auth/error?error=Configuration"
    assert "authorize() of provider 'credentials' raised" in caplog.text  # type: ignore[attr-defined]


def test_signin_page_is_a_real_form(client: FlaskClient) -> None:
    response = client.get("/api/auth/signin?callbackUrl=/private")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'action="/api/auth/callback/credentials"' in html
    assert 'name="username"' in html and 'type="password"' in html
    assert 'name="callbackUrl" value="http://localhost/private"' in html
    token = token_from_cookie(client.get_cookie("authjs.csrf-token").value, [SECRET])  # type: ignore[union-attr]
    assert f'name="csrfToken" value="{token}"' in html


def test_signin_page_can_be_overridden_by_the_app(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path)) / "sessionext"
    folder.mkdir()
    (folder / "signin.html").write_text("custom {{ csrf_token()|length }}")
    app = build_app()
    app.template_folder = str(tmp_path)
    assert app.test_client().get("/api/auth/signin").get_data() == b"custom 64"


def test_auth_pages_send_the_user_to_the_apps_own_pages() -> None:
    client = build_app(AUTH_PAGES={"signin": "/login", "error": "/oops"}).test_client()
    response = client.get("/private")
    assert response.headers["Location"] == "/login?callbackUrl=http%3A%2F%2Flocalhost%2Fprivate"
    assert client.get("/api/auth/signin?error=X").headers["Location"] == "/login?error=X"
    bad = sign_in(client, password="x")
    assert bad.headers["Location"] == "/login?error=CredentialsSignin&code=credentials"


def test_post_signin_for_credentials_goes_to_the_signin_page(client: FlaskClient) -> None:
    data = {"csrfToken": csrf_token(client), "callbackUrl": "/private"}
    response = client.post("/api/auth/signin/credentials", data=data)
    assert response.headers["Location"] == (
        "/api/auth/signin?callbackUrl=http%3A%2F%2Flocalhost%2Fprivate"
    )


def test_signout_page_and_signout(client: FlaskClient) -> None:
    sign_in(client)
    page = client.get("/api/auth/signout").get_data(as_text=True)
    assert 'action="/api/auth/signout"' in page
    token = csrf_token(client)
    response = client.post("/api/auth/signout", data={"csrfToken": token, "callbackUrl": "/open"})
    assert response.headers["Location"] == "http://localhost/open"
    assert session_cookie(client) is None
    assert client.get("/api/auth/session").get_json() is None


def test_signout_without_csrf_keeps_the_session(client: FlaskClient) -> None:
    sign_in(client)
    response = client.post("/api/auth/signout", data={"csrfToken": "0" * 64})
    assert "error=MissingCSRF" in response.headers["Location"]
    assert client.get("/api/auth/session").get_json()["user"]["name"] == "Alice"


def test_error_page_statuses(client: FlaskClient) -> None:
    # Anyone may ask for this page: it never answers 5xx. The request that really failed did.
    page = client.get("/api/auth/error?error=Configuration")
    assert page.status_code == 400 and b"configuration" in page.get_data().lower()
    assert client.get("/api/auth/error?error=Configuration", headers=JSON).status_code == 400
    assert client.get("/api/auth/error?error=AccessDenied").status_code == 403
    assert client.get("/api/auth/error?error=Verification").status_code == 403
    other = client.get("/api/auth/error?error=<script>")
    assert other.status_code == 400
    assert b"<script>" not in other.get_data()
    assert client.get("/api/auth/error?error=AccessDenied", headers=JSON).get_json() == {
        "error": "AccessDenied",
        "message": "You do not have permission to sign in.",
    }


def test_login_required_redirects_html_and_answers_401_json(client: FlaskClient) -> None:
    response = client.get("/private")
    assert response.status_code == 302
    assert response.headers["Location"] == (
        "/api/auth/signin?callbackUrl=http%3A%2F%2Flocalhost%2Fprivate"
    )
    api = client.get("/private", headers=JSON)
    assert api.status_code == 401
    assert api.get_json()["error"] == "Unauthorized"


def test_https_uses_secure_cookie_names(client: FlaskClient) -> None:
    base = "https://localhost"
    token = client.get("/api/auth/csrf", base_url=base).get_json()["csrfToken"]
    assert client.get_cookie("__Host-authjs.csrf-token") is not None
    data = {"csrfToken": token, "username": "alice", "password": "pw"}
    client.post("/api/auth/callback/credentials", data=data, base_url=base)
    cookie = client.get_cookie("__Secure-authjs.session-token")
    assert cookie is not None and cookie.secure
    assert client.get("/api/auth/session", base_url=base).get_json()["user"]["name"] == "Alice"


def test_the_apps_own_forms_use_csrf_token_and_csrf_required() -> None:
    from flask import render_template_string

    from flask_sessionext import csrf_required

    app = build_app()

    @app.route("/form", methods=["GET", "POST"])
    @csrf_required
    def form() -> str:
        return render_template_string('<input name="csrfToken" value="{{ csrf_token() }}">')

    client = app.test_client()
    page = client.get("/form").get_data(as_text=True)
    token = page.split('value="')[1].split('"')[0]
    assert token_from_cookie(client.get_cookie("authjs.csrf-token").value, [SECRET]) == token  # type: ignore[union-attr]
    assert client.post("/form", data={"csrfToken": token}).status_code == 200
    assert client.post("/form", data={"csrfToken": "x"}).status_code == 403
    assert client.post("/form", json={}, headers=JSON).get_json()["error"] == "MissingCSRF"


def test_login_required_works_on_async_views() -> None:
    from flask_sessionext import login_required

    app = build_app()

    @app.get("/async")
    @login_required
    async def async_view() -> str:
        return "ok"

    client = app.test_client()
    assert client.get("/async").status_code == 302
    sign_in(client)
    assert client.get("/async").get_data() == b"ok"


def admin_app() -> Flask:
    """The README's app: the role goes into the token at sign-in, then into the session."""

    def configure(auth: AuthExt[Any]) -> None:
        @auth.jwt_callback
        def jwt(token: dict[str, Any], user: dict[str, Any] | None = None) -> dict[str, Any]:
            return {**token, "role": user["role"]} if user else token

        @auth.session_callback
        def session(session: dict[str, Any], token: dict[str, Any]) -> dict[str, Any]:
            session["user"]["role"] = token["role"]
            return session

    app = build_app(configure)

    @app.get("/admin")
    @login_required(allow=lambda session: session["user"]["role"] == "admin")
    def admin() -> str:
        return "admin area"

    return app


def test_login_required_with_a_check_lets_in_only_those_it_allows() -> None:
    admin, user = admin_app().test_client(), admin_app().test_client()
    sign_in(admin, "alice")  # role "admin"
    sign_in(user, "bob")  # role "user"
    assert admin.get("/admin").data == b"admin area"
    refused = user.get("/admin")
    assert refused.status_code == 403
    assert b"not for your account" in refused.data and b"admin area" not in refused.data
    as_json = user.get("/admin", headers={"Accept": "application/json"})
    assert as_json.status_code == 403 and as_json.get_json()["error"] == "Forbidden"


def test_login_required_with_a_check_still_sends_signed_out_users_to_sign_in() -> None:
    response = admin_app().test_client().get("/admin")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/api/auth/signin?callbackUrl=")


def test_a_wrong_password_keeps_where_the_user_was_going(client: FlaskClient) -> None:
    refused = sign_in(client, password="wrong", callbackUrl="/private?tab=2")
    location = refused.headers["Location"]
    assert location.startswith("/api/auth/signin?error=CredentialsSignin&code=credentials")
    page = client.get(location).get_data(as_text=True)
    assert 'value="http://localhost/private?tab=2"' in page
    retry = client.post(
        "/api/auth/callback/credentials",
        data={
            "csrfToken": csrf_token(client),
            "username": "alice",
            "password": "pw",
            "callbackUrl": "http://localhost/private?tab=2",
        },
    )
    assert retry.headers["Location"] == "http://localhost/private?tab=2"


def test_a_custom_sign_in_page_gets_the_error_and_the_callback_url() -> None:
    client = build_app(AUTH_PAGES={"signin": "/login"}).test_client()
    refused = sign_in(client, password="wrong", callbackUrl="/private")
    assert refused.headers["Location"] == (
        "/login?error=CredentialsSignin&code=credentials"
        "&callbackUrl=http%3A%2F%2Flocalhost%2Fprivate"
    )
