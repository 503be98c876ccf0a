"""Protected GET over HTTP: each app under gunicorn (2 sync workers), loaded by wrk.

Every app is served at once, each by its own ``gunicorn --workers 2 --worker-class sync`` on
a free port of 127.0.0.1 (an idle sync worker only wakes now and then to tell its master it
is alive), and checked; each gets a short untimed wrk warm-up. Then rounds: in each, every
app in turn (the order rotated from round to round) gets one ``wrk -t2 -c16 -d3s --latency``
with its cookie. An app's ratio is the median over the rounds of its requests/s over bare
Flask's in the same round, so a drift of the machine lands on both sides of each pair. The
apps are checked again at the end, and every gunicorn stopped whatever happened.

What makes a run fail (exit status 1), never the timings:

- a checked request (plain socket, the same request line and headers wrk sends) that is not
  200 with the user's name as body, or that carries ``Set-Cookie`` for a flask-sessionext app;
  checked responses of one app differing in size;
- wrk reporting any connect, read, write or timeout error, or any status >= 400;
- wrk's bytes read not matching its request count times the checked response's size (a
  redirect to the sign-in page, 3xx, which wrk does not count as an error, has another size).

wrk, gunicorn's master and workers (and PostgreSQL, for its app) all share the machine's CPUs;
the CPU seconds the workers and wrk used during the timed run are recorded per app.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from variants import (
    ENVIRON_BASE,
    NAME,
    SESSION_COOKIE,
    flask_login_app,
    flask_session_app,
    login_cookie,
    postgres_url,
    sessionext_app,
    sessionext_db_app,
    sessionext_signin,
    sqlite_url,
)

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "wrk_report.lua"
USER_AGENT = ENVIRON_BASE["HTTP_USER_AGENT"]
#: Over HTTP, at least this share of bare Flask's requests per second (docs/internals.rst):
#: the JWT strategy (with or without callbacks), and the database strategy.
HTTP_TARGETS = {"jwt": 0.90, "database": 0.75}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def http_target(key: str) -> float:
    """The share of bare Flask's requests/s the flask-sessionext app ``key`` should reach."""
    return HTTP_TARGETS["database" if key.startswith("sessionext_db") else "jwt"]


@dataclass(frozen=True)
class HttpPlan:
    """How long and how hard wrk loads each app, and how gunicorn serves it."""

    duration: int = 3
    threads: int = 2
    connections: int = 16
    workers: int = 2
    warmup: int = 1
    checks: int = 20
    #: Rounds over the apps, each app once per round, the order rotated from round to round.
    rounds: int = 8


@dataclass(frozen=True)
class Served:
    """One app as gunicorn serves it: ``http_apps.app(*args)`` and the cookie to send."""

    key: str
    label: str
    args: tuple[str, ...]
    cookie: str | None
    no_set_cookie: bool = False

    @property
    def spec(self) -> str:
        """gunicorn's app argument: a call of the factory with literal arguments."""
        return f"http_apps:app({', '.join(repr(arg) for arg in self.args)})"


class HttpFailure(Exception):
    """An app answered wrongly over HTTP, wrk reported errors, or gunicorn did not start."""


def http_missing() -> str | None:
    """Why the HTTP benchmark cannot run here, or ``None`` when wrk and gunicorn are there."""
    missing = []
    if shutil.which("wrk") is None:
        missing.append("`wrk` is not on PATH (Debian package wrk)")
    if importlib.util.find_spec("gunicorn") is None:
        missing.append("gunicorn is not installed in this Python (pip install gunicorn)")
    return "; ".join(missing) or None


def served_apps(resources: ExitStack, notes: list[str]) -> list[Served]:
    """The apps, bare Flask first, each with a cookie from a real sign-in in this process.

    The cookies hold in gunicorn's workers: the same secret signs or encrypts them, and the
    database apps' session rows are in the same database (SQLite file, PostgreSQL schema).
    """
    jwt = f"{SESSION_COOKIE}={sessionext_signin(sessionext_app())}"
    found = [
        Served("bare", "bare Flask", ("bare",), None),
        Served(
            "flask_session",
            "Flask session cookie",
            ("flask_session",),
            login_cookie(flask_session_app(), "session"),
        ),
        Served(
            "flask_login",
            "Flask-Login",
            ("flask_login",),
            login_cookie(flask_login_app(), "session"),
        ),
        Served(
            "sessionext_callbacks",
            "flask-sessionext JWT, warm, README's callbacks",
            ("sessionext_callbacks",),
            f"{SESSION_COOKIE}={sessionext_signin(sessionext_app(callbacks=True))}",
            True,
        ),
        Served(
            "sessionext_jwt",
            "flask-sessionext JWT, warm, no callbacks",
            ("sessionext_jwt",),
            jwt,
            True,
        ),
    ]
    databases = [("sqlite", "SQLite", sqlite_url(resources, "http"))]
    url, note = postgres_url(resources)
    notes.append(f"HTTP: {note}")
    if url is not None:
        databases.append(("postgres", "PostgreSQL", url))
    for key, name, db_url in databases:
        cookie = sessionext_signin(sessionext_db_app(db_url, resources))
        found.append(
            Served(
                f"sessionext_db_{key}",
                f"flask-sessionext database, {name}",
                ("sessionext_db", db_url),
                f"{SESSION_COOKIE}={cookie}",
                True,
            )
        )
        found.append(  # the same database, user and session, with the SessionCache
            Served(
                f"sessionext_db_{key}_cached",
                f"flask-sessionext database, {name}, session cache",
                ("sessionext_db_cached", db_url),
                f"{SESSION_COOKIE}={cookie}",
                True,
            )
        )
    return found


def free_port() -> int:
    """A port nothing listens on at 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Answer:
    """One HTTP response as read off the socket."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    size: int


def fetch(port: int, cookie: str | None, timeout: float = 10) -> Answer:
    """``GET /me`` with the request line and headers wrk sends; read until the server closes.

    gunicorn's sync workers close every connection after its response.
    """
    lines = ["GET /me HTTP/1.1", f"Host: 127.0.0.1:{port}", f"User-Agent: {USER_AGENT}"]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in header_lines]
    return Answer(int(status_line.split()[1]), headers, body, len(raw))  # type: ignore[arg-type]


def check(app: Served, port: int, calls: int) -> int:
    """``calls`` checked requests; the size of the (identical) responses. Raises on a problem."""
    sizes = set()
    for _ in range(calls):
        answer = fetch(port, app.cookie)
        if answer.status != 200 or answer.body != NAME.encode():
            raise HttpFailure(f"{app.key}: answered {answer.status} {answer.body[:80]!r}")
        if app.no_set_cookie and any(k.lower() == "set-cookie" for k, _ in answer.headers):
            raise HttpFailure(f"{app.key}: a protected GET set a cookie over HTTP")
        sizes.add(answer.size)
    if len(sizes) != 1:
        raise HttpFailure(f"{app.key}: checked responses differ in size: {sorted(sizes)}")
    return sizes.pop()


def wait_ready(proc: subprocess.Popen[bytes], port: int, log: IO[bytes], timeout: float) -> None:
    """Until gunicorn answers on ``port``; fail when it exits or takes longer than ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HttpFailure(f"gunicorn exited with {proc.returncode}:\n{tail(log)}")
        try:
            fetch(port, None, timeout=2)
            return
        except OSError:
            time.sleep(0.1)
    raise HttpFailure(f"gunicorn did not answer on port {port} within {timeout} s:\n{tail(log)}")


def tail(log: IO[bytes], lines: int = 30) -> str:
    """The end of gunicorn's log, for a failure message."""
    log.flush()
    log.seek(0)
    return "\n".join(log.read().decode(errors="replace").splitlines()[-lines:])


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid``: gunicorn's workers."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User plus system CPU seconds the processes ``pids`` have used so far."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def start(app: Served, port: int, plan: HttpPlan, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """gunicorn serving ``app`` on ``port``, in a process group of its own."""
    from gunicorn.config import KNOWN_SETTINGS

    # gunicorn 25+ opens a control socket under ~/.gunicorn by default; the benchmark needs none.
    quiet = (
        ["--no-control-socket"]
        if any("--no-control-socket" in (s.cli or ()) for s in KNOWN_SETTINGS)
        else []
    )
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--pythonpath",
        str(HERE),
        "--workers",
        str(plan.workers),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        *quiet,
        app.spec,
    ]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to gunicorn's master (it stops its workers); its whole group killed if stuck."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            pass
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def wrk(app: Served, port: int, plan: HttpPlan, duration: int) -> tuple[dict[str, Any], str]:
    """One wrk run; its JSON summary (from ``wrk_report.lua``) and its printed output."""
    wrk_path = shutil.which("wrk") or "wrk"
    headers = ["-H", f"User-Agent: {USER_AGENT}"]
    if app.cookie:
        headers += ["-H", f"Cookie: {app.cookie}"]
    command = [
        wrk_path,
        f"-t{plan.threads}",
        f"-c{plan.connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(WRK_SCRIPT),
        *headers,
        f"http://127.0.0.1:{port}/me",
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    if done.returncode != 0:
        raise HttpFailure(f"{app.key}: wrk exited with {done.returncode}: {done.stderr.strip()}")
    for line in done.stdout.splitlines():
        if line.startswith("WRK_REPORT "):
            report: dict[str, Any] = json.loads(line.removeprefix("WRK_REPORT "))
            return report, done.stdout
    raise HttpFailure(f"{app.key}: no WRK_REPORT line in wrk's output:\n{done.stdout}")


def validate(app: Served, report: dict[str, Any], size: int, plan: HttpPlan) -> None:
    """No wrk errors, and exactly as many bytes as ``requests`` answers of ``size`` bytes.

    Answers still in flight when wrk stops may add part of a response per connection.
    """
    errors = {name: count for name, count in report["errors"].items() if count}
    if errors:
        raise HttpFailure(f"{app.key}: wrk reported errors {errors}")
    requests, read = report["requests"], report["bytes"]
    if requests == 0:
        raise HttpFailure(f"{app.key}: wrk completed no request")
    if not requests * size <= read < (requests + plan.connections) * size:
        raise HttpFailure(
            f"{app.key}: wrk read {read} bytes for {requests} answers of {size} bytes: "
            "some answers were not the checked 200"
        )


@dataclass(frozen=True)
class Server:
    """One app as served for the whole HTTP part."""

    app: Served
    port: int
    proc: subprocess.Popen[bytes]
    log: IO[bytes]
    workers: list[int]
    size: int

    def failure(self, failure: HttpFailure) -> HttpFailure:
        """``failure`` with the end of this app's gunicorn log."""
        return with_log(failure, self.log)


def with_log(failure: HttpFailure, log: IO[bytes]) -> HttpFailure:
    """``failure`` with the end of the gunicorn ``log``."""
    return HttpFailure(f"{failure}\ngunicorn log:\n{tail(log)}")


def serve(app: Served, plan: HttpPlan, resources: ExitStack) -> Server:
    """gunicorn serving ``app`` until ``resources`` closes: answering, checked, warmed up."""
    port = free_port()
    log = resources.enter_context(tempfile.TemporaryFile(prefix="gunicorn-"))  # noqa: SIM115
    proc = start(app, port, plan, log)
    resources.callback(stop, proc)
    try:
        wait_ready(proc, port, log, timeout=60)
        size = check(app, port, plan.checks)
        if plan.warmup:
            wrk(app, port, plan, plan.warmup)
    except HttpFailure as failure:
        raise with_log(failure, log) from None
    return Server(app, port, proc, log, child_pids(proc.pid), size)


def run_one(server: Server, plan: HttpPlan) -> dict[str, Any]:
    """One timed wrk run against ``server``, its answers validated."""
    app = server.app
    try:
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        workers_before = cpu_seconds(server.workers)
        report, output = wrk(app, server.port, plan, plan.duration)
        workers_cpu = cpu_seconds(server.workers) - workers_before
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        validate(app, report, server.size, plan)
        if len(child_pids(server.proc.pid)) != len(server.workers):
            raise HttpFailure(f"{app.key}: a gunicorn worker died during the run")
    except HttpFailure as failure:
        raise server.failure(failure) from None
    wrk_cpu = (children_after.ru_utime - children_before.ru_utime) + (
        children_after.ru_stime - children_before.ru_stime
    )
    seconds = report["duration_us"] / 1e6
    return {
        "rps": report["requests"] / seconds,
        "worker_cpu_us": workers_cpu / report["requests"] * 1e6,
        "requests": report["requests"],
        "seconds": seconds,
        "latency_us": report["latency_us"],
        "errors": report["errors"],
        "response_bytes": server.size,
        "cpu": {"workers": round(workers_cpu, 2), "wrk": round(wrk_cpu, 2)},
        "wrk_output": output,
    }


def run_http(apps: Sequence[Served], plan: HttpPlan) -> list[dict[str, Any]]:
    """Every app served at once, loaded in turn for ``plan.rounds`` rounds; one row per app.

    The ratio to bare Flask is the median over rounds of the paired ratios. Besides
    requests/s, the rows give the gunicorn workers' CPU time per request: what the server
    spends on one, less sensitive than requests/s to how the CPUs were shared with wrk.
    """
    runs: dict[str, list[dict[str, Any]]] = {app.key: [] for app in apps}
    with ExitStack() as resources:
        servers = [serve(app, plan, resources) for app in apps]
        for round_ in range(plan.rounds):
            for server in servers[round_ % len(servers) :] + servers[: round_ % len(servers)]:
                result = run_one(server, plan)
                runs[server.app.key].append(result)
                latency = result["latency_us"]
                print(
                    f"http round {round_ + 1}/{plan.rounds} {server.app.key}: "
                    f"{result['rps']:.0f} requests/s, p50 {latency['p50'] / 1000:.2f} ms, "
                    f"p99 {latency['p99'] / 1000:.2f} ms, {result['requests']} requests, "
                    f"0 errors; workers {result['worker_cpu_us']:.0f} CPU us/request; "
                    f"CPU s: workers {result['cpu']['workers']}, wrk {result['cpu']['wrk']}",
                    flush=True,
                )
        for server in servers:
            try:
                check(server.app, server.port, plan.checks)
            except HttpFailure as failure:
                raise server.failure(failure) from None

    def mean(values: Sequence[float]) -> float:
        return sum(values) / len(values)

    bare = runs[apps[0].key]
    rows = []
    for app in apps:
        results = runs[app.key]
        ratios = [run["rps"] / base["rps"] for run, base in zip(results, bare, strict=True)]
        cpu_ratios = [
            run["worker_cpu_us"] / base["worker_cpu_us"]
            for run, base in zip(results, bare, strict=True)
        ]
        rows.append(
            {
                "key": app.key,
                "label": app.label,
                "rps": mean([run["rps"] for run in results]),
                "rps_runs": [run["rps"] for run in results],
                "ratio": statistics.median(ratios),
                "ratio_runs": ratios,
                "worker_cpu_us": mean([run["worker_cpu_us"] for run in results]),
                "worker_cpu_ratio": statistics.median(cpu_ratios),
                "latency_runs_us": [run["latency_us"] for run in results],
                "requests": sum(run["requests"] for run in results),
                "errors": sum(sum(run["errors"].values()) for run in results),
                "response_bytes": results[0]["response_bytes"],
                "cpu": [run["cpu"] for run in results],
                "set_cookie": False,
                "no_set_cookie": app.no_set_cookie,
                "runs": results,
            }
        )
    return rows
