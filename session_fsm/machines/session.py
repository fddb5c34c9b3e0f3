"""The session's own lifecycle: not started -> active -> ended.

``AgentSessionStart`` makes a session active; any of its three ends (AgentSessionEnd,
RemoteAgentSessionEnd, or the HTTP ``409`` that stands in for a purged AgentSessionEnd)
ends it, whatever came before: a recording that started late may end a session it never
saw start. The trigger of an end is its reason, so the transition says how the session
ended. Ending is idempotent: there is no row out of ``ended``, and the engine fires none.
"""

from __future__ import annotations

from enum import StrEnum

from . import MachineSpec, rules


class SessionStatus(StrEnum):
    NOT_STARTED = "not_started"  #: no AgentSessionStart (and no end) seen yet
    ACTIVE = "active"  #: AgentSessionStart seen, no end yet
    ENDED = "ended"  #: ended by AgentSessionEnd, RemoteAgentSessionEnd or a 409


START = "AgentSessionStart"
END_REASONS = ("AgentSessionEnd", "RemoteAgentSessionEnd", "409")
"""The end triggers, named as the snapshot's ``end_reason`` names them."""

_S = SessionStatus

SESSION = MachineSpec(
    "session",
    SessionStatus,
    _S.NOT_STARTED,
    rules(
        (START, _S.NOT_STARTED, _S.ACTIVE, "the session started (or a join replayed its start)"),
        *((reason, (_S.NOT_STARTED, _S.ACTIVE), _S.ENDED,
           "the session ended; a 409 ends it exactly as AgentSessionEnd does")
          for reason in END_REASONS),
    ),
    final_states=(_S.ENDED,),
)
