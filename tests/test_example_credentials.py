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
    return load(monkeypatch)


def load(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import the example afresh (its module-level app reads the environment)."""
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


def test_the_admin_page_refuses_a_signed_in_user_who_is_not_an_admin(
    example: ModuleType,
) -> None:
    client = example.app.test_client()
    assert sign_in(client, "bob", "builder") == "http://localhost/admin"
    refused = client.get("/admin")
    assert refused.status_code == 403 and "Hello Bob" not in refused.get_data(as_text=True)


def test_wrong_password_is_refused(example: ModuleType) -> None:
    client = example.app.test_client()
    assert "error=CredentialsSignin" in sign_in(client, "bob", "wonderland")
    assert client.get("/api/auth/session").get_json() is None


def test_email_link_without_a_database(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLASK_DEBUG", "1")  # what `flask run --debug` sets: links are printed
    monkeypatch.delenv("AUTH_EMAIL_SERVER", raising=False)
    module = load(monkeypatch)
    client, other = module.app.test_client(), module.app.test_client()
    token = client.get("/api/auth/csrf").get_json()["csrfToken"]
    data = {"csrfToken": token, "email": "alice@example.com", "callbackUrl": "/admin"}
    assert "verify-request" in client.post("/api/auth/signin/email", data=data).location
    [link] = [w for w in capsys.readouterr().err.split() if "/api/auth/callback/email?" in w]
    assert "error=Verification" in other.get(link).location  # only in the browser that asked
    assert client.get(link).location == "http://localhost/admin"
    page = client.get("/admin").get_data(as_text=True)
    assert "Hello Alice, you are <strong>admin</strong>" in page
    assert client.get("/api/auth/session").get_json()["user"]["id"] == "1"
    assert "error=Verification" in client.get(link).location  # once
    data = {"csrfToken": token, "email": "eve@example.org"}
    refused = client.post("/api/auth/signin/email", data=data)
    assert "error=AccessDenied" in refused.location
    assert "/callback/email" not in capsys.readouterr().err  # nothing sent to strangers


@pytest.mark.parametrize(
    "password", ["pässwörd", "\x00", "\ud800".encode("utf-8", "surrogatepass").decode("latin1")]
)
def test_hostile_passwords_are_refused_not_raised(example: ModuleType, password: str) -> None:
    client = example.app.test_client()
    assert "error=CredentialsSignin" in sign_in(client, "alice", password)
    assert "error=CredentialsSignin" in sign_in(client, "älice", password)
