"""The native core against the Python reference: two engines, one meaning.

Every stream is fed to both engines (``SessionEngine(engine="python")`` and
``engine="native"``) the way the commands feed it, and everything a user can see must
be byte-identical: the change stream (``changes --json`` lines, subscribers included),
the snapshots (``snapshot --json``), the violations, the folded histories and the
checkpoints. A checkpoint written by one engine restores in the other and goes on to
the same end. Streams: simulated days (several seeds, every media, 2,000 agents), the
golden streams the history differential uses, and hypothesis-made hostile streams:
redeliveries, repeated responses, fields of the wrong kind (huge integers, deep
nesting, integers past 64 bits that orjson cannot write, arrays for strings), statuses in
other casings and unknown ones, unknown types, events after the end, strict mode.

Skips, with the reason, where the core is not built (``.ci/run`` builds it).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import GOLDEN
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from session_fsm.engine import SessionEngine
from session_fsm.engine.changes import Change, as_json
from session_fsm.engine.native import available
from session_fsm.engine.snapshot import snapshots_json
from session_fsm.errors import InputError, SequenceError, Source
from session_fsm.io import checkpoint as ck
from session_fsm.sim import simulate
from session_fsm.views.history import HistoryFold, histories_json
from session_fsm.wire.reader import ReadError, iter_wire

pytestmark = pytest.mark.skipif(not available(), reason="the native core is not built "
                                "(cargo build --release, see session_fsm/native/__init__.py)")

ENGINES = ("python", "native")


def _items(path: Path) -> list[Any]:
    return list(iter_wire([str(path)], on_error="report"))


def _feed(engine: SessionEngine, items: Iterable[Any]) -> list[Change]:
    changes: list[Change] = []
    for item in items:
        if type(item) is ReadError:
            changes.extend(engine.report_input_error(item.key, item.error, item.source))
            continue
        key, wire, source = item
        changes.extend(engine.feed(wire, key=key, source=source, batch=source))
    return changes


def _outcome(engine: SessionEngine, changes: list[Change], fold: HistoryFold) -> dict[str, Any]:
    """Everything a user sees of a run, as bytes."""
    return {
        "changes": [orjson.dumps(as_json(change)) for change in changes],
        "snapshots": orjson.dumps(snapshots_json(engine.snapshot())),
        "violations": [repr(v) for v in engine.violations()],
        "histories": orjson.dumps(histories_json(fold.histories(engine.sessions))),
        "checkpoint": ck.to_bytes(engine),
        "events": [s.events for s in engine.sessions.values()],
    }


def _run(engine_name: str, items: Iterable[Any]) -> dict[str, Any]:
    engine = SessionEngine(engine=engine_name)
    fold = HistoryFold()
    engine.subscribe(fold.apply)
    seen: list[Change] = []
    engine.subscribe(seen.append)
    changes = _feed(engine, items)
    changes.extend(engine.finish())
    assert seen == changes  # subscribers get exactly what feed() returns, in order
    return _outcome(engine, changes, fold)


def _assert_same(items: list[Any]) -> dict[str, Any]:
    reference, native = (_run(name, items) for name in ENGINES)
    for part in reference:
        assert native[part] == reference[part], part
    return reference


def _day(tmp_path: Path, agents: int, seed: int, minutes: float) -> Path:
    path = tmp_path / f"day-{agents}-{seed}.jsonl"
    with path.open("wb") as out:
        simulate(out, agents=agents, seed=seed, minutes=minutes)
    return path


@pytest.mark.parametrize("seed", [1, 2, 7])
def test_simulated_days_are_the_same_on_both_engines(tmp_path: Path, seed: int) -> None:
    found = _assert_same(_items(_day(tmp_path, 40, seed, 150.0)))
    assert len(found["changes"]) > 5_000  # a real day, not an empty one
    kinds = {orjson.loads(line)["kind"] for line in found["changes"]}
    assert {"transition", "agent_status", "contact_details", "acw_linked", "transcript",
            "noted"} <= kinds


def test_two_thousand_agents_are_the_same_on_both_engines(tmp_path: Path) -> None:
    found = _assert_same(_items(_day(tmp_path, 2_000, 11, 12.0)))
    assert len(orjson.loads(found["snapshots"])["sessions"]) == 2_000


@pytest.mark.parametrize("seed", [3, 5, 8])
def test_the_golden_streams_are_the_same_on_both_engines(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "golden.jsonl"
    path.write_bytes(gzip.decompress((GOLDEN / f"seed-{seed}.jsonl.gz").read_bytes()))
    found = _assert_same(_items(path))
    media = {orjson.loads(line).get("media") for line in found["changes"]}
    assert {"call", "chat", "work_item", "voicemail", "digital", "supervisor"} <= media


@pytest.mark.parametrize(("writer", "reader"), [("python", "native"), ("native", "python")])
def test_a_checkpoint_of_one_engine_goes_on_in_the_other(tmp_path: Path, writer: str,
                                                         reader: str) -> None:
    items = _items(_day(tmp_path, 12, 4, 90.0))
    half = len(items) // 2
    whole = SessionEngine(engine=reader)
    expected = [orjson.dumps(as_json(c)) for c in [*_feed(whole, items), *whole.finish()]]

    first = SessionEngine(engine=writer)
    before = [orjson.dumps(as_json(c)) for c in _feed(first, items[:half])]
    second = ck.load_engine(orjson.loads(ck.to_bytes(first)), engine=reader)
    assert second.engine == reader
    assert {type(s).__name__ for s in second.sessions.values()} == \
        {"NativeSession" if reader == "native" else "AgentSession"}
    after = [orjson.dumps(as_json(c)) for c in [*_feed(second, items[half:]), *second.finish()]]
    assert before + after == expected
    assert ck.to_bytes(second) == ck.to_bytes(whole)
    assert orjson.dumps(snapshots_json(second.snapshot())) == \
        orjson.dumps(snapshots_json(whole.snapshot()))


# --- hostile streams ------------------------------------------------------------------------

_BASE: list[tuple[str, dict[str, Any]]] = []


def _base() -> list[tuple[str, dict[str, Any]]]:
    """A small simulated stream's events (two agents, every media), as (key, object)."""
    if not _BASE:
        path = GOLDEN / "seed-3.jsonl.gz"
        for line in gzip.decompress(path.read_bytes()).splitlines()[:400]:
            envelope = orjson.loads(line)
            for event in envelope.get("events") or [envelope.get("event")]:
                if isinstance(event, dict):
                    _BASE.append((envelope["session"], event))
    return _BASE


HOSTILE_VALUES = st.one_of(
    st.sampled_from([None, "", "True", "false", "TRUE", " 45 ", "-7", "0", 0, 1, True, False,
                     10**30, -(10**19), 2**63, 1.5, float("1e308"), [], {}, [1, "a"],
                     {"State": "Available"}, "2013-09-10T20:05:37.000Z", "2013-09-10T20:05:37",
                     "2013-09-10T20:05:37+02:00", "9999-12-31T23:59:59.999Z", "not a time",
                     2**64, -(2**63) - 1, "Disconnected", "disconnected", "ACTIVE",
                     "NoSuchStatus", "x" * 300]),
    st.recursive(st.integers(), lambda inner: st.lists(inner, max_size=1), max_leaves=300),
    st.text(max_size=8),
)


@st.composite
def hostile_streams(draw: st.DrawFn) -> list[tuple[str, dict[str, Any], int]]:
    base = _base()
    start = draw(st.integers(0, len(base) - 60))
    events = [(key, dict(event)) for key, event in base[start:start + draw(st.integers(5, 60))]]
    out: list[tuple[str, dict[str, Any], int]] = []
    batch = 0
    for key, event in events:
        move = draw(st.sampled_from(["keep"] * 6 + ["mutate", "again", "respell", "unknown",
                                                     "drop", "batch"]))
        if move == "drop":
            continue
        if move == "mutate":
            field = draw(st.sampled_from(sorted(event)))
            event[field] = draw(HOSTILE_VALUES)
        elif move == "respell":
            field = draw(st.sampled_from(sorted(event)))
            event[field.upper() if draw(st.booleans()) else field.lower()] = event.pop(field)
        elif move == "unknown":
            out.append((key, {"Type": draw(st.sampled_from(["Mystery", "agentstate", ""])),
                              "Status": "Active"}, batch))
        if move == "batch" or draw(st.integers(0, 3)) == 0:
            batch += 1
        out.append((key, event, batch))
        if move == "again":  # redelivered, alone or with the whole response
            if draw(st.booleans()):
                out.append((key, dict(event), batch))
            else:
                replay = [item for item in out if item[2] == batch]
                batch += 1
                out.extend((k, dict(e), batch) for k, e, _ in replay)
    if draw(st.booleans()):
        out.append((events[0][0], {"Type": "AgentSessionEnd", "Success": "False"}, batch + 1))
        out.append((events[0][0], {"Type": "AgentState", "CurrentState": "Available"}, batch + 2))
    return out


def _hostile_run(engine_name: str, stream: list[tuple[str, dict[str, Any], int]],
                 strict: bool) -> tuple[dict[str, Any], str | None]:
    engine = SessionEngine(engine=engine_name, strict=strict)
    fold = HistoryFold()
    engine.subscribe(fold.apply)
    changes: list[Change] = []
    raised = None
    for line, (key, event, batch) in enumerate(stream, 1):
        source = Source("hostile.jsonl", line, (batch, 0))
        try:
            changes.extend(engine.feed(event, key=key, source=source, batch=source))
        except SequenceError as error:
            raised = repr((str(error), error.rule, error.machine, error.subject, error.state,
                           error.trigger, error.event_index))
            break
        except InputError as error:  # the same refusal (anything else is a bug: it fails)
            raised = f"{type(error).__name__}: {error}"
            break
    changes.extend(engine.finish())
    return _outcome(engine, changes, fold), raised


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=hostile_streams(), strict=st.booleans())
def test_hostile_streams_are_the_same_on_both_engines(
        stream: list[tuple[str, dict[str, Any], int]], strict: bool) -> None:
    reference, raised = _hostile_run("python", stream, strict)
    native, native_raised = _hostile_run("native", stream, strict)
    assert native_raised == raised
    for part in reference:
        assert native[part] == reference[part], part


def test_a_sixteen_mib_line_and_bad_bytes_are_the_same_on_both_engines(tmp_path: Path) -> None:
    path = tmp_path / "hostile.jsonl"
    big = {"session": "a", "event": {"Type": "CustomEvent", "eventName": "big",
                                     "Data": "x" * (16 * 1024 * 1024 - 200)}}
    lines: Iterator[bytes] = iter([
        orjson.dumps({"session": "a", "event": {"Type": "AgentSessionStart", "AgentId": "1"}}),
        orjson.dumps(big),
        b'{"session": "a", "event": {"Type": "AgentState", "CurrentState": "\xff\xfe"}}',
        b'{"session": "a", "event": {"Type": "AgentState", "CurrentState": "Available",'
        b' "CurrentState": "Unavailable", "IsAcw": "True"}}',
        b'{"session": "a", "event": ' + b"[" * 300 + b"1" + b"]" * 300 + b"}",
        b'{"session": "a", "event": {"Type": "AgentLeg", "AgentLegId": 12345678901234567890123}}',
    ])
    path.write_bytes(b"\n".join(lines) + b"\n")
    found = _assert_same(_items(path))
    rules = {orjson.loads(line).get("rule") for line in found["changes"]}
    assert {"not-json", "not-an-event"} & rules


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text()
    | st.floats(allow_nan=False) | st.sampled_from(["\x00\x1f\"\\/\x7f\u2028é😀", "a\tb\nc"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(wire=st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=8))
def test_the_cores_digest_is_the_references(wire: dict[str, Any]) -> None:
    """The core writes the digest's JSON itself (orjson's escapes, its integer range) and
    leaves floats and the rest to orjson: the same digest, or the same None."""
    from session_fsm import _native
    from session_fsm.wire.facts import wire_digest

    assert _native.wire_digest(wire) == wire_digest(wire)


def test_the_cores_digest_of_deep_and_odd_objects() -> None:
    from session_fsm import _native
    from session_fsm.wire.facts import wire_digest

    deep: Any = 1
    for _ in range(300):
        deep = [deep]
    for wire in ({"a": deep}, {"a": "\udc80"}, {"a": 2**64}, {"a": -(2**63)},
                 {"a": 2**64 - 1}, {"a": float("inf")}, {"a": (1, 2)}, {"x" * 20: ""}):
        assert _native.wire_digest(wire) == wire_digest(wire), wire


def test_sessions_past_the_closed_contacts_kept_are_the_same_on_both_engines() -> None:
    """More closed contacts than a session keeps (core.CLOSED_KEPT), chat rooms among
    them, then late events of contacts forgotten and kept: both engines forget the same
    ones and say the same about the late events."""
    from helpers import call, chat, chat_text, session_start, utc

    from session_fsm.engine.core import CLOSED_KEPT

    items: list[Any] = []

    def add(key: str, wire: dict[str, Any]) -> None:
        source = Source("kept.jsonl", len(items) + 1)
        items.append((key, wire, source))

    for key in ("a", "b"):
        add(key, session_start())
        for n in range(CLOSED_KEPT + 6):
            at = utc(2024, 3, 4, 8 + n // 60, n % 60, 0)
            cid = f"{key}{1000 + n}"
            if n % 5 == 0:  # a chat, with a line before its contact event (an orphan room)
                add(key, chat_text(f"r{n}", "Agent", "hello", at=at))
                add(key, chat(cid, "Active", at=at, room=f"r{n}"))
                add(key, chat(cid, "Disconnected", at=at, room=f"r{n}", final=True))
            else:
                add(key, call(cid, "Incoming", at=at))
                add(key, call(cid, "Disconnected", at=at, start=at, final=True))
        late = utc(2024, 3, 4, 12, 0, 0)
        for n in (1, 2, 20, CLOSED_KEPT + 5):
            add(key, call(f"{key}{1000 + n}", "Active", at=late, start=late))
    found = _assert_same(items)
    rules = [orjson.loads(change).get("rule") for change in found["changes"]]
    assert "contact-after-final" in rules
