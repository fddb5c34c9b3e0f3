"""The mutable records the engine drives: one per agent state, agent leg and contact.

Records hold a machine ``state`` (the value the tables use) next to the wire's own
spelling and the data the snapshot shows: where things stand, not how they got there
(that is the change stream ``feed()`` returns, which the history folds). Only the
engine mutates them. They are slotted attrs classes without a weakref slot
(nothing refers to them weakly; 8 bytes each): a session
with one open call must stay small when tens of thousands are live.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from ..errors import Source
from ..wire.events import AgentError, NextState


@attrs.frozen(slots=True, weakref_slot=False)
class TranscriptLine:
    party: str | None
    text: str | None
    at: datetime | None


@attrs.define(slots=True, weakref_slot=False)
class ContactRecord:
    """One contact's lifecycle (per ContactID) and the data the snapshot shows."""

    contact_id: str
    media: str
    state: str
    status: str
    first_index: int
    final: bool = False
    is_linked: bool = False
    is_inbound: bool | None = None
    call_type: str | None = None
    skill: str | None = None
    started: datetime | None = None
    last_change: datetime | None = None
    disconnect_code: str | None = None
    final_index: int | None = None
    """The index of the event that closed it (FinalState True), once closed."""
    acw_phase_index: int | None = None
    """The index of the event that began its ACW phase (its voice ended with FinalState
    False: the contact the seed calls still "active" in ACW); None before that, and for a
    contact closed at once. Tells which contact an agent ACW belongs to."""
    # media-specific, allocated only where the media has them
    room_id: str | None = None
    transcript: list[TranscriptLine] | None = None
    payload: dict[str, Any] | None = None
    errors: list[AgentError] | None = None
    last_digest: int | None = None
    """The digest of the last event applied (``facts.digest``): tells a redelivery."""
    desktop: tuple[Any, ...] | None = None
    """What a desktop shows (ANI, DNIS, screen pop...), as the latest event said it, in
    the order of ``DESKTOP_FACTS``; read into a view by the snapshot. Dropped at close."""

    @property
    def in_acw(self) -> bool:
        """Voice path down, contact still open: its after-call-work phase."""
        return self.status_is("Disconnected") and not self.final

    def status_is(self, status: str) -> bool:
        return self.status.lower() == status.lower()


@attrs.define(slots=True, weakref_slot=False)
class AcwPeriod:
    """An ACW period: Unavailable with IsAcw, linked to the contact it follows."""

    contact_id: str | None
    started: datetime | None
    timeout_s: int | None
    deadline: datetime | None
    event_index: int


@attrs.define(slots=True, weakref_slot=False)
class AgentRecord:
    """The agent-state machine's record."""

    state: str
    label: str = ""
    out_reason: str = ""
    since: datetime | None = None
    is_acw: bool = False
    acw_timeout_s: int | None = None
    next_states: tuple[NextState, ...] = ()
    acw: AcwPeriod | None = None
    entered_index: int = 0
    entered_source: Source | None = None
    interval_index: int | None = None
    """The index of the event that began the current stretch of the agent timeline (a
    new state, out reason or ACW: an ``AgentStatus`` change); None before the first."""
    # whether a contact of the state's direction was open at some point during it
    contact_seen: bool = True
    last_digest: int | None = None
    """The digest of the last event applied (``facts.digest``): tells a redelivery."""


@attrs.define(slots=True, weakref_slot=False)
class LegRecord:
    """One agent leg (one AgentLegId): its machine state."""

    leg_id: str | None
    state: str
    status: str = ""
    final: bool = False
    errors: list[AgentError] | None = None
    last_digest: int | None = None
    """The digest of the last event applied (``facts.digest``): tells a redelivery."""


@attrs.define(slots=True, weakref_slot=False)
class SessionInfo:
    """The session itself: identity, and whether (and how) it ended."""

    session_id: str | None = None
    agent_id: str | None = None
    bus_no: str | None = None
    status: str = "not_started"
    end_reason: str | None = None
    end_message: str | None = None
    end_success: bool | None = None
    """AgentSessionEnd's ``Success``: False when the platform says the end was not clean."""
    end_index: int | None = None
    saw_start: bool = False
    saw_end_event: bool = False
    remote_end_index: int | None = None
    remote_end_source: Source | None = None
    first_source: Source | None = None
    """Where the session's first item came from (end-of-stream checks point there)."""
