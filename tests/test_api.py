"""The public API: ``from session_fsm import ...`` gives every name in ``__all__``."""

from __future__ import annotations

import subprocess
import sys

import pytest

import session_fsm
from session_fsm.engine import SessionEngine
from session_fsm.io.store import Store


def test_every_public_name_imports_from_the_package() -> None:
    for name in session_fsm.__all__:
        assert getattr(session_fsm, name) is not None, name
    assert session_fsm.SessionEngine is SessionEngine
    assert session_fsm.Store is Store  # an edge, loaded on first use


def test_the_package_alone_does_not_load_the_edges() -> None:
    # a program that only feeds events pays for no HTTP client or database
    code = ("import sys, session_fsm; "
            "print(sorted(m for m in ('httpx', 'sqlite3', 'session_fsm.io.client') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "[]"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        session_fsm.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
