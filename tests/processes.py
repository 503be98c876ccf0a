"""Apps of ``tests/apps`` run as real processes: started, waited for, always stopped.

An app is named by its module (``tests.apps.db_app``) and run with ``python -m`` from the
repository root, configured by the environment it is given. Its ``serve`` command prints
``READY <url>`` once it listens (``tests/apps/serve.py``) and the app answers ``GET /pid``.
"""

from __future__ import annotations

import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import requests

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 20.0


@dataclass
class Server:
    """One running ``<app> serve`` process and where it answers."""

    app: str
    url: str
    process: subprocess.Popen[str] = field(repr=False)
    stderr: IO[str] = field(repr=False)

    def log(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()

    def stop(self) -> None:
        """Terminate the process (kill it if it lingers) and close its pipes."""
        terminate(self.process)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.stderr.close()


def terminate(process: subprocess.Popen[Any]) -> None:
    """Stop ``process``: SIGTERM, then SIGKILL if it lingers; reaped either way."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def init_app(app: str, env: Mapping[str, str]) -> None:
    """Run ``<app> init`` (tables, users) to completion; raise with its stderr if it fails."""
    done = subprocess.run(
        [sys.executable, "-m", app, "init"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{app} init exited with {done.returncode}; stderr:\n{done.stderr}")


def start_app(app: str, env: Mapping[str, str]) -> Server:
    """Start ``<app> serve``; :func:`wait_ready` tells where it answers."""
    # stderr (the request log) goes to a file nobody needs to drain.
    stderr = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - Server closes it
    process = subprocess.Popen(
        [sys.executable, "-m", app, "serve"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        encoding="utf-8",
    )
    return Server(app, "", process, stderr)


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
        f"{server.app} did not get ready (stdout: {line!r}); stderr:\n{server.log()}"
    )


@contextmanager
def running(app: str, env: Mapping[str, str], count: int) -> Iterator[list[Server]]:
    """``count`` processes of ``app``, started side by side, ready, and always stopped."""
    started: list[Server] = []
    try:
        started.extend(start_app(app, env) for _ in range(count))
        for server in started:
            wait_ready(server)
        yield started
    finally:
        for server in started:
            server.stop()
