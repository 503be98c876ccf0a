"""Two app processes share one refresh token store: the token API across processes.

The app is ``tests/apps/token_app.py`` (token API on, Credentials provider), run twice as real
processes on their own loopback ports and spoken to over HTTP, once on Redis
(``RedisTokenStore``) and once on PostgreSQL (the SQLAlchemy adapter's ``refresh_tokens``).
The PostgreSQL run needs ``SESSIONEXT_TEST_DATABASE_URL``: skipped without it, failed without
it under ``CI``. The processes run with ``REUSE_GRACE`` shortened to one second.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
import redis
import requests

from .conftest import SECRET

APP = Path(__file__).resolve().parent / "apps" / "token_app.py"
ROOT = APP.parent.parent.parent
API = "/api/auth"
GRACE = 1  # seconds: the processes' REUSE_GRACE
START_TIMEOUT = 20.0
HTTP_TIMEOUT = 10.0


@dataclass
class Server:
    """One running ``token_app.py serve`` process and where it answers."""

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


def launch(env: dict[str, str]) -> Server:
    """Start ``token_app.py serve``; :func:`wait_ready` tells where it answers."""
    stderr = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - Server closes it
    process = subprocess.Popen(
        [sys.executable, str(APP), "serve"],
        cwd=ROOT,
        env=env,
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
    raise RuntimeError(
        f"token_app.py did not get ready (stdout: {line!r}); stderr:\n{server.log()}"
    )


def require_postgres(url: str) -> None:
    """Skip unless ``url`` is PostgreSQL; under ``CI`` fail instead, with what to set."""
    if url.startswith("postgresql"):
        return
    reason = (
        "the PostgreSQL run needs SESSIONEXT_TEST_DATABASE_URL "
        "(e.g. postgresql+psycopg://postgres@127.0.0.1/test); SQLite is not a store two "
        "server processes would share"
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but SESSIONEXT_TEST_DATABASE_URL is not: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def store_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The environment of the app processes: one store, one secret, a one-second grace."""
    env = {**os.environ, "AUTH_SECRET": SECRET, "REUSE_GRACE": str(GRACE)}
    if request.param == "redis":
        prefix = f"sessionext-test:{time.time_ns()}:"
        yield {**env, "TOKEN_STORE": "redis", "REDIS_PREFIX": prefix}
        client = redis.Redis(host="127.0.0.1", port=6379)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()
        return
    database_url = request.getfixturevalue("database_url")
    require_postgres(database_url)
    env = {**env, "TOKEN_STORE": "database", "DATABASE_URL": database_url}
    subprocess.run(
        [sys.executable, str(APP), "init"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    yield env


@pytest.fixture
def servers(store_env: dict[str, str]) -> Iterator[tuple[Server, Server]]:
    """Two processes of the app on one store, started side by side, always stopped."""
    started: list[Server] = []
    try:
        started.extend(launch(store_env) for _ in range(2))
        for server in started:
            wait_ready(server)
        yield started[0], started[1]
    finally:
        # Before the database fixture drops the schema: no connection is left to it.
        for server in started:
            server.stop()


def post(server: Server, route: str, body: Any = None, **headers: str) -> requests.Response:
    return requests.post(
        f"{server.url}{API}{route}", json=body, headers=headers, timeout=HTTP_TIMEOUT
    )


def refresh(server: Server, refresh_token: str) -> requests.Response:
    return post(server, "/token/refresh", {"refreshToken": refresh_token})


def private(server: Server, access_token: str) -> requests.Response:
    return requests.get(
        f"{server.url}/private",
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        timeout=HTTP_TIMEOUT,
    )


def at_once(servers: tuple[Server, Server], refresh_token: str) -> list[requests.Response]:
    """The same refresh request to both processes, released together by a barrier."""
    barrier = threading.Barrier(len(servers))
    results: dict[int, requests.Response] = {}
    errors: list[BaseException] = []

    def fire(index: int, server: Server) -> None:
        try:
            barrier.wait(timeout=HTTP_TIMEOUT)
            results[index] = refresh(server, refresh_token)
        except BaseException as error:  # reported in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=fire, args=item) for item in enumerate(servers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=2 * HTTP_TIMEOUT)
    assert not errors, errors
    return [results[i] for i in range(len(servers))]


@pytest.mark.parametrize("store_env", ["redis", "postgresql"], indirect=True)
def test_one_refresh_token_fired_at_two_processes_at_once(
    servers: tuple[Server, Server],
) -> None:
    a, b = servers
    pids = {requests.get(f"{s.url}/pid", timeout=HTTP_TIMEOUT).json()["pid"] for s in servers}
    assert len(pids) == 2 and os.getpid() not in pids  # two processes, neither this one

    login = post(a, "/token/login", {"username": "alice", "password": "pw"})
    assert login.status_code == 200, login.text
    first = login.json()
    assert set(first) == {"token", "refreshToken", "expiresIn"}

    # An access token issued by A verifies on B: same secret, nothing shared but the store.
    on_b = private(b, first["token"])
    assert on_b.status_code == 200, on_b.text
    assert on_b.json()["sub"] == "1" and on_b.json()["session"]["user"]["role"] == "admin"
    assert private(a, first["token"]).status_code == 200

    # The same refresh token at both processes at the same moment: exactly one wins.
    results = at_once(servers, first["refreshToken"])
    assert sorted(r.status_code for r in results) == [200, 401], [r.text for r in results]
    winner_index = next(i for i, r in enumerate(results) if r.status_code == 200)
    winner, loser = results[winner_index].json(), results[1 - winner_index].json()
    assert loser["error"] == "invalid_grant"
    assert "already used" in loser["error_description"]  # a duplicate, not an unknown token
    assert winner["refreshToken"] != first["refreshToken"]

    # The winner's pair works on both processes; within the grace window the duplicate did
    # not revoke the family, so the winner's refresh token still refreshes.
    other = servers[1 - winner_index]
    assert private(other, winner["token"]).status_code == 200
    third = refresh(other, winner["refreshToken"])
    assert third.status_code == 200, third.text
    latest = third.json()
    assert private(servers[winner_index], latest["token"]).status_code == 200

    # After the grace window, the first refresh token again is true reuse (a stolen copy):
    # refused, and its whole family revoked, on whichever process sees it.
    time.sleep(GRACE + 0.2)
    replay = refresh(a, first["refreshToken"])
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_grant"
    for server in (a, b):
        revoked = refresh(server, latest["refreshToken"])
        assert revoked.status_code == 401, f"{server.url}: {revoked.text}"
        assert revoked.json()["error"] == "invalid_grant"
    # A new login starts a new family, unaffected.
    again = post(b, "/token/login", {"username": "alice", "password": "pw"}).json()
    assert refresh(a, again["refreshToken"]).status_code == 200
