"""Sign-in cost: credentials sign-in round trips per second, called as WSGI.

Each app gets ``GET /api/auth/csrf`` once (through Flask's test client, untimed); every timed
round is then ``POST /api/auth/callback/credentials`` with that ``csrfToken``, the CSRF
cookie, ``username`` and ``password``: the CSRF check, ``authorize``, then on the JWT strategy
the token encoded into the session cookie, on the database strategy a session row inserted.
Every answer must be the 302 that sets the session cookie.

The POST's environ is built once; each call gets a copy with a fresh ``wsgi.input`` over the
same form body. No round carries a session cookie, so none ends an earlier session: on the
database strategy the sessions table grows by one row a round, as it would with many users.
"""

from __future__ import annotations

import gc
import io
import statistics
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from flask import Flask
from variants import (
    ENVIRON_BASE,
    SESSION_COOKIE,
    USER,
    Environ,
    cookie_header,
    new_client,
    postgres_url,
    sessionext_app,
    sessionext_db_app,
    sqlite_url,
)
from werkzeug.test import EnvironBuilder

CSRF_COOKIE = "authjs.csrf-token"
CALLBACK = "/api/auth/callback/credentials"


@dataclass(frozen=True)
class SignIn:
    """One app and the POST environ (without its body stream) that signs in on it."""

    key: str
    label: str
    app: Flask
    environ: Environ
    body: bytes

    def environ_copy(self) -> Environ:
        """A copy of the environ with a fresh stream over the form body."""
        environ = self.environ.copy()
        environ["wsgi.input"] = io.BytesIO(self.body)
        return environ


def prepared(key: str, label: str, app: Flask) -> SignIn:
    """``GET /csrf`` once, then the sign-in POST's environ, built once."""
    client = new_client(app)
    csrf = client.get("/api/auth/csrf").get_json()["csrfToken"]
    form = {"csrfToken": csrf, "username": USER["email"], "password": USER["password"]}
    builder = EnvironBuilder(
        path=CALLBACK,
        method="POST",
        data=form,
        headers=[("Cookie", cookie_header(client, CSRF_COOKIE))],
        environ_base=ENVIRON_BASE,
    )
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    body = environ["wsgi.input"].read()
    return SignIn(key, label, app, environ, body)


def signin_apps(resources: ExitStack, postgres: bool) -> tuple[list[SignIn], str | None]:
    """JWT strategy, database strategy on SQLite, and on PostgreSQL when ``postgres`` and
    it answers; the second value says why PostgreSQL was left out, if it was."""
    found = [
        prepared("signin_jwt", "flask-sessionext JWT", sessionext_app()),
        prepared(
            "signin_db_sqlite",
            "flask-sessionext database, SQLite",
            sessionext_db_app(sqlite_url(resources, "signin"), resources),
        ),
    ]
    if not postgres:
        return found, None
    url, note = postgres_url(resources)
    if url is None:
        return found, note
    found.append(
        prepared(
            "signin_db_postgres",
            "flask-sessionext database, PostgreSQL",
            sessionext_db_app(url, resources),
        )
    )
    return found, None


class SignInFailure(Exception):
    """A sign-in round did not answer the 302 that sets the session cookie."""


def check(signin: SignIn) -> None:
    """One fully recorded round: 302 with the session cookie, else :class:`SignInFailure`."""
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen.update(status=status, headers=headers)
        return lambda data: None

    body = signin.app(signin.environ_copy(), start_response)
    try:
        b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    cookies = [v for k, v in seen["headers"] if k.lower() == "set-cookie"]
    if not seen["status"].startswith("302") or not any(
        c.startswith(f"{SESSION_COOKIE}=") for c in cookies
    ):
        raise SignInFailure(f"{signin.key}: sign-in answered {seen['status']}, cookies {cookies}")


def time_rounds(signin: SignIn, count: int) -> float:
    """Sign-ins per second over ``count`` rounds; any answer but 302 raises."""
    failures: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if not status.startswith("302"):
            failures.append(status)
        return lambda data: None

    app = signin.app
    environs = [signin.environ_copy() for _ in range(count)]
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for environ in environs:
            body = app(environ, start_response)
            for _chunk in body:
                pass
            close = getattr(body, "close", None)
            if close is not None:
                close()
        elapsed = time.perf_counter_ns() - start
    finally:
        gc.enable()
    if failures:
        raise SignInFailure(f"{signin.key}: answers other than 302: {sorted(set(failures))}")
    return count / (elapsed / 1e9)


def run_signins(
    signins: Sequence[SignIn], reps: int, count: int, warmup: int
) -> list[dict[str, Any]]:
    """Sign-ins per second of each app, one value per repetition, the apps taking turns."""
    for signin in signins:
        for _ in range(3):
            check(signin)
        time_rounds(signin, warmup)
    rates: dict[str, list[float]] = {s.key: [] for s in signins}
    for _ in range(reps):
        for signin in signins:
            rates[signin.key].append(time_rounds(signin, count))
    for signin in signins:
        check(signin)
    return [
        {
            "key": s.key,
            "label": s.label,
            "per_s": rates[s.key],
            "rate": {
                "median": statistics.median(rates[s.key]),
                "min": min(rates[s.key]),
                "max": max(rates[s.key]),
            },
        }
        for s in signins
    ]
