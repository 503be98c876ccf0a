"""A real PgBouncer in transaction pooling mode in front of the test PostgreSQL.

Debian's ``pgbouncer`` (1.18 on Debian 12, before PgBouncer tracked prepared statements) on a
free 127.0.0.1 port, in a temporary directory: ``pool_mode = transaction``, two server
connections per database (so clients share them, as in production), ``auth_type = trust``.
PgBouncer refuses to run as root: started as root, it switches to the ``postgres`` user
(its ``-u`` option). Every database name is forwarded to PostgreSQL as it is (``*``).

A user not in its ``auth_file`` (the server's user) is looked up in PostgreSQL through
``auth_user``: PgBouncer rejects the ``options`` startup parameter (and a ``search_path`` set
per session would not survive transaction pooling), so each test reaches its schema as a role
of its own whose ``search_path`` it is (``pgbouncer_database_url`` in ``conftest.py``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from .processes import terminate
from .requirements import unavailable

START_TIMEOUT = 20.0
RUN_AS = "postgres"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(root: Path, port: int, server: URL) -> str:
    users = root / "users.txt"
    users.write_text(f'"{server.username}" ""\n')
    return f"""\
[databases]
* = host={server.host or "127.0.0.1"} port={server.port or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {users}
auth_user = {server.username}
pool_mode = transaction
default_pool_size = 2
max_client_conn = 200
logfile = {root / "pgbouncer.log"}
"""


@contextmanager
def running_pgbouncer(database_url: str) -> Iterator[URL]:
    """PgBouncer in front of the server of ``database_url``; yields that URL through it."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not os.access(binary, os.X_OK):
        unavailable("the PgBouncer tests", "pgbouncer is not installed (apt-get install pgbouncer)")
    server = make_url(database_url)
    with tempfile.TemporaryDirectory(prefix="sessionext-pgbouncer-") as tmp:
        root = Path(tmp)
        port = _free_port()
        ini = root / "pgbouncer.ini"
        ini.write_text(_config(root, port, server))
        command = [binary, str(ini)]
        if os.geteuid() == 0:  # it refuses root: it becomes the postgres user, who owns tmp
            account = pwd.getpwnam(RUN_AS)
            for path in root.iterdir():
                os.chown(path, account.pw_uid, account.pw_gid)
            os.chown(root, account.pw_uid, account.pw_gid)
            command[1:1] = ["-u", RUN_AS]
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            _wait_listening(port, process, root)
            yield server.set(host="127.0.0.1", port=port)
        finally:
            terminate(process)
            if process.stderr is not None:
                process.stderr.close()


def _wait_listening(port: int, process: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    log = root / "pgbouncer.log"
    stderr = process.stderr.read().decode() if process.poll() is not None and process.stderr else ""
    text = log.read_text() if log.exists() else ""
    raise RuntimeError(f"pgbouncer did not start listening on {port}:\n{stderr}\n{text[-3000:]}")
