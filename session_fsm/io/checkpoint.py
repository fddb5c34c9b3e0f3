"""Checkpoint and restore: an engine's complete state as a versioned JSON document.

A checkpoint holds every session's machines, records, histories, counters and
violations, so a restored engine behaves exactly as the original from then on. Events
kept on records (indicators, monitoring...) travel in their wire form through the codec,
whose round trip is property-tested; the digest of the last event of each agent, leg and
contact (how a redelivery is told) travels as the number it is.

Loading trusts nothing in the file. The document carries ``format`` and ``version``;
then every field is structured through one cattrs converter that converts nothing (a
``"5"`` is not a count, a string is not a list) and checks what a type cannot say:
indexes and counts are not negative, digests are 64-bit, timeouts are wire integers,
states belong to their machine, a contact id is not given twice. Anything else (a
foreign file, a newer version, a damaged document) is refused with
:class:`~session_fsm.errors.CheckpointLoadError`, naming the first damaged field,
never misread.

:func:`write_atomic` writes a checkpoint as a user's process must: to a temporary file
in the same directory, fsync, rename over the old one, fsync the directory. A temporary
left by a writer killed mid-write is removed by the next write or read of the checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from array import array
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Final, TypeVar

import attrs
import cattrs
import orjson
from cattrs.cols import (
    homogenous_tuple_structure_factory,
    is_mapping,
    is_sequence,
    list_structure_factory,
    mapping_structure_factory,
)
from cattrs.errors import AttributeValidationNote, ClassValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ..engine import AgentSession, SessionEngine
from ..engine.core import RECENT
from ..engine.native import NativeSession
from ..engine.records import (
    AcwPeriod,
    AgentRecord,
    ContactRecord,
    LegRecord,
    SessionInfo,
    TranscriptLine,
)
from ..engine.rules import RULES, Severity, Violation
from ..engine.session import adopt
from ..errors import CheckpointError, CheckpointLoadError, InputError, Source
from ..machines.agent_leg import AGENT_LEG
from ..machines.agent_state import AGENT_STATE
from ..machines.contacts import CONTACT_MACHINES
from ..machines.session import END_REASONS, SESSION
from ..views.history import AgentInterval, ContactLog, SessionLog, Step
from ..wire import events as ev
from ..wire.codec import (
    EVENT_TYPES,
    MAX_INT_DIGITS,
    decode_lenient,
    encode,
    event_type_of,
    kind_of,
)

FORMAT: Final = "session_fsm.io.checkpoint"
VERSION: Final = 3
"""2: records keep the digest of their last event, not the event. 3: the engine keeps no
history (steps, agent timeline, next-state changes): that is the change stream's, and a
:class:`~session_fsm.views.history.SessionLog` travels on its own (:func:`dump_history`)."""
_T = TypeVar("_T")


# --- the document --------------------------------------------------------------------------


@attrs.define(kw_only=True)
class _SessionState:
    """One session as a checkpoint holds it: an entry of the document's ``sessions``."""

    key: str
    strict: bool
    ignore: list[str]
    info: SessionInfo
    agent: AgentRecord
    leg: LegRecord | None
    contacts: list[ContactRecord]
    closed: list[ContactRecord]
    past_legs: list[LegRecord]
    linked_contact_id: str | None
    monitor_contact_id: str | None
    monitoring: ev.SupervisorMonitor | None
    take_over: ev.TakeOver | None
    skill_list: ev.NaturalCallingSkillList | None
    hours_of_operation: ev.HoursOfOperation | None
    session_errors: list[ev.AgentError]
    indicators: dict[str, ev.Indicator]
    page_opens: dict[str, ev.PageOpen]
    pop_urls: dict[str, ev.PopURL]
    custom_events: dict[str, ev.CustomEvent]
    muted: bool | None
    signals: dict[str, int]
    unknown_types: dict[str, int]
    rooms: dict[str, str]
    violations: list[Violation]
    position: int
    events: int
    finished: bool
    start_batch: Hashable | None
    last_ended_contact: tuple[str, int] | None
    # the redelivery memory (engine/core.py): digests as numbers, oldest first
    recent: list[int] | None
    recent_at: int
    batch: Hashable | None
    batch_digests: list[int | None]
    previous_batch: list[int | None]
    repeating: bool


@attrs.define(kw_only=True)
class _Document:
    format: str
    version: int
    strict: bool
    ignore: list[str]
    position: Any  # the caller's input position: the caller checks it
    sessions: list[_SessionState]


@attrs.define(kw_only=True)
class _HistoryState:
    """A folded session's history state (:class:`SessionLog`) as a document holds it."""

    key: str
    contacts: list[ContactLog]
    timeline: list[AgentInterval]
    ended: bool
    touched: list[str]
    touched_from: int


# The session attribute of each document field whose name differs.
_ATTRIBUTE: Final = {
    "start_batch": "_start_batch", "last_ended_contact": "_last_ended_contact",
    "recent": "_recent", "recent_at": "_recent_at", "batch": "_batch",
    "batch_digests": "_batch_digests", "previous_batch": "_previous_batch",
    "repeating": "_repeating",
}

SESSION_FIELDS: Final = frozenset({
    *(_ATTRIBUTE.get(field.name, field.name) for field in attrs.fields(_SessionState)),
    # Not carried: where the event being applied came from and its index, nothing
    # between events.
    "_source", "_index",
    # Not carried: the changes of the event being applied; between events it holds the
    # last event's, which feed() already returned.
    "_out",
})
"""Every attribute of AgentSession. A test compares it with the attributes a live session
has, so a new one cannot be forgotten silently."""


def _values(records: Mapping[str, Any]) -> list[Any]:
    return list(records.values())


def _by_id(records: list[ContactRecord]) -> dict[str, ContactRecord]:
    return {record.contact_id: record for record in records}


def _shared_empty(values: list[Any]) -> Any:
    return values or ()  # empty ones stay the shared empties a new session starts with


# How the attributes a session does not keep as the document does travel, out and in.
def _ring_out(recent: array[int] | None) -> list[int] | None:
    return None if recent is None else recent.tolist()


def _ring_in(digests: list[int] | None) -> array[int] | None:
    return None if digests is None else array("Q", digests)


_OUT: Final[dict[str, Callable[[Any], Any]]] = {
    "ignore": sorted, "contacts": _values, "closed": _values, "past_legs": list,
    "session_errors": list, "signals": dict, "unknown_types": dict, "rooms": dict,
    "recent": _ring_out, "batch_digests": list, "previous_batch": list,
}
_IN: Final[dict[str, Callable[[Any], Any]]] = {
    "ignore": frozenset, "contacts": _by_id, "closed": _by_id, "past_legs": _shared_empty,
    "session_errors": _shared_empty, "recent": _ring_in,
}


# --- what each field may hold ------------------------------------------------------------


class _ExpectedError(ValueError):
    """A value that is not what a field of the document holds."""

    def __init__(self, expected: str, value: Any) -> None:
        self.expected = expected
        self.value = value
        scalar = isinstance(value, str | int | float | bool | None)
        shown = repr(value) if scalar else kind_of(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        super().__init__(f"expected {expected}, got {shown}")


Check = Callable[[Any, Any], Any]
"""A structure hook: the value as it is, or _ExpectedError."""


def _exactly(kind: type[Any], expected: str) -> Check:
    """A JSON scalar as it is: no conversion (cattrs would make "5" an int, 4.5 a 4)."""
    def structure(value: Any, _: Any = None) -> Any:
        if type(value) is not kind:
            raise _ExpectedError(expected, value)
        return value
    return structure


def _between(low: int, high: int, expected: str) -> Check:
    def structure(value: Any, _: Any = None) -> int:
        if type(value) is not int or not low <= value <= high:
            raise _ExpectedError(expected, value)
        return value
    return structure


def _one_of(values: Iterable[str], expected: str) -> Check:
    allowed = frozenset(values)

    def structure(value: Any, _: Any = None) -> str:
        if type(value) is not str or value not in allowed:
            raise _ExpectedError(expected, value)
        return value
    return structure


def _member(cls: type[Enum], value: Any) -> Enum:
    if type(value) is not str or value not in cls._value2member_map_:
        raise _ExpectedError(f"one of {', '.join(member.value for member in cls)}", value)
    return cls(value)


def _optional(check: Check) -> Check:
    def structure(value: Any, _: Any = None) -> Any:
        return None if value is None else check(value, None)
    return structure


def _time(value: Any, _: Any = None) -> datetime:
    # A naive time could not be compared with the aware ones the engine keeps.
    try:
        parsed = datetime.fromisoformat(value) if type(value) is str else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise _ExpectedError("an ISO 8601 time with its offset", value)
    return parsed


_INDEX = _between(0, 2**63 - 1, "an index or count (an integer >= 0)")
_DIGEST = _optional(_between(0, 2**64 - 1, "a 64-bit digest (an integer >= 0) or null"))
_WIRE_INT = _optional(_between(-(10**MAX_INT_DIGITS) + 1, 10**MAX_INT_DIGITS - 1,
                               f"an integer of at most {MAX_INT_DIGITS} digits or null"))
# A JSON array, or a tuple: dump_session's own data, loaded as it is (no JSON between).
_ARRAYS: Final = (list, tuple)


def _batch(value: Any, _: Any = None) -> Hashable | None:
    """A session's start batch: a source (an object), a string, an integer or null."""
    if value is None or type(value) in (str, int):
        return value  # type: ignore[no-any-return]
    if type(value) is dict:
        source: Source = _document.structure(value, Source)
        return source
    raise _ExpectedError("a source, a string, an integer or null", value)


def _ended_contact(value: Any, _: Any = None) -> tuple[str, int] | None:
    """The contact closed at once last and the index of its close, or null."""
    if value is None:
        return None
    if type(value) not in _ARRAYS or len(value) != 2 or type(value[0]) is not str:
        raise _ExpectedError("[contact id, event index] or null", value)
    return value[0], _INDEX(value[1], None)


_DIGEST_VALUE = _between(0, 2**64 - 1, "a 64-bit digest (an integer >= 0)")


def _json_list(item: Check, length: int | None) -> Check:
    """A JSON array of ``item``s (of exactly ``length`` of them, when given)."""
    def structure(value: Any, _: Any = None) -> list[Any]:
        if type(value) not in _ARRAYS or (length is not None and len(value) != length):
            shown = "an array" if length is None else f"an array of {length}"
            raise _ExpectedError(shown, value)
        return [item(v, None) for v in value]
    return structure


def _counts(value: Any, _: Any = None) -> dict[str, int]:
    counts: dict[str, int] = _document.structure(value, dict[str, int])
    for count in counts.values():
        _INDEX(count, None)
    return counts


# What a field holds beyond its declared type, which the converter checks: indexes and
# counts are never negative, digests are 64-bit, timeouts are wire integers, machine
# states are states of their machine.
_RANGES: Final[dict[tuple[type[Any], str], Check]] = {
    (Source, "line"): _between(1, 2**63 - 1, "a line number (an integer >= 1)"),
    (Step, "event_index"): _INDEX,
    (ContactRecord, "first_index"): _INDEX,
    (ContactRecord, "media"): _one_of(CONTACT_MACHINES, "a media ("
                                      + ", ".join(CONTACT_MACHINES) + ")"),
    (ContactRecord, "last_digest"): _DIGEST,
    (AcwPeriod, "timeout_s"): _WIRE_INT,
    (AcwPeriod, "event_index"): _INDEX,
    (AgentInterval, "event_index"): _INDEX,
    (ContactRecord, "final_index"): _optional(_INDEX),
    (ContactRecord, "acw_phase_index"): _optional(_INDEX),
    (AgentRecord, "interval_index"): _optional(_INDEX),
    (ContactLog, "first_index"): _INDEX,
    (ContactLog, "media"): _one_of(CONTACT_MACHINES, "a media ("
                                   + ", ".join(CONTACT_MACHINES) + ")"),
    (_HistoryState, "touched_from"): _INDEX,
    (AgentRecord, "state"): _one_of(AGENT_STATE.states, "an agent state"),
    (AgentRecord, "acw_timeout_s"): _WIRE_INT,
    (AgentRecord, "entered_index"): _INDEX,
    (AgentRecord, "last_digest"): _DIGEST,
    (LegRecord, "state"): _one_of(AGENT_LEG.states, "an agent-leg state"),
    (LegRecord, "last_digest"): _DIGEST,
    (SessionInfo, "status"): _one_of(SESSION.states, "a session status"),
    (SessionInfo, "end_reason"): _optional(_one_of(END_REASONS, "an end reason or null")),
    (SessionInfo, "end_index"): _optional(_INDEX),
    (SessionInfo, "remote_end_index"): _optional(_INDEX),
    (Violation, "rule"): _one_of(RULES, "a rule name"),
    (Violation, "event_index"): _INDEX,
    (_SessionState, "position"): _INDEX,
    (_SessionState, "events"): _INDEX,
    (_SessionState, "signals"): _counts,
    (_SessionState, "unknown_types"): _counts,
    (_SessionState, "start_batch"): _batch,
    (_SessionState, "batch"): _batch,
    (_SessionState, "recent"): _optional(_json_list(_DIGEST_VALUE, RECENT)),
    (_SessionState, "recent_at"): _between(0, RECENT - 1, f"a ring position (0 to {RECENT - 1})"),
    (_SessionState, "batch_digests"): _json_list(_DIGEST, None),
    (_SessionState, "previous_batch"): _json_list(_DIGEST, None),
    (_SessionState, "last_ended_contact"): _ended_contact,
}

Problem = tuple[str, str, Any] | None
"""What is wrong with a structured value: (field, what it must be, its value), or None."""


def _contact_problem(record: ContactRecord) -> Problem:
    if record.state in CONTACT_MACHINES[record.media].states:
        return None
    return "state", f"a state of the {record.media} machine", record.state


def _session_problem(state: _SessionState) -> Problem:
    if state.events > state.position:
        return "events", f"at most position ({state.position}) events", state.events
    for name in ("contacts", "closed"):
        seen: set[str] = set()
        for record in getattr(state, name):
            if record.contact_id in seen:
                return name, "contacts of distinct ids", record.contact_id
            seen.add(record.contact_id)
    return None


def _history_problem(state: _HistoryState) -> Problem:
    seen: set[str] = set()
    for contact in state.contacts:
        if contact.contact_id in seen:
            return "contacts", "contacts of distinct ids", contact.contact_id
        seen.add(contact.contact_id)
    if state.touched_from > len(state.timeline):
        return ("touched_from", f"at most the timeline's length ({len(state.timeline)})",
                state.touched_from)
    return None


# What a value's fields cannot say alone, checked once they are structured.
_PROBLEMS: Final[dict[type[Any], Callable[[Any], Problem]]] = {
    ContactRecord: _contact_problem,
    _SessionState: _session_problem,
    _HistoryState: _history_problem,
}


# --- the converter ---------------------------------------------------------------------------


# Unknown keys are refused like wrong values: a document this code did not write is
# not guessed at.
_document = cattrs.Converter(detailed_validation=True, forbid_extra_keys=True)
for _kind, _expected in ((str, "a string"), (int, "an integer"), (bool, "a boolean")):
    _document.register_structure_hook(_kind, _exactly(_kind, _expected))
_document.register_structure_hook(datetime, _time)
# its own hook, or str's would take it for a plain string (a StrEnum is a str)
_document.register_structure_hook(Severity, lambda value, _: _member(Severity, value))
_document.register_unstructure_hook(datetime, datetime.isoformat)
# plain data (a work item's payload): as JSON gives it
_document.register_structure_hook_func(lambda t: t is Any, lambda value, _: value)


def _json_kind(factory: Any, kinds: tuple[type[Any], ...], expected: str) -> Any:
    """cattrs' own hook for a container type, for JSON of that kind only (cattrs would
    read a string as a list of its characters)."""
    def make(annotation: Any, converter: cattrs.Converter) -> Check:
        inner = factory(annotation, converter)

        def structure(value: Any, _: Any = None) -> Any:
            if type(value) not in kinds:
                raise _ExpectedError(expected, value)
            return inner(value, annotation)
        return structure
    return make


def _sequence_factory(annotation: Any, converter: cattrs.Converter) -> Any:
    if getattr(annotation, "__origin__", None) is tuple:
        return homogenous_tuple_structure_factory(annotation, converter)
    return list_structure_factory(annotation, converter)


_document.register_structure_hook_factory(
    is_sequence, _json_kind(_sequence_factory, _ARRAYS, "an array"))
_document.register_structure_hook_factory(
    is_mapping, _json_kind(mapping_structure_factory, (dict,), "an object"))


def _typed_event(cls: type[Any]) -> Check:
    """Events travel in wire form through the codec, which checks every field, and
    reads them as the engine did when it took them: a field the engine left out (and
    reported, bad-field) is left out again, its raw value in the event's ``extra`` as
    before. (Decoding strictly refused such a checkpoint as damaged: a session that had
    kept, say, an Indicator with one bad value could not be resumed.)"""
    def structure(value: Any, _: Any = None) -> Any:
        if type(value) is not dict:
            raise _ExpectedError(f"an event object of Type {cls.TYPE}", value)
        event, _left_out = decode_lenient(value)  # an InputError names what is no event
        if type(event) is not cls:
            raise _ExpectedError(f"an event of Type {cls.TYPE}", event_type_of(value))
        return event
    return structure


for _event_type in set(EVENT_TYPES.values()):
    _document.register_structure_hook(_event_type, _typed_event(_event_type))
    _document.register_unstructure_hook(_event_type, encode)


def _register(cls: type[Any]) -> None:
    """cls's structure hook: an object, its fields' types and _RANGES, then its _PROBLEMS."""
    hooks = {name: override(struct_hook=check)
             for (owner, name), check in _RANGES.items() if owner is cls}
    generated = make_dict_structure_fn(cls, _document, **hooks)  # type: ignore[arg-type]
    problem = _PROBLEMS.get(cls)

    def structure(value: Any, _: Any = None) -> Any:
        if type(value) is not dict:
            raise _ExpectedError("an object", value)
        made = generated(value, cls)
        found = None if problem is None else problem(made)
        if found is not None:
            name, expected, bad = found
            # told as the field's own error, so that its path names the field
            error = _ExpectedError(expected, bad)
            error.__notes__ = [AttributeValidationNote(f"checking {name}", name, Any)]
            raise ClassValidationError(f"While structuring {cls.__name__}", [error], cls)
        return made

    _document.register_structure_hook(cls, structure)


for _cls in (Source, Step, TranscriptLine, ev.NextState, ContactRecord, AcwPeriod,
             AgentInterval, AgentRecord, LegRecord, SessionInfo, Violation, _SessionState,
             ContactLog, _HistoryState):
    _register(_cls)


def _batch_out(batch: Hashable | None) -> Any:
    if isinstance(batch, Source):
        return _document.unstructure(batch)
    if batch is None or isinstance(batch, str | int):
        return batch
    return repr(batch)  # an opaque caller batch: equal only to itself after restore


_document.register_unstructure_hook(_SessionState, make_dict_unstructure_fn(
    _SessionState, _document, start_batch=override(unstruct_hook=_batch_out),
    batch=override(unstruct_hook=_batch_out)))


def _structured(data: Any, cls: type[_T]) -> _T:
    """``data`` as ``cls``; or the first damaged field, as a CheckpointLoadError."""
    try:
        return _document.structure(data, cls)
    except (cattrs.BaseValidationError, ValueError, InputError) as exc:
        def describe(error: BaseException, annotation: Any) -> str:
            if isinstance(error, _ExpectedError | InputError):
                return str(error)
            return cattrs.v.format_exception(error, annotation)

        first = cattrs.transform_error(exc, path="", format_exception=describe)[0]
        detail, _, field = first.rpartition(" @ ")
        raise CheckpointLoadError(detail, field.removeprefix(".") or "(document)") from None


# --- sessions and engines ------------------------------------------------------------------


def dump_session(session: AgentSession) -> dict[str, Any]:
    """One session's complete state as JSON-ready data.
    """
    if isinstance(session, NativeSession):  # the reference's records, all at once
        session = session.reference()
    fields: dict[str, Any] = {}
    for field in attrs.fields(_SessionState):
        value = getattr(session, _ATTRIBUTE.get(field.name, field.name))
        convert = _OUT.get(field.name)
        fields[field.name] = value if convert is None else convert(value)
    data: dict[str, Any] = _document.unstructure(_SessionState(**fields))
    return data


def load_session(data: Any, engine: str | None = None) -> AgentSession:
    """Rebuild a session from :func:`dump_session`'s data, on ``engine`` (default: the one
    this process runs). Every field is checked: a damaged one is refused with
    :class:`CheckpointLoadError`, which names it."""
    return adopt(_session_of(_structured(data, _SessionState)), engine)


def _session_of(state: _SessionState) -> AgentSession:
    session = AgentSession(state.key)
    for field in attrs.fields(_SessionState):
        value = getattr(state, field.name)
        convert = _IN.get(field.name)
        setattr(session, _ATTRIBUTE.get(field.name, field.name),
                value if convert is None else convert(value))
    return session


def dump_history(log: SessionLog) -> dict[str, Any]:
    """A folded session's history state (:class:`~session_fsm.views.history.SessionLog`)
    as JSON-ready data: what a consumer that folds the change stream carries across runs
    next to :func:`dump_session`."""
    state = _HistoryState(key=log.key, contacts=list(log.contacts.values()),
                          timeline=list(log.timeline), ended=log.ended,
                          touched=sorted(log.touched), touched_from=log.touched_from)
    data: dict[str, Any] = _document.unstructure(state)
    return data


def load_history(data: Any) -> SessionLog:
    """Rebuild a :class:`~session_fsm.views.history.SessionLog` from :func:`dump_history`'s
    data; a damaged field is refused with :class:`CheckpointLoadError`, which names it."""
    state = _structured(data, _HistoryState)
    return SessionLog(state.key, {c.contact_id: c for c in state.contacts}, state.timeline,
                      state.ended, set(state.touched), state.touched_from)


def dump_engine(engine: SessionEngine, *, position: Any = None) -> dict[str, Any]:
    """The whole engine (and, optionally, the caller's input position) as a document."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "strict": engine.strict,
        "ignore": sorted(engine.ignore),
        "position": position,
        "sessions": [dump_session(s) for s in engine.sessions.values()],
    }


def load_engine(document: Any, engine: str | None = None) -> SessionEngine:
    """Rebuild an engine from :func:`dump_engine`'s document, on ``engine`` (default: the
    one this process runs; a checkpoint is the same for both). Anything else is refused
    with :class:`CheckpointLoadError`: another format or version, or a field missing,
    unknown, of the wrong type or out of range (named)."""
    if type(document) is not dict or document.get("format") != FORMAT:
        raise CheckpointLoadError(f"is not a session_fsm checkpoint (no 'format' of {FORMAT!r})")
    version = document.get("version")
    if version != VERSION:
        raise CheckpointLoadError(f"has version {version!r}, which this session_fsm cannot "
                                  f"read (it reads version {VERSION})")
    whole = _structured(document, _Document)
    loaded = SessionEngine(strict=whole.strict, ignore=whole.ignore, engine=engine)
    for i, state in enumerate(whole.sessions):
        if state.key in loaded.sessions:
            raise CheckpointLoadError(f"a session key given twice ({state.key!r})",
                                      f"sessions[{i}].key")
        loaded.sessions[state.key] = adopt(_session_of(state), loaded.engine)
    return loaded


def to_bytes(engine: SessionEngine, *, position: Any = None) -> bytes:
    return state_bytes(dump_engine(engine, position=position))


def state_bytes(document: Any) -> bytes:
    """A checkpoint document (or a session's state) as JSON. orjson writes it, except
    an integer past 64 bits, which orjson refuses: a raw value a typed event keeps in its
    ``extra`` from an API user's dict (a file's JSON never holds one: orjson reads it as
    a float); then the standard library writes the whole document, and a later load
    reads that value as orjson reads such a number, a float."""
    try:
        return orjson.dumps(document)
    except TypeError:
        return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()


def from_bytes(data: bytes) -> tuple[SessionEngine, Any]:
    """An engine and the input position stored with it."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CheckpointLoadError(f"is not JSON ({exc})") from None
    engine = load_engine(document)
    return engine, document.get("position")


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` so a crash leaves the old file or the new, never half.

    The temporary file is ``.NAME.PID.XXXXXXXX.tmp`` beside ``path``; one left by a
    writer that was killed mid-write is removed by the next write (or read) of ``path``.
    """
    target = Path(path)
    remove_stale_temporaries(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp",
                               dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries of :func:`write_atomic` for ``path`` whose writer process is
    gone (killed mid-write: SIGKILL, out of memory, power); those removed.

    A writer is known by the process id in the name, on this machine: a temporary of a
    live process (or of this one) is left alone, and so is any other file.
    """
    target = Path(path)
    name = re.compile(rf"\.{re.escape(target.name)}\.([1-9][0-9]{{0,9}})\.[a-z0-9_]+\.tmp")
    try:
        names = os.listdir(target.parent)
    except OSError:
        return []  # the write or read that follows says what is wrong with the folder
    removed = []
    for candidate in names:
        found = name.fullmatch(candidate)
        if found is not None and not _alive(int(found[1])):
            stale = target.parent / candidate
            stale.unlink(missing_ok=True)
            removed.append(stale)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except (ProcessLookupError, OverflowError):  # OverflowError: past any process id
        return False
    except PermissionError:
        return True  # another user's
    return True


def read_checkpoint(path: str | os.PathLike[str]) -> tuple[SessionEngine, Any]:
    """Load a checkpoint file written by :func:`write_atomic`; a refusal names the file."""
    remove_stale_temporaries(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror}") from None
    try:
        return from_bytes(data)
    except CheckpointLoadError as exc:
        raise exc.located(os.fspath(path)) from None

