"""Every (state, trigger) pair of every machine, through transitions and through the engine.

For each pair of the session's lifecycle, the agent-state machine, the agent-leg machine
and each contact media's machine:

(a) the compiled ``spec.table`` agrees with ``transitions``' own firing of the trigger on
    a bare record (a pair outside the table raises ``MachineError``);
(b) a fresh :class:`AgentSession` driven to the source state by wire events (a shortest
    path through the table from the initial state), then given the event that fires the
    trigger, moves the record to the table's destination with no error-severity
    violation, and ``feed()`` returns the :class:`Transition` of that row; a pair outside
    the table records the rule the catalogue names for it, and in strict mode an error
    rule raises :class:`SequenceError` carrying the machine, the state, the trigger and
    the event index.

How a trigger becomes an event: a status trigger is an event with that ``Status``
(``CurrentState`` for the agent); ``close`` is FinalState True on the record's current
status; ``next_set`` / ``next_cleared`` are an AgentState that changes only NextStates;
the session's triggers are AgentSessionStart, AgentSessionEnd, RemoteAgentSessionEnd and the
recorded 409 (``session_fsm.HttpSessionEnded``).
A repeat of the current status is a data update, not a transition (contacts.py), so a
pair ``(S, S)`` has no row and must leave the record where it is, silently.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import pytest
from helpers import (
    agent_state,
    call,
    chat,
    digital,
    leg,
    remote_end,
    session_end,
    session_start,
    supervisor_contact,
    utc,
    voicemail,
    work_item,
)
from transitions.core import MachineError

from session_fsm.engine import AgentSession
from session_fsm.engine.changes import Transition
from session_fsm.engine.rules import RULES, Severity
from session_fsm.errors import SequenceError
from session_fsm.machines import MachineSpec, spec_registry
from session_fsm.machines.agent_leg import AGENT_LEG
from session_fsm.machines.agent_state import AGENT_STATE, NEXT_CLEARED, NEXT_SET
from session_fsm.machines.contacts import CLOSE, CONTACT_MACHINES, ContactSpec
from session_fsm.machines.session import SESSION

SPECS: dict[str, MachineSpec] = spec_registry()
CONTACT_ID = "1569815"
LEG_ID = "2200339882"
T0 = utc(2013, 9, 11, 12, 0, 0)
NEXT_TRIGGERS = (NEXT_SET, NEXT_CLEARED)

Wire = dict[str, Any]
CONTACT_EVENTS: dict[str, Callable[..., Wire]] = {
    "call": call,
    "work_item": work_item,
    "chat": chat,
    "voicemail": voicemail,
    "digital": digital,
    "supervisor": supervisor_contact,
}


def test_the_walk_covers_every_machine_and_every_table_row() -> None:
    assert set(SPECS) == {"session", "agent_state", "agent_leg", *(
        f"contact_{media}" for media in ("call", "work_item", "chat", "voicemail", "digital",
                                         "supervisor"))}
    assert set(CONTACT_MACHINES) == set(CONTACT_EVENTS)
    for spec in SPECS.values():
        assert set(spec.table) <= {(s, t) for s in spec.states for t in spec.triggers}
        assert set(spec.table.values()) <= set(spec.states)


def _pairs() -> list[Any]:
    return [
        pytest.param(name, str(state), str(trigger), id=f"{name}:{state}--{trigger}")
        for name, spec in SPECS.items()
        for state in spec.states
        for trigger in spec.triggers
    ]


class Record:
    """The smallest thing transitions can drive: an object with a ``state``."""

    __slots__ = ("state",)

    def __init__(self, state: Any) -> None:
        self.state = state


# --- driving a session to a state -------------------------------------------------------


def path_to(spec: MachineSpec, target: str) -> list[tuple[str, str]]:
    """The (source, trigger) edges of a shortest path from the initial state to ``target``."""
    start = str(spec.initial)
    paths: dict[str, list[tuple[str, str]]] = {start: []}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        for (source, trigger), dest in spec.table.items():
            if source != state or trigger in NEXT_TRIGGERS or str(dest) in paths:
                continue
            paths[str(dest)] = [*paths[state], (source, trigger)]
            queue.append(str(dest))
    assert target in paths, f"{spec.name}: {target} cannot be reached from {start}"
    return paths[target]


class Driver:
    """Builds the wire event that fires ``trigger`` in ``state`` for one machine kind."""

    def __init__(self, spec: MachineSpec) -> None:
        self.spec = spec
        self.count = 0
        self.last = T0

    def at(self) -> Any:
        self.count += 1
        self.last = T0 + timedelta(seconds=self.count)
        return self.last

    def event(self, state: str, trigger: str, *, probe: bool = False,
              next_states: list[Any] | None = None) -> Wire:
        spec = self.spec
        if spec is SESSION:
            return SESSION_EVENTS[trigger]()
        final = trigger == CLOSE
        status = state if final else trigger  # close: FinalState True on the current status
        if spec is AGENT_STATE:
            if trigger in NEXT_TRIGGERS:
                # the current state unchanged (none at all in Unknown), only NextStates moves
                current = "" if state == str(AGENT_STATE.initial) else state
                return agent_state(current, at=self.last,  # the state's own start time
                                   next_states=[("Available", "")] if trigger == NEXT_SET else [])
            return agent_state(trigger, at=self.at(), next_states=next_states or [])
        if spec is AGENT_LEG:
            # a probe carries an extra field, so it is never a redelivery of the path's last event
            return leg(LEG_ID, status, final=final, **({"IISHost": "probe"} if probe else {}))
        assert isinstance(spec, ContactSpec)
        return CONTACT_EVENTS[spec.media](CONTACT_ID, status, at=self.at(), final=final,
                                          start=T0)


SESSION_EVENTS: dict[str, Callable[[], Wire]] = {
    "AgentSessionStart": session_start,
    "AgentSessionEnd": session_end,
    "RemoteAgentSessionEnd": remote_end,
    "409": lambda: {"Type": "session_fsm.HttpSessionEnded", "HttpStatus": "409"},
}


def drive(
    spec: MachineSpec, state: str, trigger: str, *, strict: bool
) -> tuple[AgentSession, Wire]:
    """A fresh session in ``state`` (no AgentSessionStart: all of it is a join replay)."""
    session = AgentSession("machines", strict=strict)
    driver = Driver(spec)
    # a pending next state to clear, when the probe is next_cleared
    pending = [("Unavailable", "Lunch")] if trigger == NEXT_CLEARED else []
    for source, edge in path_to(spec, state):
        session.feed(driver.event(source, edge, next_states=pending))
    if trigger == NEXT_CLEARED and state == str(AGENT_STATE.initial):
        session.feed(agent_state("", at=T0, next_states=pending))
    assert state_of(session, spec) == state
    assert errors(session) == []
    return session, driver.event(state, trigger, probe=True)


def state_of(session: AgentSession, spec: MachineSpec) -> str | None:
    if spec is SESSION:
        return session.info.status
    if spec is AGENT_STATE:
        return session.agent.state
    if spec is AGENT_LEG:
        return session.leg.state if session.leg else str(AGENT_LEG.initial)
    record = session.contacts.get(CONTACT_ID) or session.closed.get(CONTACT_ID)
    return record.state if record else str(spec.initial)


def errors(session: AgentSession) -> list[str]:
    return [v.rule for v in session.violations if v.severity is Severity.ERROR]


def expected_rule(spec: MachineSpec, state: str, trigger: str) -> str:
    """The catalogue's rule for a pair outside the table."""
    if spec is SESSION:
        return "event-after-end"
    if spec is AGENT_STATE:
        return "agent-state-transition"
    if spec is AGENT_LEG:
        return "leg-after-final" if state == "Closed" else "leg-transition"
    assert isinstance(spec, ContactSpec)
    if state == spec.closed_state:
        return "contact-after-final"
    if trigger == CLOSE:
        return "final-on-open-status"
    return "contact-transition"


# --- the walk -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "state", "trigger"), _pairs())
def test_every_pair(name: str, state: str, trigger: str) -> None:
    spec = SPECS[name]
    dest = spec.table.get((state, trigger))

    # (a) transitions' own firing agrees with the compiled table
    member_name = {str(s.value): n for n, s in spec.machine.states.items()}
    record = Record(member_name[state])
    try:
        fired = spec.machine.events[trigger].trigger(record)
    except MachineError:
        fired = None
    if dest is None:
        assert fired is None, f"transitions fires {state} --{trigger}--> {record.state}"
        assert record.state == member_name[state]
    else:
        assert fired is True
        assert record.state == dest

    # (b) the engine, lenient and strict
    session, probe = drive(spec, state, trigger, strict=False)
    index = session.position
    before = list(session.violations)
    changes = session.feed(probe)
    new = [v for v in session.violations if v not in before]
    moved = [(c.machine, c.from_state, c.to_state, c.trigger, c.event_index)
             for c in changes if isinstance(c, Transition)]

    if dest is not None:
        assert state_of(session, spec) == dest
        assert errors(session) == []
        # the row that fired is what feed() says; a close follows its status's own row.
        # A repeat of the current state (LoggedOut again) is a data update: no row fires.
        assert moved[-1:] == ([] if trigger == state else [(spec.name, state, dest, trigger,
                                                             index)])
        subject = CONTACT_ID if isinstance(spec, ContactSpec) else (
            LEG_ID if spec is AGENT_LEG else None)
        assert all(c.subject == subject for c in changes if isinstance(c, Transition))
        strict, probe = drive(spec, state, trigger, strict=True)
        strict.feed(probe)  # must not raise
        assert state_of(strict, spec) == dest
        return

    if trigger == state or (spec is SESSION and state != "ended"):
        # a repeat of the current status is a data update (and a second AgentSessionStart
        # a join's replay): no transition, nothing to report at it. (The probe of an agent
        # state has a later StartTimeUTC: the state began again, and the stretch before it
        # is judged now; a contact-state-without-contact points at where that one began.)
        assert state_of(session, spec) == state
        assert [v for v in new if v.event_index == index] == []
        assert [v.rule for v in new] in ([], ["contact-state-without-contact"])
        assert moved == []
        return
    if spec is SESSION:  # ended: a start is late; an end repeats the one end, silently
        assert moved == []
        if trigger != "AgentSessionStart":
            assert new == []
            return

    rule = expected_rule(spec, state, trigger)
    assert (rule, index) in [(v.rule, v.event_index) for v in new]
    if isinstance(spec, ContactSpec):
        assert all(v.contact_id == CONTACT_ID for v in new if v.rule == rule)
    strict, probe = drive(spec, state, trigger, strict=True)
    if RULES[rule].severity is Severity.ERROR:
        with pytest.raises(SequenceError) as raised:
            strict.feed(probe)
        error = raised.value
        assert error.rule == rule
        assert error.machine == spec.name
        assert error.state == state
        # a status after the final one names that status; the others name the trigger
        assert error.trigger == (probe["Status"] if rule.endswith("-after-final") else trigger)
        assert error.event_index == index
        if isinstance(spec, ContactSpec):
            assert error.subject == CONTACT_ID
    else:
        strict.feed(probe)  # a warning never raises, even in strict mode
        assert (rule, index) in [(v.rule, v.event_index) for v in strict.violations]


def test_strict_mode_raises_before_anything_moves() -> None:
    session = AgentSession("strict", strict=True)
    session.feed(call(CONTACT_ID, "Active", at=T0))
    with pytest.raises(SequenceError):
        session.feed(call(CONTACT_ID, "Incoming", at=T0 + timedelta(seconds=1)))
    assert session.contacts[CONTACT_ID].state == "Active"
    assert session.contacts[CONTACT_ID].status == "Active"


def _walk_summary() -> Mapping[str, int]:
    return {name: len(spec.states) * len(spec.triggers) for name, spec in SPECS.items()}


def test_the_pair_count_is_what_the_tables_declare() -> None:
    # a guard against a machine losing its states or triggers without anyone noticing
    assert _walk_summary() == {
        "session": 3 * 4,
        "agent_state": 12 * 13,
        "agent_leg": 5 * 4,
        "contact_call": 15 * 14,
        "contact_work_item": 8 * 7,
        "contact_chat": 9 * 8,
        "contact_voicemail": 7 * 6,
        "contact_digital": 7 * 6,
        "contact_supervisor": 7 * 6,
    }
