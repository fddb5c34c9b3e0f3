"""Checkpoint / restore: a restored engine behaves exactly as the original from then on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from session_fsm.engine import AgentSession, SessionEngine, native
from session_fsm.engine.changes import Change
from session_fsm.engine.rules import Severity
from session_fsm.errors import CheckpointLoadError
from session_fsm.io import checkpoint as ck
from session_fsm.views.history import HistoryFold, SessionLog
from session_fsm.wire.reader import iter_wire


def _t(minute: int, second: int = 0) -> str:
    return f"2013-09-11T05:{minute:02d}:{second:02d}.000Z"


def _state(state: str, at: str, *, acw: bool = False, timeout: str = "0",
           nexts: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"Type": "AgentState", "CurrentState": state, "CurrentOutReason": "",
            "NextStates": [{"State": n, "OutReason": ""} for n in nexts],
            "StartTimeUTC": at, "IsAcw": "True" if acw else "False", "AcwTimeout": timeout}


def _call(cid: str, status: str, at: str, *, final: bool = False, linked: bool = False,
          code: str = "NA") -> dict[str, Any]:
    return {"Type": "CallContactEvent", "ContactID": cid, "Status": status,
            "CallType": "Regular", "Skill": "1507", "IsInbound": "True",
            "StartTimeUTC": _t(1), "LastStateChangeTimeUTC": at, "DisconnectCode": code,
            "IsLinked": "True" if linked else "False", "FinalState": "True" if final else "False"}


# A realistic session: leg, inbound call with two-step ACW, a chat, a monitor, an unknown
# type, a duplicate, an event after final (a violation), and the end.
STREAM: list[dict[str, Any]] = [
    {"Type": "AgentSessionStart", "BusNo": "4500", "AgentId": "12214", "SessionId": "58070815"},
    {"Type": "AgentLeg", "AgentLegId": "2200339882", "Status": "Dialing", "FinalState": "False"},
    {"Type": "AgentLeg", "AgentLegId": "2200339882", "Status": "Active", "FinalState": "False"},
    _state("Available", _t(0)),
    {"Type": "Indicator", "Name": "IndTest", "IndicatorState": "On"},
    _call("1569815", "Incoming", _t(1)),
    _state("InboundContact", _t(1), nexts=("Unavailable", "Available")),
    _call("1569815", "Active", _t(1, 5)),
    _call("1569815", "Active", _t(1, 5)),
    {"Type": "ChatContactEvent", "ContactID": "1569822", "RoomId": "2", "Status": "Incoming",
     "StartTime": _t(2), "LastStateChangeTime": _t(2), "FinalState": "False",
     "Messages": [{"Text": "asdf", "TimeStamp": _t(2, 1), "PartyType": "Client"}]},
    {"Type": "ChatText", "RoomId": "2", "Message": "Test", "PartyType": "Agent",
     "TimeStamp": _t(2, 10)},
    {"Type": "SupervisorMonitor", "MonitorStartTime": _t(3), "TargetAgentId": "9011",
     "FinalState": "False"},
    {"Type": "FutureThing", "Whatever": 1},  # a type nobody lists
    _call("1569815", "Disconnected", _t(6, 17)),
    _state("Unavailable", _t(6, 17), acw=True, timeout="60", nexts=("Available",)),
    _call("1569815", "Disconnected", _t(6, 42), final=True),
    _state("Available", _t(6, 42)),
    _call("1569815", "Active", _t(7)),
    {"Type": "AgentSessionEnd", "Success": "True", "Message": ""},
]


def _observable(session: AgentSession) -> tuple[Any, ...]:
    """Everything a user can see of a session: snapshot, records and violations."""
    return (session.snapshot(), session.violations, session.closed, session.contacts,
            session.past_legs, session.leg, session.position, session.events)


def _feed_all(events: list[dict[str, Any]], engine: SessionEngine | None = None,
              changes: list[Change] | None = None) -> SessionEngine:
    engine = engine or SessionEngine()
    for event in events:
        found = engine.feed(event, key="agent-1")
        if changes is not None:
            changes.extend(found)
    return engine


@pytest.mark.parametrize("split", range(len(STREAM) + 1))
def test_restore_at_every_split_point_equals_feeding_all(split: int) -> None:
    said: list[Change] = []
    whole = _feed_all(STREAM, changes=said)
    said.extend(whole.finish())
    # a consumer folds the history up to the split, and checkpoints it with the engine
    early: list[Change] = []
    before = _feed_all(STREAM[:split], changes=early)
    fold = HistoryFold()
    fold.apply_all(early)
    restored, position = ck.from_bytes(ck.to_bytes(before, position={"items": split}))
    folded = fold.sessions.get("agent-1") or SessionLog("agent-1")  # nothing fed yet at 0
    log = ck.load_history(orjson.loads(orjson.dumps(ck.dump_history(folded))))
    assert position == {"items": split}
    late: list[Change] = []
    _feed_all(STREAM[split:], restored, changes=late)
    late.extend(restored.finish())
    assert _observable(restored.sessions["agent-1"]) == _observable(whole.sessions["agent-1"])
    # the restored engine says exactly what the whole one said from the split on
    assert early + late == said
    resumed = HistoryFold()
    resumed.sessions["agent-1"] = log
    resumed.apply_all(late)
    everything = HistoryFold()
    everything.apply_all(said)
    assert resumed.history("agent-1") == everything.history("agent-1")


def test_the_stream_really_exercises_the_state_a_checkpoint_must_carry() -> None:
    session = _feed_all(STREAM).sessions["agent-1"]
    rules = sorted(v.rule for v in session.violations)
    # duplicate Active, the unknown FutureThing type, Active after FinalState True, and
    # the chat still open at AgentSessionEnd
    assert rules == ["contact-after-final", "contacts-open-at-end", "duplicate-event",
                     "unknown-event-type"]
    assert session.closed["1569815"].final_index == 15
    assert session.monitoring is not None
    assert session.info.status == "ended"


def test_checkpoint_knows_every_attribute_of_a_session() -> None:
    session = _feed_all(STREAM, SessionEngine(engine="python")).sessions["agent-1"]
    assert not hasattr(session, "__dict__")  # every attribute is a declared slot
    slots = {name for cls in type(session).__mro__ for name in getattr(cls, "__slots__", ())}
    assert slots == ck.SESSION_FIELDS
    # and the native core exports every record a checkpoint carries (the rest are the
    # session's own attributes, or nothing between events)
    own = {"key", "strict", "ignore", "position", "events", "finished", "_source", "_index",
           "_out"}
    assert ck.SESSION_FIELDS - own == native.PARTS


@pytest.mark.parametrize("engine", ["python", "native"])
def test_an_integer_past_64_bits_kept_from_a_dict_does_not_stop_a_checkpoint(engine: str) -> None:
    """An API user's dict may hold an integer orjson cannot write; a typed event keeps the
    bad value in its extra. The checkpoint is still written (found by the engine
    differential: it raised TypeError), and reads back as such a number in a file
    would be read: a float."""
    if engine == "native" and not native.available():
        pytest.skip("the native core is not built")
    fed = SessionEngine(engine=engine)
    fed.feed({"Type": "AgentSessionStart", "AgentId": "1"}, key="a")
    fed.feed({"Type": "HoursOfOperation", "ShowContinueReskill": 10**30, "Note": -(2**64)},
             key="a")
    data = ck.to_bytes(fed)
    restored, _ = ck.from_bytes(data)
    kept = restored.sessions["a"].hours_of_operation
    assert kept is not None
    assert kept.extra == {"ShowContinueReskill": 1e30, "Note": -float(2**64)}
    assert [v.rule for v in restored.sessions["a"].violations] == \
        [v.rule for v in fed.sessions["a"].violations] == ["bad-field"]


def test_a_kept_event_with_a_bad_field_resumes(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A session keeps typed events whole (monitoring, indicators...); one with a bad
    value keeps it in extra, as the engine left it out. Its checkpoint loads (it was
    refused as damaged, so a killed run with such an event could not resume) and goes on
    to the same end as one uninterrupted run."""
    from session_fsm.cli._common import replay_files, write_position

    lines = [{"session": "a", "event": {"Type": "AgentSessionStart", "AgentId": "1"}},
             {"session": "a", "event": {"Type": "SupervisorMonitor", "FinalState": "maybe",
                                        "TargetAgentId": "7"}},
             {"session": "a", "event": {"Type": "HoursOfOperation",
                                        "ShowContinueReskill": 1e30}},
             {"session": "a", "event": {"Type": "Indicator", "Name": "n", "IsActive": "x"}},
             {"session": "a", "event": {"Type": "AgentState", "CurrentState": "Available"}}]
    encoded = [orjson.dumps(line) + b"\n" for line in lines]
    (tmp_path / "killed").mkdir()
    (tmp_path / "killed" / "in.jsonl").write_bytes(b"".join(encoded[:4]))
    (tmp_path / "in.jsonl").write_bytes(b"".join(encoded))
    monkeypatch.chdir(tmp_path / "killed")  # the same name: sources say "in.jsonl:N"
    four = SessionEngine()  # fed as replay_files feeds, not finished: killed mid-run
    for key, wire, source in iter_wire("in.jsonl"):
        four.feed(wire, key=key, source=source, batch=source)
    monkeypatch.chdir(tmp_path)
    whole = replay_files(["in.jsonl"], skip_bad=False).engine
    write_position("state.ckpt", ["in.jsonl"], 4, engine=four)  # as a run killed there
    resumed = replay_files(["in.jsonl"], skip_bad=False, checkpoint="state.ckpt",
                           resume=True).engine
    assert [s.snapshot() for s in resumed.sessions.values()] == \
        [s.snapshot() for s in whole.sessions.values()]
    assert ck.to_bytes(resumed) == ck.to_bytes(whole)
    kept = resumed.sessions["a"].monitoring
    assert kept is not None
    assert kept.final_state is None
    assert kept.extra == {"FinalState": "maybe"}


def test_strict_and_ignore_survive() -> None:
    engine = SessionEngine(strict=True, ignore=["duplicate-event"])
    engine.feed(STREAM[0], key="k")
    restored, _ = ck.from_bytes(ck.to_bytes(engine))
    assert restored.strict is True
    assert restored.ignore == frozenset({"duplicate-event"})
    assert restored.sessions["k"].strict is True


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"hello": "world"},
         "checkpoint is not a session_fsm checkpoint (no 'format' of 'session_fsm.io.checkpoint')"),
        ([1, 2], "checkpoint is not a session_fsm checkpoint (no 'format' of "
                 "'session_fsm.io.checkpoint')"),
        ({"format": "session_fsm.io.checkpoint", "version": 4, "sessions": []},
         "checkpoint has version 4, which this session_fsm cannot read (it reads version 3)"),
        # version 1 kept whole events on records, not their digests; version 2 kept the
        # history in the engine: refused, not misread
        ({"format": "session_fsm.io.checkpoint", "version": 1, "sessions": []},
         "checkpoint has version 1, which this session_fsm cannot read (it reads version 3)"),
        ({"format": "session_fsm.io.checkpoint", "version": 2, "sessions": []},
         "checkpoint has version 2, which this session_fsm cannot read (it reads version 3)"),
        ({"format": "session_fsm.io.checkpoint", "version": 3},
         "checkpoint is damaged: strict: required field missing"),
        ({"format": "session_fsm.io.checkpoint", "version": 3, "strict": False, "ignore": [],
          "position": None, "sessions": [{"key": "k"}]},
         "checkpoint is damaged: sessions[0].strict: required field missing"),
    ],
)
def test_foreign_newer_or_damaged_documents_are_refused(document: Any, message: str) -> None:
    with pytest.raises(CheckpointLoadError) as refused:
        ck.from_bytes(orjson.dumps(document))
    assert str(refused.value) == message


def test_not_json_is_refused() -> None:
    with pytest.raises(CheckpointLoadError, match=r"^checkpoint is not JSON \("):
        ck.from_bytes(b"\x00garbage")


# --- crafted documents: every field is checked on load -----------------------------------


def _document() -> dict[str, Any]:
    """A real checkpoint of STREAM, as a file holds it: one open chat, one closed call."""
    document: dict[str, Any] = orjson.loads(ck.to_bytes(_feed_all(STREAM)))
    return document


def _at(*path: str | int) -> Any:
    """A change that puts a value at ``path`` inside the first session."""
    def change(document: dict[str, Any], value: Any) -> None:
        where: Any = document["sessions"][0]
        for step in path[:-1]:
            where = where[step]
        where[path[-1]] = value
    return change


def _appended(name: str) -> Any:
    """A change that appends a value to a list of the first session."""
    def change(document: dict[str, Any], value: Any) -> None:
        document["sessions"][0][name].append(value)
    return change


# (what is changed, the value put there, the field named, what the error says), by hand.
CRAFTED: list[tuple[Any, Any, str, str]] = [
    # the cases
    (_at("events"), -1, "sessions[0].events",
     "expected an index or count (an integer >= 0), got -1"),
    (_at("last_ended_contact"), [1], "sessions[0].last_ended_contact",
     "expected [contact id, event index] or null, got an array"),
    (_at("last_ended_contact"), ["1569815", -3], "sessions[0].last_ended_contact",
     "expected an index or count (an integer >= 0), got -3"),
    (_at("signals"), {"UpdateSkills": "5"}, "sessions[0].signals['UpdateSkills']",
     "expected an integer, got '5'"),
    (_at("signals"), {"UpdateSkills": -2}, "sessions[0].signals",
     "expected an index or count (an integer >= 0), got -2"),
    (_at("signals"), ["UpdateSkills"], "sessions[0].signals", "expected an object, got an array"),
    (_at("rooms"), {"2": 1569822}, "sessions[0].rooms['2']", "expected a string, got 1569822"),
    (_at("unknown_types"), {"PromiseKeeper": True}, "sessions[0].unknown_types['PromiseKeeper']",
     "expected an integer, got True"),
    # a wrong type at every level
    (_at("key"), 7, "sessions[0].key", "expected a string, got 7"),
    (_at("strict"), "no", "sessions[0].strict", "expected a boolean, got 'no'"),
    (_at("ignore"), "duplicate-event", "sessions[0].ignore",
     "expected an array, got 'duplicate-event'"),
    (_at("position"), 19.0, "sessions[0].position",
     "expected an index or count (an integer >= 0), got 19.0"),
    (_at("info"), "ended", "sessions[0].info", "expected an object, got 'ended'"),
    (_at("info", "status"), "paused", "sessions[0].info.status",
     "expected a session status, got 'paused'"),
    (_at("info", "end_reason"), "Tuesday", "sessions[0].info.end_reason",
     "expected an end reason or null, got 'Tuesday'"),
    (_at("agent", "state"), "Asleep", "sessions[0].agent.state",
     "expected an agent state, got 'Asleep'"),
    (_at("agent", "acw_timeout_s"), "60", "sessions[0].agent.acw_timeout_s",
     "expected an integer of at most 18 digits or null, got '60'"),
    (_at("agent", "last_digest"), -1, "sessions[0].agent.last_digest",
     "expected a 64-bit digest (an integer >= 0) or null, got -1"),
    (_at("agent", "since"), "2013-09-11T05:06:42", "sessions[0].agent.since",
     "expected an ISO 8601 time with its offset, got '2013-09-11T05:06:42'"),
    (_at("agent", "next_states"), [{"state": 5, "out_reason": "", "extra": {}}],
     "sessions[0].agent.next_states[0].state", "expected a string, got 5"),
    (_at("leg", "state"), "Ringing", "sessions[0].leg.state",
     "expected an agent-leg state, got 'Ringing'"),
    (_at("agent", "interval_index"), -5, "sessions[0].agent.interval_index",
     "expected an index or count (an integer >= 0), got -5"),
    (_at("contacts", 0, "media"), "fax", "sessions[0].contacts[0].media",
     "expected a media (call, work_item, chat, voicemail, digital, supervisor), got 'fax'"),
    (_at("contacts", 0, "state"), "Ringing", "sessions[0].contacts[0].state",
     "expected a state of the chat machine, got 'Ringing'"),
    (_at("contacts", 0, "transcript"), {"0": "hi"}, "sessions[0].contacts[0].transcript",
     "expected an array, got an object"),
    (_at("closed", 0, "last_change"), "yesterday", "sessions[0].closed[0].last_change",
     "expected an ISO 8601 time with its offset, got 'yesterday'"),
    (_at("violations", 0, "rule"), "made-up", "sessions[0].violations[0].rule",
     "expected a rule name, got 'made-up'"),
    (_at("violations", 0, "severity"), "fatal", "sessions[0].violations[0].severity",
     "expected one of error, warning, got 'fatal'"),
    (_at("indicators", "IndTest"), {"Type": "AgentState", "CurrentState": "Available"},
     "sessions[0].indicators['IndTest']", "expected an event of Type Indicator, got 'AgentState'"),
    (_at("monitoring"), {"FinalState": "True"}, "sessions[0].monitoring",
     'event object has no "Type" (a non-empty string)'),
    (_at("start_batch"), {"path": "in.jsonl", "line": 0}, "sessions[0].start_batch.line",
     "expected a line number (an integer >= 1), got 0"),
    (_at("start_batch"), [3], "sessions[0].start_batch",
     "expected a source, a string, an integer or null, got an array"),
    # what no single field says
    (_at("events"), 20, "sessions[0].events", "expected at most position (19) events, got 20"),
    (_appended("contacts"), None, "sessions[0].contacts[1]", "expected an object, got None"),
    (_at("hacked"), 1, "sessions[0]", "extra fields found (hacked)"),
]


@pytest.mark.parametrize(("change", "value", "field", "detail"), CRAFTED,
                         ids=[f"{case[2]}={case[1]!r}"[:60] for case in CRAFTED])
def test_a_crafted_field_is_refused_by_name(change: Any, value: Any, field: str,
                                            detail: str) -> None:
    document = _document()
    change(document, value)
    with pytest.raises(CheckpointLoadError) as refused:
        ck.from_bytes(orjson.dumps(document))
    assert (refused.value.field, refused.value.detail) == (field, detail)
    assert str(refused.value) == f"checkpoint is damaged: {field}: {detail}"


def test_the_untouched_document_loads() -> None:
    # the table above changes one field each: the document around it is good
    restored, _ = ck.from_bytes(orjson.dumps(_document()))
    session = restored.sessions["agent-1"]
    assert session.events == 19
    assert type(session.violations[0].severity) is Severity  # not the str it is read from


def test_nested_extras_of_a_next_state_round_trip() -> None:
    # They once went through the hook for events and refused the checkpoint as damaged.
    engine = SessionEngine()
    entry = {"State": "Available", "OutReason": "", "Why": {"a": [1]}}
    engine.feed({**_state("Available", _t(0)), "NextStates": [entry]}, key="k")
    restored, _ = ck.from_bytes(ck.to_bytes(engine))
    (next_state,) = restored.sessions["k"].agent.next_states
    assert (next_state.state, next_state.extra) == ("Available", {"Why": {"a": [1]}})


def test_a_contact_or_a_session_given_twice_is_refused() -> None:
    document = _document()
    closed = document["sessions"][0]["closed"]
    closed.append(closed[0])
    with pytest.raises(CheckpointLoadError) as refused:
        ck.from_bytes(orjson.dumps(document))
    assert str(refused.value) == ("checkpoint is damaged: sessions[0].closed: expected "
                                  "contacts of distinct ids, got '1569815'")
    document = _document()
    document["sessions"].append(document["sessions"][0])
    with pytest.raises(CheckpointLoadError) as refused:
        ck.from_bytes(orjson.dumps(document))
    assert str(refused.value) == ("checkpoint is damaged: sessions[1].key: a session key "
                                  "given twice ('agent-1')")


def test_a_damaged_checkpoint_file_is_named(tmp_path: Path) -> None:
    document = _document()
    document["sessions"][0]["events"] = -1
    path = tmp_path / "state.ckpt"
    path.write_bytes(orjson.dumps(document))
    with pytest.raises(CheckpointLoadError) as refused:
        ck.read_checkpoint(path)
    assert refused.value.file == str(path)
    assert str(refused.value) == (f"checkpoint {path} is damaged: sessions[0].events: expected "
                                  "an index or count (an integer >= 0), got -1")


def test_write_atomic_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "state.ckpt"
    ck.write_atomic(target, b"old")
    ck.write_atomic(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert [p.name for p in tmp_path.iterdir()] == ["state.ckpt"]  # no temporary left


def _dead_pid() -> int:
    """The id of a process that has ended and been reaped."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait(timeout=60)
    return done.pid


def test_only_temporaries_of_dead_writers_of_this_checkpoint_are_removed(tmp_path: Path) -> None:
    dead, live = _dead_pid(), os.getppid()
    names = [
        f".state.ckpt.{dead}.k2j_9xq0.tmp",  # this checkpoint's, its writer gone: removed
        f".state.ckpt.{live}.aaaaaaaa.tmp",  # a live writer's: kept
        f".state.ckpt.{os.getpid()}.bbbbbbbb.tmp",  # this process's own: kept
        f".state.ckpt.5.{dead}.cccccccc.tmp",  # checkpoint "state.ckpt.5"'s: kept
        f".other.ckpt.{dead}.dddddddd.tmp",  # another checkpoint's: kept
        ".state.ckpt.x1y2z3w4",  # not a name write_atomic gives: kept
        "state.ckpt",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"half")
    removed = ck.remove_stale_temporaries(tmp_path / "state.ckpt")
    assert removed == [tmp_path / names[0]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:])


# Writes a checkpoint through the real command line, but its fsync never returns: the
# temporary file is there, not yet renamed, when the parent kills the process.
_STUCK_WRITER = """
import os, sys, time
from session_fsm.cli import main
os.fsync = lambda fd: time.sleep(600)
main(["snapshot", sys.argv[1], "--checkpoint", sys.argv[2]])
"""


def test_a_writer_killed_mid_write_leaves_nothing_after_the_next_run(tmp_path: Path) -> None:
    stream = tmp_path / "in.jsonl"
    stream.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in STREAM[:4]))
    checkpoint = tmp_path / "state.ckpt"
    writer = subprocess.Popen([sys.executable, "-c", _STUCK_WRITER, str(stream),
                               str(checkpoint)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".state.ckpt.*")) and time.monotonic() < deadline:
            assert writer.poll() is None, writer.stderr.read() if writer.stderr else ""
            time.sleep(0.01)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    assert len(list(tmp_path.glob(".state.ckpt.*"))) == 1  # the killed write's temporary
    assert not checkpoint.exists()

    again = subprocess.run(_snapshot_cmd(str(stream), "--checkpoint", str(checkpoint)),
                           capture_output=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "state.ckpt"]


_EVENT = st.sampled_from(STREAM)


@given(st.lists(_EVENT, min_size=0, max_size=30), st.data())
def test_restore_equivalence_on_arbitrary_orders(events: list[dict[str, Any]],
                                                 data: st.DataObject) -> None:
    """Any order of realistic events (so: violations, duplicates) and any split point."""
    split = data.draw(st.integers(0, len(events)))
    whole = _feed_all(events)
    restored, _ = ck.from_bytes(ck.to_bytes(_feed_all(events[:split])))
    _feed_all(events[split:], restored)
    whole.finish()
    restored.finish()
    if not events:
        assert restored.sessions == whole.sessions == {}
        return
    assert _observable(restored.sessions["agent-1"]) == _observable(whole.sessions["agent-1"])


# --- kill and resume, with a real subprocess and a real signal --------------------------


def _write_long_stream(path: Path, sessions: int, calls: int) -> None:
    with path.open("wb") as out:
        for s in range(sessions):
            key = f"agent-{s:03d}"
            out.write(orjson.dumps({"session": key, "event": STREAM[0]}) + b"\n")
        for c in range(calls):
            for s in range(sessions):
                key = f"agent-{s:03d}"
                cid = f"{s}{c:06d}"
                for event in (_state("Available", _t(0)), _call(cid, "Incoming", _t(1)),
                              _state("InboundContact", _t(1)), _call(cid, "Active", _t(2)),
                              _call(cid, "Disconnected", _t(3), final=True)):
                    out.write(orjson.dumps({"session": key, "event": event}) + b"\n")


def _snapshot_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "session_fsm", "snapshot", *args]


def test_killed_snapshot_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    stream = tmp_path / "long.jsonl"
    _write_long_stream(stream, sessions=20, calls=300)  # 30,020 events
    checkpoint = tmp_path / "state.ckpt"
    uninterrupted = subprocess.run(_snapshot_cmd(str(stream), "--json"), capture_output=True,
                                   check=True, timeout=300).stdout

    run = subprocess.Popen(_snapshot_cmd(str(stream), "--json", "--checkpoint", str(checkpoint),
                                         "--checkpoint-every", "500"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.01)
    assert run.poll() is None, "the run finished before it could be killed: make it longer"
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    assert run.returncode == -signal.SIGKILL
    taken = orjson.loads(checkpoint.read_bytes())["position"]["items"]
    assert 0 < taken < 30_020

    resumed = subprocess.run(_snapshot_cmd(str(stream), "--json", "--checkpoint",
                                           str(checkpoint), "--resume"),
                             capture_output=True, check=True, timeout=300)
    assert orjson.loads(resumed.stdout) == orjson.loads(uninterrupted)
    assert orjson.loads(uninterrupted)["sessions"][0]["events"] == 1 + 300 * 5


def test_resume_refuses_a_checkpoint_of_other_files(tmp_path: Path) -> None:
    stream = tmp_path / "a.jsonl"
    _write_long_stream(stream, sessions=1, calls=1)
    other = tmp_path / "b.jsonl"
    other.write_bytes(stream.read_bytes())
    checkpoint = tmp_path / "state.ckpt"
    subprocess.run(_snapshot_cmd(str(stream), "--checkpoint", str(checkpoint)), check=True,
                   capture_output=True, timeout=60)
    refused = subprocess.run(_snapshot_cmd(str(other), "--checkpoint", str(checkpoint),
                                           "--resume"), capture_output=True, timeout=60,
                             env={**os.environ})
    assert refused.returncode == 2
    assert b"other input files" in refused.stderr
    assert b"Traceback" not in refused.stderr


def _folded_history() -> dict[str, Any]:
    fold = HistoryFold()
    engine = SessionEngine()
    engine.subscribe(fold.apply)
    _feed_all(STREAM, engine)
    return ck.dump_history(fold.sessions["agent-1"])


@pytest.mark.parametrize(("path", "value", "field", "expected"), [
    (("contacts", 0, "media"), "fax", "contacts[0].media",
     "expected a media (call, work_item, chat, voicemail, digital, supervisor), got 'fax'"),
    (("timeline", 1, "event_index"), -1, "timeline[1].event_index",
     "expected an index or count (an integer >= 0), got -1"),
    (("contacts", 0, "steps", 0, "at"), "noon", "contacts[0].steps[0].at",
     "expected an ISO 8601 time with its offset, got 'noon'"),
    (("touched_from",), 99, "touched_from", "expected at most the timeline's length (4), got 99"),
])
def test_a_damaged_history_state_is_refused_by_name(path: tuple[Any, ...], value: Any,
                                                    field: str, expected: str) -> None:
    data = _folded_history()
    assert ck.load_history(orjson.loads(orjson.dumps(data))).key == "agent-1"  # as written
    target = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(CheckpointLoadError) as raised:
        ck.load_history(orjson.loads(orjson.dumps(data)))
    assert (raised.value.field, raised.value.detail) == (field, expected)
