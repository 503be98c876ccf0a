"""The built-in pages: theme validation, contrast, provider buttons, and what each page shows."""

from __future__ import annotations

import itertools
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_sessionext import AuthExt
from flask_sessionext.adapters import MemoryAdapter
from flask_sessionext.errors import ConfigurationError, StoreError
from flask_sessionext.pages import ERROR_PAGES, SIGNIN_MESSAGES
from flask_sessionext.providers import (
    OIDC,
    Auth0,
    Credentials,
    Discord,
    Email,
    GitHub,
    GitLab,
    Google,
    Keycloak,
    MicrosoftEntraID,
    OAuth2,
    Okta,
)
from flask_sessionext.theme import (
    MIN_CONTRAST,
    NEUTRAL,
    SCHEMES,
    TEXT_PAIRS,
    Brand,
    contrast,
    load_theme,
    parse_color,
)

from .helpers import SECRET, authorize, build_app, sign_in

TEMPLATES = Path(__file__).resolve().parents[1] / "flask_sessionext" / "templates" / "sessionext"
OAUTH: dict[str, Any] = {"client_id": "id", "client_secret": "secret"}
PRESETS: list[OAuth2] = [
    GitHub(**OAUTH),
    Google(**OAUTH),
    GitLab(**OAUTH),
    Discord(**OAUTH),
    MicrosoftEntraID(tenant_id="t", **OAUTH),
    Auth0(issuer="https://a.example/", **OAUTH),
    Keycloak(issuer="https://k.example/realms/r", **OAUTH),
    Okta(issuer="https://o.example", **OAUTH),
]
# Values that try to leave a CSS declaration, an attribute or a URL context.
HOSTILE_COLORS = [
    "#fff;} body{display:none",
    '#fff" onmouseover="alert(1)',
    "#fff</style><script>alert(1)</script>",
    "red",
    "rgb(1, 2, 3); background: url(//evil)",
    "rgb(300, 0, 0)",
    "var(--x)",
    "expression(alert(1))",
    "#ffff",
    "",
    12,
]
HOSTILE_URLS = [
    "javascript:alert(1)",
    "data:image/svg+xml,<svg onload=alert(1)>",
    '/logo.png" onerror="alert(1)',
    "/logo.png'><script>",
    "//evil.example/logo.png",
    "logo.png",
    "/logo.png) ; background:url(x",
    "https://example.com/a b.png",
    "https://example.com/\\evil",
    "https:///nohost.png",
    "/x\n.png",
    "",
    5,
]


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, and the text of the page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())
        ]


def themed_app(theme: Any = None, providers: list[Any] | None = None, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(TESTING=True, AUTH_SECRET=SECRET, **config)
    if theme is not None:
        app.config["AUTH_THEME"] = theme
    providers = providers if providers is not None else [Credentials(authorize=authorize)]
    AuthExt(app, providers=providers, adapter=MemoryAdapter())
    return app


# -- AUTH_THEME is validated at init_app --------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE_COLORS)
@pytest.mark.parametrize("key", ["brand_color", "button_text"])
def test_a_theme_colour_that_is_not_a_plain_colour_refuses_to_start(key: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=f"AUTH_THEME {key} must be a colour"):
        themed_app({"brand_color": "#000000", key: value})


@pytest.mark.parametrize("value", HOSTILE_URLS)
def test_a_theme_logo_that_is_not_a_plain_url_or_path_refuses_to_start(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="AUTH_THEME logo must be an http"):
        themed_app({"logo": value})


@pytest.mark.parametrize(
    ("theme", "message"),
    [
        ({"colour_scheme": "dark"}, "unknown keys \\['colour_scheme'\\]"),
        ({"color_scheme": "sepia"}, "color_scheme must be one of"),
        ("dark", "AUTH_THEME must be a dict"),
        ({"brand_color": "#ffff00", "button_text": "#ffffff"}, "contrast of 1.07:1"),
    ],
)
def test_other_theme_mistakes_refuse_to_start(theme: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        themed_app(theme)


def test_theme_values_reach_the_page_only_in_normalised_form() -> None:
    logo = "https://cdn.example.com/brand/logo.svg?v=2&size=64"
    theme = {"brand_color": "rgb(16, 32, 48)", "button_text": " #FFF ", "logo": logo}
    app = themed_app({**theme, "color_scheme": "light"})
    html = app.test_client().get("/api/auth/signin").get_data(as_text=True)
    assert "--brand:#102030;" in html and "--brand-text:#ffffff;" in html
    assert "rgb(16, 32, 48)" not in html and "#FFF" not in html
    page = Elements(html)
    assert page.find("img", **{"class": "logo"})[0]["src"] == logo


@pytest.mark.parametrize("value", HOSTILE_COLORS)
def test_a_providers_brand_color_is_validated_the_same_way(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="brand_color of provider 'corp' must be"):
        OAuth2(id="corp", brand_color=value, **OAUTH)


@pytest.mark.parametrize("value", HOSTILE_URLS)
def test_a_providers_logo_is_validated_the_same_way(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="logo of provider 'corp' must be"):
        OIDC(issuer="https://id.example", id="corp", logo=value, **OAUTH)


def test_parse_color_reads_every_accepted_form() -> None:
    assert parse_color("#0af", "x") == (0, 170, 255)
    assert parse_color("#00AAFF", "x") == (0, 170, 255)
    assert parse_color("rgb(0,170,255)", "x") == (0, 170, 255)
    assert parse_color("rgb(0 170 255)", "x") == (0, 170, 255)


# -- contrast ------------------------------------------------------------------------------

# A grid over the RGB cube: 6 levels per channel, 216 brand colours.
GRID = [(r, g, b) for r, g, b in itertools.product(range(0, 256, 51), repeat=3)]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_text_of_every_theme_has_enough_contrast(scheme: str) -> None:
    for brand in GRID:
        theme = load_theme({"brand_color": "#{:02x}{:02x}{:02x}".format(*brand)})
        palette = theme.palette(scheme)  # type: ignore[arg-type]
        for text, background in TEXT_PAIRS:
            ratio = contrast(palette[text], palette[background])
            assert ratio >= MIN_CONTRAST, (brand, scheme, text, background, ratio)


def test_every_brand_colour_gets_readable_button_text() -> None:
    for color in GRID:
        brand = Brand.of(color)
        for colors in (brand.light, brand.dark):
            ratio = contrast(parse_color(colors.text, ""), parse_color(colors.background, ""))
            assert ratio >= MIN_CONTRAST, (color, colors, ratio)


@pytest.mark.parametrize("provider", [*PRESETS, OAuth2(**OAUTH)], ids=lambda p: p.id)
def test_each_provider_button_is_readable_in_both_schemes(provider: OAuth2) -> None:
    assert provider.brand is not None
    for colors in (provider.brand.light, provider.brand.dark):
        text, background = parse_color(colors.text, ""), parse_color(colors.background, "")
        assert contrast(text, background) >= MIN_CONTRAST, (provider.id, colors)
    assert (OAuth2(**OAUTH).brand) is NEUTRAL


# -- the sign-in page ----------------------------------------------------------------------


def signin_page(providers: list[Any], **config: Any) -> Elements:
    app = themed_app(providers=providers, **config)
    response = app.test_client().get("/api/auth/signin")
    assert response.status_code == 200
    return Elements(response.get_data(as_text=True))


def test_each_preset_button_shows_its_logo_and_brand_colours() -> None:
    app = themed_app(providers=PRESETS)
    html = app.test_client().get("/api/auth/signin").get_data(as_text=True)
    for provider in PRESETS:
        form = html.split(f'action="/api/auth/signin/{provider.id}"', 1)[1].split("</form>")[0]
        assert provider.brand is not None
        assert f"--btn-bg-light:{provider.brand.light.background}" in form
        assert f"--btn-bg-dark:{provider.brand.dark.background}" in form
        logo = (TEMPLATES / "logos" / f"{provider.icon}.svg").read_text().strip()
        assert logo in form and 'aria-hidden="true"' in logo
        assert f"Sign in with {provider.name}</span>" in form
    assert "<img" not in html  # every logo is inline: no request leaves for an image


def test_a_generic_provider_takes_its_logo_and_brand_colour() -> None:
    corp = OIDC(
        issuer="https://id.example",
        id="corp",
        name="Corp SSO",
        logo="/static/corp.svg",
        brand_color="#0a7d3b",
        **OAUTH,
    )
    page = signin_page([corp])
    button = page.find("button", type="submit")[0]
    assert "--btn-bg-light:#0a7d3b" in (button["style"] or "")
    assert page.find("img", src="/static/corp.svg", alt="")


def test_or_divides_forms_from_buttons_but_not_buttons_from_each_other() -> None:
    email = Email(send=lambda *_: None)
    page = signin_page([Credentials(authorize=authorize), GitHub(**OAUTH), Google(**OAUTH), email])
    assert page.text.count("or") == 2
    html_order = [a.get("action") for _, a in page.tags if _ == "form"]
    assert html_order == [
        "/api/auth/callback/credentials",
        "/api/auth/signin/github",
        "/api/auth/signin/google",
        "/api/auth/signin/email",
    ]


def test_every_input_has_a_label_and_autocomplete() -> None:
    fields = {
        "username": {"label": "Username", "type": "text"},
        "password": {"label": "Password", "type": "password"},
        "email": {"label": "Work email", "type": "email"},
        "code": {"label": "One-time code", "type": "text", "autocomplete": "one-time-code"},
    }
    credentials = Credentials(authorize=authorize, fields=fields)
    page = signin_page([credentials, Email(id="link", send=lambda *_: None)])
    visible = [a for t, a in page.tags if t == "input" and a.get("type") != "hidden"]
    labels = {a["for"] for t, a in page.tags if t == "label"}
    assert {a["id"] for a in visible} == labels
    assert {a["name"]: a.get("autocomplete") for a in visible} == {
        "username": "username",
        "password": "current-password",
        "email": "email",
        "code": "one-time-code",
    }


@pytest.mark.parametrize("code", sorted(SIGNIN_MESSAGES))
def test_the_sign_in_page_announces_each_errors_own_message(code: str) -> None:
    html = build_app().test_client().get(f"/api/auth/signin?error={code}").get_data(as_text=True)
    alert = re.search(r'<p class="alert" role="alert">(.*?)</p>', html)
    assert alert is not None and alert.group(1) == SIGNIN_MESSAGES[code]


def test_an_unknown_error_code_shows_a_generic_message() -> None:
    client = build_app().test_client()
    html = client.get("/api/auth/signin?error=<script>x").get_data(as_text=True)
    assert '<p class="alert" role="alert">Unable to sign in.</p>' in html
    assert "<script>x" not in html


def test_the_color_scheme_setting_decides_which_palettes_the_page_has() -> None:
    def css(scheme: str) -> str:
        app = themed_app({"color_scheme": scheme})
        return app.test_client().get("/api/auth/signin").get_data(as_text=True)

    auto, light, dark = css("auto"), css("light"), css("dark")
    assert "@media (prefers-color-scheme: dark)" in auto and "--card:#18181b" in auto
    assert "--card:#ffffff" in auto and 'content="light dark"' in auto
    assert (
        "--card:#18181b" not in light and "@media (prefers-color-scheme: dark){:root" not in light
    )
    assert "--card:#ffffff" not in dark and "color-scheme:dark" in dark


# -- sign-out, verify-request, error -------------------------------------------------------


def test_the_sign_out_page_shows_who_is_signed_in_and_a_way_back() -> None:
    client = build_app().test_client()
    sign_in(client)
    html = client.get("/api/auth/signout?callbackUrl=/private").get_data(as_text=True)
    assert "<strong>Alice</strong>" in html and "alice@example.com" in html
    assert '<a href="http://localhost/private">Go back</a>' in html
    page = Elements(html)
    assert page.find("form", method="post", action="/api/auth/signout")
    assert page.find("button", type="submit")


def test_the_sign_out_page_offers_the_button_to_a_session_without_a_user() -> None:
    def configure(auth: AuthExt[Any]) -> None:
        auth.session_callback(lambda session: {"expires": session["expires"]})

    client = build_app(configure).test_client()
    sign_in(client)
    html = client.get("/api/auth/signout").get_data(as_text=True)
    assert "You are signed in." in html and 'action="/api/auth/signout"' in html


def test_the_sign_out_page_when_signed_out_says_so_and_links_home() -> None:
    html = build_app().test_client().get("/api/auth/signout").get_data(as_text=True)
    assert "You are not signed in." in html
    assert '<a href="http://localhost">Go back</a>' in html
    assert 'action="/api/auth/signout"' not in html


@pytest.mark.parametrize("code", sorted(ERROR_PAGES))
def test_the_error_page_shows_each_codes_own_heading_and_message(code: str) -> None:
    response = build_app().test_client().get(f"/api/auth/error?error={code}")
    html = response.get_data(as_text=True)
    title, message = ERROR_PAGES[code]
    if code in ("ServiceUnavailable", "Forbidden"):  # shown by the outage, login_required
        title, message = "Sign-in error", "Unable to sign in."
    assert f"<h1>{title}</h1>" in html
    assert f'<p class="alert" role="alert">{message}</p>' in html
    assert 'href="/api/auth/signin"' in html and "Traceback" not in html


def test_verify_request_page_has_a_next_step() -> None:
    page = build_app().test_client().get("/api/auth/verify-request").get_data(as_text=True)
    assert "<h1>Check your email</h1>" in page
    assert '<a href="/api/auth/signin">Use a different address</a>' in page
    assert '<a href="/">Go to the home page</a>' in page


def test_a_store_outage_answers_the_themed_error_page_with_503() -> None:
    app = themed_app({"color_scheme": "dark"})

    @app.get("/needs-store")
    def needs_store() -> str:
        raise StoreError("connection refused")

    response = app.test_client().get("/needs-store")
    html = response.get_data(as_text=True)
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert "<h1>Sign-in unavailable</h1>" in html and "--card:#18181b" in html
    assert "connection refused" not in html


# -- custom templates ----------------------------------------------------------------------


@pytest.mark.parametrize("page", ["signin", "signout", "error", "verify_request"])
def test_csrf_token_is_the_same_callable_in_every_template(tmp_path: Path, page: str) -> None:
    folder = tmp_path / "sessionext"
    folder.mkdir()
    (folder / f"{page}.html").write_text(
        '{% extends "sessionext/layout.html" %}'
        "{% block content %}token={{ csrf_token() }}{% endblock %}"
    )
    app = build_app()
    app.template_folder = str(tmp_path)
    client = app.test_client()
    html = client.get(f"/api/auth/{page.replace('_', '-')}").get_data(as_text=True)
    token = client.get("/api/auth/csrf").get_json()["csrfToken"]
    assert f"token={token}" in html
    assert "--card:#ffffff" in html  # the layout, themed
