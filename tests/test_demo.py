"""``session-fsm demo`` and its bundled stream.

Expected values are worked out by hand from the stream's own timestamps (e.g. ACW of call
5810001: Disconnected at 14:09:05, FinalState True at 14:09:48, so 43 s).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from session_fsm.engine import SessionEngine
from session_fsm.views.durations import duration
from session_fsm.views.validation import validate_files
from session_fsm.wire.reader import read

REPO = Path(__file__).resolve().parent.parent
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def demo_path() -> Path:
    path = Path(str(resources.files("session_fsm").joinpath("data", "demo.jsonl")))
    assert path.is_file()
    return path


def envelopes() -> list[dict[str, Any]]:
    lines = demo_path().read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def events_of(session: str) -> Iterator[dict[str, Any]]:
    for envelope in envelopes():
        if envelope["session"] == session:
            yield from envelope.get("events", [envelope.get("event")])


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "session_fsm", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def human() -> str:
    done = run("demo")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    done = run("demo", "--json")
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def session(document: dict[str, Any], key: str) -> dict[str, Any]:
    found = [s for s in document["snapshot"]["sessions"] if s["key"] == key]
    assert len(found) == 1
    return found[0]


def history(document: dict[str, Any], key: str, contact_id: str) -> dict[str, Any]:
    sessions = [s for s in document["history"]["sessions"] if s["key"] == key]
    found = [c for c in sessions[0]["contacts"] if c["contact_id"] == contact_id]
    assert len(found) == 1
    return found[0]


# --- the stream -------------------------------------------------------------------------


def test_stream_is_keyed_envelopes_in_wire_spelling() -> None:
    booleans = {"FinalState", "IsInbound", "IsLinked", "IsAcw", "IsLogging", "Empty",
                "AllowDispositions", "OriginalState", "CanMask", "IsActive"}
    times = {"StartTimeUTC", "LastStateChangeTimeUTC", "StartTime", "LastStateChangeTime",
             "TimeStamp", "MonitorStartTime"}
    seen = 0
    for envelope in envelopes():
        assert set(envelope) in ({"session", "event"}, {"session", "events"})
        assert re.fullmatch(r"agent-\d{5}", envelope["session"])
        for event in envelope.get("events", [envelope.get("event")]):
            seen += 1
            for field, value in event.items():
                if field in booleans:
                    assert value in ("True", "False"), (field, value)
                if field in times:
                    assert ISO.match(value), (field, value)
                if field in ("ContactID", "AgentId", "SessionId", "AgentLegId", "AcwTimeout"):
                    assert isinstance(value, str), (field, value)  # IDs and integers are strings
                    assert value.isdigit(), (field, value)
    assert seen == 63


def test_stream_covers_the_scenarios() -> None:
    # inbound call with two-step ACW: Disconnected FinalState False, then True
    call = [e for e in events_of("agent-01001") if e.get("ContactID") == "5810001"]
    assert [(e["Status"], e["FinalState"]) for e in call][-2:] == [
        ("Disconnected", "False"), ("Disconnected", "True")]
    assert any(e["Type"] == "AgentState" and e["IsAcw"] == "True"
               for e in events_of("agent-01001"))
    # Personal Connection: a linked call and a second call that got no answer
    dialer = list(events_of("agent-01002"))
    assert {e["ContactID"] for e in dialer if e.get("IsLinked") == "True"} == {"5810003"}
    assert [e["ContactID"] for e in dialer if e.get("DisconnectCode") == "NoAnswer"] == [
        "5810004"]
    # chat with a ChatText transcript, a work item with PageOpen, a supervisor monitoring
    assert [e["PartyType"] for e in events_of("agent-01001") if e["Type"] == "ChatText"] == [
        "Agent", "Agent", "Client", "System"]
    assert [e["ContactID"] for e in events_of("agent-01003") if e["Type"] == "PageOpen"] == [
        "5810009"]
    types = [e["Type"] for e in events_of("agent-02001")]
    assert "SupervisorContact" in types
    assert "SupervisorMonitor" in types
    # a join: the first batch is one line, AgentSessionStart not first, the call mid-lifecycle
    first = next(e for e in envelopes() if e["session"] == "agent-01004")
    batch = [e["Type"] for e in first["events"]]
    assert batch[0] != "AgentSessionStart"
    assert "AgentSessionStart" in batch
    assert [e["Status"] for e in first["events"] if e["Type"] == "CallContactEvent"] == [
        "Active"]
    # a remote logoff
    assert {"Type": "RemoteAgentSessionEnd", "Message": "RemoteLogoff"} in list(
        events_of("agent-01003"))


def test_stream_has_no_error_violations() -> None:
    report = validate_files(demo_path())
    assert report.errors == 0
    # the one warning is on purpose: the AgentSessionEnd after a remote logoff can be lost
    assert [(v.rule, v.session) for v in report.violations] == [
        ("remote-end-without-end", "agent-01003")]


def test_stream_passes_the_strict_engine() -> None:
    """Strict mode raises on the first error-severity deviation: none may occur."""
    engine = SessionEngine(strict=True)
    for item in read(demo_path()):
        engine.feed(item.event, key=item.key, source=item.source, batch=item.source)
    engine.finish()
    assert len(engine.sessions) == 5


# --- the command ------------------------------------------------------------------------


def test_demo_names_the_key_facts(human: str) -> None:
    assert "Replayed 63 events of 5 agent sessions" in human
    # the dialer's linked call, open and linked; the other one got no answer
    assert re.search(r"5810003\s+call\s+Active\s+no\s+yes", human)
    assert re.search(r"5810004\s+call\s+closed NoAnswer", human)
    # the ACW of the inbound call (14:09:05 -> 14:09:48) and the one still running
    assert "Unavailable (ACW for 5810001) 43s" in human
    assert "ACW for 5810011 until 2024-03-12T14:41:10.000Z" in human
    assert ("call 5810001: Incoming 3s -> Active 2m 28s -> Holding 40s -> Active 2m 13s -> "
            "Disconnected 43s -> Disconnected (final)") in human
    # the remote logoff and the validation report
    assert "ended (RemoteAgentSessionEnd)" in human
    assert "monitoring agent 1004" in human
    assert "14:32:21 Client: Great, thanks!" in human
    assert "5 sessions, 63 events: 0 errors, 1 warning: ok" in human
    assert ("demo.jsonl:53: warning: remote-end-without-end: RemoteAgentSessionEnd was never "
            "followed by AgentSessionEnd or a 409 (session agent-01003, event 9)") in human


def test_demo_json_has_the_contract_keys(document: dict[str, Any]) -> None:
    assert set(document) == {"snapshot", "violations", "history"}
    sessions = document["snapshot"]["sessions"]
    assert [s["key"] for s in sessions] == [
        "agent-01001", "agent-01003", "agent-01002", "agent-02001", "agent-01004"]
    for snap in sessions:
        assert list(snap) == ["key", "session", "agent_state", "agent_leg", "contacts",
                              "linked_contact_id", "monitoring", "events", "violations"]
        assert list(snap["session"]) == ["session_id", "agent_id", "bus_no", "status",
                                         "end_reason", "end_message", "end_clean"]
        assert set(snap["agent_state"]) == {"state", "out_reason", "since", "is_acw",
                                            "acw_timeout_s", "acw_deadline", "next_states"}
        for contact in snap["contacts"]:
            assert set(contact) == {"contact_id", "media", "status", "final", "in_acw",
                                    "is_linked", "is_inbound", "call_type", "skill",
                                    "started", "last_change", "ani", "dnis",
                                    "screen_pop_url", "screen_pop_variables",
                                    "master_contact_id", "other_information",
                                    "blending_to_skill_name", "refusal_timeout_s",
                                    "refusal_deadline"}
    assert sum(s["events"] for s in sessions) == 63


def test_demo_json_facts(document: dict[str, Any]) -> None:
    dialer = session(document, "agent-01002")
    assert dialer["linked_contact_id"] == "5810003"
    assert dialer["agent_state"]["state"] == "OutboundContact"
    assert [c["contact_id"] for c in dialer["contacts"]] == ["5810003"]

    joined = session(document, "agent-01004")
    assert joined["agent_state"]["is_acw"] is True
    assert joined["agent_state"]["acw_timeout_s"] == 120
    assert joined["agent_state"]["acw_deadline"] == "2024-03-12T14:41:10.000Z"
    assert [(c["contact_id"], c["in_acw"]) for c in joined["contacts"]] == [("5810011", True)]

    remote = session(document, "agent-01003")
    assert remote["session"]["status"] == "ended"
    assert remote["session"]["end_reason"] == "RemoteAgentSessionEnd"
    assert remote["session"]["end_message"] == "RemoteLogoff"

    supervisor = session(document, "agent-02001")
    assert supervisor["monitoring"] == {"target_agent_id": "1004",
                                        "since": "2024-03-12T14:35:50.000Z",
                                        "contact_id": "5810020"}

    call = history(document, "agent-01001", "5810001")
    assert call["closed"] is True
    assert call["acw_s"] == 43.0
    assert call["handle_time_s"] == 364.0  # first Active 14:03:44 to FinalState 14:09:48
    assert call["time_in_status_s"] == {"Incoming": 3.0, "Active": 281.0, "Holding": 40.0,
                                        "Disconnected": 43.0}
    chat = history(document, "agent-01001", "5810017")
    assert [line["party"] for line in chat["transcript"]] == [
        "Client", "Agent", "Agent", "Client", "System"]

    assert [(v["rule"], v["severity"], v["session"], v["event_index"])
            for v in document["violations"]] == [
        ("remote-end-without-end", "warning", "agent-01003", 9)]


def test_demo_help_has_examples() -> None:
    done = run("demo", "--help")
    assert done.returncode == 0
    assert "Examples:" in done.stdout


@pytest.mark.parametrize(("seconds", "shown"), [
    (None, "-"), (0.0, "0s"), (3.0, "3s"), (148.0, "2m 28s"), (3725.0, "1h 02m 05s"),
    (60.4, "1m 00.4s"),
])
def test_duration(seconds: float | None, shown: str) -> None:
    assert duration(seconds) == shown


def test_piped_demo_headings_are_80_columns_not_the_pipe_width(human: str) -> None:
    """Piped output is never cut (its console is as wide as its widest table), so a
    heading's rule is drawn 80 columns long rather than across that width."""
    rules = [line for line in human.splitlines() if line and set(line) == {"─"}]
    assert [len(line) for line in rules] == [80, 80, 80]
    assert max(len(line) for line in human.splitlines()) < 1000
