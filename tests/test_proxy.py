"""Behind a reverse proxy: the headers a proxy sends, and where the user lands after sign-in."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient
from werkzeug.middleware.proxy_fix import ProxyFix

from .helpers import build_app

#: What the proxy forwards to: the app listens on loopback, behind nginx or Caddy.
UPSTREAM = "http://127.0.0.1:8000"


def callback_url(location: str) -> str:
    return parse_qs(urlsplit(location).query)["callbackUrl"][0]


def sign_in_through(client: FlaskClient, prefix: str, callback: str, **headers: str) -> str:
    """Post the sign-in form as the built-in page does; return where the user is sent."""
    csrf = client.get(f"{prefix}/api/auth/csrf", headers=headers).get_json()["csrfToken"]
    form = {"csrfToken": csrf, "username": "alice", "password": "pw", "callbackUrl": callback}
    response = client.post(f"{prefix}/api/auth/callback/credentials", data=form, headers=headers)
    assert response.status_code == 302, response.data
    return response.headers["Location"]


def test_one_origin_with_auth_url_ignores_the_upstream_address() -> None:
    """nginx forwards ``https://app.example`` to ``http://127.0.0.1:8000``; AUTH_URL is set."""
    app = build_app(AUTH_URL="https://app.example", TESTING=False)
    client = app.test_client()
    proxy = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    response = client.get("/private?tab=keys", base_url=UPSTREAM, headers=proxy)
    assert response.status_code == 302
    callback = callback_url(response.headers["Location"])
    assert callback == "https://app.example/private?tab=keys"
    landed = sign_in_through(client, "", callback, **proxy)
    assert landed == "https://app.example/private?tab=keys"
    assert client.get_cookie("__Secure-authjs.session-token") is not None


def test_proxy_fix_with_a_path_prefix_trusts_the_forwarded_headers() -> None:
    """No AUTH_URL: ProxyFix applies X-Forwarded-Proto/-Host/-Prefix, AUTH_TRUST_HOST trusts."""
    app = build_app(AUTH_TRUST_HOST=True, TESTING=False)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_prefix=1)  # type: ignore[method-assign]
    client = app.test_client()
    proxy = {
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "app.example",
        "X-Forwarded-Prefix": "/shop",
    }
    response = client.get("/private", base_url=UPSTREAM, headers=proxy)
    location = response.headers["Location"]
    assert location.startswith("/shop/api/auth/signin?")
    assert callback_url(location) == "https://app.example/shop/private"
    landed = sign_in_through(client, "", callback_url(location), **proxy)
    assert landed == "https://app.example/shop/private"
    assert client.get_cookie("__Secure-authjs.session-token") is not None


def test_without_auth_url_or_trust_the_auth_routes_refuse_the_forwarded_host() -> None:
    """A proxy that passes any Host through cannot steer redirects: the request is refused."""
    app = build_app(TESTING=False)
    response = app.test_client().get(
        "/api/auth/signin", base_url=UPSTREAM, headers={"Host": "evil.example"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/api/auth/error?error=Configuration"
