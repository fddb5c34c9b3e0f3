"""What travels on the topics, with no Kafka in it: the input messages a recording or a
poller makes, how a processor applies one, and the change and snapshot records.

An input message is one get-next-event response of one session (the reader's *batch*:
a response, an envelope, or a line of bare events), keyed by the session, its value a
keyed envelope of the contract with where it came from::

    {"session": KEY, "events": [...], "source": {"path": P, "line": L, "batch": [l, i]}}

``source`` is the reader's :class:`~session_fsm.errors.Source` of its events, so a
processor feeds them exactly as ``changes`` feeds the recording (violations quote the
same ``file:line``, and a redelivered response is told by its batch); ``batch`` is null
when the line is the batch, and ``lines`` (one per event) is there only when the events
start on different lines (a pretty-printed document). An item the reader could not read
(a line that is not JSON, an element that is no event) is a message of its own, at its
place, so the processor records it where ``changes`` does::

    {"session": KEY, "unreadable": {"rule": "not-json", "detail": "..."}, "source": {...}}

A change record is the ``changes --json`` line of one change, keyed by the session, with
the header ``session-fsm-change``: the change's 0-based position in its session's change
stream. That position is the change's identity: a processor that redoes work (after a
crash, or on a broker that hands aborted records to ``read_committed`` readers) makes
the same record under the same position, so a reader can tell a redelivery from a new
change, and a gap from a loss. A snapshot record is the ``snapshot --json`` entry of the
session after the message, with the header ``session-fsm-changes``: how many changes the
session had made by then.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Final

import attrs
import orjson

from ...engine import AgentSession
from ...engine.changes import Change, as_json
from ...engine.snapshot import to_json as snapshot_json
from ...errors import InputError, NotAnEventError, NotJsonError, Source
from ...wire.codec import kind_of
from ...wire.reader import ReadError, WireItem

CHANGE_HEADER: Final = "session-fsm-change"
"""Header of a change record: its 0-based position in its session's change stream."""

CHANGES_HEADER: Final = "session-fsm-changes"
"""Header of a snapshot record: the changes its session had made when it was taken."""

NOT_AN_EVENT: Final = "not-an-event"
NOT_JSON: Final = "not-json"


@attrs.frozen(slots=True)
class InputMessage:
    """One input message: its key (the session) and its value."""

    key: str
    value: bytes
    events: int
    """Events it carries (0 for an unreadable item)."""


def recording_messages(items: Iterable[WireItem | ReadError]) -> Iterator[InputMessage]:
    """The input messages of a recording's items (:func:`~session_fsm.wire.reader.iter_wire`
    with ``on_error="report"``), in its order: each run of events of one session and one
    batch is one message, each unreadable item one of its own."""
    run: list[WireItem] = []
    for item in items:
        if type(item) is ReadError:
            if run:
                yield _events_message(run)
                run = []
            yield unreadable_message(item.key, item.error, item.source)
            continue
        key, _, source = item  # type: ignore[misc]
        if run and (run[0][0] != key or not _same_batch(run[0][2], source)):
            yield _events_message(run)
            run = []
        run.append(item)  # type: ignore[arg-type]
    if run:
        yield _events_message(run)


def _same_batch(one: Source, other: Source) -> bool:
    # the engine's own test of a new batch (engine/session.py), so a message is what
    # the engine would take as one response
    if one.path != other.path:
        return False
    if one.batch is None and other.batch is None:
        return one.line == other.line
    return (one.batch or (one.line, 0)) == (other.batch or (other.line, 0))


def _source_json(source: Source) -> dict[str, Any]:
    return {"path": source.path, "line": source.line,
            "batch": list(source.batch) if source.batch is not None else None}


def _events_message(run: list[WireItem]) -> InputMessage:
    key, _, first = run[0]
    source = _source_json(first)
    if any(at.line != first.line for _, _, at in run):
        source["lines"] = [at.line for _, _, at in run]
    value = orjson.dumps({"session": key, "events": [wire for _, wire, _ in run],
                          "source": source})
    return InputMessage(key, value, len(run))


def unreadable_message(key: str, error: InputError, source: Source) -> InputMessage:
    """The message of an item that could not be read: where it was and what was wrong."""
    rule = NOT_AN_EVENT if isinstance(error, NotAnEventError) else NOT_JSON
    value = orjson.dumps({"session": key, "unreadable": {"rule": rule, "detail": error.detail},
                          "source": _source_json(source)})
    return InputMessage(key, value, 0)


def response_message(key: str, line: bytes, source: Source) -> InputMessage:
    """The message of a polled answer: ``line`` is its recorded line (a get-next-event
    response, ``{"sessionId": ..., "events": [...]}``), ``source`` where the poller's
    engine says its events came from (``get-next-event`` and the response number)."""
    events = orjson.loads(line)["events"]
    value = orjson.dumps({"session": key, "events": events, "source": _source_json(source)})
    return InputMessage(key, value, len(events))


# --- applying a message ----------------------------------------------------------------------


class _BadMessage(Exception):  # noqa: N818 - an outcome inside this module, said as a violation
    """An input message that is not one of ours (another producer's, or damaged)."""


_SOURCE_KEYS: Final = frozenset({"path", "line", "batch", "lines"})


def _source_of(value: dict[str, Any]) -> tuple[Source, list[int]]:
    source = value.get("source")
    if type(source) is not dict or not _SOURCE_KEYS.issuperset(source):
        raise _BadMessage('"source" must be an object of path, line, batch (and lines)')
    path, line, batch = source.get("path"), source.get("line"), source.get("batch")
    if type(path) is not str or type(line) is not int or line < 0:
        raise _BadMessage('"source" needs a "path" string and a "line" number')
    if batch is not None and (type(batch) is not list or len(batch) != 2
                              or not all(type(n) is int for n in batch)):
        raise _BadMessage('"source.batch" must be null or [line, position]')
    lines = source.get("lines")
    if lines is not None and (type(lines) is not list
                              or not all(type(n) is int for n in lines)):
        raise _BadMessage('"source.lines" must be a list of line numbers')
    return Source(path, line, (batch[0], batch[1]) if batch is not None else None), lines or []


def apply_message(session: AgentSession, data: bytes, where: Source) -> tuple[Change, ...]:
    """Feed one input message's value into ``session`` as the recording it came from
    would be fed (``changes``' way: every event with its source, its source the batch);
    the changes, the end-of-stream checks' included once the session has ended (as
    ``follow`` and ``serve`` run them: a live stream has no end of its own).

    A value that is no message of ours (another producer's, or damaged) is never
    dropped in silence: it is a ``not-json`` or ``not-an-event`` violation of the
    session, at ``where`` (the topic, partition and offset it came from)."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        return session.report_input_error(NotJsonError(f"not valid JSON: {error.msg}"), where)
    try:
        return _apply(session, value)
    except _BadMessage as bad:
        return session.report_input_error(NotAnEventError(
            f"not a session-fsm input message: {bad}"), where)


def _apply(session: AgentSession, value: Any) -> tuple[Change, ...]:
    if type(value) is not dict:
        raise _BadMessage(f"expected an object, got {kind_of(value)}")
    first, lines = _source_of(value)
    changes: list[Change] = []
    if "unreadable" in value:
        what = value["unreadable"]
        if type(what) is not dict or type(what.get("detail")) is not str:
            raise _BadMessage('"unreadable" must be an object with a "detail" string')
        kind = NotAnEventError if what.get("rule") == NOT_AN_EVENT else NotJsonError
        changes.extend(session.report_input_error(kind(what["detail"]), first))
    else:
        events = value.get("events")
        if type(events) is not list:
            raise _BadMessage('"events" must be an array')
        if lines and len(lines) != len(events):
            raise _BadMessage('"source.lines" must have a line for each event')
        for n, wire in enumerate(events):
            at = Source(first.path, lines[n], first.batch) if lines else first
            if type(wire) is dict:  # the engine reads it, and says what is wrong with it
                changes.extend(session.feed(wire, source=at, batch=at))
            else:  # as the poll core says it (io/poll.py)
                error = NotAnEventError(f"expected an event object, got {kind_of(wire)}")
                changes.extend(session.report_input_error(error, at))
    if session.info.saw_end_event:
        changes.extend(session.finish())
    return tuple(changes)


# --- records out -----------------------------------------------------------------------------


def change_records(changes: Iterable[Change], first: int) -> list[tuple[bytes, int]]:
    """Each change's ``changes --json`` line and its position in its session's stream,
    counting from ``first``."""
    return [(orjson.dumps(as_json(change)), first + n) for n, change in enumerate(changes)]


def snapshot_record(session: AgentSession) -> bytes:
    """The session's ``snapshot --json`` entry."""
    return orjson.dumps(snapshot_json(session.snapshot()))
