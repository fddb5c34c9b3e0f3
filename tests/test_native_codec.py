"""The native core's scalar readers against the Python codec's, value by value.

``codec.rs`` reads a wire value from its JSON bytes (serde_json, as the core will read
whole lines); the reference is ``orjson.loads`` then ``parse_bool`` / ``parse_int`` /
``parse_str``. Both must answer the same value, or both refuse it, for the wire's own
spellings, for hand-picked traps (Python's whitespace that Rust's is not, signs, 18 and
19 digits, integers past 64 bits that JSON readers turn into floats) and for
hypothesis-generated JSON values. Skips, with the reason, where the core is not built.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from session_fsm.errors import SessionFsmError
from session_fsm.native import NativeCoreError, load
from session_fsm.wire.codec import MAX_INT_DIGITS, parse_bool, parse_int, parse_str

READERS: dict[str, Callable[[Any], Any]] = {"bool": parse_bool, "int": parse_int,
                                            "str": parse_str}


def core() -> ModuleType:
    try:
        return load()
    except NativeCoreError as error:
        pytest.skip(f"native core unavailable: {error}")


def reference(kind: str, data: bytes) -> tuple[str, Any]:
    try:
        return "value", READERS[kind](orjson.loads(data))
    except (SessionFsmError, ValueError):
        return "refused", None


def native(kind: str, data: bytes) -> tuple[str, Any]:
    try:
        return "value", core().parse_field(kind, data)
    except ValueError:
        return "refused", None


def same(kind: str, data: bytes) -> None:
    found, expected = native(kind, data), reference(kind, data)
    assert found == expected, (kind, data)
    assert type(found[1]) is type(expected[1]), (kind, data)  # True is no 1


TRAPS = [
    b'"True"', b'"False"', b'"true"', b'"TRUE"', b'" True "', b'"\\u001ctrue\\u001f"',
    b'"\\u00a0false\\u3000"', b'"\\u200btrue"', b'""', b'"  "', b"null", b"true", b"false",
    b"0", b"1", b'"yes"', b'"45"', b'"+45"', b'"-45"', b'"-"', b'"+"', b'"007"',
    b'"123456789012345678"', b'"1234567890123456789"', b'"-123456789012345678"',
    b'"\\u0661\\u0662"', b'"4 5"', b'"45.0"', b"45", b"-45", b"45.0", b"1e3",
    b"999999999999999999", b"1000000000000000000", b"-999999999999999999",
    b"18446744073709551615", b"18446744073709551616", b"-9223372036854775809",
    b"[]", b"{}", b'["45"]', b'{"a": 1}', b'"12214"', b"12214",
]


@pytest.mark.parametrize("kind", list(READERS))
@pytest.mark.parametrize("data", TRAPS)
def test_the_traps_are_read_alike(kind: str, data: bytes) -> None:
    same(kind, data)


def test_the_digit_limit_is_the_codecs() -> None:
    assert core().MAX_INT_DIGITS == MAX_INT_DIGITS


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8"), max_size=24)
    | st.from_regex(r"\s*[+-]?[0-9]{0,20}\s*", fullmatch=True)
    | st.sampled_from(["True", "False", "true", "FALSE", " True", "tRuE ", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=3),
    max_leaves=4)


@given(JSON)
def test_any_json_value_is_read_alike(value: Any) -> None:
    data = orjson.dumps(value)
    for kind in READERS:
        same(kind, data)
