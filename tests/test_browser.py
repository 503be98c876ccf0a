"""examples/oidc in a real browser: Chromium signs in through a real OpenID Provider.

The OP is panva's oidc-provider (:mod:`tests.oidc_provider`); the example app runs in a real
HTTP server on a free loopback port; ``tests/browser/signin.mjs`` drives Debian's Chromium with
playwright-core through the home page, the built-in sign-in page, the OP's login and consent
forms, back to the greeting and ``/profile``, and saves a screenshot of it at
``test-artifacts/oidc-signed-in.png``.

Needs ``node``, ``npm ci --prefix tests`` (playwright-core) and ``/usr/bin/chromium``: skipped
without them, except when ``CI`` is set, where it fails.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
from werkzeug.serving import BaseWSGIServer, make_server

from .oidc_provider import OP, running_op
from .requirements import require_node, unavailable

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "oidc" / "app.py"
SCREENSHOTS = ROOT / "docs" / "screenshots.py"
SCRIPT = ROOT / "tests" / "browser" / "signin.mjs"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "test-artifacts" / "oidc-signed-in.png"
SCRIPT_TIMEOUT = 60
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def require_browser() -> str:
    """``node``; skip (fail on CI) when it, playwright-core or Chromium is missing."""
    node = require_node("playwright-core", what="the browser test")
    if not CHROMIUM.is_file():
        unavailable("the browser test", f"{CHROMIUM} is missing (apt-get install chromium)")
    return node


def load_example(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    path: Path = EXAMPLE,
    module_name: str = "oidc_example",
) -> ModuleType:
    """Import an example's app.py (examples/oidc by default) afresh with ``env`` set (its
    module-level app reads it)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def free_server(app: Any) -> BaseWSGIServer:
    """A threaded werkzeug server for ``app`` on a free 127.0.0.1 port (port 0)."""
    return make_server("127.0.0.1", 0, app, threaded=True)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, OP]]:
    """The example app behind a real HTTP server, signed in through a running OP."""
    require_browser()
    # The port is known once the socket is bound, and the OP needs the exact redirect URI
    # before it starts: bind first (with a placeholder app), then start the OP, then serve.
    server = free_server(lambda environ, start_response: [])
    origin = f"http://127.0.0.1:{server.server_port}"
    with running_op([f"{origin}/api/auth/callback/oidc"], access_token_ttl=300) as op:
        example = load_example(
            monkeypatch,
            {
                "OIDC_ISSUER": op.issuer,
                "OIDC_CLIENT_ID": op.client_id,
                "OIDC_CLIENT_SECRET": op.client_secret,
                "AUTH_SECRET": "browser-test-secret-" + "b" * 32,
                "AUTH_URL": origin,
            },
        )
        server.app = example.app
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield origin, op
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def test_sign_in_with_a_real_browser(served: tuple[str, OP]) -> None:
    origin, op = served
    node = require_browser()
    assert requests.get(origin, timeout=5).status_code == 200
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    try:
        run = subprocess.run(
            [node, str(SCRIPT), "--url", origin, "--screenshot", str(SCREENSHOT)],
            cwd=ROOT / "tests",
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT,
        )
    except subprocess.TimeoutExpired as error:
        stderr = error.stderr if isinstance(error.stderr, str) else ""
        pytest.fail(f"signin.mjs ran over {SCRIPT_TIMEOUT} s; stderr:\n{stderr}")
    lines = run.stdout.strip().splitlines()
    assert lines, f"signin.mjs printed nothing (exit {run.returncode}); stderr:\n{run.stderr}"
    result = json.loads(lines[-1])
    why = f"{json.dumps(result, indent=2)}\nstderr:\n{run.stderr}\nOP log:\n{op.log()}"
    assert result["ok"] is True and run.returncode == 0, why
    assert "Alice" in result["greeting"], why
    assert result["email"] == "alice@example.com"
    assert result["picture"] == "https://example.com/alice.png"
    assert result["opLoginUrl"].startswith(f"{op.issuer}/interaction/")
    assert result["session"]["user"] == {
        "name": "Alice",
        "email": "alice@example.com",
        "image": "https://example.com/alice.png",
    }
    assert "error" not in result["session"]
    assert "authjs.session-token" in result["cookies"]
    assert SCREENSHOT.is_file()
    assert SCREENSHOT.read_bytes()[:8] == PNG_SIGNATURE


def test_built_in_pages_in_both_schemes_and_on_a_phone() -> None:
    """examples/pages in Chromium: sign-in (with and without an error) and sign-out, light and
    dark, at 320, 390 and 1200 px: no sideways scrolling, every text at 4.5:1 or more, the
    error announced, focus visible (``tests/browser/pages.mjs`` via ``docs/screenshots.py``)."""
    node = require_browser()
    spec = importlib.util.spec_from_file_location("screenshots", SCREENSHOTS)
    assert spec is not None and spec.loader is not None
    screenshots = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(screenshots)
    result, stderr = screenshots.run_pages_script(node, None, "signin,signinError,signout")
    why = f"{json.dumps(result, indent=2)}\nstderr:\n{stderr}"
    assert result["ok"] is True, why
    assert result["checked"] == 3 * 2 * 3, why  # pages x schemes x widths
    assert len(result["schemeBackgrounds"]) == 2, why
