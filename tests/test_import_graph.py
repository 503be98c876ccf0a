"""The package's imports point only down its layers, so the import graph has no cycle.

Every import counts, function-local ones too; only ``if TYPE_CHECKING:`` blocks are left out
(they never run). The layers are those of ``docs/internals.rst``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = "flask_sessionext"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

#: Layer of each module, bottom (0) to top (3); a module may import only its layer or lower.
WIRING = {
    PACKAGE,
    f"{PACKAGE}.extension",
    f"{PACKAGE}.views",
    f"{PACKAGE}.decorators",
    f"{PACKAGE}.cli",
    f"{PACKAGE}.testing",
}
STATE = {f"{PACKAGE}.state", f"{PACKAGE}.csrf"}
FLOWS_PREFIX = f"{PACKAGE}.actions."


def layer(module: str) -> int:
    """3 wiring, 2 flows (``actions/*``), 1 per-app and per-request state, 0 everything else."""
    if module in WIRING:
        return 3
    if module.startswith(FLOWS_PREFIX):
        return 2
    return 1 if module in STATE else 0


def module_files() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, at any depth, except the bodies of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                yield other
                yield from _nodes(other)
            continue
        yield child
        yield from _nodes(child)


def imports(module: str, source: str, is_package: bool, modules: set[str]) -> set[str]:
    """The package modules ``module`` imports, with the subpackages those imports initialise."""
    targets: set[str] = set()
    for node in _nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                anchor = parts if is_package else parts[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.add(full if full in modules else base)
    found = set()
    for target in targets:
        parts = target.split(".")
        # Importing a.b.c runs a.b's __init__ too, unless it is a package of the importer
        # (Python loads those before the importer).
        for end in range(2, len(parts) + 1):
            name = ".".join(parts[:end])
            if name in modules and not f"{module}.".startswith(f"{name}."):
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    files = module_files()
    return {
        name: imports(name, path.read_text(), path.name == "__init__.py", set(files))
        for name, path in files.items()
    }


def test_the_graph_sees_every_kind_of_import() -> None:
    """Function-local, relative, ``from . import x`` and subpackage imports; not TYPE_CHECKING."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import callbacks as cb\n"
        "from .actions import oauth\n"
        "import flask_sessionext.providers.oidc\n"
        "if TYPE_CHECKING:\n"
        "    from .views import make_blueprint\n"
        "def f():\n"
        "    from .csrf import csrf_token\n"
    )
    modules = set(module_files())
    assert imports(f"{PACKAGE}.extension", source, False, modules) == {
        f"{PACKAGE}.callbacks",
        f"{PACKAGE}.actions.oauth",
        f"{PACKAGE}.providers",
        f"{PACKAGE}.providers.oidc",
        f"{PACKAGE}.csrf",
    }
    nested = "class A:\n    def f(self):\n        from ..state import current_state\n"
    assert imports(f"{PACKAGE}.actions.oauth", nested, False, modules) == {f"{PACKAGE}.state"}


def test_a_cycle_is_found() -> None:
    with pytest.raises(CycleError):
        list(TopologicalSorter({"a": {"b"}, "b": {"a"}}).static_order())


def test_the_import_graph_has_no_cycle() -> None:
    try:
        order = list(TopologicalSorter(graph()).static_order())
    except CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")
    assert f"{PACKAGE}.state" in order


def test_imports_point_only_down_the_layers() -> None:
    upward = [
        f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})"
        for module, targets in sorted(graph().items())
        for target in sorted(targets)
        if layer(target) > layer(module)
    ]
    assert upward == []


#: Underscore names that are other libraries' public API, or ``g`` keys owned by one module.
ALLOWED_PRIVATE = {
    "_mapping": None,  # SQLAlchemy's Row._mapping
    "_get_current_object": None,  # Werkzeug's LocalProxy
    "_sessionext": f"{PACKAGE}.state",
    "_sessionext_csrf": f"{PACKAGE}.csrf",
}


def test_no_module_reaches_into_another_modules_private_attributes() -> None:
    """``x._name`` only on ``self``/``cls``, or a name ``ALLOWED_PRIVATE`` gives to that module."""
    reaches = []
    for module, path in sorted(module_files().items()):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
                continue
            if node.attr.startswith("__") or (
                isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            ):
                continue
            owner = ALLOWED_PRIVATE.get(node.attr, "")
            if owner is None or owner == module:
                continue
            reaches.append(f"{module}:{node.lineno} .{node.attr}")
    assert reaches == []


def test_the_csrf_codec_is_pure() -> None:
    """``csrf_codec`` imports no Flask, no Werkzeug and nothing of the package but hashing."""
    tree = ast.parse((ROOT / "csrf_codec.py").read_text())
    external = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and not node.level
    }
    assert not external & {"flask", "werkzeug"}
    assert graph()[f"{PACKAGE}.csrf_codec"] <= {f"{PACKAGE}.hashing"}
