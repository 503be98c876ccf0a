"""A real OpenID Provider for tests: panva's ``oidc-provider`` 9.13.3 from npm.

``tests/op/server.mjs`` runs it on a free loopback port with one confidential client
(``client_secret_basic``, RS256 id_tokens, PKCE S256 required, a rotating refresh token for
every ``authorization_code`` grant) and ``features.devInteractions``: a login form that accepts
any login and password, then a consent form. Every login is an account::

    sub = login, email = f"{login}@example.com", email_verified = True,
    name = login.capitalize(), picture = f"https://example.com/{login}.png"

and ``openid email profile`` puts those claims in the id_token and at userinfo. A login
``<name>~false`` (``~string``, ``~empty``, ``~absent``) has the email of ``<name>`` with
``email_verified`` ``false`` (``"true"``, ``""``, no claim).

Use it from a test module by defining a fixture::

    from .oidc_provider import OP, running_op, walk_login

    @pytest.fixture(scope="module")
    def op() -> Iterator[OP]:
        with running_op(["http://localhost/auth/callback/oidc"]) as op:
            yield op

    def test_sign_in(op: OP) -> None:
        ...  # make the app redirect to op.issuer + "/auth?..."
        callback = walk_login(authorization_url, stop_at="http://localhost/auth/callback/oidc")
        ...  # hand `callback` (with code and state) back to the app

Endpoints (also in ``/.well-known/openid-configuration``): ``/auth``, ``/token``, ``/me``
(userinfo), ``/jwks``, ``/session/end``, ``/token/revocation``, ``/token/introspection``; and,
for tests, ``/test/refresh-grants`` (:meth:`OP.refresh_grants`).

Set up with ``npm ci --prefix tests``. Without ``node`` or ``tests/node_modules/oidc-provider``
:func:`start_op` skips the test, except when ``CI`` is set: there it fails, so CI never skips
silently. ``OP_VERBOSE=1`` lets oidc-provider's development warnings and errors through to
the process's stderr (shown in the error when it does not start).
"""

from __future__ import annotations

import json
import select
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

import requests

from .requirements import require_node

HERE = Path(__file__).parent
SERVER = HERE / "op" / "server.mjs"
START_TIMEOUT = 10.0

DEFAULT_CLIENT_ID = "flask-app"
DEFAULT_CLIENT_SECRET = "flask-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


@dataclass
class OP:
    """A running OpenID Provider: its issuer URL and the one client registered with it."""

    issuer: str
    client_id: str
    client_secret: str
    process: subprocess.Popen[str] = field(repr=False)
    _stderr: IO[str] | None = field(default=None, repr=False)

    def log(self) -> str:
        """What the server wrote on stderr so far (errors; everything with ``OP_VERBOSE=1``)."""
        if self._stderr is None or self._stderr.closed:
            return ""
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read()

    def refresh_grants(self) -> int:
        """How many ``refresh_token`` grants the OP was asked for so far (granted or refused)."""
        response = requests.get(f"{self.issuer}/test/refresh-grants", timeout=5)
        response.raise_for_status()
        return int(response.json()["count"])

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def stop(self) -> None:
        """Stop the server (closing its stdin is enough; SIGTERM, then SIGKILL, if not)."""
        proc = self.process
        if proc.poll() is None:
            with suppress(OSError):
                if proc.stdin is not None:
                    proc.stdin.close()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for stream in (proc.stdin, proc.stdout, self._stderr):
            if stream is not None:
                with suppress(OSError):
                    stream.close()


def _require_node() -> str:
    """The ``node`` executable; skip (fail on CI) when it or ``oidc-provider`` is missing."""
    return require_node("oidc-provider", what="the test OpenID Provider")


def start_op(
    redirect_uris: list[str],
    *,
    access_token_ttl: int = 60,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    ttl: dict[str, int] | None = None,
    client: dict[str, Any] | None = None,
) -> OP:
    """Start ``tests/op/server.mjs`` and wait (up to 10 s) for its ``READY <issuer>`` line.

    ``access_token_ttl`` is the access token lifetime in seconds; ``ttl`` overrides any other
    oidc-provider TTL by token kind (``{"RefreshToken": 5, "IdToken": 30}``); ``client`` adds or
    overrides client metadata. Call :meth:`OP.stop` when done, or use :func:`running_op`.
    """
    node = _require_node()
    config = {
        "clients": [
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uris": list(redirect_uris),
                **(client or {}),
            }
        ],
        "ttl": {"AccessToken": access_token_ttl, **(ttl or {})},
    }
    # stderr goes to a file, not a pipe nobody drains: a chatty server never blocks on it.
    # It lives as long as the server; OP.stop() closes it.
    stderr = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
    proc = subprocess.Popen(
        [node, str(SERVER), json.dumps(config)],
        cwd=HERE,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        encoding="utf-8",
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    line = ""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or proc.poll() is not None:
            break
        ready, _, _ = select.select([proc.stdout], [], [], remaining)
        if ready:
            line = proc.stdout.readline()
            break
    op = OP(line.removeprefix("READY ").strip(), client_id, client_secret, proc, stderr)
    if line.startswith("READY "):
        return op
    try:  # it closed stdout or printed something else: most likely it is exiting
        why = f"exited with {proc.wait(timeout=1)}"
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        why = f"printed no READY line within {START_TIMEOUT:g} s"
    log = op.log()
    op.stop()
    raise RuntimeError(f"tests/op/server.mjs {why} (first stdout line: {line!r}); stderr:\n{log}")


@contextmanager
def running_op(redirect_uris: list[str], **options: Any) -> Iterator[OP]:
    """:func:`start_op` as a context manager: the server stops on exit."""
    op = start_op(redirect_uris, **options)
    try:
        yield op
    finally:
        op.stop()


# --- walking the devInteractions forms ----------------------------------------------------------


class _Forms(HTMLParser):
    """Every ``<form>`` of a page: its action, method and named ``<input>`` values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._current = {
                "action": attributes.get("action", ""),
                "method": attributes.get("method", "get").lower(),
                "inputs": {},
            }
            self.forms.append(self._current)
        elif tag in ("input", "button") and self._current is not None:
            name = attributes.get("name")
            if name and (tag == "input" or "value" in attributes):
                self._current["inputs"][name] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


class LoginWalkError(AssertionError):
    """The OP answered something :func:`walk_login` did not expect."""


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _unexpected(what: str, response: requests.Response) -> LoginWalkError:
    return LoginWalkError(
        f"walk_login: {what} ({response.request.method} {response.url} -> "
        f"{response.status_code}, Location: {response.headers.get('Location')!r}):\n"
        f"{response.text[:4000]}"
    )


def walk_login(
    authorization_url: str,
    stop_at: str,
    login: str = "alice",
    *,
    password: str = "any-password",
    session: requests.Session | None = None,
    max_steps: int = 20,
) -> str:
    """Sign in as ``login`` at the OP, consent, and return the redirect back to the app.

    Starts at ``authorization_url`` (the OP's ``/auth?...`` URL the app redirected to), follows
    the OP's redirects by hand, fills in the devInteractions login form (``login``, ``password``
    and its hidden inputs, parsed from the page) and submits the consent form, until a redirect
    ``Location`` starts with ``stop_at`` (the app's callback URL). Returns that whole URL, with
    ``code`` and ``state`` (or ``error``). Pass ``session`` to keep the OP's cookies between
    calls (a second sign-in then skips the forms). Raises :class:`LoginWalkError` with the last
    response on anything else.
    """
    http = session if session is not None else requests.Session()
    op_origin = _origin(authorization_url)
    response = http.get(authorization_url, allow_redirects=False, timeout=10)
    for _ in range(max_steps):
        if response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(stop_at):
                return location
            if _origin(location) != op_origin:
                raise _unexpected(f"redirect away from the OP, not to {stop_at!r}", response)
            response = http.get(location, allow_redirects=False, timeout=10)
            continue
        if response.status_code != 200:
            raise _unexpected("unexpected status", response)
        parser = _Forms()
        parser.feed(response.text)
        forms = [form for form in parser.forms if form["method"] == "post"]
        if not forms:
            raise _unexpected("no form on the page", response)
        form = forms[0]
        data = dict(form["inputs"])
        prompt = data.get("prompt")
        if prompt == "login":
            data.update(login=login, password=password)
        elif prompt != "consent":
            raise _unexpected(f"unknown prompt {prompt!r}", response)
        action = urljoin(response.url, form["action"])
        response = http.post(action, data=data, allow_redirects=False, timeout=10)
    raise _unexpected(f"no redirect to {stop_at!r} after {max_steps} steps", response)
