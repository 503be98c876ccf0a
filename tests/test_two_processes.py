"""Two app processes on one PostgreSQL: sign in on one, use and revoke on the other.

The app is ``tests/apps/db_app.py`` (database strategy, credentials), run twice as real
processes on their own loopback ports and spoken to over HTTP. Needs PostgreSQL, as
``tests/test_concurrency.py`` does: skipped without ``SESSIONEXT_TEST_DATABASE_URL``, failed
without it under ``CI``.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
import requests

from .conftest import SECRET
from .test_concurrency import require_postgres

APP = Path(__file__).resolve().parent / "apps" / "db_app.py"
ROOT = APP.parent.parent.parent
COOKIE = "authjs.session-token"
REVOKE_TOKEN = "revoke-test-0123456789"
START_TIMEOUT = 20.0
HTTP_TIMEOUT = 10.0


@dataclass
class Server:
    """One running ``db_app.py serve`` process and where it answers."""

    url: str
    process: subprocess.Popen[str] = field(repr=False)
    stderr: IO[str] = field(repr=False)

    def log(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()

    def stop(self) -> None:
        """Terminate the process (kill it if it lingers) and close its pipes."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.stderr.close()


def app_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "AUTH_SECRET": SECRET,
        "REVOKE_TOKEN": REVOKE_TOKEN,
    }


def launch(database_url: str) -> Server:
    """Start ``db_app.py serve``; :func:`wait_ready` tells where it answers."""
    # stderr (the request log) goes to a file nobody needs to drain.
    stderr = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - Server closes it
    process = subprocess.Popen(
        [sys.executable, str(APP), "serve"],
        cwd=ROOT,
        env=app_env(database_url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        encoding="utf-8",
    )
    return Server("", process, stderr)


def wait_ready(server: Server) -> None:
    """Wait for the ``READY <url>`` line, then for a first answer; raise with its log if not."""
    process = server.process
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    line = ""
    while process.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
        if ready:
            line = process.stdout.readline()
            break
    if line.startswith("READY "):
        server.url = line.removeprefix("READY ").strip()
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{server.url}/pid", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.05)
    raise RuntimeError(f"db_app.py did not get ready (stdout: {line!r}); stderr:\n{server.log()}")


@pytest.fixture
def servers(database_url: str) -> Iterator[tuple[Server, Server]]:
    """Two processes of the app on one fresh schema, tables made once before they start."""
    require_postgres(database_url, "two server processes share a database server, not a file")
    subprocess.run(
        [sys.executable, str(APP), "init"],
        cwd=ROOT,
        env=app_env(database_url),
        check=True,
        capture_output=True,
        timeout=60,
    )
    started: list[Server] = []
    try:
        started.extend(launch(database_url) for _ in range(2))  # they start side by side
        for server in started:
            wait_ready(server)
        yield started[0], started[1]
    finally:
        # Before the database fixture drops the schema: no connection is left to it.
        for server in started:
            server.stop()


def sign_in(server: Server, email: str) -> str:
    """CSRF token, then the credentials form, over HTTP; the session cookie it set."""
    with requests.Session() as http:
        csrf = http.get(f"{server.url}/api/auth/csrf", timeout=HTTP_TIMEOUT)
        assert csrf.status_code == 200
        form = {"csrfToken": csrf.json()["csrfToken"], "username": email, "password": "pw"}
        response = http.post(
            f"{server.url}/api/auth/callback/credentials",
            data=form,
            allow_redirects=False,
            timeout=HTTP_TIMEOUT,
        )
        assert response.status_code == 302, response.text
        assert "error" not in response.headers["Location"]
        cookie = http.cookies.get(COOKIE)
    assert cookie, "sign-in set no session cookie"
    return str(cookie)


def get(server: Server, path: str, cookie: str, **headers: str) -> requests.Response:
    return requests.get(
        f"{server.url}{path}",
        headers={"Cookie": f"{COOKIE}={cookie}", **headers},
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )


def user_email(response: requests.Response) -> Any:
    body = response.json()
    return body["user"]["email"] if body else None


def test_sign_in_on_one_process_use_and_revoke_on_the_other(
    servers: tuple[Server, Server],
) -> None:
    a, b = servers
    pids = {requests.get(f"{s.url}/pid", timeout=HTTP_TIMEOUT).json()["pid"] for s in servers}
    assert len(pids) == 2 and os.getpid() not in pids  # two processes, neither this one

    ann = sign_in(a, "ann@example.com")
    ben = sign_in(b, "ben@example.com")

    # The session made on A is good on B, and B's on A: the database is what they share.
    private = get(b, "/private", ann)
    assert private.status_code == 200 and user_email(private) == "ann@example.com"
    assert "Set-Cookie" not in private.headers  # an ordinary request writes nothing
    assert user_email(get(a, "/private", ann)) == "ann@example.com"
    assert user_email(get(a, "/private", ben)) == "ben@example.com"

    # The revoke route is the test's own and guarded: nobody else may call it.
    refused = requests.post(f"{b.url}/revoke/u1", timeout=HTTP_TIMEOUT)
    assert refused.status_code == 403
    assert get(a, "/private", ann).status_code == 200

    revoked = requests.post(
        f"{b.url}/revoke/u1", headers={"X-Test-Revoke": REVOKE_TOKEN}, timeout=HTTP_TIMEOUT
    )
    assert revoked.status_code == 200 and revoked.json() == {"revoked": 1}

    # Ann's cookie now fails on both processes, at once: no process cached her session.
    for server in (a, b):
        page = get(server, "/private", ann)
        assert page.status_code == 302, f"{server.url}: {page.status_code}"
        assert "/api/auth/signin" in page.headers["Location"]
        api = get(server, "/private", ann, Accept="application/json")
        assert api.status_code == 401
        session = get(server, "/api/auth/session", ann)
        assert session.status_code == 200 and session.json() is None
        assert f"{COOKIE}=;" in session.headers.get("Set-Cookie", "")  # the cookie is expired
    # Ben was not revoked.
    assert user_email(get(b, "/private", ben)) == "ben@example.com"
    assert user_email(get(a, "/private", ben)) == "ben@example.com"
