"""The engine: sans-IO, the only place that fires transitions.

Each session key has one :class:`AgentSession` (``session.py``); ``feed()`` returns the
changes it made (``changes.py``), violations named by the rule catalogue (``rules.py``),
on records only the engine mutates (``records.py``); ``snapshot.py`` is the engine's own
frozen read-out of where things stand; ``native.py`` runs the same sessions on the
native core (``session_fsm/native/``). Nothing here imports a view, an edge or the CLI.
"""

from __future__ import annotations

from .session import END_EVENTS, AgentSession, SessionEngine, engine_name, new_session

__all__ = ["END_EVENTS", "AgentSession", "SessionEngine", "engine_name", "new_session"]
