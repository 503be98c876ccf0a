"""During a store outage the log stays readable: one line per failure, one traceback per cause.

The outage is real: the app reaches PostgreSQL through a TCP relay that the test closes, so
every query fails the way it does when the database goes away (connections cut, then
refused), and opens again on the same port.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from flask_sessionext import logs

from .database import DATABASE_URL, signed_in_app
from .helpers import sign_in
from .requirements import unavailable


class Relay:
    """Forwards 127.0.0.1:<port> to PostgreSQL until :meth:`cut`; :meth:`open` resumes."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.sockets: list[socket.socket] = []
        self.open()

    def open(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        self.port = listener.getsockname()[1]
        self.sockets = [listener]
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                sock.close()

    def cut(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.fixture
def relay(database_url: str) -> Iterator[tuple[Relay, str]]:
    if not DATABASE_URL:
        unavailable("the outage log test", "no PostgreSQL (SESSIONEXT_TEST_DATABASE_URL)")
    url = make_url(database_url)
    relay = Relay((url.host or "127.0.0.1", url.port or 5432))
    yield relay, url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    relay.cut()


def test_an_outage_logs_one_line_per_failure_and_one_traceback(
    relay: tuple[Relay, str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, url = relay
    _, _, client = signed_in_app(url)
    monkeypatch.setattr(logs, "_last_traceback", {})  # causes seen by earlier tests
    caplog.set_level(logging.INFO, logger="flask_sessionext")

    proxy.cut()
    statuses = [client.get("/open").status_code for _ in range(12)]
    statuses += [sign_in(client).status_code for _ in range(3)]  # the user lookup fails too
    assert statuses == [503] * 15
    failures = [r for r in caplog.records if "store failed" in r.getMessage()]
    assert len(failures) == 15  # one line per failure
    causes = {logs._cause(r.exc_info[1]) for r in failures if r.exc_info and r.exc_info[1]}
    tracebacks = [r for r in failures if r.exc_info]
    assert len(tracebacks) == len(causes) <= 3  # one per distinct cause, not one per request
    assert all("traceback logged earlier" in r.getMessage() for r in failures if not r.exc_info)
    assert not [r for r in caplog.records if r.exc_info and r not in tracebacks]

    proxy.open()  # the database is back: nobody was signed out
    assert client.get("/open").get_json() == {"signed_in": True}


def test_a_cause_gets_its_traceback_again_after_the_interval(
    relay: tuple[Relay, str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, url = relay
    _, _, client = signed_in_app(url)
    monkeypatch.setattr(logs, "_last_traceback", {})
    monkeypatch.setattr(logs, "TRACEBACK_INTERVAL", 0.0)  # every "minute" has passed
    caplog.set_level(logging.INFO, logger="flask_sessionext")
    proxy.cut()
    assert [client.get("/open").status_code for _ in range(4)] == [503] * 4
    failures = [r for r in caplog.records if "store failed" in r.getMessage()]
    assert len(failures) == 4 and all(r.exc_info for r in failures)
