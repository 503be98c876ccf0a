"""Token decode alone: flask-sessionext, joserfc with a cached key, and @auth/core in Node.

One cookie, encoded once, is decoded by each decoder in turn, once per repetition:

- ``flask_sessionext.jwt.decode``: no cache of decoded tokens (the key derivation is cached
  by ``derive_key``, as in the library); matches the ``kid`` and checks ``exp``/``nbf``/``iat``.
- joserfc ``decrypt_compact`` plus ``json.loads`` with a key derived once: no claim checks.
- ``@auth/core``'s ``decode()`` in Node (``authjs_decode.mjs``), single flight: each decode
  awaited before the next starts. It derives its key with HKDF on every call, as Auth.js does.

Node runs in a process of its own per repetition, between the Python decoders' turns, so
drift of the machine lands on all three alike; its process start-up is outside its timing.
"""

from __future__ import annotations

import gc
import json
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from joserfc import jwe
from variants import NAME, SECRET, SESSION_COOKIE, fresh_tokens

from flask_sessionext.jwt import decode, derive_key

HERE = Path(__file__).resolve().parent
NODE_SCRIPT = HERE / "authjs_decode.mjs"
#: Where ``npm ci --prefix tests`` puts ``@auth/core`` (the version tests/package.json pins).
NODE_MODULES = HERE.parent / "tests" / "node_modules"
AUTHJS_KEY = "authjs_decode"


def summarize(values: list[float]) -> dict[str, float]:
    """Median, min and max of one decoder's repetitions."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def python_decoders(token: str) -> list[tuple[str, str, Callable[[], Any]]]:
    """The Python decoders: flask-sessionext's ``decode`` and bare joserfc."""
    key, _kid = derive_key(SECRET, SESSION_COOKIE)
    algorithms = ["dir", "A256CBC-HS512"]

    def sessionext_decode() -> Any:
        return decode(token, secret=SECRET, salt=SESSION_COOKIE)

    def joserfc_decode() -> Any:
        return json.loads(jwe.decrypt_compact(token, key, algorithms=algorithms).plaintext or b"")

    for fn in (sessionext_decode, joserfc_decode):
        if fn()["name"] != NAME:
            raise RuntimeError(f"{fn.__name__} did not read the token's name claim")
    return [
        ("sessionext_decode", "flask_sessionext.jwt.decode", sessionext_decode),
        ("joserfc_decode", "joserfc decrypt_compact + json.loads, cached key", joserfc_decode),
    ]


def time_calls(fn: Callable[[], Any], count: int) -> float:
    """Calls per second of ``fn`` over ``count`` calls, collector paused as for requests."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in range(count):
            fn()
        return count / ((time.perf_counter_ns() - start) / 1e9)
    finally:
        gc.enable()


def node_missing() -> str | None:
    """Why @auth/core's decode cannot run here, or ``None`` when it can."""
    if shutil.which("node") is None:
        return "`node` is not on PATH"
    if not (NODE_MODULES / "@auth" / "core" / "package.json").is_file():
        return f"@auth/core is not installed in {NODE_MODULES} (run `npm ci --prefix tests`)"
    return None


def authjs_decode(token: str, warmup: int, count: int) -> dict[str, Any]:
    """One Node process: ``warmup`` untimed then ``count`` timed single-flight decodes."""
    node = shutil.which("node") or "node"
    job = {
        "token": token,
        "secret": SECRET,
        "salt": SESSION_COOKIE,
        "warmup": warmup,
        "count": count,
        "name": NAME,
    }
    done = subprocess.run(
        [node, str(NODE_SCRIPT), str(NODE_MODULES)],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"authjs_decode.mjs failed ({done.returncode}): {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def run_decodes(
    reps: int, count: int, warmup: int, node: bool, node_count: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Decodes per second of each decoder, one value per repetition, interleaved.

    ``node`` false, or Node or @auth/core missing, leaves @auth/core out; the second value is
    then a note saying why (else ``None``).
    """
    token = fresh_tokens(1)[0]
    candidates = python_decoders(token)
    note = None if node else "@auth/core decode() skipped in smoke mode"
    if node and (missing := node_missing()) is not None:
        note = f"@auth/core decode() skipped: {missing}"
    rates: dict[str, list[float]] = {key: [] for key, _, _ in candidates}
    versions: dict[str, str] = {}
    if note is None:
        rates[AUTHJS_KEY] = []
    for _, _, fn in candidates:
        time_calls(fn, warmup)
    for _ in range(reps):
        for key, _, fn in candidates:
            rates[key].append(time_calls(fn, count))
        if note is None:
            result = authjs_decode(token, warmup, node_count)
            rates[AUTHJS_KEY].append(result["ops_per_s"])
            versions = {"node": result["node"], "authjs": result["authjs"]}
    labels = {key: label for key, label, _ in candidates}
    if note is None:
        labels[AUTHJS_KEY] = (
            f"@auth/core {versions['authjs']} decode() in Node {versions['node']}, single flight"
        )
    rows = [
        {"key": key, "label": labels[key], "ops_per_s": values, "ops": summarize(values)}
        for key, values in rates.items()
    ]
    if note is None:
        base = rates[AUTHJS_KEY]
        for row in rows:
            ratios = [ops / ref for ops, ref in zip(row["ops_per_s"], base, strict=True)]
            row["ratios_to_authjs"] = ratios
            row["ratio_to_authjs"] = summarize(ratios)
    return rows, note
