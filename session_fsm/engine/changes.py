"""What the engine says happened: the typed changes ``feed()`` returns.

Theory of operation (h2's ``receive_data()`` is the model). Each event fed to the engine
returns a tuple of changes, in the order its handler made them; an event that changed
nothing (a redelivery, a repeated status) returns the one shared empty tuple
:data:`NO_CHANGES`. Every change carries the session key and the 0-based index of the
event that caused it. A redelivery is still reported to validation (the session's
``duplicate-event`` warning) but is no change: the stream stays the same however often
the platform delivers an event. Consumers (history, validation, the store, replay, ``follow``, the
service, user code) read this one stream instead of diffing snapshots.

The kinds:

- :class:`Transition`: a row of a machine table fired: the agent state (and its next
  state set or cleared, reflexive rows of that table), the agent leg, a contact, or the
  session's own lifecycle. ``from_state``/``to_state`` are the table's state names,
  ``status`` the wire's spelling. The engine follows the platform, so a move the table
  lacks is still a transition, after the violation that reports it.
- :class:`~session_fsm.engine.rules.Violation`: a deviation from the protocol (see ``rules.py``).
- What is not a table row but users watch for: :class:`AgentStatus` (a new stretch of
  the agent timeline: state, out reason, ACW), :class:`ContactDetails` (media, skill,
  direction, disconnect code...), :class:`AcwLinked`, :class:`LinkMoved`,
  :class:`TranscriptLine` added to a chat, :class:`StatusAfterFinal` (recorded, not
  applied) and :class:`Noted` (indicators, page opens, pop URLs, custom events, signals...).

Change values are ``NamedTuple`` classes: frozen, slotted and typed, and built in about
0.4 us where a frozen attrs class takes 1.3 us (measured on this machine, ten fields);
the engine makes one or more per event. Tuples compare by position, so compare a change
with one of its own class (tests do, through :func:`as_json` or by class).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple, TypeAlias

from ..machines.agent_state import NEXT_CLEARED, NEXT_SET
from ..machines.contacts import CONTACT_MACHINES
from ..wire.codec import format_optional_time as _time
from .rules import Violation

__all__ = [
    "NO_CHANGES",
    "AcwLinked",
    "AgentStatus",
    "Change",
    "ContactDetails",
    "LinkMoved",
    "Noted",
    "StatusAfterFinal",
    "Subscriber",
    "TranscriptAdded",
    "Transition",
    "Violation",
    "as_json",
]

_CONTACT_MACHINE_NAMES = frozenset(spec.name for spec in CONTACT_MACHINES.values())
_VOICE_ENDS = frozenset((spec.name, state) for spec in CONTACT_MACHINES.values()
                        for state in spec.closable)


class Transition(NamedTuple):
    """A row of a machine table fired (see ``machines/``)."""

    session: str
    event_index: int
    machine: str
    """The table: ``agent_state``, ``agent_leg``, ``session``, ``contact_call``..."""
    subject: str | None
    """The contact id (contact machines), the AgentLegId (agent leg), else None."""
    from_state: str
    to_state: str
    trigger: str
    status: str | None
    """The wire's own spelling (``CurrentState``, ``Status``); None for the session."""
    at: datetime | None
    """The server time the new status began, when the event says (None otherwise)."""
    final: bool
    """The subject's lifecycle is over (FinalState True, or the session ended)."""

    @property
    def on_contact(self) -> bool:
        """A contact's machine moved."""
        return self.machine in _CONTACT_MACHINE_NAMES

    @property
    def contact_ended(self) -> bool:
        """A contact is over (FinalState True): it leaves the open contacts."""
        return self.final and self.machine in _CONTACT_MACHINE_NAMES

    @property
    def voice_ended(self) -> bool:
        """A contact's voice path (or media) ended: it moved into Disconnected or the like.
        Fires once; with FinalState False the contact goes on in its ACW phase, and its
        close is :attr:`contact_ended` (a direct FinalState True makes both, in order)."""
        return (self.machine, self.to_state) in _VOICE_ENDS

    @property
    def next_state_set(self) -> bool:
        """The agent's next (or next-next) state was set; the current state stays."""
        return self.machine == "agent_state" and self.trigger == NEXT_SET

    @property
    def next_state_cleared(self) -> bool:
        """The agent's next states were cleared; the current state stays."""
        return self.machine == "agent_state" and self.trigger == NEXT_CLEARED

    @property
    def session_ended(self) -> bool:
        """The session ended (``trigger`` is the end reason: AgentSessionEnd, 409...)."""
        return self.machine == "session" and self.final


class AgentStatus(NamedTuple):
    """A new stretch of the agent-state timeline: the state, its out reason or ACW changed.

    Comes with the agent-state :class:`Transition` when the state itself changed, alone
    when only the out reason or IsAcw did (Unavailable for Lunch, then for a Meeting).
    """

    session: str
    event_index: int
    state: str
    out_reason: str
    is_acw: bool
    at: datetime | None
    acw_timeout_s: int | None
    acw_deadline: datetime | None
    """When an ACW with a timeout will end by itself (``at + acw_timeout_s``)."""

    @property
    def acw_started(self) -> bool:
        """The agent went into after-call work."""
        return self.is_acw


class ContactDetails(NamedTuple):
    """What a contact is, beyond its status: made when the contact is first seen and again
    whenever one of these fields changes (a skill learned late, the disconnect code)."""

    session: str
    event_index: int
    contact_id: str
    media: str
    """``call``, ``chat``, ``work_item``, ``voicemail``, ``digital`` or ``supervisor``."""
    skill: str | None
    is_inbound: bool | None
    call_type: str | None
    disconnect_code: str | None
    payload: dict[str, Any] | None
    """A work item's id, type and payload; a voicemail's file name (else None)."""


class AcwLinked(NamedTuple):
    """The agent's ACW in progress belongs to this contact (whichever came first)."""

    session: str
    event_index: int
    contact_id: str
    started: datetime | None
    deadline: datetime | None


class LinkMoved(NamedTuple):
    """The agent's voice path links another dialer call (``IsLinked``), or none."""

    session: str
    event_index: int
    from_contact: str | None
    to_contact: str | None


class TranscriptAdded(NamedTuple):
    """A line a chat's transcript did not have yet."""

    session: str
    event_index: int
    contact_id: str
    party: str | None
    text: str | None
    at: datetime | None


class StatusAfterFinal(NamedTuple):
    """A status for a contact or leg after its FinalState True: recorded, not applied
    (a ``contact-after-final`` or ``leg-after-final`` violation comes with it)."""

    session: str
    event_index: int
    machine: str
    subject: str | None
    status: str
    at: datetime | None
    final: bool
    disconnect_code: str | None


class Noted(NamedTuple):
    """An event kept for what it says, not a transition: an Indicator, a PageOpen, a PopURL,
    a CustomEvent, a signal (UpdateSkills...), an unknown Type, an AgentError, a mute...

    ``subject`` is what the engine keeps it under (the indicator's name, the contact id of
    a page open or pop URL, the custom event's name), ``value`` the typed event itself.
    """

    session: str
    event_index: int
    event_type: str
    subject: str | None
    value: Any


Change: TypeAlias = (Transition | AgentStatus | ContactDetails | AcwLinked | LinkMoved
                     | TranscriptAdded | StatusAfterFinal | Noted | Violation)
"""Every kind of change ``feed()`` returns."""

Subscriber: TypeAlias = Callable[[Change], object]
"""What :meth:`SessionEngine.subscribe` takes: called with each change, in order."""

NO_CHANGES: tuple[Change, ...] = ()
"""What ``feed()`` returns for an event that changed nothing (one shared empty tuple)."""

_KIND: dict[type[Any], str] = {
    Transition: "transition",
    AgentStatus: "agent_status",
    ContactDetails: "contact_details",
    AcwLinked: "acw_linked",
    LinkMoved: "link_moved",
    TranscriptAdded: "transcript",
    StatusAfterFinal: "status_after_final",
    Noted: "noted",
    Violation: "violation",
}


def kind_of(change: Change) -> str:
    """The ``kind`` of a change as ``changes --json`` names it."""
    return _KIND[type(change)]



def as_json(change: Change) -> dict[str, Any]:
    """One line of ``session-fsm changes --json`` (its keys: ``session-fsm schema
    changes`` and the README)."""
    head: dict[str, Any] = {"session": change.session, "event_index": change.event_index,
                            "kind": kind_of(change)}
    if isinstance(change, Transition):
        return head | {"machine": change.machine, "subject": change.subject,
                       "from": change.from_state, "to": change.to_state,
                       "trigger": change.trigger, "status": change.status,
                       "at": _time(change.at), "final": change.final}
    if isinstance(change, Violation):
        return head | {"rule": change.rule, "severity": str(change.severity),
                       "contact_id": change.contact_id, "source": change.source,
                       "message": change.message}
    if isinstance(change, AgentStatus):
        return head | {"state": change.state, "out_reason": change.out_reason,
                       "is_acw": change.is_acw, "at": _time(change.at),
                       "acw_timeout_s": change.acw_timeout_s,
                       "acw_deadline": _time(change.acw_deadline)}
    if isinstance(change, ContactDetails):
        return head | {"contact_id": change.contact_id, "media": change.media,
                       "skill": change.skill, "is_inbound": change.is_inbound,
                       "call_type": change.call_type,
                       "disconnect_code": change.disconnect_code, "payload": change.payload}
    if isinstance(change, AcwLinked):
        return head | {"contact_id": change.contact_id, "started": _time(change.started),
                       "deadline": _time(change.deadline)}
    if isinstance(change, LinkMoved):
        return head | {"from_contact": change.from_contact, "to_contact": change.to_contact}
    if isinstance(change, TranscriptAdded):
        return head | {"contact_id": change.contact_id, "party": change.party,
                       "text": change.text, "at": _time(change.at)}
    if isinstance(change, StatusAfterFinal):
        return head | {"machine": change.machine, "subject": change.subject,
                       "status": change.status, "at": _time(change.at),
                       "final": change.final, "disconnect_code": change.disconnect_code}
    return head | {"type": change.event_type, "subject": change.subject}
