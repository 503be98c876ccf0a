"""The token API: bearer access tokens and rotating refresh tokens (nuxt-auth ``local``)."""

from __future__ import annotations

import base64
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import jwt as pyjwt
import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from flask import Flask, g, jsonify
from flask.testing import FlaskClient
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from flask_sessionext import AuthExt, get_token, login_required
from flask_sessionext.adapters import MemoryAdapter, SQLAlchemyAdapter
from flask_sessionext.errors import ConfigurationError
from flask_sessionext.jwt import encode
from flask_sessionext.providers import Credentials
from flask_sessionext.token_store import RedisTokenStore

from .database import new_db, track_app
from .helpers import SECRET, authorize, build_app
from .redis_cluster import Cluster, running_cluster

API = "/api/auth"


@contextmanager
def redis_token_store(client: Any) -> Iterator[RedisTokenStore]:
    """A store with a prefix of its own on ``client``; its keys deleted, the client closed."""
    store = RedisTokenStore(client, prefix=f"sessionext-test:{time.time_ns()}:")
    try:
        yield store
    finally:
        for key in client.scan_iter(match=f"{store.prefix}*"):
            client.delete(key)
        client.close()


@pytest.fixture
def redis_store() -> Iterator[RedisTokenStore]:
    with redis_token_store(redis.Redis(host="127.0.0.1", port=6379)) as store:
        yield store


def cluster_client(cluster: Cluster) -> RedisCluster:
    return RedisCluster(host="127.0.0.1", port=cluster.ports[0])  # finds the other nodes


def token_app(store: Any = None, adapter: Any = None, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update({"TESTING": True, "AUTH_SECRET": SECRET, "AUTH_TOKEN_API": True, **config})
    auth: AuthExt[Any] = AuthExt(
        providers=[Credentials(authorize=authorize)],
        adapter=adapter,
        token_store=store,
    )
    triggers: list[Any] = []

    @auth.jwt_callback
    def jwt(token: dict[str, Any], user: Any = None, trigger: Any = None) -> dict[str, Any]:
        triggers.append(trigger)
        if user:
            token["role"] = user["role"]
        return token

    @auth.session_callback
    def session(session: dict[str, Any], token: dict[str, Any]) -> dict[str, Any]:
        session["user"]["role"] = token["role"]
        return session

    auth.init_app(app)
    app.extensions["triggers"] = triggers

    @app.get("/private")
    @login_required
    def private() -> Any:
        token = get_token()
        return jsonify(session=g.session, sub=token and token["sub"])

    return app


@pytest.fixture(params=["memory", "redis", "redis-cluster", "database", "pgbouncer"])
def make_app(
    request: pytest.FixtureRequest, redis_store: RedisTokenStore, database_url: str
) -> Iterator[Callable[..., Flask]]:
    """Build a token-API app on each refresh token store: memory, Redis, a real 3-node Redis
    Cluster (the client a cluster deployment has: a script whose keys span slots fails
    there), the SQL adapter, and the SQL adapter through PgBouncer in transaction mode."""
    kind: str = request.param
    if kind == "pgbouncer":
        database_url = request.getfixturevalue("pgbouncer_database_url")
    with ExitStack() as stack:
        store: RedisTokenStore | None = redis_store if kind == "redis" else None
        if kind == "redis-cluster":
            cluster = request.getfixturevalue("redis_cluster")
            store = stack.enter_context(redis_token_store(cluster_client(cluster)))

        def make(**config: Any) -> Flask:
            if kind == "memory":
                return token_app(adapter=MemoryAdapter(), AUTH_SESSION_STRATEGY="jwt", **config)
            if store is not None:
                return token_app(store=store, **config)
            return sql_token_app(database_url, **config)

        yield make


def sql_token_app(database_url: str, **config: Any) -> Flask:
    """A token-API app whose refresh tokens live in the SQL adapter, tables created."""
    db = new_db()
    built = token_app(
        adapter=SQLAlchemyAdapter(db),
        AUTH_SESSION_STRATEGY="jwt",
        SQLALCHEMY_DATABASE_URI=database_url,
        **config,
    )
    db.init_app(built)
    track_app(built)
    with built.app_context():
        db.create_all()
    return built


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


def login(client: FlaskClient, username: str = "alice", password: str = "pw") -> Any:
    return client.post(f"{API}/token/login", json={"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_login_session_refresh_logout_as_nuxt_auth_local_does(app: Flask) -> None:
    client = app.test_client()
    response = login(client)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"token", "refreshToken", "expiresIn"} and body["expiresIn"] == 900
    assert "no-store" in response.headers["Cache-Control"]
    assert "Set-Cookie" not in response.headers
    session = client.get(f"{API}/session", headers=bearer(body["token"]))
    assert session.get_json()["user"]["name"] == "Alice"
    assert "Set-Cookie" not in session.headers
    assert client.get("/private", headers=bearer(body["token"])).get_json()["sub"] == "1"
    refreshed = client.post(f"{API}/token/refresh", json={"refreshToken": body["refreshToken"]})
    pair = refreshed.get_json()
    assert refreshed.status_code == 200 and pair["refreshToken"] != body["refreshToken"]
    assert client.get("/private", headers=bearer(pair["token"])).status_code == 200
    out = client.post(f"{API}/token/logout", json={"refreshToken": pair["refreshToken"]})
    assert out.status_code == 200
    again = client.post(f"{API}/token/refresh", json={"refreshToken": pair["refreshToken"]})
    assert again.status_code == 401


def test_claims_come_from_the_jwt_callback_with_signin_then_refresh() -> None:
    app = token_app(adapter=MemoryAdapter(), AUTH_SESSION_STRATEGY="jwt")
    client = app.test_client()
    body = login(client).get_json()
    claims = pyjwt.decode(body["token"], options={"verify_signature": False})
    assert (
        claims["role"] == "admin" and claims["sub"] == "1" and claims["exp"] - claims["iat"] == 900
    )
    assert {"jti", "sid"} <= set(claims)
    client.post(f"{API}/token/refresh", json={"refreshToken": body["refreshToken"]})
    assert app.extensions["triggers"] == ["signIn", "refresh"]


def test_reuse_after_rotation_revokes_the_family(make_app: Callable[..., Flask]) -> None:
    app = make_app(AUTH_TOKEN_REUSE_GRACE=0)
    client = app.test_client()
    first = login(client).get_json()["refreshToken"]
    second = client.post(f"{API}/token/refresh", json={"refreshToken": first}).get_json()
    time.sleep(0.01)
    stolen = client.post(f"{API}/token/refresh", json={"refreshToken": first})
    assert stolen.status_code == 401
    # The thief's replay revoked the family: the legitimate newer token is dead too.
    legit = client.post(f"{API}/token/refresh", json={"refreshToken": second["refreshToken"]})
    assert legit.status_code == 401


def test_a_retry_within_the_grace_gets_the_same_successor(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    first = login(client).get_json()["refreshToken"]
    answer = client.post(f"{API}/token/refresh", json={"refreshToken": first}).get_json()
    # The answer was lost; the client retries with the token it has.
    again = client.post(f"{API}/token/refresh", json={"refreshToken": first})
    assert again.status_code == 200
    assert again.get_json()["refreshToken"] == answer["refreshToken"] != first
    assert client.get("/private", headers=bearer(again.get_json()["token"])).status_code == 200
    # Once the successor is used, the old token gets nothing more, and revokes nothing.
    latest = client.post(f"{API}/token/refresh", json={"refreshToken": answer["refreshToken"]})
    assert latest.status_code == 200
    late = client.post(f"{API}/token/refresh", json={"refreshToken": first})
    assert late.status_code == 401
    assert late.get_json()["error_description"] == "refresh token already used"
    newest = latest.get_json()["refreshToken"]
    assert client.post(f"{API}/token/refresh", json={"refreshToken": newest}).status_code == 200


def test_fifty_refreshes_at_once_get_the_same_pair_and_the_family_survives(app: Flask) -> None:
    """50 requests race with one refresh token (on a Redis Cluster too): nobody is refused."""
    client = app.test_client()
    first = login(client).get_json()["refreshToken"]
    results: list[Any] = []
    barrier = threading.Barrier(50)

    def refresh() -> None:
        with app.test_client() as own:
            barrier.wait()
            results.append(own.post(f"{API}/token/refresh", json={"refreshToken": first}))

    threads = [threading.Thread(target=refresh) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in results] == [200] * 50
    # Within the grace period all get the one successor; nothing is revoked.
    successors = {r.get_json()["refreshToken"] for r in results}
    assert len(successors) == 1
    ok = client.post(f"{API}/token/refresh", json={"refreshToken": successors.pop()})
    assert ok.status_code == 200


def test_logout_with_the_access_token_revokes_the_family() -> None:
    app = token_app(adapter=MemoryAdapter(), AUTH_SESSION_STRATEGY="jwt")
    client = app.test_client()
    body = login(client).get_json()
    assert client.post(f"{API}/token/logout", headers=bearer(body["token"])).status_code == 200
    refused = client.post(f"{API}/token/refresh", json={"refreshToken": body["refreshToken"]})
    assert refused.status_code == 401


def test_wrong_credentials_and_bad_bodies() -> None:
    client = token_app(adapter=MemoryAdapter(), AUTH_SESSION_STRATEGY="jwt").test_client()
    assert login(client, password="nope").status_code == 401
    for body in (["alice"], "alice", 5, None):
        assert client.post(f"{API}/token/login", json=body).status_code == 400
    assert client.post(f"{API}/token/login", data="x=1").status_code == 400
    bad = client.post(f"{API}/token/login", json={"username": ["alice"], "password": "pw"})
    assert bad.status_code == 400
    for refresh in ({}, {"refreshToken": 5}, ["x"], {"refreshToken": "x" * 5000}):
        assert client.post(f"{API}/token/refresh", json=refresh).status_code == 400
    unknown = client.post(f"{API}/token/refresh", json={"refreshToken": "a" * 43})
    assert unknown.status_code == 401


def forged_tokens(valid: str) -> dict[str, str]:
    header, payload, signature = valid.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    session_cookie = encode({"sub": "1", "name": "A"}, secret=SECRET, salt="authjs.session-token")
    return {
        "expired": pyjwt.encode(
            {**claims, "exp": int(time.time()) - 3600}, "k" * 32, algorithm="HS256"
        ),
        "tampered": f"{header}.{payload[:-2]}AA.{signature}",
        "alg_none": f"{none_header}.{payload}.",
        "other_key": pyjwt.encode(claims, "another-key-" + "x" * 32, algorithm="HS256"),
        "session_cookie_as_bearer": session_cookie,
        "garbage": "a.b.c",
    }


BAD_HEADERS = [
    "abc.def.ghi",  # no scheme
    "Bearer a.b.c d.e.f",  # two tokens
    "Bearer " + "x" * 8192,  # 8 KB of junk
    "Bearer %7Bbad%zz",  # bad percent-encoding
    "Bearer",
]


def test_bad_bearer_tokens_get_401_with_the_challenge() -> None:
    app = token_app(adapter=MemoryAdapter(), AUTH_SESSION_STRATEGY="jwt")
    client = app.test_client()
    valid = login(client).get_json()["token"]
    headers = [f"Bearer {t}" for t in forged_tokens(valid).values()] + BAD_HEADERS
    for header in headers:
        for path in ("/private", f"{API}/session"):
            response = client.get(path, headers={"Authorization": header})
            assert response.status_code == 401, (header[:40], path)
            assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
            assert response.get_json()["error"] == "invalid_token"
    # Another scheme is not ours: the request is simply signed out.
    basic = client.get(f"{API}/session", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert basic.status_code == 200 and basic.get_json() is None


def test_audience_and_issuer_are_checked() -> None:
    strict = token_app(
        adapter=MemoryAdapter(),
        AUTH_SESSION_STRATEGY="jwt",
        AUTH_TOKEN_ISSUER="https://auth.example",
        AUTH_TOKEN_AUDIENCE="api",
    )
    loose = token_app(adapter=MemoryAdapter(), AUTH_SESSION_STRATEGY="jwt")
    token = login(loose.test_client()).get_json()["token"]
    response = strict.test_client().get("/private", headers=bearer(token))
    assert response.status_code == 401
    good = login(strict.test_client()).get_json()["token"]
    claims = pyjwt.decode(good, options={"verify_signature": False})
    assert claims["iss"] == "https://auth.example" and claims["aud"] == "api"
    assert strict.test_client().get("/private", headers=bearer(good)).status_code == 200


def test_es256_tokens_verify_with_the_published_jwks() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    app = token_app(
        adapter=MemoryAdapter(),
        AUTH_SESSION_STRATEGY="jwt",
        AUTH_TOKEN_ALGORITHM="ES256",
        AUTH_TOKEN_PRIVATE_KEY=pem,
    )
    client = app.test_client()
    token = login(client).get_json()["token"]
    jwks = client.get(f"{API}/jwks").get_json()
    assert "d" not in jwks["keys"][0]  # public only
    # Another service verifies with the JWKS alone, as PyJWT's PyJWKClient would.
    public = pyjwt.PyJWK(jwks["keys"][0]).key
    assert pyjwt.decode(token, public, algorithms=["ES256"])["sub"] == "1"
    # HS256 signed with the public key (the classic confusion attack) is refused.
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = pyjwt.decode(token, options={"verify_signature": False})
    confused = _hs256_with(public_pem, claims)
    assert client.get("/private", headers=bearer(confused)).status_code == 401


def _hs256_with(key: bytes, claims: dict[str, Any]) -> str:
    """HS256 by hand with a PEM as the HMAC key (PyJWT itself refuses to do this)."""
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing = f"{header}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{b64(signature)}"


def test_jwks_is_404_for_hs256() -> None:
    client = token_app(adapter=MemoryAdapter(), AUTH_SESSION_STRATEGY="jwt").test_client()
    assert client.get(f"{API}/jwks").status_code == 404


def test_routes_exist_only_when_enabled_and_take_no_cookies() -> None:
    plain = build_app().test_client()
    assert plain.post(f"{API}/token/login", json={}).status_code == 404
    app = token_app(adapter=MemoryAdapter(), AUTH_SESSION_STRATEGY="jwt")
    client = app.test_client()
    client.set_cookie("authjs.session-token", "whatever")
    assert login(client).status_code == 200  # no CSRF needed: no cookie is used


def test_cookie_routes_keep_their_csrf_protection() -> None:
    client = token_app(adapter=MemoryAdapter(), AUTH_SESSION_STRATEGY="jwt").test_client()
    data = {"username": "alice", "password": "pw"}
    response = client.post(f"{API}/callback/credentials", data=data)
    assert "error=MissingCSRF" in response.headers["Location"]


def test_custom_paths() -> None:
    app = token_app(
        adapter=MemoryAdapter(),
        AUTH_SESSION_STRATEGY="jwt",
        AUTH_TOKEN_PATHS={"login": "/login", "refresh": "/refresh", "logout": "/logout"},
    )
    client = app.test_client()
    body = client.post(f"{API}/login", json={"username": "alice", "password": "pw"}).get_json()
    assert (
        client.post(f"{API}/refresh", json={"refreshToken": body["refreshToken"]}).status_code
        == 200
    )


def test_misconfiguration_refuses_to_start() -> None:
    with pytest.raises(ConfigurationError, match="refresh token store"):
        token_app()
    with pytest.raises(ConfigurationError, match="AUTH_TOKEN_PRIVATE_KEY"):
        token_app(
            adapter=MemoryAdapter(), AUTH_SESSION_STRATEGY="jwt", AUTH_TOKEN_ALGORITHM="RS256"
        )
    with pytest.raises(ConfigurationError, match="AUTH_TOKEN_ALGORITHM"):
        token_app(adapter=MemoryAdapter(), AUTH_SESSION_STRATEGY="jwt", AUTH_TOKEN_ALGORITHM="none")


def test_a_jwt_callback_that_raises_refuses_login_cleanly() -> None:
    app = Flask(__name__)
    app.config.update(TESTING=True, AUTH_SECRET=SECRET, AUTH_TOKEN_API=True)
    auth: AuthExt[Any] = AuthExt(
        app, providers=[Credentials(authorize=authorize)], adapter=MemoryAdapter()
    )

    @auth.jwt_callback
    def jwt(token: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom")

    response = login(app.test_client())
    assert response.status_code == 403
    assert response.get_json()["error"] == "AccessDenied"


def test_a_revoke_during_a_refresh_wins(make_app: Callable[..., Flask]) -> None:
    """Logout lands after a refresh read the old token but before it rotated it."""
    app = make_app()
    client = app.test_client()
    first = login(client).get_json()
    store = app.extensions["sessionext"].token_store
    rotating = store.rotate_refresh_token

    def rotate_after_a_logout(*args: Any, **kwargs: Any) -> bool:
        client.post(f"{API}/token/logout", headers=bearer(first["token"]))
        return bool(rotating(*args, **kwargs))

    store.rotate_refresh_token = rotate_after_a_logout
    try:
        refreshed = client.post(
            f"{API}/token/refresh", json={"refreshToken": first["refreshToken"]}
        )
    finally:
        store.rotate_refresh_token = rotating
    assert refreshed.status_code == 401


def test_weak_or_mismatched_keys_refuse_to_start() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    def pem(key: PrivateKeyTypes) -> str:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    p384 = pem(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(ConfigurationError, match="P-256"):
        token_app(
            adapter=MemoryAdapter(),
            AUTH_SESSION_STRATEGY="jwt",
            AUTH_TOKEN_ALGORITHM="ES256",
            AUTH_TOKEN_PRIVATE_KEY=p384,
        )
    small = pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))  # noqa: S505
    with pytest.raises(ConfigurationError, match="2048"):
        token_app(
            adapter=MemoryAdapter(),
            AUTH_SESSION_STRATEGY="jwt",
            AUTH_TOKEN_ALGORITHM="RS256",
            AUTH_TOKEN_PRIVATE_KEY=small,
        )
    with pytest.raises(ConfigurationError, match="PEM"):
        token_app(
            adapter=MemoryAdapter(),
            AUTH_SESSION_STRATEGY="jwt",
            AUTH_TOKEN_ALGORITHM="RS256",
            AUTH_TOKEN_PRIVATE_KEY="not a key",
        )


def test_token_login_and_logout_send_signals() -> None:
    from flask_sessionext import signals

    app = token_app(adapter=MemoryAdapter(), AUTH_SESSION_STRATEGY="jwt")
    events: list[str] = []
    signals.signed_in.connect(lambda s, **kw: events.append("in"), app, weak=False)
    signals.signed_out.connect(
        lambda s, **kw: events.append(f"out:{kw['user_id']}"), app, weak=False
    )
    client = app.test_client()
    body = login(client).get_json()
    client.post(f"{API}/token/logout", json={"refreshToken": body["refreshToken"]})
    assert events == ["in", "out:1"]


def test_get_token_reads_the_bearer_claims_with_the_database_strategy() -> None:
    app = token_app(adapter=MemoryAdapter())  # the database strategy for cookies
    assert app.extensions["sessionext"].config.strategy == "database"
    client = app.test_client()
    token = login(client).get_json()["token"]
    assert client.get("/private", headers=bearer(token)).get_json()["sub"] == "1"


def test_a_redis_cluster_node_down_answers_503_and_keeps_the_tokens() -> None:
    """The node holding the store's slot stops: 503 JSON, never a 500 or a sign-out."""
    with running_cluster() as cluster:  # its own cluster: this test stops a node of it
        # No retries: redis-py's default retries with backoff for seconds before it fails.
        store = RedisTokenStore(
            RedisCluster(host="127.0.0.1", port=cluster.ports[0], retry=Retry(NoBackoff(), 0))
        )
        app = token_app(store=store)
        client = app.test_client()
        first = login(client).get_json()
        node = store.client.get_node_from_key(store.prefix)
        with redis.Redis(host=node.host, port=node.port) as direct:
            os.kill(direct.info("server")["process_id"], signal.SIGKILL)
        for response in (
            login(client),
            client.post(f"{API}/token/refresh", json={"refreshToken": first["refreshToken"]}),
            client.post(f"{API}/token/logout", json={"refreshToken": first["refreshToken"]}),
        ):
            assert response.status_code == 503, response.data[:300]
            assert response.is_json
        # The access token needs no store: it still works while the store is down.
        assert client.get("/private", headers=bearer(first["token"])).status_code == 200
        store.client.close()


def test_a_prefix_with_braces_or_none_refuses_to_start() -> None:
    client = redis.Redis(host="127.0.0.1", port=6379)
    for prefix in ("", "app:{tag}:", "a}"):
        with pytest.raises(ConfigurationError, match="prefix"):
            RedisTokenStore(client, prefix=prefix)
    client.close()
