"""The apps the benchmark compares, each with the request environs it is timed on.

Every app serves ``GET /me`` answering the signed-in user's name as ``text/html``. Each one is
signed in the way a browser would be: through its own login route and Flask's test client,
and the cookie the test client then holds is what the timed requests carry.

The database variants keep their rows in a SQLite file in a temporary directory, and in a
schema of their own on PostgreSQL when it is reachable; an ``ExitStack`` the caller owns
removes both when the run ends.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import redis
from flask import Flask, abort, g, request, session
from flask.testing import FlaskClient
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    get_jwt,
    jwt_required,
    set_access_cookies,
)
from flask_login import LoginManager, UserMixin, current_user, login_user
from flask_login import login_required as flask_login_required
from flask_sqlalchemy import SQLAlchemy
from joserfc import jwe
from joserfc.errors import JoseError
from sqlalchemy import String, bindparam, create_engine, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.test import EnvironBuilder

from flask_sessionext import AuthExt, login_required
from flask_sessionext.adapters import SessionCache, SQLAlchemyAdapter
from flask_sessionext.jwt import derive_key, encode
from flask_sessionext.providers import Credentials
from flask_sessionext.token_store import RedisTokenStore

Environ = dict[str, Any]
WSGIApp = Callable[..., Any]

#: The name every app answers with; responses are checked against it.
NAME = "Ada Lovelace"
USER = {
    "id": "1",
    "name": NAME,
    "email": "ada@example.com",
    "password": "analytical",
    "role": "admin",
}
SECRET = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
#: Auth.js's session cookie name on plain http; it is also the HKDF salt of the token key.
SESSION_COOKIE = "authjs.session-token"
#: What the test client sends; every timed environ carries the same, so Flask-Login's
#: session protection sees the identity the login was made from.
ENVIRON_BASE = {"REMOTE_ADDR": "127.0.0.1", "HTTP_USER_AGENT": "Mozilla/5.0 (bench)"}
#: The Redis the revocation variant reads (``AUTH_JWT_REVOCATION``).
REDIS_URL = os.environ.get("SESSIONEXT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
#: The PostgreSQL server the database variants use (each run makes its own schema there).
POSTGRES_URL = (
    os.environ.get("SESSIONEXT_BENCH_DATABASE_URL")
    or os.environ.get("SESSIONEXT_TEST_DATABASE_URL")
    or "postgresql+psycopg://postgres@127.0.0.1/test"
)


@dataclass(frozen=True)
class Variant:
    """One app under test and how to get ``count`` environs to call it with.

    ``environs(count)`` returns the environs of one timed batch; warm variants return the same
    prebuilt dict ``count`` times, the first-sight variant a fresh cookie in each.
    """

    key: str
    label: str
    app: WSGIApp
    environs: Callable[[int], Sequence[Environ]]
    #: True when a response to the timed request must not carry ``Set-Cookie``.
    no_set_cookie: bool = False


def build_environ(cookie: str | None = None) -> Environ:
    """The environ of ``GET /me`` with ``cookie`` as its ``Cookie`` header; built once."""
    headers = [("Cookie", cookie)] if cookie else []
    builder = EnvironBuilder(path="/me", headers=headers, environ_base=ENVIRON_BASE)
    try:
        return builder.get_environ()
    finally:
        builder.close()


def repeated(environ: Environ) -> Callable[[int], Sequence[Environ]]:
    """Environs for a warm variant: the one prebuilt environ, ``count`` times."""
    return lambda count: [environ] * count


def cookie_header(client: FlaskClient, *names: str) -> str:
    """The ``Cookie`` header a browser would send, from the test client's cookie jar."""
    parts = []
    for name in names:
        cookie = client.get_cookie(name)
        if cookie is None:
            raise RuntimeError(f"the login did not set the cookie {name!r}")
        parts.append(f"{name}={cookie.value}")
    return "; ".join(parts)


def new_client(app: Flask) -> FlaskClient:
    """A test client that sends the same ``User-Agent`` as the timed environs."""
    client = app.test_client()
    client.environ_base.update(ENVIRON_BASE)
    return client


def bare_flask_app() -> Flask:
    """The floor: routing and a constant answer, no cookie, no auth."""
    app = Flask("bare")

    @app.get("/me")
    def me() -> str:
        return NAME

    return app


def bare_flask() -> Variant:
    """:func:`bare_flask_app` and a request without a cookie."""
    return Variant("bare", "bare Flask", bare_flask_app(), repeated(build_environ()))


def flask_session_app() -> Flask:
    """Flask's own signed-cookie session (itsdangerous, HMAC-SHA1 over JSON)."""
    app = Flask("flask_session")
    app.secret_key = SECRET

    @app.post("/login")
    def login() -> str:
        session["name"] = NAME
        return "ok"

    @app.get("/me")
    def me() -> str:
        name = session.get("name")
        if name is None:
            abort(401)
        return str(name)

    return app


def login_cookie(app: Flask, *names: str) -> str:
    """``POST /login`` through the test client; the ``Cookie`` header a browser would then send.

    The cookies are signed with :data:`SECRET`, so they also hold in another process serving
    the same app (the HTTP benchmark's gunicorn workers).
    """
    client = new_client(app)
    client.post("/login")
    return cookie_header(client, *names)


def flask_session() -> Variant:
    """:func:`flask_session_app`, signed in."""
    app = flask_session_app()
    environ = build_environ(login_cookie(app, "session"))
    return Variant("flask_session", "Flask session cookie", app, repeated(environ))


class LoginUser(UserMixin):
    """Flask-Login's user: an id and a name, looked up in a dict."""

    def __init__(self, user_id: str, name: str) -> None:
        self.id = user_id
        self.name = name


def flask_login_app() -> Flask:
    """Flask-Login over Flask's session, with a dict for its user loader."""
    app = Flask("flask_login")
    app.secret_key = SECRET
    users = {USER["id"]: LoginUser(USER["id"], NAME)}
    manager = LoginManager(app)
    manager.user_loader(users.get)

    @app.post("/login")
    def login() -> str:
        login_user(users[USER["id"]])
        return "ok"

    @app.get("/me")
    @flask_login_required
    def me() -> str:
        return str(current_user.name)

    return app


def flask_login() -> Variant:
    """:func:`flask_login_app`, signed in."""
    app = flask_login_app()
    environ = build_environ(login_cookie(app, "session"))
    return Variant("flask_login", "Flask-Login", app, repeated(environ))


def flask_jwt_extended() -> Variant:
    """Flask-JWT-Extended, HS256 access token in a cookie.

    CSRF protection stays at its default (on), which checks only POST, PUT, PATCH and DELETE,
    so the timed GET is not checked; the browser would still send both cookies.
    """
    app = Flask("flask_jwt_extended")
    app.config.update(
        JWT_SECRET_KEY=SECRET,
        JWT_TOKEN_LOCATION=["cookies"],
    )
    JWTManager(app)

    @app.post("/login")
    def login() -> Any:
        response = app.make_response("ok")
        token = create_access_token(identity=USER["id"], additional_claims={"name": NAME})
        set_access_cookies(response, token)
        return response

    @app.get("/me")
    @jwt_required()
    def me() -> str:
        return str(get_jwt()["name"])

    environ = build_environ(login_cookie(app, "access_token_cookie", "csrf_access_token"))
    return Variant("flask_jwt_extended", "Flask-JWT-Extended", app, repeated(environ))


def sessionext_app(callbacks: bool = False, token_store: Any = None, **config: Any) -> Flask:
    """A flask-sessionext app, JWT strategy, with a credentials provider and ``GET /me``.

    With ``callbacks``, the README's app: a ``jwt_callback`` keeps the user's role in the token
    at sign-in and a ``session_callback`` copies it into the session, on every request.
    """
    app = Flask("sessionext_callbacks" if callbacks else "sessionext")
    # Sign-in throughput is measured from one client: the rate limits would refuse it.
    app.config.update(
        AUTH_SECRET=SECRET, AUTH_URL="http://localhost", AUTH_RATE_LIMITS=False, **config
    )

    def authorize(credentials: dict[str, str]) -> dict[str, str] | None:
        if credentials.get("username") == USER["email"] and (
            credentials.get("password") == USER["password"]
        ):
            return {k: USER[k] for k in ("id", "name", "email", "role")}
        return None

    auth = AuthExt(app, providers=[Credentials(authorize)], token_store=token_store)
    if callbacks:

        @auth.jwt_callback
        def jwt(token: dict[str, Any], user: dict[str, Any] | None = None) -> dict[str, Any]:
            if user:  # only on sign-in
                token["role"] = user["role"]
            return token

        @auth.session_callback
        def session(session: dict[str, Any], token: dict[str, Any]) -> dict[str, Any]:
            session["user"]["role"] = token["role"]
            return session

    @app.get("/me")
    @login_required
    def me() -> str:
        return str(g.session["user"]["name"])

    return app


def sessionext_revocation(cookie: str, notes: list[str]) -> list[Variant]:
    """The warm JWT variant with ``AUTH_JWT_REVOCATION`` on a local Redis: one GET more per
    request. Left out (with a note) when :data:`REDIS_URL` does not answer."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        notes.append(f"no Redis at {REDIS_URL} ({type(error).__name__}): no revocation variant")
        return []
    store = RedisTokenStore(client, prefix="sessionext-bench:")
    app = sessionext_app(token_store=store, AUTH_JWT_REVOCATION="token_store")
    environ = build_environ(f"{SESSION_COOKIE}={cookie}")
    label = "flask-sessionext JWT, warm, revocation on (Redis)"
    return [Variant("sessionext_revocation", label, app, repeated(environ), no_set_cookie=True)]


def sessionext_signin(app: Flask) -> str:
    """Sign in through the auth routes, as a browser does; return the session cookie value."""
    client = new_client(app)
    csrf = client.get("/api/auth/csrf").get_json()["csrfToken"]
    form = {"csrfToken": csrf, "username": USER["email"], "password": USER["password"]}
    response = client.post("/api/auth/callback/credentials", data=form)
    if response.status_code != 302:
        raise RuntimeError(f"credentials sign-in answered {response.status}")
    cookie = client.get_cookie(SESSION_COOKIE)
    if cookie is None:
        raise RuntimeError("credentials sign-in set no session cookie")
    return cookie.value


def sessionext_warm(cookie: str) -> Variant:
    """flask-sessionext with the same cookie on every call: its decoded-token cache hits."""
    environ = build_environ(f"{SESSION_COOKIE}={cookie}")
    return Variant(
        "sessionext_warm",
        "flask-sessionext JWT, warm, no callbacks",
        sessionext_app(),
        repeated(environ),
        no_set_cookie=True,
    )


def sessionext_callbacks() -> Variant:
    """The headline: the README's app (role in the token, role in the session), warm cookie.

    Both callbacks run on every request; the token they leave is unchanged, so no cookie is set.
    """
    app = sessionext_app(callbacks=True)
    environ = build_environ(f"{SESSION_COOKIE}={sessionext_signin(app)}")
    return Variant(
        "sessionext_callbacks",
        "flask-sessionext JWT, warm, README's callbacks",
        app,
        repeated(environ),
        no_set_cookie=True,
    )


def fresh_tokens(count: int) -> list[str]:
    """``count`` distinct session tokens, as sign-in would write them (each has its own jti)."""
    claims = {"name": NAME, "email": USER["email"], "sub": USER["id"]}
    return [encode(claims, secret=SECRET, salt=SESSION_COOKIE) for _ in range(count)]


def fresh_environs(count: int) -> list[Environ]:
    """``count`` environs, each with a never-seen cookie; encoded before any timing starts."""
    base = build_environ()
    return [{**base, "HTTP_COOKIE": f"{SESSION_COOKIE}={t}"} for t in fresh_tokens(count)]


def sessionext_first_sight() -> Variant:
    """flask-sessionext on a cookie it has not seen: the full JWE decrypt every call."""
    return Variant(
        "sessionext_first_sight",
        "flask-sessionext JWT, first sight",
        sessionext_app(),
        fresh_environs,
        no_set_cookie=True,
    )


def handmade_jwe(cookie: str) -> Variant:
    """The peer: decrypt the Auth.js cookie with joserfc in the view, key derived once."""
    app = Flask("handmade_jwe")
    key, _kid = derive_key(SECRET, SESSION_COOKIE)
    algorithms = ["dir", "A256CBC-HS512"]

    @app.get("/me")
    def me() -> str:
        raw = request.cookies.get(SESSION_COOKIE)
        if raw is None:
            abort(401)
        try:
            message = jwe.decrypt_compact(raw, key, algorithms=algorithms)
            claims = json.loads(message.plaintext or b"")
        except (JoseError, ValueError):
            abort(401)
        if claims.get("exp", 0) <= time.time():
            abort(401)
        return str(claims["name"])

    environ = build_environ(f"{SESSION_COOKIE}={cookie}")
    return Variant("handmade_jwe", "hand-made JWE cookie", app, repeated(environ))


def new_db() -> SQLAlchemy:
    """A Flask-SQLAlchemy ``db`` with metadata of its own, so apps do not share tables."""

    class Model(DeclarativeBase):
        pass

    return SQLAlchemy(model_class=Model)


def dispose_on_exit(app: Flask, db: SQLAlchemy, resources: ExitStack) -> None:
    """Close the app's pooled connections when the run ends (before its schema is dropped)."""

    def dispose() -> None:
        with app.app_context():
            db.engine.dispose()

    resources.callback(dispose)


def sqlite_url(resources: ExitStack, name: str) -> str:
    """A SQLite file of its own in the run's temporary directory."""
    directory = resources.enter_context(tempfile.TemporaryDirectory(prefix="sessionext-bench-"))
    return f"sqlite:///{directory}/{name}.db"


def postgres_url(resources: ExitStack) -> tuple[str | None, str]:
    """A fresh schema on :data:`POSTGRES_URL`, dropped when the run ends; else why not.

    Returns the URL with ``search_path`` set to the schema (or ``None``) and a note saying
    which server was used, or why PostgreSQL is left out.
    """
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 2})
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        with engine.begin() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except (SQLAlchemyError, ImportError) as error:
        engine.dispose()
        reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        return None, f"PostgreSQL variants skipped: {POSTGRES_URL} unreachable ({reason})"

    def drop() -> None:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()

    resources.callback(drop)
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    return url, f"PostgreSQL {version} at {POSTGRES_URL}, schema {schema}"


def sessionext_db_app(
    url: str,
    resources: ExitStack | None,
    seed: bool = True,
    prepared: bool = False,
    cached: bool = False,
) -> Flask:
    """flask-sessionext on the database strategy: Flask-SQLAlchemy and its adapter, one user.

    A ``session_callback`` reads the stored user (Auth.js's ``session.user.id = user.id``), as
    the database targets require. ``prepared``: the adapter's ``prepared_statements``;
    ``cached``: its ``session_cache`` (the defaults). With
    ``seed`` the tables are created and the user stored; without, the app uses what an
    earlier seeded app left in the same database (the HTTP benchmark's gunicorn workers).
    ``resources``, when given, closes the app's pooled connections at the end of the run.
    """
    db = new_db()
    cache = SessionCache() if cached else None
    adapter = SQLAlchemyAdapter(db, prepared_statements=prepared, session_cache=cache)
    app = Flask("sessionext_db")
    app.config.update(
        AUTH_SECRET=SECRET,
        AUTH_URL="http://localhost",
        AUTH_RATE_LIMITS=False,  # as in sessionext_app: one client signs in as fast as it can
        SQLALCHEMY_DATABASE_URI=url,
    )
    db.init_app(app)
    if resources is not None:
        dispose_on_exit(app, db, resources)

    def authorize(credentials: dict[str, str]) -> dict[str, Any] | None:
        user = adapter.get_user_by_email(credentials.get("username", ""))
        if user is None or credentials.get("password") != USER["password"]:
            return None
        return user

    auth = AuthExt(app, providers=[Credentials(authorize)], adapter=adapter)

    @auth.session_callback
    def session(session: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
        session["user"]["id"] = user["id"]
        return session

    @app.get("/me")
    @login_required
    def me() -> str:
        return str(g.session["user"]["name"])

    if seed:
        with app.app_context():
            db.create_all()
            adapter.create_user({"id": USER["id"], "name": NAME, "email": USER["email"]})
    return app


def sessionext_db(
    key: str,
    label: str,
    url: str,
    resources: ExitStack,
    prepared: bool = False,
    cached: bool = False,
) -> Variant:
    """flask-sessionext, database strategy: one indexed lookup of the session row per request.

    The session is fresh (younger than ``update_age``), so no request writes or sets a cookie.
    """
    app = sessionext_db_app(url, resources, prepared=prepared, cached=cached)
    environ = build_environ(f"{SESSION_COOKIE}={sessionext_signin(app)}")
    return Variant(key, label, app, repeated(environ), no_set_cookie=True)


def lookup_floor(key: str, label: str, db_variant: Variant, resources: ExitStack) -> Variant:
    """The floor under ``db_variant``: bare Flask plus its session lookup (the same SQL and
    row) on one connection held open, prepared on PostgreSQL, in autocommit; no auth at all.

    What any library doing one database lookup per request can at best cost.
    """
    app = db_variant.app
    token = db_variant.environs(1)[0]["HTTP_COOKIE"].split("=", 1)[1]
    with app.app_context():
        adapter = app.extensions["sessionext"].ext.adapter
        engine = adapter.engine
        sessions, users = adapter.Session.__table__, adapter.User.__table__
        lookup = (
            select(sessions.c.expires, *users.c)
            .join_from(sessions, users, sessions.c.user_id == users.c.id)
            .where(sessions.c.session_token == bindparam("token"))
        )
        compiled = lookup.compile(dialect=engine.dialect)
        raw = engine.raw_connection()
    resources.callback(raw.close)
    connection = raw.driver_connection
    digest = hashlib.sha256(token.encode()).hexdigest()
    params: Any = (digest,) if compiled.positional else {"token": digest}
    name = list(lookup.selected_columns.keys()).index("name")
    if engine.dialect.driver == "psycopg":
        connection.autocommit = True
        options = {"prepare": True}
    else:
        options = {}

    floor = Flask(key)

    @floor.get("/me")
    def me() -> str:
        row = connection.execute(str(compiled), params, **options).fetchone()
        return str(row[name])

    return Variant(key, label, floor, repeated(build_environ()))


def flask_login_db(key: str, label: str, url: str, resources: ExitStack) -> Variant:
    """The peer: Flask-Login whose user loader reads the user row with ``db.session.get``.

    Flask-SQLAlchemy ends the scoped session with each app context, so every request queries.
    """
    db = new_db()

    class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "login_users"
        id: Mapped[str] = mapped_column(String(64), primary_key=True)
        name: Mapped[str] = mapped_column(String(255))

    app = Flask("flask_login_db")
    app.secret_key = SECRET
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    db.init_app(app)
    dispose_on_exit(app, db, resources)
    manager = LoginManager(app)

    @manager.user_loader
    def load_user(user_id: str) -> Any:
        return db.session.get(User, user_id)

    @app.post("/login")
    def login() -> str:
        login_user(db.session.get(User, USER["id"]))
        return "ok"

    @app.get("/me")
    @flask_login_required
    def me() -> str:
        return str(current_user.name)

    with app.app_context():
        db.create_all()
        db.session.add(User(id=USER["id"], name=NAME))
        db.session.commit()
    environ = build_environ(login_cookie(app, "session"))
    return Variant(key, label, app, repeated(environ))


def database_variants(resources: ExitStack, notes: list[str]) -> list[Variant]:
    """flask-sessionext's database strategy and the Flask-Login + SQLAlchemy peer.

    On SQLite always; on PostgreSQL when :data:`POSTGRES_URL` answers (else a note says why).
    """
    sqlite = sessionext_db(
        "sessionext_db_sqlite",
        "flask-sessionext database, SQLite",
        sqlite_url(resources, "sessionext"),
        resources,
    )
    found = [
        sqlite,
        sessionext_db(
            "sessionext_db_sqlite_cached",
            "flask-sessionext database, SQLite, session cache",
            sqlite_url(resources, "sessionext_cached"),
            resources,
            cached=True,
        ),
        lookup_floor("floor_sqlite", "floor: bare Flask + the lookup, SQLite", sqlite, resources),
        flask_login_db(
            "flask_login_db_sqlite",
            "Flask-Login + SQLAlchemy row, SQLite",
            sqlite_url(resources, "flask_login"),
            resources,
        ),
    ]
    url, note = postgres_url(resources)
    notes.append(note)
    if url is not None:
        prepared = sessionext_db(
            "sessionext_db_postgres_prepared",
            "flask-sessionext database, PostgreSQL, prepared statements",
            postgres_url(resources)[0] or url,  # a schema of its own: it seeds the same user
            resources,
            prepared=True,
        )
        found += [
            sessionext_db(
                "sessionext_db_postgres", "flask-sessionext database, PostgreSQL", url, resources
            ),
            prepared,
            sessionext_db(
                "sessionext_db_postgres_cached",
                "flask-sessionext database, PostgreSQL, session cache",
                postgres_url(resources)[0] or url,
                resources,
                cached=True,
            ),
            lookup_floor(
                "floor_postgres",
                "floor: bare Flask + the lookup, PostgreSQL, prepared",
                prepared,
                resources,
            ),
            flask_login_db(
                "flask_login_db_postgres",
                "Flask-Login + SQLAlchemy row, PostgreSQL",
                url,
                resources,
            ),
        ]
    return found


def all_variants(resources: ExitStack, notes: list[str]) -> list[Variant]:
    """Every variant, bare Flask first; the sessionext cookies come from real sign-ins.

    Databases and their schemas are released by ``resources``; ``notes`` gets a line on
    which PostgreSQL was used, or why its variants are missing.
    """
    cookie = sessionext_signin(sessionext_app())
    return [
        bare_flask(),
        flask_session(),
        flask_login(),
        flask_jwt_extended(),
        sessionext_callbacks(),
        sessionext_warm(cookie),
        sessionext_first_sight(),
        handmade_jwe(cookie),
        *sessionext_revocation(cookie, notes),
        *database_variants(resources, notes),
    ]
