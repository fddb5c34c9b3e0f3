"""The native core reading lines itself (``lines.rs``) against the Python reader and
engine: the same input files, byte-identical results.

The commands read files through ``cli._common.replay_files``, which hands the native
core every JSON Lines line to read itself (``SessionEngine.line_taker``); the reference
is the Python engine fed the reader's items. Compared: the change stream (subscribers
and ``on_changes``), snapshots, violations, folded histories, checkpoints, event counts,
items consumed, and what was raised. Both with changes wanted and without (the core
then makes none: what is kept must not differ).

Inputs: simulated days, the golden streams, and hypothesis-made hostile files: the
hostile event streams of ``test_native_engine`` written in every line shape the reader
knows (bare events, envelopes with one event or many, responses, arrays), in orjson's
compact form or with spaces and escapes, with broken lines among them (not JSON,
floats, integers past 64 bits, a key twice, invalid UTF-8, deep nesting, a BOM, blank
lines, lines that are no events), and strict mode.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import GOLDEN
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_native_engine import hostile_streams

from session_fsm.cli._common import Failure, replay_files
from session_fsm.engine import SessionEngine
from session_fsm.engine.changes import Change, as_json
from session_fsm.engine.native import available
from session_fsm.engine.snapshot import snapshots_json
from session_fsm.errors import InputError, SequenceError
from session_fsm.io import checkpoint as ck
from session_fsm.sim import simulate
from session_fsm.views.history import HistoryFold, histories_json
from session_fsm.views.validation import validate_files
from session_fsm.wire import reader
from session_fsm.wire.reader import ReadError, iter_wire

pytestmark = pytest.mark.skipif(not available(), reason="the native core is not built "
                                "(cargo build --release, see session_fsm/native/__init__.py)")


def _read(engine_name: str, path: Path, *, wanted: bool, strict: bool = False,
          report_bad: bool = True) -> dict[str, Any]:
    """Everything a user sees of reading ``path`` as the commands read it."""
    engine = SessionEngine(engine=engine_name, strict=strict)
    fold = HistoryFold()
    told: list[Change] = []
    seen: list[Change] = []
    if wanted:
        engine.subscribe(fold.apply)
        engine.subscribe(seen.append)
    raised = None
    consumed = None
    try:
        replay = replay_files([str(path)], skip_bad=not report_bad, report_bad=report_bad,
                              engine=engine, on_changes=told.extend if wanted else None)
        consumed = (replay.consumed, replay.skipped)
    except SequenceError as error:
        raised = repr((str(error), error.rule, error.machine, error.subject, error.state,
                       error.trigger, error.event_index))
    except (InputError, Failure) as error:
        raised = f"{type(error).__name__}: {error}"
    if wanted:
        assert seen == told or raised is not None  # subscribers get what on_changes gets
    return {
        "raised": raised,
        "consumed": consumed,
        "changes": [orjson.dumps(as_json(change)) for change in told],
        "snapshots": orjson.dumps(snapshots_json(engine.snapshot())),
        "violations": [repr(v) for v in engine.violations()],
        "histories": orjson.dumps(histories_json(fold.histories(engine.sessions))),
        "checkpoint": ck.to_bytes(engine),
        "events": [(key, s.events, s.position) for key, s in engine.sessions.items()],
    }


def _assert_same(path: Path, *, strict: bool = False, report_bad: bool = True) -> dict[str, Any]:
    """The reference's outcome with changes wanted, after checking both engines agree
    with changes wanted and without."""
    found = []
    for wanted in (True, False):
        reference = _read("python", path, wanted=wanted, strict=strict, report_bad=report_bad)
        native = _read("native", path, wanted=wanted, strict=strict, report_bad=report_bad)
        for part in reference:
            assert native[part] == reference[part], (part, wanted)
        found.append(reference)
    return found[0]


@pytest.mark.parametrize("seed", [1, 7])
def test_simulated_days_read_by_the_core_are_the_reference(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "day.jsonl"
    with path.open("wb") as out:
        simulate(out, agents=30, seed=seed, minutes=90.0)
    found = _assert_same(path)
    assert found["consumed"][0] > 3000
    assert len(found["changes"]) > 3000


@pytest.mark.parametrize("seed", [3, 5, 8])
def test_the_golden_streams_read_by_the_core_are_the_reference(seed: int) -> None:
    _assert_same(GOLDEN / f"seed-{seed}.jsonl.gz")


# --- hostile files --------------------------------------------------------------------------

BROKEN_LINES = [
    b"", b"   ", b"not json", b'{"session": "a", "event": {"Type": "AgentState", "X": 1.5}}',
    b'{"session": "a", "event": {"Type": "AgentLeg", "AgentLegId": 123456789012345678901234}}',
    b'{"session": "a", "event": {"Type": "AgentState", "CurrentState": "Available",'
    b' "CurrentState": "Unavailable"}}',
    b'{"session": "a", "event": {"Type": "AgentState", "CurrentState": "\xff\xfe"}}',
    b'{"session": "a", "event": ' + b"[" * 200 + b"]" * 200 + b"}",
    b'\xef\xbb\xbf{"session": "a", "event": {"Type": "Mute", "IsMuted": "True"}}',
    b'{"session": 7, "event": {"Type": "Mute"}}', b'{"session": "a"}', b'{"events": 5}',
    b'{"session": "a", "events": [1, {"Type": "Mute"}]}', b'{"no": "type"}', b"[]", b"17",
    b'{"session": "a", "event": {"Type": "CallContactEvent", "ContactID": "\\u0031\\/2",'
    b' "Status": "Active"}}',
    b'[{"session": "a", "event": {"Type": "Mute", "IsMuted": "False"}}, {"Type": "Mute"}]',
]


@st.composite
def hostile_files(draw: st.DrawFn) -> bytes:
    stream = draw(hostile_streams())
    lines: list[bytes] = []
    at = 0
    while at < len(stream):
        key, event, batch = stream[at]
        group = [event]
        at += 1
        while at < len(stream) and stream[at][0] == key and stream[at][2] == batch \
                and draw(st.booleans()):
            group.append(stream[at][1])
            at += 1
        shape = draw(st.sampled_from(["envelope", "envelopes", "response", "bare", "array"]))
        value: Any
        if shape == "envelope" and len(group) == 1:
            value = {"session": key, "event": group[0]}
        elif shape == "response":
            value = {"sessionId": key, "events": group}
        elif shape == "bare" and len(group) == 1:
            value = group[0]
        elif shape == "array":
            value = [{"session": key, "events": group}]
        else:
            value = {"session": key, "events": group}
        spaced = draw(st.booleans())
        # json writes what orjson cannot (integers past 64 bits), and spaces and escapes
        text = json.dumps(value, ensure_ascii=draw(st.booleans()),
                          separators=(", ", ": ") if spaced else (",", ":"))
        lines.append(text.encode("utf-8", "surrogatepass"))
        if draw(st.integers(0, 6)) == 0:
            lines.append(draw(st.sampled_from(BROKEN_LINES)))
    return b"\n".join(lines) + b"\n"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=hostile_files(), strict=st.booleans(), report_bad=st.booleans())
def test_hostile_files_read_by_the_core_are_the_reference(
        tmp_path_factory: pytest.TempPathFactory, data: bytes, strict: bool,
        report_bad: bool) -> None:
    path = tmp_path_factory.mktemp("hostile") / "hostile.jsonl"
    # the first line decides between JSON Lines and a document: keep it a plain one
    path.write_bytes(b'{"session": "first", "event": {"Type": "Mute"}}\n' + data)
    _assert_same(path, strict=strict, report_bad=report_bad)
    reports = []
    for name in ("python", "native"):  # session-fsm validate's path
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SESSION_FSM_ENGINE", name)
            reports.append(orjson.dumps(validate_files(path).to_json()))
    assert reports[1] == reports[0]


def test_a_line_the_core_leaves_is_not_half_applied(tmp_path: Path) -> None:
    """A response whose second event is not JSON the core reads (a float) goes to the
    reader whole: its first event is applied once, not twice."""
    path = tmp_path / "half.jsonl"
    first = {"Type": "AgentState", "CurrentState": "Available", "IsAcw": "False",
             "StartTimeUTC": "2024-03-04T08:00:00.000Z", "NextStates": []}
    lines = [{"session": "a", "event": {"Type": "AgentSessionStart", "AgentId": "1"}},
             {"session": "a", "events": [first, {"Type": "CustomEvent", "Score": 0.5}]}]
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    found = _assert_same(path)
    assert found["events"] == [("a", 3, 3)]
    transitions = [orjson.loads(c) for c in found["changes"]]
    assert sum(1 for c in transitions if c.get("machine") == "agent_state") == 1


def _read_chunked(engine_name: str, path: Path, limit: int) -> dict[str, Any]:
    """The reader's items fed as ``validate``/``changes`` feed them, with the native core
    taking lines (``take_lines``) when it runs; every error reported at its place."""
    engine = SessionEngine(engine=engine_name)
    seen: list[Change] = []
    engine.subscribe(seen.append)

    def feed(key: str, wire: dict[str, Any], source: Any) -> None:
        engine.feed(wire, key=key, source=source, batch=source)

    taker = engine.line_taker(feed)

    def take(data: bytes, name: str, line: int, limit: int, last: bool) -> tuple[int, int]:
        assert taker is not None
        used, lines, _ = taker(data, name, line, limit, last)
        return used, lines

    errors = []
    for item in iter_wire([str(path)], on_error="report", max_line_bytes=limit,
                          take_lines=take if taker is not None else None):
        if isinstance(item, ReadError):
            errors.append(str(item.error))
            engine.report_input_error(item.key, item.error, item.source)
        else:
            feed(*item)
    engine.finish()
    return {"errors": errors, "changes": [orjson.dumps(as_json(c)) for c in seen],
            "snapshots": orjson.dumps(snapshots_json(engine.snapshot())),
            "checkpoint": ck.to_bytes(engine)}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=hostile_files(), chunk=st.sampled_from([1, 7, 64, 1000, 1 << 20]),
       limit=st.sampled_from([40, 300, 700, 16 << 20]), tail=st.booleans())
def test_chunks_and_line_limits_read_by_the_core_are_the_readers(
        tmp_path_factory: pytest.TempPathFactory, data: bytes, chunk: int, limit: int,
        tail: bool) -> None:
    """Lines cut by chunk ends, lines over the limit (the rest of the file is not read),
    blank and CRLF lines and a last line with no newline: what the core takes and what
    it leaves add up to what the reader reads."""
    path = tmp_path_factory.mktemp("chunks") / "chunks.jsonl"
    body = b'{"session": "first", "event": {"Type": "Mute"}}\n' + data.replace(b"\n\n", b"\r\n\n")
    path.write_bytes(body.rstrip(b"\n") if tail else body)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reader, "_CHUNK", chunk)
        reference = _read_chunked("python", path, limit)
        native = _read_chunked("native", path, limit)
    for part in reference:
        assert native[part] == reference[part], part


def test_damaged_gzip_after_good_lines_is_reported_where_the_reader_reports_it(
        tmp_path: Path) -> None:
    lines = [orjson.dumps({"session": "a", "event": {"Type": "Mute", "IsMuted": str(n % 2 == 0)}})
             for n in range(3000)]
    whole = gzip.compress(b"\n".join(lines) + b"\n")
    path = tmp_path / "damaged.jsonl.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    reference = _read_chunked("python", path, 16 << 20)
    native = _read_chunked("native", path, 16 << 20)
    assert native == reference
    assert any("damaged gzip" in error or "compressed file ended" in error
               for error in reference["errors"])


def test_digests_of_the_same_event_written_four_ways_are_the_references(tmp_path: Path) -> None:
    """The core takes a recorder's line's own bytes as the digest's JSON only when they are
    orjson's compact form; spaced, escaped or `-0` lines are written out again. Every
    digest shows in the checkpoints (last_digest, the redelivery memory), compared here."""
    start = {"Type": "AgentSessionStart", "AgentId": "1"}
    call = {"Type": "CallContactEvent", "ContactID": "17", "Status": "Incoming",
            "Skill": "A/B é", "StartTimeUTC": "2024-03-04T08:00:00.000Z",
            "LastStateChangeTimeUTC": "2024-03-04T08:00:00.000Z", "Note": 0}
    lines = [orjson.dumps({"session": "a", "event": start}),
             orjson.dumps({"session": "a", "event": call}),
             json.dumps({"session": "a", "event": call}).encode(),  # spaced, \u00e9
             orjson.dumps({"session": "a", "event": call}).replace(b"A/B", b"A\\/B"),
             orjson.dumps({"session": "a", "event": call}).replace(b'"Note":0', b'"Note":-0'),
             orjson.dumps(call),  # bare, under the file's key
             orjson.dumps(call) + b"  \r"]
    path = tmp_path / "four.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    found = _assert_same(path)
    duplicates = [v for v in found["violations"] if "duplicate-event" in v]
    assert len(duplicates) >= 3  # the same event again, however written
