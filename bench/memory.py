"""Memory over many requests with many distinct cookies: is the process's size bounded?

The JWT-strategy app (the same as the benchmark's) is called as WSGI ``requests`` times,
cycling through ``distinct`` session cookies, each a real token of its own (encoded before
the run). With more distinct cookies than the decoded-token cache holds, cycling through them
in order makes every request a cache miss and an eviction: the worst case for a cache, and
the case where an unbounded one would grow by one entry a request.

The resident set size is read from ``/proc/self/statm`` before the first request and after
every tenth of the run; the cache's own ``cache_info()`` is read at the end. The environ of
each request is a copy of one built once, with the cookie swapped in; the collector runs as
in any process.
"""

from __future__ import annotations

import gc
import os
import resource
import time
from pathlib import Path
from typing import Any

from variants import NAME, SESSION_COOKIE, build_environ, fresh_tokens, sessionext_app

from flask_sessionext.cookies import _parsed
from flask_sessionext.extension import TOKEN_CACHE_SIZE

PAGE = os.sysconf("SC_PAGE_SIZE")
#: How much the RSS may grow from the first sample (cache already full) to the last and still
#: count as flat: allocator noise, not a leak of one entry per request.
FLAT_BYTES = 4 * 1024 * 1024


def rss_bytes() -> int:
    """The process's resident set size now (``/proc/self/statm``), or its peak elsewhere."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class MemoryFailure(Exception):
    """A request answered something other than 200 with the user's name."""


def run_memory(requests: int, distinct: int, samples: int = 10) -> dict[str, Any]:
    """Serve ``requests`` requests over ``distinct`` cookies; RSS samples and the cache state."""
    app = sessionext_app()
    state = app.extensions["sessionext"]
    started = time.perf_counter()
    cookies = [f"{SESSION_COOKIE}={token}" for token in fresh_tokens(distinct)]
    encode_seconds = time.perf_counter() - started
    base = build_environ()
    failures: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if not status.startswith("200"):
            failures.append(status)
        elif any(name.lower() == "set-cookie" for name, _ in headers):
            failures.append(f"{status} with Set-Cookie")
        return lambda data: None

    every = max(1, requests // samples)
    gc.collect()
    points = [{"requests": 0, "rss": rss_bytes(), "objects": len(gc.get_objects())}]
    started = time.perf_counter()
    for i in range(requests):
        environ = base.copy()
        environ["HTTP_COOKIE"] = cookies[i % distinct]
        body = app(environ, start_response)
        data = b"".join(body)
        close = getattr(body, "close", None)
        if close is not None:
            close()
        if data != NAME.encode():
            failures.append(f"body {data[:40]!r}")
        if failures:
            raise MemoryFailure(f"request {i}: {failures[0]}")
        if (i + 1) % every == 0 or i + 1 == requests:
            points.append({"requests": i + 1, "rss": rss_bytes(), "objects": len(gc.get_objects())})
    seconds = time.perf_counter() - started
    info = state._decoded.cache_info()
    headers = _parsed.cache_info()
    # The reference is the first sample taken once the cache has been full for a while: the
    # growth up to there is the cache filling, which a bounded cache does once.
    first = next(
        (point for point in points if point["requests"] >= 2 * TOKEN_CACHE_SIZE), points[-1]
    )
    last = points[-1]
    growth = last["rss"] - first["rss"]
    return {
        "requests": requests,
        "distinct": distinct,
        "seconds": round(seconds, 1),
        "encode_seconds": round(encode_seconds, 1),
        "samples": points,
        "rss_start": points[0]["rss"],
        "rss_first": first["rss"],
        "first_requests": first["requests"],
        "rss_last": last["rss"],
        "rss_highest": max(point["rss"] for point in points),
        "rss_growth": growth,
        "flat_bytes": FLAT_BYTES,
        "flat": growth <= FLAT_BYTES,
        "cache": {
            "maxsize": info.maxsize,
            "currsize": info.currsize,
            "hits": info.hits,
            "misses": info.misses,
            "configured": TOKEN_CACHE_SIZE,
        },
        "header_cache": {"maxsize": headers.maxsize, "currsize": headers.currsize},
        "bounded": all(c.maxsize is not None and c.currsize <= c.maxsize for c in (info, headers)),
    }
