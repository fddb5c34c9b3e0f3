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

from session_fsm import checkpoint as ck
from session_fsm.engine import AgentSession, SessionEngine
from session_fsm.errors import CheckpointError


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
    {"Type": "PromiseKeeper", "Whatever": 1},
    _call("1569815", "Disconnected", _t(6, 17)),
    _state("Unavailable", _t(6, 17), acw=True, timeout="60", nexts=("Available",)),
    _call("1569815", "Disconnected", _t(6, 42), final=True),
    _state("Available", _t(6, 42)),
    _call("1569815", "Active", _t(7)),
    {"Type": "AgentSessionEnd", "Success": "True", "Message": ""},
]


def _observable(session: AgentSession) -> tuple[Any, ...]:
    """Everything a user can see of a session: snapshot, history and violations."""
    return (session.snapshot(), session.violations, session.agent_timeline, session.closed,
            session.contacts, session.past_legs, session.leg, session.next_state_changes,
            session.position, session.events)


def _feed_all(events: list[dict[str, Any]], engine: SessionEngine | None = None) -> SessionEngine:
    engine = engine or SessionEngine()
    for event in events:
        engine.feed(event, key="agent-1")
    return engine


@pytest.mark.parametrize("split", range(len(STREAM) + 1))
def test_restore_at_every_split_point_equals_feeding_all(split: int) -> None:
    whole = _feed_all(STREAM)
    before = _feed_all(STREAM[:split])
    restored, position = ck.from_bytes(ck.to_bytes(before, position={"items": split}))
    assert position == {"items": split}
    _feed_all(STREAM[split:], restored)
    whole.finish()
    restored.finish()
    assert _observable(restored.sessions["agent-1"]) == _observable(whole.sessions["agent-1"])


def test_the_stream_really_exercises_the_state_a_checkpoint_must_carry() -> None:
    session = _feed_all(STREAM).sessions["agent-1"]
    rules = sorted(v.rule for v in session.violations)
    # duplicate Active, the unknown PromiseKeeper type, Active after FinalState True, and
    # the chat still open at AgentSessionEnd
    assert rules == ["contact-after-final", "contacts-open-at-end", "duplicate-event",
                     "unknown-event-type"]
    assert session.closed["1569815"].steps[-1].status == "Active"
    assert session.monitoring is not None
    assert session.info.status == "ended"


def test_checkpoint_knows_every_attribute_of_a_session() -> None:
    session = _feed_all(STREAM).sessions["agent-1"]
    assert not hasattr(session, "__dict__")  # every attribute is a declared slot
    assert set(type(session).__slots__) == ck.SESSION_FIELDS


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
        ({"hello": "world"}, "not a session_fsm checkpoint"),
        ({"format": "session_fsm.checkpoint", "version": 3, "sessions": []}, "version 3"),
        # version 1 kept whole events on records, not their digests: refused, not misread
        ({"format": "session_fsm.checkpoint", "version": 1, "sessions": []}, "version 1"),
        ({"format": "session_fsm.checkpoint", "version": 2}, "damaged checkpoint"),
        ({"format": "session_fsm.checkpoint", "version": 2, "strict": False, "ignore": [],
          "sessions": [{"key": "k"}]}, "damaged checkpoint"),
    ],
)
def test_foreign_newer_or_damaged_documents_are_refused(document: Any, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        ck.from_bytes(orjson.dumps(document))


def test_not_json_is_refused() -> None:
    with pytest.raises(CheckpointError, match="not JSON"):
        ck.from_bytes(b"\x00garbage")


def test_write_atomic_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "state.ckpt"
    ck.write_atomic(target, b"old")
    ck.write_atomic(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert [p.name for p in tmp_path.iterdir()] == ["state.ckpt"]  # no temporary left


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
