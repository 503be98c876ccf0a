"""Testing your app: a test client that can be signed in, as Flask-Login's ``FlaskLoginClient``.

``app.test_client_class = AuthClient``, then ``app.test_client(user={"id": "1", ...})`` is
signed in. The app's real ``signIn``, ``jwt`` and ``session`` callbacks run, with either
session strategy (the database strategy creates a real session row for a stored user).
"""

from __future__ import annotations

from collections.abc import Mapping
from http.cookies import SimpleCookie
from typing import Any

from flask.testing import FlaskClient

from .actions import direct
from .cookies import MAX_CHUNKS, PLAIN, SECURE
from .state import current_state


class AuthClient(FlaskClient):
    """A :class:`~flask.testing.FlaskClient` with :meth:`sign_in` and :meth:`sign_out`."""

    def __init__(self, *args: Any, user: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if user is not None:
            self.sign_in(user)

    def sign_in(self, user: Mapping[str, Any], **claims: Any) -> Any:
        """Sign ``user`` in (as ``auth.sign_in`` does in a view); ``claims`` join the token
        before the ``jwt`` callback sees it. Returns the session the app now sees."""
        app = self.application
        with app.test_request_context("/", headers=self._session_cookie_header()):
            session = direct.sign_in(current_state(), user, claims)
            response = app.process_response(app.make_response(""))
        for header in response.headers.getlist("Set-Cookie"):
            for morsel in SimpleCookie(header).values():
                if morsel["max-age"] == "0":
                    self.delete_cookie(morsel.key, path=morsel["path"] or "/")
                else:
                    self.set_cookie(morsel.key, morsel.value, path=morsel["path"] or "/")
        return session

    def sign_out(self) -> None:
        """Sign out through the real route: ``GET /csrf``, then ``POST /signout``."""
        with self.application.app_context():
            base = current_state().config.base_path
        csrf = self.get(f"{base}/csrf").get_json()["csrfToken"]
        self.post(f"{base}/signout", data={"csrfToken": csrf})

    def _session_cookie_header(self) -> dict[str, str]:
        """The session cookie (and chunks) this client holds, so signing in again ends the
        database session it had, as in a browser."""
        held = []
        for name in (PLAIN.session_token, SECURE.session_token):
            for key in (name, *(f"{name}.{i}" for i in range(MAX_CHUNKS))):
                cookie = self.get_cookie(key)
                if cookie is not None:
                    held.append(f"{key}={cookie.value}")
        return {"Cookie": "; ".join(held)} if held else {}
