"""The rule catalogue: every deviation from the documented protocol the engine can see.

Each rule has a stable kebab-case name users can select or silence, a severity
(``error``: the documented protocol forbids it; ``warning``: real streams do it, but it
deserves a look) and a one-line rationale. The engine records violations by these names
while it applies events; validation only reports them. The README's table is checked
against this catalogue by a test.
"""

from __future__ import annotations

from enum import StrEnum

import attrs


class Severity(StrEnum):
    ERROR = "error"  #: the documented protocol forbids it
    WARNING = "warning"  #: real streams do it; it deserves a look


@attrs.frozen(slots=True)
class Rule:
    name: str
    severity: Severity
    rationale: str


E, W = Severity.ERROR, Severity.WARNING

CATALOGUE: tuple[Rule, ...] = (
    Rule("contact-after-final", E, "a contact status after that contact's FinalState True: the contact was already closed"),
    Rule("final-on-open-status", E, "FinalState True on a status that cannot end a contact (only Disconnected-like statuses can)"),
    Rule("contact-transition", E, "a contact moved along an edge its media's transition table does not have (e.g. Disconnected -> Active)"),
    Rule("event-after-end", E, "an event after AgentSessionEnd or a 409 (a remote logoff's own events may come between RemoteAgentSessionEnd and its AgentSessionEnd)"),
    Rule("leg-after-final", E, "an agent-leg status after that leg's final Disconnected (same AgentLegId)"),
    Rule("leg-transition", E, "the agent leg went backwards or skipped its table (Dialing -> Active -> Disconnected)"),
    Rule("two-linked-calls", E, "two open calls with IsLinked True at once: the agent's voice path links to one call"),
    Rule("too-many-next-states", E, "NextStates holds at most two entries (next, and next-next after ACW)"),
    Rule("bad-field", E, "a field that cannot be decoded (bad boolean, timestamp or integer)"),
    Rule("not-json", E, "a line or document that is not valid JSON, or is too large or too deep to read safely"),
    Rule("not-an-event", E, "JSON that is not an event object with a Type"),
    Rule("no-session-start", W, "the stream has no AgentSessionStart (a recording that started late, or a lost batch)"),
    Rule("contact-joined-mid-lifecycle", W, "a contact first seen in a middle status (Active, Holding...) outside a join batch"),
    Rule("unknown-event-type", W, "an event Type the documentation does not list: kept, but nothing interprets it"),
    Rule("unknown-status", W, "a Status or CurrentState value no table knows: recorded, the machine does not move"),
    Rule("time-went-backwards", W, "a contact's LastStateChangeTime earlier than its previous one"),
    Rule("duplicate-event", W, "the same event delivered twice in a row for the same subject; applied once"),
    Rule("leg-id-changed", W, "the AgentLegId changed while the previous leg was not final"),
    Rule("acw-outside-unavailable", W, "IsAcw True with a CurrentState other than Unavailable"),
    Rule("contact-state-without-contact", W, "the agent was in a contact state (InboundContact...) with no open contact of that direction"),
    Rule("agent-state-transition", W, "the agent state moved along an edge the agent-state table does not have"),
    Rule("remote-end-without-end", W, "RemoteAgentSessionEnd with no AgentSessionEnd (or 409) before the stream ended"),
    Rule("contacts-open-at-end", W, "contacts still open (no FinalState True) when the session ended"),
)

RULES: dict[str, Rule] = {rule.name: rule for rule in CATALOGUE}


@attrs.frozen(slots=True)
class Violation:
    """One deviation, where it happened, and a message a person can act on."""

    rule: str
    severity: Severity
    session: str
    event_index: int
    contact_id: str | None
    source: str | None
    message: str
