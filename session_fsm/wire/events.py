"""Typed events: one frozen attrs class per wire ``Type`` of the agent event stream.

Python names are snake_case; the wire spelling of each field is derived (``skill`` ->
``Skill``) or given once here with :func:`wire` where it differs (``ContactID``). The
codec matches wire keys case-insensitively, so ``IsACW``/``IsAcw`` and
``ContactID``/``ContactId`` land on the same field. Fields the wire sent that a class
does not declare are kept in ``extra`` so nothing is lost on a round trip.

Booleans, integers and timestamps are ``None`` when the wire omits them or sends ``""``.
IDs stay strings (they exceed 2**53). Enum-like strings (``Status``, ``CallType``...) are
kept as the wire spells them; the machines compare them case-insensitively.

One class is not the platform's: :class:`HttpSessionEnded`, the line ``follow --record``
writes for a ``409`` (in :data:`RECORDER_EVENTS`, not :data:`KNOWN_EVENTS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, TypeVar, dataclass_transform

import attrs

WIRE = "session_fsm.wire"


def wire(name: str) -> Any:
    """A field whose canonical wire name is not the PascalCase of its Python name."""
    return attrs.field(default=None, metadata={WIRE: name})


def _extra() -> Any:
    return attrs.field(factory=dict, repr=False)


def wire_name(field: attrs.Attribute[Any]) -> str:
    """The canonical wire key of a field."""
    name: str | None = field.metadata.get(WIRE)
    return name or "".join(part.capitalize() for part in field.name.split("_"))


_C = TypeVar("_C")


# A bare alias (``_event = attrs.frozen(...)``) hides the classes' __init__ from mypy's
# attrs plugin; dataclass_transform tells type checkers what the decorator makes.
@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(attrs.field,))
def _event(cls: type[_C]) -> type[_C]:
    return attrs.frozen(kw_only=True, slots=True)(cls)


# --- agent session ------------------------------------------------------------------


@_event
class AgentSessionStart:
    """The session started, or a client joined it (then not necessarily first in its batch)."""

    TYPE: ClassVar[str] = "AgentSessionStart"
    bus_no: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    station_phone_number: str | None = None
    station_caller_id: str | None = None
    dialer_campaign: str | None = None
    dialer_campaign_start_time: datetime | None = None
    supervisor_permission_level: int | None = None
    can_mask: bool | None = None
    agent_schedule_permission: bool | None = None
    score_recordings_permission: bool | None = None
    hide_agent_state_permission: bool | None = None
    can_multi_party_conference: bool | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class AgentSessionEnd:
    """The session ended. May be lost (the queue is purged): a 409 means the same."""

    TYPE: ClassVar[str] = "AgentSessionEnd"
    success: bool | None = None
    message: str | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class RemoteAgentSessionEnd:
    """An administrator ended the session; an AgentSessionEnd should follow, but may not."""

    TYPE: ClassVar[str] = "RemoteAgentSessionEnd"
    message: str | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class NextState:
    """One entry of ``AgentState.NextStates``: 0 is the next state, 1 the next-next."""

    state: str | None = None
    out_reason: str | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class AgentState:
    """The agent's state changed (or its next states did)."""

    TYPE: ClassVar[str] = "AgentState"
    current_state: str | None = None
    current_out_reason: str | None = None
    next_states: tuple[NextState, ...] = ()
    start_time: datetime | None = wire("StartTimeUTC")
    is_acw: bool | None = None
    acw_timeout: int | None = None
    next_is_acw: bool | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class AgentLeg:
    """The agent's station leg: Dialing -> Active -> Disconnected (FinalState only there)."""

    TYPE: ClassVar[str] = "AgentLeg"
    agent_leg_id: str | None = None
    status: str | None = None
    final_state: bool | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class AgentError:
    """An error on the agent leg or an outbound call leg (``ContactID`` ``"-1"``: none)."""

    TYPE: ClassVar[str] = "AgentError"
    command: str | None = None
    result_code: str | None = None
    contact_id: str | None = wire("ContactID")
    target: str | None = None
    error_level: str | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class NaturalCallingSkillList:
    """Personal Connection list running low (``empty`` False) or empty (True)."""

    TYPE: ClassVar[str] = "NaturalCallingSkillList"
    empty: bool | None = None
    extra: Mapping[str, Any] = _extra()


# --- contacts -----------------------------------------------------------------------


@_event
class CallContactEvent:
    """A phone call's status changed (inbound, dialer outbound, manual outbound)."""

    TYPE: ClassVar[str] = "CallContactEvent"
    contact_id: str | None = wire("ContactID")
    status: str | None = None
    original_state: bool | None = None
    call_type: str | None = None
    dnis: str | None = wire("DNIS")
    ani: str | None = wire("ANI")
    skill: str | None = None
    is_inbound: bool | None = None
    start_time: datetime | None = wire("StartTimeUTC")
    last_state_change_time: datetime | None = wire("LastStateChangeTimeUTC")
    screen_pop_url: str | None = None
    disconnect_code: str | None = None
    is_logging: bool | None = None
    timeout: int | None = None
    allow_dispositions: bool | None = None
    label: str | None = None
    is_linked: bool | None = None
    time_zones: str | None = None
    final_state: bool | None = None
    other_information: str | None = None
    blending_to_skill_name: str | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class SupervisorContact:
    """The supervisor's own call leg while monitoring an agent (call-shaped)."""

    TYPE: ClassVar[str] = "SupervisorContact"
    contact_id: str | None = wire("ContactID")
    status: str | None = None
    original_state: bool | None = None
    call_type: str | None = None
    dnis: str | None = wire("DNIS")
    ani: str | None = wire("ANI")
    skill: str | None = None
    is_inbound: bool | None = None
    start_time: datetime | None = wire("StartTimeUTC")
    last_state_change_time: datetime | None = wire("LastStateChangeTimeUTC")
    screen_pop_url: str | None = None
    disconnect_code: str | None = None
    is_logging: bool | None = None
    timeout: int | None = None
    allow_dispositions: bool | None = None
    label: str | None = None
    is_linked: bool | None = None
    time_zones: str | None = None
    final_state: bool | None = None
    other_information: str | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class WorkItemContactEvent:
    """A work item's status changed; its payload is an opaque string."""

    TYPE: ClassVar[str] = "WorkItemContactEvent"
    contact_id: str | None = wire("ContactID")
    status: str | None = None
    work_item_id: str | None = None
    work_item_payload: str | None = None
    work_item_type: str | None = None
    agent_id: str | None = None
    skill_id: str | None = None
    start_time: datetime | None = wire("StartTimeUTC")
    last_state_change_time: datetime | None = wire("LastStateChangeTimeUTC")
    screen_pop_url: str | None = None
    screen_pop_url_variables: tuple[Mapping[str, Any], ...] = ()
    refusal_timeout: int | None = None
    final_state: bool | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class ChatMessage:
    """One message of ``ChatContactEvent.Messages``."""

    text: str | None = None
    time_stamp: datetime | None = None
    party_type: str | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class ChatContactEvent:
    """A chat's status changed; ``messages`` carries the transcript so far."""

    TYPE: ClassVar[str] = "ChatContactEvent"
    contact_id: str | None = wire("ContactID")
    room_id: str | None = None
    status: str | None = None
    skill: str | None = None
    start_time: datetime | None = wire("StartTime")
    last_state_change_time: datetime | None = wire("LastStateChangeTime")
    screen_pop_url: str | None = None
    refusal_timeout: int | None = None
    is_active: bool | None = None
    messages: tuple[ChatMessage, ...] = ()
    final_state: bool | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class ChatText:
    """One chat message, matched to its chat by ``RoomId``."""

    TYPE: ClassVar[str] = "ChatText"
    room_id: str | None = None
    label: str | None = None
    message: str | None = None
    party_type: str | None = None
    time_stamp: datetime | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class VoiceMailContactEvent:
    """A voice mail's status changed (Incoming, Active, Holding, Discarded)."""

    TYPE: ClassVar[str] = "VoiceMailContactEvent"
    contact_id: str | None = wire("ContactID")
    status: str | None = None
    skill: str | None = None
    file_name: str | None = None
    start_time: datetime | None = wire("StartTimeUTC")
    last_state_change_time: datetime | None = wire("LastStateChangeTimeUTC")
    final_state: bool | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class DigitalContactEvent:
    """A digital (DFO) contact's status changed."""

    TYPE: ClassVar[str] = "DigitalContactEvent"
    contact_id: str | None = wire("ContactID")
    status: str | None = None
    skill: str | None = None
    is_inbound: bool | None = None
    start_time: datetime | None = wire("StartTimeUTC")
    last_state_change_time: datetime | None = wire("LastStateChangeTimeUTC")
    final_state: bool | None = None
    extra: Mapping[str, Any] = _extra()


# --- on-screen and supervisor -------------------------------------------------------


@_event
class Indicator:
    """An agent-desktop indicator, keyed by ``Name``."""

    TYPE: ClassVar[str] = "Indicator"
    name: str | None = None
    image_uri: str | None = None
    action_type: str | None = None
    action_uri: str | None = None
    tool_tip: str | None = None
    indicator_state: str | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class PageOpen:
    """A scripted page to open for a contact."""

    TYPE: ClassVar[str] = "PageOpen"
    contact_id: str | None = wire("ContactID")
    action: str | None = None
    page_uri: str | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class PopURL:
    """A screen pop URL for a contact (keyed ``ContactId``)."""

    TYPE: ClassVar[str] = "PopURL"
    contact_id: str | None = wire("ContactId")
    url: str | None = wire("URL")
    extra: Mapping[str, Any] = _extra()


@_event
class Mute:
    """The agent's line was muted or unmuted."""

    TYPE: ClassVar[str] = "Mute"
    agent_muted: bool | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class TakeOver:
    """A supervisor took over an agent's contact."""

    TYPE: ClassVar[str] = "TakeOver"
    contact_id: str | None = wire("ContactID")
    take_over_date: datetime | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class SupervisorMonitor:
    """A supervisor started (or, with FinalState / StopMonitor, stopped) monitoring an agent."""

    TYPE: ClassVar[str] = "SupervisorMonitor"
    monitor_start_time: datetime | None = None
    target_agent_id: str | None = None
    final_state: bool | None = None
    monitor_type: str | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class CustomEvent:
    """A tenant-defined event: a name and a string payload."""

    TYPE: ClassVar[str] = "CustomEvent"
    event_name: str | None = wire("eventName")
    data: Any = wire("Data")
    extra: Mapping[str, Any] = _extra()


@_event
class HoursOfOperation:
    """A transfer to a skill outside its hours of operation."""

    TYPE: ClassVar[str] = "HoursOfOperation"
    show_continue_reskill: bool | None = None
    extra: Mapping[str, Any] = _extra()


# --- beyond the documentation: types the official SDK dispatches ----------------------
# stream-facts.md lists these types; their fields are what NICE's agent SDK (25.1.2)
# reads of each. Anything else an event carries stays in ``extra``.


@_event
class VoiceMailPlayBackEvent:
    """The playback of a voice mail (a VoiceMailContactEvent's) was paused or moved."""

    TYPE: ClassVar[str] = "VoiceMailPlayBackEvent"
    contact_id: str | None = wire("ContactId")
    play_back_paused: bool | None = None
    play_back_position: int | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class RunApp:
    """A screen pop that runs an application for a contact (keyed ``ContactId``)."""

    TYPE: ClassVar[str] = "RunApp"
    contact_id: str | None = wire("ContactId")
    action_type: str | None = None
    action_value: str | None = None
    wait_timeout: str | None = None
    """Kept as the wire spells it: the SDK reads it as a string and no source gives its unit."""
    extra: Mapping[str, Any] = _extra()


@_event
class MchAgentSettingsChangeEvent:
    """The agent's multichannel handling settings changed: how many contacts of each
    channel the agent may work at once, and how they are delivered."""

    TYPE: ClassVar[str] = "MchAgentSettingsChangeEvent"
    chat_threshold: int | None = None
    sms_threshold: int | None = None
    email_threshold: int | None = None
    work_item_threshold: int | None = None
    digital_threshold: int | None = None
    voice_threshold: int | None = None
    total_contact_count: int | None = None
    contact_auto_focus: bool | None = None
    request_contact: bool | None = None
    delivery_mode: str | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class AgentAssist:
    """An agent-assist application for a contact; its configuration is a JSON document
    carried as a string, kept as sent."""

    TYPE: ClassVar[str] = "AgentAssist"
    contact_id: str | None = wire("ContactId")
    app_uri: str | None = None
    app_title: str | None = None
    agent_assist_app_config_json: str | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class PromiseKeeper:
    """A scheduled callback (commitment) is due for the agent."""

    TYPE: ClassVar[str] = "PromiseKeeper"
    callback_id: str | None = None
    agent_id: str | None = None
    """The agent who scheduled it; ``"-1"`` when it was set without one."""
    skill_id: str | None = None
    target_type: str | None = None
    callback_time: datetime | None = None
    callback_expire_time: datetime | None = None
    delivery_time: datetime | None = None
    dial_number: str | None = None
    orig_number: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    notes: str | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class PromiseKeeperStatus:
    """The status of the commitment a PromiseKeeper offered."""

    TYPE: ClassVar[str] = "PromiseKeeperStatus"
    status: str | None = None
    extra: Mapping[str, Any] = _extra()


@_event
class Conference:
    """The agent's call became a conference (its number, as the SDK reads it)."""

    TYPE: ClassVar[str] = "Conference"
    conference_no: str | None = None
    extra: Mapping[str, Any] = _extra()


# --- payload-less "refresh your copy of X" signals ------------------------------------


@_event
class UpdatePermissions:
    """Signal: re-read the agent's permissions."""

    TYPE: ClassVar[str] = "UpdatePermissions"
    extra: Mapping[str, Any] = _extra()


@_event
class UpdateUnavailableCodes:
    """Signal: re-read the unavailable codes."""

    TYPE: ClassVar[str] = "UpdateUnavailableCodes"
    extra: Mapping[str, Any] = _extra()


@_event
class UpdateIndicators:
    """Signal: re-read the indicators."""

    TYPE: ClassVar[str] = "UpdateIndicators"
    extra: Mapping[str, Any] = _extra()


@_event
class UpdateMessages:
    """Signal: re-read the agent messages."""

    TYPE: ClassVar[str] = "UpdateMessages"
    extra: Mapping[str, Any] = _extra()


@_event
class UpdateSkills:
    """Signal: re-read the agent's skills."""

    TYPE: ClassVar[str] = "UpdateSkills"
    extra: Mapping[str, Any] = _extra()


@_event
class UpdateDialerCampaigns:
    """Signal: re-read the dialer campaigns."""

    TYPE: ClassVar[str] = "UpdateDialerCampaigns"
    extra: Mapping[str, Any] = _extra()


@_event
class UpdateCallbacks:
    """Signal: re-read the scheduled callbacks."""

    TYPE: ClassVar[str] = "UpdateCallbacks"
    extra: Mapping[str, Any] = _extra()


# --- written by session_fsm, never sent by the platform ------------------------------


@_event
class HttpSessionEnded:
    """Not a platform event: the HTTP answer that ended the session, as a recording holds it.

    ``session-fsm follow --record`` writes one when the poll answers ``409`` (a ``409``
    has no body, and its AgentSessionEnd may have been purged with the queue), and the
    follower applies that same event, so a recording replays to the same end. The engine
    ends the session with it exactly as a ``409`` does (reason ``"409"``). Its ``Type``
    is a dotted name no platform type has.
    """

    TYPE: ClassVar[str] = "session_fsm.HttpSessionEnded"
    http_status: int | None = None
    session_id: str | None = None
    """The API session id that was polled (the one to resume from)."""
    extra: Mapping[str, Any] = _extra()


@_event
class UnknownEvent:
    """Any other ``Type``: normal on a live stream, kept whole, never an error."""

    type: str
    raw: Mapping[str, Any] = attrs.field(factory=dict)


MEDIA_OF: dict[type[Any], str] = {
    CallContactEvent: "call",
    WorkItemContactEvent: "work_item",
    ChatContactEvent: "chat",
    VoiceMailContactEvent: "voicemail",
    DigitalContactEvent: "digital",
    SupervisorContact: "supervisor",
}
"""The contact events and their media: one lifecycle machine per media (the keys of
``machines.contacts.CONTACT_MACHINES``)."""

CONTACT_EVENTS: tuple[type[Any], ...] = tuple(MEDIA_OF)

SIGNAL_EVENTS: tuple[type[Any], ...] = (
    UpdatePermissions,
    UpdateUnavailableCodes,
    UpdateIndicators,
    UpdateMessages,
    UpdateSkills,
    UpdateDialerCampaigns,
    UpdateCallbacks,
)
"""The payload-less signals: only their type (and count) matters."""

NOTED_EVENTS: tuple[type[Any], ...] = (
    VoiceMailPlayBackEvent,
    RunApp,
    MchAgentSettingsChangeEvent,
    AgentAssist,
    PromiseKeeper,
    PromiseKeeperStatus,
    Conference,
)
"""Event types the live stream carries beyond the documentation (``stream-facts.md``) that
the engine keeps for what they say (a ``Noted`` change), without interpreting them."""

KNOWN_EVENTS: tuple[type[Any], ...] = (
    AgentSessionStart,
    AgentSessionEnd,
    RemoteAgentSessionEnd,
    AgentState,
    AgentLeg,
    AgentError,
    NaturalCallingSkillList,
    *CONTACT_EVENTS,
    ChatText,
    Indicator,
    PageOpen,
    PopURL,
    Mute,
    TakeOver,
    SupervisorMonitor,
    CustomEvent,
    HoursOfOperation,
    *SIGNAL_EVENTS,
    *NOTED_EVENTS,
)
"""The platform's event types (what the simulator generates and the codec's tests cover)."""

RECORDER_EVENTS: tuple[type[Any], ...] = (HttpSessionEnded,)
"""Events session_fsm writes into recordings; kept apart from the platform's KNOWN_EVENTS."""

ContactEvent = (
    CallContactEvent
    | SupervisorContact
    | WorkItemContactEvent
    | ChatContactEvent
    | VoiceMailContactEvent
    | DigitalContactEvent
)

Event = (
    AgentSessionStart
    | AgentSessionEnd
    | RemoteAgentSessionEnd
    | AgentState
    | AgentLeg
    | AgentError
    | NaturalCallingSkillList
    | ContactEvent
    | ChatText
    | Indicator
    | PageOpen
    | PopURL
    | Mute
    | TakeOver
    | SupervisorMonitor
    | CustomEvent
    | HoursOfOperation
    | VoiceMailPlayBackEvent
    | RunApp
    | MchAgentSettingsChangeEvent
    | AgentAssist
    | PromiseKeeper
    | PromiseKeeperStatus
    | Conference
    | UpdatePermissions
    | UpdateUnavailableCodes
    | UpdateIndicators
    | UpdateMessages
    | UpdateSkills
    | UpdateDialerCampaigns
    | UpdateCallbacks
    | HttpSessionEnded
    | UnknownEvent
)
"""Every event the codec can produce."""
