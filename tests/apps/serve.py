"""What every app in ``tests/apps`` does when run: ``init`` or ``serve``, from the command line."""

from __future__ import annotations

import sys
from collections.abc import Callable

from flask import Flask
from werkzeug.serving import make_server


def serve(app: Flask) -> None:
    """Serve on a free loopback port; say where on stdout once the socket listens.

    The line is ``READY http://127.0.0.1:<port>``: what ``tests.processes`` waits for.
    """
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"READY http://127.0.0.1:{server.port}", flush=True)
    server.serve_forever()


def main(create_app: Callable[[], Flask], init: Callable[[Flask], None]) -> None:
    """Run the command of ``sys.argv`` (``init`` or ``serve``, the default) on a new app."""
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command not in ("init", "serve"):
        sys.exit(f"usage: {sys.argv[0]} [init|serve]")
    (init if command == "init" else serve)(create_app())
