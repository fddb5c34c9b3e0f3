"""The package's layers stay honest: the data's way is wire -> engine -> changes -> views
and edges, so the core never imports what is built on it.

Every import of every module (relative ones resolved, those under ``TYPE_CHECKING`` and
inside functions included) is read with ``ast``, not by running the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "session_fsm"

# what each layer must never import (the CLI and the simulator are the outermost)
FORBIDDEN = {
    "wire": ("engine", "views", "io", "cli", "sim"),
    "machines": ("wire", "engine", "views", "io", "cli", "sim"),
    "engine": ("views", "io", "cli", "sim"),
    "views": ("io", "cli", "sim"),
}


def imports_of(path: Path) -> set[str]:
    """The absolute names of every module ``path`` imports from session_fsm."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    package = package.removesuffix(".__init__")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("session_fsm")}


def _layer_modules() -> list[tuple[str, Path]]:
    return [(layer, path) for layer in FORBIDDEN
            for path in sorted((PACKAGE / layer).rglob("*.py"))]


@pytest.mark.parametrize(("layer", "path"), _layer_modules(),
                         ids=[str(p.relative_to(PACKAGE)) for _, p in _layer_modules()])
def test_a_layer_imports_nothing_built_on_it(layer: str, path: Path) -> None:
    outer = tuple(f"session_fsm.{name}" for name in FORBIDDEN[layer])
    wrong = sorted(name for name in imports_of(path)
                   if any(name == o or name.startswith(o + ".") for o in outer))
    assert wrong == [], f"{path.relative_to(PACKAGE)} imports {wrong}"


def test_the_layers_exist_and_the_check_sees_imports() -> None:
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir()} >= {*FORBIDDEN, "io", "cli"}
    # the resolver at work on a module known to import the wire and the machines
    seen = imports_of(PACKAGE / "engine" / "session.py")
    assert "session_fsm.wire.codec" in seen
    assert "session_fsm.machines.session" in seen
    assert not any(name.startswith("session_fsm.views") for name in seen)


def test_commands_share_renderers_and_never_import_each_other() -> None:
    cli = PACKAGE / "cli"
    shared = {"session_fsm.cli._common", "session_fsm.cli.render", "session_fsm.cli"}
    commands = {f"session_fsm.cli.{p.stem}" for p in cli.glob("*.py")} - shared
    for path in sorted(cli.glob("*.py")):
        if path.stem in ("__init__", "_common", "render"):
            continue
        wrong = sorted(name for name in imports_of(path) if name in commands)
        assert wrong == [], f"cli/{path.name} imports {wrong}"


def test_every_exception_lives_in_errors() -> None:
    """Public exception classes are declared in errors.py, with their context as attributes
    (private helpers, and the CLI's own Failure outcome, stay where they are used)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "")
                         for b in node.bases}
                if any(b.endswith(("Error", "Exception")) for b in bases):
                    found.append(f"{path.relative_to(PACKAGE)}:{node.name}")
    assert found == ["cli/_common.py:Failure"]
