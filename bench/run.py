"""Cost of a protected GET per auth library, relative to bare Flask, in one process.

Usage (from the repository root)::

    .venv/bin/python bench/run.py            # full run, writes bench/results/
    .venv/bin/python bench/run.py --smoke    # a few hundred requests per app; checks only
    .venv/bin/python bench/run.py --profile  # cProfile of 20000 warm flask-sessionext calls
    .venv/bin/python bench/run.py --profile db-postgres  # ... on the database strategy

Every app is called as a WSGI app on a copy of an environ built once; the variants take turns
within each repetition, so drift of the machine lands on all of them alike. See README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from joserfc import jwe
from report import (
    busy_line,
    print_decodes,
    print_table,
    set_cookie_lines,
    target_line,
    write_chart,
    write_json,
    write_markdown,
)
from variants import (
    NAME,
    SECRET,
    SESSION_COOKIE,
    Environ,
    Variant,
    WSGIApp,
    all_variants,
    fresh_tokens,
    postgres_url,
    sessionext_app,
    sessionext_db,
    sessionext_signin,
    sessionext_warm,
    sqlite_url,
)

from flask_sessionext.jwt import decode, derive_key

RESULTS = Path(__file__).resolve().parent / "results"
#: DESIGN.md section 9: the JWT strategy costs at most 1.3x bare Flask, the database strategy
#: at most 2.5x on SQLite and on PostgreSQL. A variant not in the run (PostgreSQL unreachable)
#: has no verdict.
TARGETS = {
    "sessionext_warm": 1.3,
    "sessionext_db_sqlite": 2.5,
    "sessionext_db_postgres": 2.5,
}
#: Untimed, fully recorded calls per variant, before and after the timed ones.
CHECK_CALLS = 20
PACKAGES = (
    "flask",
    "werkzeug",
    "flask-login",
    "flask-jwt-extended",
    "joserfc",
    "cryptography",
    "flask-sqlalchemy",
    "sqlalchemy",
    "psycopg",
    "flask-sessionext",
)


@dataclass(frozen=True)
class Plan:
    """How much to run.

    ``calls`` requests per variant per repetition, timed in ``slices`` interleaved rounds;
    ``warmup`` untimed calls per variant first; ``decodes`` per decoder per repetition.
    """

    calls: int
    reps: int
    slices: int
    warmup: int
    decodes: int


FULL = Plan(calls=8000, reps=5, slices=4, warmup=500, decodes=3000)
SMOKE = Plan(calls=60, reps=5, slices=1, warmup=20, decodes=50)


class StatusCounter:
    """A ``start_response`` that only counts answers other than ``200``, to stay cheap.

    The same one serves every variant, so its cost is part of the floor for all of them.
    """

    def __init__(self) -> None:
        self.failures: list[str] = []

    def __call__(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if not status.startswith("200"):
            self.failures.append(status)
        return self.write

    def write(self, data: bytes) -> None:
        """WSGI's legacy ``write``; no app here uses it."""


@dataclass
class Check:
    """What untimed calls of one variant showed: statuses, bodies, ``Set-Cookie`` headers."""

    key: str
    calls: int
    bad_status: list[str] = field(default_factory=list)
    bad_body: int = 0
    set_cookie: int = 0

    def problems(self, forbid_set_cookie: bool) -> list[str]:
        """Human-readable failures; empty when the variant behaved."""
        found = []
        if self.bad_status:
            found.append(f"{self.key}: non-200 answers {sorted(set(self.bad_status))}")
        if self.bad_body:
            found.append(f"{self.key}: {self.bad_body} bodies were not {NAME!r}")
        if forbid_set_cookie and self.set_cookie:
            found.append(f"{self.key}: {self.set_cookie} of {self.calls} responses set a cookie")
        return found


def serve(app: WSGIApp, environ: Environ) -> tuple[str, list[tuple[str, str]], bytes]:
    """One fully recorded call: status, headers and body. Used only outside timing."""
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen.update(status=status, headers=headers)
        return lambda data: None

    body = app(environ.copy(), start_response)
    try:
        data = b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return seen["status"], seen["headers"], data


def check(variant: Variant, calls: int) -> Check:
    """Call ``variant`` ``calls`` times untimed and record anything wrong with the answers."""
    result = Check(variant.key, calls)
    for environ in variant.environs(calls):
        status, headers, body = serve(variant.app, environ)
        if not status.startswith("200"):
            result.bad_status.append(status)
        if body != NAME.encode():
            result.bad_body += 1
        if any(name.lower() == "set-cookie" for name, _ in headers):
            result.set_cookie += 1
    return result


def time_batch(app: WSGIApp, environs: Sequence[Environ], start_response: StatusCounter) -> int:
    """Nanoseconds to serve every environ in turn: a copy each, body drained, ``close()`` called.

    The collector is emptied first and paused during the batch, for every variant alike, so a
    collection triggered by one app's garbage is not billed to whichever app runs next.
    """
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for environ in environs:
            body = app(environ.copy(), start_response)
            for _chunk in body:
                pass
            close = getattr(body, "close", None)
            if close is not None:
                close()
        return time.perf_counter_ns() - start
    finally:
        gc.enable()


def rotated(items: Sequence[Variant], by: int) -> list[Variant]:
    """``items`` starting at position ``by``: each repetition runs the variants in a new order."""
    by %= len(items)
    return [*items[by:], *items[:by]]


def run_repetition(
    variants: Sequence[Variant], plan: Plan, rep: int, counter: StatusCounter
) -> dict[str, float]:
    """Microseconds per request of each variant in one repetition.

    The repetition's calls are cut into ``plan.slices`` rounds; in each round every variant
    serves its share, in an order rotated per round, so a burst of noise on a shared machine
    is spread over the variants instead of landing on one.
    """
    share = max(1, plan.calls // plan.slices)
    elapsed = dict.fromkeys((v.key for v in variants), 0)
    for round_ in range(plan.slices):
        for variant in rotated(variants, rep * plan.slices + round_):
            environs = variant.environs(share)
            elapsed[variant.key] += time_batch(variant.app, environs, counter)
    return {key: ns / (share * plan.slices) / 1000 for key, ns in elapsed.items()}


def run_requests(
    variants: Sequence[Variant], plan: Plan, counter: StatusCounter
) -> dict[str, list[float]]:
    """Microseconds per request of each variant, one value per repetition, interleaved."""
    for variant in variants:
        time_batch(variant.app, variant.environs(plan.warmup), counter)
    timings: dict[str, list[float]] = {v.key: [] for v in variants}
    for rep in range(plan.reps):
        us = run_repetition(variants, plan, rep, counter)
        for key, value in us.items():
            timings[key].append(value)
        line = ", ".join(f"{key} {value:.1f}" for key, value in us.items())
        print(f"rep {rep + 1}/{plan.reps} (us/request): {line}", flush=True)
    return timings


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of one variant's repetitions."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def request_rows(
    variants: Sequence[Variant], timings: dict[str, list[float]], checks: dict[str, Check]
) -> list[dict[str, Any]]:
    """One row per variant: microseconds and the ratio to bare Flask of the same repetition."""
    floor = timings["bare"]
    rows = []
    for variant in variants:
        us = timings[variant.key]
        ratios = [value / base for value, base in zip(us, floor, strict=True)]
        rows.append(
            {
                "key": variant.key,
                "label": variant.label,
                "us_per_request": us,
                "us": summarize(us),
                "ratios": ratios,
                "ratio": summarize(ratios),
                "set_cookie": checks[variant.key].set_cookie > 0,
            }
        )
    return rows


def decoders(token: str) -> list[tuple[str, str, Callable[[], Any]]]:
    """The token decoders compared: flask-sessionext's ``decode`` and bare joserfc.

    Both use a key derived once (``derive_key`` is cached); neither caches decoded tokens.
    ``decode`` also matches the ``kid`` and validates ``exp``/``nbf``/``iat``.
    """
    key, _kid = derive_key(SECRET, SESSION_COOKIE)
    algorithms = ["dir", "A256CBC-HS512"]

    def sessionext_decode() -> Any:
        return decode(token, secret=SECRET, salt=SESSION_COOKIE)

    def joserfc_decode() -> Any:
        return json.loads(jwe.decrypt_compact(token, key, algorithms=algorithms).plaintext or b"")

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


def run_decodes(plan: Plan) -> list[dict[str, Any]]:
    """Token decodes per second, each decoder once per repetition, interleaved."""
    token = fresh_tokens(1)[0]
    candidates = decoders(token)
    rates: dict[str, list[float]] = {key: [] for key, _, _ in candidates}
    for fn in (fn for _, _, fn in candidates):
        time_calls(fn, plan.warmup)
    for _ in range(plan.reps):
        for key, _, fn in candidates:
            rates[key].append(time_calls(fn, plan.decodes))
    return [
        {"key": key, "label": label, "ops_per_s": rates[key], "ops": summarize(rates[key])}
        for key, label, _ in candidates
    ]


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> float | None:
    """The 1-minute load average: above the CPU count, other work competed with the run."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def source_revision() -> str:
    """The git commit the library was measured at, ``+dirty`` when the tree had changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty=+dirty", "--abbrev=12"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()


def machine_info() -> dict[str, Any]:
    """Python, OS, CPU and the versions of the packages measured."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "revision": source_revision(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "packages": versions,
    }


def verify(variants: Sequence[Variant], calls: int) -> tuple[dict[str, Check], list[str]]:
    """Untimed calls of every variant; the problems found, if any."""
    checks = {v.key: check(v, calls) for v in variants}
    problems = [p for v in variants for p in checks[v.key].problems(v.no_set_cookie)]
    return checks, problems


#: What ``--profile`` can profile: the warm JWT strategy, or the database strategy.
PROFILES = ("jwt", "db-sqlite", "db-postgres")


def profile_variant(which: str, resources: ExitStack) -> Variant:
    """The flask-sessionext variant ``--profile`` runs, signed in once."""
    if which == "jwt":
        return sessionext_warm(sessionext_signin(sessionext_app()))
    if which == "db-sqlite":
        return sessionext_db(which, which, sqlite_url(resources, "profile"), resources)
    url, note = postgres_url(resources)
    print(note)
    if url is None:
        raise SystemExit(1)
    return sessionext_db(which, which, url, resources)


def profile_warm(which: str = "jwt", calls: int = 20000, top: int = 15) -> None:
    """cProfile ``calls`` warm flask-sessionext requests; print the top functions by tottime."""
    with ExitStack() as resources:
        variant = profile_variant(which, resources)
        counter = StatusCounter()
        time_batch(variant.app, variant.environs(1000), counter)
        environs = variant.environs(calls)
        profiler = cProfile.Profile()
        profiler.enable()
        time_batch(variant.app, environs, counter)
        profiler.disable()
    for order, restriction in (("tottime", top), ("cumulative", "flask_sessionext")):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(restriction)
        print(out.getvalue())
    if counter.failures:
        raise SystemExit(f"non-200 answers while profiling: {sorted(set(counter.failures))}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command line: ``--smoke``, ``--profile``, and overrides of the plan."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true", help="a quick check; no timing asserted")
    mode.add_argument(
        "--profile",
        nargs="?",
        const="jwt",
        choices=PROFILES,
        help="cProfile warm sessionext calls: jwt (default), db-sqlite or db-postgres",
    )
    parser.add_argument("--calls", type=int, help="requests per variant per repetition")
    parser.add_argument("--reps", type=int, help="repetitions (default 5)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where full mode writes")
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    """The full or smoke plan, with ``--calls``/``--reps`` applied."""
    plan = SMOKE if args.smoke else FULL
    return Plan(
        calls=args.calls or plan.calls,
        reps=args.reps or plan.reps,
        slices=plan.slices,
        warmup=plan.warmup,
        decodes=plan.decodes,
    )


def target_summary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Whether each flask-sessionext variant meets DESIGN.md's ratio; reported, never asserted."""
    found = []
    for row in rows:
        limit = TARGETS.get(row["key"])
        if limit is None:
            continue
        median = row["ratio"]["median"]
        found.append(
            {
                "key": row["key"],
                "label": row["label"],
                "max_ratio": limit,
                "ratio": median,
                "met": median <= limit,
            }
        )
    return found


class BenchFailure(Exception):
    """An app misbehaved: a non-200 answer, a wrong body, or a forbidden ``Set-Cookie``."""


def verified(variants: Sequence[Variant], when: str) -> dict[str, Check]:
    """:func:`verify` with :data:`CHECK_CALLS` calls each; raise :class:`BenchFailure` on any."""
    checks, problems = verify(variants, CHECK_CALLS)
    if problems:
        raise BenchFailure([f"{when}: {problem}" for problem in problems])
    return checks


def measure(plan: Plan, mode: str) -> dict[str, Any]:
    """Check every app, time requests and decodes, and gather everything into one dict.

    The apps are checked before and after the timed calls; the warm flask-sessionext
    responses must carry no ``Set-Cookie`` either time.
    """
    with ExitStack() as resources:
        return measure_variants(plan, mode, resources)


def measure_variants(plan: Plan, mode: str, resources: ExitStack) -> dict[str, Any]:
    """:func:`measure` with the databases of the run held open by ``resources``."""
    started, cpu_started, load_before = time.perf_counter(), time.process_time(), load_average()
    notes: list[str] = []
    variants = all_variants(resources, notes)
    for note in notes:
        print(note, flush=True)
    before = verified(variants, "before timing")
    counter = StatusCounter()
    timings = run_requests(variants, plan, counter)
    if counter.failures:
        raise BenchFailure([f"non-200 answers while timing: {sorted(set(counter.failures))}"])
    after = verified(variants, "after timing")
    for key, result in after.items():
        before[key].set_cookie += result.set_cookie
    rows = request_rows(variants, timings, before)
    for line in set_cookie_lines(rows, variants_without_set_cookie(variants)):
        print(f"{line} (checked on {2 * CHECK_CALLS} untimed responses, before and after timing)")
    return {
        "mode": mode,
        "plan": asdict(plan),
        "machine": machine_info(),
        "notes": notes,
        "targets": target_summary(rows),
        "no_set_cookie": variants_without_set_cookie(variants),
        "requests": rows,
        "decode": run_decodes(plan),
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu_started, 1),
        "load_average": {"start": load_before, "end": load_average()},
    }


def variants_without_set_cookie(variants: Sequence[Variant]) -> list[str]:
    """Keys of the variants whose timed responses must not carry ``Set-Cookie``."""
    return [v.key for v in variants if v.no_set_cookie]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen mode; exit status 1 when an app misbehaved. Timings are never asserted."""
    args = parse_args(argv)
    if args.profile:
        profile_warm(args.profile)
        return 0
    try:
        results = measure(make_plan(args), "smoke" if args.smoke else "full")
    except BenchFailure as failure:
        print("FAILED:\n  " + "\n  ".join(failure.args[0]), file=sys.stderr)
        return 1
    print_table(results["requests"])
    print_decodes(results["decode"])
    for target in results["targets"]:
        print(target_line(target))
    for note in results["notes"]:
        print(note)
    print(busy_line(results))
    if not args.smoke:
        write_results(results, args.out)
    return 0


def write_results(results: dict[str, Any], out: Path) -> None:
    """results.json, results.md and chart.png under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(results, out / "results.json")
    write_markdown(results, out / "results.md")
    write_chart(results, out / "chart.png")
    print(f"wrote {out / 'results.md'}, results.json, chart.png")


if __name__ == "__main__":
    sys.exit(main())
