"""``refresh_once`` of each shared store: many callers at once, one run, one result for all.

On a real Redis, a real three-node Redis Cluster (the lock and result keys carry the store's
hash tag), and the SQL adapter on PostgreSQL (an advisory lock; skipped on SQLite, where each
process refreshes for itself). The two-process proof with the OpenID Provider is
``test_refresh_two_processes.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from redis.cluster import RedisCluster

from flask_sessionext.adapters import SQLAlchemyAdapter
from flask_sessionext.errors import OAuthFlowError
from flask_sessionext.providers import Credentials
from flask_sessionext.refresh import SharedRefresh
from flask_sessionext.token_store import RedisTokenStore

from .database import database_app
from .helpers import authorize, redis_prefix
from .test_concurrency import require_postgres

CALLERS = 12


@pytest.fixture(params=["redis", "redis-cluster", "postgresql"])
def store(request: pytest.FixtureRequest) -> Iterator[SharedRefresh]:
    if request.param == "redis":
        with redis_prefix() as prefix:
            yield RedisTokenStore(redis.Redis(host="127.0.0.1", port=6379), prefix=prefix)
        return
    if request.param == "redis-cluster":
        cluster = request.getfixturevalue("redis_cluster")
        client = RedisCluster(host="127.0.0.1", port=cluster.ports[0])
        yield RedisTokenStore(client, prefix=f"sessionext-test:{time.time_ns()}:")
        client.close()  # its keys expire within the ttl below
        return
    url = request.getfixturevalue("database_url")
    require_postgres(url, "the adapter shares refreshes through PostgreSQL's advisory locks")
    app, _, adapter = database_app(url, [Credentials(authorize=authorize)])
    with app.app_context():
        yield AppBound(app, adapter)


class AppBound:
    """The adapter, called from other threads inside its app's context."""

    def __init__(self, app: Flask, adapter: SQLAlchemyAdapter) -> None:
        self.app, self.adapter = app, adapter

    def refresh_once(self, key: str, run: Any, ttl: int) -> str:
        with self.app.app_context():
            return self.adapter.refresh_once(key, run, ttl)


def test_many_callers_one_run_one_result(store: SharedRefresh) -> None:
    runs: list[int] = []
    barrier = threading.Barrier(CALLERS)
    results: list[str] = []
    key = f"{time.time_ns():064x}"[-64:]

    def run() -> str:
        runs.append(1)
        time.sleep(0.2)  # the provider's round trip: the others arrive meanwhile
        return "new-tokens"

    def call() -> None:
        barrier.wait()
        results.append(store.refresh_once(key, run, 5))

    threads = [threading.Thread(target=call) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(runs) == 1 and results == ["new-tokens"] * CALLERS
    assert store.refresh_once(key, run, 5) == "new-tokens" and len(runs) == 1  # kept


def test_a_failed_run_is_not_kept_and_frees_the_lock(store: SharedRefresh) -> None:
    key = f"{time.time_ns() + 1:064x}"[-64:]

    def refused() -> str:
        raise OAuthFlowError("the provider refused")

    with pytest.raises(OAuthFlowError):
        store.refresh_once(key, refused, 5)
    assert store.refresh_once(key, lambda: "second try", 5) == "second try"
