"""The wire codec: CXone event JSON objects <-> typed events, through one cattrs converter.

What the live stream does that the documentation leaves out is handled here and only
here: booleans as ``"True"``/``"false"``/real JSON booleans, integers as strings,
``""`` as unset, ``Z`` timestamps, key casing (``IsACW``/``IsAcw``, ``Type``/``type``)
and fields nobody documented (kept in ``extra``). :func:`decode` dispatches on ``Type``
through a dict (the tag itself may be spelled ``type``); cattrs' generated functions do
the per-field work, with the hooks below for the wire's scalar conventions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.errors import ClassValidationError, IterableValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ..errors import FieldError, NotAnEventError
from .events import (
    KNOWN_EVENTS,
    RECORDER_EVENTS,
    ChatMessage,
    Event,
    NextState,
    UnknownEvent,
    wire_name,
)

_EXTRA: Final = "\x00extra"  # where extras travel through cattrs; no wire key looks like it
MAX_INT_DIGITS: Final = 18
"""The most digits a wire integer may have. The wire's integers are seconds (AcwTimeout,
RefusalTimeout, Timeout), a permission level and an HTTP status: a few digits. 18 digits
always fit a signed 64-bit integer, which orjson writes (checkpoints, digests) and SQLite
stores; and the bound is checked before ``int()``, whose work grows with the length and
which refuses strings of over 4,300 digits with a bare ValueError."""
_INT_LIMIT: Final = 10**MAX_INT_DIGITS
# ASCII digits only: str.isdigit() takes "²"
_INTEGER: Final = re.compile(rf"[+-]?[0-9]{{1,{MAX_INT_DIGITS}}}")
_EXPECTED_INT: Final = f"an integer (a string of at most {MAX_INT_DIGITS} digits)"
_BOOL_WORDS: Final[dict[Any, bool | None]] = {
    "True": True, "False": False, "true": True, "false": False, "": None,
}


class _ExpectedError(ValueError):
    """Raised by a scalar hook; the codec turns it into a :class:`FieldError` with the field."""

    def __init__(self, expected: str, value: Any) -> None:
        self.expected = expected
        self.value = value
        super().__init__(expected)


# --- scalar hooks --------------------------------------------------------------------


def parse_bool(value: Any, _: Any = None) -> bool | None:
    """``"True"``/``"false"``/``true`` -> bool, ``""``/None -> None (case-insensitive)."""
    # The wire's usual spellings in one lookup; anything else (a real JSON boolean,
    # "TRUE", " True", a wrong value) takes the general path below.
    try:
        return _BOOL_WORDS[value]
    except (KeyError, TypeError):  # TypeError: an unhashable value (an object, an array)
        pass
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        folded = value.strip().lower()
        if folded == "true":
            return True
        if folded == "false":
            return False
        if folded == "":
            return None
    raise _ExpectedError('a boolean ("True" or "False")', value)


def parse_int(value: Any, _: Any = None) -> int | None:
    """``"45"``/``45`` -> 45, ``""``/None -> None; at most :data:`MAX_INT_DIGITS` digits.

    The one place a wire integer becomes an ``int``: decoding and the engine's field
    reader both call it.
    """
    if (type(value) is str and len(value) <= MAX_INT_DIGITS and value.isdigit()
            and value.isascii()):  # the usual "45"
        return int(value)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if -_INT_LIMIT < value < _INT_LIMIT:
            return value
    elif isinstance(value, str):
        text = value.strip()
        if text == "":
            return None
        if _INTEGER.fullmatch(text):
            return int(text)
    raise _ExpectedError(_EXPECTED_INT, value)


def parse_time(value: Any, _: Any = None) -> datetime | None:
    """ISO 8601 -> aware UTC datetime (naive times are UTC: the platform sends UTC)."""
    if type(value) is str:
        # The wire's own form ("...Z") needs neither stripping nor a time-zone change.
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is UTC:
                return parsed
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip() == "":
            return None
        try:
            parsed = datetime.fromisoformat(value.strip())
            if parsed.tzinfo is None:
                return parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
        except (ValueError, OverflowError):  # OverflowError: "0001-01-01T00:00+01:00"
            pass
    raise _ExpectedError('an ISO 8601 timestamp ("2013-09-10T20:05:37.000Z")', value)


def parse_str(value: Any, _: Any = None) -> str | None:
    """Strings stay as they are; bare JSON integers (IDs sent unquoted) become strings."""
    if type(value) is str or value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise _ExpectedError("a string", value)


def format_time(value: datetime) -> str:
    """The wire's timestamp form: UTC, milliseconds, ``Z``.

    Microseconds are written only when a value has them (the wire never sends them, but
    a wire that did must not lose them on a round trip).
    """
    value = value.astimezone(UTC)
    # %Y does not pad years below 1000 ("5-01-01"), which fromisoformat cannot read back
    fraction = f"{value.microsecond:06d}"
    if fraction.endswith("000"):
        fraction = fraction[:3]
    return f"{value.year:04d}-{value:%m-%dT%H:%M:%S}.{fraction}Z"


def _mapping(value: Any, _: Any = None) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    raise _ExpectedError("an object", value)


# --- the converter -------------------------------------------------------------------


def _is(declared: Any) -> Callable[[Any], bool]:
    return lambda annotation: bool(annotation == declared)


def _passthrough(value: Any, _: Any = None) -> Any:
    return value


# Two converters with the same hooks: `converter` (detailed validation) explains a bad
# value with its field path; `_fast` decodes the good ones, which are nearly all, without
# the bookkeeping. decode() tries _fast first and asks `converter` only on failure.
converter = cattrs.Converter(detailed_validation=True)
_fast = cattrs.Converter(detailed_validation=False)
_SCALAR_HOOKS: tuple[tuple[Any, Callable[[Any, Any], Any]], ...] = (
    (bool | None, parse_bool),
    (int | None, parse_int),
    (datetime | None, parse_time),
    (str | None, parse_str),
)
for _conv in (converter, _fast):
    for _optional, _hook in _SCALAR_HOOKS:
        _conv.register_structure_hook_func(_is(_optional), _hook)
    _conv.register_structure_hook_func(_is(Mapping[str, Any]), _mapping)
    _conv.register_structure_hook_func(lambda t: t is Any, _passthrough)


def _format_bool(value: bool | None) -> str | None:
    return None if value is None else ("True" if value else "False")


def _format_int(value: int | None) -> str | None:
    return None if value is None else str(value)


def format_optional_time(value: datetime | None) -> str | None:
    """The wire's timestamp form, or None for no time (JSON ``null``)."""
    return None if value is None else format_time(value)


def _as_list(value: tuple[Any, ...]) -> list[Any]:
    return list(value)


# Per-field wire formatting, chosen by the field's declared type: extras and free-form
# payloads pass through untouched, whatever scalars they hold.
_FORMATTERS: list[tuple[Any, Callable[[Any], Any]]] = [
    (bool | None, _format_bool),
    (int | None, _format_int),
    (datetime | None, format_optional_time),
    (Any, _passthrough),
    (Mapping[str, Any], _passthrough),
    (tuple[Mapping[str, Any], ...], _as_list),
]


def _formatter(annotation: Any) -> Callable[[Any], Any] | None:
    return next((fmt for declared, fmt in _FORMATTERS if declared == annotation), None)


_STRUCTURE: dict[type[Any], Callable[..., Any]] = {}
_STRUCTURE_FAST: dict[type[Any], Callable[..., Any]] = {}
_UNSTRUCTURE: dict[type[Any], Callable[[Any], dict[str, Any]]] = {}


def _register(cls: type[Any]) -> None:
    """Generate cls's structure/unstructure functions with its wire names and extras."""
    attrs.resolve_types(cls)
    fields = [f for f in attrs.fields(cls) if f.name != "extra"]
    canonical = {wire_name(f).lower(): wire_name(f) for f in fields}
    is_event = hasattr(cls, "TYPE")
    renames = {f.name: override(rename=wire_name(f)) for f in fields}
    renames["extra"] = override(rename=_EXTRA)
    # Keys spelled exactly as documented (the usual case) need no renaming at all.
    documented = frozenset(canonical.values()) | ({"Type"} if is_event else set())
    formats = {
        f.name: override(rename=wire_name(f), unstruct_hook=fmt)
        for f in fields
        if (fmt := _formatter(f.type)) is not None
    }
    formats["extra"] = override(rename=_EXTRA, unstruct_hook=_passthrough)

    def structure_with(conv: cattrs.Converter) -> Callable[..., Any]:
        generated = make_dict_structure_fn(cls, conv, **renames)  # type: ignore[arg-type]

        def structure(obj: Mapping[str, Any], _: Any = None) -> Any:
            if type(obj) is not dict and not isinstance(obj, Mapping):
                raise _ExpectedError("an object", obj)
            if obj.keys() <= documented:
                return generated(obj, cls)
            return generated(_with_extras(obj), cls)

        return structure

    def _with_extras(obj: Mapping[str, Any]) -> Mapping[str, Any]:
        """``obj`` with its extras under ``_EXTRA``; renamed by ``_normalized`` only when
        some key is another spelling of a field (``IsACW``, ``type``).

        The generated function reads the documented keys and ignores the rest, so when
        every other key is a true extra (``MasterID``, ``IISHost``...: the usual case)
        the object needs no renaming, only its extras beside it.
        """
        odd = obj.keys() - documented
        for key in odd:
            folded = key.lower()
            if folded in canonical or (is_event and key == "type"):
                return _normalized(obj)
        if len(odd) == 1:
            extra = {key: obj[key] for key in odd}
        else:  # in the wire's order, as _normalized keeps them
            extra = {key: value for key, value in obj.items() if key in odd}
        return {**obj, _EXTRA: extra}

    def _normalized(obj: Mapping[str, Any]) -> dict[str, Any]:
        known: dict[str, Any] = {}
        spelled: dict[str, str] = {}
        extra: dict[str, Any] = {}
        # the tag decode() dispatched on is consumed; any other spelling of it ("TYPE",
        # or "type" beside "Type") is data the wire sent, kept like every extra
        tag = ("Type" if "Type" in obj else "type") if is_event else None
        for key, value in obj.items():
            name = canonical.get(key.lower())
            if name is None:
                if key != tag:
                    extra[key] = value
            elif name not in known:
                known[name] = value
                spelled[name] = key
            elif key == name:
                # Two spellings of one field (IsACW and IsAcw): the canonical one wins
                # whatever the key order, the other is kept in extra. Encoding writes the
                # canonical key, so the extra can never overwrite it on a round trip.
                extra[spelled[name]] = known[name]
                known[name] = value
                spelled[name] = key
            else:
                extra[key] = value
        known[_EXTRA] = extra
        return known

    overrides: dict[str, Any] = {**renames, **formats}
    unstructure_fields = make_dict_unstructure_fn(
        cls, converter, _cattrs_omit_if_default=True, **overrides
    )
    # Every field in wire form, unset: written out for a field that was left unset but
    # whose other spelling is in extra, or decoding the result would pick up the extra.
    blank = make_dict_unstructure_fn(cls, converter, **overrides)(cls())

    def unstructure(obj: Any) -> dict[str, Any]:
        plain = unstructure_fields(obj)
        extra = plain.pop(_EXTRA, None)
        wire = {"Type": cls.TYPE, **plain} if is_event else plain
        if extra:
            for key in extra:
                name = canonical.get(key.lower())
                if name is not None and name not in wire:
                    wire[name] = blank[name]
            wire.update(extra)
        return wire

    for conv, registry in ((converter, _STRUCTURE), (_fast, _STRUCTURE_FAST)):
        registry[cls] = structure_with(conv)
        conv.register_structure_hook(cls, registry[cls])
    converter.register_unstructure_hook(cls, unstructure)
    _UNSTRUCTURE[cls] = unstructure


_SHARED_NEXT_STATES: dict[tuple[str, str], NextState] = {}
_SHARED_NEXT_STATES_MAX: Final = 4096  # a tenant has tens of states x out reasons, not more
_NEXT_STATE_KEYS: Final = frozenset({"State", "OutReason"})


def _shared_next_state(obj: Any) -> NextState:
    """One NextStates entry; entries spelled as documented share one frozen value.

    Nearly every AgentState event repeats the same few (state, out reason) pairs, and
    the agent's record, its next-state history and every snapshot keep them: decoding
    each pair once saves both the work and the copies. Anything else (extras, other
    spellings, bad values) is decoded as usual, and fails as usual.
    """
    if type(obj) is dict and obj.keys() == _NEXT_STATE_KEYS:
        state, reason = obj["State"], obj["OutReason"]
        if type(state) is str and type(reason) is str:
            found = _SHARED_NEXT_STATES.get((state, reason))
            if found is None:
                if len(_SHARED_NEXT_STATES) >= _SHARED_NEXT_STATES_MAX:
                    _SHARED_NEXT_STATES.clear()
                found = _SHARED_NEXT_STATES[state, reason] = _STRUCTURE_FAST[NextState](obj)
            return found
    structured: NextState = _STRUCTURE_FAST[NextState](obj)
    return structured


def _fast_tuple_of(element: type[Any]) -> Callable[[Any, Any], tuple[Any, ...]]:
    """``tuple[element, ...]`` (NextStates, Messages) from a JSON array, for ``_fast``.

    cattrs' generic tuple hook checks the type of every item's structuring on each call;
    this one calls the element's function directly. Anything but a list raises, and
    decode() then asks the detailed converter, which gives the answer it always gave.
    """
    structure_element = _shared_next_state if element is NextState else _STRUCTURE_FAST[element]

    def structure_tuple(value: Any, _: Any = None) -> tuple[Any, ...]:
        if type(value) is not list:
            raise _ExpectedError("an array", value)
        return tuple([structure_element(item) for item in value])

    return structure_tuple


# Nested classes first: the events' generated functions take their hooks as they stand.
_NESTED: tuple[type[Any], ...] = (NextState, ChatMessage)
for _cls in _NESTED:
    _register(_cls)
    _fast.register_structure_hook_func(_is(tuple[_cls, ...]), _fast_tuple_of(_cls))  # type: ignore[valid-type]
# The recorder's own events (HttpSessionEnded) are read and written like the platform's.
_EVENTS: tuple[type[Any], ...] = (*KNOWN_EVENTS, *RECORDER_EVENTS)
for _cls in _EVENTS:
    _register(_cls)

EVENT_TYPES: Final[dict[str, type[Any]]] = {cls.TYPE: cls for cls in _EVENTS}
_EVENT_TYPES_FOLDED: Final = {name.lower(): cls for name, cls in EVENT_TYPES.items()}


# --- reading fields straight from the wire ------------------------------------------------

_MISSING: Final = object()
_T = TypeVar("_T")
_STR_KINDS: Final = frozenset({str, type(None)})
# The wire's usual booleans; a real JSON true (hash-equal to 1) takes decode()'s path.
_BOOL_STRINGS: Final = frozenset({*_BOOL_WORDS, None})
_ACCEPTED_MAX: Final = 1024  # extra keys remembered per type; past that, checked each time


def _fast_structured(annotation: Any) -> Callable[[Any], Any]:
    hook = _fast.get_structure_hook(annotation)

    def structure(value: Any) -> Any:
        try:
            return hook(value, annotation)
        except Exception:  # decode() takes it and says what is wrong
            return _MISSING

    return structure


def field_reader(
    cls: type[Any],
    names: tuple[str, ...],
    make: Callable[[list[Any]], _T] = tuple,  # type: ignore[assignment]
    extra_keys: Mapping[str, str] | None = None,
) -> Callable[[Mapping[str, Any]], _T | None]:
    """A reader of the fields ``names`` of ``cls`` straight from a wire object.

    The engine needs a few fields of each event, not a typed object with every one: the
    reader checks *every* field of the object as :func:`decode` would, converts only
    ``names``, and returns ``make`` of their values in that order (None for a name
    ``cls`` does not have, as ``getattr(event, name, None)`` gives; ``make`` is ``tuple``
    unless given). It takes the usual case, keys spelled as documented and the wire's
    usual values, and keys in another casing (``IsACW``) when each field is spelled once;
    for anything else (a field spelled twice, an integer ID, a value decode() would
    reject) it returns None, and the caller decodes, which converts or raises
    exactly as always. So whenever it answers, it answers ``make([getattr(decode(obj),
    name, None) for name in names])`` (property-tested). The object's ``Type`` is not
    checked: the caller dispatched on it.
    """
    attrs.resolve_types(cls)
    fields = {f.name: f for f in attrs.fields(cls) if f.name != "extra"}
    documented = frozenset({wire_name(f) for f in fields.values()} | {"Type"})
    respelled = frozenset({key.lower() for key in documented} | {"type"})
    canonical = {wire_name(f).lower(): wire_name(f) for f in fields.values()}
    # The documented keys and the extra keys seen so far that are no other spelling of
    # a field (MasterID, IISHost...): whether a key is one is a property of the key alone,
    # and most objects of a type carry the same few, so the check is one subset test.
    accepted = set(documented)
    str_keys: list[str] = []
    bool_keys: list[str] = []
    int_keys: list[str] = []
    time_keys: list[str] = []
    # nested fields (NextStates, Messages...): checked and converted by the _fast hooks
    structured_keys: list[tuple[str, Callable[[Any], Any], Any]] = []
    for field in fields.values():
        key = wire_name(field)
        if field.type == str | None:
            str_keys.append(key)
        elif field.type == bool | None:
            bool_keys.append(key)
        elif field.type == int | None:
            int_keys.append(key)
        elif field.type == datetime | None:
            time_keys.append(key)
        else:
            structured_keys.append((key, _fast_structured(field.type), field.default))
    # Wanted values are gathered in one map() (a name cls lacks reads a key no object
    # has: None), then the few booleans and converted values are put in place.
    absent = "\x00absent"
    # a name cls does not declare may name an undeclared key to read as it is
    # (``extra_keys``: MasterID, which any event may carry, goes to ``extra`` on decode)
    wanted_keys = tuple(wire_name(fields[n]) if n in fields
                        else (extra_keys or {}).get(n, absent) for n in names)
    wanted_bools = tuple(i for i, key in enumerate(wanted_keys) if key in bool_keys)
    at = {key: i for i, key in enumerate(wanted_keys) if key != absent}
    ints = tuple((key, at.get(key)) for key in int_keys)
    times = tuple((key, at.get(key)) for key in time_keys)
    structured = tuple((key, at.get(key), convert, default)
                       for key, convert, default in structured_keys)

    from_iso = datetime.fromisoformat

    def respell(obj: Mapping[str, Any]) -> dict[str, Any] | None:
        """``obj`` with each field under its documented key, as decode()'s renaming puts
        it; None when a field is spelled twice (decode keeps one, the other as extra)."""
        renamed: dict[str, Any] = {}
        for key, value in obj.items():
            name = canonical.get(key.lower(), key)
            if name in renamed:
                return None
            renamed[name] = value
        return renamed

    def read(obj: Mapping[str, Any]) -> _T | None:
        keys = obj.keys()
        if not keys <= accepted:
            odd = keys - accepted
            if any(key.lower() in respelled for key in odd):
                found = respell(obj)
                if found is None:
                    return None
                obj = found
            elif len(accepted) < _ACCEPTED_MAX:
                accepted.update(odd)
        get = obj.get
        if str_keys and not _STR_KINDS.issuperset(map(type, map(get, str_keys))):
            return None
        if bool_keys:
            try:
                if not _BOOL_STRINGS.issuperset(map(get, bool_keys)):
                    return None
            except TypeError:  # an unhashable value (an array, an object)
                return None
        values = list(map(get, wanted_keys))
        for index in wanted_bools:
            value = values[index]
            values[index] = _BOOL_WORDS.get(value, value)
        # Integers and timestamps inline (no call per field, every event pays it):
        # absent, null and "" are unset; a digit string within parse_int()'s bound or a
        # "...Z" timestamp is the usual value; anything else (a bare number, more digits,
        # an offset, a bad value) is decode()'s, which bounds and names it.
        for key, slot in ints:
            value = get(key)
            if value:
                if type(value) is not str or len(value) > MAX_INT_DIGITS \
                        or not (value.isdigit() and value.isascii()):
                    return None
                value = int(value)
            elif value is not None and value != "":
                return None
            else:
                value = None
            if slot is not None:
                values[slot] = value
        for key, slot in times:
            value = get(key)
            if value:
                if type(value) is not str:
                    return None
                try:
                    value = from_iso(value)
                except ValueError:
                    return None
                if value.tzinfo is not UTC:
                    return None
            elif value is not None and value != "":
                return None
            else:
                value = None
            if slot is not None:
                values[slot] = value
        for key, slot, convert, default in structured:
            value = get(key, _MISSING)
            value = default if value is _MISSING else convert(value)
            if value is _MISSING:
                return None
            if slot is not None:
                values[slot] = value
        return make(values)

    return read


# --- entry points --------------------------------------------------------------------


def event_type_of(obj: Mapping[str, Any]) -> Any:
    """The ``Type`` (or ``type``) of a wire object, None if it has none."""
    found = obj.get("Type")
    if found is None:
        found = obj.get("type")
    return found


def decode(obj: Any) -> Event:
    """A wire object -> its typed event.

    Raises :class:`NotAnEventError` for anything that is not an object with a string
    ``Type``, and :class:`FieldError` naming the wire field for a value of the wrong kind.
    An unknown ``Type`` is not an error: it decodes to :class:`UnknownEvent`.
    """
    if type(obj) is not dict and not isinstance(obj, Mapping):
        raise NotAnEventError(f"expected an event object, got {kind_of(obj)}")
    type_name = event_type_of(obj)
    if not isinstance(type_name, str) or not type_name:
        raise NotAnEventError('event object has no "Type" (a non-empty string)')
    cls = EVENT_TYPES.get(type_name) or _EVENT_TYPES_FOLDED.get(type_name.lower())
    if cls is None:
        return UnknownEvent(type=type_name, raw=dict(obj))
    try:
        fast: Event = _STRUCTURE_FAST[cls](obj)
    except Exception:  # a bad value somewhere: the detailed converter says which
        pass
    else:
        return fast
    try:
        event: Event = _STRUCTURE[cls](obj)
    except ClassValidationError as exc:
        raise _field_error(cls, exc) from None
    return event


MAX_BAD_FIELDS: Final = 16
"""The most bad fields one event may have and still be applied without them."""


def decode_lenient(obj: Any) -> tuple[Event, tuple[FieldError, ...]]:
    """A wire object -> its typed event, without the fields whose values are not of the
    documented kind, and the :class:`FieldError` of each one left out.

    One bad value must not lose the rest of an event (its status, its times): the engine
    applies what is good and reports each bad field as a violation at the event's place.
    A top-level field holding a bad value is left out whole (a bad entry of
    ``NextStates`` leaves the list out); its raw value is kept in the event's ``extra``,
    so encoding the event gives the object back as it came. Raises what :func:`decode`
    raises when the object is no event at all, or has more than :data:`MAX_BAD_FIELDS`
    bad fields.
    """
    errors: list[FieldError] = []
    current = obj
    while True:
        try:
            event = decode(current)
        except FieldError as error:
            if len(errors) >= MAX_BAD_FIELDS:
                raise
            key = _top_key(current, error.field)
            if key is None:
                raise
            errors.append(error)
            current = {k: v for k, v in current.items() if k != key}
            continue
        if errors:
            # what was left out travels as an undeclared key, so encoding the event
            # gives back the object as it came (nothing lost on a round trip)
            left_out = {k: v for k, v in obj.items() if k not in current}
            kept: Any = event  # a bad field means a declared class: never an UnknownEvent
            event = attrs.evolve(kept, extra={**kept.extra, **left_out})
        return event, tuple(errors)


def _top_key(obj: Mapping[str, Any], path: str) -> str | None:
    """The key of ``obj`` that the field path ``path`` (``NextStates[0].IsAcw``) starts
    in, spelled as the object spells it (decode takes keys in any casing)."""
    name = path.split(".", 1)[0].split("[", 1)[0].lower()
    if not name or name == "type":
        return None
    return next((key for key in obj if key.lower() == name), None)


def encode(event: Event) -> dict[str, Any]:
    """A typed event -> its wire object (canonical key spelling, ``"True"``-style scalars)."""
    if isinstance(event, UnknownEvent):
        return dict(event.raw)
    return _UNSTRUCTURE[type(event)](event)


def kind_of(obj: Any) -> str:
    """What an error calls a value that is not what was expected: its JSON kind, or its
    Python type for anything JSON does not have."""
    if isinstance(obj, list):
        return "an array"
    if isinstance(obj, Mapping):
        return "an object"
    if isinstance(obj, str):
        return "a string"
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "a boolean"
    if isinstance(obj, int | float):
        return "a number"
    return type(obj).__name__


def _field_error(cls: type[Any], exc: ClassValidationError) -> FieldError:
    """Walk cattrs' exception group down to the first bad value, naming its wire path."""
    path: list[str] = []
    current: BaseException = exc
    value_cls: type[Any] | None = cls
    while isinstance(current, ClassValidationError | IterableValidationError):
        inner = current.exceptions[0]
        for note in getattr(inner, "__notes__", ()):
            name = getattr(note, "name", None)
            index = getattr(note, "index", None)
            if name is not None and value_cls is not None and attrs.has(value_cls):
                field = attrs.fields_dict(value_cls)[name]
                path.append(wire_name(field))
                value_cls = _element_class(field.type)
            elif index is not None:
                path[-1:] = [f"{path[-1] if path else ''}[{index}]"]
        current = inner
    expected = current.expected if isinstance(current, _ExpectedError) else str(current)
    return FieldError(cls.TYPE, ".".join(path) or "?", expected, _value_at(current))


def _element_class(annotation: Any) -> type[Any] | None:
    """The attrs class a field nests, if any (``tuple[NextState, ...]`` -> NextState)."""
    for candidate in _NESTED:
        if candidate.__name__ in str(annotation):
            return candidate
    return None


def _value_at(exc: BaseException) -> Any:
    return getattr(exc, "value", None)
