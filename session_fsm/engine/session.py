"""The engine: the only place that fires transitions. Sans-IO: no files, no clock.

Theory of operation. Each session key has one :class:`AgentSession`. An event of a
frequent type is read straight from its wire object into the few *facts* its handler
needs (see ``facts.py``); any other event is decoded to its typed class (and a typed
event gives the same facts). It gets the next 0-based index of its session and is
dispatched on its type to one handler. A handler first looks up what the event means
(the trigger and the destination in the machine's compiled table) and checks it against
the protocol; only then does it change records. So in strict mode a forbidden event
raises :class:`SequenceError` before anything moves, and in the default lenient mode the
engine mirrors the platform: every event is applied, and each deviation is recorded as a
:class:`~session_fsm.engine.rules.Violation` named after the rule catalogue.

Events that change nothing (a repeated status, a redelivered event: one whose digest
equals the last one applied to the same subject) fire no transition, so the engine is
idempotent under redelivery. Ending is idempotent too: AgentSessionEnd,
RemoteAgentSessionEnd and an HTTP 409 (:meth:`AgentSession.end`, or the HttpSessionEnded
line a recording holds for it) are one end.

A join replays the session's state in its first batch: AgentSessionStart anywhere in it
and contacts in middle statuses. The *join batch* is every event before the first
AgentSessionStart plus the events of the same batch (same input line or response) as it.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from functools import partial
from typing import Any, NamedTuple, TypeVar, overload
from zlib import adler32 as _adler32
from zlib import crc32 as _crc32

from orjson import dumps as _dumps

from ..errors import FieldError, InputError, NotAnEventError, OnError, Source, same_batch
from ..machines.session import SESSION, START
from ..wire import events as ev
from ..wire.codec import decode, decode_lenient
from ..wire.facts import (
    FACTS_OF,
    MuteFacts,
    event_digest,
    facts_of_event,
    wire_reader,
)
from .agent import AgentHandlers
from .changes import (
    NO_CHANGES,
    Change,
    Subscriber,
)
from .contacts import ContactHandlers
from .core import RECENT
from .rules import RuleName, Violation
from .snapshot import Snapshot, snapshot_of

BAD_FIELD_APPLIED = " (the rest of the event is applied)"
"""What a bad-field violation's message ends with when the rest of its event applied."""

END_EVENTS = (ev.AgentSessionEnd, ev.RemoteAgentSessionEnd, ev.HttpSessionEnded)
_LIFECYCLE_EVENTS = frozenset({ev.AgentSessionStart, *END_EVENTS})

_C = TypeVar("_C", bound=Change)
"""A kind of change a filtered subscriber takes."""

log = logging.getLogger(__name__)


class AgentSession(AgentHandlers, ContactHandlers):
    """One agent session: its machines, records and violations; ``feed()`` says what
    changed. The handlers are grouped by concern in ``agent.py`` and ``contacts.py``;
    the state they share is ``core.SessionCore``'s."""

    __slots__ = ()

    # --- feeding ----------------------------------------------------------------------

    def feed(
        self,
        event: ev.Event | Mapping[str, Any],
        *,
        source: Source | None = None,
        batch: Hashable | None = None,
        on_error: OnError = "report",
    ) -> tuple[Change, ...]:
        """Apply one event (typed, or a wire object the codec reads); the changes it made.

        ``batch`` identifies the get-next-event response (or input line) the event came
        in, which tells a join's replay apart from live events; ``source`` is quoted in
        violations. A wire object that cannot be decoded raises the package's
        :class:`~session_fsm.errors.InputError` (located at ``source``) in strict mode or
        with ``on_error="raise"``, before it takes an index. Otherwise a field whose value
        is not of the documented kind is left out, the rest of the event applied, and a
        ``bad-field`` violation recorded at its index for each such field; an object
        that is no event at all is only that violation (``not-an-event``).

        Returns the changes in the order the handler made them (``changes.py``), or
        :data:`~session_fsm.engine.changes.NO_CHANGES` when the event changed nothing.
        """
        read = read_event(event, source, self.strict or on_error == "raise")
        if isinstance(read, InputError):  # not readable as an event at all
            return self.report_input_error(read, source)
        route, facts, bad_fields, digest = read

        out = self._out
        if out:  # what a strict-mode raise left half-made
            out.clear()
        # _take_index(source), inlined
        position = self.position
        self._index = position
        self._source = source
        if not position:
            self.info.first_source = source
        self.position = position + 1
        if bad_fields:
            for bad in bad_fields:
                self._violate(RuleName.BAD_FIELD, bad.detail + BAD_FIELD_APPLIED, strict=False)
        # A response that repeats the one before it, event for event, is that response
        # delivered again (every event passes here, so it is written inline). The
        # session's own start and end are one whatever repeats them, with no warning.
        if batch is None:
            self._batch = None
        else:
            previous_batch = self._batch
            if batch is previous_batch:
                new_batch = False
            elif type(batch) is Source and type(previous_batch) is Source:
                # the reader's: a Source per line, or per response when the input's lines
                # do not follow its responses (errors.same_batch; its usual case, a line
                # each, inlined)
                if batch.batch is None and previous_batch.batch is None:
                    new_batch = batch.line != previous_batch.line \
                        or batch.path != previous_batch.path
                else:
                    new_batch = not same_batch(batch, previous_batch)
            else:
                new_batch = batch != previous_batch
            if new_batch:  # the batch before becomes the one to compare with
                self._batch = batch
                previous = self._batch_digests
                digests = self._previous_batch  # reused: one list less per batch
                digests.clear()
                self._previous_batch, self._batch_digests = previous, digests
                digests.append(digest)
                repeating = self._repeating = digest is not None and bool(previous) \
                    and previous[0] == digest
            else:
                digests = self._batch_digests
                digests.append(digest)
                repeating = False
                if self._repeating:
                    previous, at = self._previous_batch, len(digests) - 1
                    repeating = self._repeating = digest is not None \
                        and at < len(previous) and previous[at] == digest
            if repeating and route.cls not in _LIFECYCLE_EVENTS:
                name = facts.type if isinstance(facts, ev.UnknownEvent) else route.cls.TYPE
                self._violate(RuleName.DUPLICATE_EVENT, f"the same {name} again: its "
                              "response repeats the one before it",
                              contact_id=getattr(facts, "contact_id", None), change=False)
                self.events += 1
                # what the event made before (its bad fields' violations) is still a change
                return _taken(out)
        # After a RemoteAgentSessionEnd the platform logs the agent out (AgentState,
        # AgentLeg...) until its AgentSessionEnd: only events after that one are late.
        if self.info.saw_end_event and route.cls not in END_EVENTS:
            name = facts.type if isinstance(facts, ev.UnknownEvent) else route.cls.TYPE
            self._violate(RuleName.EVENT_AFTER_END, f"{name} after the session ended "
                          f"({self.info.end_reason} at event {self.info.end_index})",
                          machine=SESSION.name, state=self.info.status, trigger=name)
        route.handle(self, facts, batch, digest)
        self.events += 1
        if route.repeats and digest is not None:
            # an agent, leg or contact event was applied (or was its subject's last again:
            # then its digest is in the ring already): remember it a while
            recent = self._recent
            if recent is None:
                recent = self._recent = array("Q", bytes(8 * RECENT))
            at = self._recent_at
            recent[at] = digest
            self._recent_at = (at + 1) % RECENT
        if not out:  # _taken(out), inlined: this is every event's way out
            return NO_CHANGES
        changes = tuple(out)
        out.clear()
        return changes

    def snapshot(self) -> Snapshot:
        """This session now, as a frozen value."""
        return snapshot_of(self)

    def report_input_error(self, error: InputError,
                           source: Source | None = None) -> tuple[Change, ...]:
        """Account for an input item that could not be read: it takes an index and a violation."""
        out = self._out
        if out:  # what a strict-mode raise left half-made
            out.clear()
        self._take_index(source or error.source)
        self._violate(rule_of(error), error.detail, strict=False)
        return _taken(out)

    def _take_index(self, source: Source | None) -> None:
        """The next index of this session goes to the item now applied, from ``source``."""
        self._index = self.position
        self._source = source
        if not self.position:  # kept for no-session-start, reported at index 0 at the end
            self.info.first_source = source
        self.position += 1

    def end(self, reason: str = "409", message: str | None = None) -> tuple[Change, ...]:
        """End the session from outside the stream (HTTP 409): the same end as AgentSessionEnd."""
        out = self._out
        if out:  # what a strict-mode raise left half-made
            out.clear()
        self._index = self.position
        self._source = None
        self._end(reason, message)
        return _taken(out)

    def finish(self) -> tuple[Change, ...]:
        """The input is over: run the checks that need the whole stream. Idempotent.

        Returns the violations those checks found (they point at earlier events)."""
        if self.finished:
            return NO_CHANGES
        out = self._out
        if out:  # what a strict-mode raise left half-made
            out.clear()
        self.finished = True
        # The end-of-stream checks point at an earlier event: its index *and* its source.
        if self.position and not self.info.saw_start:
            self._index, self._source = 0, self.info.first_source
            self._violate(RuleName.NO_SESSION_START, "the stream has no AgentSessionStart event",
                          strict=False)
        if self.info.remote_end_index is not None and not self.info.saw_end_event:
            self._index, self._source = self.info.remote_end_index, self.info.remote_end_source
            self._violate(RuleName.REMOTE_END_WITHOUT_END,
                          "RemoteAgentSessionEnd was never followed "
                          "by AgentSessionEnd or a 409", strict=False)
            self._check_contacts_open()  # judged now, pointed at the remote end
        self._check_contact_state_left()
        return _taken(out)

    # --- session ------------------------------------------------------------------------

    def _on_session_start(self, event: ev.AgentSessionStart, batch: Hashable | None,
                          digest: int | None) -> None:
        info = self.info
        info.session_id = event.session_id or info.session_id
        info.agent_id = event.agent_id or info.agent_id
        info.bus_no = event.bus_no or info.bus_no
        dest = SESSION.next_state(info.status, START)
        if dest is not None:
            self._moved(SESSION.name, None, info.status, dest, START, None, None, False)
            info.status = dest
        info.saw_start = True
        self._start_batch = batch

    def _on_session_end(self, event: ev.AgentSessionEnd, batch: Hashable | None,
                        digest: int | None) -> None:
        if event.success is not None and self.info.end_success is None:
            self.info.end_success = event.success
        if event.success is False:
            message = f": {event.message}" if event.message else ""
            self._violate(RuleName.SESSION_END_NOT_CLEAN,
                          f"AgentSessionEnd says the session did not end cleanly{message}")
        self._end("AgentSessionEnd", event.message)

    def _on_remote_end(self, event: ev.RemoteAgentSessionEnd, batch: Hashable | None,
                       digest: int | None) -> None:
        if self.info.status != "ended":
            self.info.remote_end_index = self._index
            self.info.remote_end_source = self._source
        self._end("RemoteAgentSessionEnd", event.message)

    def _on_http_end(self, event: ev.HttpSessionEnded, batch: Hashable | None,
                     digest: int | None) -> None:
        # A recorded 409 (follow --record): the same end as end("409"), now at its index.
        self._end("409", None)

    def _end(self, reason: str, message: str | None) -> None:
        info = self.info
        remote = reason == "RemoteAgentSessionEnd"
        # A remote logoff's own events (the contact's close, LoggedOut...) come between it
        # and the AgentSessionEnd that follows it (seed): what is still open is judged at
        # that end (or a 409), or at the end of the input when none comes (finish()).
        judge = not remote and not info.saw_end_event
        if not remote:
            info.saw_end_event = True
        if message and not info.end_message:
            info.end_message = message
        dest = SESSION.next_state(info.status, reason)
        if dest is None:  # ended already: one end, whatever repeats it
            if judge and info.end_reason == "RemoteAgentSessionEnd":
                self._check_contacts_open()
            return
        self._moved(SESSION.name, None, info.status, dest, reason, None, None, True)
        info.status = dest
        info.end_reason = reason
        info.end_index = self._index
        if judge:
            self._check_contacts_open()

    def _check_contacts_open(self) -> None:
        """``contacts-open-at-end`` for every contact still open, at the current index."""
        for contact in self.contacts.values():
            self._violate(RuleName.CONTACTS_OPEN_AT_END, f"{contact.media} {contact.contact_id} is "
                          f"still open ({contact.status}) when the session ended",
                          contact_id=contact.contact_id)

    # --- everything else ----------------------------------------------------------------

    def _on_agent_error(self, event: ev.AgentError, batch: Hashable | None,
                        digest: int | None) -> None:
        target = self.contacts.get(event.contact_id or "")
        if target is not None:
            target.errors = [*(target.errors or []), event]
        elif (event.target or "").lower() == "agentleg" and self.leg is not None:
            self.leg.errors = [*(self.leg.errors or []), event]
        else:
            self._own_list("session_errors").append(event)
        self._note(event.TYPE, event.contact_id, event)

    def _on_supervisor_monitor(self, event: ev.SupervisorMonitor, batch: Hashable | None,
                               digest: int | None) -> None:
        stop = event.final_state or (event.monitor_type or "").lower() == "stopmonitor"
        self.monitoring = None if stop else event
        self._note(event.TYPE, event.target_agent_id, event)

    def _on_take_over(self, event: ev.TakeOver, batch: Hashable | None, digest: int | None) -> None:
        self.take_over = event
        self._note(event.TYPE, None, event)

    def _on_indicator(self, event: ev.Indicator, batch: Hashable | None,
                      digest: int | None) -> None:
        self._own_map("indicators")[event.name or ""] = event
        self._note(event.TYPE, event.name, event)

    def _on_page_open(self, event: ev.PageOpen, batch: Hashable | None, digest: int | None) -> None:
        self._own_map("page_opens")[event.contact_id or ""] = event
        self._note(event.TYPE, event.contact_id, event)

    def _on_pop_url(self, event: ev.PopURL, batch: Hashable | None, digest: int | None) -> None:
        self._own_map("pop_urls")[event.contact_id or ""] = event
        self._note(event.TYPE, event.contact_id, event)

    def _on_custom(self, event: ev.CustomEvent, batch: Hashable | None, digest: int | None) -> None:
        self._own_map("custom_events")[event.event_name or ""] = event
        self._note(event.TYPE, event.event_name, event)

    def _on_skill_list(self, event: ev.NaturalCallingSkillList, batch: Hashable | None,
                       digest: int | None) -> None:
        self.skill_list = event
        self._note(event.TYPE, None, event)

    def _on_hours(self, event: ev.HoursOfOperation, batch: Hashable | None,
                  digest: int | None) -> None:
        self.hours_of_operation = event
        self._note(event.TYPE, None, event)

    def _on_mute(self, event: MuteFacts, batch: Hashable | None, digest: int | None) -> None:
        self.muted = event.agent_muted
        self._note(ev.Mute.TYPE, None, event.agent_muted)

    def _on_signal(self, event: Any, batch: Hashable | None, digest: int | None, *,
                   name: str) -> None:
        self._own_map("signals")[name] = self.signals.get(name, 0) + 1
        self._note(name, None, None)

    def _on_noted(self, event: Any, batch: Hashable | None, digest: int | None) -> None:
        """A type the stream carries beyond the documentation: kept for what it says."""
        self._note(event.TYPE, getattr(event, "contact_id", None), event)

    def _on_unknown(self, event: ev.UnknownEvent, batch: Hashable | None,
                    digest: int | None) -> None:
        self._own_map("unknown_types")[event.type] = self.unknown_types.get(event.type, 0) + 1
        self._note(event.type, None, event)
        self._violate(RuleName.UNKNOWN_EVENT_TYPE, f"unknown event Type {event.type!r} (kept, not "
                      "interpreted)")


def engine_name() -> str:
    """The engine this process runs: ``python`` or ``native`` (``SESSION_FSM_ENGINE``;
    without it, the native core when it is built: ``engine/native.py``)."""
    from .native import engine_name as chosen

    return chosen()


def session_type(engine: str | None = None) -> Callable[..., AgentSession]:
    """The session class of ``engine`` (default: :func:`engine_name`'s)."""
    if (engine or engine_name()) == "python":
        return AgentSession
    from .native import NativeSession

    return NativeSession


def new_session(key: str = "-", *, strict: bool = False, ignore: Iterable[str] = (),
                engine: str | None = None) -> AgentSession:
    """A session of ``engine`` (default: the one this process runs)."""
    return session_type(engine)(key, strict=strict, ignore=ignore)


def adopt(session: AgentSession, engine: str | None = None) -> AgentSession:
    """``session`` (the reference's records, as a checkpoint restores them) as a session of
    ``engine`` (default: the one this process runs): the same state, in the core if native."""
    if type(session) is not AgentSession or (engine or engine_name()) == "python":
        return session
    from .native import NativeSession

    return NativeSession.from_reference(session)


def _subscriber_raised(change: Change) -> None:
    """Called in an ``except`` block: log what a subscriber raised, with its traceback."""
    log.exception("a change subscriber raised on %r; the engine goes on", change)


def _taken(out: list[Change]) -> tuple[Change, ...]:
    """The changes ``out`` gathered, leaving it empty: a live session keeps no change (and
    reuses its one list) between events."""
    if not out:
        return NO_CHANGES
    changes = tuple(out)
    out.clear()
    return changes


def rule_of(error: InputError) -> RuleName:
    """The rule an input item that could not be read breaks."""
    if isinstance(error, FieldError):
        return RuleName.BAD_FIELD
    if isinstance(error, NotAnEventError):
        return RuleName.NOT_AN_EVENT
    return RuleName.NOT_JSON


def read_event(event: ev.Event | Mapping[str, Any], source: Source | None,
               raise_errors: bool) -> tuple[_Route, Any, tuple[FieldError, ...], int | None] \
        | InputError:
    """What both engines read of one event before applying it: its route, its facts (or
    the typed event, for the types handled whole), the fields the codec left out, and
    its digest; or the :class:`InputError` of an object that is no event at all.

    The frequent types are read straight from the wire (see ``facts.py``); anything
    else, or a wire object that needs the codec's general path, is decoded. With
    ``raise_errors`` an undecodable object raises (located at ``source``) instead.
    """
    wire = event if type(event) is dict else None
    facts = None
    bad_fields: tuple[FieldError, ...] = ()
    route: _Route | None = None
    if wire is not None:
        type_name = wire.get("Type")
        # a Type that is no string (an array, an object) is decode()'s to refuse
        found = _WIRE_READERS.get(type_name) if type(type_name) is str else None
        if found is not None:
            read, route = found
            facts = read(wire)
    if facts is None:
        typed = _ROUTES.get(type(event))
        if typed is None:  # a wire object, or not an event at all
            try:
                event = decode(event)
            except InputError as error:
                if raise_errors:
                    raise (error.located(source) if source is not None else error) from None
                if not isinstance(error, FieldError):
                    return error
                # one bad value must not lose the rest of the event: apply what is
                # good, and report each bad field at the event's place
                try:
                    event, bad_fields = decode_lenient(event)
                except InputError as worse:
                    return worse
            typed = _ROUTES[type(event)]
        route = typed
        facts = facts_of_event(event) if route.read is not None else event
    # the digest of what came (the wire object, if it was one): tells a redelivery.
    # facts.wire_digest, inlined: every event pays it.
    digest: int | None
    if wire is not None:
        try:
            data = _dumps(wire)
        except TypeError:  # orjson cannot write it: never taken for a redelivery
            digest = None
        else:
            digest = _crc32(data) | _adler32(data) << 32
    else:
        digest = event_digest(event)
    assert route is not None
    return route, facts, bad_fields, digest


class _Route(NamedTuple):
    """How the engine takes one event type."""

    cls: type[Any]
    handle: Callable[[AgentSession, Any, Hashable | None, Any], None]
    read: Callable[[Mapping[str, Any]], Any] | None
    """Its facts straight from a wire object (None: the handler takes the typed event)."""
    repeats: bool
    """Whether a redelivery is told apart (its digest is computed)."""


def _route(cls: type[Any], handle: Callable[..., None], *, repeats: bool = False) -> _Route:
    return _Route(cls, handle, wire_reader(cls) if cls in FACTS_OF else None, repeats)


_ROUTES: dict[type[Any], _Route] = {route.cls: route for route in (
    _route(ev.AgentSessionStart, AgentSession._on_session_start),
    _route(ev.AgentSessionEnd, AgentSession._on_session_end),
    _route(ev.RemoteAgentSessionEnd, AgentSession._on_remote_end),
    _route(ev.HttpSessionEnded, AgentSession._on_http_end),
    _route(ev.AgentState, AgentSession._on_agent_state, repeats=True),
    _route(ev.AgentLeg, AgentSession._on_agent_leg, repeats=True),
    _route(ev.AgentError, AgentSession._on_agent_error),
    _route(ev.NaturalCallingSkillList, AgentSession._on_skill_list),
    _route(ev.ChatText, AgentSession._on_chat_text),
    _route(ev.Indicator, AgentSession._on_indicator),
    _route(ev.PageOpen, AgentSession._on_page_open),
    _route(ev.PopURL, AgentSession._on_pop_url),
    _route(ev.Mute, AgentSession._on_mute),
    _route(ev.TakeOver, AgentSession._on_take_over),
    _route(ev.SupervisorMonitor, AgentSession._on_supervisor_monitor),
    _route(ev.CustomEvent, AgentSession._on_custom),
    _route(ev.HoursOfOperation, AgentSession._on_hours),
    _route(ev.UnknownEvent, AgentSession._on_unknown),
    *(_route(cls, partial(AgentSession._on_contact, media=media), repeats=True)
      for cls, media in ev.MEDIA_OF.items()),
    *(_route(cls, partial(AgentSession._on_signal, name=cls.TYPE)) for cls in ev.SIGNAL_EVENTS),
    *(_route(cls, AgentSession._on_noted) for cls in ev.NOTED_EVENTS),
)}
_WIRE_READERS: dict[Any, tuple[Callable[[Mapping[str, Any]], Any], _Route]] = {
    cls.TYPE: (route.read, route) for cls, route in _ROUTES.items() if route.read is not None
}
"""Facts readers and routes by the wire's ``Type`` as documented, for the types read
straight from the wire."""


class SessionEngine:
    """Many sessions, keyed by the reader's session key; one :class:`AgentSession` each.

    Every method that applies something returns the changes it made (``changes.py``) and
    hands each, in order, to every subscriber (:meth:`subscribe`).
    """

    def __init__(self, *, strict: bool = False, ignore: Iterable[str] = (),
                 engine: str | None = None) -> None:
        self.strict = strict
        self.ignore = frozenset(ignore)
        self.engine = engine or engine_name()
        """``python`` (the reference) or ``native`` (the core): see :func:`engine_name`."""
        self._new: Callable[..., AgentSession] = session_type(self.engine)
        self.sessions: dict[str, AgentSession] = {}
        self._subscribers: list[Subscriber] = []

    @overload
    def subscribe(self, callback: Subscriber, /) -> Callable[[], None]: ...

    @overload
    def subscribe(self, callback: Callable[[_C], object], kind: type[_C], /,
                  *kinds: type[_C]) -> Callable[[], None]: ...

    def subscribe(self, callback: Callable[[Any], object], /,
                  *kinds: type[Any]) -> Callable[[], None]:
        """Call ``callback(change)`` for every change from now on, in order, or only for
        the changes of the ``kinds`` given (``engine.subscribe(on_status, AgentStatus)``);
        returns a callable that unsubscribes (calling it twice is harmless).

        Subscribers are called in the order they subscribed, each with every change of
        an event before the next event is applied. A subscriber that raises has its
        exception logged (logger ``session_fsm.engine.session``, with the traceback) and
        stays subscribed: the change is already applied, the other subscribers still get
        it, and ``feed()`` returns as usual.
        """
        if kinds:
            wanted = kinds
            every = callback

            def callback(change: Change) -> None:
                if isinstance(change, wanted):
                    every(change)

        subscribers = self._subscribers

        def unsubscribe() -> None:
            if callback in subscribers:
                subscribers.remove(callback)

        subscribers.append(callback)
        return unsubscribe

    def _publish(self, changes: tuple[Change, ...]) -> tuple[Change, ...]:
        # A subscriber may unsubscribe (or subscribe another) while called: who is called
        # is fixed once per event, and gets the rest of this event's changes.
        subscribers = self._subscribers
        if len(subscribers) == 1:  # the usual case (a fold, a follower): no inner loop
            callback = subscribers[0]
            for change in changes:
                try:
                    callback(change)
                except Exception:
                    _subscriber_raised(change)
            return changes
        callbacks = tuple(subscribers)
        for change in changes:
            for callback in callbacks:
                try:
                    callback(change)
                except Exception:
                    _subscriber_raised(change)
        return changes

    def session(self, key: str) -> AgentSession:
        """The session for ``key``, created on first use."""
        found = self.sessions.get(key)
        if found is None:
            found = self.sessions[key] = self._new(key, strict=self.strict, ignore=self.ignore)
        return found

    def feed(
        self,
        event: ev.Event | Mapping[str, Any],
        *,
        key: str = "-",
        source: Source | None = None,
        batch: Hashable | None = None,
        on_error: OnError = "report",
    ) -> tuple[Change, ...]:
        """Apply one event to the session ``key`` (see :meth:`AgentSession.feed`); the
        changes it made.

        A session is created by its first event; one whose first event raises (a bad
        wire object with ``on_error="raise"``, a forbidden transition in strict mode)
        is not created, as nothing was applied.
        """
        session = self.sessions.get(key)
        new = session is None
        if session is None:
            session = self._new(key, strict=self.strict, ignore=self.ignore)
        changes = session.feed(event, source=source, batch=batch, on_error=on_error)
        if new:  # only once its first event applied (it raised otherwise)
            self.sessions[key] = session
        return self._publish(changes) if self._subscribers else changes

    def line_taker(
        self,
        on_wire: Callable[[str, dict[str, Any], Source], object],
        on_changes: Callable[[tuple[Change, ...]], object] | None = None,
    ) -> Callable[[bytes, str, int, int, bool], tuple[int, int, int]] | None:
        """For the reader's ``take_lines`` (:func:`~session_fsm.wire.reader.iter_wire`):
        the native core reads JSON Lines lines' bytes and applies their events itself;
        None on the Python engine. ``taker(data, path, first line, max_line_bytes,
        last)`` returns (bytes taken, lines taken, events applied).

        Every event the core does not read itself goes to ``on_wire(key, wire, source)``
        (which should :meth:`feed` it), in its place, exactly as the reader would have
        yielded it. ``on_changes`` is handed each applied event's changes; without it,
        and while nobody subscribes, the core makes none (the records and violations are
        the same either way). Subscribers get every change as from :meth:`feed`.
        Sessions are looked up once each: replace none while the taker is in use.
        """
        if self.engine != "native":
            return None
        from .native import lines_of

        return lines_of(self, on_wire, on_changes)

    def report_input_error(self, key: str, error: InputError,
                           source: Source | None = None) -> tuple[Change, ...]:
        """Account for an unreadable input item of session ``key``."""
        return self._publish(self.session(key).report_input_error(error, source))

    def end(self, key: str, reason: str = "409", message: str | None = None) -> tuple[Change, ...]:
        """End session ``key`` from outside the stream (HTTP 409)."""
        return self._publish(self.session(key).end(reason, message))

    def finish(self) -> tuple[Change, ...]:
        """The input is over: run every session's whole-stream checks; what they found."""
        found: list[Change] = []
        for session in self.sessions.values():
            found.extend(session.finish())
        return self._publish(tuple(found)) if found else NO_CHANGES

    def snapshot(self, key: str | None = None) -> tuple[Snapshot, ...]:
        """Frozen snapshots of every session (or of session ``key``), in first-seen order.

        Asking for a key no event was fed under raises ``KeyError``: a question about a
        session never creates one (a typo would become an empty session in every later
        snapshot)."""
        if key is None:
            return tuple(snapshot_of(s) for s in self.sessions.values())
        found = self.sessions.get(key)
        if found is None:
            raise KeyError(f"no session {key!r}: no event was fed under that key")
        return (snapshot_of(found),)

    def agent_snapshot(self, agent_id: str) -> Snapshot | None:
        """The snapshot of agent ``agent_id``'s session (the ``AgentId`` of its
        ``AgentSessionStart``): of its active sessions the one that began last, else the
        one that began last; None when no session names that agent."""
        found = None
        for session in self.sessions.values():
            info = session.info
            if info.agent_id == agent_id and (
                    found is None or info.status == "active" or found.info.status != "active"):
                found = session
        return None if found is None else snapshot_of(found)

    def violations(self) -> Iterator[Violation]:
        """Every violation of every session, session by session, in event order."""
        for session in self.sessions.values():
            yield from sorted(session.violations, key=lambda v: v.event_index)

