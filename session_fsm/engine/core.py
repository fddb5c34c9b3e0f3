"""The state of one agent session that every handler reads and writes, and the helpers
they share: indexes, violations, changes. The handlers live by concern (``agent.py``:
agent state and leg; ``contacts.py``: contacts and chat text; ``session.py``: the
session's own lifecycle and everything else, and feeding), all on one
:class:`~session_fsm.engine.session.AgentSession`.
"""

from __future__ import annotations

from array import array
from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

from ..errors import SequenceError, Source, same_batch
from ..machines.agent_state import AGENT_STATE, AgentStateName
from ..machines.contacts import CONTACT_MACHINES
from ..wire import events as ev
from .changes import (
    Change,
    Noted,
    Transition,
)
from .records import (
    AgentRecord,
    ContactRecord,
    LegRecord,
    SessionInfo,
)
from .rules import RULES, RuleName, Severity, Violation

_INBOUND_STATES = frozenset({AgentStateName.INBOUND_CONTACT})
_OUTBOUND_STATES = frozenset({AgentStateName.OUTBOUND_CONTACT})
_CONSULT_STATES = frozenset({AgentStateName.INBOUND_CONSULT, AgentStateName.OUTBOUND_CONSULT})

RECENT = 16
"""How many agent, leg and contact events a session remembers to tell a redelivery that is
not the last event of its subject (a response delivered again comes soon after)."""

CLOSED_KEPT = 32
"""How many closed contacts a session keeps, the latest closed, for the after-final and
redelivery checks (a status after FinalState, a close delivered again: they come minutes
after, not dozens of contacts later). Without a bound a followed agent's session grew by
a record per contact for as long as it lived; an event of a contact closed longer ago is
taken as a contact first seen. Their history is the change stream's, not these records'."""

_new = tuple.__new__
"""Builds a change (a NamedTuple) from a tuple of all its fields, in order: one C call
where ``Transition(...)`` runs the generated ``__new__`` in Python, on the paths every
event takes. The field count is the caller's to keep (test_changes checks each kind)."""

_NO_ENTRIES: Mapping[str, Any] = MappingProxyType({})


class SessionCore:
    """An agent session's records, counters and the helpers every handler uses."""

    # Slots: with tens of thousands of live sessions, a per-instance __dict__ (CPython
    # stops sharing dict keys past 29 attributes) costs ~1.3 KB each.
    __slots__ = (  # noqa: RUF023 - grouped as __init__ assigns them
        "key", "strict", "ignore", "info", "agent", "leg", "contacts", "closed",
        "linked_contact_id", "monitoring", "monitor_contact_id", "take_over",
        "past_legs", "session_errors", "indicators",
        "page_opens", "pop_urls", "custom_events", "skill_list", "hours_of_operation",
        "muted", "signals", "unknown_types", "rooms", "violations", "position", "events",
        "finished", "_start_batch", "_last_ended_contact", "_source", "_index", "_out",
        "_recent", "_recent_at", "_batch", "_batch_digests", "_previous_batch", "_repeating",
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
        """The last contact closed at once (FinalState True on the status that ended its
        voice, no ACW phase before it) and the index of that event: the contact an ACW
        that follows may belong to (``_acw_contact``)."""
        self._source: Source | None = None
        self._index = 0
        self._out: list[Change] = []
        """The changes the event being applied made so far (see ``changes.py``); empty
        between events."""
        # Redelivery memory, bounded per session (kept up to date by AgentSession.feed,
        # read by _repeats_recent and feed): the digests of the last RECENT agent, leg and
        # contact events applied (a ring, packed: 8 bytes each, made on first use), and of
        # the events of the batch being fed and of the one before it.
        self._recent: array[int] | None = None
        self._recent_at = 0
        self._batch: Hashable | None = None
        self._batch_digests: list[int | None] = []
        self._previous_batch: list[int | None] = []
        self._repeating = False

    # --- redelivery ---------------------------------------------------------------------

    def _keep_closed(self) -> None:
        """Forget the closed contacts closed earliest, past :data:`CLOSED_KEPT`."""
        closed = self.closed
        while len(closed) > CLOSED_KEPT:
            del closed[next(iter(closed))]

    def _repeats_recent(self, digest: int | None) -> bool:
        """Whether ``digest`` is one of the last :data:`RECENT` agent, leg or contact
        events applied. A digest covers the whole event (its ContactID, AgentLegId...), so
        a match is the same subject's. Digests are never 0 (Adler-32 is not), the ring's
        empty value."""
        return digest is not None and self._recent is not None and digest in self._recent

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
        self._out.append(_new(Transition, (self.key, self._index, machine, subject, from_state,
                                           to_state, trigger, status, at, final)))

    def _note(self, event_type: str, subject: str | None, value: Any) -> None:
        self._out.append(_new(Noted, (self.key, self._index, event_type, subject, value)))

    def _in_join_batch(self, batch: Hashable | None) -> bool:
        if not self.info.saw_start:
            return True
        start = self._start_batch
        if type(batch) is Source and type(start) is Source:
            return same_batch(batch, start)
        return batch is not None and batch == start

    def _acw_contact(self, since_index: int, ended: str | None = None) -> str | None:
        """The contact an agent ACW that begins now belongs to (None: none, or not yet).

        The contact in after-call work is the one still open in its ACW phase: its voice
        ended with FinalState False (seed, CallContactEvent ``FinalState``). Of those whose
        phase began during the agent's previous state (from ``since_index`` on: an older
        one had its own ACW, or none), the last one owns it. Only when there is none, and
        no open contact is still connected (it may go into its ACW phase next, and is
        linked then: ``_on_contact``), does a contact *closed at once* in that state (the
        other documented path, stream-facts) own it; ``ended`` is the contact of the ACW
        that just ended, which this one does not follow. A closed contact never takes an
        ACW from an open one.
        """
        found: str | None = None
        latest = since_index - 1
        for contact in self.contacts.values():
            began = contact.acw_phase_index
            if began is not None and began > latest:
                found, latest = contact.contact_id, began
        if found is not None:
            return found
        if self._last_ended_contact is None or self._connected():
            return None
        contact_id, index = self._last_ended_contact
        return contact_id if index >= since_index and contact_id != ended else None

    def _connected(self) -> bool:
        """Whether an open contact is in the agent's hands (``ContactSpec.connected``): it
        may still go into its ACW phase."""
        return any(c.state in CONTACT_MACHINES[c.media].connected for c in self.contacts.values())

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

