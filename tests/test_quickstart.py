"""docs/quickstart.rst, run as written: its app.py and template, signed in through the form."""

from __future__ import annotations

import importlib.util
import re
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

QUICKSTART = Path(__file__).resolve().parents[1] / "docs" / "quickstart.rst"


def code_block_after(text: str, title: str) -> str:
    """The first ``.. code-block::`` after the line ``title`` (``app.py``:), dedented."""
    rest = text[text.index(f"``{title}``:") :]
    block = re.search(r"\.\. code-block:: [^\n]+\n\n((?:   [^\n]*\n|\n)+)", rest)
    assert block is not None, f"no code block after {title}"
    return textwrap.dedent(block.group(1))


@pytest.fixture
def quickstart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    text = QUICKSTART.read_text()
    (tmp_path / "templates").mkdir()
    (tmp_path / "app.py").write_text(code_block_after(text, "app.py"))
    (tmp_path / "templates" / "index.html").write_text(
        code_block_after(text, "templates/index.html")
    )
    monkeypatch.setenv("AUTH_SECRET", "quickstart-secret-" + "q" * 32)
    spec = importlib.util.spec_from_file_location("quickstart_app", tmp_path / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    module.app.config["TESTING"] = True  # trusts the Host header, as --debug does
    return module


def test_the_quickstart_app_signs_alice_in_and_out(quickstart: ModuleType) -> None:
    client = quickstart.app.test_client()
    to_signin = client.get("/profile")
    assert to_signin.status_code == 302
    page = client.get(to_signin.headers["Location"]).get_data(as_text=True)
    csrf = re.findall(r'name="csrfToken" value="([^"]+)"', page)[0]
    callback = re.findall(r'name="callbackUrl" value="([^"]+)"', page)[0]
    form = {"csrfToken": csrf, "username": "alice", "password": "wonderland"}
    signed_in = client.post(
        "/api/auth/callback/credentials", data={**form, "callbackUrl": callback}
    )
    assert signed_in.headers["Location"] == "http://localhost/profile"
    assert client.get("/profile").get_json()["name"] == "Alice"
    home = client.get("/").get_data(as_text=True)
    assert "Signed in as Alice" in home
    token = re.findall(r'name="csrfToken" value="([^"]+)"', home)[0]
    client.post("/api/auth/signout", data={"csrfToken": token})
    assert client.get("/profile").status_code == 302
