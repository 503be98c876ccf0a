"""Shared fixtures: the test app and its client, and a fresh database (helpers: ``helpers``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from .database import DATABASE_URL, dispose_apps
from .helpers import build_app
from .pgbouncer import running_pgbouncer
from .redis_cluster import Cluster, running_cluster
from .requirements import unavailable

# Hypothesis: the fuzz suite (test_fuzz.py) runs "ci" by default, a bounded run;
# ``--hypothesis-profile=long`` runs 100,000 examples. No example database is written.
settings.register_profile("ci", max_examples=300, deadline=None, database=None)
settings.register_profile("long", max_examples=100_000, deadline=None, database=None)
settings.load_profile("ci")


@pytest.fixture
def app() -> Flask:
    return build_app()


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        yield client


@pytest.fixture(params=["sqlite", "postgresql"])
def cache_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """Each database ``SessionCache`` serves: a fresh SQLite file, or ``database_url``'s
    PostgreSQL schema (skipped locally without it, failed under CI)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/cache.db"
    url: str = request.getfixturevalue("database_url")
    if not url.startswith("postgresql"):
        unavailable(
            "the PostgreSQL session cache tests",
            "set SESSIONEXT_TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1/test)",
        )
    return url


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "through_pgbouncer: run the module's database tests twice, on PostgreSQL directly and "
        "through a real PgBouncer in transaction pooling mode",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``through_pgbouncer`` get ``database_url`` both ways."""
    marked = metafunc.definition.get_closest_marker("through_pgbouncer") is not None
    if marked and "database_url" in metafunc.fixturenames:
        metafunc.parametrize("database_url", ["direct", "pgbouncer"], indirect=True)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new schema on PostgreSQL; with the
    ``pgbouncer`` parameter, a new database reached through PgBouncer."""
    if getattr(request, "param", None) == "pgbouncer":
        yield request.getfixturevalue("pgbouncer_database_url")
        return
    if not DATABASE_URL:
        yield f"sqlite:///{tmp_path}/test.db"
        dispose_apps()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(DATABASE_URL)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        separator = "&" if "?" in DATABASE_URL else "?"
        yield f"{DATABASE_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        dispose_apps()
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@pytest.fixture(scope="session")
def pgbouncer() -> Iterator[URL]:
    """A real PgBouncer (transaction pooling) in front of the test PostgreSQL, for the run."""
    if not DATABASE_URL or not DATABASE_URL.startswith("postgresql"):
        unavailable("the PgBouncer tests", "set SESSIONEXT_TEST_DATABASE_URL to PostgreSQL")
    with running_pgbouncer(DATABASE_URL) as url:
        yield url


@pytest.fixture
def pgbouncer_database_url(pgbouncer: URL) -> Iterator[str]:
    """A new, empty schema on the test PostgreSQL, reached through PgBouncer as a new role
    whose ``search_path`` is that schema (PgBouncer refuses the ``options`` parameter)."""
    assert DATABASE_URL is not None
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(DATABASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {name} LOGIN"))
        conn.execute(text(f"CREATE SCHEMA {name} AUTHORIZATION {name}"))
        conn.execute(text(f"ALTER ROLE {name} SET search_path = {name}"))
    try:
        yield pgbouncer.set(username=name).render_as_string(hide_password=False)
    finally:
        dispose_apps()
        with admin.connect() as conn:  # PgBouncer still holds idle server connections
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"),
                {"r": name},
            )
            conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
            conn.execute(text(f"DROP ROLE {name}"))
        admin.dispose()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Cluster]:
    """A real three-node Redis Cluster on loopback, shared by the whole test run."""
    with running_cluster() as cluster:
        yield cluster
