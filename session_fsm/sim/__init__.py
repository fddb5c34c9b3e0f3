"""A seeded simulator of CXone agent event streams: realistic JSON Lines for load tests and demos.

Theory of operation. Each simulated agent is a small script (:class:`.agent.Agent`) that
plays *episodes* (an inbound call, a chat, a Personal Connection dialer round, a
break...) on its own server clock and writes the events they produce into a short
buffer. :meth:`Simulation.lines` merges the agents' buffers by server time (ties by
agent number), as a live recorder polling every session would write them, so memory
stays at one episode per agent however long the run is.

An event is built as the project's typed event (:mod:`session_fsm.wire.events`), encoded by
the codec, and spelled as the session's habits have it (:mod:`.spelling`), so no wire
key is spelled here a second time. The generator knows what it did: the writing methods
of :class:`.session.SessionWriter` update the agent's *model* (agent state, leg, open
contacts, linked call, monitoring) exactly as far as the events actually written say,
so a session cut off by the end of the window is known in the state its last event left
it. That model is what :meth:`Simulation.expected` returns; it is the simulator's own
intent, not a second reading of the events (the engine is the only thing that
interprets them).

The stream is deliberately awkward where the live stream is: joins (one batch replaying
the current state, ``AgentSessionStart`` not first, contacts first seen in a middle
status), remote logoffs (sometimes with no ``AgentSessionEnd`` after them: the
recorder's 409 ends the session then), the types beyond the documentation that
stream-facts.md lists (``RunApp``, ``PromiseKeeper``...), undocumented fields
(``IISHost``, ``MasterID``...), booleans lower-case or as real JSON booleans, ``type``
instead of ``Type``, ``IsACW`` instead of ``IsAcw``, both
ACW paths (Disconnected with FinalState False then True, or True at once) and both orders
of an ``AgentState`` and the contact event it belongs to. It never does what the
documented protocol forbids and earns no warning, so ``validate --strict`` passes on it.
Asked to (``intended_warnings``), it also writes an event type nobody lists and a remote
logoff that nothing ends, which earn exactly :data:`INTENDED_WARNINGS`.

Everything random comes from ``random.Random(seed)``: one seed, one byte-identical output.

The parts: :mod:`.cast` (roles, skills, episode weights), :mod:`.agent` (an agent's day),
:mod:`.session` (writing events and the model they leave), :mod:`.contacts` (each
media's event), :mod:`.spelling` (the live stream's spellings), :mod:`.clock` (server
time), :mod:`.expected` (what a run knows), :mod:`.simulation` (the run and the merge).
"""

from __future__ import annotations

from .expected import (
    INTENDED_WARNINGS,
    ExpectedAgentState,
    ExpectedContact,
    ExpectedLeg,
    ExpectedMonitoring,
    ExpectedSession,
    Summary,
)
from .simulation import DEFAULT_START, Simulation, simulate

__all__ = [
    "DEFAULT_START",
    "INTENDED_WARNINGS",
    "ExpectedAgentState",
    "ExpectedContact",
    "ExpectedLeg",
    "ExpectedMonitoring",
    "ExpectedSession",
    "Simulation",
    "Summary",
    "simulate",
]
