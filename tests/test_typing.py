"""Typed session data: an app's declared fields type-check, undeclared ones do not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HEADER = """
from typing import Literal
from flask_sessionext import AuthExt
from flask_sessionext.types import Session, SessionUser

class MyUser(SessionUser):
    role: Literal["admin", "manager", "user"]

class MySession(Session[MyUser]):
    plan: str

auth: AuthExt[MySession] = AuthExt(providers=[])

@auth.session_callback
def session(session: MySession) -> MySession:
    return session

def role() -> Literal["admin", "manager", "user"] | None:
    current = auth.current_session
    return current["user"]["role"] if current else None
"""

GOOD = (
    HEADER
    + """
def plan() -> str | None:
    current = auth.current_session
    return current["plan"] if current else None
"""
)

BAD = (
    HEADER
    + """
def colour() -> str | None:
    current = auth.current_session
    return current["user"]["colour"] if current else None
"""
)


def test_declared_session_fields_type_check_and_undeclared_ones_fail(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / "bad.py").write_text(BAD)
    root = Path(__file__).resolve().parents[1]
    config = ["--config-file", str(root / "pyproject.toml"), "--cache-dir", str(tmp_path / "c")]
    result = subprocess.run(
        [sys.executable, "-m", "mypy", *config, "good.py", "bad.py"],
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(root)},
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    line = BAD.splitlines().index('    return current["user"]["colour"] if current else None') + 1
    assert errors == [
        f'bad.py:{line}: error: TypedDict "MyUser" has no key "colour"  [typeddict-item]'
    ], result.stdout
