"""One simulated contact: the fields that stay the same over its life, its status, and
the typed event each media writes for a status (calls and a supervisor's leg share the
call's shape; chats carry their transcript; work items their payload)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from ..wire.events import (
    CallContactEvent,
    ChatContactEvent,
    ChatMessage,
    ContactEvent,
    DigitalContactEvent,
    SupervisorContact,
    VoiceMailContactEvent,
    WorkItemContactEvent,
)

_WORK_ITEM_PAYLOAD: Final = '{"queries":[{"query":"SELECT ID FROM case WHERE Priority=\'Low\'"}]}'


@attrs.define(slots=True)
class Contact:
    """One contact the agent has: the wire fields that do not change, and its status."""

    contact_id: str
    media: str
    skill: str
    started: datetime
    agent_id: str
    extra: Mapping[str, Any]  # undocumented fields its events carry (MasterID, IISHost...)
    changed: datetime | None = None
    status: str = ""
    is_linked: bool = False
    is_inbound: bool | None = None
    call_type: str | None = None
    dnis: str = ""
    ani: str = ""
    other: str = ""
    room_id: str = ""
    messages: list[ChatMessage] = attrs.Factory(list)
    acw: int | None = None

    def event(self, *, final: bool, code: str) -> ContactEvent:
        """The event of its current status (``code``: a call's DisconnectCode)."""
        return _EVENTS[self.media](self, final, code)


def _call(c: Contact, final: bool, code: str) -> CallContactEvent | SupervisorContact:
    shared: dict[str, Any] = {
        "contact_id": c.contact_id, "status": c.status, "original_state": False,
        "call_type": c.call_type, "dnis": c.dnis, "ani": c.ani, "skill": c.skill,
        "is_inbound": bool(c.is_inbound), "start_time": c.started,
        "last_state_change_time": c.changed, "screen_pop_url": "", "disconnect_code": code,
        "is_logging": False, "label": "", "is_linked": c.is_linked, "time_zones": "",
        "final_state": final, "other_information": c.other, "extra": c.extra,
    }
    if c.media == "supervisor":
        return SupervisorContact(**shared, allow_dispositions=False)
    return CallContactEvent(**shared, allow_dispositions=True, blending_to_skill_name="")


def _chat(c: Contact, final: bool, _: str) -> ChatContactEvent:
    return ChatContactEvent(
        contact_id=c.contact_id, room_id=c.room_id, status=c.status, skill=c.skill,
        start_time=c.started, last_state_change_time=c.changed, screen_pop_url="",
        refusal_timeout=45, is_active=c.status != "Disconnected", messages=tuple(c.messages),
        final_state=final, extra=c.extra)


def _work_item(c: Contact, final: bool, _: str) -> WorkItemContactEvent:
    cid = c.contact_id
    return WorkItemContactEvent(
        contact_id=cid, status=c.status, work_item_id=str(int(cid) % 100_000),
        work_item_payload=_WORK_ITEM_PAYLOAD, work_item_type="Case", agent_id=c.agent_id,
        skill_id=c.skill, start_time=c.started, last_state_change_time=c.changed,
        screen_pop_url=f"https://crm.example.com/case?id={cid}",
        screen_pop_url_variables=({"caseId": cid},), refusal_timeout=45, final_state=final,
        extra=c.extra)


def _voicemail(c: Contact, final: bool, _: str) -> VoiceMailContactEvent:
    return VoiceMailContactEvent(
        contact_id=c.contact_id, status=c.status, skill=c.skill,
        file_name=f"voicemail/{c.contact_id}.wav", start_time=c.started,
        last_state_change_time=c.changed, final_state=final, extra=c.extra)


def _digital(c: Contact, final: bool, _: str) -> DigitalContactEvent:
    return DigitalContactEvent(
        contact_id=c.contact_id, status=c.status, skill=c.skill, is_inbound=bool(c.is_inbound),
        start_time=c.started, last_state_change_time=c.changed, final_state=final,
        extra=c.extra)


_EVENTS: Final[dict[str, Callable[[Contact, bool, str], ContactEvent]]] = {
    "call": _call,
    "supervisor": _call,
    "chat": _chat,
    "work_item": _work_item,
    "voicemail": _voicemail,
    "digital": _digital,
}
