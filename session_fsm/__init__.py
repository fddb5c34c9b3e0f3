"""session_fsm: live state, validated sequences and contact histories.

The input is the NICE CXone agent event stream (the get-next-event long poll). Feed events
to a :class:`SessionEngine`; ``feed()`` returns what changed (``session_fsm.engine.changes``),
``snapshot()`` says where things stand, and the views and edges build on that: histories,
validation, the store, the live follower. The names below are the public API; the modules
they come from are listed in the README's Design section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .engine import AgentSession, SessionEngine
from .engine.changes import (
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
from .engine.rules import CATALOGUE, RuleName, Severity, Violation
from .engine.snapshot import Snapshot
from .errors import FieldError, InputError, SequenceError, SessionFsmError, Source
from .views.history import (
    ContactFilter,
    ContactHistory,
    HistoryFold,
    SessionHistory,
    StateFilter,
    histories,
    history_of,
)
from .views.validation import validate
from .wire.codec import decode, encode
from .wire.reader import ReadError, ReadItem, iter_wire, read

if TYPE_CHECKING:
    from .io.client import SessionFollower
    from .io.store import Store

__version__ = "0.2.0.dev0"
"""The one version of the package (pyproject.toml reads it): 0.2 as the README's
"Changes" describes it, not yet released."""

# The edges load on first use: the HTTP client alone would double the import time of a
# program that only feeds events.
_LAZY = {"SessionFollower": ".io.client", "Store": ".io.store"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'session_fsm' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module, __name__), name)


__all__ = [
    "CATALOGUE",
    "NO_CHANGES",
    "AcwLinked",
    "AgentSession",
    "AgentStatus",
    "Change",
    "ContactDetails",
    "ContactFilter",
    "ContactHistory",
    "FieldError",
    "HistoryFold",
    "InputError",
    "LinkMoved",
    "Noted",
    "ReadError",
    "ReadItem",
    "RuleName",
    "SequenceError",
    "SessionEngine",
    "SessionFollower",
    "SessionFsmError",
    "SessionHistory",
    "Severity",
    "Snapshot",
    "Source",
    "StateFilter",
    "StatusAfterFinal",
    "Store",
    "Subscriber",
    "TranscriptAdded",
    "Transition",
    "Violation",
    "__version__",
    "decode",
    "encode",
    "histories",
    "history_of",
    "iter_wire",
    "read",
    "validate",
]
