"""The real components a test needs: skip when one is missing, but fail under ``CI``.

CI installs every component (``.ci/run``), so there a missing one is a broken setup, never a
reason to skip silently.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, NoReturn

import pytest

NODE_MODULES = Path(__file__).resolve().parent / "node_modules"


def unavailable(what: str, missing: str) -> NoReturn:
    """Skip the test (``what`` cannot run: ``missing``); under ``CI`` fail it instead."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} cannot run on CI: {missing}.", pytrace=False)
    pytest.skip(f"{what} skipped: {missing}.")


def require_node(*packages: str, what: str) -> str:
    """The ``node`` executable, once it and each npm package of ``tests/`` are installed."""
    node = shutil.which("node")
    if node is None:
        unavailable(what, "`node` is not on PATH")
    for package in packages:
        if not (NODE_MODULES / package / "package.json").is_file():
            unavailable(
                what, f"tests/node_modules/{package} is missing (run `npm ci --prefix tests`)"
            )
    return node


def run_node(node: str, script: Path, *args: str, stdin: str = "") -> Any:
    """Run a Node script of ``tests/`` to completion; its stdout, parsed as JSON. A failing
    script fails the test with its stderr."""
    proc = subprocess.run(
        [node, str(script), *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"{script.name} exited with {proc.returncode}:\n{proc.stderr}", pytrace=False)
    return json.loads(proc.stdout)
