"""Sign-in with a link sent by email (Auth.js's email provider, "magic links").

``POST /signin/<id>`` mails a link that signs the address in once, before it expires: with an
adapter the link carries a one-time token stored hashed, without one it is signed and bound to
the browser that asked. The flows are in :mod:`..actions.email`;
this module has the provider and two senders: the development one that prints the link, and
:class:`SMTPSender`. Addresses are normalised by :func:`..identity.normalize_email`.
"""

from __future__ import annotations

import smtplib
import ssl
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any, ClassVar
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

from flask import Flask, current_app
from markupsafe import escape

from ..errors import ConfigurationError
from ..identity import normalize_email
from ..responses import logger
from .base import Provider

#: Default lifetime of a link whose token the adapter stores, and of a signed link.
STORED_MAX_AGE = 24 * 60 * 60
SIGNED_MAX_AGE = 10 * 60

Send = Callable[[str, str, "Email"], object]
Normalize = Callable[[object], str | None]


class Email(Provider):
    """Sign in by a link sent to the user's address.

    With an adapter the link carries a one-time token the adapter stores (default lifetime
    24 hours); without one it is signed with itsdangerous and works only in the browser that
    asked for it, once (default lifetime 10 minutes). ``send(email, url, provider)`` delivers
    it: pass :class:`SMTPSender` or your own function. Without one, the link is printed to
    stderr, which only an app in debug or testing mode accepts: any other app refuses to
    start. ``max_age`` is the link's lifetime in seconds. ``normalize`` turns the submitted
    address into the identifier (return ``None`` to refuse); the default is
    :func:`normalize_email`.
    """

    type: ClassVar[str] = "email"

    def __init__(
        self,
        send: Send | None = None,
        *,
        id: str = "email",
        name: str = "Email",
        max_age: int | None = None,
        normalize: Normalize = normalize_email,
    ) -> None:
        super().__init__(id=id, name=name)
        if max_age is not None and (
            isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 1
        ):
            raise ValueError(f"max_age must be a positive number of seconds, got {max_age!r}.")
        self.send: Send = send or print_link
        self.max_age = max_age
        self.normalize = normalize

    def lifetime(self, stored: bool) -> int:
        """How long a link works: ``max_age``, else 24 hours when the adapter stores the
        token (``stored``), 10 minutes for a signed link."""
        if self.max_age is not None:
            return self.max_age
        return STORED_MAX_AGE if stored else SIGNED_MAX_AGE

    def init_app(self, app: Flask, adapter: object | None) -> None:
        """Refuse to start with the printing sender outside debug or testing mode."""
        if self.send is print_link and not (app.debug or app.testing):
            raise ConfigurationError(
                f"email provider {self.id!r} has no sender: pass Email(send=SMTPSender()) or "
                "your own send(email, url, provider). Printing links is for debug mode only."
            )
        init = getattr(self.send, "init_app", None)
        if callable(init):
            init(app)


def print_link(email: str, url: str, provider: Email) -> None:
    """The development sender: print the link to stderr, in debug or testing mode only.

    The link signs in whoever has it, so it goes to the terminal and never to the log.
    """
    if not (current_app.debug or current_app.testing):
        raise ConfigurationError("print_link() sends nothing outside debug or testing mode")
    logger.warning(
        "flask-sessionext DEV ONLY: no email sender configured; the sign-in link for %s was "
        "printed to stderr (pass Email(send=...) before going to production)",
        email,
    )
    print(f"[flask-sessionext DEV ONLY] sign-in link for {email}:\n  {url}", file=sys.stderr)


def sign_in_message(
    email: str, url: str, *, sender: str, subject: str | None = None
) -> EmailMessage:
    """The email that carries the link: plain text, with an HTML alternative.

    ``host`` (from ``url``) and ``url`` are HTML-escaped in the HTML part; header values
    with line breaks are refused by :mod:`email` (no header injection).
    """
    host = urlsplit(url).netloc
    message = EmailMessage()
    message["Subject"] = subject or f"Sign in to {host}"
    message["From"] = sender
    message["To"] = email
    message.set_content(
        f"Sign in to {host}\n\n{url}\n\n"
        "If you did not request this email, you can safely ignore it.\n"
    )
    # A zero-width space after each dot keeps mail clients from turning the host into a link.
    shown_host = str(escape(host)).replace(".", "&#8203;.")
    message.add_alternative(
        "<!doctype html>\n"
        '<html><body style="font-family: system-ui, sans-serif; color: #18181b">\n'
        f"<p>Sign in to <strong>{shown_host}</strong></p>\n"
        f'<p><a href="{escape(url)}" style="display: inline-block; padding: 10px 20px; '
        'background: #18181b; color: #fff; border-radius: 6px; text-decoration: none">'
        "Sign in</a></p>\n"
        "<p>If you did not request this email, you can safely ignore it.</p>\n"
        "</body></html>\n",
        subtype="html",
    )
    return message


@dataclass(frozen=True)
class SMTPSettings:
    """The ``AUTH_EMAIL_*`` settings, validated."""

    server: str
    port: int
    username: str | None
    password: str | None
    sender: str
    starttls: bool
    ssl: bool


SMTP_DEFAULTS: Mapping[str, Any] = {
    "AUTH_EMAIL_SERVER": None,
    "AUTH_EMAIL_PORT": None,
    "AUTH_EMAIL_USERNAME": None,
    "AUTH_EMAIL_PASSWORD": None,
    "AUTH_EMAIL_FROM": None,
    "AUTH_EMAIL_STARTTLS": True,
    "AUTH_EMAIL_SSL": False,
}


def smtp_settings(config: Mapping[str, Any]) -> SMTPSettings:
    """Read and check the ``AUTH_EMAIL_*`` keys; raise :class:`ConfigurationError`."""
    server, sender = config.get("AUTH_EMAIL_SERVER"), config.get("AUTH_EMAIL_FROM")
    if not isinstance(server, str) or not server:
        raise ConfigurationError("SMTPSender needs AUTH_EMAIL_SERVER, the SMTP server's host.")
    if not isinstance(sender, str) or "@" not in parseaddr(sender)[1]:
        raise ConfigurationError(
            "SMTPSender needs AUTH_EMAIL_FROM, the sender address "
            "(like 'Example <no-reply@example.com>')."
        )
    use_ssl = bool(config.get("AUTH_EMAIL_SSL", False))
    starttls = bool(config.get("AUTH_EMAIL_STARTTLS", True)) and not use_ssl
    port = config.get("AUTH_EMAIL_PORT")
    if port is None:
        port = 465 if use_ssl else 587 if starttls else 25
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigurationError(f"AUTH_EMAIL_PORT must be a port number, got {port!r}.")
    username, password = config.get("AUTH_EMAIL_USERNAME"), config.get("AUTH_EMAIL_PASSWORD")
    if bool(username) != bool(password):
        raise ConfigurationError(
            "set both AUTH_EMAIL_USERNAME and AUTH_EMAIL_PASSWORD, or neither of them."
        )
    return SMTPSettings(
        server=server,
        port=port,
        username=str(username) if username else None,
        password=str(password) if password else None,
        sender=sender,
        starttls=starttls,
        ssl=use_ssl,
    )


class SMTPSender:
    """Send the link with :mod:`smtplib`, configured by the app's ``AUTH_EMAIL_*`` keys.

    ``AUTH_EMAIL_SERVER`` and ``AUTH_EMAIL_FROM`` are required (checked when the app
    starts). The connection uses STARTTLS unless ``AUTH_EMAIL_STARTTLS`` is ``False``, or
    implicit TLS with ``AUTH_EMAIL_SSL``; certificates are verified. ``subject`` replaces
    the default "Sign in to <host>".
    """

    def __init__(self, *, subject: str | None = None, timeout: float = 10.0) -> None:
        self.subject = subject
        self.timeout = timeout
        self._settings: WeakKeyDictionary[Flask, SMTPSettings] = WeakKeyDictionary()

    def init_app(self, app: Flask) -> None:
        """Set the ``AUTH_EMAIL_*`` defaults and read them once; a bad value stops the app."""
        for key, value in SMTP_DEFAULTS.items():
            app.config.setdefault(key, value)
        self._settings[app] = smtp_settings(app.config)

    def __call__(self, email: str, url: str, provider: Email) -> None:
        settings = self._settings[current_app._get_current_object()]  # type: ignore[attr-defined]
        message = sign_in_message(email, url, sender=settings.sender, subject=self.subject)
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if settings.ssl:
            smtp = smtplib.SMTP_SSL(
                settings.server, settings.port, timeout=self.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.server, settings.port, timeout=self.timeout)
        with smtp:
            if settings.starttls:
                smtp.starttls(context=context)
            if settings.username and settings.password:
                smtp.login(settings.username, settings.password)
            smtp.send_message(message)

    def __repr__(self) -> str:
        return f"<SMTPSender subject={self.subject!r}>"
