"""The look of the built-in pages: ``AUTH_THEME``, provider brand colours, and their contrast.

Every value that reaches a page is re-emitted from what was parsed here (a colour as
``#rrggbb``, a logo as a checked URL), never copied from the configuration, so no setting can
add markup or CSS. Text colours are chosen, and tested, for a contrast of at least 4.5:1
(WCAG 2, level AA) in the light and the dark scheme.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import astuple, dataclass
from typing import Literal
from urllib.parse import urlsplit

from .errors import ConfigurationError

RGB = tuple[int, int, int]
Scheme = Literal["light", "dark"]
SCHEMES: tuple[Scheme, ...] = ("light", "dark")
COLOR_SCHEMES = ("auto", "light", "dark")
THEME_KEYS = frozenset({"color_scheme", "brand_color", "button_text", "logo"})
#: WCAG 2 AA contrast for normal text.
MIN_CONTRAST = 4.5
#: Below this contrast against the card, a button gets an outline (WCAG 2 non-text contrast).
MIN_EDGE_CONTRAST = 3.0

_HEX = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_RGB = re.compile(r"rgb\(\s*(\d{1,3})\s*[,\s]\s*(\d{1,3})\s*[,\s]\s*(\d{1,3})\s*\)")
# Characters of a URL that mean nothing special in an HTML attribute or in CSS: no quotes,
# no brackets of any kind, no backslash, no whitespace or control characters.
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#@!$&*+,;=%]+")
MAX_URL_LENGTH = 2048


def parse_color(value: object, what: str) -> RGB:
    """``#rgb``, ``#rrggbb`` or ``rgb(r, g, b)`` as three bytes; anything else is refused."""
    text = value.strip() if isinstance(value, str) else ""
    hex_match = _HEX.fullmatch(text)
    if hex_match:
        digits = hex_match.group(1)
        if len(digits) == 3:
            digits = "".join(d * 2 for d in digits)
        return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
    rgb_match = _RGB.fullmatch(text)
    if rgb_match and all(int(part) <= 255 for part in rgb_match.groups()):
        r, g, b = (int(part) for part in rgb_match.groups())
        return (r, g, b)
    raise ConfigurationError(
        f"{what} must be a colour written as '#rrggbb', '#rgb' or 'rgb(r, g, b)', got {value!r}."
    )


def hex_color(rgb: RGB) -> str:
    """``#rrggbb``: the only form in which a colour is written into a page."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def luminance(rgb: RGB) -> float:
    """Relative luminance of an sRGB colour, as WCAG 2 defines it."""

    def channel(byte: int) -> float:
        c = byte / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(byte) for byte in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: RGB, b: RGB) -> float:
    """WCAG 2 contrast ratio of two colours, from 1 to 21."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def parse_url(value: object, what: str) -> str:
    """An absolute http(s) URL or a path starting with ``/``, made of harmless characters."""
    text = value if isinstance(value, str) else ""
    if 0 < len(text) <= MAX_URL_LENGTH and _URL_CHARS.fullmatch(text):
        parts = urlsplit(text)
        if parts.scheme in ("http", "https") and parts.netloc:
            return text
        if not parts.scheme and text.startswith("/") and not text.startswith("//"):
            return text
    raise ConfigurationError(
        f"{what} must be an http(s) URL or a path starting with '/', without quotes, "
        f"brackets, backslashes or spaces; got {value!r}."
    )


WHITE: RGB = (255, 255, 255)
INK: RGB = (24, 24, 27)
BLACK: RGB = (0, 0, 0)


def text_on(background: RGB) -> RGB:
    """White or near-black, whichever reads better on ``background``; black when neither
    reaches :data:`MIN_CONTRAST` (it always does then)."""
    best = max((WHITE, INK), key=lambda text: contrast(text, background))
    return best if contrast(best, background) >= MIN_CONTRAST else BLACK


#: The pages' own colours per scheme; ``brand`` and ``brand-text`` come from the theme.
BASE_PALETTE: Mapping[Scheme, Mapping[str, RGB]] = {
    "light": {
        "page": (244, 244, 245),
        "card": (255, 255, 255),
        "text": INK,
        "muted": (82, 82, 91),
        "outline": (113, 113, 122),
        "rule": (212, 212, 216),
        "input": (255, 255, 255),
        "error-bg": (254, 242, 242),
        "error-text": (153, 27, 27),
        "link": (29, 78, 216),
    },
    "dark": {
        "page": (9, 9, 11),
        "card": (24, 24, 27),
        "text": (250, 250, 250),
        "muted": (161, 161, 170),
        "outline": (113, 113, 122),
        "rule": (63, 63, 70),
        "input": (9, 9, 11),
        "error-bg": (69, 10, 10),
        "error-text": (254, 202, 202),
        "link": (147, 197, 253),
    },
}
#: Which text colours are read on which background (checked for contrast).
TEXT_PAIRS = (
    ("text", "card"),
    ("muted", "card"),
    ("text", "input"),
    ("link", "card"),
    ("error-text", "error-bg"),
    ("brand-text", "brand"),
)
DEFAULT_BRAND: RGB = (52, 109, 241)


@dataclass(frozen=True)
class ButtonColors:
    """One scheme's colours of a button: background, text and edge, all ``#rrggbb``."""

    background: str
    text: str
    edge: str


def button_colors(background: RGB, text: RGB | None, scheme: Scheme) -> ButtonColors:
    """A button's colours on the card of ``scheme``; outlined when it would not stand out."""
    palette = BASE_PALETTE[scheme]
    edge = background
    if contrast(background, palette["card"]) < MIN_EDGE_CONTRAST:
        edge = palette["outline"]
    text = text or text_on(background)
    return ButtonColors(hex_color(background), hex_color(text), hex_color(edge))


@dataclass(frozen=True)
class Brand:
    """A provider button's colours in the light and in the dark scheme."""

    light: ButtonColors
    dark: ButtonColors

    @classmethod
    def of(
        cls,
        light: RGB,
        light_text: RGB | None = None,
        dark: RGB | None = None,
        dark_text: RGB | None = None,
    ) -> Brand:
        """A brand from its colours; the dark scheme uses the light ones unless given."""
        if dark is None:
            dark, dark_text = light, light_text
        return cls(
            button_colors(light, light_text, "light"), button_colors(dark, dark_text, "dark")
        )

    def style(self) -> str:
        """CSS custom properties for the button's ``style`` attribute (hex colours only)."""
        return ";".join(
            f"--btn-{name}-{scheme}:{value}"
            for scheme, colors in (("light", self.light), ("dark", self.dark))
            for name, value in zip(("bg", "fg", "edge"), astuple(colors), strict=True)
        )


#: A provider button without brand colours: the card's own, outlined.
NEUTRAL = Brand.of(WHITE, INK, (39, 39, 42), (250, 250, 250))


def brand_option(value: object, provider_id: str) -> Brand | None:
    """The ``brand_color=`` option of a provider: the button's colour, with readable text."""
    if value is None:
        return None
    return Brand.of(parse_color(value, f"brand_color of provider {provider_id!r}"))


def logo_option(value: object, provider_id: str) -> str | None:
    """The ``logo=`` option of a provider: an image URL or path."""
    if value is None:
        return None
    return parse_url(value, f"logo of provider {provider_id!r}")


@dataclass(frozen=True)
class Theme:
    """``AUTH_THEME``, validated: the colour scheme, the brand's colours and the logo."""

    color_scheme: Literal["auto", "light", "dark"]
    brand: RGB
    button_text: RGB
    logo: str | None

    def palette(self, scheme: Scheme) -> dict[str, RGB]:
        """Every colour of the pages in ``scheme``; links take the brand colour when readable."""
        palette = dict(BASE_PALETTE[scheme])
        palette["brand"], palette["brand-text"] = self.brand, self.button_text
        palette["brand-edge"] = self.brand
        if contrast(self.brand, palette["card"]) < MIN_EDGE_CONTRAST:
            palette["brand-edge"] = palette["outline"]
        if contrast(self.brand, palette["card"]) >= MIN_CONTRAST:
            palette["link"] = self.brand
        return palette

    def css_variables(self, scheme: Scheme) -> str:
        """The palette of ``scheme`` as CSS custom properties (``--name:#rrggbb;``)."""
        return "".join(f"--{name}:{hex_color(rgb)};" for name, rgb in self.palette(scheme).items())

    @property
    def schemes(self) -> tuple[Scheme, ...]:
        """The schemes the pages can show."""
        return SCHEMES if self.color_scheme == "auto" else (self.color_scheme,)


def load_theme(value: object) -> Theme:
    """Validate ``AUTH_THEME``; raise :class:`ConfigurationError` for any value not understood."""
    if not isinstance(value, Mapping):
        raise ConfigurationError("AUTH_THEME must be a dict (see the 'Built-in pages' docs).")
    unknown = set(value) - THEME_KEYS
    if unknown:
        raise ConfigurationError(
            f"AUTH_THEME has unknown keys {sorted(unknown)}; known: {sorted(THEME_KEYS)}."
        )
    scheme = value.get("color_scheme", "auto")
    if scheme not in COLOR_SCHEMES:
        raise ConfigurationError(
            f"AUTH_THEME color_scheme must be one of {list(COLOR_SCHEMES)}, got {scheme!r}."
        )
    brand = DEFAULT_BRAND
    if value.get("brand_color") is not None:
        brand = parse_color(value["brand_color"], "AUTH_THEME brand_color")
    button_text = text_on(brand)
    if value.get("button_text") is not None:
        button_text = parse_color(value["button_text"], "AUTH_THEME button_text")
        ratio = contrast(button_text, brand)
        if ratio < MIN_CONTRAST:
            raise ConfigurationError(
                f"AUTH_THEME button_text {hex_color(button_text)} on brand_color "
                f"{hex_color(brand)} has a contrast of {ratio:.2f}:1; text needs at least "
                f"{MIN_CONTRAST}:1 to be readable (leave button_text out to get "
                f"{hex_color(text_on(brand))})."
            )
    logo = None if value.get("logo") is None else parse_url(value["logo"], "AUTH_THEME logo")
    return Theme(scheme, brand, button_text, logo)
