"""Property-based fuzzing of every route of every example app through Flask's test client.

Hypothesis generates methods, paths (each route of the app's URL map, and others), query
strings, headers, cookies (real ones, repeated, chunked, truncated, huge, garbage) and bodies
(forms, JSON of any shape and depth, raw bytes, under any ``Content-Type``). Whatever comes in:

- the status is below 500;
- nothing is logged at ERROR or with a traceback;
- no secret the request carried (session, CSRF and check cookies, bearer and refresh tokens)
  and not ``AUTH_SECRET`` comes back in the body or ``Location``;
- a redirect stays on the app (or goes to the app's own OpenID provider).

The default profile is bounded for CI; ``pytest tests/test_fuzz.py --hypothesis-profile=long``
runs 100,000 examples.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from werkzeug.routing import Rule

from .database import DATABASE_URL
from .oidc_provider import OP, running_op, walk_login

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SECRET = "fuzz-secret-" + "f" * 40
ORIGIN = "http://localhost"
CALLBACK = f"{ORIGIN}/api/auth/callback/oidc"
METHODS = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"]
FIELDS = [
    "csrfToken",
    "callbackUrl",
    "username",
    "password",
    "email",
    "data",
    "provider",
    "refreshToken",
    "token",
    "code",
    "state",
    "iss",
    "error",
    "type",
]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-16",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=latin-1",
    "multipart/form-data; boundary=fuzz",
    "multipart/form-data",
    "text/plain",
    "application/octet-stream",
    "",
]
ACCEPTS = ["*/*", "application/json", "text/html", "text/html;q=0.1, application/json", ""]


@dataclass
class Target:
    """One example app and what a request to it may carry."""

    name: str
    app: Flask
    client: FlaskClient
    #: Real cookie values by name (a signed-in session, a CSRF cookie, OAuth check cookies).
    cookies: dict[str, list[str]] = field(default_factory=dict)
    #: Values a response must never show: AUTH_SECRET and every token above.
    secrets: list[str] = field(default_factory=list)
    csrf_token: str = ""
    bearer: list[str] = field(default_factory=list)
    refresh: list[str] = field(default_factory=list)
    origins: set[str] = field(default_factory=lambda: {ORIGIN})

    def rules(self) -> list[Rule]:
        """Every route of the app (the auth routes, the example's own, static files)."""
        return sorted(self.app.url_map.iter_rules(), key=lambda rule: rule.rule)


def load(name: str, path: Path, env: dict[str, str]) -> ModuleType:
    """Import an example under its own module name, with ``env`` set while it builds."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        spec = importlib.util.spec_from_file_location(f"fuzz_{name}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    module.app.config["TESTING"] = True
    return module


def remember(target: Target, client: FlaskClient) -> None:
    """Add the client's cookies to the target's real values and to its secrets."""
    for cookie in (client._cookies or {}).values():
        target.cookies.setdefault(cookie.key, []).append(cookie.value)
        target.secrets.append(cookie.value.rpartition("|")[2])  # a CSRF cookie: its digest


def csrf(target: Target, client: FlaskClient) -> str:
    token = client.get("/api/auth/csrf").get_json()["csrfToken"]
    assert isinstance(token, str)
    target.csrf_token = token
    return token


def sign_in_credentials(target: Target, fields: dict[str, str]) -> None:
    client = target.app.test_client()
    data = {"csrfToken": csrf(target, client), **fields}
    response = client.post("/api/auth/callback/credentials", data=data)
    assert response.status_code == 302 and "error" not in response.headers["Location"]
    remember(target, client)


def start_oidc(target: Target, op: OP, provider: str = "oidc", login: bool = False) -> None:
    """Start (and with ``login``, finish) a sign-in at the OP; keep the cookies it set."""
    client = target.app.test_client()
    data = {"csrfToken": csrf(target, client), "callbackUrl": "/"}
    url = client.post(f"/api/auth/signin/{provider}", data=data).headers["Location"]
    if login:
        callback = walk_login(url, stop_at=CALLBACK)
        assert client.get(callback).status_code == 302
    remember(target, client)
    target.origins.add(op.issuer)


@pytest.fixture(scope="module")
def op() -> Iterator[OP]:
    with running_op([CALLBACK], access_token_ttl=3600) as op:
        yield op


def postgres_schema(stack: ExitStack) -> str:
    """A fresh schema on the test PostgreSQL; dropped when ``stack`` closes."""
    schema = f"fuzz_{uuid.uuid4().hex[:12]}"
    assert DATABASE_URL is not None
    engine = create_engine(DATABASE_URL)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))

    def drop() -> None:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()

    stack.callback(drop)
    separator = "&" if "?" in DATABASE_URL else "?"
    return f"{DATABASE_URL}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="module")
def targets(op: OP, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Target]]:
    """Every example, configured as its README says, each with a signed-in session."""
    tmp = tmp_path_factory.mktemp("fuzz")
    oidc = {
        "OIDC_ISSUER": op.issuer,
        "OIDC_CLIENT_ID": op.client_id,
        "OIDC_CLIENT_SECRET": op.client_secret,
    }
    found: dict[str, Target] = {}
    with ExitStack() as stack:
        module = load("credentials", EXAMPLES / "credentials" / "app.py", {"AUTH_SECRET": SECRET})
        target = found["credentials"] = Target("credentials", module.app, module.app.test_client())
        sign_in_credentials(target, {"username": "alice", "password": "wonderland"})

        databases = {"sqlite": f"sqlite:///{tmp}/database-example.db"}
        if DATABASE_URL:
            databases["postgresql"] = postgres_schema(stack)
        for kind, url in databases.items():
            env = {"AUTH_SECRET": SECRET, "DATABASE_URL": url, **oidc}
            module = load(f"database_{kind}", EXAMPLES / "database" / "app.py", env)
            app = module.app
            stack.callback(_dispose, module, app)
            assert app.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
            target = found[f"database-{kind}"] = Target(f"database-{kind}", app, app.test_client())
            sign_in_credentials(target, {"email": "demo@example.com", "password": "demo-password"})
            start_oidc(target, op)

        env = {"AUTH_SECRET": SECRET, "DATABASE_URL": f"sqlite:///{tmp}/token-api.db"}
        env["DEMO_PASSWORD"] = "demo-password"
        module = load("token_api", EXAMPLES / "token_api" / "app.py", env)
        target = found["token_api"] = Target("token_api", module.app, module.app.test_client())
        stack.callback(_dispose, module, module.app)
        login = target.client.post(
            "/api/auth/token/login", json={"username": "demo", "password": "demo-password"}
        ).get_json()
        if isinstance(login, dict) and "token" in login:
            target.bearer.append(login["token"])
            target.refresh.append(login["refreshToken"])
            target.secrets += [login["token"], login["refreshToken"]]

        module = load("oidc", EXAMPLES / "oidc" / "app.py", {"AUTH_SECRET": SECRET, **oidc})
        target = found["oidc"] = Target("oidc", module.app, module.app.test_client())
        start_oidc(target, op, login=True)
        start_oidc(target, op)

        for target in found.values():
            target.secrets.append(SECRET)
            target.secrets = [s for s in set(target.secrets) if len(s) >= 16]
        yield found


def _dispose(module: ModuleType, app: Flask) -> None:
    with app.app_context():
        module.db.engine.dispose()


# --- strategies ---------------------------------------------------------------------------------

printable = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
cookie_chars = st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=';,\\"')
header_chars = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
words = st.text(max_size=30) | st.sampled_from(
    ["", "/", "//evil.example", "https://evil.example/x", "Configuration", "AccessDenied", "a@b.c"]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)


@st.composite
def deep_json(draw: st.DrawFn) -> bytes:
    """``[[[...]]]`` or ``{"a": {"a": ...}}`` nested up to 5000 deep."""
    depth = draw(st.sampled_from([1, 31, 32, 33, 999, 1000, 5000]) | st.integers(1, 5000))
    if draw(st.booleans()):
        return b"[" * depth + b"]" * depth
    return b'{"data":' * depth + b"1" + b"}" * depth


KINDS = {
    "none": "",
    "form": "application/x-www-form-urlencoded",
    "json": "application/json",
    "deep": "application/json",
    "bytes": "application/octet-stream",
    "huge": "application/x-www-form-urlencoded",
}


@st.composite
def bodies(draw: st.DrawFn, target: Target) -> tuple[bytes, str]:
    """A body and its ``Content-Type``: the matching one mostly, any other sometimes."""
    kind = draw(st.sampled_from(sorted(KINDS)))
    content_type = KINDS[kind]
    if draw(st.integers(0, 3)) == 0:
        content_type = draw(st.sampled_from(CONTENT_TYPES))
    return draw(_body(kind, target)), content_type


@st.composite
def _body(draw: st.DrawFn, kind: str, target: Target) -> bytes:
    if kind == "none":
        return b""
    if kind == "deep":
        return draw(deep_json())
    if kind == "bytes":
        return draw(st.binary(max_size=2000))
    if kind == "huge":
        size = draw(st.sampled_from([70_000, 300_000, 1_100_000]))
        return b"csrfToken=" + b"x" * size
    fields: dict[str, Any] = draw(
        st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), words | json_values)
    )
    if draw(st.booleans()) and target.csrf_token:
        fields["csrfToken"] = target.csrf_token
    if draw(st.booleans()) and target.refresh:
        fields["refreshToken"] = draw(st.sampled_from(target.refresh))
    if kind == "json":
        if draw(st.booleans()):
            return json.dumps(draw(json_values)).encode()
        return json.dumps(fields, ensure_ascii=draw(st.booleans())).encode()
    pairs = [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in fields.items()]
    if draw(st.booleans()):
        pairs += [(k, v) for k, v in pairs]  # every field repeated
    return urlencode(pairs).encode()


@st.composite
def cookie_headers(draw: st.DrawFn, target: Target) -> str:
    names = [*target.cookies, "authjs.session-token.0", "authjs.session-token.1"]
    pairs: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(st.sampled_from(names) | st.text(cookie_chars, min_size=1, max_size=12))
        real = target.cookies.get(name) or target.cookies.get("authjs.session-token") or [""]
        value = draw(st.sampled_from(real))
        how = draw(st.sampled_from(["real", "truncated", "huge", "garbage", "chunk"]))
        if how == "truncated":
            value = value[: draw(st.integers(0, max(len(value) - 1, 0)))]
        elif how == "huge":
            value = "x" * draw(st.sampled_from([4000, 20000]))
        elif how == "garbage":
            value = draw(st.text(cookie_chars, max_size=60))
        elif how == "chunk" and len(value) > 2:
            half = len(value) // 2
            pairs += [(f"{name}.0", value[:half]), (f"{name}.1", value[half:])]
            continue
        pairs.append((name, value))
        if draw(st.booleans()):
            pairs.append((name, draw(st.sampled_from(real))))  # the same name again
    return "; ".join(f"{name}={value}" for name, value in pairs)


def path_for(rule: str, target: Target, draw: st.DrawFn) -> str:
    """The rule with each variable filled: a real provider id mostly, any text sometimes."""
    ids = sorted(target.app.extensions["sessionext"].ext.providers)

    def value(_: re.Match[str]) -> str:
        if draw(st.integers(0, 4)):
            return str(draw(st.sampled_from(ids)))
        return quote(draw(st.text(max_size=20)) or "x", safe="")

    return re.sub(r"<[^>]+>", value, rule)


@st.composite
def requests(draw: st.DrawFn, targets: dict[str, Target]) -> tuple[Target, dict[str, Any]]:
    target = targets[draw(st.sampled_from(sorted(targets)))]
    rules = target.rules()
    posts = [rule for rule in rules if "POST" in (rule.methods or ())]
    use_posts = bool(posts) and draw(st.booleans())
    rule = draw(st.sampled_from(posts if use_posts else rules))
    path = path_for(rule.rule, target, draw)
    allowed = sorted((rule.methods or {"GET"}) - {"HEAD", "OPTIONS"} or {"GET"})
    method = draw(st.sampled_from(allowed if draw(st.integers(0, 3)) else METHODS))
    if draw(st.integers(0, 9)) == 0:
        path = "/api/auth/" + quote(draw(st.text(max_size=20)), safe="/")
    query = urlencode(draw(st.lists(st.tuples(st.sampled_from(FIELDS) | words, words), max_size=5)))
    if draw(st.booleans()):
        query += "&" + "".join(f"%{b:02x}" for b in draw(st.binary(max_size=20)))
    headers: dict[str, str] = {"Accept": draw(st.sampled_from(ACCEPTS))}
    body, content_type = draw(bodies(target))
    if content_type:
        headers["Content-Type"] = content_type
    if draw(st.booleans()):
        headers["X-Auth-Return-Redirect"] = "1"
    auth = draw(st.sampled_from(["", "bearer", "garbage"]))
    if auth == "bearer" and target.bearer:
        headers["Authorization"] = "Bearer " + draw(st.sampled_from(target.bearer))
    elif auth == "garbage":
        headers["Authorization"] = draw(st.text(header_chars, max_size=60))
    cookie = draw(cookie_headers(target))
    if cookie:
        headers["Cookie"] = cookie
    request = {
        "method": method,
        "path": path,
        "query_string": query,
        "headers": headers,
        "data": body,
    }
    return target, request


class Records(logging.Handler):
    """Every record the extension, Flask or Werkzeug logs during one request."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def records() -> Iterator[Records]:
    handler = Records()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


HOSTILE_BODIES: list[tuple[str, bytes]] = [
    ("application/json", b"[" * 1000 + b"]" * 1000),
    ("application/json", b'{"csrfToken":' * 3000 + b"1" + b"}" * 3000),
    ("application/json", b"[" * 33 + b"]" * 33),
    ("application/json", b'{"csrfToken": "\xff\xfe"}'),
    ("application/json", b"\xff\xfe\x00{"),
    ("application/json; charset=utf-16", '{"a": 1}'.encode("utf-16")),
    ("application/json", b'{"a": 1e999999, "b": NaN}'),
    ("application/json", b'"just a string"'),
    ("application/x-www-form-urlencoded", b"csrfToken=" + b"x" * 300_000),
    ("application/x-www-form-urlencoded", b"%ff%fe=%c3%28&a=%"),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\n"),
    ("multipart/form-data", b"garbage"),
    ("text/plain", b"\x00" * 100),
]


def check(target: Target, records: Records, request: dict[str, Any]) -> None:
    """Send ``request`` to ``target`` and assert the properties of the module docstring."""
    records.records.clear()
    client = target.app.test_client(use_cookies=False)
    response = client.open(
        request["path"],
        method=request["method"],
        query_string=request.get("query_string", ""),
        headers=request["headers"],
        data=request["data"],
    )
    body = response.get_data()
    shown = body.decode("latin-1") + response.headers.get("Location", "")
    where = (target.name, request["method"], request["path"])
    assert response.status_code < 500, (*where, response.status_code, body[:500])
    worst = [r for r in records.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not worst, (*where, [r.getMessage()[:300] for r in worst])
    assert not [s for s in target.secrets if s in shown], (*where, "echoed a secret")
    location = response.headers.get("Location")
    if location:
        parts = urlsplit(location)
        if parts.netloc or parts.scheme:
            assert f"{parts.scheme}://{parts.netloc}" in target.origins, (*where, location)


def test_hostile_bodies_on_every_post_route(targets: dict[str, Target], records: Records) -> None:
    """Every class of bad body, on every route that takes a POST, of every example."""
    for target in targets.values():
        posts = [rule for rule in target.rules() if "POST" in (rule.methods or ())]
        ids = sorted(target.app.extensions["sessionext"].ext.providers)
        paths = {re.sub(r"<[^>]+>", provider, rule.rule) for rule in posts for provider in ids}
        for path in sorted(paths):
            for content_type, data in HOSTILE_BODIES:
                for accept in ("text/html", "application/json"):
                    headers = {"Content-Type": content_type, "Accept": accept}
                    request = {"method": "POST", "path": path, "headers": headers, "data": data}
                    check(target, records, request)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_no_input_breaks_an_example(
    targets: dict[str, Target], records: Records, data: st.DataObject
) -> None:
    target, request = data.draw(requests(targets))
    check(target, records, request)
