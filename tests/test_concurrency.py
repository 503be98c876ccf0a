"""Many requests at once on the database strategy, against PostgreSQL.

Eight threads, each with its own test client, sign in and out through the app; afterwards
every live cookie still resolves to its user, every signed-out one resolves to nothing, and
the sessions table holds exactly the live sessions. Eight threads signing in with the same
new OAuth account at once end up as one user with one account.

A SQLite file serialises writers ("database is locked"), which is not the concurrency these
tests are about: they run on PostgreSQL only (``SESSIONEXT_TEST_DATABASE_URL``), are skipped
without it, and fail without it when ``CI`` is set, so CI cannot skip them silently.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import func, select

from flask_sessionext.actions.accounts import AccountNotLinked, oauth_user
from flask_sessionext.adapters import SQLAlchemyAdapter
from flask_sessionext.providers import Credentials
from flask_sessionext.providers.presets import GitHub

from .database import database_app
from .requirements import unavailable

# Every test here runs twice: on PostgreSQL, and through a real PgBouncer (transaction mode).
pytestmark = pytest.mark.through_pgbouncer

THREADS = 8
ROUNDS = 50
COOKIE = "authjs.session-token"
PASSWORD = "pw"
#: A thread that waits longer than this on the others has hung: fail rather than block.
JOIN_TIMEOUT = 60.0


SQLITE_LOCK = "a SQLite file serialises concurrent writers, so this would only test its lock"


def require_postgres(url: str, why: str = SQLITE_LOCK) -> None:
    """Skip unless ``url`` is PostgreSQL; under ``CI`` fail instead, with what to set."""
    if not url.startswith("postgresql"):
        unavailable(
            "the PostgreSQL test",
            "set SESSIONEXT_TEST_DATABASE_URL "
            f"(e.g. postgresql+psycopg://postgres@127.0.0.1/test); {why}",
        )


@pytest.fixture
def postgres_url(database_url: str) -> str:
    """The fixture's fresh schema on PostgreSQL; skipped (or failed under CI) on SQLite."""
    require_postgres(database_url)
    return database_url


def run_threads(count: int, target: Callable[[int, threading.Barrier], None]) -> list[str]:
    """Run ``target(index, barrier)`` in ``count`` threads started together; their errors."""
    barrier = threading.Barrier(count)
    errors: list[str] = []

    def guarded(index: int) -> None:
        try:
            target(index, barrier)
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(f"thread {index}: {error!r}")
            barrier.abort()

    threads = [threading.Thread(target=guarded, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    hung = [i for i, thread in enumerate(threads) if thread.is_alive()]
    if hung:
        errors.append(f"threads {hung} still running after {JOIN_TIMEOUT} s")
    return errors


def count_rows(app: Flask, table: Any) -> int:
    db: SQLAlchemy = app.extensions["test_db"]
    with app.app_context():
        return int(db.session.execute(select(func.count()).select_from(table)).scalar_one())


@dataclass(frozen=True)
class Signed:
    """One sign-in a thread made: its cookie, whose it is, and whether it was signed out."""

    cookie: str
    email: str
    signed_out: bool


def test_threads_signing_in_and_out_keep_sessions_exact(postgres_url: str) -> None:
    emails = [f"user{i}@example.com" for i in range(THREADS)]
    holder: list[SQLAlchemyAdapter] = []

    def authorize(credentials: dict[str, str]) -> dict[str, Any] | None:
        user = holder[0].get_user_by_email(credentials.get("username", ""))
        return user if user is not None and credentials.get("password") == PASSWORD else None

    # Every thread signs in again and again from the one test client address: no rate limits.
    app, _, adapter = database_app(
        postgres_url, [Credentials(authorize=authorize)], AUTH_RATE_LIMITS=False
    )
    holder.append(adapter)
    with app.app_context():
        for i, email in enumerate(emails):
            adapter.create_user({"id": f"u{i}", "name": f"User {i}", "email": email})

    results: list[list[Signed]] = [[] for _ in range(THREADS)]
    problems: list[str] = []

    def expect(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    def work(index: int, barrier: threading.Barrier) -> None:
        client: FlaskClient = app.test_client()
        rng = random.Random(index)  # noqa: S311 - deterministic: the same sign-outs every run
        barrier.wait()
        for round_ in range(ROUNDS):
            email = emails[(index + round_) % len(emails)]
            where = f"thread {index} round {round_}"
            csrf = client.get("/api/auth/csrf")
            expect(csrf.status_code == 200, f"{where}: csrf answered {csrf.status}")
            token = csrf.get_json()["csrfToken"]
            form = {"csrfToken": token, "username": email, "password": PASSWORD}
            signin = client.post("/api/auth/callback/credentials", data=form)
            location = signin.headers.get("Location", "")
            expect(
                signin.status_code == 302 and "error" not in location,
                f"{where}: sign-in answered {signin.status} to {location!r}",
            )
            cookie = client.get_cookie(COOKIE)
            if cookie is None:
                problems.append(f"{where}: sign-in set no session cookie")
                continue
            session = client.get("/api/auth/session")
            shown = (session.get_json() or {}).get("user", {}).get("email")
            expect(
                session.status_code == 200 and shown == email,
                f"{where}: session answered {session.status} for {shown!r}, not {email!r}",
            )
            signed_out = rng.random() < 0.5
            if signed_out:
                out = client.post("/api/auth/signout", data={"csrfToken": token})
                expect(out.status_code == 302, f"{where}: sign-out answered {out.status}")
                after = client.get("/api/auth/session")
                expect(after.get_json() is None, f"{where}: still signed in after sign-out")
            else:
                # Keep this session alive; the next round signs in as a new browser would.
                client.delete_cookie(COOKIE)
            results[index].append(Signed(cookie.value, email, signed_out))

    errors = run_threads(THREADS, work)
    assert errors == []
    assert problems == []

    signed = [s for per_thread in results for s in per_thread]
    assert len(signed) == THREADS * ROUNDS
    assert len({s.cookie for s in signed}) == len(signed)  # every cookie is its own session
    live = [s for s in signed if not s.signed_out]
    assert 0 < len(live) < len(signed)

    checker = app.test_client()
    for s in signed:
        checker.set_cookie(COOKIE, s.cookie)
        response = checker.get("/api/auth/session")
        assert response.status_code == 200
        session = response.get_json()
        if s.signed_out:
            assert session is None, f"a signed-out cookie of {s.email} still resolves"
        else:
            assert session is not None, f"a live session of {s.email} was lost"
            assert session["user"]["email"] == s.email

    db: SQLAlchemy = app.extensions["test_db"]
    with app.app_context():
        stored = set(
            db.session.execute(select(adapter.Session.__table__.c.session_token)).scalars()
        )
    assert stored == {hashlib.sha256(s.cookie.encode()).hexdigest() for s in live}
    assert count_rows(app, adapter.User.__table__) == len(emails)
    assert count_rows(app, adapter.Account.__table__) == 0  # credentials link no account


def test_threads_signing_in_with_one_new_oauth_account_make_one_user(postgres_url: str) -> None:
    """The double-click race: one user and one account row, and every thread signs in as it.

    Runs the race a few times over, each time with a new account, to give it more chances.
    No thread may be refused: a thread that finds the email taken by a user that a concurrent
    sign-in with the same account just created is that user (see the next test).
    """
    app, _, adapter = database_app(postgres_url, [Credentials(authorize=lambda c: None)])
    provider = GitHub(client_id="id", client_secret="secret")
    races = 5
    refused: list[str] = []

    for race in range(races):
        profile = {"name": f"Octo {race}", "email": f"octo{race}@example.com", "image": None}
        account = {
            "type": "oauth",
            "provider": provider.id,
            "providerAccountId": f"gh-{race}",
            "access_token": "at",
            "token_type": "bearer",
        }
        signed: list[tuple[str, bool]] = []

        def work(
            index: int,
            barrier: threading.Barrier,
            profile: dict[str, Any] = profile,
            account: dict[str, Any] = account,
            signed: list[tuple[str, bool]] = signed,
            race: int = race,
        ) -> None:
            with app.test_request_context("/api/auth/callback/github"):
                barrier.wait()
                try:
                    user, created = oauth_user(
                        adapter, provider, profile, account, profile["email"]
                    )
                except AccountNotLinked as error:
                    refused.append(f"race {race} thread {index}: {error}")
                    return
                signed.append((str(user["id"]), created))

        errors = run_threads(THREADS, work)
        assert errors == [], f"race {race}"
        ids = {user_id for user_id, _ in signed}
        assert len(ids) == 1, f"race {race}: threads signed in as different users: {signed}"
        assert sum(created for _, created in signed) == 1, f"race {race}: {signed}"

    assert count_rows(app, adapter.User.__table__) == races  # no duplicate users
    assert count_rows(app, adapter.Account.__table__) == races  # no duplicate accounts
    assert refused == [], f"{len(refused)} of {races * THREADS} concurrent sign-ins refused"


class StaleAccountLookup:
    """An adapter whose first ``get_user_by_account`` answers as before a concurrent commit."""

    def __init__(self, adapter: SQLAlchemyAdapter) -> None:
        self._adapter = adapter
        self._stale = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._adapter, name)

    def get_user_by_account(self, provider: str, provider_account_id: str) -> Any:
        if self._stale:
            self._stale = False
            return None
        return self._adapter.get_user_by_account(provider, provider_account_id)


def test_a_request_that_loses_the_race_after_the_account_lookup_signs_in(
    database_url: str,
) -> None:
    """Deterministic form of one interleaving of the race above (runs on SQLite too).

    Request B looks the account up (none yet); request A then creates the user and links the
    account, and commits; B next finds the email taken. The account B is signing in with is
    now linked to that very user, so B should sign in as it, not be refused.
    """
    app, _, adapter = database_app(database_url, [Credentials(authorize=lambda c: None)])
    provider = GitHub(client_id="id", client_secret="secret")
    profile = {"name": "Octo", "email": "octo@example.com", "image": None}
    account = {"type": "oauth", "provider": "github", "providerAccountId": "gh-1"}
    with app.test_request_context("/api/auth/callback/github"):
        created = adapter.create_user_and_link(profile, account)  # request A, committed
        stale = StaleAccountLookup(adapter)
        user, is_new = oauth_user(stale, provider, profile, account, profile["email"])
    assert user["id"] == created["id"] and is_new is False
    assert count_rows(app, adapter.User.__table__) == 1
    assert count_rows(app, adapter.Account.__table__) == 1
