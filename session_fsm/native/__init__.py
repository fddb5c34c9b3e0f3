"""The native core's Python face: loading ``session_fsm._native`` and refusing a stale one.

The core is a Rust crate (this directory's ``.rs`` files, ``Cargo.toml`` at the project's
root) built as the extension module ``session_fsm._native``: ``cargo build --release``,
then the library placed beside the package's code (``.ci/run`` does both; ``maturin
build --release`` makes a wheel with it). It runs the engine's sessions
(``engine.rs``, driven by ``engine/native.py``), held equal to the Python reference by
the differential tests (``tests/test_native_*.py``); which engine runs is
``engine/native.py``'s ``engine_name``.

Stale builds. The module carries a digest of the sources it was built from
(``build.rs``); :func:`load` computes the same digest (FNV-1a over the sorted file names
and contents) over the sources beside it and refuses a module built from others, so an
edited ``.rs`` file never leaves an old build running unnoticed. A wheel carries the
sources it was built from, so its module passes the same check.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Final

from ..errors import NativeCoreError

__all__ = ["SOURCES", "NativeCoreError", "load", "source_digest"]

SOURCES: Final = Path(__file__).parent
"""Where the core's Rust sources are (in a source checkout)."""

_FNV_OFFSET: Final = 0xCBF29CE484222325
_FNV_PRIME: Final = 0x100000001B3
_MASK: Final = 2**64 - 1
REBUILD: Final = ("cargo build --release && cp target/release/lib_native.so "
                  "session_fsm/_native.abi3.so.new && mv session_fsm/_native.abi3.so.new "
                  "session_fsm/_native.abi3.so")


def _fnv1a(data: bytes, value: int) -> int:
    for byte in data:
        value = ((value ^ byte) * _FNV_PRIME) & _MASK
    return value


def source_digest(directory: Path = SOURCES) -> str | None:
    """The digest ``build.rs`` embeds, of the ``.rs`` files in ``directory``; None when
    there are none (an installed wheel)."""
    names = sorted(path.name for path in directory.glob("*.rs"))
    if not names:
        return None
    value = _FNV_OFFSET
    for name in names:
        value = _fnv1a(name.encode() + b"\0", value)
        value = _fnv1a((directory / name).read_bytes() + b"\0", value)
    return f"{value:016x}"


def load(directory: Path = SOURCES) -> ModuleType:
    """``session_fsm._native``, checked against the sources in ``directory``; raises
    :class:`NativeCoreError` saying how to build it when it is missing or stale."""
    try:
        module = importlib.import_module("session_fsm._native")
    except ImportError as error:
        raise NativeCoreError(f"the native core is not built ({error}); build it with: "
                              f"{REBUILD}") from None
    expected = source_digest(directory)
    if expected is not None and expected != module.SOURCE_DIGEST:
        raise NativeCoreError(
            f"the native core {module.__file__} was built from other sources than "
            f"{directory}/*.rs (digest {module.SOURCE_DIGEST}, sources {expected}): "
            f"rebuild it with: {REBUILD}")
    return module
