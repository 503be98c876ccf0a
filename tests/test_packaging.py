"""The wheel and the sdist that ``python -m build`` makes carry what an installed app needs."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEEDED = {
    "flask_sessionext/py.typed",
    "flask_sessionext/templates/sessionext/layout.html",
    "flask_sessionext/templates/sessionext/signin.html",
    "flask_sessionext/templates/sessionext/signout.html",
    "flask_sessionext/templates/sessionext/error.html",
    "flask_sessionext/templates/sessionext/verify_request.html",
    "flask_sessionext/translations/de/LC_MESSAGES/flask_sessionext.mo",
}
# Every file the built-in pages use: partials, logos, the message catalogues.
NEEDED |= {
    path.relative_to(ROOT).as_posix()
    for folder in ("templates", "translations")
    for path in (ROOT / "flask_sessionext" / folder).rglob("*")
    if path.is_file() and "__pycache__" not in path.parts
}


def test_wheel_and_sdist_carry_templates_types_and_the_cli(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path), "."]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    (wheel,) = tmp_path.glob("*.whl")
    (sdist,) = tmp_path.glob("*.tar.gz")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = (n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "auth = flask_sessionext.cli:auth_cli" in archive.read(entry_points).decode()
    assert names >= NEEDED
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/")[0]
        in_sdist = {name.removeprefix(top + "/") for name in archive.getnames()}
    assert in_sdist >= NEEDED
