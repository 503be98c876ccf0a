"""A TCP relay in front of a real server that can cut a connection after the server answered,
or hold every answer back.

It reproduces the outages no server-side fault can: the server ran the command (a Redis script,
a PostgreSQL ``COMMIT``), then the network dropped its answer; or the network went silent,
neither closing nor answering.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class Relay:
    """Forwards ``127.0.0.1:<port>`` to ``target``; :meth:`cut_answer_to` arms one cut."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pattern: bytes | None = None
        self.cuts = 0
        self._flowing = threading.Event()
        self._flowing.set()
        threading.Thread(target=self._accept, daemon=True).start()

    def stall(self) -> None:
        """Hold every answer back, as a silent network would, until :meth:`resume`."""
        self._flowing.clear()

    def resume(self) -> None:
        """Deliver the held answers, and the ones after them."""
        self._flowing.set()

    def cut_answer_to(self, pattern: bytes) -> None:
        """The next request containing ``pattern`` reaches the server; its answer does not:
        the connection is closed when the answer arrives."""
        with self._lock:
            self._pattern = pattern

    def close(self) -> None:
        self._listener.close()
        self._flowing.set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            doomed = threading.Event()
            threading.Thread(target=self._up, args=(client, server, doomed), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, doomed), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, doomed: threading.Event) -> None:
        for chunk in _chunks(client):
            with self._lock:
                if self._pattern is not None and self._pattern in chunk:
                    self._pattern = None
                    doomed.set()
            server.sendall(chunk)
        _close(client, server)

    def _down(self, server: socket.socket, client: socket.socket, doomed: threading.Event) -> None:
        for chunk in _chunks(server):
            if doomed.is_set():
                self.cuts += 1
                break
            self._flowing.wait()
            client.sendall(chunk)
        _close(client, server)


def _chunks(sock: socket.socket) -> Iterator[bytes]:
    while True:
        try:
            chunk = sock.recv(65536)
        except OSError:
            return
        if not chunk:
            return
        yield chunk


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


@contextmanager
def relay(target: tuple[str, int]) -> Iterator[Relay]:
    """A :class:`Relay` to ``target``, closed afterwards."""
    running = Relay(target)
    try:
        yield running
    finally:
        running.close()
