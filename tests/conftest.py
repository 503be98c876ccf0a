"""Shared fixtures: the test app and its client, and a fresh database (helpers: ``helpers``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from .database import DATABASE_URL, dispose_apps
from .helpers import build_app
from .redis_cluster import Cluster, running_cluster


@pytest.fixture
def app() -> Flask:
    return build_app()


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        yield client


@pytest.fixture
def database_url(tmp_path: Any) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new schema on PostgreSQL."""
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
def redis_cluster() -> Iterator[Cluster]:
    """A real three-node Redis Cluster on loopback, shared by the whole test run."""
    with running_cluster() as cluster:
        yield cluster
