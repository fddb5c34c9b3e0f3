"""Hypothesis strategies for events: typed values, and wire objects as the live stream
spells them (any key casing, string booleans, extra keys). Shared by the codec's and the
fast reader's property tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, get_args, get_origin

import attrs
from hypothesis import strategies as st

from session_fsm.wire.events import KNOWN_EVENTS, UnknownEvent, wire_name

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
ms_datetimes = st.datetimes(timezones=st.just(UTC)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
)
id_strings = st.integers(min_value=0, max_value=2**70).map(str)
# Wire integers have at most 18 digits (codec.MAX_INT_DIGITS); IDs are strings, unbounded.
wire_integers = st.integers(min_value=-(10**18 - 1), max_value=10**18 - 1)
KNOWN_TYPES_FOLDED = frozenset(cls.TYPE.lower() for cls in KNOWN_EVENTS)


def declared(cls: type[Any]) -> list[attrs.Attribute[Any]]:
    attrs.resolve_types(cls)
    return [f for f in attrs.fields(cls) if f.name != "extra"]


def extra_keys(cls: type[Any]) -> st.SearchStrategy[str]:
    """Keys that cannot be mistaken for a declared wire name (nor ``Type``, on an event)."""
    reserved = {wire_name(f).lower() for f in declared(cls)}
    if hasattr(cls, "TYPE"):
        reserved.add("type")
    return (
        st.text(min_size=1, max_size=12) | st.sampled_from(["IISHost", "MasterID", "CustomData"])
    ).filter(lambda key: key.lower() not in reserved)


def extras(cls: type[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(extra_keys(cls), json_values, max_size=3)


def typed_values(annotation: Any) -> st.SearchStrategy[Any]:
    """Python-side values of a declared field type (what a decoded event may hold)."""
    if annotation == (str | None):
        return st.none() | st.text(max_size=20) | id_strings
    if annotation == (bool | None):
        return st.none() | st.booleans()
    if annotation == (int | None):
        return st.none() | wire_integers
    if annotation == (datetime | None):
        return st.none() | ms_datetimes
    if annotation is Any:
        return json_values
    if get_origin(annotation) is tuple:
        element, ellipsis = get_args(annotation)
        assert ellipsis is Ellipsis
        if attrs.has(element):
            return st.lists(instances(element), max_size=3).map(tuple)
        if element == Mapping[str, Any]:
            objects = st.dictionaries(st.text(max_size=8), json_values, max_size=3)
            return st.lists(objects, max_size=3).map(tuple)
    raise TypeError(f"no strategy for {annotation!r}: teach wire_strategies.typed_values")


def instances(cls: type[Any]) -> st.SearchStrategy[Any]:
    fields = {f.name: typed_values(f.type) for f in declared(cls)}
    return st.builds(cls, **fields, extra=extras(cls))


unknown_events = st.builds(
    lambda type_name, raw: UnknownEvent(type=type_name, raw={"Type": type_name, **raw}),
    st.text(min_size=1, max_size=20).filter(lambda t: t.lower() not in KNOWN_TYPES_FOLDED),
    st.dictionaries(st.text(max_size=8).filter(lambda k: k != "Type"), json_values, max_size=3),
)


def casings(name: str) -> st.SearchStrategy[str]:
    flips = st.lists(st.booleans(), min_size=len(name), max_size=len(name))
    return st.just(name) | flips.map(
        lambda up: "".join(c.upper() if u else c.lower() for c, u in zip(name, up, strict=True))
    )


BOOL_SPELLINGS = ["True", "true", "TRUE", "False", "false", "FALSE", True, False, "", None]


def wire_times(d: datetime) -> st.SearchStrategy[str]:
    return st.sampled_from(
        [
            d.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            d.isoformat(timespec="milliseconds"),
            d.isoformat(timespec="seconds").replace("+00:00", "Z"),
            d.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        ]
    )


def wire_values(annotation: Any) -> st.SearchStrategy[Any]:
    """Wire-side spellings of a declared field type, as the live stream sends them."""
    if annotation == (str | None):
        return st.none() | st.text(max_size=20) | id_strings | st.integers(0, 2**64)
    if annotation == (bool | None):
        return st.sampled_from(BOOL_SPELLINGS)
    if annotation == (int | None):
        return st.none() | st.just("") | wire_integers | wire_integers.map(str)
    if annotation == (datetime | None):
        return st.none() | st.just("") | st.datetimes(timezones=st.just(UTC)).flatmap(wire_times)
    if annotation is Any:
        return json_values
    if get_origin(annotation) is tuple:
        element, _ = get_args(annotation)
        if attrs.has(element):
            return st.lists(wire_objects(element).map(lambda pair: pair[0]), max_size=3)
        if element == Mapping[str, Any]:
            objects = st.dictionaries(st.text(max_size=8), json_values, max_size=3)
            return st.lists(objects, max_size=3)
    raise TypeError(f"no wire strategy for {annotation!r}: teach wire_strategies.wire_values")


def wire_objects(cls: type[Any]) -> st.SearchStrategy[tuple[dict[str, Any], dict[str, Any]]]:
    """(a wire object of cls in random key casing, the extra keys it holds)."""

    @st.composite
    def build(
        draw: Callable[[st.SearchStrategy[Any]], Any],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        obj: dict[str, Any] = {}
        if hasattr(cls, "TYPE"):
            key = draw(st.sampled_from(["Type", "type"]))
            obj[key] = draw(st.sampled_from([cls.TYPE, cls.TYPE.lower(), cls.TYPE.upper()]))
        for field in declared(cls):
            if draw(st.booleans()):
                obj[draw(casings(wire_name(field)))] = draw(wire_values(field.type))
        added = draw(extras(cls))
        obj.update(added)
        return obj, added

    return build()
