"""One row per contact, with the figures a contact center reports on, folded from the change stream.

This is the view behind replay's ``contacts`` table and the store's ``contacts`` columns:
both hand each contact's :class:`~session_fsm.views.history.ContactHistory` (the history
fold's, so every duration is counted exactly as ``session-fsm history`` counts it) to
:func:`contact_values`, which adds what a report needs on top of it:

- ``answered``: the first ``Active`` step's server time; ``talk_s`` the time in
  ``Active`` and ``Joined`` (a conference is talk too); ring, hold, ACW and handle time
  are the history's own (``ring_s``, ``hold_s``, ``acw_s``, ``handle_time_s``).
- ``outcome``, for a closed contact, in this order: ``handled`` (it was answered: it
  reached ``Active``, or it had after-call work, which follows a conversation: a contact
  first seen in its ACW phase, by a join); ``abandoned`` (never answered, disconnect
  code ``CallAbandoned``: the caller hung up, or for a dialer call the customer answered
  and no agent was free); an outbound call never answered is ``no_answer``, ``busy``,
  ``machine`` (``AnsweringMachine``), ``bad_number`` or ``fax`` by its disconnect code,
  else ``failed``; an inbound contact never answered is ``refused`` when the agent was in the
  ``Refused`` state when it closed, or went into it next (the platform's word for an
  offer the agent did not accept within its ``RefusalTimeout``), else ``missed``; but
  ``unknown`` when it was first seen past the statuses a contact starts with (a join's
  replay: what happened before is not in the stream). An open contact's outcome is
  ``open``. A contact is outbound when the wire says ``IsInbound False`` (consults and
  dialer calls too); every other contact (inbound calls, and work items, chats,
  voicemails, which carry no direction) is inbound.

:class:`ContactsFold` settles contacts as the history store does
(:meth:`~session_fsm.views.history.HistoryFold.take_updates`): a closed contact is final
once the agent is in a state that began after its close and is not an ACW for it, so
its row is made once, when nothing can change it; whatever is open when the input ends
is made as it stands (:meth:`ContactsFold.close`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

from ..engine.changes import AcwLinked, AgentStatus, Change, ContactDetails, Transition
from ..machines.contacts import CONTACT_MACHINES
from .history import (
    AgentInterval,
    ContactHistory,
    ContactLog,
    HistoryFold,
    SessionLog,
    agent_acw_s,
    contact_history,
    settled,  # history's own rule for "nothing can change it now", not a second one
)

__all__ = [
    "CONTACT_COLUMNS",
    "OUTBOUND_OUTCOMES",
    "OUTCOMES",
    "ContactsFold",
    "answered_at",
    "contact_values",
    "outcome_of",
    "refused_by_agent",
]

OUTBOUND_OUTCOMES: Final[dict[str, str]] = {
    "noanswer": "no_answer",
    "busy": "busy",
    "answeringmachine": "machine",
    "badnumber": "bad_number",
    "fax": "fax",
}
"""An unanswered outbound call's outcome by its disconnect code (lower case)."""

OUTCOMES: Final = ("handled", "abandoned", "missed", "refused", "no_answer", "busy",
                   "machine", "bad_number", "fax", "failed", "unknown", "open")
"""Every value of ``outcome``."""

CONTACT_COLUMNS: Final = (
    "contact_id", "event_index", "media", "skill", "call_type", "is_inbound", "status",
    "started", "answered", "ended", "ring_s", "talk_s", "hold_s", "acw_s", "handle_time_s",
    "disconnect_code", "outcome", "closed",
)
"""What :func:`contact_values` gives, in this order (the tables put ``session`` and
``agent_id`` before them)."""

_REFUSED: Final = "refused"
_KEPT: Final = (Transition, AgentStatus, AcwLinked, ContactDetails)
"""The changes a contact's row depends on (transcript lines are in no row)."""


def answered_at(contact: ContactHistory) -> datetime | None:
    """The first ``Active`` step's server time: when the agent answered (None: never,
    or that step carried no time)."""
    step = contact.answered_step
    return step.at if step is not None else None


def refused_by_agent(contact: ContactLog, timeline: Sequence[AgentInterval]) -> bool:
    """Whether the agent was ``Refused`` when the closed ``contact`` closed (a state
    begun since the contact was first seen) or went into ``Refused`` next."""
    final = next((s for s in contact.steps if s.final), None)
    if final is None:
        return False
    at_close: AgentInterval | None = None
    after: AgentInterval | None = None
    for interval in timeline:
        if interval.event_index <= final.event_index:
            if interval.event_index >= contact.first_index:
                at_close = interval
        else:
            after = interval
            break
    return any(i is not None and i.state.lower() == _REFUSED for i in (at_close, after))


def _seen_from_start(contact: ContactHistory) -> bool:
    """Whether the contact's first step is one a lifecycle starts with: a contact first
    seen in a later status (a join's replay) began before the stream showed it."""
    spec = CONTACT_MACHINES.get(contact.media)
    if spec is None or not contact.steps:
        return False
    first = contact.steps[0].status
    return spec.is_entry(spec.trigger_for(first) or first, contact.call_type)


def outcome_of(contact: ContactHistory, *, answered: bool, refused: bool) -> str:
    """The contact's ``outcome`` (see the module docstring)."""
    if not contact.closed:
        return "open"
    if answered or contact.acw_s is not None:  # after-call work follows a conversation
        return "handled"
    code = (contact.disconnect_code or "").lower()
    if code == "callabandoned":
        return "abandoned"
    if contact.is_inbound is False:
        return OUTBOUND_OUTCOMES.get(code, "failed")
    if not _seen_from_start(contact):
        return "unknown"
    return "refused" if refused else "missed"


def contact_values(contact: ContactHistory, *, refused: bool = False) -> tuple[Any, ...]:
    """The :data:`CONTACT_COLUMNS` of one contact, in order (times as datetimes)."""
    first = contact.answered_step
    answered = first.at if first is not None else None
    reached = first is not None
    talk = contact.talk_s
    return (
        contact.contact_id, contact.first_index, contact.media, contact.skill,
        contact.call_type, contact.is_inbound, contact.status, contact.started, answered,
        contact.ended if contact.closed else None, contact.ring_s, talk, contact.hold_s,
        contact.acw_s, contact.handle_time_s, contact.disconnect_code,
        outcome_of(contact, answered=reached, refused=refused), contact.closed,
    )


class ContactsFold:
    """One session's contacts folded from its changes into rows, each made once.

    ``log`` is the fold's state (a :class:`~session_fsm.views.history.SessionLog`: the
    contacts not yet made into rows, with all their steps, and the agent intervals they
    still need), so a caller can carry it across runs
    (:func:`~session_fsm.io.checkpoint.dump_history`).
    """

    __slots__ = ("_fold", "log", "rows")

    def __init__(self, log: SessionLog) -> None:
        self.log = log
        self._fold = HistoryFold()
        self._fold.sessions[log.key] = log
        self.rows: list[tuple[Any, ...]] = []
        """The rows made so far (:data:`CONTACT_COLUMNS`), for the caller to take."""

    def apply(self, changes: Iterable[Change]) -> None:
        """Fold one call's changes; contacts that became final are made into rows."""
        settle = False
        for change in changes:
            if isinstance(change, _KEPT):
                self._fold.apply(change)
                settle = settle or type(change) is AgentStatus
        if settle:  # only a new agent interval can settle a closed contact
            self._settle()

    def _settle(self) -> None:
        log = self.log
        timeline = log.timeline
        last = timeline[-1] if timeline else None
        done = [c for c in log.contacts.values() if settled(c, last)]
        if done:
            self._make(done)
        kept = log.contacts
        log.timeline = [i for i in timeline[:-1] if i.acw_contact_id in kept] + timeline[-1:]
        log.touched.clear()  # the history fold's marks: nobody takes them here

    def _make(self, contacts: Iterable[ContactLog]) -> None:
        log = self.log
        acw = agent_acw_s(log.timeline)
        for contact in contacts:
            history = contact_history(contact, agent_acw=acw)
            self.rows.append(contact_values(
                history, refused=refused_by_agent(contact, log.timeline)))
            del log.contacts[contact.contact_id]

    def close(self) -> None:
        """The input is over: every contact still held is made as it stands."""
        self._make(sorted(self.log.contacts.values(), key=lambda c: c.first_index))
        self.log.timeline.clear()
        self.log.touched.clear()
