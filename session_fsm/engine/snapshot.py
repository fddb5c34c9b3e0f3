"""Frozen snapshot values: what an agent session looks like at one moment.

:func:`snapshot_of` reads an :class:`~session_fsm.engine.session.AgentSession`'s records into
immutable values (it changes nothing), and :func:`to_json` turns them into the JSON
of ``session-fsm schema snapshot``: exactly its keys, ISO 8601 UTC timestamps with
milliseconds and ``Z``.
The Python values carry more than the contract's JSON (indicators, pages, errors...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from ..wire import events as ev
from ..wire.codec import format_time

if TYPE_CHECKING:
    from .records import ContactRecord
    from .session import AgentSession


@attrs.frozen(slots=True)
class SessionView:
    session_id: str | None
    agent_id: str | None
    bus_no: str | None
    status: str
    end_reason: str | None
    end_message: str | None
    end_clean: bool | None = None
    """AgentSessionEnd's ``Success`` (False: not ended cleanly); None until the session
    ends, or when its end did not say (``end_clean`` in the snapshot schema)."""


@attrs.frozen(slots=True)
class NextStateView:
    state: str
    out_reason: str


@attrs.frozen(slots=True)
class AcwView:
    """The ACW period in progress: which contact it follows and when it times out."""

    contact_id: str | None
    started: datetime | None
    deadline: datetime | None


@attrs.frozen(slots=True)
class AgentStateView:
    state: str
    out_reason: str
    since: datetime | None
    is_acw: bool
    acw_timeout_s: int | None
    acw_deadline: datetime | None
    next_states: tuple[NextStateView, ...]
    acw: AcwView | None = None

    @property
    def next_state(self) -> NextStateView | None:
        """Entry 0: where the agent goes next (the ACW state, on an ACW skill)."""
        return self.next_states[0] if self.next_states else None

    @property
    def next_next_state(self) -> NextStateView | None:
        """Entry 1: where the agent goes after ACW."""
        return self.next_states[1] if len(self.next_states) > 1 else None

    def time_in_state_s(self, now: datetime) -> float | None:
        """Seconds the agent has been in this state at ``now``, which must be the
        platform's clock (your clock plus the skew; ``serve`` says it as ``server_time``):
        the stream's times are the platform's. None when the state's start is unknown."""
        if self.since is None:
            return None
        return (now - self.since).total_seconds()


@attrs.frozen(slots=True)
class AgentLegView:
    id: str | None
    status: str
    final: bool


@attrs.frozen(slots=True)
class ContactView:
    contact_id: str
    media: str
    status: str
    final: bool
    in_acw: bool
    is_linked: bool
    is_inbound: bool | None
    call_type: str | None
    skill: str | None
    started: datetime | None
    last_change: datetime | None
    # what an agent desktop or CRM connector needs, None where the wire has none
    ani: str | None = None
    dnis: str | None = None
    screen_pop_url: str | None = None
    screen_pop_variables: tuple[Mapping[str, Any], ...] = ()
    """``ScreenPopUrlVariables``: the URL's variables as the wire lists them."""
    master_contact_id: str | None = None
    """``MasterID``, where the wire has one (an undocumented key; see stream-facts)."""
    other_information: str | None = None
    blending_to_skill_name: str | None = None
    refusal_timeout_s: int | None = None
    refusal_deadline: datetime | None = None
    """While the contact is offered (``Incoming``): when the offer times out, the
    status's start plus ``RefusalTimeout``; None once accepted or without a timeout."""


@attrs.frozen(slots=True)
class MonitoringView:
    target_agent_id: str | None
    since: datetime | None
    contact_id: str | None


@attrs.frozen(slots=True)
class Snapshot:
    """One session at one moment. The first fields are ``snapshot --json``'s
    (``session-fsm schema snapshot``)."""

    key: str
    session: SessionView
    agent_state: AgentStateView | None
    """Where the agent stands; ``LoggedOut`` once the session has ended, whatever state
    was seen last (a logoff by an administrator, or a lost end, sends no LoggedOut
    state): that one is :attr:`last_seen_state`."""
    agent_leg: AgentLegView | None
    contacts: tuple[ContactView, ...]
    linked_contact_id: str | None
    monitoring: MonitoringView | None
    events: int
    violations: int
    # beyond the contract's JSON
    indicators: Mapping[str, ev.Indicator] = attrs.field(factory=dict)
    page_opens: Mapping[str, ev.PageOpen] = attrs.field(factory=dict)
    pop_urls: Mapping[str, ev.PopURL] = attrs.field(factory=dict)
    custom_events: Mapping[str, ev.CustomEvent] = attrs.field(factory=dict)
    skill_list: ev.NaturalCallingSkillList | None = None
    hours_of_operation: ev.HoursOfOperation | None = None
    errors: tuple[ev.AgentError, ...] = ()
    take_over: ev.TakeOver | None = None
    muted: bool | None = None
    signals: Mapping[str, int] = attrs.field(factory=dict)
    unknown_types: Mapping[str, int] = attrs.field(factory=dict)
    last_seen_state: AgentStateView | None = None
    """The last agent state the stream said; differs from :attr:`agent_state` only
    after the session ended without a ``LoggedOut`` state."""

    def contact(self, contact_id: str) -> ContactView | None:
        """An open contact by id."""
        return next((c for c in self.contacts if c.contact_id == contact_id), None)


LOGGED_OUT = "LoggedOut"
"""The agent state of an ended session (the documentation lists it among the states)."""

CONTRACT_KEYS = (
    "key", "session", "agent_state", "agent_leg", "contacts", "linked_contact_id",
    "monitoring", "events", "violations",
)


def contact_view(contact: ContactRecord) -> ContactView:
    desktop = contact.desktop
    if desktop is None:
        return ContactView(
            contact.contact_id, contact.media, contact.status, contact.final, contact.in_acw,
            contact.is_linked, contact.is_inbound, contact.call_type, contact.skill,
            contact.started, contact.last_change,
        )
    ani, dnis, url, variables, master, other, blending, refusal = desktop
    # MasterID is an undeclared key, so the codec never checked it: an id is shown as a
    # string, anything else not at all
    if type(master) is int:
        master = str(master)
    elif type(master) is not str or not master:
        master = None
    deadline = None
    if refusal is not None and contact.last_change is not None \
            and contact.status_is("Incoming"):
        deadline = contact.last_change + timedelta(seconds=refusal)
    return ContactView(
        contact.contact_id, contact.media, contact.status, contact.final, contact.in_acw,
        contact.is_linked, contact.is_inbound, contact.call_type, contact.skill,
        contact.started, contact.last_change, ani or None, dnis or None, url or None,
        tuple(variables or ()), master, other or None, blending or None, refusal, deadline,
    )


def snapshot_of(session: AgentSession) -> Snapshot:
    """Read a session's records into a frozen :class:`Snapshot`."""
    info = session.info
    agent = session.agent
    agent_view = None
    if agent.label:
        acw = agent.acw
        agent_view = AgentStateView(
            agent.label, agent.out_reason, agent.since, agent.is_acw, agent.acw_timeout_s,
            acw.deadline if acw else None,
            tuple(NextStateView(n.state or "", n.out_reason or "") for n in agent.next_states),
            AcwView(acw.contact_id, acw.started, acw.deadline) if acw else None,
        )
    seen_view = agent_view
    if info.status == "ended" and (agent_view is None or agent_view.state != LOGGED_OUT):
        # the session is over: the agent is logged out, whatever the stream said last
        agent_view = AgentStateView(LOGGED_OUT, "", None, False, None, None, ())
    leg = session.leg
    monitor = session.monitoring
    errors = list(session.session_errors)
    if leg is not None and leg.errors:
        errors.extend(leg.errors)
    for contact in session.contacts.values():
        errors.extend(contact.errors or ())
    return Snapshot(
        key=session.key,
        session=SessionView(info.session_id, info.agent_id, info.bus_no, info.status,
                            info.end_reason, info.end_message, info.end_success),
        agent_state=agent_view,
        agent_leg=AgentLegView(leg.leg_id, leg.status, leg.final) if leg else None,
        contacts=tuple(contact_view(c) for c in session.contacts.values()),
        linked_contact_id=session.linked_contact_id,
        monitoring=MonitoringView(monitor.target_agent_id, monitor.monitor_start_time,
                                  session.monitor_contact_id) if monitor else None,
        events=session.events,
        violations=len(session.violations),
        indicators=dict(session.indicators),
        page_opens=dict(session.page_opens),
        pop_urls=dict(session.pop_urls),
        custom_events=dict(session.custom_events),
        skill_list=session.skill_list,
        hours_of_operation=session.hours_of_operation,
        errors=tuple(errors),
        take_over=session.take_over,
        muted=session.muted,
        signals=dict(session.signals),
        unknown_types=dict(session.unknown_types),
        last_seen_state=seen_view,
    )


def _plain(value: Any) -> Any:
    """Attrs values -> JSON-ready data with the schemas' timestamp form."""
    if isinstance(value, datetime):
        return format_time(value)
    if attrs.has(type(value)):
        return {f.name: _plain(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def to_json(snapshot: Snapshot) -> dict[str, Any]:
    """One entry of ``snapshot --json``'s ``sessions``: exactly the keys of
    ``session-fsm schema snapshot``."""
    data = {key: _plain(getattr(snapshot, key)) for key in CONTRACT_KEYS}
    agent_state = data["agent_state"]
    if agent_state is not None:
        agent_state.pop("acw")
    return data


def snapshots_json(snapshots: Iterable[Snapshot]) -> dict[str, Any]:
    """The whole ``snapshot --json`` document."""
    return {"sessions": [to_json(s) for s in snapshots]}
