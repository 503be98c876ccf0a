"""Sphinx configuration for the flask-sessionext documentation.

Build: ``.venv/bin/sphinx-build -W -b html docs docs/_build/html`` from the repository root.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

# Import the package from this checkout, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

project = "flask-sessionext"
author = "flask-sessionext contributors"
copyright = "flask-sessionext contributors"

try:
    release = metadata.version("flask-sessionext")
except metadata.PackageNotFoundError:
    release = "0.1.0.dev0"
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
]

exclude_patterns = ["_build"]
nitpicky = False
# No network during builds: intersphinx stays off.

autodoc_typehints = "description"
autodoc_member_order = "bysource"

html_theme = "furo"
html_title = f"flask-sessionext {release}"
pygments_style = "friendly"
pygments_dark_style = "monokai"
