"""Translations of the built-in pages: one gettext function, Flask-Babel's when the app has it.

The catalogue (domain ``flask_sessionext``) ships in ``flask_sessionext/translations``. With
Flask-Babel installed and initialised on the app, each string is looked up in the locale its
``locale_selector`` picks; without it, the pages are in English.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from flask import current_app

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
DOMAIN = "flask_sessionext"


@cache
def _domain() -> Any:
    """Flask-Babel's domain for this package's catalogue, or ``None`` without Flask-Babel."""
    try:
        from flask_babel import Domain
    except ImportError:
        return None
    return Domain(translation_directories=[str(TRANSLATIONS)], domain=DOMAIN)


def gettext(message: str, **variables: object) -> str:
    """``message`` translated for the current request, its ``%(name)s`` filled from
    ``variables``; English when the app does not use Flask-Babel."""
    domain = _domain()
    if domain is not None and "babel" in current_app.extensions:
        return str(domain.gettext(message, **variables))
    return message % variables if variables else message


def language() -> str:
    """The language tag of the pages (``lang``): the request's locale when the package has a
    catalogue for it, else ``en``."""
    if _domain() is None or "babel" not in current_app.extensions:
        return "en"
    from flask_babel import get_locale

    locale = get_locale()
    for tag in (str(locale), getattr(locale, "language", "")):
        if tag and (TRANSLATIONS / tag / "LC_MESSAGES" / f"{DOMAIN}.mo").is_file():
            return tag.replace("_", "-")
    return "en"


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue; :func:`gettext` translates it where it is shown."""
    return message
