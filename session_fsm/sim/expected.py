"""What a run knows it did: each session's final state and the warnings it earned on
purpose (the Expected* values), and the counts of what it wrote (:class:`Summary`).

These are the simulator's own intent, kept as it writes; tests compare them with the
engine's reading of the stream, which is the only thing that interprets the events.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from ..wire.codec import format_time
from .clock import datetime_of, ms_of

INTENDED_WARNINGS: Final = frozenset({"unknown-event-type", "remote-end-without-end"})
"""The only rules a simulated stream trips, and only when asked to (``intended_warnings``):
an event type nobody lists, and a ``RemoteAgentSessionEnd`` that neither its
``AgentSessionEnd`` nor a 409 ever follows. The default stream trips none."""


@attrs.frozen(slots=True)
class ExpectedContact:
    """An open contact as the simulator left it (the fields of a snapshot's contact)."""

    contact_id: str
    media: str
    status: str
    in_acw: bool
    is_linked: bool
    is_inbound: bool | None
    call_type: str | None
    skill: str | None
    started: datetime | None
    last_change: datetime | None


@attrs.frozen(slots=True)
class ExpectedAgentState:
    """The agent state the last ``AgentState`` event written set."""

    state: str
    out_reason: str
    since: datetime | None
    is_acw: bool
    acw_timeout_s: int | None
    acw_deadline: datetime | None
    next_states: tuple[tuple[str, str], ...]


@attrs.frozen(slots=True)
class ExpectedLeg:
    id: str
    status: str
    final: bool


@attrs.frozen(slots=True)
class ExpectedMonitoring:
    target_agent_id: str
    since: datetime | None
    contact_id: str | None


@attrs.frozen(slots=True)
class ExpectedSession:
    """One session's final state as the simulator made it, and the warnings it earned."""

    key: str
    session_id: str | None
    agent_id: str | None
    bus_no: str | None
    status: str
    end_reason: str | None
    end_message: str | None
    agent_state: ExpectedAgentState | None
    agent_leg: ExpectedLeg | None
    contacts: tuple[ExpectedContact, ...]
    linked_contact_id: str | None
    monitoring: ExpectedMonitoring | None
    events: int
    warnings: Mapping[str, int]


@attrs.frozen(slots=True)
class Summary:
    """What a run wrote."""

    agents: int
    seed: int
    minutes: float
    start: datetime
    events: int
    lines: int
    sessions: int
    types: Mapping[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "agents": self.agents,
            "seed": self.seed,
            "minutes": self.minutes,
            # the window starts on a whole millisecond, as the run's clocks do
            "start": format_time(datetime_of(ms_of(self.start))),
            "events": self.events,
            "lines": self.lines,
            "sessions": self.sessions,
            "types": dict(self.types),
        }
