"""Who the simulated agents are and what their days are made of: the roles and how each
session starts and ends, the skills and their ACW timeouts, and how often each episode
comes. Data only; :mod:`.agent` plays it."""

from __future__ import annotations

from itertools import accumulate
from typing import Any, Final

from ..wire.events import SIGNAL_EVENTS

BREAKS: Final = ("Break", "Lunch", "Meeting", "Training", "Coaching")
# skill -> ACW timeout: None = no ACW skill, 0 = ACW ended only by a disposition
INBOUND_SKILLS: Final[dict[str, int | None]] = {"1507": 30, "1508": 0, "1510": None, "1513": 120}
OUTBOUND_SKILLS: Final[dict[str, int | None]] = {"1520": None, "1521": 60}
CHAT_SKILLS: Final[dict[str, int | None]] = {"1509": None, "1514": 45}
DIGITAL_SKILLS: Final[dict[str, int | None]] = {"1512": 0, "1515": None}
PC_SKILL: Final = "1530"
PC_ACW: Final = (None, 20, 0)
WORK_SKILL: Final = "1528"
VOICEMAIL_SKILL: Final = "1511"
MONITOR_SKILL: Final = "50883"
SIGNALS: Final[tuple[type[Any], ...]] = SIGNAL_EVENTS
UNLISTED_TYPE: Final = "AgentWorkflowConfiguration"
"""A type NICE's SDK handles but nobody here lists (not in stream-facts.md): what the
simulator writes, only when asked to, for the engine's unknown-event-type warning."""
CLIENT_LINES: Final = (
    "Hi, I need help with my order", "It has not arrived yet", "Order 55-1234",
    "Can you check the delivery date?", "Thanks!", "Is there a tracking number?",
)
AGENT_LINES: Final = (
    "Hello, happy to help", "Let me look that up", "I see it here", "It ships tomorrow",
    "Anything else I can do?", "You're welcome",
)

# Episode weights per role: (name of the Agent method that plays it, weight).
_BLENDED: Final = (
    ("inbound_call", 30), ("chat", 10), ("work_item", 7), ("voicemail", 4), ("digital", 6),
    ("outbound_call", 6), ("inbound_consult", 3), ("refused_work_item", 2), ("take_break", 7),
    ("callbacks", 2), ("misc", 12), ("leg_reconnect", 1),
)
_DIALER: Final = (("dialer_round", 70), ("take_break", 5), ("misc", 10), ("low_list", 3))
_SUPERVISOR: Final = (("monitor", 45), ("inbound_call", 10), ("take_break", 8), ("misc", 12))
PLAYS: Final = {
    role: ([name for name, _ in weights], list(accumulate(weight for _, weight in weights)))
    for role, weights in (("blended", _BLENDED), ("dialer", _DIALER), ("supervisor", _SUPERVISOR))
}
"""Per role, the episodes as random.choices takes them: names and cumulative weights."""

CAST: Final = (
    ("blended", "login", "stay"),
    ("dialer", "login", "stay"),
    ("blended", "join", "stay"),
    ("supervisor", "login", "stay"),
    ("blended", "login", "logout"),
    ("blended", "login", "remote"),
    ("dialer", "login", "logout"),
    ("blended", "login", "remote_no_end"),  # the 409 ends it, or nothing (intended_warnings)
    ("blended", "join", "logout"),
    ("blended", "login", "stay"),
    ("dialer", "join", "stay"),
    ("blended", "login", "stay"),
)
"""Who is who, by agent number, so that every kind of session appears in any run of a
dozen agents: (role, how the recording starts, how the session ends)."""
