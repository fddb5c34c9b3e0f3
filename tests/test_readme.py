"""The README's Python examples run as doctests, so they cannot drift from the code."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_examples_run_as_written() -> None:
    result = doctest.testfile(str(README), module_relative=False,
                              optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0, "README.md has no doctest examples"
    assert result.failed == 0, f"{result.failed} README example(s) failed (output above)"


def test_every_guarantee_names_tests_that_exist() -> None:
    """The Guarantees table's tests are real: each ``file::name`` (``::name`` is in the
    file named before it on the row) is a test function of that file."""
    text = README.read_text(encoding="utf-8")
    table = text.split("\n## Guarantees\n", 1)[1].split("\nNot promised:", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "::" in line]
    assert len(rows) >= 10
    named = 0
    for row in rows:
        current = None
        for ref in re.findall(r"`((?:tests/[\w/]+\.py)?::\w+)`", row):
            path, name = ref.split("::")
            current = path or current
            assert current is not None, row
            source = (README.parent / current).read_text(encoding="utf-8")
            assert re.search(rf"^def {name}\(", source, re.MULTILINE), f"{current}::{name}"
            named += 1
    assert named >= len(rows)


def test_the_module_table_names_every_module_and_only_modules_that_exist() -> None:
    """The Design section's module table matches the package: every module is on a row
    (itself, or a directory row ending in ``/``), and every row names what exists."""
    text = README.read_text(encoding="utf-8")
    table = text.split("\n| module | concern |\n", 1)[1].split("\n\n", 1)[0]
    listed = set()
    for line in table.splitlines()[1:]:  # the separator row first
        first_cell = line.split("|")[1]
        listed.update(re.findall(r"`([\w/.]+)`", first_cell))
    package = README.parent / "session_fsm"
    for name in listed:
        assert (package / name).exists(), f"the README's module table names {name}, gone"
    directories = {name for name in listed if name.endswith("/")}
    modules = [path.relative_to(package).as_posix() for path in package.rglob("*.py")
               if "__pycache__" not in path.parts]
    assert len(modules) > 40
    unlisted = [
        module for module in modules
        if module not in listed
        and not any(module.startswith(directory) for directory in directories)
        # a subpackage's __init__ re-exports the modules its row lists
        and not (module.endswith("/__init__.py"))
    ]
    assert unlisted == []
