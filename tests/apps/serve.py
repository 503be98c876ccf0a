"""What every app in ``tests/apps`` does when run: ``init`` or ``serve``, from the command line."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from flask import Flask, jsonify
from werkzeug.serving import make_server


def serve(app: Flask) -> None:
    """Serve on a free loopback port; say where on stdout once the socket listens.

    The line is ``READY http://127.0.0.1:<port>``: what ``tests.processes`` waits for; then
    ``GET /pid`` answers the process id.
    """
    app.add_url_rule("/pid", "pid", lambda: jsonify(pid=os.getpid()))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"READY http://127.0.0.1:{server.port}", flush=True)
    server.serve_forever()


def create_tables(app: Flask) -> None:
    """``init`` of an app whose store may be a database: create its tables, if it has one."""
    if "sqlalchemy" in app.extensions:
        with app.app_context():
            app.extensions["sqlalchemy"].create_all()


def main(create_app: Callable[[], Flask], init: Callable[[Flask], None]) -> None:
    """Run the command of ``sys.argv`` (``init`` or ``serve``, the default) on a new app."""
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command not in ("init", "serve"):
        sys.exit(f"usage: {sys.argv[0]} [init|serve]")
    (init if command == "init" else serve)(create_app())
