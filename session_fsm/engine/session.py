"""The engine: the only place that fires transitions. Sans-IO: no files, no clock.

Theory of operation. Each session key has one :class:`AgentSession`. An event of a
frequent type is read straight from its wire object into the few *facts* its handler
needs (see ``facts.py``); any other event is decoded to its typed class (and a typed
event gives the same facts). It gets the next 0-based index of its session and is
dispatched on its type to one handler. A handler first looks up what the event means
(the trigger and the destination in the machine's compiled table) and checks it against
the protocol; only then does it change records. So in strict mode a forbidden event
raises :class:`SequenceError` before anything moves, and in the default lenient mode the
engine mirrors the platform: every event is applied, and each deviation is recorded as a
:class:`~session_fsm.engine.rules.Violation` named after the rule catalogue.

Events that change nothing (a repeated status, a redelivered event: one whose digest
equals the last one applied to the same subject) fire no transition, so the engine is
idempotent under redelivery. Ending is idempotent too: AgentSessionEnd,
RemoteAgentSessionEnd and an HTTP 409 (:meth:`AgentSession.end`, or the HttpSessionEnded
line a recording holds for it) are one end.

A join replays the session's state in its first batch: AgentSessionStart anywhere in it
and contacts in middle statuses. The *join batch* is every event before the first
AgentSessionStart plus the events of the same batch (same input line or response) as it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from sys import intern
from types import MappingProxyType
from typing import Any, NamedTuple

from ..errors import FieldError, InputError, NotAnEventError, OnError, SequenceError, Source
from ..machines import CLOSE
from ..machines.agent_leg import AGENT_LEG, LegStatus
from ..machines.agent_state import AGENT_STATE, NEXT_CLEARED, NEXT_SET, ON_CONTACT, AgentStateName
from ..machines.contacts import CONTACT_MACHINES, ContactSpec
from ..machines.session import SESSION, START
from ..wire import events as ev
from ..wire.codec import decode
from ..wire.facts import (
    FACTS_OF,
    ChatTextFacts,
    ContactFacts,
    LegFacts,
    MuteFacts,
    StateFacts,
    event_digest,
    facts_of_event,
    wire_digest,
    wire_reader,
)
from .changes import (
    NO_CHANGES,
    AcwLinked,
    AgentStatus,
    Change,
    ContactDetails,
    LinkMoved,
    Noted,
    StatusAfterFinal,
    Subscriber,
    TranscriptAdded,
    Transition,
)
from .records import (
    AcwPeriod,
    AgentRecord,
    ContactRecord,
    LegRecord,
    SessionInfo,
    TranscriptLine,
)
from .rules import RULES, RuleName, Severity, Violation
from .snapshot import Snapshot, snapshot_of

END_EVENTS = (ev.AgentSessionEnd, ev.RemoteAgentSessionEnd, ev.HttpSessionEnded)
_INBOUND_STATES = frozenset({AgentStateName.INBOUND_CONTACT})
_OUTBOUND_STATES = frozenset({AgentStateName.OUTBOUND_CONTACT})
_CONSULT_STATES = frozenset({AgentStateName.INBOUND_CONSULT, AgentStateName.OUTBOUND_CONSULT})
_CONTACT_STATES = frozenset(ON_CONTACT)
_STATE_UNAVAILABLE = AgentStateName.UNAVAILABLE.value
_AGENT_STATE_MACHINE = AGENT_STATE.name

_NO_ENTRIES: Mapping[str, Any] = MappingProxyType({})

log = logging.getLogger(__name__)


class AgentSession:
    """One agent session's machines, records, history and violations."""

    # Slots: with tens of thousands of live sessions, a per-instance __dict__ (CPython
    # stops sharing dict keys past 29 attributes) costs ~1.3 KB each.
    __slots__ = (  # noqa: RUF023 - grouped as __init__ assigns them
        "key", "strict", "ignore", "info", "agent", "leg", "contacts", "closed",
        "linked_contact_id", "monitoring", "monitor_contact_id", "take_over",
        "past_legs", "session_errors", "indicators",
        "page_opens", "pop_urls", "custom_events", "skill_list", "hours_of_operation",
        "muted", "signals", "unknown_types", "rooms", "violations", "position", "events",
        "finished", "_start_batch", "_last_ended_contact", "_source", "_index", "_out",
    )

    def __init__(
        self, key: str = "-", *, strict: bool = False, ignore: Iterable[str] = ()
    ) -> None:
        self.key = key
        self.strict = strict
        self.ignore = frozenset(ignore)
        self.info = SessionInfo()
        self.agent = AgentRecord(state=AGENT_STATE.initial)
        self.leg: LegRecord | None = None
        self.contacts: dict[str, ContactRecord] = {}
        """Open contacts, in order of first appearance."""
        self.closed: dict[str, ContactRecord] = {}
        """Closed contacts (FinalState True), kept for the after-final and redelivery
        checks (their history is the change stream's, folded by ``views.history``)."""
        self.linked_contact_id: str | None = None
        self.monitoring: ev.SupervisorMonitor | None = None
        self.monitor_contact_id: str | None = None
        self.take_over: ev.TakeOver | None = None
        # Containers most sessions never fill start as shared empty ones and get their own
        # on first write (_own_list, _own_map): ~500 bytes less per session.
        self.past_legs: Sequence[LegRecord] = ()
        self.session_errors: Sequence[ev.AgentError] = ()
        self.indicators: Mapping[str, ev.Indicator] = _NO_ENTRIES
        self.page_opens: Mapping[str, ev.PageOpen] = _NO_ENTRIES
        self.pop_urls: Mapping[str, ev.PopURL] = _NO_ENTRIES
        self.custom_events: Mapping[str, ev.CustomEvent] = _NO_ENTRIES
        self.skill_list: ev.NaturalCallingSkillList | None = None
        self.hours_of_operation: ev.HoursOfOperation | None = None
        self.muted: bool | None = None
        self.signals: Mapping[str, int] = _NO_ENTRIES
        self.unknown_types: Mapping[str, int] = _NO_ENTRIES
        self.rooms: dict[str, str] = {}
        self.violations: list[Violation] = []
        self.position = 0
        """Index the next event (or unreadable input item) of this session will get."""
        self.events = 0
        """Events applied, unknown types included."""
        self.finished = False
        self._start_batch: Hashable | None = None
        self._last_ended_contact: tuple[str, int] | None = None
        self._source: Source | None = None
        self._index = 0
        self._out: list[Change] = []
        """The changes the event being applied made so far (see ``changes.py``); empty
        between events."""

    # --- feeding ----------------------------------------------------------------------

    def feed(
        self,
        event: ev.Event | Mapping[str, Any],
        *,
        source: Source | None = None,
        batch: Hashable | None = None,
        on_error: OnError = "report",
    ) -> tuple[Change, ...]:
        """Apply one event (typed, or a wire object the codec reads); the changes it made.

        ``batch`` identifies the get-next-event response (or input line) the event came
        in, which tells a join's replay apart from live events; ``source`` is quoted in
        violations. A wire object that cannot be decoded raises the package's
        :class:`~session_fsm.errors.InputError` (located at ``source``) in strict mode or
        with ``on_error="raise"``, before it takes an index; otherwise it is recorded as
        a violation at its index.

        Returns the changes in the order the handler made them (``changes.py``), or
        :data:`~session_fsm.engine.changes.NO_CHANGES` when the event changed nothing.
        """
        # The frequent types are read straight from the wire (see facts.py); anything
        # else, or a wire object that needs the codec's general path, is decoded.
        wire = event if type(event) is dict else None
        facts = None
        if wire is not None:
            found = _WIRE_READERS.get(wire.get("Type"))
            if found is not None:
                read, route = found
                facts = read(wire)
        if facts is None:
            typed = _ROUTES.get(type(event))
            if typed is None:  # a wire object, or not an event at all
                try:
                    event = decode(event)
                except InputError as error:
                    if self.strict or on_error == "raise":
                        raise (error.located(source) if source is not None else error) from None
                    return self.report_input_error(error, source)
                typed = _ROUTES[type(event)]
            route = typed
            facts = facts_of_event(event) if route.read is not None else event
        digest = None
        if route.repeats:  # the digest of what came: the wire object, if it was one
            digest = wire_digest(wire) if wire is not None else event_digest(event)

        out = self._out
        if out:  # what a strict-mode raise left half-made
            out.clear()
        self._take_index(source)
        # After a RemoteAgentSessionEnd the platform logs the agent out (AgentState,
        # AgentLeg...) until its AgentSessionEnd: only events after that one are late.
        if self.info.saw_end_event and route.cls not in END_EVENTS:
            name = facts.type if isinstance(facts, ev.UnknownEvent) else route.cls.TYPE
            self._violate(RuleName.EVENT_AFTER_END, f"{name} after the session ended "
                          f"({self.info.end_reason} at event {self.info.end_index})",
                          machine=SESSION.name, state=self.info.status, trigger=name)
        route.handle(self, facts, batch, digest)
        self.events += 1
        if not out:  # _taken(out), inlined: this is every event's way out
            return NO_CHANGES
        changes = tuple(out)
        out.clear()
        return changes

    def snapshot(self) -> Snapshot:
        """This session now, as a frozen value."""
        return snapshot_of(self)

    def report_input_error(self, error: InputError,
                           source: Source | None = None) -> tuple[Change, ...]:
        """Account for an input item that could not be read: it takes an index and a violation."""
        out = self._out
        if out:  # what a strict-mode raise left half-made
            out.clear()
        self._take_index(source or error.source)
        if isinstance(error, FieldError):
            rule = RuleName.BAD_FIELD
        elif isinstance(error, NotAnEventError):
            rule = RuleName.NOT_AN_EVENT
        else:
            rule = RuleName.NOT_JSON
        self._violate(rule, error.detail, strict=False)
        return _taken(out)

    def _take_index(self, source: Source | None) -> None:
        """The next index of this session goes to the item now applied, from ``source``."""
        self._index = self.position
        self._source = source
        if not self.position:  # kept for no-session-start, reported at index 0 at the end
            self.info.first_source = source
        self.position += 1

    def end(self, reason: str = "409", message: str | None = None) -> tuple[Change, ...]:
        """End the session from outside the stream (HTTP 409): the same end as AgentSessionEnd."""
        out = self._out
        if out:  # what a strict-mode raise left half-made
            out.clear()
        self._index = self.position
        self._source = None
        self._end(reason, message)
        return _taken(out)

    def finish(self) -> tuple[Change, ...]:
        """The input is over: run the checks that need the whole stream. Idempotent.

        Returns the violations those checks found (they point at earlier events)."""
        if self.finished:
            return NO_CHANGES
        out = self._out
        if out:  # what a strict-mode raise left half-made
            out.clear()
        self.finished = True
        # The end-of-stream checks point at an earlier event: its index *and* its source.
        if self.position and not self.info.saw_start:
            self._index, self._source = 0, self.info.first_source
            self._violate(RuleName.NO_SESSION_START, "the stream has no AgentSessionStart event",
                          strict=False)
        if self.info.remote_end_index is not None and not self.info.saw_end_event:
            self._index, self._source = self.info.remote_end_index, self.info.remote_end_source
            self._violate(RuleName.REMOTE_END_WITHOUT_END,
                          "RemoteAgentSessionEnd was never followed "
                          "by AgentSessionEnd or a 409", strict=False)
        self._check_contact_state_left()
        return _taken(out)

    def _own_list(self, name: str) -> list[Any]:
        """The session's own list ``name``, made on first write (see ``__init__``)."""
        found = getattr(self, name)
        if type(found) is not list:
            found = list(found)
            setattr(self, name, found)
        return found

    def _own_map(self, name: str) -> dict[str, Any]:
        """The session's own dict ``name``, made on first write (see ``__init__``)."""
        found = getattr(self, name)
        if type(found) is not dict:
            found = dict(found)
            setattr(self, name, found)
        return found

    # --- violations ---------------------------------------------------------------------

    def _violate(
        self,
        rule: RuleName,
        message: str,
        *,
        contact_id: str | None = None,
        machine: str = "session",
        state: str | None = None,
        trigger: str | None = None,
        strict: bool = True,
        change: bool = True,
    ) -> None:
        """Record a violation of ``rule`` at the current event; ``change=False`` keeps it
        out of the change stream (a redelivery changes nothing, see ``changes.py``)."""
        if rule in self.ignore:
            return
        severity = RULES[rule].severity
        if strict and self.strict and severity is Severity.ERROR:
            raise SequenceError(rule, message, machine=machine, subject=contact_id,
                                state=state, trigger=trigger, event_index=self._index,
                                session=self.key)
        violation = Violation(rule, severity, self.key, self._index, contact_id,
                              str(self._source) if self._source else None, message)
        self.violations.append(violation)
        if change:
            self._out.append(violation)

    def _moved(self, machine: str, subject: str | None, from_state: str, to_state: str,
               trigger: str, status: str | None, at: datetime | None, final: bool) -> None:
        """A row of ``machine``'s table fired for ``subject``: say so."""
        self._out.append(Transition(self.key, self._index, machine, subject, from_state,
                                    to_state, trigger, status, at, final))

    def _note(self, event_type: str, subject: str | None, value: Any) -> None:
        self._out.append(Noted(self.key, self._index, event_type, subject, value))

    def _in_join_batch(self, batch: Hashable | None) -> bool:
        if not self.info.saw_start:
            return True
        return batch is not None and batch == self._start_batch

    # --- session ------------------------------------------------------------------------

    def _on_session_start(self, event: ev.AgentSessionStart, batch: Hashable | None,
                          digest: int | None) -> None:
        info = self.info
        info.session_id = event.session_id or info.session_id
        info.agent_id = event.agent_id or info.agent_id
        info.bus_no = event.bus_no or info.bus_no
        dest = SESSION.next_state(info.status, START)
        if dest is not None:
            self._moved(SESSION.name, None, info.status, dest, START, None, None, False)
            info.status = dest
        info.saw_start = True
        self._start_batch = batch

    def _on_session_end(self, event: ev.AgentSessionEnd, batch: Hashable | None,
                        digest: int | None) -> None:
        self._end("AgentSessionEnd", event.message)

    def _on_remote_end(self, event: ev.RemoteAgentSessionEnd, batch: Hashable | None,
                       digest: int | None) -> None:
        if self.info.status != "ended":
            self.info.remote_end_index = self._index
            self.info.remote_end_source = self._source
        self._end("RemoteAgentSessionEnd", event.message)

    def _on_http_end(self, event: ev.HttpSessionEnded, batch: Hashable | None,
                     digest: int | None) -> None:
        # A recorded 409 (follow --record): the same end as end("409"), now at its index.
        self._end("409", None)

    def _end(self, reason: str, message: str | None) -> None:
        info = self.info
        if reason != "RemoteAgentSessionEnd":
            info.saw_end_event = True
        if message and not info.end_message:
            info.end_message = message
        dest = SESSION.next_state(info.status, reason)
        if dest is None:  # ended already: one end, whatever repeats it
            return
        self._moved(SESSION.name, None, info.status, dest, reason, None, None, True)
        info.status = dest
        info.end_reason = reason
        info.end_index = self._index
        for contact in self.contacts.values():
            self._violate(RuleName.CONTACTS_OPEN_AT_END, f"{contact.media} {contact.contact_id} is "
                          f"still open ({contact.status}) when the session ended",
                          contact_id=contact.contact_id)

    # --- agent state --------------------------------------------------------------------

    def _on_agent_state(self, event: StateFacts, batch: Hashable | None,
                        digest: int | None) -> None:
        agent = self.agent
        if digest is not None and digest == agent.last_digest:
            self._violate(RuleName.DUPLICATE_EVENT, "the same AgentState event twice in a row",
                          change=False)
            return
        trigger = AGENT_STATE.trigger_for(event.current_state)
        if len(event.next_states) > 2:
            self._violate(RuleName.TOO_MANY_NEXT_STATES, f"NextStates has {len(event.next_states)} "
                          "entries; the protocol has at most two (next, next-next)",
                          machine=AGENT_STATE.name, state=agent.state, trigger=trigger)
        dest = agent.state
        if trigger is None:
            self._violate(RuleName.UNKNOWN_STATUS, f"unknown agent state {event.current_state!r}",
                          machine=AGENT_STATE.name, state=agent.state)
        elif trigger != agent.state:
            found = AGENT_STATE.next_state(agent.state, trigger)
            if found is None:
                self._violate(RuleName.AGENT_STATE_TRANSITION, f"agent state {agent.state} -> "
                              f"{trigger} is not in the agent-state table",
                              machine=AGENT_STATE.name, state=agent.state, trigger=trigger)
            dest = found or trigger
        is_acw = bool(event.is_acw)
        if is_acw and dest != _STATE_UNAVAILABLE:
            self._violate(RuleName.ACW_OUTSIDE_UNAVAILABLE, f"IsAcw True with CurrentState "
                          f"{event.current_state!r}; ACW is an Unavailable state")
        agent.last_digest = digest
        # History keeps a string per step; the wire repeats a few spellings, each parsed
        # into a new string: interned, every step of one spelling shares one string.
        out_reason = intern(event.current_out_reason) if event.current_out_reason else ""
        state_changed = dest != agent.state
        if state_changed:
            self._check_contact_state_left()
            # _moved(), inlined on the hot path (as in _on_contact)
            self._out.append(Transition(self.key, self._index, _AGENT_STATE_MACHINE, None,
                                        agent.state, dest, trigger or dest,
                                        event.current_state, event.start_time, False))
            agent.state = dest
            agent.entered_index = self._index
            agent.entered_source = self._source
            agent.contact_seen = dest not in _CONTACT_STATES or self._has_contact_for(dest)
        elif event.next_states != agent.next_states:
            # a transition of its own, reflexive in the table: the state stays, the next
            # state is set or cleared
            change = NEXT_SET if event.next_states else NEXT_CLEARED
            if AGENT_STATE.next_state(agent.state, change) is not None:
                self._moved(AGENT_STATE.name, None, agent.state, agent.state, change,
                            event.current_state, event.start_time, False)
        agent.label = event.current_state or agent.label
        new_interval = state_changed or out_reason != agent.out_reason or \
            is_acw != agent.is_acw or agent.interval_index is None
        since = event.start_time if new_interval or agent.since is None else agent.since
        acw_contact = None
        if new_interval:
            acw_contact = self._new_interval(dest, out_reason, is_acw, since, event.acw_timeout)
        agent.out_reason = out_reason
        agent.since = since
        agent.next_states = event.next_states
        agent.acw_timeout_s = event.acw_timeout
        if is_acw and dest == _STATE_UNAVAILABLE:
            if agent.acw is None:
                # the interval just opened knows which contact this ACW follows
                agent.acw = AcwPeriod(acw_contact, since,
                                      event.acw_timeout, _deadline(since, event.acw_timeout),
                                      self._index)
            else:
                agent.acw.timeout_s = event.acw_timeout
                agent.acw.deadline = _deadline(agent.acw.started, event.acw_timeout)
        else:
            agent.acw = None
        agent.is_acw = is_acw

    def _new_interval(self, state: str, out_reason: str, is_acw: bool,
                      since: datetime | None, acw_timeout: int | None) -> str | None:
        """A new stretch of the agent timeline begins: say so, and which contact its ACW
        follows (returned too) when that is known already."""
        agent = self.agent
        acw_contact = agent.acw.contact_id if is_acw and agent.acw else None
        if is_acw and acw_contact is None:
            previous = agent.interval_index
            acw_contact = self._acw_contact(previous if previous is not None else 0)
        agent.interval_index = self._index
        deadline = _deadline(since, acw_timeout) if is_acw else None
        self._out.append(AgentStatus(self.key, self._index, state, out_reason, is_acw, since,
                                     acw_timeout, deadline))
        if acw_contact is not None:
            self._out.append(AcwLinked(self.key, self._index, acw_contact, since, deadline))
        return acw_contact

    def _acw_contact(self, since_index: int) -> str | None:
        """The contact an ACW period follows: the last one whose voice ended during the
        agent's previous state (from ``since_index`` on). An older one is not this ACW's
        (it had its own, or none); when the AgentState comes first, the contact that ends
        next is linked then (see ``_on_contact``)."""
        if self._last_ended_contact is None:
            return None
        contact_id, index = self._last_ended_contact
        return contact_id if index >= since_index else None

    def _has_contact_for(self, state: str) -> bool:
        return any(_matches_direction(state, c) for c in self.contacts.values())

    def _check_contact_state_left(self) -> None:
        agent = self.agent
        if agent.contact_seen:
            return
        agent.contact_seen = True
        index, self._index = self._index, agent.entered_index
        source, self._source = self._source, agent.entered_source
        self._violate(RuleName.CONTACT_STATE_WITHOUT_CONTACT,
                      f"the agent was {agent.state} with no "
                      "open contact of that direction")
        self._index, self._source = index, source

    # --- agent leg ----------------------------------------------------------------------

    def _on_agent_leg(self, event: LegFacts, batch: Hashable | None, digest: int | None) -> None:
        leg = self.leg
        if leg is not None and digest is not None and digest == leg.last_digest:
            self._violate(RuleName.DUPLICATE_EVENT, "the same AgentLeg event twice in a row",
                          change=False)
            return
        leg_id = event.agent_leg_id
        new_leg = leg is None
        if leg is not None and leg_id != leg.leg_id:
            if not leg.final:
                self._violate(RuleName.LEG_ID_CHANGED, f"AgentLegId changed from {leg.leg_id} to "
                              f"{leg_id} while leg {leg.leg_id} was {leg.status}")
            new_leg = True
        elif leg is not None and leg.final:
            self._violate(RuleName.LEG_AFTER_FINAL, f"agent leg {leg_id} {event.status} after its "
                          "final Disconnected", machine=AGENT_LEG.name, state=leg.state,
                          trigger=event.status)
            leg.last_digest = digest
            self._out.append(StatusAfterFinal(self.key, self._index, AGENT_LEG.name, leg_id,
                                              event.status or "", None,
                                              bool(event.final_state), None))
            return
        state = AGENT_LEG.initial if new_leg or leg is None else leg.state
        trigger = AGENT_LEG.trigger_for(event.status)
        dest = state
        if trigger is None:
            self._violate(RuleName.UNKNOWN_STATUS, f"unknown agent leg status {event.status!r}",
                          machine=AGENT_LEG.name, state=state)
        elif trigger != state:
            found = AGENT_LEG.next_state(state, trigger)
            if found is None:
                self._violate(RuleName.LEG_TRANSITION, f"agent leg {leg_id}: {state} -> {trigger} "
                              "is not in the leg table (Dialing -> Active -> Disconnected)",
                              machine=AGENT_LEG.name, state=state, trigger=trigger)
            dest = found or trigger
        if event.final_state and AGENT_LEG.next_state(dest, CLOSE) is None:
            self._violate(RuleName.LEG_TRANSITION, f"agent leg {leg_id}: FinalState True on "
                          f"{event.status}; only Disconnected ends the leg",
                          machine=AGENT_LEG.name, state=dest, trigger=CLOSE)
        if new_leg:
            if leg is not None:
                self._own_list("past_legs").append(leg)
            leg = self.leg = LegRecord(leg_id, AGENT_LEG.initial)
        assert leg is not None
        leg.last_digest = digest
        leg.status = intern(event.status) if event.status else leg.status
        final = bool(event.final_state)
        if dest != leg.state:
            self._moved(AGENT_LEG.name, leg_id, leg.state, dest, trigger or dest, leg.status,
                        None, False)
        if final:
            self._moved(AGENT_LEG.name, leg_id, dest, LegStatus.CLOSED.value, CLOSE, leg.status,
                        None, True)
        leg.state = LegStatus.CLOSED if final else dest
        leg.final = final

    # --- contacts -----------------------------------------------------------------------

    def _on_contact(self, event: ContactFacts, batch: Hashable | None, digest: int | None, *,
                    media: str) -> None:
        spec = CONTACT_MACHINES[media]
        contact_id = event.contact_id
        if not contact_id:
            self._violate(RuleName.BAD_FIELD, f"{_TYPE_OF_MEDIA[media]} without a ContactID")
            return
        contact = self.contacts.get(contact_id)
        known = contact if contact is not None else self.closed.get(contact_id)
        if known is not None and digest is not None and digest == known.last_digest:
            self._violate(RuleName.DUPLICATE_EVENT, f"the same {_TYPE_OF_MEDIA[media]} for "
                          f"{contact_id} twice in a row", contact_id=contact_id, change=False)
            return
        if contact is None and known is not None:  # closed, its record still here
            self._violate(RuleName.CONTACT_AFTER_FINAL,
                          f"{media} {contact_id} {event.status} after "
                          f"its FinalState True at event {known.final_index}",
                          contact_id=contact_id, machine=spec.name, state=known.state,
                          trigger=event.status)
            known.last_digest = digest
            self._after_final(spec, contact_id, event)
            return
        state = contact.state if contact else spec.initial
        trigger = spec.trigger_for(event.status)
        dest = state
        if trigger is None:
            self._violate(RuleName.UNKNOWN_STATUS, f"unknown {media} status {event.status!r}",
                          contact_id=contact_id, machine=spec.name, state=state)
        elif trigger != state:
            found = spec.next_state(state, trigger)
            if found is None:
                self._violate(RuleName.CONTACT_TRANSITION, f"{media} {contact_id}: {state} -> "
                              f"{trigger} is not in the {media} table", contact_id=contact_id,
                              machine=spec.name, state=state, trigger=trigger)
            elif contact is None and not spec.is_entry(trigger, event.call_type) \
                    and not self._in_join_batch(batch):
                self._violate(RuleName.CONTACT_JOINED_MID_LIFECYCLE, f"{media} {contact_id} first "
                              f"seen as {event.status} outside a join batch",
                              contact_id=contact_id)
            dest = found or trigger
        final = bool(event.final_state)
        if final and dest not in spec.closable:
            self._violate(RuleName.FINAL_ON_OPEN_STATUS,
                          f"{media} {contact_id}: FinalState True on "
                          f"{event.status}, which cannot end a {media}", contact_id=contact_id,
                          machine=spec.name, state=dest, trigger=CLOSE)
        changed = event.last_state_change_time
        if contact is not None and changed is not None and contact.last_change is not None \
                and changed < contact.last_change:
            self._violate(RuleName.TIME_WENT_BACKWARDS,
                          f"{media} {contact_id}: LastStateChangeTime "
                          f"{changed.isoformat()} is before {contact.last_change.isoformat()}",
                          contact_id=contact_id)
        if media == "call":
            self._check_link(event, contact_id)

        # -- checks done: apply --
        if contact is None:
            contact = ContactRecord(contact_id, media, spec.initial, "", self._index)
            self.contacts[contact_id] = contact
            before = None
        else:
            before = (contact.skill, contact.is_inbound, contact.call_type,
                      contact.disconnect_code, contact.payload)
        self._update_contact(contact, event, digest)
        details = (contact.skill, contact.is_inbound, contact.call_type,
                   contact.disconnect_code, contact.payload)
        if details != before:
            self._out.append(ContactDetails(self.key, self._index, contact_id, media, *details))
        at = changed or event.start_time
        if dest != contact.state:
            # _moved(), inlined: the hot path makes one of these for most contact events
            self._out.append(Transition(self.key, self._index, spec.name, contact_id,
                                        contact.state, dest, trigger or dest, contact.status,
                                        at, False))
            if dest in spec.closable:
                self._last_ended_contact = (contact_id, self._index)  # the voice ended
        contact.state = dest
        if final:
            self._last_ended_contact = (contact_id, self._index)  # the contact ended
            self._moved(spec.name, contact_id, dest, spec.closed_state, CLOSE, contact.status,
                        at, True)
            self._close(contact, spec)
        if event.messages:  # a chat's: after its status, as the transcript follows it
            self._add_transcript(contact, [
                TranscriptLine(message.party_type, message.text, message.time_stamp)
                for message in event.messages])
        if media == "supervisor":
            self.monitor_contact_id = None if final else contact_id
        agent = self.agent
        if not agent.contact_seen and not final and _matches_direction(agent.state, contact):
            agent.contact_seen = True
        acw = agent.acw
        if acw is not None and acw.contact_id is None and (contact.in_acw or final):
            acw.contact_id = contact_id
            self._out.append(AcwLinked(self.key, self._index, contact_id, acw.started,
                                       acw.deadline))

    def _after_final(self, spec: ContactSpec, contact_id: str, event: ContactFacts) -> None:
        self._out.append(StatusAfterFinal(
            self.key, self._index, spec.name, contact_id, event.status or "",
            event.last_state_change_time, bool(event.final_state), event.disconnect_code))

    def _update_contact(self, contact: ContactRecord, event: ContactFacts,
                        digest: int | None) -> None:
        contact.last_digest = digest
        # interned: each step keeps the status and the disconnect code (see _on_agent_state)
        contact.status = intern(event.status) if event.status else contact.status
        # interned too: a few skills and call types recur on every contact a record keeps
        skill = event.skill or event.skill_id
        if skill:
            contact.skill = intern(skill)
        contact.started = event.start_time or contact.started
        contact.last_change = event.last_state_change_time or contact.last_change
        if event.is_inbound is not None:
            contact.is_inbound = event.is_inbound
        if event.call_type:
            contact.call_type = intern(event.call_type)
        media = contact.media
        if media == "call" and event.is_linked is not None:
            contact.is_linked = event.is_linked
        if event.disconnect_code:
            contact.disconnect_code = intern(event.disconnect_code)
        if media == "chat":
            if event.room_id:
                contact.room_id = event.room_id
                self.rooms[event.room_id] = contact.contact_id
        elif media == "work_item":
            contact.payload = {
                "work_item_id": event.work_item_id,
                "work_item_type": event.work_item_type,
                "payload": event.work_item_payload,
            }
        elif media == "voicemail" and event.file_name:
            contact.payload = {"file_name": event.file_name}

    def _add_transcript(self, contact: ContactRecord, lines: Iterable[TranscriptLine]) -> bool:
        """Append the lines the transcript does not have yet; whether any was new.

        Each ChatContactEvent's Messages repeat the transcript so far: one set of what is
        there per call keeps a long chat linear, not a scan of the transcript per line.
        """
        transcript = contact.transcript
        if transcript is None:
            transcript = contact.transcript = []
        seen = set(transcript)
        added = False
        for line in lines:
            if line not in seen:
                seen.add(line)
                transcript.append(line)
                self._out.append(TranscriptAdded(self.key, self._index, contact.contact_id,
                                                 line.party, line.text, line.at))
                added = True
        return added

    def _close(self, contact: ContactRecord, spec: ContactSpec) -> None:
        contact.final = True
        contact.final_index = self._index
        contact.state = spec.closed_state
        del self.contacts[contact.contact_id]
        self.closed[contact.contact_id] = contact
        if self.linked_contact_id == contact.contact_id:
            self._link(None)

    def _link(self, contact_id: str | None) -> None:
        """The agent's voice path now links ``contact_id`` (None: no call)."""
        self._out.append(LinkMoved(self.key, self._index, self.linked_contact_id, contact_id))
        self.linked_contact_id = contact_id

    def _check_link(self, event: ContactFacts, contact_id: str) -> None:
        linked = self.linked_contact_id
        if event.is_linked:
            if linked is not None and linked != contact_id and linked in self.contacts:
                self._violate(RuleName.TWO_LINKED_CALLS,
                              f"call {contact_id} IsLinked True while call "
                              f"{linked} is still linked", contact_id=contact_id)
                self.contacts[linked].is_linked = False
            if not event.final_state and linked != contact_id:
                self._link(contact_id)
        elif linked == contact_id and event.is_linked is False:
            self._link(None)

    # --- everything else ----------------------------------------------------------------

    def _on_chat_text(self, event: ChatTextFacts, batch: Hashable | None,
                      digest: int | None) -> None:
        contact_id = self.rooms.get(event.room_id or "")
        contact = self.contacts.get(contact_id or "") or self.closed.get(contact_id or "")
        line = TranscriptLine(event.party_type, event.message, event.time_stamp)
        if contact is None:
            # ChatText before its ChatContactEvent: keep it under the room until one claims it
            contact = self._orphan_room(event.room_id or "")
        if not self._add_transcript(contact, (line,)):
            self._violate(RuleName.DUPLICATE_EVENT,
                          f"the same ChatText for room {event.room_id} twice",
                          contact_id=contact.contact_id, change=False)

    def _orphan_room(self, room_id: str) -> ContactRecord:
        contact_id = f"room:{room_id}"
        self.rooms.setdefault(room_id, contact_id)
        contact = self.closed.get(contact_id)
        if contact is None:
            contact = ContactRecord(contact_id, "chat", "Closed", "", self._index, final=True)
            self.closed[contact_id] = contact
        return contact

    def _on_agent_error(self, event: ev.AgentError, batch: Hashable | None,
                        digest: int | None) -> None:
        target = self.contacts.get(event.contact_id or "")
        if target is not None:
            target.errors = [*(target.errors or []), event]
        elif (event.target or "").lower() == "agentleg" and self.leg is not None:
            self.leg.errors = [*(self.leg.errors or []), event]
        else:
            self._own_list("session_errors").append(event)
        self._note(event.TYPE, event.contact_id, event)

    def _on_supervisor_monitor(self, event: ev.SupervisorMonitor, batch: Hashable | None,
                               digest: int | None) -> None:
        stop = event.final_state or (event.monitor_type or "").lower() == "stopmonitor"
        self.monitoring = None if stop else event
        self._note(event.TYPE, event.target_agent_id, event)

    def _on_take_over(self, event: ev.TakeOver, batch: Hashable | None, digest: int | None) -> None:
        self.take_over = event
        self._note(event.TYPE, None, event)

    def _on_indicator(self, event: ev.Indicator, batch: Hashable | None,
                      digest: int | None) -> None:
        self._own_map("indicators")[event.name or ""] = event
        self._note(event.TYPE, event.name, event)

    def _on_page_open(self, event: ev.PageOpen, batch: Hashable | None, digest: int | None) -> None:
        self._own_map("page_opens")[event.contact_id or ""] = event
        self._note(event.TYPE, event.contact_id, event)

    def _on_pop_url(self, event: ev.PopURL, batch: Hashable | None, digest: int | None) -> None:
        self._own_map("pop_urls")[event.contact_id or ""] = event
        self._note(event.TYPE, event.contact_id, event)

    def _on_custom(self, event: ev.CustomEvent, batch: Hashable | None, digest: int | None) -> None:
        self._own_map("custom_events")[event.event_name or ""] = event
        self._note(event.TYPE, event.event_name, event)

    def _on_skill_list(self, event: ev.NaturalCallingSkillList, batch: Hashable | None,
                       digest: int | None) -> None:
        self.skill_list = event
        self._note(event.TYPE, None, event)

    def _on_hours(self, event: ev.HoursOfOperation, batch: Hashable | None,
                  digest: int | None) -> None:
        self.hours_of_operation = event
        self._note(event.TYPE, None, event)

    def _on_mute(self, event: MuteFacts, batch: Hashable | None, digest: int | None) -> None:
        self.muted = event.agent_muted
        self._note(ev.Mute.TYPE, None, event.agent_muted)

    def _on_signal(self, event: Any, batch: Hashable | None, digest: int | None, *,
                   name: str) -> None:
        self._own_map("signals")[name] = self.signals.get(name, 0) + 1
        self._note(name, None, None)

    def _on_unknown(self, event: ev.UnknownEvent, batch: Hashable | None,
                    digest: int | None) -> None:
        self._own_map("unknown_types")[event.type] = self.unknown_types.get(event.type, 0) + 1
        self._note(event.type, None, event)
        self._violate(RuleName.UNKNOWN_EVENT_TYPE, f"unknown event Type {event.type!r} (kept, not "
                      "interpreted)")


def _taken(out: list[Change]) -> tuple[Change, ...]:
    """The changes ``out`` gathered, leaving it empty: a live session keeps no change (and
    reuses its one list) between events."""
    if not out:
        return NO_CHANGES
    changes = tuple(out)
    out.clear()
    return changes


def _deadline(start: datetime | None, timeout_s: int | None) -> datetime | None:
    if start is None or not timeout_s:
        return None
    try:
        return start + timedelta(seconds=timeout_s)
    except OverflowError:  # past the year 9999: a deadline no clock reaches
        return None


def _matches_direction(state: str, contact: ContactRecord) -> bool:
    """Whether an open contact explains the agent being in a contact state."""
    if contact.final or contact.media == "supervisor":
        return False
    if state in _CONSULT_STATES:
        return contact.media == "call"
    inbound = contact.is_inbound
    if inbound is None:  # only calls and digital carry IsInbound; the rest are inbound
        inbound = contact.media not in ("call", "digital")
    if state in _INBOUND_STATES:
        return inbound or contact.media != "call"
    if state in _OUTBOUND_STATES:
        return not inbound or contact.media == "digital"
    return True


class _Route(NamedTuple):
    """How the engine takes one event type."""

    cls: type[Any]
    handle: Callable[[AgentSession, Any, Hashable | None, Any], None]
    read: Callable[[Mapping[str, Any]], Any] | None
    """Its facts straight from a wire object (None: the handler takes the typed event)."""
    repeats: bool
    """Whether a redelivery is told apart (its digest is computed)."""


def _route(cls: type[Any], handle: Callable[..., None], *, repeats: bool = False) -> _Route:
    return _Route(cls, handle, wire_reader(cls) if cls in FACTS_OF else None, repeats)


_TYPE_OF_MEDIA = {media: cls.TYPE for cls, media in ev.MEDIA_OF.items()}
_ROUTES: dict[type[Any], _Route] = {route.cls: route for route in (
    _route(ev.AgentSessionStart, AgentSession._on_session_start),
    _route(ev.AgentSessionEnd, AgentSession._on_session_end),
    _route(ev.RemoteAgentSessionEnd, AgentSession._on_remote_end),
    _route(ev.HttpSessionEnded, AgentSession._on_http_end),
    _route(ev.AgentState, AgentSession._on_agent_state, repeats=True),
    _route(ev.AgentLeg, AgentSession._on_agent_leg, repeats=True),
    _route(ev.AgentError, AgentSession._on_agent_error),
    _route(ev.NaturalCallingSkillList, AgentSession._on_skill_list),
    _route(ev.ChatText, AgentSession._on_chat_text),
    _route(ev.Indicator, AgentSession._on_indicator),
    _route(ev.PageOpen, AgentSession._on_page_open),
    _route(ev.PopURL, AgentSession._on_pop_url),
    _route(ev.Mute, AgentSession._on_mute),
    _route(ev.TakeOver, AgentSession._on_take_over),
    _route(ev.SupervisorMonitor, AgentSession._on_supervisor_monitor),
    _route(ev.CustomEvent, AgentSession._on_custom),
    _route(ev.HoursOfOperation, AgentSession._on_hours),
    _route(ev.UnknownEvent, AgentSession._on_unknown),
    *(_route(cls, partial(AgentSession._on_contact, media=media), repeats=True)
      for cls, media in ev.MEDIA_OF.items()),
    *(_route(cls, partial(AgentSession._on_signal, name=cls.TYPE)) for cls in ev.SIGNAL_EVENTS),
)}
_WIRE_READERS: dict[Any, tuple[Callable[[Mapping[str, Any]], Any], _Route]] = {
    cls.TYPE: (route.read, route) for cls, route in _ROUTES.items() if route.read is not None
}
"""Facts readers and routes by the wire's ``Type`` as documented, for the types read
straight from the wire."""


class SessionEngine:
    """Many sessions, keyed by the reader's session key; one :class:`AgentSession` each.

    Every method that applies something returns the changes it made (``changes.py``) and
    hands each, in order, to every subscriber (:meth:`subscribe`).
    """

    def __init__(self, *, strict: bool = False, ignore: Iterable[str] = ()) -> None:
        self.strict = strict
        self.ignore = frozenset(ignore)
        self.sessions: dict[str, AgentSession] = {}
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(change)`` for every change from now on, in order; returns a
        callable that unsubscribes (calling it twice is harmless).

        A subscriber that raises has its exception logged (logger ``session_fsm.engine.session``,
        with the traceback) and stays subscribed: the change is already applied, the
        other subscribers still get it, and ``feed()`` returns as usual.
        """
        subscribers = self._subscribers

        def unsubscribe() -> None:
            if callback in subscribers:
                subscribers.remove(callback)

        subscribers.append(callback)
        return unsubscribe

    def _publish(self, changes: tuple[Change, ...]) -> tuple[Change, ...]:
        # copied once per event, not per change: a subscriber may unsubscribe while called
        # (it then still gets the rest of this event's changes)
        callbacks = tuple(self._subscribers)
        for change in changes:
            for callback in callbacks:
                try:
                    callback(change)
                except Exception:
                    log.exception("a change subscriber raised on %r; the engine goes on",
                                  change)
        return changes

    def session(self, key: str) -> AgentSession:
        """The session for ``key``, created on first use."""
        found = self.sessions.get(key)
        if found is None:
            found = self.sessions[key] = AgentSession(key, strict=self.strict, ignore=self.ignore)
        return found

    def feed(
        self,
        event: ev.Event | Mapping[str, Any],
        *,
        key: str = "-",
        source: Source | None = None,
        batch: Hashable | None = None,
        on_error: OnError = "report",
    ) -> tuple[Change, ...]:
        """Apply one event to the session ``key`` (see :meth:`AgentSession.feed`); the
        changes it made.

        A session is created by its first event; one whose first event raises (a bad
        wire object with ``on_error="raise"``, a forbidden transition in strict mode)
        is not created, as nothing was applied.
        """
        session = self.sessions.get(key)
        new = session is None
        if session is None:
            session = AgentSession(key, strict=self.strict, ignore=self.ignore)
        changes = session.feed(event, source=source, batch=batch, on_error=on_error)
        if new:  # only once its first event applied (it raised otherwise)
            self.sessions[key] = session
        return self._publish(changes) if self._subscribers else changes

    def report_input_error(self, key: str, error: InputError,
                           source: Source | None = None) -> tuple[Change, ...]:
        """Account for an unreadable input item of session ``key``."""
        return self._publish(self.session(key).report_input_error(error, source))

    def end(self, key: str, reason: str = "409", message: str | None = None) -> tuple[Change, ...]:
        """End session ``key`` from outside the stream (HTTP 409)."""
        return self._publish(self.session(key).end(reason, message))

    def finish(self) -> tuple[Change, ...]:
        """The input is over: run every session's whole-stream checks; what they found."""
        found: list[Change] = []
        for session in self.sessions.values():
            found.extend(session.finish())
        return self._publish(tuple(found)) if found else NO_CHANGES

    def snapshot(self, key: str | None = None) -> tuple[Snapshot, ...]:
        """Frozen snapshots of every session (or of session ``key``), in first-seen order."""
        chosen = self.sessions.values() if key is None else [self.session(key)]
        return tuple(snapshot_of(s) for s in chosen)

    def violations(self) -> Iterator[Violation]:
        """Every violation of every session, session by session, in event order."""
        for session in self.sessions.values():
            yield from sorted(session.violations, key=lambda v: v.event_index)

