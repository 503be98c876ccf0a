"""Instructions per protected GET, counted by valgrind's callgrind: a number the machine's load
does not move, for the headline variants (no server round trip, so nothing waits).

Each variant runs in a child process under ``valgrind --tool=callgrind`` twice, with the same
set-up and warm-up and ``0`` or ``calls`` timed requests; the difference of the two totals,
divided by ``calls``, is what one request costs. ``PYTHONHASHSEED=0`` in both, as string
hashes change dict probe lengths. The requests go through the WSGI timing loop of ``run.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from variants import (
    Variant,
    bare_flask,
    sessionext_app,
    sessionext_callbacks,
    sessionext_db,
    sessionext_signin,
    sessionext_warm,
    sqlite_url,
)

HERE = Path(__file__).resolve().parent
WARMUP = 100
CALLS = 1000
COLLECTED = re.compile(r"Collected : (\d+)")

#: The variants counted, bare Flask first, as the WSGI table labels them.
LABELS = {
    "bare": "bare Flask",
    "sessionext_callbacks": "flask-sessionext JWT, warm, README's callbacks",
    "sessionext_warm": "flask-sessionext JWT, warm, no callbacks",
    "sessionext_db_sqlite": "flask-sessionext database, SQLite",
    "sessionext_db_sqlite_cached": "flask-sessionext database, SQLite, session cache",
}
#: How the child process builds each of them.
BUILDERS: dict[str, Callable[[ExitStack], Variant]] = {
    "bare": lambda _: bare_flask(),
    "sessionext_callbacks": lambda _: sessionext_callbacks(),
    "sessionext_warm": lambda _: sessionext_warm(sessionext_signin(sessionext_app())),
    "sessionext_db_sqlite": lambda resources: sessionext_db(
        "sessionext_db_sqlite", "", sqlite_url(resources, "count"), resources
    ),
    "sessionext_db_sqlite_cached": lambda resources: sessionext_db(
        "sessionext_db_sqlite_cached", "", sqlite_url(resources, "count"), resources, cached=True
    ),
}


def valgrind_missing() -> str | None:
    """Why instructions cannot be counted here, or ``None``."""
    return None if shutil.which("valgrind") else "valgrind is not installed"


def total(key: str, calls: int) -> int:
    """Instructions callgrind counts for a child that sets up ``key`` and serves ``calls``."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        str(HERE / "instructions.py"),
        "--child",
        key,
        str(calls),
    ]
    env = os.environ | {"PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind of {key} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return int(found.group(1))


def count(calls: int = CALLS) -> list[dict[str, Any]]:
    """Instructions per request of every variant in :data:`BUILDERS`, and the ratio to bare.

    Two children at a time: a count does not depend on what else the machine runs.
    """
    with ThreadPoolExecutor(max_workers=2) as pool:
        totals = {
            key: (pool.submit(total, key, calls), pool.submit(total, key, 0)) for key in BUILDERS
        }
        counts = {
            key: (served.result() - idle.result()) // calls
            for key, (served, idle) in totals.items()
        }
    bare = counts["bare"]
    return [
        {"key": key, "label": LABELS[key], "instructions": found, "ratio": found / bare}
        for key, found in counts.items()
    ]


def child(key: str, calls: int) -> None:
    """Set up ``key``, warm it up, then serve ``calls`` requests (what callgrind counts)."""
    from run import StatusCounter, time_batch

    with ExitStack() as resources:
        variant = BUILDERS[key](resources)
        counter = StatusCounter()
        time_batch(variant.app, variant.environs(WARMUP), counter)
        time_batch(variant.app, variant.environs(calls), counter)  # with 0 too: same collection
        if counter.failures:
            raise SystemExit(f"{key}: non-200 answers {sorted(set(counter.failures))}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]))
