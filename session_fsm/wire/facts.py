"""What the engine reads of each event: its *facts*, straight from the wire when it can.

A call event has twenty-odd fields and the engine's transitions read about ten. Building
a typed, frozen event for every line costs several times what parsing the line does, so
for the frequent types the engine reads the fields it needs straight from the wire object
(:func:`session_fsm.wire.codec.field_reader`, which still checks every field as decoding
would) into a small tuple: the facts. Typed events, fed by API users or decoded when the
wire takes the general path, give the very same facts (:func:`facts_of_event`), so the
engine has one handler per type whatever it was fed.

A redelivered event is told from a new one by a digest of its whole wire content
(:func:`wire_digest`), not by its facts: two events that differ only in a field the engine does
not read (a new ``Label``) are not duplicates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from operator import attrgetter
from typing import Any, NamedTuple
from zlib import adler32, crc32

import attrs
import orjson

from . import events as ev
from .codec import field_reader


class StateFacts(NamedTuple):
    """What the agent-state machine reads of an AgentState event."""

    current_state: str | None
    current_out_reason: str | None
    next_states: tuple[ev.NextState, ...]
    start_time: datetime | None
    is_acw: bool | None
    acw_timeout: int | None


class LegFacts(NamedTuple):
    """What the agent-leg machine reads of an AgentLeg event."""

    agent_leg_id: str | None
    status: str | None
    final_state: bool | None


class ContactFacts(NamedTuple):
    """What a contact machine reads of a contact event (None where the media has no such field)."""

    contact_id: str | None
    status: str | None
    final_state: bool | None
    last_state_change_time: datetime | None
    start_time: datetime | None
    skill: str | None
    skill_id: str | None
    is_inbound: bool | None
    call_type: str | None
    is_linked: bool | None
    disconnect_code: str | None
    room_id: str | None
    messages: tuple[ev.ChatMessage, ...] | None
    work_item_id: str | None
    work_item_type: str | None
    work_item_payload: str | None
    file_name: str | None
    # what an agent desktop or CRM connector shows (the snapshot's contact)
    ani: str | None
    dnis: str | None
    screen_pop_url: str | None
    screen_pop_url_variables: tuple[Mapping[str, Any], ...] | None
    other_information: str | None
    blending_to_skill_name: str | None
    refusal_timeout: int | None
    master_id: Any
    """``MasterID``, an undocumented key (no declared field: read from ``extra``)."""


class ChatTextFacts(NamedTuple):
    room_id: str | None
    party_type: str | None
    message: str | None
    time_stamp: datetime | None


class MuteFacts(NamedTuple):
    agent_muted: bool | None


class NoFacts(NamedTuple):
    """A payload-less signal (UpdateSkills...): only its type matters."""


FACTS_OF: dict[type[Any], type[Any]] = {
    ev.AgentState: StateFacts,
    ev.AgentLeg: LegFacts,
    **dict.fromkeys(ev.CONTACT_EVENTS, ContactFacts),
    ev.ChatText: ChatTextFacts,
    ev.Mute: MuteFacts,
    **dict.fromkeys(ev.SIGNAL_EVENTS, NoFacts),
}
"""The types the engine reads as facts; every other type is handled as a typed event."""


EXTRA_FACTS: dict[str, str] = {"master_id": "MasterID"}
"""Facts read from undeclared wire keys (a typed event keeps them in ``extra``)."""


def wire_reader(cls: type[Any]) -> Callable[[Mapping[str, Any]], Any]:
    """The facts of a wire object of ``cls`` (``FACTS_OF[cls]``), or None when the object
    must be decoded first (see :func:`session_fsm.wire.codec.field_reader`)."""
    facts_type = FACTS_OF[cls]
    # tuple.__new__ bound to the facts type: _make without its Python frame (the reader
    # gives exactly one value per field, in order)
    make = partial(tuple.__new__, facts_type)
    return field_reader(cls, facts_type._fields, make, EXTRA_FACTS)


def facts_of_event(event: Any) -> Any:
    """The facts of a typed event: what :func:`wire_reader` reads of its wire form."""
    facts_type = FACTS_OF[type(event)]
    return facts_type._make(
        event.extra.get(EXTRA_FACTS[name]) if name in EXTRA_FACTS
        else getattr(event, name, None) for name in facts_type._fields)


def wire_digest(obj: Mapping[str, Any]) -> int | None:
    """A 64-bit checksum of a wire object's compact JSON, to tell a redelivery from a new event.

    CRC-32 and Adler-32 side by side: stable across processes (a checkpoint carries it),
    about 1 us with the JSON. Two different events of one subject share a digest far
    more rarely than CRC-32's 1 in 2**32 alone; such a pair would be reported as a
    duplicate, never dropped silently.
    None when orjson cannot write the object (an integer past 64 bits, 255 levels of
    nesting): such an event is never taken for a redelivery. ``AgentSession.feed()``
    computes the same inline, as every event pays it (a test holds the two equal).
    """
    try:
        data = orjson.dumps(obj)
    except TypeError:
        return None
    return _checksum(data)


def event_digest(event: Any) -> int | None:
    """The digest of a typed event: of its type and field values, in declaration order.

    Not the digest of its wire form (encoding it costs ten times as much): a stream is
    fed as wire objects or as typed events, and a redelivery is told within each form.
    """
    try:
        data = orjson.dumps((type(event).__name__, _values(event)), default=_values)
    except TypeError:
        return None
    return _checksum(data)


def _checksum(data: bytes) -> int:
    return crc32(data) | adler32(data) << 32


def _values(value: Any) -> tuple[Any, ...]:
    """An attrs instance's field values (nested entries: NextState, ChatMessage)."""
    get = _GETTERS.get(type(value))
    if get is None:
        if not attrs.has(type(value)):
            raise TypeError(f"cannot digest {type(value).__name__}")
        # every event has at least `extra`; attrgetter gives a tuple only for two names
        getter = attrgetter(*(field.name for field in attrs.fields(type(value))))
        one = len(attrs.fields(type(value))) == 1
        get = _GETTERS[type(value)] = (lambda obj: (getter(obj),)) if one else getter
    found: tuple[Any, ...] = get(value)
    return found


_GETTERS: dict[type[Any], Callable[[Any], Any]] = {}
