"""Known mutants of the security checks, each of which its guarding test must catch.

Each mutant removes or weakens one check in a temporary copy of the package; the test that
guards the check runs against that copy and must fail. A mutant that survives, or that no
longer applies to the code (the check moved: update its ``old`` text here), fails the run.
Run from the repository root: ``python tests/mutants/run.py`` (add ``-k NAME`` for one).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUARDS = "tests/test_guard_{}.py::test_{}"
SILENT_LISTENER = (
    "tests/test_session_cache.py::test_a_silent_listener_stops_the_cache_and_a_gap_empties_it"
)


@dataclass(frozen=True)
class Mutant:
    """One deliberate bug: ``old`` becomes ``new`` in ``path``; ``tests`` must then fail."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    postgresql: bool = False


MUTANTS = [
    Mutant(
        "codec-ignores-exp",
        "flask_sessionext/jwt.py",
        "JWTClaimsRegistry(leeway=CLOCK_TOLERANCE).validate(claims)",
        "pass",
        (GUARDS.format("oauth", "an_expired_check_cookie_is_refused"),),
    ),
    Mutant(
        "check-cookie-not-bound-to-provider",
        "flask_sessionext/actions/checks.py",
        'return claims.get("value") if claims.get("provider") == provider else None',
        'return claims.get("value")',
        (GUARDS.format("oauth", "check_cookies_of_one_provider_are_refused_by_another"),),
    ),
    Mutant(
        "iss-unchecked",
        "flask_sessionext/actions/oauth.py",
        "issuer is not None and issuer != provider.issuer",
        "False",
        (GUARDS.format("oauth", "an_iss_other_than_the_issuer_is_refused"),),
    ),
    Mutant(
        "state-unchecked",
        "flask_sessionext/actions/oauth.py",
        '"state" in provider.checks and not hmac.compare_digest(',
        "False and not hmac.compare_digest(",
        (GUARDS.format("oauth", "an_attackers_state_is_refused"),),
    ),
    Mutant(
        "redirect-any-scheme",
        "flask_sessionext/redirects.py",
        'parts.scheme not in ("http", "https") or ',
        "",
        (GUARDS.format("session", "only_http_urls_reach_the_redirect_callback"),),
    ),
    Mutant(
        "refresh-token-stored-plain",
        "flask_sessionext/hashing.py",
        "return hashlib.sha256(text.encode()).hexdigest()",
        "return text",
        (GUARDS.format("tokens", "refresh_tokens_are_stored_only_as_hashes"),),
    ),
    Mutant(
        "revoke-one-pass",
        "flask_sessionext/adapters/sqlalchemy.py",
        "for _ in range(2):",
        "for _ in range(1):",
        (GUARDS.format("tokens", "a_revoke_interleaved_with_a_refresh_leaves_no_live_token"),),
        postgresql=True,
    ),
    Mutant(
        "refused-database-session-kept",
        "flask_sessionext/actions/session.py",
        "    if result is None:\n        adapter.delete_session(token_hash)\n    elif",
        "    if False:\n        pass\n    elif",
        (GUARDS.format("session", "a_refusing_session_callback_deletes_the_stored_session"),),
    ),
    Mutant(
        "refresh-token-never-expires",
        "flask_sessionext/actions/token_api.py",
        "if record.expires <= now:",
        "if False:",
        (GUARDS.format("tokens", "an_expired_refresh_token_is_refused"),),
    ),
    Mutant(
        "access-token-exp-unchecked",
        "flask_sessionext/bearer.py",
        'options={"require":',
        'options={"verify_exp": False, "require":',
        (GUARDS.format("tokens", "an_expired_access_token_with_a_valid_signature_is_refused"),),
    ),
    Mutant(
        "cached-token-never-expires",
        "flask_sessionext/state.py",
        "found.exp is not None and found.exp <= time.time() - CLOCK_TOLERANCE",
        "False",
        (
            GUARDS.format(
                "session", "a_cached_session_token_is_refused_once_the_clock_passes_its_expiry"
            ),
        ),
    ),
    Mutant(
        "refusing-session-callback-keeps-cookie",
        "flask_sessionext/actions/session.py",
        "    if shown is None:\n        ra.clear = True\n",
        "",
        (GUARDS.format("session", "a_session_callback_answering_none_signs_the_jwt_session_out"),),
    ),
    Mutant(
        "session-cache-trusts-a-silent-listener",
        "flask_sessionext/adapters/notify_listener.py",
        "return time.monotonic() < self._live_until",
        "return True",
        (SILENT_LISTENER,),
        postgresql=True,
    ),
    Mutant(
        "session-cache-keeps-entries-across-a-gap",
        "flask_sessionext/adapters/notify_listener.py",
        "if fresh or now >= self._live_until:",
        "if fresh:",
        (SILENT_LISTENER,),
        postgresql=True,
    ),
    Mutant(
        "sqlite-stamp-never-changes",
        "flask_sessionext/adapters/stamp_file.py",
        "self._stamp[:SIZE] = os.urandom(SIZE)",
        "pass",
        (
            "tests/test_two_processes.py::"
            "test_with_the_session_cache_a_revocation_on_one_process_reaches_the_other[sqlite]",
        ),
    ),
]


def copy_tree(into: Path) -> None:
    """The package, the tests and the pytest settings, as they are in the working tree."""
    ignore = shutil.ignore_patterns("__pycache__", "node_modules", "_build")
    shutil.copytree(ROOT / "flask_sessionext", into / "flask_sessionext", ignore=ignore)
    shutil.copytree(ROOT / "tests", into / "tests", ignore=ignore)
    (into / "tests" / "node_modules").symlink_to(ROOT / "tests" / "node_modules")
    shutil.copy2(ROOT / "pyproject.toml", into / "pyproject.toml")


def pytest_in(copy: Path, tests: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """Run ``tests`` against the package copy in ``copy`` (it comes first on ``sys.path``)."""
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
    return subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, check=False)


def apply(mutant: Mutant, copy: Path) -> str | None:
    """Write the mutant into ``copy``; the reason it cannot be, if any."""
    target = copy / mutant.path
    source = target.read_text()
    found = source.count(mutant.old)
    if found != 1:
        return f"its code appears {found} times in {mutant.path}: update it in {__file__}"
    target.write_text(source.replace(mutant.old, mutant.new))
    return None


def check(mutant: Mutant, work: Path) -> str | None:
    """Apply ``mutant`` to a fresh copy and run its tests; why it failed to be caught, if so."""
    copy = work / mutant.name
    copy_tree(copy)
    problem = apply(mutant, copy)
    if problem is not None:
        return problem
    result = pytest_in(copy, mutant.tests)
    if result.returncode == 1:
        return None  # a test failed: caught
    if result.returncode == 0:
        return "survived: its tests pass with the check removed"
    return f"its tests could not run (pytest exit {result.returncode}):\n{result.stdout[-2000:]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", dest="only", help="only the mutants whose name contains this")
    args = parser.parse_args()
    postgresql = os.environ.get("SESSIONEXT_TEST_DATABASE_URL", "").startswith("postgresql")
    chosen = [m for m in MUTANTS if args.only is None or args.only in m.name]
    skipped = [m for m in chosen if m.postgresql and not postgresql]
    if skipped and os.environ.get("CI"):
        print("mutants: SESSIONEXT_TEST_DATABASE_URL must name a PostgreSQL database on CI")
        return 1
    chosen = [m for m in chosen if m not in skipped]
    if not chosen:
        print("mutants: none chosen")
        return 1
    with tempfile.TemporaryDirectory(prefix="sessionext-mutants-") as tmp:
        work = Path(tmp)
        baseline = work / "baseline"
        copy_tree(baseline)
        targets = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        result = pytest_in(baseline, targets)
        if result.returncode != 0:
            print(f"mutants: the guarding tests fail without any mutant:\n{result.stdout[-3000:]}")
            return 1
        with ThreadPoolExecutor(max_workers=2) as pool:
            problems = list(pool.map(lambda m: check(m, work), chosen))
    failed = 0
    for mutant, problem in zip(chosen, problems, strict=True):
        print(f"mutant {mutant.name}: {'caught' if problem is None else problem}")
        failed += problem is not None
    for mutant in skipped:
        print(f"mutant {mutant.name}: skipped (needs PostgreSQL: SESSIONEXT_TEST_DATABASE_URL)")
    print(f"mutants: {len(chosen) - failed} of {len(chosen)} caught")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
