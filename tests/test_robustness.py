"""Garbage in: the engine says so, keeps going, and accounts for every event.

Property tests over arbitrary event sequences (random types, statuses, orders,
duplicates, missing fields, wrong value types, huge strings, deep nesting) and a fuzz
target over the reader and codec. Example counts are bounded here; the README says how
to run them longer (HYPOTHESIS_PROFILE=long, see tests/conftest.py).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from session_fsm.engine import AgentSession
from session_fsm.errors import InputError, SequenceError
from session_fsm.wire.codec import decode, decode_lenient
from session_fsm.wire.events import KNOWN_EVENTS, wire_name
from session_fsm.wire.reader import ReadError, ReadItem, read

TYPES = [cls.TYPE for cls in KNOWN_EVENTS] + ["PromiseKeeper", "", "agentstate"]
WIRE_KEYS = sorted({wire_name(f) for cls in KNOWN_EVENTS for f in attrs.fields(cls)
                    if f.name != "extra"})
STATUSES = ["Incoming", "Active", "Holding", "Disconnected", "Dialing", "Joined", "Masking",
            "NaturalCallDialing", "Available", "Unavailable", "InboundContact", "active",
            "Bogus", ""]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
    st.sampled_from(["True", "false", "", "0", "45", "soon", "-1",
                     "2013-09-11T05:01:00.000Z", "not a time"]),
    st.sampled_from(STATUSES),
    st.text(max_size=20),
    st.just("x" * 100_000),  # huge string
    st.sampled_from(["9" * 19, "9" * 5000]),  # integers past the codec's 18 digits, past int()'s
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8)


def _deep(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"n": value}
    return value


@st.composite
def wire_events(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 30)) == 0:
        return draw(values)  # not even an object
    event: dict[str, Any] = {}
    if draw(st.integers(0, 10)):
        event[draw(st.sampled_from(["Type", "type"]))] = draw(st.sampled_from(TYPES))
    for key in draw(st.lists(st.sampled_from(WIRE_KEYS), max_size=8)):
        event[key] = draw(values)
    if draw(st.booleans()):
        event["Status"] = draw(st.sampled_from(STATUSES))
        event["ContactID"] = draw(st.sampled_from(["1", "2", "3", "-1", ""]))
    if draw(st.integers(0, 20)) == 0:
        event["CustomData"] = _deep(draw(st.integers(50, 400)))
    return event


def _decodable(obj: Any) -> bool:
    try:
        decode(obj)
    except InputError:
        return False
    return True


def _applicable(obj: Any) -> bool:
    """An event the lenient engine applies: decodable once its bad fields are left out."""
    try:
        decode_lenient(obj)
    except InputError:
        return False
    return True


@given(st.lists(wire_events(), max_size=40).flatmap(
    lambda evs: st.permutations(evs + evs[: len(evs) // 3])))  # duplicates, any order
def test_lenient_engine_never_raises_and_accounts_for_every_event(events: list[Any]) -> None:
    session = AgentSession("fuzz")
    for event in events:
        session.feed(event)
    session.finish()
    assert session.position == len(events)
    unreadable = sum(not _decodable(e) for e in events)
    # an event with bad fields is applied without them: only no-events are not
    assert session.events == sum(_applicable(e) for e in events)
    input_rules = {"bad-field", "not-an-event", "not-json"}
    reported = {v.event_index for v in session.violations if v.rule in input_rules}
    assert len(reported) >= unreadable  # each unreadable event has a violation at its index
    assert all(0 <= v.event_index < max(len(events), 1) for v in session.violations)
    session.snapshot()  # a snapshot can always be taken


@given(st.lists(wire_events(), max_size=30))
def test_strict_engine_raises_only_the_package_errors(events: list[Any]) -> None:
    session = AgentSession("fuzz", strict=True)
    for event in events:
        if not _decodable(event):  # strict: an unreadable event raises, it is not recorded
            with pytest.raises(InputError):
                session.feed(event)
            continue
        with contextlib.suppress(SequenceError):
            session.feed(event)
    assert not [v for v in session.violations if v.rule in {"bad-field", "not-an-event"}]


lines = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"{", b"[", b"[]", b"{}", b'{"Type": 1}', b'{"session": 3}',
                     b'{"session": "k", "events": 5}', b'{"events": [1, {"Type": "X"}]}',
                     b"[" * 2000 + b"]" * 2000, b'"just a string"', b"\xef\xbb\xbf{}",
                     b'{"Type":"AgentState","AcwTimeout":"soon"}',
                     b'{"Type":"AgentState","AcwTimeout":"' + b"9" * 5000 + b'"}']),
)


@given(st.lists(lines, max_size=12), st.booleans())
def test_reader_fuzz_reports_instead_of_crashing(tmp_path: Path, chunks: list[bytes],
                                                 pretty: bool) -> None:
    """Arbitrary bytes: every item is an event or a located error; nothing else escapes."""
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes((b"\n  " if pretty else b"\n").join(chunks))
    for item in read([str(path)], on_error="report", max_line_bytes=64 * 1024):
        assert isinstance(item, ReadItem | ReadError)
        if isinstance(item, ReadError):
            assert item.error.source is not None
            assert str(item.error).startswith(f"{path}:")
