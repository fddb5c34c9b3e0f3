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


class RuleName(StrEnum):
    """Every rule's stable name: mypy checks each name the engine reports."""

    CONTACT_AFTER_FINAL = "contact-after-final"
    FINAL_ON_OPEN_STATUS = "final-on-open-status"
    CONTACT_TRANSITION = "contact-transition"
    EVENT_AFTER_END = "event-after-end"
    LEG_AFTER_FINAL = "leg-after-final"
    LEG_TRANSITION = "leg-transition"
    TWO_LINKED_CALLS = "two-linked-calls"
    TOO_MANY_NEXT_STATES = "too-many-next-states"
    BAD_FIELD = "bad-field"
    NOT_JSON = "not-json"
    NOT_AN_EVENT = "not-an-event"
    NO_SESSION_START = "no-session-start"
    CONTACT_JOINED_MID_LIFECYCLE = "contact-joined-mid-lifecycle"
    UNKNOWN_EVENT_TYPE = "unknown-event-type"
    UNKNOWN_STATUS = "unknown-status"
    TIME_WENT_BACKWARDS = "time-went-backwards"
    DUPLICATE_EVENT = "duplicate-event"
    LEG_ID_CHANGED = "leg-id-changed"
    ACW_OUTSIDE_UNAVAILABLE = "acw-outside-unavailable"
    CONTACT_STATE_WITHOUT_CONTACT = "contact-state-without-contact"
    AGENT_STATE_TRANSITION = "agent-state-transition"
    REMOTE_END_WITHOUT_END = "remote-end-without-end"
    SESSION_END_NOT_CLEAN = "session-end-not-clean"
    CONTACTS_OPEN_AT_END = "contacts-open-at-end"

    def __repr__(self) -> str:
        # shown as the plain name it is to users (in reprs of violations, doctests)
        return repr(self.value)


@attrs.frozen(slots=True)
class Rule:
    name: RuleName
    severity: Severity
    rationale: str


E, W = Severity.ERROR, Severity.WARNING

CATALOGUE: tuple[Rule, ...] = (
    Rule(RuleName.CONTACT_AFTER_FINAL, E, "a contact status after that contact's FinalState True: the contact was already closed (one of the session's last 32 closed; an older one is taken as first seen)"),
    Rule(RuleName.FINAL_ON_OPEN_STATUS, E, "FinalState True on a status that cannot end a contact (only Disconnected-like statuses can)"),
    Rule(RuleName.CONTACT_TRANSITION, E, "a contact moved along an edge its media's transition table does not have (e.g. Disconnected -> Active)"),
    Rule(RuleName.EVENT_AFTER_END, E, "an event after AgentSessionEnd or a 409 (a remote logoff's own events may come between RemoteAgentSessionEnd and its AgentSessionEnd)"),
    Rule(RuleName.LEG_AFTER_FINAL, E, "an agent-leg status after that leg's final Disconnected (same AgentLegId)"),
    Rule(RuleName.LEG_TRANSITION, E, "the agent leg went backwards or skipped its table (Dialing -> Active -> Disconnected)"),
    Rule(RuleName.TWO_LINKED_CALLS, E, "two open calls with IsLinked True at once: the agent's voice path links to one call"),
    Rule(RuleName.TOO_MANY_NEXT_STATES, E, "NextStates holds at most two entries (next, and next-next after ACW)"),
    Rule(RuleName.BAD_FIELD, E, "a field of the wrong kind (bad boolean, timestamp or integer; an integer has at most 18 digits): left out, the rest of its event applied"),
    Rule(RuleName.NOT_JSON, E, "a line or document that is not valid JSON, or is too large or too deep to read safely"),
    Rule(RuleName.NOT_AN_EVENT, E, "JSON that is not an event object with a Type"),
    Rule(RuleName.NO_SESSION_START, W, "the stream has no AgentSessionStart (a recording that started late, or a lost batch)"),
    Rule(RuleName.CONTACT_JOINED_MID_LIFECYCLE, W, "a contact first seen in a middle status (Active, Holding...) outside a join batch"),
    Rule(RuleName.UNKNOWN_EVENT_TYPE, W, "an event Type that neither the documentation nor stream-facts lists (VoiceMailPlayBackEvent, RunApp, MchAgentSettingsChangeEvent, AgentAssist, PromiseKeeper, PromiseKeeperStatus and Conference are typed and noted): kept, but nothing interprets it"),
    Rule(RuleName.UNKNOWN_STATUS, W, "a Status or CurrentState value no table knows: recorded, the machine does not move"),
    Rule(RuleName.TIME_WENT_BACKWARDS, W, "a contact's LastStateChangeTime earlier than its previous one"),
    Rule(RuleName.DUPLICATE_EVENT, W, "an event delivered again (the same content as one applied: its subject's last event, one of the last 16 agent, leg or contact events and older than its subject's current state, or part of a response that repeats the one before it); applied once"),
    Rule(RuleName.LEG_ID_CHANGED, W, "the AgentLegId changed while the previous leg was not final"),
    Rule(RuleName.ACW_OUTSIDE_UNAVAILABLE, W, "IsAcw True with a CurrentState other than Unavailable"),
    Rule(RuleName.CONTACT_STATE_WITHOUT_CONTACT, W, "the agent was in a contact state (InboundContact...) with no open contact of that direction"),
    Rule(RuleName.AGENT_STATE_TRANSITION, W, "the agent state moved along an edge the agent-state table does not have"),
    Rule(RuleName.SESSION_END_NOT_CLEAN, W, "AgentSessionEnd with Success False: the platform says the session did not end cleanly"),
    Rule(RuleName.REMOTE_END_WITHOUT_END, W, "RemoteAgentSessionEnd with no AgentSessionEnd (or 409) before the stream ended"),
    Rule(RuleName.CONTACTS_OPEN_AT_END, W, "contacts still open (no FinalState True) when the session ended; after a RemoteAgentSessionEnd, whose own events may close them, judged at the AgentSessionEnd or 409 that follows it, or at the end of the input"),
)

RULES: dict[str, Rule] = {rule.name: rule for rule in CATALOGUE}
"""The catalogue by name (a plain string finds its rule too: names are a StrEnum)."""


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
