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
