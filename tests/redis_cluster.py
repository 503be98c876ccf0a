"""A real three-node Redis Cluster on loopback for the tests, started and always stopped.

Three ``redis-server --cluster-enabled yes`` nodes on free 127.0.0.1 ports (their cluster bus
ports too), in a temporary directory, joined by ``redis-cli --cluster create`` with no
replicas; ready once every node reports ``cluster_state:ok``. Without ``redis-server`` or
``redis-cli`` on PATH the tests that need it skip (and fail under ``CI``, which installs them).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from .processes import terminate
from .requirements import unavailable

NODES = 3
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class Cluster:
    """Where the running cluster's nodes listen."""

    ports: tuple[int, ...]


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports the kernel had free a moment ago."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _cli(cli: str, port: int, *args: str) -> str:
    done = subprocess.run(
        [cli, "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    return done.stdout + done.stderr


def _wait_for(cli: str, port: int, expected: str, command: list[str], logs: Path) -> None:
    """Run ``command`` on node ``port`` until its answer contains ``expected``."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if expected in _cli(cli, port, *command):
            return
        time.sleep(0.05)
    log = "\n".join(f"{p.name}:\n{p.read_text()[-2000:]}" for p in sorted(logs.glob("*.log")))
    raise RuntimeError(
        f"the test Redis Cluster: node {port} never answered {expected!r} to {command}; "
        f"node logs:\n{log}"
    )


@contextmanager
def running_cluster() -> Iterator[Cluster]:
    """Start the three nodes, create the cluster, wait for ``cluster_state:ok``; stop after."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        unavailable("the Redis Cluster tests", "redis-server or redis-cli is not on PATH")
    with tempfile.TemporaryDirectory(prefix="sessionext-cluster-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        ports = _free_ports(2 * NODES)  # a client port and a cluster bus port per node
        nodes = ports[:NODES]
        for port, bus in zip(nodes, ports[NODES:], strict=True):
            node = root / str(port)
            node.mkdir()
            options = {
                "bind": "127.0.0.1",
                "port": str(port),
                "cluster-enabled": "yes",
                "cluster-port": str(bus),
                "cluster-config-file": str(node / "nodes.conf"),
                "dir": str(node),
                "save": "",
                "appendonly": "no",
                "logfile": str(root / f"{port}.log"),
            }
            arguments = [item for key, value in options.items() for item in (f"--{key}", value)]
            process = subprocess.Popen(
                [server, *arguments],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            stack.callback(terminate, process)
        for port in nodes:
            _wait_for(cli, port, "PONG", ["ping"], root)
        created = _cli(
            cli,
            nodes[0],
            "--cluster",
            "create",
            *(f"127.0.0.1:{port}" for port in nodes),
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        )
        if "[OK] All 16384 slots covered" not in created:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{created}")
        for port in nodes:
            _wait_for(cli, port, "cluster_state:ok", ["cluster", "info"], root)
        yield Cluster(tuple(nodes))
