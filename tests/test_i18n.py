"""Translations of the built-in pages: Flask-Babel's locale when the app uses it, else English."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import Babel

from flask_sessionext import AuthExt, i18n
from flask_sessionext.adapters import MemoryAdapter
from flask_sessionext.pages import ERROR_PAGES, SIGNIN_MESSAGES
from flask_sessionext.providers import Credentials, Email, GitHub

from .helpers import SECRET, authorize, build_app, sign_in

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "flask_sessionext" / "translations"
POT = TRANSLATIONS / "flask_sessionext.pot"
GERMAN = TRANSLATIONS / "de" / "LC_MESSAGES" / "flask_sessionext"


@pytest.fixture(autouse=True)
def fresh_domain() -> Iterator[None]:
    """Each test loads the catalogues afresh (the domain caches them per process)."""
    i18n._domain.cache_clear()
    yield
    i18n._domain.cache_clear()


def localized_app(locale: str | None) -> Flask:
    """An app with a provider of each kind and Flask-Babel choosing ``locale``."""
    app = Flask(__name__)
    app.config.update(TESTING=True, AUTH_SECRET=SECRET)
    providers = [
        Credentials(authorize=authorize),
        GitHub(client_id="id", client_secret="secret"),
        Email(send=lambda *_: None),
    ]
    AuthExt(app, providers=providers, adapter=MemoryAdapter())
    Babel(app, locale_selector=lambda: locale)

    @app.get("/private")
    def private() -> str:
        return "private"

    return app


def catalogue_ids(messages: object) -> set[str]:
    return {m.id for m in messages if m.id}  # type: ignore[attr-defined]


def test_the_pages_are_german_when_flask_babel_selects_german() -> None:
    client = localized_app("de").test_client()
    html = client.get("/api/auth/signin?error=CredentialsSignin").get_data(as_text=True)
    assert '<html lang="de">' in html
    assert "<h1>Anmelden</h1>" in html and "<title>Anmelden</title>" in html
    assert "Mit GitHub anmelden" in html and '<p class="divider">oder</p>' in html
    assert ">Benutzername</label>" in html and ">Passwort</label>" in html
    assert "Die Anmeldung ist fehlgeschlagen. Prüfen Sie, ob Ihre Angaben stimmen." in html
    error = client.get("/api/auth/error?error=Verification").get_data(as_text=True)
    assert "<h1>Anmeldung fehlgeschlagen</h1>" in error and "Erneut anmelden" in error
    assert "Sie sind nicht angemeldet." in client.get("/api/auth/signout").get_data(as_text=True)


def test_a_locale_without_a_catalogue_and_an_app_without_babel_are_english() -> None:
    french = localized_app("fr").test_client().get("/api/auth/signin").get_data(as_text=True)
    assert '<html lang="en">' in french and "<h1>Sign in</h1>" in french
    plain = build_app().test_client().get("/api/auth/signin").get_data(as_text=True)
    assert '<html lang="en">' in plain and "<h1>Sign in</h1>" in plain


def test_without_flask_babel_installed_the_pages_are_english(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = localized_app("de")
    monkeypatch.setitem(sys.modules, "flask_babel", None)  # import flask_babel now fails
    i18n._domain.cache_clear()
    html = app.test_client().get("/api/auth/signin").get_data(as_text=True)
    assert '<html lang="en">' in html and "Sign in with GitHub" in html


def test_the_catalogue_template_has_every_string_of_the_sources() -> None:
    """``flask_sessionext.pot`` is what ``pybabel extract -F babel.cfg -k N_`` gives today."""
    method_map = [
        ("flask_sessionext/**.py", "python"),
        ("flask_sessionext/templates/**.html", "jinja2"),
    ]
    extracted = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(
            str(ROOT), method_map, keywords={"_": None, "gettext": None, "N_": None}
        )
    }
    with POT.open("rb") as f:
        assert catalogue_ids(read_po(f)) == extracted


def test_the_german_catalogue_is_complete_and_compiled() -> None:
    with POT.open("rb") as f:
        template = catalogue_ids(read_po(f))
    with GERMAN.with_suffix(".po").open("rb") as f:
        po = read_po(f)
    with GERMAN.with_suffix(".mo").open("rb") as f:
        mo = read_mo(f)
    assert catalogue_ids(po) == template
    assert all(m.string and not m.fuzzy for m in po if m.id)
    assert {m.id: m.string for m in mo if m.id} == {m.id: m.string for m in po if m.id}


class Texts(HTMLParser):
    """The text a page shows (headings, labels, buttons, the title) and its placeholders."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._in_style = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        self.texts += [value for name, value in attrs if name == "placeholder" and value]

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if data.strip() and not self._in_style:
            self.texts.append(data.strip())


def test_every_string_of_every_page_goes_through_gettext(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pseudo-translation marks each message ``⟦...⟧``: any text without the marks on any
    page (except the user's own name and email) was not translated."""
    with POT.open("rb") as f:
        template = read_po(f)
    pseudo = Catalog(locale="fr", domain=i18n.DOMAIN)
    for message in template:
        if message.id:
            pseudo.add(message.id, f"⟦{message.id}⟧", flags=message.flags)
    folder = tmp_path / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / f"{i18n.DOMAIN}.mo").open("wb") as f:
        write_mo(f, pseudo)
    monkeypatch.setattr(i18n, "TRANSLATIONS", tmp_path)
    i18n._domain.cache_clear()

    client: FlaskClient = localized_app("fr").test_client()
    urls = [
        "/api/auth/signin",
        "/api/auth/signout",
        "/api/auth/verify-request",
        *(f"/api/auth/signin?error={code}" for code in [*SIGNIN_MESSAGES, "Unknown"]),
        *(f"/api/auth/error?error={code}" for code in [*ERROR_PAGES, "Unknown"]),
    ]
    pages = {url: client.get(url).get_data(as_text=True) for url in urls}
    sign_in(client)
    pages["signed in: /api/auth/signout"] = client.get("/api/auth/signout").get_data(as_text=True)
    user_data = {"Alice", "alice@example.com"}
    for url, html in pages.items():
        assert '<html lang="fr">' in html, url
        untranslated = [
            text
            for text in Texts(html).texts
            if text not in user_data and not re.fullmatch(r"⟦[^⟦⟧]*⟧", text)
        ]
        assert not untranslated, (url, untranslated)
