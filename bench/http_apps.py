"""The apps of the HTTP benchmark, built by name for gunicorn.

``run.py --http`` starts, for each app::

    gunicorn --pythonpath bench --workers 2 --worker-class sync \\
        --bind 127.0.0.1:PORT 'http_apps:app("sessionext_db", "sqlite:///.../db")'

Each worker builds its own app from :mod:`variants`, the same code the in-process benchmark
times. The apps sign nobody in: the benchmark signs in once in its own process (same secret,
same database) and sends that cookie with every request. The database app is therefore built
without seeding: the parent made the tables, the user and the session row.
"""

from __future__ import annotations

from flask import Flask
from variants import (
    bare_flask_app,
    flask_login_app,
    flask_session_app,
    sessionext_app,
    sessionext_db_app,
)

#: What ``app(name)`` builds; ``sessionext_db`` and ``sessionext_db_cached`` (with the
#: ``SessionCache``) also take the database URL.
APPS = (
    "bare",
    "flask_session",
    "flask_login",
    "sessionext_callbacks",
    "sessionext_jwt",
    "sessionext_db",
    "sessionext_db_cached",
)


def app(name: str, url: str | None = None) -> Flask:
    """The app called ``name`` (one of :data:`APPS`); ``url``: ``sessionext_db``'s database."""
    if name == "bare":
        return bare_flask_app()
    if name == "flask_session":
        return flask_session_app()
    if name == "flask_login":
        return flask_login_app()
    if name == "sessionext_callbacks":
        return sessionext_app(callbacks=True)
    if name == "sessionext_jwt":
        return sessionext_app()
    if name in ("sessionext_db", "sessionext_db_cached"):
        if url is None:
            raise ValueError(f"{name} needs the database URL")
        return sessionext_db_app(url, None, seed=False, cached=name == "sessionext_db_cached")
    raise ValueError(f"unknown app {name!r}; one of {', '.join(APPS)}")
