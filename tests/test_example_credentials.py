"""examples/credentials: the Auth.js custom-session-data guide, end to end through the app."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from flask.testing import FlaskClient

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "credentials" / "app.py"


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("AUTH_SECRET", "example-secret-" + "e" * 32)
    spec = importlib.util.spec_from_file_location("credentials_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    module.app.config["TESTING"] = True
    return module


def sign_in(client: FlaskClient, username: str, password: str) -> str:
    token = client.get("/api/auth/csrf").get_json()["csrfToken"]
    data = {"csrfToken": token, "username": username, "password": password, "callbackUrl": "/admin"}
    response = client.post("/api/auth/callback/credentials", data=data)
    assert response.status_code == 302
    return str(response.headers["Location"])


def test_role_reaches_the_page_and_the_access_token_stays_server_side(example: ModuleType) -> None:
    client = example.app.test_client()
    assert client.get("/admin").status_code == 302
    assert sign_in(client, "alice", "wonderland") == "http://localhost/admin"
    page = client.get("/admin").get_data(as_text=True)
    assert "Hello Alice, you are <strong>admin</strong>" in page
    session = client.get("/api/auth/session").get_json()
    assert session["user"] == {
        "id": "1",
        "name": "Alice",
        "email": "alice@example.com",
        "role": "admin",
    }
    assert "access_token" not in client.get("/api/auth/session").get_data(as_text=True)
    home = client.get("/").get_data(as_text=True)
    assert "your role is <strong>admin</strong>" in home


def test_wrong_password_is_refused(example: ModuleType) -> None:
    client = example.app.test_client()
    assert "error=CredentialsSignin" in sign_in(client, "bob", "wonderland")
    assert client.get("/api/auth/session").get_json() is None
