"""flask-sessionext beside Flask-WTF's CSRFProtect: each keeps its own ``csrf_token``."""

from __future__ import annotations

import re

from flask import Flask, render_template_string, request
from flask_wtf import CSRFProtect
from flask_wtf.csrf import generate_csrf

from flask_sessionext import AuthExt
from flask_sessionext.providers import Credentials

from .helpers import SECRET, authorize, csrf_token

FORM = '<form method="post"><input name="csrf_token" value="{{ csrf_token() }}"></form>'


def app_with_flask_wtf(wtf_first: bool) -> Flask:
    """An app with its own Flask-WTF form and the auth routes, in either order of set-up."""
    app = Flask(__name__)
    app.config.update(TESTING=True, AUTH_SECRET=SECRET, SECRET_KEY="flask-wtf-" + "k" * 32)
    csrf = CSRFProtect()
    if wtf_first:
        csrf.init_app(app)
    AuthExt(app, providers=[Credentials(authorize=authorize)])
    if not wtf_first:
        csrf.init_app(app)
        csrf.exempt(app.blueprints["sessionext"])  # as docs/pages.rst says for this order

    @app.route("/profile", methods=["GET", "POST"])
    def profile() -> str:
        if request.method == "POST":
            return "saved"
        return render_template_string(FORM)

    return app


def check(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/profile").get_data(as_text=True)
    (token,) = re.findall(r'value="([^"]+)"', page)
    with app.test_request_context():
        assert app.jinja_env.globals["csrf_token"] is generate_csrf
    assert client.post("/profile", data={"csrf_token": token}).data == b"saved"
    assert client.post("/profile", data={}).status_code == 400  # Flask-WTF still protects it
    signin_page = client.get("/api/auth/signin").get_data(as_text=True)
    auth_token = re.findall(r'name="csrfToken" value="([^"]+)"', signin_page)[0]
    assert auth_token == csrf_token(client) != token
    form = {"csrfToken": auth_token, "username": "alice", "password": "pw"}
    signed_in = client.post("/api/auth/callback/credentials", data=form)
    assert signed_in.status_code == 302 and "error" not in signed_in.headers["Location"]


def test_flask_wtf_set_up_first() -> None:
    check(app_with_flask_wtf(wtf_first=True))


def test_flask_wtf_set_up_after_with_the_blueprint_exempted() -> None:
    check(app_with_flask_wtf(wtf_first=False))
