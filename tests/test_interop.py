"""Wire interop with the real Auth.js: ``@auth/core`` 0.41.3 from npm (``tests/package.json``).

``tests/interop/authjs.mjs`` runs ``@auth/core``'s own ``encode``, ``decode``, ``getToken`` and
``SessionStore``. Node starts twice for the whole module: once for every token Auth.js makes
(:func:`made_by_authjs`), once for every token this package makes that Auth.js must read
(:func:`read_by_authjs`); the tests only check the results.

Set up with ``npm ci --prefix tests``. Without ``node`` or ``tests/node_modules/@auth/core``
these tests skip, except when ``CI`` is set: there they fail, so CI never skips them silently.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, jsonify
from flask.testing import FlaskClient
from joserfc import jwe
from joserfc.jwk import OctKey

from flask_sessionext import AuthExt, get_token
from flask_sessionext import jwt as sjwt
from flask_sessionext.cookies import CHUNK_SIZE
from flask_sessionext.errors import TokenError
from flask_sessionext.providers import Credentials

from .requirements import require_node, run_node

HERE = Path(__file__).parent
SCRIPT = HERE / "interop" / "authjs.mjs"
AUTH_CORE = HERE / "node_modules" / "@auth" / "core" / "package.json"
AUTH_CORE_VERSION = "0.41.3"

PLAIN = "authjs.session-token"
SECURE = "__Secure-authjs.session-token"
SALTS = pytest.mark.parametrize("salt", [PLAIN, SECURE], ids=["plain", "secure"])

SECRET = "interop-secret-0123456789-abcdefghijkl"
OLD = "interop-old-secret-0123456789-abcdefghij"
NEW = "interop-new-secret-0123456789-abcdefghij"
STRANGER = "interop-unknown-secret-0123456789-abcdef"
MAX_AGE = 3600

CLAIMS: dict[str, Any] = {
    "name": "Zoë Ångström-東京 🔐",
    "email": "zoë@exämple.org",
    "picture": "https://example.org/ü.png",
    "sub": "user-42",
    "roles": ["admin", "éditeur", "管理者"],
    "org": {
        "name": "Ærøskøbing ApS",
        "ids": [1, 2, 3],
        "meta": {"emoji": "🔐🧪", "none": None, "ok": True, "ratio": 0.25, "empty": {}},
    },
    "quote": 'a "quoted" \\ back\\slash\nnew line\ttab \u2028',
}
#: A claim that makes the token longer than one cookie (3936 characters): it is chunked.
BIG = "ä" * 3000 + "x" * 3000

#: The key derivation test vector of docs/internals.rst ("Invariants").
VECTOR_SECRET = "test-secret-0123456789"
VECTOR_KEY = (
    "0fb7bdf9ee95400dc108f6791606e718263f71a12e4db20cce7d9f1cbe082eede750c5041ca27e1a6910fb74"
    "a34ead6f97054ff72911ffb703361a4cf4a67b0c"
)
VECTOR_KID = (
    "yZq0VKUFxGPe6joDwtE4I9BXjeizrRxWUQN0xgDaYv_uysdy7o45BFZBGUCLSz-YYwapLHH5EOzCxCnaN_w53Q"
)


# --- running @auth/core ---------------------------------------------------------------------


def _require_node() -> str:
    """The ``node`` executable; skip (fail on CI) when it or ``@auth/core`` is missing."""
    return require_node("@auth/core", what="Auth.js interop")


def authjs(node: str, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run a batch of operations in one Node process; see ``tests/interop/authjs.mjs``."""
    results: list[dict[str, Any]] = run_node(node, SCRIPT, stdin=json.dumps(ops))
    assert len(results) == len(ops)
    return results


def batch(node: str, ops: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """:func:`authjs` with each operation named; the results by the same names."""
    return dict(zip(ops, authjs(node, list(ops.values())), strict=True))


def ok(result: dict[str, Any]) -> dict[str, Any]:
    assert result["ok"], f"@auth/core refused: {result['error']}"
    return result


def header(token: str) -> dict[str, Any]:
    """The protected header of a compact JWE."""
    segment = token.split(".", 1)[0]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


def without_registered(claims: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in claims.items() if k not in ("iat", "exp", "jti")}


def assert_registered(claims: Mapping[str, Any], max_age: int) -> None:
    """``iat``, ``exp`` = ``iat`` + max age and a UUID ``jti``, as both sides write them."""
    assert isinstance(claims["iat"], int)
    assert claims["exp"] - claims["iat"] == max_age
    assert str(uuid.UUID(claims["jti"])) == claims["jti"]


# --- a Flask app using the package ----------------------------------------------------------


def make_app(*, big_claim: bool = False) -> Flask:
    app = Flask(__name__)
    app.config.update(AUTH_SECRET=SECRET, TESTING=True)
    auth = AuthExt(
        app,
        providers=[
            Credentials(
                authorize=lambda c: {
                    "id": "42",
                    "name": c.get("username"),
                    "email": CLAIMS["email"],
                }
            )
        ],
    )
    if big_claim:

        @auth.jwt_callback
        def jwt(token: dict[str, Any], user: dict[str, Any] | None = None) -> dict[str, Any]:
            if user:
                token["blob"] = BIG
                token["org"] = CLAIMS["org"]
            return token

    @app.get("/whoami")
    def whoami() -> Any:
        return jsonify(token=get_token(), raw=get_token(raw=True))

    return app


def base_url(salt: str) -> str:
    """The app's origin: https gives the ``__Secure-`` cookie names."""
    return "https://localhost" if salt == SECURE else "http://localhost"


def set_cookies(response_headers: list[str]) -> dict[str, str]:
    """The ``name=value`` of each ``Set-Cookie`` header that sets (not expires) a cookie."""
    found = {}
    for line in response_headers:
        pair, _, attributes = line.partition(";")
        name, _, value = pair.strip().partition("=")
        if value and "max-age=0" not in attributes.lower().replace(" ", ""):
            found[name] = value
    return found


def sign_in(client: FlaskClient, salt: str, username: str) -> dict[str, str]:
    """Sign in with credentials as a browser does; return the session cookies it was given."""
    url = base_url(salt)
    csrf = client.get("/api/auth/csrf", base_url=url).get_json()["csrfToken"]
    response = client.post(
        "/api/auth/callback/credentials",
        data={"csrfToken": csrf, "username": username, "password": "pw", "callbackUrl": "/"},
        base_url=url,
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == f"{url}/"
    cookies = set_cookies(response.headers.getlist("Set-Cookie"))
    return {k: v for k, v in cookies.items() if k == salt or k.startswith(salt + ".")}


# --- the two batches ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node() -> str:
    return _require_node()


@pytest.fixture(scope="module")
def made_by_authjs(node: str) -> dict[str, dict[str, Any]]:
    """Every token and cookie @auth/core makes for these tests, in one Node run."""
    ops: dict[str, dict[str, Any]] = {}
    for salt in (PLAIN, SECURE):
        common = {"claims": CLAIMS, "salt": salt, "maxAge": MAX_AGE}
        ops[f"plain {salt}"] = {"op": "encode", "secret": SECRET, **common}
        ops[f"rotated {salt}"] = {"op": "encode", "secret": [NEW, OLD], **common}
        ops[f"gcm {salt}"] = {"op": "encryptGcm", "secret": SECRET, **common}
        ops[f"gcm-kid {salt}"] = {"op": "encryptGcm", "secret": SECRET, "kid": True, **common}
        ops[f"big {salt}"] = {
            "op": "sessionCookies",
            "secret": SECRET,
            **common,
            "claims": {**CLAIMS, "blob": BIG},
        }
        for enc in ("A256CBC-HS512", "A256GCM"):
            ops[f"key {enc} {salt}"] = {
                "op": "deriveKey",
                "secret": SECRET,
                "salt": salt,
                "enc": enc,
            }
    ops["vector key"] = {"op": "deriveKey", "secret": VECTOR_SECRET, "salt": PLAIN}
    ops["vector token"] = {
        "op": "encode",
        "claims": {"sub": "1"},
        "secret": VECTOR_SECRET,
        "salt": PLAIN,
    }
    return {name: ok(result) for name, result in batch(node, ops).items()}


@pytest.fixture(scope="module")
def read_by_authjs(node: str) -> dict[str, Any]:
    """Tokens and cookies this package makes, and what @auth/core reads in them, in one run."""
    ops: dict[str, dict[str, Any]] = {}
    made: dict[str, Any] = {}
    for salt in (PLAIN, SECURE):
        plain = sjwt.encode(CLAIMS, secret=SECRET, salt=salt, max_age=MAX_AGE)
        rotated = sjwt.encode(CLAIMS, secret=[NEW, OLD], salt=salt, max_age=MAX_AGE)
        made[f"plain {salt}"], made[f"rotated {salt}"] = plain, rotated
        ops[f"plain {salt}"] = {"op": "decode", "token": plain, "secret": SECRET, "salt": salt}
        ops[f"rotated {salt}"] = {
            "op": "decode",
            "token": rotated,
            "secret": [OLD, NEW],
            "salt": salt,
        }
        ops[f"rotated, old secret only {salt}"] = {
            "op": "decode",
            "token": rotated,
            "secret": [OLD, STRANGER],
            "salt": salt,
        }

        # Sign in through the Flask app: the jwt callback makes the token need several cookies.
        client = make_app(big_claim=True).test_client()
        cookies = sign_in(client, salt, CLAIMS["name"])
        made[f"cookies {salt}"] = cookies
        names = sorted(cookies, key=lambda name: int(name.rsplit(".", 1)[1]))
        joined = "".join(cookies[name] for name in names)
        ops[f"signed in {salt}"] = {"op": "decode", "token": joined, "secret": SECRET, "salt": salt}
        # Auth.js's getToken joins the chunks itself from a Cookie header (here in reverse order).
        reordered = list(reversed(cookies.items()))
        header_value = "; ".join(
            ["theme=dark", "authjs.csrf-token=abc"]
            + [f"{name}={value}" for name, value in reordered]
        )
        ops[f"getToken {salt}"] = {
            "op": "getToken",
            "cookie": header_value,
            "secret": SECRET,
            "salt": salt,
            "secureCookie": salt == SECURE,
        }
    return {"made": made, "read": batch(node, ops)}


# --- Auth.js -> flask_sessionext ------------------------------------------------------------


@SALTS
def test_authjs_token_decodes_here(made_by_authjs: dict[str, Any], salt: str) -> None:
    token = made_by_authjs[f"plain {salt}"]["token"]
    claims = sjwt.decode(token, secret=SECRET, salt=salt)
    assert without_registered(claims) == CLAIMS
    assert_registered(claims, MAX_AGE)
    _, kid = sjwt.derive_key(SECRET, salt)
    assert header(token) == {"alg": "dir", "enc": "A256CBC-HS512", "kid": kid}
    with pytest.raises(TokenError):  # the salt is the cookie name: the other one cannot read it
        sjwt.decode(token, secret=SECRET, salt=SECURE if salt == PLAIN else PLAIN)


@SALTS
def test_authjs_rotated_secret_decodes_here(made_by_authjs: dict[str, Any], salt: str) -> None:
    token = made_by_authjs[f"rotated {salt}"]["token"]  # encrypted with NEW
    accepted: list[Sequence[str]] = [[OLD, NEW], [NEW, OLD], [NEW], [STRANGER, OLD, NEW]]
    for secrets in accepted:
        assert without_registered(sjwt.decode(token, secret=secrets, salt=salt)) == CLAIMS
    refused: list[str | Sequence[str]] = [[OLD], OLD, [STRANGER, OLD], SECRET]
    for secrets in refused:
        with pytest.raises(TokenError):
            sjwt.decode(token, secret=secrets, salt=salt)


@SALTS
def test_authjs_derived_keys_match(made_by_authjs: dict[str, Any], salt: str) -> None:
    cbc = made_by_authjs[f"key A256CBC-HS512 {salt}"]
    key, kid = sjwt.derive_key(SECRET, salt)
    assert (key.raw_value.hex(), kid) == (cbc["key"], cbc["kid"])
    gcm = made_by_authjs[f"key A256GCM {salt}"]
    key, _ = sjwt.derive_key(SECRET, salt, "A256GCM")
    assert key.raw_value.hex() == gcm["key"]


@SALTS
def test_a256gcm_token_decodes_here(made_by_authjs: dict[str, Any], salt: str) -> None:
    made = made_by_authjs[f"gcm {salt}"]
    token = made["token"]
    assert header(token) == {"alg": "dir", "enc": "A256GCM"}
    assert without_registered(made["authjs"]) == CLAIMS  # @auth/core's decode accepts it
    claims = sjwt.decode(token, secret=SECRET, salt=salt)
    assert without_registered(claims) == CLAIMS
    assert_registered(claims, MAX_AGE)


@SALTS
def test_a256gcm_token_with_authjs_kid_decodes_here(
    made_by_authjs: dict[str, Any], salt: str
) -> None:
    made = made_by_authjs[f"gcm-kid {salt}"]
    token = made["token"]
    assert header(token)["kid"] == made_by_authjs[f"key A256GCM {salt}"]["kid"]
    assert without_registered(made["authjs"]) == CLAIMS  # @auth/core's decode accepts it
    claims = sjwt.decode(token, secret=SECRET, salt=salt)
    assert without_registered(claims) == CLAIMS


@SALTS
def test_authjs_chunked_cookie_reads_in_flask(made_by_authjs: dict[str, Any], salt: str) -> None:
    made = made_by_authjs[f"big {salt}"]
    token, cookies = made["token"], made["cookies"]
    assert len(token) > CHUNK_SIZE
    # Auth.js's chunk size and names are ours.
    assert [c["name"] for c in cookies] == [f"{salt}.{i}" for i in range(len(cookies))]
    assert [c["value"] for c in cookies] == [
        token[i : i + CHUNK_SIZE] for i in range(0, len(token), CHUNK_SIZE)
    ]
    assert CHUNK_SIZE == 3936

    client = make_app().test_client()
    for cookie in reversed(cookies):
        client.set_cookie(cookie["name"], cookie["value"])
    url = base_url(salt)

    seen = client.get("/whoami", base_url=url).get_json()
    assert seen["raw"] == token
    assert without_registered(seen["token"]) == {**CLAIMS, "blob": BIG}
    assert_registered(seen["token"], MAX_AGE)

    session = client.get("/api/auth/session", base_url=url).get_json()
    user = {"name": CLAIMS["name"], "email": CLAIMS["email"], "image": CLAIMS["picture"]}
    assert session["user"] == user
    assert session["expires"].endswith("Z")


@SALTS
def test_authjs_cookie_with_unknown_secret_is_no_session(
    made_by_authjs: dict[str, Any], salt: str
) -> None:
    client = make_app().test_client()  # its secret is SECRET, the token's is NEW
    client.set_cookie(salt, made_by_authjs[f"rotated {salt}"]["token"])
    url = base_url(salt)
    assert client.get("/whoami", base_url=url).get_json()["token"] is None
    client.set_cookie(salt, made_by_authjs[f"rotated {salt}"]["token"])  # /whoami cleared it
    response = client.get("/api/auth/session", base_url=url)
    assert response.get_json() is None
    expired = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{salt}=;")]
    assert expired, "the stale session cookie is cleared"


# --- flask_sessionext -> Auth.js ------------------------------------------------------------


@SALTS
def test_token_made_here_decodes_in_authjs(read_by_authjs: dict[str, Any], salt: str) -> None:
    claims = ok(read_by_authjs["read"][f"plain {salt}"])["claims"]
    assert without_registered(claims) == CLAIMS
    assert_registered(claims, MAX_AGE)
    assert claims == sjwt.decode(read_by_authjs["made"][f"plain {salt}"], secret=SECRET, salt=salt)


@SALTS
def test_rotated_secret_made_here_decodes_in_authjs(
    read_by_authjs: dict[str, Any], salt: str
) -> None:
    read = read_by_authjs["read"]
    assert without_registered(ok(read[f"rotated {salt}"])["claims"]) == CLAIMS
    refused = read[f"rotated, old secret only {salt}"]
    assert not refused["ok"]
    assert "no matching decryption secret" in refused["error"]
    _, kid = sjwt.derive_key(NEW, salt)
    assert header(read_by_authjs["made"][f"rotated {salt}"])["kid"] == kid


@SALTS
def test_chunked_cookies_from_flask_signin_decode_in_authjs(
    read_by_authjs: dict[str, Any], salt: str
) -> None:
    cookies = read_by_authjs["made"][f"cookies {salt}"]
    count = len(cookies)
    assert count > 1
    assert set(cookies) == {f"{salt}.{i}" for i in range(count)}
    sizes = [len(cookies[f"{salt}.{i}"]) for i in range(count)]
    assert sizes[:-1] == [3936] * (count - 1)  # split as Auth.js's SessionStore splits
    assert 0 < sizes[-1] <= 3936
    expected = {
        "name": CLAIMS["name"],
        "email": CLAIMS["email"],
        "sub": "42",
        "blob": BIG,
        "org": CLAIMS["org"],
    }
    for op in ("signed in", "getToken"):
        claims = ok(read_by_authjs["read"][f"{op} {salt}"])["claims"]
        assert without_registered(claims) == expected, op
        assert_registered(claims, 30 * 24 * 60 * 60)


# --- the key derivation test vector (docs/internals.rst, "Invariants") ------------------------


def test_vector_here() -> None:
    key, kid = sjwt.derive_key(VECTOR_SECRET, PLAIN)
    assert key.raw_value.hex() == VECTOR_KEY
    assert kid == VECTOR_KID


def test_vector_in_authjs(made_by_authjs: dict[str, Any]) -> None:
    assert made_by_authjs["vector key"]["key"] == VECTOR_KEY
    assert made_by_authjs["vector key"]["kid"] == VECTOR_KID
    # A token from @auth/core's own encode carries the vector's kid and opens with its key.
    token = made_by_authjs["vector token"]["token"]
    assert header(token)["kid"] == VECTOR_KID
    key = OctKey.import_key(bytes.fromhex(VECTOR_KEY))
    message = jwe.decrypt_compact(token, key, algorithms=["dir", "A256CBC-HS512"])
    assert json.loads(message.plaintext or b"")["sub"] == "1"


def test_pinned_authjs_version(node: str) -> None:
    assert json.loads(AUTH_CORE.read_text())["version"] == AUTH_CORE_VERSION
