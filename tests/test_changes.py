"""What ``feed()`` returns: the change stream, asserted as h11's tests assert on events.

Every expected change is written out by hand from the documentation's meaning: which
table row an event fires (``diagrams/``), in which order the handler reports it, and
the server times the events carry.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from helpers import (
    agent_state,
    call,
    chat,
    chat_text,
    run,
    session_end,
    session_start,
    utc,
)

from session_fsm.engine import SessionEngine
from session_fsm.engine.changes import (
    NO_CHANGES,
    AcwLinked,
    AgentStatus,
    Change,
    ContactDetails,
    LinkMoved,
    Noted,
    StatusAfterFinal,
    TranscriptAdded,
    Transition,
    as_json,
)
from session_fsm.engine.rules import Severity, Violation
from session_fsm.engine.snapshot import to_json

KEY = "agent-1"
CALL = "1569815"
T0 = utc(2013, 9, 10, 20, 5, 37)
RING = utc(2013, 9, 10, 20, 6, 0)
TALK = utc(2013, 9, 10, 20, 6, 20)
HANGUP = utc(2013, 9, 10, 20, 10, 0)
DONE = utc(2013, 9, 10, 20, 10, 25)


def feed_all(engine: SessionEngine, *events: dict[str, object]) -> list[tuple[Change, ...]]:
    return [engine.feed(e, key=KEY) for e in events]


def moves(changes: tuple[Change, ...]) -> list[tuple[str, str | None, str, str, str]]:
    return [(c.machine, c.subject, c.from_state, c.to_state, c.trigger)
            for c in changes if isinstance(c, Transition)]


def test_a_call_through_acw_says_each_step_as_it_happens() -> None:
    engine = SessionEngine()
    start, available, incoming, busy, active, hangup, acw, final, back = feed_all(
        engine, session_start(), agent_state("Available", at=T0),
        call(CALL, "Incoming", at=RING), agent_state("InboundContact", at=RING),
        call(CALL, "Active", at=TALK, start=RING),
        call(CALL, "Disconnected", at=HANGUP, start=RING),
        agent_state("Unavailable", at=HANGUP, acw=True, acw_timeout=30),
        call(CALL, "Disconnected", at=DONE, start=RING, final=True),
        agent_state("Available", at=DONE))

    assert start == (Transition(KEY, 0, "session", None, "not_started", "active",
                                "AgentSessionStart", None, None, False),)
    assert available == (
        Transition(KEY, 1, "agent_state", None, "Unknown", "Available", "Available",
                   "Available", T0, False),
        AgentStatus(KEY, 1, "Available", "", False, T0, 0, None))
    # first seen: what the contact is (the event's Skill, IsInbound, CallType and
    # DisconnectCode), then its move
    assert incoming == (ContactDetails(KEY, 2, CALL, "call", "1507", True, "Regular", "NA", None),
                        Transition(KEY, 2, "contact_call", CALL, "New", "Incoming", "Incoming",
                                   "Incoming", RING, False))
    assert moves(busy) == [("agent_state", None, "Available", "InboundContact", "InboundContact")]
    assert active == (Transition(KEY, 4, "contact_call", CALL, "Incoming", "Active", "Active",
                                 "Active", TALK, False),)
    hung, = hangup
    assert isinstance(hung, Transition)
    assert (hung.voice_ended, hung.contact_ended) == (True, False)  # its ACW phase begins
    # the ACW follows the contact whose voice ended: linked at once, deadline 30 s on
    deadline = utc(2013, 9, 10, 20, 10, 30)
    assert acw[1:] == (AgentStatus(KEY, 6, "Unavailable", "", True, HANGUP, 30, deadline),
                       AcwLinked(KEY, 6, CALL, HANGUP, deadline))
    assert acw[1].acw_started
    closed, = final
    assert closed == Transition(KEY, 7, "contact_call", CALL, "Disconnected", "Closed", "close",
                                "Disconnected", DONE, True)
    # each end fires once: the voice ended at the first Disconnected, the contact now
    assert closed.contact_ended
    assert not closed.voice_ended
    assert moves(back) == [("agent_state", None, "Unavailable", "Available", "Available")]


def test_acw_before_the_contact_ends_is_linked_when_the_contact_ends() -> None:
    # the documentation never says which comes first: here the AgentState does
    engine = SessionEngine()
    feed_all(engine, session_start(), agent_state("Available", at=T0),
             call(CALL, "Active", at=TALK), agent_state("InboundContact", at=TALK))
    acw = engine.feed(agent_state("Unavailable", at=HANGUP, acw=True), key=KEY)
    assert [type(c) for c in acw] == [Transition, AgentStatus]  # nothing to link yet
    ended = engine.feed(call(CALL, "Disconnected", at=HANGUP, final=True), key=KEY)
    assert ended == (
        Transition(KEY, 5, "contact_call", CALL, "Active", "Disconnected", "Disconnected",
                   "Disconnected", HANGUP, False),
        Transition(KEY, 5, "contact_call", CALL, "Disconnected", "Closed", "close",
                   "Disconnected", HANGUP, True),
        AcwLinked(KEY, 5, CALL, HANGUP, None))


def test_a_redelivered_event_changes_nothing_and_returns_the_shared_empty_tuple() -> None:
    engine = SessionEngine()
    event = call(CALL, "Active", at=TALK)
    first = engine.feed(event, key=KEY)
    again = engine.feed(dict(event), key=KEY)
    assert [type(c) for c in first] == [ContactDetails, Transition]
    assert again is NO_CHANGES
    # validation still hears of it: the warning is the session's, not a change
    assert [v.rule for v in engine.sessions[KEY].violations] == ["duplicate-event"]


def test_next_state_set_and_cleared_are_transitions_of_their_own() -> None:
    engine = SessionEngine()
    engine.feed(agent_state("InboundContact", at=T0), key=KEY)
    chosen = engine.feed(agent_state("InboundContact", at=T0, next_states=[("Unavailable",
                                                                               "Lunch")]), key=KEY)
    cleared = engine.feed(agent_state("InboundContact", at=T0), key=KEY)
    set_, = chosen
    assert isinstance(set_, Transition)
    assert (set_.from_state, set_.to_state, set_.trigger) == ("InboundContact", "InboundContact",
                                                              "next_set")
    assert set_.next_state_set
    assert not set_.next_state_cleared
    clear, = cleared
    assert isinstance(clear, Transition)
    assert clear.next_state_cleared


def test_the_linked_dialer_call_moves() -> None:
    engine = SessionEngine()
    first = engine.feed(call("1", "Active", at=TALK, linked=True, inbound=False), key=KEY)
    assert first[0] == LinkMoved(KEY, 0, None, "1")
    engine.feed(call("1", "Active", at=TALK, linked=False, inbound=False), key=KEY)
    assert engine.sessions[KEY].linked_contact_id is None
    again = engine.feed(call("2", "Active", at=HANGUP, linked=True, inbound=False), key=KEY)
    assert again[0] == LinkMoved(KEY, 2, None, "2")
    ended = engine.feed(call("2", "Disconnected", at=DONE, linked=True, inbound=False,
                             final=True), key=KEY)
    # the closing event keeps IsLinked True: the call that ends takes its link with it
    assert [c for c in ended if isinstance(c, LinkMoved)] == [LinkMoved(KEY, 3, "2", None)]


def test_a_chat_adds_only_the_transcript_lines_it_did_not_have() -> None:
    engine = SessionEngine()
    hello = ("Client", "hello", RING)
    first = engine.feed(chat("77", "Active", at=RING, messages=[hello]), key=KEY)
    assert first[2:] == (TranscriptAdded(KEY, 0, "77", "Client", "hello", RING),)
    # the next event repeats the transcript so far and adds one line
    second = engine.feed(chat("77", "Active", at=RING, messages=[
        hello, ("Agent", "hi", TALK)]), key=KEY)
    assert second == (TranscriptAdded(KEY, 1, "77", "Agent", "hi", TALK),)
    typed = engine.feed(chat_text("2", "Client", "thanks", at=HANGUP), key=KEY)
    assert typed == (TranscriptAdded(KEY, 2, "77", "Client", "thanks", HANGUP),)


def test_a_status_after_final_is_said_with_its_violation() -> None:
    engine = SessionEngine()
    feed_all(engine, call(CALL, "Disconnected", at=HANGUP, final=True))
    late = engine.feed(call(CALL, "Active", at=DONE), key=KEY)
    violation, after = late
    assert isinstance(violation, Violation)
    assert (violation.rule, violation.severity) == ("contact-after-final", Severity.ERROR)
    assert after == StatusAfterFinal(KEY, 1, "contact_call", CALL, "Active", DONE, False, "NA")


def test_the_session_ends_once_whatever_repeats_the_end() -> None:
    engine = SessionEngine()
    engine.feed(session_start(), key=KEY)
    ended = engine.feed(session_end(), key=KEY)
    assert moves(ended) == [("session", None, "active", "ended", "AgentSessionEnd")]
    end, = ended
    assert isinstance(end, Transition)
    assert end.session_ended
    assert engine.end(KEY) is NO_CHANGES  # the 409 after it is the same end
    assert engine.feed(session_end(), key=KEY) is NO_CHANGES


def test_a_409_is_the_end_when_the_session_end_was_purged() -> None:
    engine = SessionEngine()
    engine.feed(session_start(), key=KEY)
    engine.feed(call(CALL, "Active", at=TALK), key=KEY)
    ended = engine.end(KEY)
    assert [type(c) for c in ended] == [Transition, Violation]
    assert moves(ended) == [("session", None, "active", "ended", "409")]
    assert ended[1].rule == "contacts-open-at-end"  # type: ignore[union-attr]


def test_noted_events_name_what_they_are_kept_under() -> None:
    engine = SessionEngine()
    changes = engine.feed({"Type": "Indicator", "Name": "Recording", "Action": "On"}, key=KEY)
    noted, = changes
    assert isinstance(noted, Noted)
    assert (noted.event_type, noted.subject) == ("Indicator", "Recording")
    signal, = engine.feed({"Type": "UpdateSkills"}, key=KEY)
    assert isinstance(signal, Noted)
    assert signal.event_type == "UpdateSkills"
    unknown = engine.feed({"Type": "PromiseKeeperV9"}, key=KEY)
    assert [type(c) for c in unknown] == [Noted, Violation]  # kept, and warned about


def test_a_bad_field_is_a_violation_and_the_rest_of_the_event_applies() -> None:
    # IsAcw "maybe" is no boolean: left out (so no ACW), the state still applies
    engine = SessionEngine()
    changes = engine.feed({"Type": "AgentState", "CurrentState": "Available", "IsAcw": "maybe",
                           "StartTimeUTC": "2013-09-10T20:05:37.000Z"}, key=KEY)
    assert [as_json(c)["kind"] for c in changes] == ["violation", "transition", "agent_status"]
    bad, moved, status = changes
    assert isinstance(bad, Violation)
    assert (bad.rule, bad.event_index) == ("bad-field", 0)
    assert isinstance(moved, Transition)
    assert (moved.machine, moved.to_state, moved.at) == ("agent_state", "Available", T0)
    assert isinstance(status, AgentStatus)
    assert (status.state, status.is_acw) == ("Available", False)


def test_an_item_that_is_no_event_is_only_a_violation() -> None:
    engine = SessionEngine()
    (bad,) = engine.feed({"Type": "", "Status": "Active"}, key=KEY)
    assert isinstance(bad, Violation)
    assert (bad.rule, bad.event_index) == ("not-an-event", 0)
    assert engine.sessions[KEY].events == 0


def test_the_end_of_stream_checks_are_changes_too() -> None:
    engine = SessionEngine()
    engine.feed(agent_state("Available", at=T0), key=KEY)
    found = engine.finish()
    assert [(c.rule, c.event_index) for c in found if isinstance(c, Violation)] == [
        ("no-session-start", 0)]
    assert engine.finish() is NO_CHANGES  # idempotent


# --- subscriptions ------------------------------------------------------------------------


def test_subscribers_get_every_change_in_order_and_can_leave() -> None:
    engine = SessionEngine()
    seen: list[Change] = []
    unsubscribe = engine.subscribe(seen.append)
    returned = [c for e in (session_start(), agent_state("Available", at=T0),
                            call(CALL, "Incoming", at=RING)) for c in engine.feed(e, key=KEY)]
    assert seen == returned
    assert len(seen) == 5  # session, agent state and its status, contact details and move
    unsubscribe()
    unsubscribe()  # harmless twice
    engine.feed(call(CALL, "Active", at=TALK), key=KEY)
    assert len(seen) == 5


def test_a_subscriber_that_raises_is_logged_and_harms_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    engine = SessionEngine()
    seen: list[Change] = []

    def broken(change: Change) -> None:
        raise RuntimeError("the desktop crashed")

    engine.subscribe(broken)
    engine.subscribe(seen.append)
    with caplog.at_level(logging.ERROR, logger="session_fsm.engine"):
        changes = engine.feed(call(CALL, "Incoming", at=RING), key=KEY)
    assert seen == list(changes)  # the next subscriber still got it
    assert engine.sessions[KEY].contacts[CALL].status == "Incoming"  # applied
    assert "the desktop crashed" in caplog.text
    engine.feed(call(CALL, "Active", at=TALK), key=KEY)  # still subscribed, still applied
    assert len(seen) == 3  # details and Incoming, then Active


def test_a_lone_subscriber_that_raises_still_gets_the_rest_of_the_event(
        caplog: pytest.LogCaptureFixture) -> None:
    engine = SessionEngine()
    seen: list[Change] = []

    def flaky(change: Change) -> None:
        seen.append(change)
        if len(seen) == 1:
            raise RuntimeError("the wallboard hiccupped")

    engine.subscribe(flaky)
    with caplog.at_level(logging.ERROR, logger="session_fsm.engine"):
        changes = engine.feed(call(CALL, "Incoming", at=RING), key=KEY)
    assert len(changes) == 2  # the contact's details, then its move to Incoming
    assert seen == list(changes)
    assert [str(r.exc_info[1]) for r in caplog.records if r.exc_info] == [
        "the wallboard hiccupped"]  # logged once, with its exception


def test_a_subscriber_that_leaves_while_called_gets_the_rest_of_that_event_only() -> None:
    engine = SessionEngine()
    seen: list[Change] = []

    def once(change: Change) -> None:
        seen.append(change)
        unsubscribe()

    unsubscribe = engine.subscribe(once)
    changes = engine.feed(call(CALL, "Incoming", at=RING), key=KEY)
    engine.feed(call(CALL, "Active", at=TALK), key=KEY)
    assert seen == list(changes)
    assert len(seen) == 2


# --- session-fsm changes --------------------------------------------------------------------


def _stream(path: Path, *events: object) -> str:
    path.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n"
                            for e in events))
    return str(path)


def test_changes_json_lines_have_the_contract_keys(tmp_path: Path) -> None:
    path = _stream(tmp_path / "day.jsonl", session_start(), call(CALL, "Incoming", at=RING),
                   call(CALL, "Incoming", at=RING), "{not json",
                   call(CALL, "Disconnected", at=DONE, final=True))
    done = run("changes", path, "--json")
    # the unreadable line 4: reported at its place and on stderr, and the exit is 2
    assert done.exit_code == 2, done.stderr
    said = done.stderr.splitlines()
    assert said[0].startswith(f"session-fsm: unreadable {path}:4: not valid JSON: ")
    assert said[1:] == ["session-fsm: 1 unreadable item in the input, reported at its place "
                        "(use --skip-bad to accept them)"]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines == [
        {"session": path, "event_index": 0, "kind": "transition", "machine": "session",
         "subject": None, "from": "not_started", "to": "active", "trigger": "AgentSessionStart",
         "status": None, "at": None, "final": False},
        {"session": path, "event_index": 1, "kind": "contact_details", "contact_id": CALL,
         "media": "call", "skill": "1507", "is_inbound": True, "call_type": "Regular",
         "disconnect_code": "NA", "payload": None},
        {"session": path, "event_index": 1, "kind": "transition", "machine": "contact_call",
         "subject": CALL, "from": "New", "to": "Incoming", "trigger": "Incoming",
         "status": "Incoming", "at": "2013-09-10T20:06:00.000Z", "final": False},
        # the redelivered line 3 adds no line; the unreadable line 4 is a violation
        {"session": path, "event_index": 3, "kind": "violation", "rule": "not-json",
         "severity": "error", "contact_id": None, "source": f"{path}:4",
         "message": lines[3]["message"]},
        {"session": path, "event_index": 4, "kind": "transition", "machine": "contact_call",
         "subject": CALL, "from": "Incoming", "to": "Disconnected", "trigger": "Disconnected",
         "status": "Disconnected", "at": "2013-09-10T20:10:25.000Z", "final": False},
        {"session": path, "event_index": 4, "kind": "transition", "machine": "contact_call",
         "subject": CALL, "from": "Disconnected", "to": "Closed", "trigger": "close",
         "status": "Disconnected", "at": "2013-09-10T20:10:25.000Z", "final": True},
    ]
    assert lines[3]["message"]


def test_changes_for_people_escape_what_the_input_says(tmp_path: Path) -> None:
    path = _stream(tmp_path / "day.jsonl", call(CALL, "\x1b[2JIncoming", at=RING))
    done = run("changes", path)
    assert done.exit_code == 0, done.stderr
    assert "\x1b" not in done.stdout
    assert "\\x1b[2JIncoming" in done.stdout
    assert f"{path}  #0  violation  warning unknown-status" in done.stdout


def test_changes_of_an_empty_input_says_so(tmp_path: Path) -> None:
    done = run("changes", _stream(tmp_path / "empty.jsonl"))
    assert (done.exit_code, done.stdout) == (0, "")
    assert "held no events" in done.stderr


def test_every_change_kind_has_its_json_keys() -> None:
    # the README's table of kinds, key for key
    at = "2013-09-10T20:06:00.000Z"
    assert as_json(AgentStatus(KEY, 1, "Unavailable", "Lunch", False, RING, None, None)) == {
        "session": KEY, "event_index": 1, "kind": "agent_status", "state": "Unavailable",
        "out_reason": "Lunch", "is_acw": False, "at": at, "acw_timeout_s": None,
        "acw_deadline": None}
    work = {"work_item_id": "W1", "work_item_type": "Email", "payload": "{}"}
    assert as_json(ContactDetails(KEY, 1, "55", "work_item", "1528", None, None, None,
                                  work)) == {
        "session": KEY, "event_index": 1, "kind": "contact_details", "contact_id": "55",
        "media": "work_item", "skill": "1528", "is_inbound": None, "call_type": None,
        "disconnect_code": None, "payload": work}
    assert as_json(AcwLinked(KEY, 2, CALL, RING, None)) == {
        "session": KEY, "event_index": 2, "kind": "acw_linked", "contact_id": CALL,
        "started": at, "deadline": None}
    assert as_json(LinkMoved(KEY, 3, "1", None)) == {
        "session": KEY, "event_index": 3, "kind": "link_moved", "from_contact": "1",
        "to_contact": None}
    assert as_json(TranscriptAdded(KEY, 4, "77", "Client", "hi", RING)) == {
        "session": KEY, "event_index": 4, "kind": "transcript", "contact_id": "77",
        "party": "Client", "text": "hi", "at": at}
    assert as_json(StatusAfterFinal(KEY, 5, "agent_leg", "9", "Active", None, False, None)) == {
        "session": KEY, "event_index": 5, "kind": "status_after_final", "machine": "agent_leg",
        "subject": "9", "status": "Active", "at": None, "final": False,
        "disconnect_code": None}
    assert as_json(Noted(KEY, 6, "PopURL", CALL, object())) == {
        "session": KEY, "event_index": 6, "kind": "noted", "type": "PopURL", "subject": CALL}


def test_a_strict_raise_leaves_no_change_behind_for_the_next_event() -> None:
    from session_fsm.errors import SequenceError

    engine = SessionEngine(strict=True)
    engine.feed(call("1", "Active", at=TALK, linked=True, inbound=False), key=KEY)
    engine.feed(call("2", "Active", at=HANGUP, inbound=False), key=KEY)
    # call 2 goes back in time (a warning, recorded first) and takes the link while call 1
    # holds it (an error: strict mode raises before anything moves)
    with pytest.raises(SequenceError):
        engine.feed(call("2", "Holding", at=TALK, linked=True, inbound=False), key=KEY)
    after = engine.feed(call("1", "Holding", at=DONE, linked=True, inbound=False), key=KEY)
    assert [type(c) for c in after] == [Transition]
    assert after[0].event_index == 3  # type: ignore[union-attr]


def test_asking_for_an_unknown_session_creates_none() -> None:
    engine = SessionEngine()
    engine.feed(session_start(), key=KEY)
    with pytest.raises(KeyError, match="no session 'typo'"):
        engine.snapshot("typo")
    assert list(engine.sessions) == [KEY]  # still one session
    snap, = engine.snapshot(KEY)
    assert snap.session.status == "active"


def test_an_unclean_session_end_is_kept_and_warned_about() -> None:
    engine = SessionEngine()
    engine.feed(session_start(), key=KEY)
    ended = engine.feed({"Type": "AgentSessionEnd", "Success": "False",
                         "Message": "Session ended abnormally"}, key=KEY)
    warning, end = ended
    assert isinstance(warning, Violation)
    assert (warning.rule, warning.severity, warning.event_index) == (
        "session-end-not-clean", Severity.WARNING, 1)
    assert isinstance(end, Transition)
    assert end.session_ended
    snap, = engine.snapshot(KEY)
    assert (snap.session.status, snap.session.end_clean, snap.session.end_message) == (
        "ended", False, "Session ended abnormally")
    assert to_json(snap)["session"]["end_clean"] is False
    # a clean end says so too, and warns of nothing
    clean = SessionEngine()
    clean.feed(session_start(), key=KEY)
    clean.feed({"Type": "AgentSessionEnd", "Success": "True", "Message": ""}, key=KEY)
    assert clean.snapshot(KEY)[0].session.end_clean is True
    assert clean.sessions[KEY].violations == []


@pytest.mark.parametrize("seed", [3, 11])
def test_every_change_of_a_simulated_day_is_whole(seed: int, tmp_path: Path) -> None:
    # The hot paths build changes from a tuple of their fields (core._new), which no
    # constructor checks: every change must have each of its fields, the key ones typed.
    from session_fsm.sim import simulate
    from session_fsm.wire.reader import iter_wire

    path = tmp_path / "day.jsonl"
    with path.open("wb") as out:
        simulate(out, agents=4, seed=seed, minutes=90.0)
    engine = SessionEngine()
    kinds: set[type] = set()
    for key, wire, source in iter_wire(path):
        for change in engine.feed(wire, key=key, source=source, batch=source):
            kinds.add(type(change))
            assert len(change) == len(type(change)._fields), change
            assert change.session == key
            assert type(change.event_index) is int
            if isinstance(change, Transition):
                assert type(change.machine) is str
                assert type(change.final) is bool
                assert type(change.from_state) is str
                assert type(change.to_state) is str
            elif isinstance(change, AgentStatus):
                assert type(change.state) is str
                assert type(change.is_acw) is bool
            elif isinstance(change, ContactDetails):
                assert type(change.contact_id) is str
                assert type(change.media) is str
    assert {Transition, AgentStatus, ContactDetails} <= kinds
