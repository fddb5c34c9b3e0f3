"""The engine on the native core: :class:`NativeSession` is an :class:`AgentSession`
whose records, redelivery memory and handlers live in Rust (``session_fsm/native/``).

Theory of operation. Both engines read an event the same way, with the same code
(:func:`~session_fsm.engine.session.read_event`: the codec's facts, its bad-field
reports, the digest); the native core then does everything the reference's ``feed()``
does from taking the index on, handler for handler, and hands back the same change
values. It is built from this package's own declarations, once per process (the
:class:`Kit`): the routes, the machines' tables, the rule catalogue and the change
classes, so the core runs exactly the rows the reference runs.

What the snapshot, checkpoints and the views read is the reference's own records, made
from the core's state on demand (:meth:`NativeSession.reference`) and taken back from
them (:meth:`NativeSession.from_reference`): a checkpoint written by one engine restores
in the other, and a snapshot is the reference's ``snapshot_of`` on the same state.

Which engine runs: ``SESSION_FSM_ENGINE=python`` or ``native``; without it, the native
one when its module loads (:func:`engine_name`).
"""

from __future__ import annotations

import logging
import os
from array import array
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from typing import TYPE_CHECKING, Any, Final

import attrs
import orjson

from ..errors import (
    InputError,
    NativeCoreError,
    OnError,
    SequenceError,
    Source,
    same_batch,
)
from ..machines import MachineSpec
from ..machines.agent_leg import AGENT_LEG
from ..machines.agent_state import AGENT_STATE
from ..machines.contacts import CONTACT_MACHINES
from ..machines.session import SESSION
from ..wire import events as ev
from ..wire.codec import _MISSING, _fast_structured, decode
from ..wire.events import wire_name
from ..wire.facts import EXTRA_FACTS, FACTS_OF, ContactFacts, StateFacts, facts_of_event
from . import changes as ch
from .agent import _deadline
from .contacts import _TYPE_OF_MEDIA
from .core import _NO_ENTRIES, CLOSED_KEPT
from .records import AcwPeriod, AgentRecord, ContactRecord, LegRecord, SessionInfo, TranscriptLine
from .rules import RULES, RuleName, Severity
from .session import (
    _LIFECYCLE_EVENTS,
    _ROUTES,
    END_EVENTS,
    AgentSession,
    SessionEngine,
    _Route,
    read_event,
    rule_of,
)
from .snapshot import Snapshot, snapshot_of

ENVIRONMENT: Final = "SESSION_FSM_ENGINE"
"""The variable that chooses the engine: ``python`` or ``native``."""

_HANDLERS: Final[dict[Callable[..., None], str]] = {
    AgentSession._on_session_start: "session_start",
    AgentSession._on_session_end: "session_end",
    AgentSession._on_remote_end: "remote_end",
    AgentSession._on_http_end: "http_end",
    AgentSession._on_agent_state: "agent_state",
    AgentSession._on_agent_leg: "agent_leg",
    AgentSession._on_agent_error: "agent_error",
    AgentSession._on_skill_list: "skill_list",
    AgentSession._on_chat_text: "chat_text",
    AgentSession._on_indicator: "indicator",
    AgentSession._on_page_open: "page_open",
    AgentSession._on_pop_url: "pop_url",
    AgentSession._on_mute: "mute",
    AgentSession._on_take_over: "take_over",
    AgentSession._on_supervisor_monitor: "supervisor_monitor",
    AgentSession._on_custom: "custom",
    AgentSession._on_hours: "hours",
    AgentSession._on_unknown: "unknown",
    AgentSession._on_noted: "noted",
}
"""The native handler of each of the reference's handlers (``engine.rs``, ``Handler``)."""

_ROUTE_INDEX: Final[dict[type[Any], int]] = {cls: n for n, cls in enumerate(_ROUTES)}


def _handler_of(route: _Route) -> str:
    handle = route.handle
    if isinstance(handle, partial):
        if handle.func is AgentSession._on_contact:
            return f"contact:{handle.keywords['media']}"
        if handle.func is AgentSession._on_signal:
            return "signal"
    return _HANDLERS[handle]


def _machine(native: Any, spec: MachineSpec) -> Any:
    return native.Machine(spec.name, list(spec.states), list(spec.triggers), dict(spec.table))


@cache
def _module() -> Any:
    """``session_fsm._native``, checked against its sources (``native.load``)."""
    from ..native import load

    return load()


@cache
def _kit() -> Any:
    """The core's view of this package's declarations (see the module's docstring)."""
    native = _module()
    routes = [(_handler_of(route), getattr(cls, "TYPE", ""), route.repeats,
               cls in _LIFECYCLE_EVENTS, cls in END_EVENTS, route.read is not None,
               _timed(cls)) for cls, route in _ROUTES.items()]
    readers = [_reader(cls, _ROUTE_INDEX[cls]) for cls, route in _ROUTES.items()
               if route.read is not None]
    machines = {"session": _machine(native, SESSION), "agent_state": _machine(native, AGENT_STATE),
                "agent_leg": _machine(native, AGENT_LEG)}
    kinds = [(media, _TYPE_OF_MEDIA[media], _machine(native, spec), spec.initial, spec.closed_state,
              set(spec.entry_triggers), {k: set(v) for k, v in spec.entry_by_call_type.items()},
              set(spec.closable), set(spec.connected)) for media, spec in CONTACT_MACHINES.items()]
    rules = {name: (RuleName(name), rule.severity, rule.severity is Severity.ERROR)
             for name, rule in RULES.items()}
    classes = {
        "Transition": ch.Transition, "AgentStatus": ch.AgentStatus,
        "ContactDetails": ch.ContactDetails, "AcwLinked": ch.AcwLinked,
        "LinkMoved": ch.LinkMoved, "TranscriptAdded": ch.TranscriptAdded,
        "StatusAfterFinal": ch.StatusAfterFinal, "Noted": ch.Noted,
        "Violation": ch.Violation, "TranscriptLine": TranscriptLine,
        "SequenceError": SequenceError, "Source": Source, "same_batch": same_batch,
        "deadline": _deadline, "tuple_new": tuple.__new__,
        "from_iso": datetime.fromisoformat, "missing": _MISSING, "micros": _micros,
        "dumps": orjson.dumps, "closed_kept": CLOSED_KEPT,
        # what read_event does with an object of a type the core has no facts reader for
        "decode": decode, "facts_of_event": facts_of_event, "route_index": _ROUTE_INDEX,
    }
    return native.Kit(routes, readers, machines, kinds, rules, classes)


_TIMED: Final[dict[type[Any], tuple[str, ...]]] = {
    StateFacts: ("start_time",), ContactFacts: ("last_state_change_time",)}
"""The facts whose timestamps the engine compares (the core keeps them as integers)."""
_KINDS: Final[dict[Any, str]] = {str | None: "str", bool | None: "bool", int | None: "int",
                                 datetime | None: "time"}


def _timed(cls: type[Any]) -> list[int]:
    facts = FACTS_OF.get(cls)
    return [facts._fields.index(name) for name in _TIMED.get(facts, ())] if facts else []


def _reader(cls: type[Any], route: int) -> tuple[Any, ...]:
    """``codec.field_reader(cls, ...)``'s work, compiled for the core (``wire.rs``): per
    declared field its wire key, kind, facts slot, and the codec's hook for a nested one."""
    attrs.resolve_types(cls)
    names: tuple[str, ...] = FACTS_OF[cls]._fields
    slot_of = {name: n for n, name in enumerate(names)}
    fields = []
    for field in attrs.fields(cls):
        if field.name == "extra":
            continue
        kind = _KINDS.get(field.type, "structured")
        if field.type == tuple[ev.NextState, ...]:
            kind = "next_states"  # the codec's shared entries, kept in the core too
        nested = kind in ("structured", "next_states")
        fields.append((wire_name(field), kind, slot_of.get(field.name, -1),
                       _fast_structured(field.type) if nested else None,
                       field.default if nested else None))
    declared = {field.name for field in attrs.fields(cls)}
    extras = [(EXTRA_FACTS[name], n) for n, name in enumerate(names)
              if name in EXTRA_FACTS and name not in declared]
    return (cls.TYPE, route, fields, len(names), extras)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(value: datetime) -> int:
    """Microseconds since 1970 of a timestamp (a naive one is UTC, as the codec reads it)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(microseconds=1)


def available() -> bool:
    """Whether the native core loads here (built, and from these sources). A build of
    other sources is not used, and said once (the Python engine runs instead)."""
    try:
        _kit()
    except NativeCoreError as error:
        if "built from other sources" in str(error) and not _WARNED:
            _WARNED.append(True)
            log.warning("%s; the Python engine runs meanwhile", error)
        return False
    return True


_WARNED: list[bool] = []
log = logging.getLogger(__name__)


def engine_name() -> str:
    """The engine this process runs: ``SESSION_FSM_ENGINE`` if set (``native`` refuses to
    go on without its module, saying how to build it), else ``native`` when it loads."""
    chosen = os.environ.get(ENVIRONMENT, "").strip().lower()
    if chosen == "python":
        return "python"
    if chosen == "native":
        _kit()  # raises NativeCoreError, saying how to build it
        return "native"
    if chosen:
        raise NativeCoreError(f"{ENVIRONMENT}={chosen!r}: expected 'python' or 'native'")
    return "native" if available() else "python"


# --- the reference's records, out of and into the core -------------------------------------

PARTS: Final = frozenset({
    "info", "agent", "leg", "contacts", "closed", "past_legs", "indicators", "page_opens",
    "pop_urls", "custom_events", "signals", "unknown_types", "rooms", "monitoring",
    "take_over", "skill_list", "hours_of_operation", "_start_batch", "_batch",
    "linked_contact_id", "monitor_contact_id", "session_errors", "muted", "violations",
    "_last_ended_contact", "_recent", "_recent_at", "_batch_digests", "_previous_batch",
    "_repeating",
})
"""The reference's attributes the core exports (``position``, ``events`` and ``finished``
are the core's own attributes)."""

_SNAPSHOTPARTS: Final = ["info", "agent", "leg", "monitoring", "session_errors", "contacts",
                          "linked_contact_id", "monitor_contact_id", "violations",
                          "indicators", "page_opens", "pop_urls", "custom_events",
                          "skill_list", "hours_of_operation", "take_over", "muted", "signals",
                          "unknown_types"]


def _leg(values: tuple[Any, ...]) -> LegRecord:
    return LegRecord(*values)


def _contact(values: tuple[Any, ...]) -> ContactRecord:
    return ContactRecord(*values)


def _record_values(name: str, value: Any) -> Any:
    """One exported value as the reference keeps it."""
    if name == "info":
        return SessionInfo(*value)
    if name == "agent":
        fields = list(value)
        fields[7] = None if fields[7] is None else AcwPeriod(*fields[7])  # its ACW period
        return AgentRecord(*fields)
    if name == "leg":
        return None if value is None else _leg(value)
    if name in ("contacts", "closed"):
        return {record.contact_id: record for record in map(_contact, value)}
    if name == "past_legs":
        return [_leg(leg) for leg in value] or ()
    if name == "session_errors":
        return value or ()
    if name in ("indicators", "page_opens", "pop_urls", "custom_events", "signals",
                "unknown_types"):
        return _NO_ENTRIES if value is None else value
    if name == "_recent":
        return None if value is None else array("Q", value)
    return value


def _values_of(session: AgentSession) -> dict[str, Any]:
    """The reference's records as the values :meth:`NativeSession.restore` takes."""
    def contact(record: ContactRecord) -> tuple[Any, ...]:
        return attrs.astuple(record, recurse=False)

    agent = attrs.astuple(session.agent, recurse=False)
    acw = session.agent.acw
    values: dict[str, Any] = {name: getattr(session, name) for name in PARTS}
    values.update(
        info=attrs.astuple(session.info, recurse=False),
        agent=(*agent[:7], None if acw is None else attrs.astuple(acw, recurse=False),
               *agent[8:]),
        leg=None if session.leg is None else attrs.astuple(session.leg, recurse=False),
        past_legs=[attrs.astuple(leg, recurse=False) for leg in session.past_legs],
        contacts=[contact(c) for c in session.contacts.values()],
        closed=[contact(c) for c in session.closed.values()],
        _recent=None if session._recent is None else session._recent.tolist(),
        position=session.position, events=session.events, finished=session.finished,
    )
    return values


if TYPE_CHECKING:
    # for the type checker, one wherever a session is
    from .session import AgentSession as _SessionBase
else:
    # at run time, none of the reference's ~40 record slots (300 bytes a session)
    _SessionBase = object


class NativeSession(_SessionBase):
    """One agent session on the native core, with :class:`AgentSession`'s API: ``feed``,
    ``end``, ``finish``, ``report_input_error``, ``snapshot``, and its records read by
    name (built from the core's state: read-only views).

    Typed as an :class:`AgentSession` (it is used wherever one is), it carries none of
    the reference's record slots: reading a record asks :meth:`__getattr__`, which
    exports it from the core, and every method that applies something is the core's.
    """

    __slots__ = ("_core", "ignore", "key", "strict")

    def __init__(self, key: str = "-", *, strict: bool = False,
                 ignore: Iterable[str] = ()) -> None:
        # not AgentSession.__init__: the records are the core's
        self.key = key
        self.strict = strict
        self.ignore = frozenset(ignore)
        self._core: Any = _kit_core(key, strict, self.ignore)

    def feed(self, event: ev.Event | Mapping[str, Any], *, source: Source | None = None,
             batch: Hashable | None = None, on_error: OnError = "report") -> tuple[ch.Change, ...]:
        """Apply one event; the changes it made (see :meth:`AgentSession.feed`)."""
        if type(event) is dict:  # the frequent types' facts are read in the core
            done: tuple[ch.Change, ...] | None = self._core.feed_wire(event, source, batch)
            if done is not None:
                return done
        read = read_event(event, source, self.strict or on_error == "raise")
        if isinstance(read, InputError):
            return self.report_input_error(read, source)
        route, facts, bad_fields, digest = read
        changes: tuple[ch.Change, ...] = self._core.apply(
            _ROUTE_INDEX[route.cls], facts, digest, source, batch,
            [bad.detail for bad in bad_fields])
        return changes

    def report_input_error(self, error: InputError,
                           source: Source | None = None) -> tuple[ch.Change, ...]:
        """Account for an input item that could not be read (an index and a violation)."""
        changes: tuple[ch.Change, ...] = self._core.report_input_error(
            rule_of(error).value, error.detail, source or error.source)
        return changes

    def end(self, reason: str = "409", message: str | None = None) -> tuple[ch.Change, ...]:
        """End the session from outside the stream (HTTP 409)."""
        changes: tuple[ch.Change, ...] = self._core.end(reason, message)
        return changes

    def finish(self) -> tuple[ch.Change, ...]:
        """The input is over: the checks that need the whole stream. Idempotent."""
        changes: tuple[ch.Change, ...] = self._core.finish()
        return changes

    def snapshot(self) -> Snapshot:
        """This session now, as a frozen value (the reference's ``snapshot_of``)."""
        return snapshot_of(self.reference(_SNAPSHOTPARTS))

    @property
    def position(self) -> int:  # type: ignore[override]
        position: int = self._core.position
        return position

    @property
    def events(self) -> int:  # type: ignore[override]
        events: int = self._core.events
        return events

    @property
    def finished(self) -> bool:  # type: ignore[override]
        finished: bool = self._core.finished
        return finished

    def __getattr__(self, name: str) -> Any:
        if name not in PARTS:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return _record_values(name, self._core.export([name])[name])

    def reference(self, parts: Iterable[str] | None = None) -> AgentSession:
        """The reference's session with this one's state (``parts``: only those records)."""
        session = AgentSession(self.key, strict=self.strict, ignore=self.ignore)
        exported = self._core.export(None if parts is None else list(parts))
        for name, value in exported.items():
            setattr(session, name, _record_values(name, value))
        session.position, session.events = self.position, self.events
        session.finished = self.finished
        return session

    @classmethod
    def from_reference(cls, session: AgentSession) -> NativeSession:
        """A native session with the reference session's state (a checkpoint's)."""
        native = cls(session.key, strict=session.strict, ignore=session.ignore)
        native._core.restore(_values_of(session))
        return native


def _kit_core(key: str, strict: bool, ignore: frozenset[str]) -> Any:
    return _module().Core(_kit(), key, strict, set(ignore))


def lines_of(
    engine: SessionEngine,
    on_wire: Callable[[str, dict[str, Any], Source], object],
    on_changes: Callable[[tuple[ch.Change, ...]], object] | None,
) -> Callable[[bytes, str, int, int, bool], tuple[int, int, int]]:
    """:meth:`SessionEngine.line_taker` on the native core (``lines.rs``)."""
    sessions = engine.sessions
    subscribers = engine._subscribers

    def lookup(key: str) -> Any:
        session = sessions.get(key)
        return session._core if type(session) is NativeSession else None

    publish: Callable[[tuple[ch.Change, ...]], object] = engine._publish
    if on_changes is not None:
        told = on_changes

        def publish(changes: tuple[ch.Change, ...]) -> None:
            if subscribers:
                engine._publish(changes)
            told(changes)

    lines = _module().Lines(_kit(), lookup, on_wire, publish, subscribers, on_changes is not None)
    take: Callable[[bytes, str, int, int, bool], tuple[int, int, int]] = lines.feed_chunk
    return take
