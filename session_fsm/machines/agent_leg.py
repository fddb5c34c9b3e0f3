"""The agent-leg machine: the agent's station call, Dialing -> Active -> Disconnected.

FinalState True comes only with Disconnected and fires ``close``. A new AgentLegId after
a closed leg starts a new lifecycle on a fresh record (the engine's business).
"""

from __future__ import annotations

from enum import StrEnum

from . import CLOSE, MachineSpec, rules


class LegStatus(StrEnum):
    NEW = "New"  #: no status seen yet for this leg
    DIALING = "Dialing"  #: the platform is calling the agent's station
    ACTIVE = "Active"  #: the station answered; the agent has a voice path
    DISCONNECTED = "Disconnected"  #: the station hung up; final once FinalState says so
    CLOSED = "Closed"  #: Disconnected with FinalState True: this leg is over


L = LegStatus

AGENT_LEG = MachineSpec(
    "agent_leg",
    LegStatus,
    L.NEW,
    rules(
        ("Dialing", L.NEW, L.DIALING, "the platform starts calling the station"),
        ("Active", L.NEW, L.ACTIVE, "a join replays a leg that is already up"),
        ("Disconnected", L.NEW, L.DISCONNECTED, "a join replays a leg that is coming down"),
        ("Active", L.DIALING, L.ACTIVE, "the station answered"),
        ("Disconnected", (L.DIALING, L.ACTIVE), L.DISCONNECTED, "the station hung up or never answered"),
        (CLOSE, L.DISCONNECTED, L.CLOSED, "FinalState True: only Disconnected can end the leg"),
    ),
    final_states=(L.CLOSED,),
)
