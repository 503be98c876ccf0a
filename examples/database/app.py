"""Database sessions with Flask-SQLAlchemy: users, linked accounts and revocable sessions.

Sessions live in the ``sessions`` table (the cookie holds an opaque token, the table only
its SHA-256), so a user can see how many sessions they have and end all of them at once with
``auth.revoke_sessions(user_id)``. The ``users`` table is the adapter's, plus a ``role``
column that the ``session`` callback shows to the app and the browser. Passwords for the
credentials sign-in are hashed with ``werkzeug.security`` in a table of their own.

Configuration, from the environment:

``DATABASE_URL``
    any SQLAlchemy URL, such as ``postgresql+psycopg://user@localhost/app``; default: the
    SQLite file ``database-example.db`` in the app's instance folder.
``AUTH_SECRET``
    32+ random bytes (CSRF and OAuth check cookies; ``flask auth secret`` makes one); with
    ``--debug`` a development secret in the instance folder is used when it is unset.
``AUTH_EMAIL_SERVER``, ``AUTH_EMAIL_FROM`` (and the other ``AUTH_EMAIL_*`` keys)
    optional: send sign-in links over SMTP; without them, ``--debug`` prints the link.
``OIDC_ISSUER``, ``OIDC_CLIENT_ID``, ``OIDC_CLIENT_SECRET``, ``OIDC_NAME``
    optional: an OpenID provider to sign in with, or to link to an existing user.
    Register the redirect URI ``<origin>/api/auth/callback/oidc``.
``SESSION_CACHE_TTL``
    optional: keep sessions in each process up to this many seconds (``SessionCache``; on
    SQLite or PostgreSQL); sign-outs and role changes still reach every process at once.

Run it::

    flask --app examples/database/app.py init-db   # tables, and demo@example.com / demo-password
    flask --app examples/database/app.py run --debug
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click
from flask import Flask, redirect, render_template, request, url_for
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from flask_sessionext import AuthExt, csrf_required, login_required
from flask_sessionext.adapters import SessionCache, SQLAlchemyAdapter, UserMixin
from flask_sessionext.identity import normalize_email
from flask_sessionext.providers import OIDC, Credentials, Email, Provider, SMTPSender
from flask_sessionext.types import Session, SessionUser

OIDC_SETTINGS = ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET")


class Base(DeclarativeBase):
    """The declarative base of this app's models."""


db = SQLAlchemy(model_class=Base)
if TYPE_CHECKING:
    Model = Base  # what type checkers see; at run time, Flask-SQLAlchemy's db.Model
else:
    Model = db.Model


class User(UserMixin, Model):
    """The adapter's ``users`` table (id, name, email, email_verified, image), plus a role."""

    role: Mapped[str] = mapped_column(String(16), default="user", server_default="user")


class Password(Model):
    """Password hashes, kept out of ``users``: the adapter loads a user row on every request
    and hands it to callbacks and signals, and a hash has no business there."""

    __tablename__ = "passwords"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    hash: Mapped[str] = mapped_column(String(255))


# The adapter declares the accounts, sessions and verification_tokens tables on db.Model:
# create it once per db, at import, not in create_app.
CACHE_TTL = os.environ.get("SESSION_CACHE_TTL")
adapter = SQLAlchemyAdapter(
    db, user_model=User, session_cache=SessionCache(ttl=float(CACHE_TTL)) if CACHE_TTL else None
)

# Compared against when the email is unknown, so a wrong email costs as long as a wrong password.
UNKNOWN_USER_HASH = generate_password_hash(secrets.token_urlsafe(16))


class AppUser(SessionUser, total=False):
    """What the app and the browser know about the user."""

    id: str
    role: str


AppSession = Session[AppUser]


def authorize(credentials: dict[str, str]) -> dict[str, Any] | None:
    """Check email and password against the database; return the stored user, or None.

    With the database strategy the user's ``id`` must be a ``users.id``: the session row
    points at it.
    """
    email = normalize_email(credentials.get("email"))  # None for anything but one address
    if email is None:
        return None
    row = db.session.execute(
        select(User, Password.hash).join(Password).where(User.email == email)
    ).first()
    stored_hash = row.hash if row else UNKNOWN_USER_HASH
    if not check_password_hash(stored_hash, credentials.get("password", "")) or row is None:
        return None
    user: User = row.User
    return {"id": user.id, "name": user.name, "email": user.email}


def session_callback(session: AppSession, user: dict[str, Any]) -> AppSession:
    """With the database strategy, ``user`` is the stored row, every column of it."""
    session["user"]["id"] = user["id"]
    session["user"]["role"] = user["role"]
    return session


EMAIL_SETTINGS = (
    "AUTH_EMAIL_SERVER",
    "AUTH_EMAIL_FROM",
    "AUTH_EMAIL_USERNAME",
    "AUTH_EMAIL_PASSWORD",
)


def settings_from_env() -> dict[str, Any]:
    """The app's config from the environment (see the module docstring)."""
    settings: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL")
        or "sqlite:///database-example.db",
        "OIDC_NAME": os.environ.get("OIDC_NAME") or "OpenID",
    }
    settings.update({name: os.environ[name] for name in OIDC_SETTINGS if os.environ.get(name)})
    settings.update({name: os.environ[name] for name in EMAIL_SETTINGS if os.environ.get(name)})
    if os.environ.get("AUTH_EMAIL_PORT"):
        settings["AUTH_EMAIL_PORT"] = int(os.environ["AUTH_EMAIL_PORT"])
    return settings


def make_providers(config: Mapping[str, Any]) -> list[Provider]:
    """Email and password, an email link, and an OpenID provider when ``OIDC_ISSUER`` is set.

    The email link is sent over SMTP when ``AUTH_EMAIL_SERVER`` is set; without it, only in
    debug (or testing) mode, which prints the link to the console.
    """
    fields = {
        "email": {"label": "Email", "type": "email"},
        "password": {"label": "Password", "type": "password"},
    }
    providers: list[Provider] = [Credentials(authorize=authorize, fields=fields)]
    if config.get("AUTH_EMAIL_SERVER"):
        providers.append(Email(send=SMTPSender()))
    elif config.get("DEBUG") or config.get("TESTING"):
        providers.append(Email())
    if config.get("OIDC_ISSUER"):
        missing = [name for name in OIDC_SETTINGS if not config.get(name)]
        if missing:
            raise RuntimeError(f"examples/database: OIDC_ISSUER is set; set {', '.join(missing)}.")
        providers.append(
            OIDC(
                issuer=config["OIDC_ISSUER"],
                client_id=config["OIDC_CLIENT_ID"],
                client_secret=config["OIDC_CLIENT_SECRET"],
                name=config["OIDC_NAME"],
            )
        )
    return providers


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The example app, configured from the environment; ``config`` overrides any key."""
    app = Flask(__name__)
    app.config.update(settings_from_env())
    app.config.update(config or {})
    db.init_app(app)
    auth: AuthExt[AppSession] = AuthExt(providers=make_providers(app.config), adapter=adapter)
    auth.session_callback(session_callback)
    auth.init_app(app)  # the strategy is "database": an adapter is given

    def current_user_id() -> str:
        current = auth.current_session
        assert current is not None  # login_required let us in
        return current["user"]["id"]

    @app.get("/")
    def index() -> str:
        return render_template("index.html", ended=request.args.get("ended", type=int))

    @app.get("/account")
    @login_required
    def account() -> str:
        user_id = current_user_id()
        sessions = adapter.Session
        count = db.session.scalar(
            select(func.count()).select_from(sessions).where(sessions.user_id == user_id)
        )
        linked = db.session.scalars(
            select(adapter.Account.provider).where(adapter.Account.user_id == user_id)
        ).all()
        oauth = [p for p in auth.providers.values() if p.type in ("oauth", "oidc")]
        return render_template("account.html", session_count=count, linked=linked, oauth=oauth)

    @app.post("/account/sign-out-everywhere")
    @login_required
    @csrf_required
    def sign_out_everywhere() -> Response:
        ended = auth.revoke_sessions(current_user_id())  # this browser's session too
        return redirect(url_for("index", ended=ended), 303)

    @app.cli.command("init-db")
    @click.option("--email", default="demo@example.com", show_default=True)
    @click.option("--password", default="demo-password", show_default=True)
    @click.option("--role", default="admin", show_default=True)
    def init_db(email: str, password: str, role: str) -> None:
        """Create the tables, and a user who signs in with EMAIL and PASSWORD."""
        db.create_all()
        normal = normalize_email(email)
        if normal is None:
            raise click.BadParameter(f"{email!r} is not one email address", param_hint="--email")
        email = normal
        if db.session.scalar(select(User).where(User.email == email)) is not None:
            click.echo(f"Tables ready; {email} already exists.")
            return
        user = User(name=email.partition("@")[0].capitalize(), email=email, role=role)
        db.session.add(user)
        db.session.flush()  # assigns user.id
        db.session.add(Password(user_id=user.id, hash=generate_password_hash(password)))
        db.session.commit()
        click.echo(f"Tables ready; sign in as {email} / {password} ({role}).")

    return app


app = create_app()
