"""examples/passkeys in Chromium with its virtual authenticator (Chrome DevTools Protocol).

``tests/browser/passkey.mjs`` signs up with a new passkey, signs out, signs in with it, replays
the sign-in (refused), and signs in from another origin (refused). The app runs behind two
real HTTP servers on free loopback ports: its ``AUTH_URL`` (``http://localhost:<port>``) and
another origin serving the same app. With ``SESSIONEXT_RECORD_PASSKEYS=<file>`` the recorded
ceremonies are written there (``tests/fixtures/passkeys.json`` feeds the unit tests).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from flask_sessionext.errors import ConfigurationError

from .database import track_app
from .test_browser import load_example, require_browser

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "passkeys" / "app.py"
SCRIPT = ROOT / "tests" / "browser" / "passkey.mjs"
SCREENSHOT = ROOT / "test-artifacts" / "passkeys-account.png"
SCRIPT_TIMEOUT = 90


def load_passkeys_example(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> ModuleType:
    """Import examples/passkeys/app.py afresh with ``env`` set."""
    return load_example(monkeypatch, env, EXAMPLE, "passkeys_example")


def placeholder(environ: Any, start_response: Any) -> list[bytes]:
    """What the servers serve until the app exists (they are bound first, for the port)."""
    return []


def serve(stack: ExitStack, server: BaseWSGIServer) -> None:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    stack.callback(stop)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[tuple[str, str]]:
    """The example app at its AUTH_URL and at another origin, on a fresh database."""
    require_browser()
    main, other = (make_server("127.0.0.1", 0, placeholder, threaded=True) for _ in range(2))
    origin = f"http://localhost:{main.server_port}"
    example = load_passkeys_example(
        monkeypatch,
        {
            "AUTH_URL": origin,
            "AUTH_SECRET": "passkey-browser-secret-" + "p" * 32,
            "DATABASE_URL": database_url,
        },
    )
    app = example.create_app()
    track_app(app)
    with app.app_context():
        example.db.create_all()
    main.app = other.app = app
    with ExitStack() as stack:
        serve(stack, main)
        serve(stack, other)
        yield origin, f"http://localhost:{other.server_port}"


def run_script(origin: str, other: str) -> dict[str, Any]:
    node = require_browser()
    SCREENSHOT.parent.mkdir(exist_ok=True)
    args = [node, str(SCRIPT), "--url", origin, "--other", other, "--screenshot", str(SCREENSHOT)]
    try:
        run = subprocess.run(
            args, cwd=ROOT / "tests", capture_output=True, text=True, timeout=SCRIPT_TIMEOUT
        )
    except subprocess.TimeoutExpired as error:
        stderr = error.stderr if isinstance(error.stderr, str) else ""
        pytest.fail(f"passkey.mjs ran over {SCRIPT_TIMEOUT} s; stderr:\n{stderr}")
    lines = run.stdout.strip().splitlines()
    assert lines, f"passkey.mjs printed nothing (exit {run.returncode}); stderr:\n{run.stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    result["stderr"] = run.stderr
    return result


def test_passkeys_in_a_real_browser(served: tuple[str, str], caplog: Any) -> None:
    origin, other = served
    with caplog.at_level(logging.INFO, "flask_sessionext"):
        result = run_script(origin, other)
    why = json.dumps({k: v for k, v in result.items() if k != "recorded"}, indent=2)
    assert result["ok"] is True, why
    assert result["pageErrors"] == [], why
    steps = result["steps"]
    # Sign-up: a new user, signed in, with one discoverable credential for RP ID "localhost".
    assert "Hello Ada" in steps["register"]["greeting"]
    assert steps["register"]["session"]["user"]["name"] == "Ada"
    [credential] = steps["register"]["credentials"]
    assert credential["isResidentCredential"] is True and credential["rpId"] == "localhost"
    # Sign-in without a username, after signing out.
    assert steps["signIn"]["session"]["user"] == steps["register"]["session"]["user"]
    # The recorded sign-in, replayed: refused both ways, and nobody is signed in.
    replay = steps["replay"]
    for attempt in ("asIs", "withCookie"):
        assert replay[attempt]["status"] == 400, why
        assert replay[attempt]["body"]["error"] == "WebAuthnVerificationError", why
    assert replay["afterAsIs"] is None and replay["afterWithCookie"] is None
    assert "no challenge cookie" in caplog.text  # the first replay: the challenge was used
    assert "sign count" in caplog.text  # the second: the authenticator's counter
    # The same app behind another origin: the browser signs, the server refuses.
    wrong = steps["wrongOrigin"]
    assert "error=WebAuthnVerificationError" in wrong["url"] and wrong["session"] is None
    assert "could not be verified" in wrong["alert"]
    assert f'Unexpected client data origin "{other}"' in caplog.text
    # The account page lists the passkey. The authenticator counted 1 (registration), 2
    # (sign-in), 3 (signed for the other origin, refused, not stored), 4 (the last sign-in).
    [listed] = steps["account"]["passkeys"]
    assert "this device only, sign count 4" in listed
    record = os.environ.get("SESSIONEXT_RECORD_PASSKEYS")
    if record:
        Path(record).write_text(
            json.dumps(
                {
                    "origin": origin,
                    "user_id": steps["register"]["session"]["user"]["id"],
                    **result["recorded"],
                },
                indent=2,
            )
            + "\n"
        )


def test_the_example_refuses_to_start_without_auth_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AUTH_URL", raising=False)
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "AUTH_SECRET": "s" * 32}
    example = load_passkeys_example(monkeypatch, env)
    with pytest.raises(ConfigurationError, match="needs AUTH_URL"):
        example.create_app()
