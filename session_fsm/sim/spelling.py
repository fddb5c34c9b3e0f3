"""How the simulator spells an event on the wire, beyond what the codec writes.

:func:`session_fsm.wire.codec.encode` writes one canonical form: ``Type``, ``"True"`` /
``"False"``, each key as documented, unset fields left out. The live stream is not that
tidy (stream-facts.md, "Values and casing"), and the simulator copies it on purpose:
the tag spelled ``type``, booleans lower-case or as JSON booleans, another casing of a
key (``IsACW``, ``data``), and keys the documentation's examples write empty
(``"Timeout": ""``, ``"NextStates": []``), which a typed event can only leave unset.
:func:`spelled` encodes an event and applies those choices; every value still decodes
to the same typed event.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final, NamedTuple

import attrs

from ..wire.codec import encode
from ..wire.events import (
    KNOWN_EVENTS,
    AgentSessionStart,
    AgentState,
    CallContactEvent,
    Event,
    SupervisorContact,
    wire_name,
)


class Spelling(NamedTuple):
    """The key of an event's tag, and how its booleans are written."""

    tag: str
    true: Any
    false: Any


PLAIN: Final = Spelling("Type", "True", "False")
"""The documentation's spelling, which :func:`encode` writes."""
QUIRKS: Final = (
    Spelling("Type", "true", "false"),
    Spelling("Type", True, False),
    Spelling("type", "True", "False"),
    Spelling("Type", "true", "false"),
    Spelling("Type", True, False),
)
"""What the live stream does now and then (stream-facts.md "Values and casing")."""

# The documentation's examples write these keys empty; a typed event leaves them unset,
# and encode leaves unset fields out, so they are put back in their documented place.
_DOCUMENTED_EMPTY: Final[dict[type[Any], dict[str, Any]]] = {
    AgentSessionStart: {"HideAgentStatePermission": ""},
    AgentState: {"NextStates": []},
    CallContactEvent: {"Timeout": ""},
    SupervisorContact: {"Timeout": ""},
}


@attrs.frozen(slots=True, eq=False)  # one per class: hashed by identity, for _order
class _Layout:
    """One event class's wire keys, as :func:`spelled` reads them."""

    keys: tuple[str, ...]  # the tag, then the declared fields' keys (encode's order)
    booleans: frozenset[str]
    empty: Mapping[str, Any]


def _layout(cls: type[Any]) -> _Layout:
    attrs.resolve_types(cls)
    fields = [field for field in attrs.fields(cls) if field.name != "extra"]
    return _Layout(("Type", *(wire_name(field) for field in fields)),
                   frozenset(wire_name(field) for field in fields if field.type == bool | None),
                   _DOCUMENTED_EMPTY.get(cls, {}))


_LAYOUTS: Final = {cls: _layout(cls) for cls in KNOWN_EVENTS}
# An UnknownEvent encodes to its raw object: past the tag, every key is its own.
_RAW: Final = _Layout(("Type",), frozenset(), {})


@lru_cache(maxsize=64)  # a class's encoded shapes: with or without its few extras
def _order(layout: _Layout, shape: tuple[str, ...]) -> tuple[str, ...]:
    """The keys of an encoded event with keys ``shape``, the documented empties in their
    place; extras (encode writes them last) stay last."""
    present = [key for key in layout.keys if key in shape or key in layout.empty]
    return (*present, *(key for key in shape if key not in layout.keys))


def spelled(event: Event, spelling: Spelling, *, values: Spelling | None = None,
            renames: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``event``'s wire object: :func:`encode`'s, with the documentation's empty keys
    where encode left them out, the tag and the booleans as ``spelling`` has them (the
    booleans as ``values`` has them, when the event's value was spelled apart from its
    tag) and keys renamed by ``renames`` (``{"IsAcw": "IsACW"}``), each in its place."""
    wire = encode(event)
    layout = _LAYOUTS.get(type(event), _RAW)
    empty = layout.empty
    if empty and not empty.keys() <= wire.keys():
        # the keys in their order first; updating a key keeps its place
        filled = dict.fromkeys(_order(layout, tuple(wire)))
        filled.update(empty)
        filled.update(wire)
        wire = filled
    values = values or spelling
    if spelling is PLAIN and values is PLAIN and not renames:
        return wire
    names = {"Type": spelling.tag, **(renames or {})}
    booleans = layout.booleans if values is not PLAIN else frozenset()
    swap = {"True": values.true, "False": values.false}
    return {names.get(key, key): swap.get(value, value) if key in booleans else value
            for key, value in wire.items()}
