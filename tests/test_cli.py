"""The ``flask auth`` commands: a new secret, a check against a real OP, and cleanup."""

from __future__ import annotations

import string
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from flask_sessionext import AuthExt
from flask_sessionext.cli import auth_cli
from flask_sessionext.providers import OIDC, Credentials

from .database import database_app
from .helpers import SECRET, authorize, build_app
from .oidc_provider import OP, running_op


@pytest.fixture(scope="module")
def op() -> Iterator[OP]:
    with running_op(["https://app.example/api/auth/callback/corp"]) as op:
        yield op


def run(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(auth_cli, list(args))


def test_secret_is_new_each_time_and_accepted_as_auth_secret() -> None:
    first, second = (run(build_app(), "secret") for _ in range(2))
    assert first.exit_code == second.exit_code == 0
    value = first.stdout.strip()
    assert value != second.stdout.strip()
    assert len(value) >= 43 and set(value) <= set(string.ascii_letters + string.digits + "-_")
    assert "AUTH_SECRET" in first.stderr
    build_app(AUTH_SECRET=value)  # init_app accepts it


def test_init_app_registers_the_group() -> None:
    app = build_app()
    result = app.test_cli_runner().invoke(args=["auth", "secret"])
    assert result.exit_code == 0, result.output


def oidc_app(op: OP, issuer: str, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(AUTH_SECRET=SECRET, **config)
    provider = OIDC(id="corp", issuer=issuer, client_id=op.client_id, client_secret="s")
    AuthExt(app, providers=[Credentials(authorize=authorize), provider])
    return app


def test_check_prints_callback_urls_and_discovery(op: OP) -> None:
    result = run(oidc_app(op, op.issuer, AUTH_URL="https://app.example"), "check")
    assert result.exit_code == 0, result.stderr
    assert "callback URL: https://app.example/api/auth/callback/corp" in result.stdout
    assert f"discovery: ok ({op.issuer})" in result.stdout
    assert "strategy: jwt" in result.stdout
    assert "__Secure-authjs.session-token" in result.stdout
    assert "credentials" in result.stdout


def test_check_reports_every_problem_and_fails(op: OP) -> None:
    result = run(oidc_app(op, op.issuer + "/"), "check")
    assert result.exit_code == 1
    assert "AUTH_URL is not set" in result.stderr
    assert f"names the issuer {op.issuer!r}, but {op.issuer + '/'!r} was configured" in (
        result.stderr
    )


def test_cleanup_deletes_only_expired_rows(database_url: str) -> None:
    app, _, adapter = database_app(database_url, [Credentials(authorize=authorize)])
    now = datetime.now(timezone.utc)
    with app.app_context():
        user = adapter.create_user({"email": "ada@example.com"})
        adapter.create_session("live", user["id"], now + timedelta(days=1))
        adapter.create_session("old", user["id"], now - timedelta(seconds=1))
        adapter.create_verification_token("ada@example.com", "old", now - timedelta(minutes=1))
        adapter.save_refresh_token("old", "f", {}, now - timedelta(seconds=1))
        adapter.save_refresh_token("live", "f", {}, now + timedelta(days=1))
    result = run(app, "cleanup")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "sessions: 1 deleted",
        "verification_tokens: 1 deleted",
        "refresh_tokens: 1 deleted",
        "shared_state: 0 deleted",
    ]
    with app.app_context():
        assert adapter.get_session_and_user("live") is not None
        db = app.extensions["sqlalchemy"]
        assert db.session.scalar(select(func.count()).select_from(adapter.Session)) == 1
        assert db.session.scalar(select(func.count()).select_from(adapter.RefreshToken)) == 1


def test_cleanup_without_a_store_says_so() -> None:
    result = run(build_app(), "cleanup")
    assert result.exit_code == 1
    assert "nothing to clean" in result.stderr
