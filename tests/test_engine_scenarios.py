"""The engine replaying realistic sequences, checked after every single event.

Each scenario feeds wire dicts one at a time and compares a plain view of the snapshot
with the expected view. The expected values are worked out by hand from the seed
document and ``shared/docs/stream-facts.md`` and written literally; only the fields that
change are spelled at each step, the whole view is compared every time.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pytest
from helpers import (
    agent_state,
    call,
    chat,
    chat_text,
    leg,
    page_open,
    remote_end,
    replay,
    replay_history,
    session_end,
    session_start,
    supervisor_contact,
    supervisor_monitor,
    take_over,
    utc,
    work_item,
)

from session_fsm.engine import AgentSession
from session_fsm.engine.changes import AcwLinked, AgentStatus, Change, LinkMoved, Transition
from session_fsm.engine.rules import Severity, Violation
from session_fsm.engine.snapshot import Snapshot
from session_fsm.views.history import AgentInterval, ContactLog, HistoryFold


def t(hour: int, minute: int, second: int, millisecond: int = 0) -> datetime:
    """A time on 2013-09-11, the day of the documentation's examples."""
    return utc(2013, 9, 11, hour, minute, second, millisecond)


class Open(NamedTuple):
    """An open contact as the snapshot lists it."""

    contact_id: str
    status: str
    in_acw: bool = False
    linked: bool = False
    final: bool = False


def view(snap: Snapshot) -> dict[str, Any]:
    agent = snap.agent_state
    leg_view = snap.agent_leg
    monitor = snap.monitoring
    next_state = agent.next_state if agent else None
    next_next = agent.next_next_state if agent else None
    return {
        "state": agent.state if agent else None,
        "out_reason": agent.out_reason if agent else None,
        "is_acw": agent.is_acw if agent else None,
        "acw_deadline": agent.acw_deadline if agent else None,
        "next": (next_state.state, next_state.out_reason) if next_state else None,
        "next_next": (next_next.state, next_next.out_reason) if next_next else None,
        "leg": (leg_view.id, leg_view.status, leg_view.final) if leg_view else None,
        "contacts": tuple(Open(c.contact_id, c.status, c.in_acw, c.is_linked, c.final)
                          for c in snap.contacts),
        "linked": snap.linked_contact_id,
        "monitoring": (monitor.target_agent_id, monitor.since, monitor.contact_id)
        if monitor else None,
        "session": (snap.session.status, snap.session.end_reason),
        "events": snap.events,
        "violations": snap.violations,
    }


class Walk:
    """Feeds one event at a time and checks the whole view after each."""

    def __init__(self, key: str = "s") -> None:
        self.session = AgentSession(key)
        self.said: list[Change] = []
        """Every change ``feed()`` returned, in order."""
        self.fold = HistoryFold()
        self.batch = 0
        self.expected: dict[str, Any] = {
            "state": None, "out_reason": None, "is_acw": None, "acw_deadline": None,
            "next": None, "next_next": None, "leg": None, "contacts": (), "linked": None,
            "monitoring": None, "session": ("not_started", None), "events": 0,
            "violations": 0,
        }

    def step(self, event: Mapping[str, Any], *, batch: Hashable | None = None,
             **changes: Any) -> Snapshot:
        """Feed ``event`` (in a batch of its own unless told), then check the view."""
        self.batch += 1
        said = self.session.feed(event, batch=f"b{self.batch}" if batch is None else batch)
        self.said.extend(said)
        self.fold.apply_all(said)
        self.expected["events"] += 1  # the snapshot schema: every event applied counts
        return self.check(**changes)

    def check(self, **changes: Any) -> Snapshot:
        assert set(changes) <= set(self.expected), set(changes) - set(self.expected)
        self.expected.update(changes)
        snap = self.session.snapshot()
        assert view(snap) == self.expected
        return snap

    def finish(self) -> None:
        changes = self.session.finish()
        self.said.extend(changes)
        self.fold.apply_all(changes)

    def contact_log(self, contact_id: str) -> ContactLog:
        """The contact as the history folds it from the changes ``feed()`` returned."""
        return self.fold.sessions[self.session.key].contacts[contact_id]

    def steps_of(self, contact_id: str) -> list[tuple[str, bool]]:
        return [(s.status, s.final) for s in self.contact_log(contact_id).steps]

    def timeline(self) -> list[AgentInterval]:
        """The agent timeline as the history folds it from the changes."""
        return self.fold.sessions[self.session.key].timeline

    def errors(self) -> list[str]:
        return [v.rule for v in self.session.violations if v.severity is Severity.ERROR]


def available(at: datetime) -> dict[str, Any]:
    return agent_state("Available", at=at)


AGENT_IDLE = {"state": "Available", "out_reason": "", "is_acw": False, "acw_deadline": None,
              "next": None, "next_next": None}
LOGGED_OFF = {"state": "LoggedOut", "out_reason": "", "is_acw": False, "acw_deadline": None,
              "next": None, "next_next": None}
"""An ended session's agent, whatever state the stream said last."""


# --- inbound calls ------------------------------------------------------------------------


def test_inbound_call_with_two_step_acw() -> None:
    c = "1569815"
    w = Walk()
    w.step(session_start(), session=("active", None))
    w.step(leg("2200339882", "Dialing"), leg=("2200339882", "Dialing", False))
    w.step(leg("2200339882", "Active"), leg=("2200339882", "Active", False))
    w.step(available(t(5, 0, 0)), **AGENT_IDLE)
    w.step(call(c, "Incoming", at=t(5, 5, 0)), contacts=(Open(c, "Incoming"),))
    w.step(agent_state("InboundContact", at=t(5, 5, 0), next_states=["Unavailable", "Available"]),
           state="InboundContact", next=("Unavailable", ""), next_next=("Available", ""))
    w.step(call(c, "Active", at=t(5, 5, 4), start=t(5, 5, 0)), contacts=(Open(c, "Active"),))
    # the voice path is torn down; the contact stays open in its ACW phase
    w.step(call(c, "Disconnected", at=t(5, 6, 17), start=t(5, 5, 0)),
           contacts=(Open(c, "Disconnected", in_acw=True),))
    snap = w.step(
        agent_state("Unavailable", at=t(5, 6, 17), acw=True, acw_timeout=60,
                    next_states=["Available"]),
        state="Unavailable", is_acw=True,
        acw_deadline=datetime(2013, 9, 11, 5, 7, 17, tzinfo=UTC),
        next=("Available", ""), next_next=None,
    )
    assert snap.agent_state is not None
    assert snap.agent_state.acw_timeout_s == 60
    assert snap.agent_state.since == datetime(2013, 9, 11, 5, 6, 17, tzinfo=UTC)
    assert snap.agent_state.acw is not None
    assert snap.agent_state.acw.contact_id == c  # the ACW belongs to this call
    # ACW ends: the contact is closed out, then the agent moves to the next state
    w.step(call(c, "Disconnected", at=t(5, 7, 2), start=t(5, 5, 0), final=True), contacts=())
    w.step(available(t(5, 7, 2)), **AGENT_IDLE)
    w.step(leg("2200339882", "Disconnected", final=True),
           leg=("2200339882", "Disconnected", True))
    w.step(agent_state("LoggedOut", at=t(5, 10, 0)), state="LoggedOut")
    w.step(session_end(), session=("ended", "AgentSessionEnd"))
    w.finish()
    w.check(events=14, violations=0)

    assert w.steps_of(c) == [("Incoming", False), ("Active", False), ("Disconnected", False),
                             ("Disconnected", True)]
    closed = w.session.closed[c]
    assert closed.final is True
    assert closed.in_acw is False
    acw = [i for i in w.timeline() if i.is_acw]
    assert [(i.state, i.start, i.end, i.acw_contact_id) for i in acw] == [
        ("Unavailable", datetime(2013, 9, 11, 5, 6, 17, tzinfo=UTC),
         datetime(2013, 9, 11, 5, 7, 2, tzinfo=UTC), c),
    ]
    assert [i.state for i in w.timeline()] == [
        "Available", "InboundContact", "Unavailable", "Available", "LoggedOut"]


def test_inbound_call_with_direct_final_state() -> None:
    c = "1569900"
    w = Walk()
    w.step(session_start(), session=("active", None))
    w.step(available(t(6, 0, 0)), **AGENT_IDLE)
    w.step(call(c, "Incoming", at=t(6, 0, 10)), contacts=(Open(c, "Incoming"),))
    w.step(agent_state("InboundContact", at=t(6, 0, 10), next_states=["Unavailable", "Available"]),
           state="InboundContact", next=("Unavailable", ""), next_next=("Available", ""))
    w.step(call(c, "Active", at=t(6, 0, 15), start=t(6, 0, 10)), contacts=(Open(c, "Active"),))
    # FinalState True at once, before the agent's ACW state starts: valid (stream-facts)
    w.step(call(c, "Disconnected", at=t(6, 2, 0), start=t(6, 0, 10), final=True), contacts=())
    snap = w.step(
        agent_state("Unavailable", at=t(6, 2, 0), acw=True, acw_timeout=30,
                    next_states=["Available"]),
        state="Unavailable", is_acw=True,
        acw_deadline=datetime(2013, 9, 11, 6, 2, 30, tzinfo=UTC),
        next=("Available", ""), next_next=None,
    )
    assert snap.agent_state is not None
    assert snap.agent_state.acw is not None
    assert snap.agent_state.acw.contact_id == c
    w.step(available(t(6, 2, 30)), **AGENT_IDLE)
    w.finish()
    w.check(events=8, violations=0)
    assert w.steps_of(c) == [("Incoming", False), ("Active", False), ("Disconnected", True)]


def test_acw_without_a_timeout_has_no_deadline() -> None:
    c = "1569901"
    w = Walk()
    w.step(session_start(), session=("active", None))
    w.step(available(t(6, 0, 0)), **AGENT_IDLE)
    w.step(call(c, "Incoming", at=t(6, 0, 10)), contacts=(Open(c, "Incoming"),))
    w.step(agent_state("InboundContact", at=t(6, 0, 10), next_states=["Unavailable", "Available"]),
           state="InboundContact", next=("Unavailable", ""), next_next=("Available", ""))
    w.step(call(c, "Disconnected", at=t(6, 1, 0), start=t(6, 0, 10)),
           contacts=(Open(c, "Disconnected", in_acw=True),))
    # AcwTimeout "0": no timeout, a disposition ends the ACW
    snap = w.step(
        agent_state("Unavailable", at=t(6, 1, 0), acw=True, acw_timeout=0,
                    next_states=["Available"]),
        state="Unavailable", is_acw=True, acw_deadline=None, next=("Available", ""),
        next_next=None,
    )
    assert snap.agent_state is not None
    assert snap.agent_state.acw_timeout_s == 0
    assert snap.agent_state.acw is not None
    assert snap.agent_state.acw.contact_id == c
    w.step(call(c, "Disconnected", at=t(6, 9, 0), start=t(6, 0, 10), final=True), contacts=())
    w.step(available(t(6, 9, 0)), **AGENT_IDLE)
    w.finish()
    w.check(events=8, violations=0)


def test_abandoned_call() -> None:
    c = "1569950"
    w = Walk()
    w.step(session_start(), session=("active", None))
    w.step(available(t(7, 0, 0)), **AGENT_IDLE)
    # here the AgentState comes before its contact: both orders occur (stream-facts)
    w.step(agent_state("InboundContact", at=t(7, 0, 5), next_states=["Available"]),
           state="InboundContact", next=("Available", ""))
    w.step(call(c, "Incoming", at=t(7, 0, 5)), contacts=(Open(c, "Incoming"),))
    # the caller hung up before the agent answered
    w.step(call(c, "Disconnected", at=t(7, 0, 9), start=t(7, 0, 5), final=True,
                disconnect="CallAbandoned"), contacts=())
    w.step(available(t(7, 0, 9)), **AGENT_IDLE)
    w.finish()
    w.check(events=6, violations=0)
    closed = w.session.closed[c]
    assert closed.disconnect_code == "CallAbandoned"
    assert w.steps_of(c) == [("Incoming", False), ("Disconnected", True)]
    assert [s.disconnect_code for s in w.contact_log(c).steps] == ["NA", "CallAbandoned"]


def test_manual_outbound_no_answer() -> None:
    c = "1569815"
    w = Walk()
    w.step(session_start(), session=("active", None))
    w.step(agent_state("Unavailable", at=t(5, 0, 0), out_reason="Break"),
           state="Unavailable", out_reason="Break", is_acw=False)
    w.step(call(c, "Dialing", at=t(5, 3, 24), inbound=False), contacts=(Open(c, "Dialing"),))
    w.step(agent_state("OutboundContact", at=t(5, 3, 24), next_states=[("Unavailable", "Break")]),
           state="OutboundContact", out_reason="", next=("Unavailable", "Break"))
    w.step(call(c, "Disconnected", at=t(5, 4, 0), start=t(5, 3, 24), inbound=False,
                final=True, disconnect="NoAnswer"), contacts=())
    w.step(agent_state("Unavailable", at=t(5, 4, 0), out_reason="Break"),
           state="Unavailable", out_reason="Break", next=None)
    w.finish()
    w.check(events=6, violations=0)
    closed = w.session.closed[c]
    assert closed.disconnect_code == "NoAnswer"
    assert closed.is_inbound is False
    assert w.steps_of(c) == [("Dialing", False), ("Disconnected", True)]


# --- Personal Connection ------------------------------------------------------------------


def test_personal_connection_linked_call_and_the_link_moving() -> None:
    a, b, c = "1570001", "1570002", "1570003"

    def pc(contact_id: str, status: str, at: datetime, **kw: Any) -> dict[str, Any]:
        return call(contact_id, status, at=at, inbound=False, call_type="NaturalCalling",
                    skill="2001", **kw)

    w = Walk()
    w.step(session_start(), session=("active", None))
    w.step(agent_state("Dialer", at=t(9, 0, 0)), state="Dialer", out_reason="", is_acw=False)
    # two calls placed at once for this agent; the voice path is linked to one of them
    w.step(pc(a, "NaturalCallDialing", t(9, 0, 5), linked=True),
           contacts=(Open(a, "NaturalCallDialing", linked=True),), linked=a)
    w.step(pc(b, "NaturalCallDialing", t(9, 0, 5)),
           contacts=(Open(a, "NaturalCallDialing", linked=True), Open(b, "NaturalCallDialing")))
    w.step(pc(a, "NaturalCallRinging", t(9, 0, 7), start=t(9, 0, 5), linked=True),
           contacts=(Open(a, "NaturalCallRinging", linked=True), Open(b, "NaturalCallDialing")))
    w.step(pc(b, "NaturalCallRinging", t(9, 0, 7), start=t(9, 0, 5)),
           contacts=(Open(a, "NaturalCallRinging", linked=True), Open(b, "NaturalCallRinging")))
    # the unlinked one is not answered
    w.step(pc(b, "Disconnected", t(9, 0, 30), start=t(9, 0, 5), final=True,
              disconnect="NoAnswer"),
           contacts=(Open(a, "NaturalCallRinging", linked=True),))
    w.step(pc(c, "NaturalCallDialing", t(9, 0, 31)),
           contacts=(Open(a, "NaturalCallRinging", linked=True), Open(c, "NaturalCallDialing")))
    # the linked call ends: no call is linked until the platform links another
    w.step(pc(a, "Disconnected", t(9, 0, 35), start=t(9, 0, 5), final=True, linked=True,
              disconnect="NoAnswer"),
           contacts=(Open(c, "NaturalCallDialing"),), linked=None)
    w.step(pc(c, "NaturalCallRinging", t(9, 0, 36), start=t(9, 0, 31), linked=True),
           contacts=(Open(c, "NaturalCallRinging", linked=True),), linked=c)
    w.step(pc(c, "NaturalCallAMD", t(9, 0, 40), start=t(9, 0, 31), linked=True),
           contacts=(Open(c, "NaturalCallAMD", linked=True),))
    w.step(pc(c, "Active", t(9, 0, 42), start=t(9, 0, 31), linked=True),
           contacts=(Open(c, "Active", linked=True),))
    w.step(agent_state("OutboundContact", at=t(9, 0, 42), next_states=["Dialer"]),
           state="OutboundContact", next=("Dialer", ""))
    w.step(pc(c, "Disconnected", t(9, 3, 0), start=t(9, 0, 31), final=True, linked=True,
              disconnect="Succeeded"), contacts=(), linked=None)
    w.step(agent_state("Dialer", at=t(9, 3, 0)), state="Dialer", next=None)
    w.finish()
    w.check(events=15, violations=0)
    assert w.session.closed[b].disconnect_code == "NoAnswer"
    assert w.session.closed[a].disconnect_code == "NoAnswer"
    assert w.steps_of(c) == [("NaturalCallDialing", False), ("NaturalCallRinging", False),
                             ("NaturalCallAMD", False), ("Active", False),
                             ("Disconnected", True)]


# --- consult and transfer -----------------------------------------------------------------


def test_consult_then_transfer() -> None:
    x, y = "1580001", "1580002"
    w = Walk()
    w.step(session_start(), session=("active", None))
    w.step(available(t(10, 0, 0)), **AGENT_IDLE)
    w.step(call(x, "Incoming", at=t(10, 0, 5)), contacts=(Open(x, "Incoming"),))
    w.step(agent_state("InboundContact", at=t(10, 0, 5), next_states=["Available"]),
           state="InboundContact", next=("Available", ""))
    w.step(call(x, "Active", at=t(10, 0, 8), start=t(10, 0, 5)), contacts=(Open(x, "Active"),))
    w.step(call(x, "Holding", at=t(10, 1, 0), start=t(10, 0, 5)),
           contacts=(Open(x, "Holding"),))
    # the agent consults another party: a second call of CallType Consult
    w.step(call(y, "Dialing", at=t(10, 1, 1), inbound=False, call_type="Consult"),
           contacts=(Open(x, "Holding"), Open(y, "Dialing")))
    w.step(agent_state("OutboundConsult", at=t(10, 1, 1), next_states=["Available"]),
           state="OutboundConsult")
    w.step(call(y, "Active", at=t(10, 1, 10), start=t(10, 1, 1), inbound=False,
                call_type="Consult"), contacts=(Open(x, "Holding"), Open(y, "Active")))
    # the transfer completes: the original call leaves this agent
    w.step(call(x, "Disconnected", at=t(10, 2, 0), start=t(10, 0, 5), final=True,
                disconnect="TransferComplete"), contacts=(Open(y, "Active"),))
    w.step(call(y, "Disconnected", at=t(10, 2, 0), start=t(10, 1, 1), inbound=False,
                call_type="Consult", final=True), contacts=())
    w.step(available(t(10, 2, 0)), **AGENT_IDLE)
    w.finish()
    w.check(events=12, violations=0)
    assert w.session.closed[x].disconnect_code == "TransferComplete"
    assert w.session.closed[y].call_type == "Consult"
    assert w.steps_of(x) == [("Incoming", False), ("Active", False), ("Holding", False),
                             ("Disconnected", True)]


# --- supervisor -------------------------------------------------------------------------


def test_supervisor_monitor_then_take_over() -> None:
    leg_id, taken = "6550071587", "6550071591"
    w = Walk()
    w.step(session_start(agent_id="9001"), session=("active", None))
    w.step(available(t(7, 30, 0)), **AGENT_IDLE)
    w.step(supervisor_monitor("9011", at=t(7, 32, 3)), monitoring=("9011", t(7, 32, 3), None))
    # the supervisor's own leg; its first status is Active, as documented
    w.step(supervisor_contact(leg_id, "Active", at=t(7, 32, 4), start=t(7, 32, 3)),
           contacts=(Open(leg_id, "Active"),), monitoring=("9011", t(7, 32, 3), leg_id))
    snap = w.step(take_over("6550071590", at=t(7, 33, 57, 632)))
    assert snap.take_over is not None
    assert snap.take_over.contact_id == "6550071590"
    assert snap.take_over.take_over_date == datetime(2013, 9, 11, 7, 33, 57, 632000, tzinfo=UTC)
    # the taken-over call arrives Active with CallType TakeOver (the documented example)
    snap = w.step(call(taken, "Active", at=t(7, 33, 57), call_type="TakeOver", skill="50883"),
                  contacts=(Open(leg_id, "Active"), Open(taken, "Active")))
    taken_view = snap.contact(taken)
    assert taken_view is not None
    assert (taken_view.media, taken_view.call_type, taken_view.is_inbound) == (
        "call", "TakeOver", True)
    supervisor_view = snap.contact(leg_id)
    assert supervisor_view is not None
    assert supervisor_view.media == "supervisor"
    w.step(agent_state("InboundContact", at=t(7, 33, 57), next_states=["Available"]),
           state="InboundContact", next=("Available", ""))
    w.step(supervisor_monitor("9011", at=t(7, 32, 3), final=True), monitoring=None)
    w.step(supervisor_contact(leg_id, "Disconnected", at=t(7, 33, 58), start=t(7, 32, 3),
                              final=True), contacts=(Open(taken, "Active"),))
    w.step(call(taken, "Disconnected", at=t(7, 40, 0), start=t(7, 33, 57),
                call_type="TakeOver", skill="50883", final=True), contacts=())
    w.step(available(t(7, 40, 0)), **AGENT_IDLE)
    w.finish()
    w.check(events=11, violations=0)


# --- chat and work item ----------------------------------------------------------------


def test_chat_with_transcript() -> None:
    c, room = "1569822", "2"
    first = ("Client", "asdf", t(5, 30, 40, 750))
    w = Walk()
    w.step(session_start(), session=("active", None))
    w.step(available(t(5, 30, 0)), **AGENT_IDLE)
    snap = w.step(chat(c, "Incoming", at=t(5, 30, 39), room=room, messages=[first]),
                  contacts=(Open(c, "Incoming"),))
    chat_view = snap.contact(c)
    assert chat_view is not None
    assert (chat_view.media, chat_view.skill, chat_view.started) == (
        "chat", "1509", datetime(2013, 9, 11, 5, 30, 39, tzinfo=UTC))
    w.step(agent_state("InboundContact", at=t(5, 30, 39), next_states=["Available"]),
           state="InboundContact", next=("Available", ""))
    # Messages repeats the transcript so far: nothing is added twice
    w.step(chat(c, "Active", at=t(5, 30, 45), start=t(5, 30, 39), room=room, messages=[first]),
           contacts=(Open(c, "Active"),))
    w.step(chat_text(room, "Agent", "Test", at=t(5, 32, 10), label="CustomAgentLabel"))
    w.step(chat_text(room, "Client", "Test Test Test", at=t(5, 32, 36),
                     label="CustomCallerLabel"))
    w.step(chat(c, "Disconnected", at=t(5, 33, 9), start=t(5, 30, 39), room=room,
                messages=[first]), contacts=(Open(c, "Disconnected", in_acw=True),))
    w.step(chat_text(room, "System", "$Localized:ChatSessionEnded", at=t(5, 33, 9),
                     label="SystemSaysHello"))
    w.step(chat(c, "Disconnected", at=t(5, 33, 20), start=t(5, 30, 39), room=room,
                messages=[first], final=True), contacts=())
    w.step(available(t(5, 33, 20)), **AGENT_IDLE)
    w.finish()
    w.check(events=11, violations=0)

    closed = w.session.closed[c]
    assert closed.transcript is not None
    assert [(line.party, line.text, line.at) for line in closed.transcript] == [
        ("Client", "asdf", datetime(2013, 9, 11, 5, 30, 40, 750000, tzinfo=UTC)),
        ("Agent", "Test", datetime(2013, 9, 11, 5, 32, 10, tzinfo=UTC)),
        ("Client", "Test Test Test", datetime(2013, 9, 11, 5, 32, 36, tzinfo=UTC)),
        ("System", "$Localized:ChatSessionEnded", datetime(2013, 9, 11, 5, 33, 9, tzinfo=UTC)),
    ]
    assert w.steps_of(c) == [("Incoming", False), ("Active", False), ("Disconnected", False),
                             ("Disconnected", True)]


def test_work_item_with_page_open() -> None:
    c = "1569819"
    w = Walk()
    w.step(session_start(), session=("active", None))
    w.step(available(t(5, 15, 0)), **AGENT_IDLE)
    snap = w.step(work_item(c, "Incoming", at=t(5, 15, 44)), contacts=(Open(c, "Incoming"),))
    item = snap.contact(c)
    assert item is not None
    assert (item.media, item.skill, item.is_inbound, item.call_type) == (
        "work_item", "1528", None, None)
    w.step(agent_state("InboundContact", at=t(5, 15, 44), next_states=["Available"]),
           state="InboundContact", next=("Available", ""))
    snap = w.step(page_open(c))
    assert list(snap.page_opens) == [c]
    assert snap.page_opens[c].action == "OPEN"
    assert snap.page_opens[c].page_uri == (
        "http://eng-ngpcl07/WebScripting/Default.aspx?id=1218&__ContactID=1569819"
        "&__bus_no=199&__type=OPEN")
    w.step(work_item(c, "Active", at=t(5, 15, 50), start=t(5, 15, 44)),
           contacts=(Open(c, "Active"),))
    w.step(work_item(c, "Disconnected", at=t(5, 20, 0), start=t(5, 15, 44), final=True),
           contacts=())
    w.step(available(t(5, 20, 0)), **AGENT_IDLE)
    w.finish()
    w.check(events=8, violations=0)
    closed = w.session.closed[c]
    assert closed.payload is not None
    assert closed.payload["work_item_id"] == "3920"
    assert closed.payload["work_item_type"] == "Testing"


# --- joining a session ------------------------------------------------------------------


def test_join_in_the_middle_of_a_call() -> None:
    c = "1569815"
    w = Walk()
    # the first batch replays the current state; AgentSessionStart is not first in it
    w.step(agent_state("InboundContact", at=t(5, 5, 0), next_states=["Unavailable", "Available"]),
           batch="join", state="InboundContact", out_reason="", is_acw=False,
           next=("Unavailable", ""), next_next=("Available", ""))
    w.step(call(c, "Active", at=t(5, 5, 4), start=t(5, 5, 0)), batch="join",
           contacts=(Open(c, "Active"),))
    w.step(leg("2200339882", "Active"), batch="join", leg=("2200339882", "Active", False))
    snap = w.step(session_start(), batch="join", session=("active", None))
    assert (snap.session.session_id, snap.session.agent_id, snap.session.bus_no) == (
        "58070815", "12214", "4500")
    # then the live stream
    w.step(call(c, "Disconnected", at=t(5, 6, 17), start=t(5, 5, 0), final=True), contacts=())
    w.step(available(t(5, 6, 17)), **AGENT_IDLE)
    w.finish()
    w.check(events=6, violations=0)


def test_contact_first_seen_active_after_the_join_batch_is_one_warning() -> None:
    c = "1569815"
    session = replay(
        [
            agent_state("InboundContact", at=t(5, 5, 0), next_states=["Available"]),
            leg("2200339882", "Active"),
            session_start(),
            call(c, "Active", at=t(5, 5, 4), start=t(5, 5, 0)),  # a later response
        ],
        batch_of=["join", "join", "join", "live"],
    )
    session.finish()
    assert [(v.rule, v.severity, v.event_index, v.contact_id) for v in session.violations] == [
        ("contact-joined-mid-lifecycle", Severity.WARNING, 3, c),
    ]
    assert [c.status for c in session.snapshot().contacts] == ["Active"]


# --- the end of a session ---------------------------------------------------------------


def test_remote_logoff() -> None:
    w = Walk()
    w.step(session_start(), session=("active", None))
    w.step(available(t(11, 0, 0)), **AGENT_IDLE)
    w.step(remote_end("RemoteLogoff"), session=("ended", "RemoteAgentSessionEnd"),
           **LOGGED_OFF)
    # documented to follow: the same end, not a second one
    w.step(session_end(), session=("ended", "RemoteAgentSessionEnd"))
    w.finish()
    snap = w.check(events=4, violations=0)
    assert snap.session.end_message == "RemoteLogoff"
    assert w.session.info.end_index == 2


def test_remote_logoff_then_409_without_session_end() -> None:
    session = replay([session_start(), available(t(11, 0, 0)), remote_end("RemoteLogoff")])
    session.end("409")  # the AgentSessionEnd that should follow was lost
    session.finish()
    snap = session.snapshot()
    assert (snap.session.status, snap.session.end_reason) == ("ended", "RemoteAgentSessionEnd")
    assert session.violations == []


def test_remote_logoff_never_followed_by_an_end_is_a_warning() -> None:
    session = replay([session_start(), available(t(11, 0, 0)), remote_end("RemoteLogoff")])
    session.finish()
    assert [(v.rule, v.event_index) for v in session.violations] == [
        ("remote-end-without-end", 2)]


def test_409_after_a_lost_session_end() -> None:
    w = Walk()
    w.step(session_start(), session=("active", None))
    w.step(available(t(12, 0, 0)), **AGENT_IDLE)
    w.session.end("409")
    # a 409 is not an event of the stream; the agent is logged out with the session
    w.check(session=("ended", "409"), events=2, **LOGGED_OFF)
    # the AgentSessionEnd that was thought lost turns up late: still one end
    w.step(session_end(), session=("ended", "409"))
    w.session.end("409")
    w.finish()
    w.check(events=3, violations=0)
    assert w.session.info.end_index == 2


# --- idempotence and next states --------------------------------------------------------


def test_the_same_event_fed_twice_creates_no_second_step() -> None:
    c = "1569815"
    events = [
        session_start(),
        available(t(5, 0, 0)),
        call(c, "Incoming", at=t(5, 5, 0)),
        agent_state("InboundContact", at=t(5, 5, 0), next_states=["Available"]),
        call(c, "Active", at=t(5, 5, 4), start=t(5, 5, 0)),
        leg("2200339882", "Active"),
    ]
    replayed_once = replay_history(events)
    replayed_twice = replay_history([e for e in events for _ in (0, 1)])
    once, twice = replayed_once.session, replayed_twice.session
    contact_once, = replayed_once.history().contacts
    contact_twice, = replayed_twice.history().contacts
    assert [(s.status, s.final) for s in contact_once.steps] == [
        ("Incoming", False), ("Active", False)]
    assert [(s.status, s.final) for s in contact_twice.steps] == [
        ("Incoming", False), ("Active", False)]
    assert [s.event_index for s in contact_twice.steps] == [4, 8]
    assert [i.state for i in replayed_twice.history().agent_states] == [
        "Available", "InboundContact"]
    # the leg moved once (New -> Active), and no next state was set apart from a move
    said = [c for c in replayed_twice.said if isinstance(c, Transition)]
    assert [(c.machine, c.from_state, c.to_state) for c in said
            if c.machine == "agent_leg"] == [("agent_leg", "New", "Active")]
    assert [c for c in said if c.next_state_set or c.next_state_cleared] == []
    # each redelivery is reported once, as a warning, and is otherwise a no-op
    assert [(v.rule, v.severity) for v in twice.violations] == [
        ("duplicate-event", Severity.WARNING)] * 5
    # AgentSessionStart redelivered is a re-join, not a duplicate: it changes nothing either
    view_once, view_twice = view(once.snapshot()), view(twice.snapshot())
    assert (view_twice["events"], view_twice["violations"]) == (12, 5)
    assert {**view_twice, "events": 6, "violations": 0} == view_once


def test_a_redelivered_final_event_creates_no_second_step() -> None:
    c = "1569815"
    final = call(c, "Disconnected", at=t(5, 6, 17), start=t(5, 5, 0), final=True)
    replayed = replay_history([
        session_start(),
        call(c, "Incoming", at=t(5, 5, 0)),
        final,
        final,  # the same event delivered again
    ])
    session = replayed.session
    contact, = replayed.history().contacts
    assert [(s.status, s.final) for s in contact.steps] == [
        ("Incoming", False), ("Disconnected", True)]
    # a redelivery is a duplicate (a warning), not a status after FinalState (an error)
    assert [(v.rule, v.severity) for v in session.violations] == [
        ("duplicate-event", Severity.WARNING)]


def test_next_state_set_and_cleared_during_a_call() -> None:
    c = "1569815"
    w = Walk()
    w.step(session_start(), session=("active", None))
    w.step(available(t(5, 0, 0)), **AGENT_IDLE)
    w.step(call(c, "Incoming", at=t(5, 5, 0)), contacts=(Open(c, "Incoming"),))
    w.step(agent_state("InboundContact", at=t(5, 5, 0), next_states=["Unavailable", "Available"]),
           state="InboundContact", next=("Unavailable", ""), next_next=("Available", ""))
    # the agent asks for Lunch during the call: the next-next state changes, not the current
    snap = w.step(agent_state("InboundContact", at=t(5, 5, 0),
                              next_states=["Unavailable", ("Unavailable", "Lunch")]),
                  next_next=("Unavailable", "Lunch"))
    assert snap.agent_state is not None
    assert snap.agent_state.since == datetime(2013, 9, 11, 5, 5, 0, tzinfo=UTC)
    w.step(agent_state("InboundContact", at=t(5, 5, 0)), next=None, next_next=None)
    # each change of next states alone is a transition of its own, reflexive in the table
    changes = [c for c in w.said if isinstance(c, Transition)
               and (c.next_state_set or c.next_state_cleared)]
    assert [(n.trigger, n.event_index, n.from_state, n.to_state, n.at) for n in changes] == [
        ("next_set", 4, "InboundContact", "InboundContact",
         datetime(2013, 9, 11, 5, 5, 0, tzinfo=UTC)),
        ("next_cleared", 5, "InboundContact", "InboundContact",
         datetime(2013, 9, 11, 5, 5, 0, tzinfo=UTC)),
    ]
    # no new interval on the agent's timeline: the current state never changed
    assert [i.state for i in w.timeline()] == ["Available", "InboundContact"]
    assert w.errors() == []
    w.check(violations=0)


def test_a_contact_refused_while_on_another_is_no_deviation() -> None:
    """Concurrent contacts: on a call (InboundContact), the agent is offered a chat and
    lets it time out (Refused), then is back on the call. Both moves are table edges."""
    c, chat_id = "1569815", "77"
    w = Walk()
    w.step(session_start(), session=("active", None))
    w.step(available(t(5, 0, 0)), **AGENT_IDLE)
    w.step(call(c, "Incoming", at=t(5, 1, 0)), contacts=(Open(c, "Incoming"),))
    w.step(agent_state("InboundContact", at=t(5, 1, 0)), state="InboundContact")
    w.step(call(c, "Active", at=t(5, 1, 5), start=t(5, 1, 0)), contacts=(Open(c, "Active"),))
    w.step(chat(chat_id, "Incoming", at=t(5, 2, 0)),
           contacts=(Open(c, "Active"), Open(chat_id, "Incoming")))
    w.step(agent_state("Refused", at=t(5, 2, 45)), state="Refused")
    w.step(chat(chat_id, "Disconnected", at=t(5, 2, 45), final=True),
           contacts=(Open(c, "Active"),))
    w.step(agent_state("InboundContact", at=t(5, 2, 46)), state="InboundContact")
    moves = [(x.from_state, x.to_state) for x in w.said
             if isinstance(x, Transition) and x.machine == "agent_state"]
    assert moves == [("Unknown", "Available"), ("Available", "InboundContact"),
                     ("InboundContact", "Refused"), ("Refused", "InboundContact")]
    assert w.session.violations == []


def _dialer(contact_id: str, status: str, at: datetime, **kw: Any) -> dict[str, Any]:
    return call(contact_id, status, at=at, inbound=False, call_type="NaturalCalling",
                skill="2001", **kw)


def test_linking_the_next_dialer_call_while_one_is_in_its_acw_is_no_second_link() -> None:
    """Call a's voice path is torn down (Disconnected, FinalState False: its ACW phase)
    while it still says IsLinked True; the dialer links call b. a has no voice path
    left, so b's link is no two-linked-calls: the link moves to b, a is no longer linked."""
    a, b = "1570011", "1570012"
    w = Walk()
    w.step(session_start(), session=("active", None))
    w.step(agent_state("Dialer", at=t(9, 0, 0)), state="Dialer", out_reason="", is_acw=False)
    w.step(_dialer(a, "NaturalCallDialing", t(9, 0, 5), linked=True),
           contacts=(Open(a, "NaturalCallDialing", linked=True),), linked=a)
    w.step(_dialer(a, "NaturalCallRinging", t(9, 0, 7), start=t(9, 0, 5), linked=True),
           contacts=(Open(a, "NaturalCallRinging", linked=True),))
    w.step(_dialer(a, "Active", t(9, 0, 10), start=t(9, 0, 5), linked=True),
           contacts=(Open(a, "Active", linked=True),))
    w.step(_dialer(a, "Disconnected", t(9, 2, 0), start=t(9, 0, 5), linked=True),
           contacts=(Open(a, "Disconnected", in_acw=True, linked=True),))
    w.step(_dialer(b, "NaturalCallDialing", t(9, 2, 5), linked=True),
           contacts=(Open(a, "Disconnected", in_acw=True),
                     Open(b, "NaturalCallDialing", linked=True)), linked=b)
    assert [v.rule for v in w.session.violations] == []
    assert [(c.from_contact, c.to_contact) for c in w.said if isinstance(c, LinkMoved)] == [
        (None, a), (a, b)]


def test_a_closing_event_still_saying_linked_is_no_second_link() -> None:
    """The link moved from a to b (a second link while a still had its voice path: the
    warning); a's closing event still says IsLinked True. That is what was, not a new
    link: no second warning, b keeps the link, and the link and the flags agree."""
    a, b = "1570021", "1570022"
    w = Walk()
    w.step(session_start(), session=("active", None))
    w.step(agent_state("Dialer", at=t(9, 0, 0)), state="Dialer", out_reason="", is_acw=False)
    w.step(_dialer(a, "NaturalCallDialing", t(9, 0, 5), linked=True),
           contacts=(Open(a, "NaturalCallDialing", linked=True),), linked=a)
    w.step(_dialer(b, "NaturalCallDialing", t(9, 0, 6), linked=True),
           contacts=(Open(a, "NaturalCallDialing"), Open(b, "NaturalCallDialing", linked=True)),
           linked=b, violations=1)
    w.step(_dialer(a, "Disconnected", t(9, 0, 30), start=t(9, 0, 5), final=True, linked=True,
                   disconnect="NoAnswer"),
           contacts=(Open(b, "NaturalCallDialing", linked=True),), linked=b)
    assert [(v.rule, v.event_index) for v in w.session.violations] == [("two-linked-calls", 3)]


@pytest.mark.parametrize(("name", "statuses"), [
    # nothing in the documentation forbids these; each is its table's row now
    ("a preview skipped to a callback", ["Preview", "CallBackDisconnected"]),
    ("a masked call requeued as a callback", ["Dialing", "Active", "Masking",
                                              "CallBackDisconnected"]),
    ("a dialer call answered with no ringing reported", ["NaturalCallDialing", "Active"]),
    ("a dialer call detected with no ringing reported", ["NaturalCallDialing",
                                                         "NaturalCallAMD", "Disconnected"]),
])
def test_call_moves_the_documentation_allows_are_no_violation(
        name: str, statuses: list[str]) -> None:
    c = "1570031"
    replayed = replay_history([
        session_start(),
        *(call(c, status, at=t(9, 0, n), inbound=False, start=t(9, 0, 0))
          for n, status in enumerate(statuses)),
    ])
    assert replayed.session.violations == [], name
    contact, = replayed.history().contacts
    assert [s.status for s in contact.steps] == statuses


def test_a_callback_first_seen_in_a_join_is_no_violation() -> None:
    c = "1570032"
    replayed = replay_history(
        [call(c, "CallBackDisconnected", at=t(9, 0, 0), inbound=False), session_start()],
        batch_of=["join", "join"])
    assert replayed.session.violations == []
    snap = replayed.session.snapshot()
    assert [(x.contact_id, x.status) for x in snap.contacts] == [(c, "CallBackDisconnected")]


def test_final_state_on_an_active_leg_ends_it_as_the_platform_says() -> None:
    """FinalState True on an Active leg (no Disconnected seen): the platform's word on the
    lifecycle is final, as for contacts. The leg is over (final, its machine closed) and
    shows the last status the platform sent; the leg-transition violation says it ended
    without a Disconnected. A status for it afterwards is leg-after-final; a new
    AgentLegId starts a new leg with no complaint."""
    w = Walk()
    w.step(session_start(), session=("active", None))
    w.step(leg("2200339882", "Dialing"), leg=("2200339882", "Dialing", False))
    w.step(leg("2200339882", "Active"), leg=("2200339882", "Active", False))
    w.step(leg("2200339882", "Active", final=True), leg=("2200339882", "Active", True),
           violations=1)
    moves = [(c.from_state, c.to_state, c.trigger, c.final) for c in w.said
             if isinstance(c, Transition) and c.machine == "agent_leg"]
    assert moves[-1] == ("Active", "Closed", "close", True)
    w.step(leg("2200339882", "Active"), violations=2)
    w.step(leg("2200339900", "Dialing"), leg=("2200339900", "Dialing", False))
    assert [(v.rule, v.event_index) for v in w.session.violations] == [
        ("leg-transition", 3), ("leg-after-final", 4)]


# --- a state that begins again (issue 29, item 1) ----------------------------------------


def test_the_same_state_with_a_later_start_time_began_again() -> None:
    """AgentState's StartTimeUTC "indicates when the agent's state began" (seed): Available
    since 08:00, then Available since 09:00 is Available begun again (the agent left it and
    came back, unseen). ``since`` moves, the timeline has two stretches, an AgentStatus
    says so; no table row fires (the moves in between were not seen). The same event
    again, or the older one again, is a redelivery."""
    w = Walk()
    w.step(session_start(), session=("active", None))
    w.step(available(t(8, 0, 0)), **AGENT_IDLE)
    snap = w.step(available(t(9, 0, 0)))
    assert snap.agent_state is not None
    assert snap.agent_state.since == t(9, 0, 0)
    w.step(available(t(9, 0, 0)), violations=1)  # the same event again
    w.step(available(t(8, 0, 0)), violations=2)  # the older one again
    snap = w.step(agent_state("Unavailable", at=t(9, 30, 0), out_reason="Break"),
                  state="Unavailable", out_reason="Break")
    assert [(v.rule, v.event_index) for v in w.session.violations] == [
        ("duplicate-event", 3), ("duplicate-event", 4)]
    assert [(c.state, c.at, c.event_index) for c in w.said if isinstance(c, AgentStatus)] == [
        ("Available", t(8, 0, 0), 1), ("Available", t(9, 0, 0), 2),
        ("Unavailable", t(9, 30, 0), 5)]
    assert [(c.from_state, c.to_state) for c in w.said
            if isinstance(c, Transition) and c.machine == "agent_state"] == [
        ("Unknown", "Available"), ("Available", "Unavailable")]
    history = w.fold.history("s")
    # 08:00 -> 09:00 = 3,600 s; 09:00 -> 09:30 = 1,800 s; the break goes on
    assert [(i.state, i.start, i.end, i.duration_s) for i in history.agent_states] == [
        ("Available", t(8, 0, 0), t(9, 0, 0), 3600.0),
        ("Available", t(9, 0, 0), t(9, 30, 0), 1800.0),
        ("Unavailable", t(9, 30, 0), None, None),
    ]


def test_a_state_restarted_by_a_rejoin_has_two_timeline_intervals() -> None:
    """Joined twice: the first rejoin's replay shows the state as it was (the same event:
    a redelivery); while the client was away again the agent left Available and came
    back, so the second rejoin shows Available since 10:20."""
    w = Walk()
    w.step(session_start(), session=("active", None))
    w.step(available(t(10, 0, 0)), **AGENT_IDLE)
    # rejoin 1: the state replayed before AgentSessionStart, as the SDK may present it
    w.step(available(t(10, 0, 0)), batch="join-1", violations=1)
    w.step(session_start(), batch="join-1")
    # rejoin 2
    snap = w.step(available(t(10, 20, 0)), batch="join-2")
    w.step(session_start(), batch="join-2")
    assert snap.agent_state is not None
    assert snap.agent_state.since == t(10, 20, 0)
    w.step(agent_state("Unavailable", at=t(10, 30, 0), out_reason="Lunch"),
           state="Unavailable", out_reason="Lunch")
    assert [(v.rule, v.event_index) for v in w.session.violations] == [("duplicate-event", 2)]
    history = w.fold.history("s")
    # 10:00 -> 10:20 = 1,200 s; 10:20 -> 10:30 = 600 s
    assert [(i.state, i.start, i.end, i.duration_s) for i in history.agent_states] == [
        ("Available", t(10, 0, 0), t(10, 20, 0), 1200.0),
        ("Available", t(10, 20, 0), t(10, 30, 0), 600.0),
        ("Unavailable", t(10, 30, 0), None, None),
    ]
    assert history.time_in_state_s == {"Available": 1800.0}  # 1,200 + 600


def test_an_acw_begun_again_is_not_the_closed_contact_of_the_acw_before_it() -> None:
    """The ACW comes before its contact's close here (both orders occur), and the call is
    closed at once: that ACW is the call's. A rejoin then shows ACW again, since 11:06: an
    ACW begun after the first one ended, which the closed call cannot own."""
    c = "1569815"
    w = Walk()
    w.step(session_start(), session=("active", None))
    w.step(available(t(11, 0, 0)), **AGENT_IDLE)
    w.step(call(c, "Incoming", at=t(11, 0, 5)), contacts=(Open(c, "Incoming"),))
    w.step(agent_state("InboundContact", at=t(11, 0, 5)), state="InboundContact")
    w.step(call(c, "Active", at=t(11, 0, 10), start=t(11, 0, 5)), contacts=(Open(c, "Active"),))
    w.step(agent_state("Unavailable", at=t(11, 2, 0), acw=True, acw_timeout=600),
           state="Unavailable", is_acw=True, acw_deadline=t(11, 12, 0))  # 11:02 + 600 s
    w.step(call(c, "Disconnected", at=t(11, 2, 0), start=t(11, 0, 5), final=True), contacts=())
    snap = w.step(agent_state("Unavailable", at=t(11, 6, 0), acw=True, acw_timeout=600),
                  batch="join", acw_deadline=t(11, 16, 0))  # 11:06 + 600 s
    w.step(session_start(), batch="join")
    assert snap.agent_state is not None
    assert snap.agent_state.acw is not None
    assert snap.agent_state.acw.contact_id is None
    w.step(available(t(11, 7, 0)), **AGENT_IDLE)
    assert [(x.contact_id, x.event_index) for x in w.said if isinstance(x, AcwLinked)] == [
        (c, 6)]
    history = w.fold.history("s")
    assert [(i.is_acw, i.start, i.end, i.acw_contact_id) for i in history.agent_states
            if i.is_acw] == [(True, t(11, 2, 0), t(11, 6, 0), c),
                             (True, t(11, 6, 0), t(11, 7, 0), None)]
    contact, = history.contacts
    # ACW 11:02 -> 11:06 = 240 s, once; handle 11:00:10 -> 11:02:00 = 110 s, + 240 = 350 s
    assert (contact.acw_s, contact.handle_time_s) == (240.0, 350.0)
    assert w.session.violations == []


# --- the ACW belongs to the contact still open in its ACW phase (issue 29, item 2) -------


X_CALL, Y_CONSULT = "1590001", "1590002"


def _customer(status: str, at: datetime, *, final: bool = False) -> dict[str, Any]:
    return call(X_CALL, status, at=at, start=t(10, 0, 0), final=final)


def _consult(status: str, at: datetime, *, final: bool = False) -> dict[str, Any]:
    return call(Y_CONSULT, status, at=at, start=t(10, 2, 1), inbound=False,
                call_type="Consult", final=final)


_HANG_UPS = {
    # both parties hang up in the same second: the customer's call goes on in its ACW
    # phase (FinalState False), the consult is closed at once (FinalState True)
    "x": _customer("Disconnected", t(10, 5, 0)),
    "y": _consult("Disconnected", t(10, 5, 0), final=True),
    "acw": agent_state("Unavailable", at=t(10, 5, 0), acw=True, acw_timeout=120,
                       next_states=["Available"]),
}


@pytest.mark.parametrize("order", [
    ("x", "y", "acw"),  # the stream: the consult's close is the last before the ACW
    ("y", "x", "acw"),
    ("y", "acw", "x"),  # the AgentState before its contact's event: both orders occur
    ("acw", "y", "x"),
], ids="-".join)
def test_the_acw_after_a_conference_is_the_open_calls_not_the_closed_consults(
        order: tuple[str, ...]) -> None:
    """A customer call and a consult in conference both disconnect at 10:05:00: the
    consult with FinalState True, the call with FinalState False; the agent goes into ACW.
    "If the agent is moved into an Unavailable/ACW state, the contact will still be
    'active' in the system, and the FinalState property ... will be 'false'" (seed): the
    ACW is the call's, in the change stream, the snapshot and the history alike."""
    replayed = replay_history([
        session_start(),
        available(t(10, 0, 0)),
        _customer("Incoming", t(10, 0, 0)),
        agent_state("InboundContact", at=t(10, 0, 0), next_states=["Unavailable", "Available"]),
        _customer("Active", t(10, 0, 5)),
        _customer("Holding", t(10, 2, 0)),
        _consult("Dialing", t(10, 2, 1)),
        agent_state("OutboundConsult", at=t(10, 2, 1), next_states=["Unavailable", "Available"]),
        _consult("Active", t(10, 2, 8)),
        _customer("Active", t(10, 3, 0)),  # off hold, into the conference
        *(_HANG_UPS[name] for name in order),
    ])
    snap = replayed.session.snapshot()
    assert snap.agent_state is not None
    assert snap.agent_state.acw is not None
    assert snap.agent_state.acw.contact_id == X_CALL
    assert [(c.contact_id, c.status, c.in_acw) for c in snap.contacts] == [
        (X_CALL, "Disconnected", True)]
    replayed.feed(_customer("Disconnected", t(10, 6, 10), final=True))  # ACW ends
    replayed.feed(available(t(10, 6, 10)))
    assert replayed.session.violations == []
    assert [c.contact_id for c in replayed.said if isinstance(c, AcwLinked)] == [X_CALL]
    history = replayed.history()
    customer, consult = history.contacts
    # the consult: Dialing 10:02:01 -> Active 10:02:08 (7 s) -> closed 10:05:00 (172 s);
    # no ACW of its own, handle time its talk: 172 s
    assert (consult.contact_id, consult.acw_s, consult.handle_time_s) == (Y_CONSULT, None, 172.0)
    assert consult.time_in_status_s == {"Dialing": 7.0, "Active": 172.0}
    # the call: Active 10:00:05 -> 10:02:00 (115 s) and 10:03:00 -> 10:05:00 (120 s),
    # Holding 60 s; ACW 10:05:00 -> 10:06:10 = 70 s, counted once; handle
    # 10:00:05 -> 10:05:00 = 295 s, + 70 = 365 s
    assert customer.contact_id == X_CALL
    assert customer.time_in_status_s == {"Incoming": 5.0, "Active": 235.0, "Holding": 60.0,
                                         "Disconnected": 70.0}
    assert (customer.acw_s, customer.handle_time_s) == (70.0, 365.0)
    assert [(i.state, i.duration_s, i.acw_contact_id) for i in history.agent_states
            if i.is_acw] == [("Unavailable", 70.0, X_CALL)]
    assert history.acw_time_s == 70.0


def test_an_acw_with_only_closed_contacts_before_it_is_the_one_closed_at_once() -> None:
    """The other documented path (stream-facts): FinalState True at once, before the
    agent's ACW starts, with no contact left in its ACW phase or in the agent's hands: the
    ACW that follows is that contact's."""
    c = "1569900"
    replayed = replay_history([
        session_start(),
        available(t(6, 0, 0)),
        call(c, "Incoming", at=t(6, 0, 10)),
        agent_state("InboundContact", at=t(6, 0, 10)),
        call(c, "Active", at=t(6, 0, 15), start=t(6, 0, 10)),
        call(c, "Disconnected", at=t(6, 2, 0), start=t(6, 0, 10), final=True),
        agent_state("Unavailable", at=t(6, 2, 0), acw=True, acw_timeout=30),
        available(t(6, 2, 30)),
    ])
    contact, = replayed.history().contacts
    # talk 06:00:15 -> 06:02:00 = 105 s; ACW 06:02:00 -> 06:02:30 = 30 s; 105 + 30 = 135 s
    assert (contact.acw_s, contact.handle_time_s) == (30.0, 135.0)


# --- a remote logoff's own events (issue 29, item 3) -------------------------------------


def _remote_logoff_during_acw(*after: dict[str, Any]) -> AgentSession:
    c = "1569815"
    return replay([
        session_start(),                                                        # 0
        available(t(11, 0, 0)),                                                 # 1
        call(c, "Incoming", at=t(11, 0, 5)),                                    # 2
        agent_state("InboundContact", at=t(11, 0, 5)),                          # 3
        call(c, "Active", at=t(11, 0, 9), start=t(11, 0, 5)),                   # 4
        call(c, "Disconnected", at=t(11, 3, 0), start=t(11, 0, 5)),             # 5
        agent_state("Unavailable", at=t(11, 3, 0), acw=True),                   # 6
        remote_end("RemoteLogoff"),                                             # 7
        *after,                                                                 # 8...
    ])


def test_a_remote_logoff_whose_own_events_close_the_contact_leaves_none_open() -> None:
    """"This event will be followed by a normal AgentSessionEnd event" (seed): the
    administrator's logoff closes the call in ACW, logs the agent out, then the session
    ends. Nothing is open when it ends."""
    session = _remote_logoff_during_acw(
        call("1569815", "Disconnected", at=t(11, 4, 0), start=t(11, 0, 5), final=True),
        agent_state("LoggedOut", at=t(11, 4, 0)),
        session_end())
    session.finish()
    assert session.violations == []
    snap = session.snapshot()
    assert (snap.session.status, snap.session.end_reason, snap.contacts) == (
        "ended", "RemoteAgentSessionEnd", ())


def test_a_contact_still_open_at_the_session_end_after_a_remote_logoff() -> None:
    session = _remote_logoff_during_acw(agent_state("LoggedOut", at=t(11, 4, 0)),
                                        session_end())
    session.finish()
    assert [(v.rule, v.event_index, v.contact_id) for v in session.violations] == [
        ("contacts-open-at-end", 9, "1569815")]  # at the AgentSessionEnd


def test_a_contact_still_open_when_the_input_ends_after_a_remote_logoff() -> None:
    session = _remote_logoff_during_acw(agent_state("LoggedOut", at=t(11, 4, 0)))
    assert session.violations == []  # not judged at the remote end
    session.finish()
    # judged at the end of the input, pointed at the remote end like its own warning
    assert [(v.rule, v.event_index, v.contact_id) for v in session.violations] == [
        ("remote-end-without-end", 7, None), ("contacts-open-at-end", 7, "1569815")]


def test_a_contact_still_open_at_the_409_after_a_remote_logoff() -> None:
    session = _remote_logoff_during_acw(agent_state("LoggedOut", at=t(11, 4, 0)))
    changes = session.end("409")  # the AgentSessionEnd was purged with the queue
    session.finish()
    assert [(v.rule, v.event_index, v.contact_id) for v in session.violations] == [
        ("contacts-open-at-end", 9, "1569815")]  # the 409 takes the next index
    assert [c.rule for c in changes if isinstance(c, Violation)] == ["contacts-open-at-end"]


def test_a_session_keeps_its_latest_closed_contacts_not_every_one() -> None:
    """A followed agent's session lives for days; the closed contacts it keeps for the
    after-final and redelivery checks are the last CLOSED_KEPT (32), closed latest. A
    status after FinalState of a kept one is contact-after-final; one of a contact closed
    longer ago is taken as a contact first seen (a Disconnected first seen is no entry
    into the call machine: a contact-transition error, not an after-final)."""
    from session_fsm.engine.core import CLOSED_KEPT
    from session_fsm.engine.rules import RULES

    assert f"last {CLOSED_KEPT} closed" in RULES["contact-after-final"].rationale  # as told
    events = [session_start(), available(t(7, 0, 0))]
    for n in range(CLOSED_KEPT + 3):
        at = t(8, n, 0)
        events += [call(str(1000 + n), "Incoming", at=at),
                   call(str(1000 + n), "Disconnected", at=t(8, n, 30), start=at, final=True)]
    session = replay(events)
    assert len(session.closed) == CLOSED_KEPT
    assert list(session.closed) == [str(1000 + n) for n in range(3, CLOSED_KEPT + 3)]
    before = len(session.violations)
    session.feed(call("1010", "Active", at=t(9, 0, 0), start=t(8, 10, 0)), batch="late-1")
    session.feed(call("1000", "Active", at=t(9, 0, 1), start=t(8, 0, 0)), batch="late-2")
    late = [(v.rule, v.contact_id) for v in session.violations[before:]]
    assert ("contact-after-final", "1010") in late
    assert ("contact-after-final", "1000") not in late
    assert "1000" in session.contacts  # first seen again, open
