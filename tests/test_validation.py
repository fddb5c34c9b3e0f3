"""Validation: every catalogue rule fires exactly once where the documentation says it
should, its clean twin does not, and realistic streams validate without errors.

Each case is a list of input lines (JSON Lines: a dict is one event, a list one batch,
a string a raw line), written to a file and validated through the reader, so the
session key, event index and ``file:line`` source are all checked. Expected indexes and
lines are worked out by hand from the stream; comments say why.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from helpers import (
    agent_state,
    call,
    leg,
    remote_end,
    session_end,
    session_start,
    utc,
)

from session_fsm.engine.rules import CATALOGUE, Severity
from session_fsm.errors import NotJsonError, Source
from session_fsm.views.validation import (
    Report,
    UnknownRuleError,
    rule_table_markdown,
    validate,
    validate_files,
)
from session_fsm.wire import events as ev
from session_fsm.wire.reader import ReadError, read

Line = dict[str, Any] | list[dict[str, Any]] | str

ROOT = Path(__file__).resolve().parent.parent
CALL = "1569815"
OTHER = "1569816"
INDICATOR = {"Type": "Indicator", "Name": "IndTest", "ImageUri": "https://www.example.com/i.png",
             "ActionType": "OpenURL", "ActionUri": "http://www.incontact.com/",
             "ToolTip": "test123", "IndicatorState": "On"}


def t(second: int) -> str:
    """A server timestamp ``second`` seconds into the call."""
    return f"2013-09-11T05:03:{second:02d}.000Z"


def write(path: Path, lines: Sequence[Line]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


@attrs.frozen
class Case:
    bad: tuple[Line, ...]
    clean: tuple[Line, ...]
    index: int
    """0-based event index of the violation within the session."""
    line: int
    """1-based input line the violating item is on."""
    contact_id: str | None = None


START = session_start()

CASES: dict[str, Case] = {
    # A status for a contact after its FinalState True (event 2) is an error at event 3.
    "contact-after-final": Case(
        bad=(START, call(CALL, "Incoming", at=t(0)),
             call(CALL, "Disconnected", at=t(5), final=True), call(CALL, "Active", at=t(9))),
        clean=(START, call(CALL, "Incoming", at=t(0)), call(CALL, "Active", at=t(5)),
               call(CALL, "Disconnected", at=t(9), final=True)),
        index=3, line=4, contact_id=CALL),
    # Active cannot end a call; only Disconnected(-like) statuses are closable.
    "final-on-open-status": Case(
        bad=(START, call(CALL, "Incoming", at=t(0)), call(CALL, "Active", at=t(5), final=True)),
        clean=(START, call(CALL, "Incoming", at=t(0)),
               call(CALL, "Disconnected", at=t(5), final=True)),
        index=2, line=3, contact_id=CALL),
    # Disconnected (ACW phase, FinalState False) -> Active is not a call edge.
    "contact-transition": Case(
        bad=(START, call(CALL, "Incoming", at=t(0)), call(CALL, "Disconnected", at=t(5)),
             call(CALL, "Active", at=t(9))),
        clean=(START, call(CALL, "Incoming", at=t(0)), call(CALL, "Active", at=t(5)),
               call(CALL, "Disconnected", at=t(9))),
        index=3, line=4, contact_id=CALL),
    # The Indicator comes after AgentSessionEnd.
    "event-after-end": Case(
        bad=(START, session_end(), INDICATOR),
        clean=(START, INDICATOR, session_end()),
        index=2, line=3),
    # Leg 2200339882 is Active again after its final Disconnected.
    "leg-after-final": Case(
        bad=(START, leg(status="Dialing"), leg(status="Active"),
             leg(status="Disconnected", final=True), leg(status="Active")),
        clean=(START, leg(status="Dialing"), leg(status="Active"),
               leg(status="Disconnected", final=True), leg("2200339884", "Dialing")),
        index=4, line=5),
    # Active -> Dialing goes backwards.
    "leg-transition": Case(
        bad=(START, leg(status="Dialing"), leg(status="Active"), leg(status="Dialing")),
        clean=(START, leg(status="Dialing"), leg(status="Active"),
               leg(status="Disconnected", final=True)),
        index=3, line=4),
    # Two dialer calls with IsLinked True at once: the second one is the violation.
    "two-linked-calls": Case(
        bad=(START, call(CALL, "Dialing", at=t(0), inbound=False, linked=True),
             call(OTHER, "Dialing", at=t(1), inbound=False, linked=True)),
        clean=(START, call(CALL, "Dialing", at=t(0), inbound=False, linked=True),
               call(OTHER, "Dialing", at=t(1), inbound=False, linked=False)),
        index=2, line=3, contact_id=OTHER),
    # Three NextStates; the protocol has next and next-next only.
    "too-many-next-states": Case(
        bad=(START, agent_state("Unavailable", at=t(0),
                                next_states=["Available", "Unavailable", "Available"])),
        clean=(START, agent_state("Unavailable", at=t(0),
                                  next_states=["Unavailable", "Available"])),
        index=1, line=2),
    # "soon" is no integer: the item takes index 1 and is reported, not applied.
    "bad-field": Case(
        bad=(START, {**agent_state("Available", at=t(0)), "AcwTimeout": "soon"}),
        clean=(START, {**agent_state("Available", at=t(0)), "AcwTimeout": "30"}),
        index=1, line=2),
    # A truncated line.
    "not-json": Case(
        bad=(START, json.dumps(INDICATOR)[:-1]),
        clean=(START, json.dumps(INDICATOR)),
        index=1, line=2),
    # Valid JSON, but no Type: not an event.
    "not-an-event": Case(
        bad=(START, {k: v for k, v in INDICATOR.items() if k != "Type"}),
        clean=(START, INDICATOR),
        index=1, line=2),
    # Detected at the end of the stream; reported at the first event (line 1, not the last).
    "no-session-start": Case(
        bad=(agent_state("Available", at=t(0)), INDICATOR),
        clean=(START, agent_state("Available", at=t(0)), INDICATOR),
        index=0, line=1),
    # An Active call first seen on a later line than AgentSessionStart: no join replay.
    # The clean twin has both in one get-next-event batch (one line).
    "contact-joined-mid-lifecycle": Case(
        bad=(START, call(CALL, "Active", at=t(0))),
        clean=([START, call(CALL, "Active", at=t(0))],),
        index=1, line=2, contact_id=CALL),
    "unknown-event-type": Case(
        bad=(START, {"Type": "FavoriteColor", "Data": "blue"}),
        clean=(START, {"Type": "UpdateSkills"}),
        index=1, line=2),
    # "Parked" is no call status; Ringing is.
    "unknown-status": Case(
        bad=(START, call(CALL, "Incoming", at=t(0)), call(CALL, "Parked", at=t(5))),
        clean=(START, call(CALL, "Incoming", at=t(0)), call(CALL, "Ringing", at=t(5))),
        index=2, line=3, contact_id=CALL),
    # LastStateChangeTime 05:03:01 after 05:03:05.
    "time-went-backwards": Case(
        bad=(START, call(CALL, "Incoming", at=t(5)), call(CALL, "Ringing", at=t(1), start=t(5))),
        clean=(START, call(CALL, "Incoming", at=t(5)), call(CALL, "Ringing", at=t(9), start=t(5))),
        index=2, line=3, contact_id=CALL),
    # The very same event twice; the twin repeats the status with a new timestamp (an update).
    "duplicate-event": Case(
        bad=(START, call(CALL, "Incoming", at=t(0)), call(CALL, "Incoming", at=t(0))),
        clean=(START, call(CALL, "Incoming", at=t(0)), call(CALL, "Incoming", at=t(3), start=t(0))),
        index=2, line=3, contact_id=CALL),
    # A new AgentLegId while the first leg is still Active.
    "leg-id-changed": Case(
        bad=(START, leg(status="Dialing"), leg(status="Active"), leg("2200339884", "Dialing")),
        clean=(START, leg(status="Dialing"), leg(status="Disconnected", final=True),
               leg("2200339884", "Dialing")),
        index=3, line=4),
    "acw-outside-unavailable": Case(
        bad=(START, agent_state("Available", at=t(0), acw=True, acw_timeout=30)),
        clean=(START, agent_state("Unavailable", at=t(0), acw=True, acw_timeout=30)),
        index=1, line=2),
    # InboundContact (event 1) with no contact at all; noticed when the agent leaves it
    # (event 2) but reported where the state began. The twin's call arrives after the
    # state (both orders occur).
    "contact-state-without-contact": Case(
        bad=(START, agent_state("InboundContact", at=t(0)), agent_state("Available", at=t(9))),
        clean=(START, agent_state("InboundContact", at=t(0)), call(CALL, "Incoming", at=t(0)),
               agent_state("Available", at=t(9))),
        index=1, line=2),
    # Available -> LoggedIn is not in the agent-state table; LoggedOut -> LoggedIn is.
    "agent-state-transition": Case(
        bad=(START, agent_state("Available", at=t(0)), agent_state("LoggedIn", at=t(5))),
        clean=(START, agent_state("LoggedOut", at=t(0)), agent_state("LoggedIn", at=t(5))),
        index=2, line=3),
    # The documentation's AgentSessionEnd says Success "True"; "False" is an unclean end.
    "session-end-not-clean": Case(
        bad=(START, {"Type": "AgentSessionEnd", "Success": "False",
                     "Message": "Session ended abnormally"}),
        clean=(START, {"Type": "AgentSessionEnd", "Success": "True", "Message": ""}),
        index=1, line=2),
    # Detected at the end of the stream; reported at the RemoteAgentSessionEnd.
    "remote-end-without-end": Case(
        bad=(START, remote_end()),
        clean=(START, remote_end(), session_end()),
        index=1, line=2),
    # The call is still open at AgentSessionEnd (event 2).
    "contacts-open-at-end": Case(
        bad=(START, call(CALL, "Incoming", at=t(0)), session_end()),
        clean=(START, call(CALL, "Incoming", at=t(0)),
               call(CALL, "Disconnected", at=t(5), final=True), session_end()),
        index=2, line=3, contact_id=CALL),
}

RULE_NAMES = [rule.name for rule in CATALOGUE]

# Written out by hand (the README's rule table), not read from the catalogue under test:
# an error is a broken protocol guarantee, a warning something the live stream does.
ERRORS = frozenset({
    "contact-after-final", "final-on-open-status", "contact-transition", "event-after-end",
    "leg-after-final", "leg-transition", "two-linked-calls", "too-many-next-states",
    "bad-field", "not-json", "not-an-event",
})


def test_every_rule_of_the_catalogue_has_a_case() -> None:
    assert sorted(CASES) == sorted(RULE_NAMES)


@pytest.mark.parametrize("rule", RULE_NAMES)
def test_rule_fires_exactly_once_at_its_event(rule: str, tmp_path: Path) -> None:
    case = CASES[rule]  # a KeyError here: a new rule without a case
    path = write(tmp_path / "bad.jsonl", case.bad)
    report = validate_files([str(path)])
    found = [v for v in report.violations if v.rule == rule]
    assert len(found) == 1, report.violations
    (violation,) = found
    assert violation.severity is (Severity.ERROR if rule in ERRORS else Severity.WARNING)
    assert violation.event_index == case.index
    assert violation.session == str(path)
    assert violation.source == f"{path}:{case.line}"
    assert violation.contact_id == case.contact_id
    assert violation.message
    # the stream breaks this rule and no other
    assert [v.rule for v in report.violations] == [rule]


@pytest.mark.parametrize("rule", RULE_NAMES)
def test_clean_twin_does_not_fire(rule: str, tmp_path: Path) -> None:
    path = write(tmp_path / "clean.jsonl", CASES[rule].clean)
    report = validate_files([str(path)])
    assert report.violations == ()
    assert (report.errors, report.warnings, report.failed) == (0, 0, False)


@pytest.mark.parametrize("rule", RULE_NAMES)
def test_rule_can_be_ignored_and_selected(rule: str, tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", CASES[rule].bad)
    assert validate_files([str(path)], ignore=[rule]).violations == ()
    assert [v.rule for v in validate_files([str(path)], select=[rule]).violations] == [rule]
    others = [name for name in RULE_NAMES if name != rule]
    assert validate_files([str(path)], select=others).violations == ()


# --- the rules' other paths -------------------------------------------------------------


def test_contact_state_without_contact_for_the_last_state_is_found_at_the_end() -> None:
    report = validate([START, agent_state("OutboundContact", at=t(0))])
    assert [(v.rule, v.event_index) for v in report.violations] == [
        ("contact-state-without-contact", 1)]


def test_contact_state_checked_once_per_stretch() -> None:
    # Two stretches of InboundContact without a contact: two warnings, at events 1 and 3.
    report = validate([START, agent_state("InboundContact", at=t(0)),
                       agent_state("Available", at=t(5)),
                       agent_state("InboundContact", at=t(9))])
    assert [(v.rule, v.event_index) for v in report.violations] == [
        ("contact-state-without-contact", 1), ("contact-state-without-contact", 3)]


def test_end_of_stream_violations_point_at_their_own_line(tmp_path: Path) -> None:
    # RemoteAgentSessionEnd on line 2 and nothing ends the session after it: the remote
    # end is reported on line 2, not on the last line read. The logoff's own events after
    # it (the agent logged out) are not late: only an AgentSessionEnd or 409 closes the
    # stream.
    path = write(tmp_path / "remote.jsonl", [START, remote_end(),
                                             agent_state("LoggedOut", at=t(1)), INDICATOR])
    report = validate_files(str(path))
    assert [(v.rule, v.event_index, v.source) for v in report.violations] == [
        ("remote-end-without-end", 1, f"{path}:2"),
    ]
    # ...while after the AgentSessionEnd that follows, an event is late
    path = write(tmp_path / "late.jsonl", [START, remote_end(), agent_state("LoggedOut", at=t(1)),
                                           session_end(), INDICATOR])
    assert [(v.rule, v.event_index) for v in validate_files(str(path)).violations] == [
        ("event-after-end", 4)]
    # InboundContact on line 2, still no contact when the stream ends after line 3
    path = write(tmp_path / "state.jsonl", [START, agent_state("InboundContact", at=t(0)),
                                            INDICATOR])
    assert [(v.rule, v.event_index, v.source) for v in validate_files(str(path)).violations] \
        == [("contact-state-without-contact", 1, f"{path}:2")]


def test_unreadable_first_line_is_where_no_session_start_points(tmp_path: Path) -> None:
    path = write(tmp_path / "bad-first.jsonl", ["{nope", INDICATOR])
    assert [(v.rule, v.event_index, v.source) for v in validate_files(str(path)).violations] \
        == [("not-json", 0, f"{path}:1"), ("no-session-start", 0, f"{path}:1")]


def test_final_state_on_active_leg_is_a_leg_transition() -> None:
    report = validate([START, leg(status="Dialing"), leg(status="Active", final=True)])
    assert [(v.rule, v.event_index) for v in report.violations] == [("leg-transition", 2)]


def test_contact_without_contact_id_is_a_bad_field() -> None:
    event = call(CALL, "Incoming", at=t(0))
    del event["ContactID"]
    report = validate([START, event])
    assert [(v.rule, v.severity, v.event_index) for v in report.violations] == [
        ("bad-field", Severity.ERROR, 1)]


def test_409_after_remote_end_is_an_end() -> None:
    # A 409 ends the session as AgentSessionEnd does; modelled by the engine's end().
    from session_fsm.engine import SessionEngine

    engine = SessionEngine()
    engine.feed(START, key="k")
    engine.feed(remote_end(), key="k")
    engine.end("k")
    engine.finish()
    assert list(engine.violations()) == []


def test_contacts_open_at_end_once_per_contact_however_many_ends() -> None:
    # RemoteAgentSessionEnd then AgentSessionEnd is one end: one warning per open contact,
    # judged at the AgentSessionEnd (a remote logoff's own events may close them first)
    report = validate([START, call(CALL, "Incoming", at=t(0)), call(OTHER, "Incoming", at=t(1)),
                       remote_end(), session_end(), session_end()])
    assert [(v.rule, v.contact_id, v.event_index) for v in report.violations] == [
        ("contacts-open-at-end", CALL, 4), ("contacts-open-at-end", OTHER, 4)]


# --- realistic streams ------------------------------------------------------------------


# The sequences of tests/test_engine_scenarios.py (same events, same times), whose
# snapshots that module checks step by step; here they must validate clean.


def hms(hour: int, minute: int, second: int) -> datetime:
    return utc(2013, 9, 11, hour, minute, second)


def inbound_call_with_two_step_acw() -> list[dict[str, Any]]:
    """Voice ends (FinalState False), the agent's ACW, then FinalState True."""
    c = "1569815"
    return [
        session_start(),
        leg("2200339882", "Dialing"),
        leg("2200339882", "Active"),
        agent_state("Available", at=hms(5, 0, 0)),
        call(c, "Incoming", at=hms(5, 5, 0)),
        agent_state("InboundContact", at=hms(5, 5, 0), next_states=["Unavailable", "Available"]),
        call(c, "Active", at=hms(5, 5, 4), start=hms(5, 5, 0)),
        call(c, "Disconnected", at=hms(5, 6, 17), start=hms(5, 5, 0)),
        agent_state("Unavailable", at=hms(5, 6, 17), acw=True, acw_timeout=60,
                    next_states=["Available"]),
        call(c, "Disconnected", at=hms(5, 7, 2), start=hms(5, 5, 0), final=True),
        agent_state("Available", at=hms(5, 7, 2)),
        leg("2200339882", "Disconnected", final=True),
        agent_state("LoggedOut", at=hms(5, 10, 0)),
        session_end(),
    ]


def direct_final_state() -> list[dict[str, Any]]:
    """FinalState True at once, before the agent's ACW state starts."""
    c = "1569900"
    return [
        session_start(),
        agent_state("Available", at=hms(6, 0, 0)),
        call(c, "Incoming", at=hms(6, 0, 10)),
        agent_state("InboundContact", at=hms(6, 0, 10), next_states=["Unavailable", "Available"]),
        call(c, "Active", at=hms(6, 0, 15), start=hms(6, 0, 10)),
        call(c, "Disconnected", at=hms(6, 2, 0), start=hms(6, 0, 10), final=True),
        agent_state("Unavailable", at=hms(6, 2, 0), acw=True, acw_timeout=30,
                    next_states=["Available"]),
        agent_state("Available", at=hms(6, 2, 30)),
    ]


def join_mid_call() -> list[Line]:
    """A join: the first batch replays state with AgentSessionStart last, the call Active."""
    c = "1569815"
    return [
        [agent_state("InboundContact", at=hms(5, 5, 0), next_states=["Unavailable", "Available"]),
         call(c, "Active", at=hms(5, 5, 4), start=hms(5, 5, 0)),
         leg("2200339882", "Active"),
         session_start()],
        call(c, "Disconnected", at=hms(5, 6, 17), start=hms(5, 5, 0), final=True),
        agent_state("Available", at=hms(5, 6, 17)),
    ]


@pytest.mark.parametrize("stream", [inbound_call_with_two_step_acw, direct_final_state])
def test_realistic_streams_are_clean(stream: Any) -> None:
    report = validate(stream())
    assert report.violations == ()
    assert report.events == len(stream())


def test_join_mid_call_is_clean(tmp_path: Path) -> None:
    path = write(tmp_path / "join.jsonl", join_mid_call())
    report = validate_files(str(path))
    assert report.violations == ()
    assert report.events == 6
    # the same join, in memory: the batch is a list, or a get-next-event response
    batch, *rest = join_mid_call()
    assert validate([batch, *rest]).violations == ()
    assert validate([{"sessionId": "58070815", "events": batch}, *rest]).violations == ()


def test_join_events_fed_one_by_one_warn_about_the_call_after_start() -> None:
    # Without batch information, only events *before* AgentSessionStart are the replay.
    report = validate([START, call(CALL, "Active", at=t(12))])
    assert [(v.rule, v.event_index) for v in report.violations] == [
        ("contact-joined-mid-lifecycle", 1)]


# --- inputs and the report ----------------------------------------------------------------


def test_typed_events_are_accepted() -> None:
    report = validate([ev.AgentSessionStart(agent_id="12214"), ev.UnknownEvent(type="X")])
    assert report.events == 2
    assert [(v.rule, v.session, v.event_index, v.source) for v in report.violations] == [
        ("unknown-event-type", "-", 1, None)]


def test_key_names_the_session() -> None:
    report = validate([INDICATOR], key="agent-7")
    assert [(v.rule, v.session) for v in report.violations] == [("no-session-start", "agent-7")]
    assert report.sessions == ("agent-7",)


def test_value_that_is_no_event_is_reported_and_validation_goes_on() -> None:
    report = validate([START, 42, "AgentState", INDICATOR, {"Type": "FavoriteColor"}])
    assert [(v.rule, v.event_index) for v in report.violations] == [
        ("not-an-event", 1), ("not-an-event", 2), ("unknown-event-type", 4)]
    assert report.events == 3  # unreadable items take an index but are not events


def test_keyed_envelopes_in_memory_are_sessions() -> None:
    report = validate([
        {"session": "a", "events": [START, INDICATOR]},
        {"session": "b", "event": INDICATOR},
        {"session": "a", "event": session_end()},
        {"session": 7, "event": INDICATOR},
    ], key="default")
    assert report.sessions == ("a", "b", "default")
    assert [(v.rule, v.session, v.event_index) for v in report.violations] == [
        ("no-session-start", "b", 0),
        ("not-an-event", "default", 0),
        ("no-session-start", "default", 0),
    ]


def test_reader_items_of_many_sessions(tmp_path: Path) -> None:
    path = tmp_path / "two.jsonl"
    write(path, [
        {"session": "agent-1", "events": [START]},
        {"session": "agent-2", "event": agent_state("Available", at=t(0))},
        "not json at all",
        {"session": "agent-1", "event": call(CALL, "Incoming", at=t(1))},
        {"session": "agent-1", "event": call(CALL, "Active", at=t(2), final=True)},
    ])
    report = validate(read(str(path), on_error="report"))
    assert report.sessions == ("agent-1", "agent-2", str(path))
    # agent-1: START 0, Incoming 1, Active+final 2; agent-2: its AgentState 0;
    # the unreadable line belongs to the file's own session, index 0.
    assert [(v.rule, v.session, v.event_index, v.source) for v in report.violations] == [
        ("final-on-open-status", "agent-1", 2, f"{path}:5"),
        ("no-session-start", "agent-2", 0, f"{path}:2"),
        ("not-json", str(path), 0, f"{path}:3"),
        ("no-session-start", str(path), 0, f"{path}:3"),
    ]
    assert (report.events, report.errors, report.warnings) == (4, 2, 2)


def test_read_error_items_are_violations_at_their_index() -> None:
    error = NotJsonError("not valid JSON: unexpected character (column 1)")
    items = [ReadError("k", error.located(Source("x.jsonl", 7)), Source("x.jsonl", 7))]
    report = validate(items)
    assert [(v.rule, v.severity, v.session, v.event_index, v.source, v.message)
            for v in report.violations] == [
        ("not-json", Severity.ERROR, "k", 0, "x.jsonl:7",
         "not valid JSON: unexpected character (column 1)"),
        ("no-session-start", Severity.WARNING, "k", 0, "x.jsonl:7",
         "the stream has no AgentSessionStart event"),
    ]


def test_unknown_rule_names_are_an_error_listing_the_valid_ones() -> None:
    with pytest.raises(UnknownRuleError) as raised:
        validate([START], ignore=["duplicate-events", "contact-after-final"])
    assert raised.value.names == ("duplicate-events",)
    message = str(raised.value)
    assert "'duplicate-events'" in message
    assert all(rule in message for rule in RULE_NAMES)
    with pytest.raises(ValueError, match="unknown --select rule 'nope'"):
        validate([START], select=["nope"])


def test_unknown_rule_fails_before_files_are_opened(tmp_path: Path) -> None:
    with pytest.raises(UnknownRuleError):
        validate_files([str(tmp_path / "missing.jsonl")], ignore=["nope"])


def test_file_that_cannot_be_opened_raises(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=r"missing\.jsonl"):
        validate_files([str(tmp_path / "missing.jsonl")])


def test_select_and_ignore_together() -> None:
    stream = [INDICATOR, {"Type": "FavoriteColor"}, 42]
    # no-session-start (W, index 0), unknown-event-type (W, 1), not-an-event (E, 2)
    rules = {v.rule for v in validate(stream).violations}
    assert rules == {"no-session-start", "unknown-event-type", "not-an-event"}
    chosen = validate(stream, select=["no-session-start", "not-an-event"],
                      ignore=["not-an-event"])
    assert [v.rule for v in chosen.violations] == ["no-session-start"]


def test_report_counts_and_groupings() -> None:
    # two different unknown types (the same one twice in a row would be a redelivery)
    stream: list[Any] = [INDICATOR, {"Type": "FavoriteColor"}, {"Type": "FavoriteColour"}, 42]
    report = validate(stream, key="s1")
    # s1: no-session-start 0, unknown-event-type 1 and 2, not-an-event 3
    assert (report.events, report.errors, report.warnings) == (3, 1, 3)
    assert report.failed
    assert report.rule_counts() == {"not-an-event": 1, "no-session-start": 1,
                                     "unknown-event-type": 2}
    assert list(report.rule_counts()) == ["not-an-event", "no-session-start",
                                          "unknown-event-type"]  # catalogue order
    assert report.counts() == {"s1": {"not-an-event": 1, "no-session-start": 1,
                                      "unknown-event-type": 2}}
    assert [v.event_index for v in report.by_session()["s1"]] == [0, 1, 2, 3]
    assert [v.event_index for v in report.by_rule()["unknown-event-type"]] == [1, 2]


def test_strict_warnings_fail_a_report_with_only_warnings() -> None:
    stream = [START, {"Type": "FavoriteColor"}]
    assert not validate(stream).failed
    strict = validate(stream, strict_warnings=True)
    assert (strict.errors, strict.warnings, strict.failed) == (0, 1, True)
    assert not validate([START], strict_warnings=True).failed


def test_to_json_is_the_contract_document() -> None:
    report = Report(events=5, violations=(), sessions=("s",))
    assert report.to_json() == {"events": 5, "errors": 0, "warnings": 0, "violations": []}
    stream = [START, call(CALL, "Incoming", at=t(0)), call(CALL, "Active", at=t(5), final=True)]
    document = validate(stream, key="agent-00042").to_json()
    assert document == {
        "events": 3, "errors": 1, "warnings": 0,
        "violations": [{
            "rule": "final-on-open-status", "severity": "error", "session": "agent-00042",
            "event_index": 2, "contact_id": CALL, "source": None,
            "message": f"call {CALL}: FinalState True on Active, which cannot end a call",
        }],
    }
    assert json.loads(json.dumps(document)) == document


def test_empty_input_is_an_empty_report() -> None:
    report = validate([])
    assert (report.events, report.violations, report.sessions) == (0, (), ())


def test_time_went_backwards_uses_server_times() -> None:
    # Equal timestamps are not backwards.
    report = validate([START, call(CALL, "Incoming", at=utc(2013, 9, 11, 5, 3, 5)),
                       call(CALL, "Ringing", at=utc(2013, 9, 11, 5, 3, 5))])
    assert report.violations == ()


# --- the README's rule table ----------------------------------------------------------------


def readme_rule_table() -> str:
    text = (ROOT / "README.md").read_text()
    assert "\n## Validation rules\n" in text, "README.md has no 'Validation rules' section"
    # the section's own table: up to its first subsection or the next section
    section = text.split("\n## Validation rules\n", 1)[1].split("\n## ", 1)[0]
    section = section.split("\n### ", 1)[0]
    return "".join(line + "\n" for line in section.splitlines() if line.startswith("|"))


def test_readme_rule_table_is_the_catalogue() -> None:
    assert readme_rule_table() == rule_table_markdown(), (
        "README.md's 'Validation rules' table differs from session_fsm/rules.py; paste "
        "the output of: python -c 'from session_fsm.views.validation import rule_table_markdown "
        "as t; print(t())'")


def test_rule_table_lists_every_rule_once_with_its_severity() -> None:
    rows = rule_table_markdown().splitlines()[2:]
    assert len(rows) == len(CATALOGUE)
    for row, rule in zip(rows, CATALOGUE, strict=True):
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        assert cells == [f"`{rule.name}`", rule.severity.value, rule.rationale]
