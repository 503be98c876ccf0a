"""Screenshots of the built-in pages for the docs, and the layout and contrast checks behind them.

Starts ``examples/pages/app.py`` on a free loopback port and runs ``tests/browser/pages.mjs``
(playwright-core driving Debian's Chromium): every page in both colour schemes at 320, 390
and 1200 px must not scroll sideways and must show all text with a contrast of 4.5:1 or more.

    python docs/screenshots.py            # check, and write docs/_static/screenshots/*.png
    python docs/screenshots.py --check    # check only (CI)

Exits 1 when a check fails, printing what failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "pages" / "app.py"
SCRIPT = ROOT / "tests" / "browser" / "pages.mjs"
OUT = ROOT / "docs" / "_static" / "screenshots"
TIMEOUT = 120


def example_app(origin: str) -> Any:
    """A fresh app of ``examples/pages``, served at ``origin``."""
    spec = importlib.util.spec_from_file_location("pages_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # Flask finds the app's static folder through it
    spec.loader.exec_module(module)
    return module.create_app({"AUTH_SECRET": "screenshots-" + "s" * 32, "AUTH_URL": origin})


def run_pages_script(
    node: str, out: Path | None, pages: str | None = None
) -> tuple[dict[str, Any], str]:
    """Serve the example app and run ``pages.mjs`` on it (on ``pages``, a comma-separated
    list, or every page): its JSON result and its stderr."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no request log
    # Bind first: the app needs its origin (AUTH_URL), known once the port is.
    server = make_server("127.0.0.1", 0, lambda environ, start_response: [], threaded=True)
    origin = f"http://127.0.0.1:{server.server_port}"
    server.app = example_app(origin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    command = [node, str(SCRIPT), "--url", origin]
    if out is not None:
        command += ["--out", str(out)]
    if pages is not None:
        command += ["--pages", pages]
    try:
        run = subprocess.run(  # noqa: S603 - fixed arguments
            command, cwd=ROOT / "tests", capture_output=True, text=True, timeout=TIMEOUT
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    lines = run.stdout.strip().splitlines()
    if not lines:
        return {
            "ok": False,
            "error": f"pages.mjs printed nothing (exit {run.returncode})",
        }, run.stderr
    return json.loads(lines[-1]), run.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="check only, write no screenshot")
    args = parser.parse_args()
    node = shutil.which("node")
    if node is None:
        print("screenshots: `node` is not on PATH", file=sys.stderr)
        return 1
    result, stderr = run_pages_script(node, None if args.check else OUT)
    if not result.get("ok"):
        print(json.dumps(result, indent=2), stderr, sep="\n", file=sys.stderr)
        return 1
    written = ", ".join(Path(p).name for p in result["screenshots"]) or "none (--check)"
    print(f"screenshots: {result['checked']} page views checked; written: {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
