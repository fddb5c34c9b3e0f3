"""The README's Python examples run as doctests, so they cannot drift from the code."""

from __future__ import annotations

import doctest
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_examples_run_as_written() -> None:
    result = doctest.testfile(str(README), module_relative=False,
                              optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0, "README.md has no doctest examples"
    assert result.failed == 0, f"{result.failed} README example(s) failed (output above)"
