"""Replaying archives: stage events, order each session's, fold them through the engine into rows.

This module is the engine-agnostic core of ``session-fsm replay``; the local run
(:func:`replay_local`) and the Dask run (:mod:`session_fsm.io.replay_dask`) call the same
three functions, so both write identical tables:

1. :func:`stage_archive` reads one archive with the reader (one parsing path for every
   command) and writes its events as Parquet rows of :data:`EVENT_SCHEMA`: session key,
   archive, archive number, line, position within the line, the ordering clock and the
   event's raw JSON. An unreadable item becomes a row of its own (``kind`` 2), so it
   takes its place in its session like an event and is never dropped.
2. The rows are grouped by session (one process, or Dask's shuffle) and sorted by
   :data:`ORDER` within each group: the *ordering clock*, then the archive offset.
3. :func:`fold_table` folds each session's rows, in that order, through
   :class:`~session_fsm.engine.AgentSession` (the only place that fires transitions) and
   writes five tables. ``snapshots`` is each session's snapshot at the end. The other
   four are folds of the *change stream* (``engine/changes.py``: what ``feed()``,
   ``report_input_error()`` and ``finish()`` return), not of the engine's records,
   which keep no history. ``contact_steps``: a contact's ``Transition`` changes are its
   steps (a step ends where the contact's next one begins; its close makes the step it
   ends final); a contact's history ends at its final step (a status after it is the
   contact-after-final violation's, not a step).
   ``contacts``: one row per contact, made from its whole history once it is settled
   (:class:`~session_fsm.views.contacts.ContactsFold`), with its outcome.
   ``agent_states``: each ``AgentStatus`` begins an interval that ends where the next
   begins, and ``AcwLinked`` names the contact of the ACW in progress. Durations are
   counted as :mod:`session_fsm.views.history` counts them. ``violations``: every
   violation of the session as each call adds it, with its place in the session's list
   as ``ordinal``; the list rather than the ``Violation`` changes, because a
   redelivery's ``duplicate-event`` is a violation but not a change.

The ordering clock. The stream has no per-event delivery time, and the timestamps it
does carry (:data:`TIME_FIELDS`) say when a *state began*: an ``AgentState`` repeated
for a change of ``NextStates`` keeps its old ``StartTimeUTC``, a contact event that only
changes ``IsLinked`` keeps its ``LastStateChangeTimeUTC``, and a join replays contacts
with timestamps from minutes ago. Sorting on those raw values would move such an event
back among events that came before it. So each event's clock is the *running maximum*
of the timestamps read so far in its archive (every session's, the event's own
included): it never goes backwards within an archive, which therefore keeps its own
order exactly, while events of one session spread over several archives interleave by
time. An event without a timestamp gets the clock of the events before it (the first
timestamp that follows, when none came before), so it keeps its place among its
archive neighbours. Ties (CXone times have millisecond resolution, and the clock ties
whenever an event has no newer time) are broken by the archive offset: the archive's
position on the command line, the line, the position within the line.

Time-chunked replay. With a checkpoint directory, a session still open at the end of a
chunk is not finished. A row is written as soon as it can no longer change (a step once
the contact's next step or its close is known, an interval once the next one began, a
violation at once) and never again, so what a chunk leaves unwritten is exactly what is
still open: each open contact's last step (and the disconnect code its next step will
carry) and the agent's current interval, a small
:class:`~session_fsm.views.history.SessionLog`. It goes into the next chunk's input with
the engine's state (:func:`~session_fsm.io.checkpoint.dump_session` and
:func:`~session_fsm.io.checkpoint.dump_history`) as one row that sorts before the
session's events, and is checked like any checkpoint when read back; the last chunk
(``last_chunk``) finishes every session and writes what is still open as it stands. So
the chunks' tables, put together, are the tables of one whole replay.
"""

from __future__ import annotations

import functools
import operator
import os
import shutil
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

import attrs
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..engine import AgentSession, new_session
from ..engine.changes import (
    AcwLinked,
    AgentStatus,
    Change,
    ContactDetails,
    Transition,
)
from ..engine.rules import Violation
from ..engine.snapshot import to_json
from ..errors import (
    CheckpointLoadError,
    InputError,
    InputTooLargeError,
    NotAnEventError,
    NotJsonError,
    ReplayError,
    Source,
)
from ..machines.contacts import CONTACT_MACHINES
from ..views.contacts import ContactsFold
from ..views.history import AgentInterval, ContactLog, SessionLog, Step
from ..wire.reader import ReadError, iter_wire
from .checkpoint import (
    dump_history,
    dump_session,
    load_history,
    load_session,
    state_bytes,
    write_atomic,
)

__all__ = [
    "EVENT_SCHEMA",
    "KIND_CHECKPOINT",
    "KIND_EVENT",
    "KIND_UNREADABLE",
    "NO_TIME",
    "ORDER",
    "ROWS_PER_PARTITION",
    "TABLES",
    "TABLE_ORDER",
    "TIME_FIELDS",
    "CheckpointStore",
    "FoldOptions",
    "FoldSummary",
    "ReplayError",
    "ReplaySummary",
    "StageResult",
    "check_archives",
    "event_time",
    "fold_table",
    "prepare_out",
    "read_table",
    "replay_local",
    "stage_archive",
]

# --- the staged events ---------------------------------------------------------------

KIND_CHECKPOINT: Final = 0
"""A session carried over from the previous chunk: ``raw`` is ``{"session": its engine
state, "history": its pending rows}``, ``archive`` and ``line`` the checkpoint part and
row it was read from."""
KIND_EVENT: Final = 1
"""A wire event: ``raw`` is its JSON object."""
KIND_UNREADABLE: Final = 2
"""An input item the reader could not read: ``raw`` is ``{"error": class, "detail": ...}``."""

NO_TIME: Final = -(2**63)
"""The clock of rows before any timestamp (an archive with none at all, or a checkpoint):
they sort before every timestamped row of their session."""

EVENT_SCHEMA: Final = pa.schema([
    ("session", pa.string()),
    ("archive", pa.string()),  # the path as given
    ("file_no", pa.int32()),  # the archive's position among this run's archives (-1: checkpoint)
    ("line", pa.int64()),  # 1-based line in the archive
    ("pos", pa.int32()),  # 0-based position of the event within its line
    ("ts", pa.int64()),  # the ordering clock: milliseconds since 1970 UTC, or NO_TIME
    ("kind", pa.int8()),
    ("raw", pa.binary()),
])

ORDER: Final = ("session", "ts", "file_no", "line", "pos")
"""How a session's rows are ordered: clock, then archive offset (unique per row)."""

# Which field holds the server time of each event type, first present wins (keys are
# matched case-insensitively, as the codec does). Types not listed carry no time of the
# event: AgentSessionStart's DialerCampaignStartTime and SupervisorMonitor's
# MonitorStartTime are when a campaign or monitoring began, not when the event was sent.
_CONTACT_TIMES = ("LastStateChangeTimeUTC", "LastStateChangeTime", "StartTimeUTC", "StartTime")
TIME_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "AgentState": ("StartTimeUTC",),
    "CallContactEvent": _CONTACT_TIMES,
    "WorkItemContactEvent": _CONTACT_TIMES,
    "VoiceMailContactEvent": _CONTACT_TIMES,
    "DigitalContactEvent": _CONTACT_TIMES,
    "SupervisorContact": _CONTACT_TIMES,
    "ChatContactEvent": ("LastStateChangeTime", "LastStateChangeTimeUTC", "StartTime",
                         "StartTimeUTC"),
    "ChatText": ("TimeStamp",),
    "TakeOver": ("TakeOverDate",),
}
_TIME_FIELDS_FOLDED: Final = {name.lower(): fields for name, fields in TIME_FIELDS.items()}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=1 << 16)
def _parse_ms(text: str) -> int | None:
    """An ISO 8601 timestamp in milliseconds since 1970 UTC; None when it is not one
    (the engine reports the bad field when it decodes the event)."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except (ValueError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return (parsed - _EPOCH) // _MS
    except OverflowError:
        return None


_MS: Final = datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC) - _EPOCH


def event_time(event: Mapping[str, Any]) -> int | None:
    """The server time (ms since 1970 UTC) :data:`TIME_FIELDS` names for a wire event."""
    type_name = event.get("Type")
    if type_name is None:
        type_name = event.get("type")
    if not isinstance(type_name, str):
        return None
    fields = _TIME_FIELDS_FOLDED.get(type_name.lower())
    if fields is None:
        return None
    keys: Mapping[str, str] | None = None
    for name in fields:
        value = event.get(name)
        if value is None:
            if keys is None:  # not spelled canonically: look the way the codec does
                keys = {key.lower(): key for key in event if isinstance(key, str)}
            found = keys.get(name.lower())
            value = event.get(found) if found is not None else None
        if isinstance(value, str) and value.strip():
            return _parse_ms(value)
    return None


@attrs.frozen(slots=True)
class StageResult:
    """What staging one archive found."""

    archive: str
    parts: tuple[str, ...]
    events: int
    unreadable: tuple[str, ...]
    """The first unreadable items, as ``file:line: message`` (at most ``_REPORTED``)."""
    unreadable_count: int


_REPORTED: Final = 100
_STAGE_ROWS: Final = 500_000
ROWS_PER_PARTITION: Final = 200_000
"""Rows folded per partition by default: few enough to keep a process's memory low
(the local engine folds one at a time), enough that a partition's overhead is small."""
_PROGRESS_ROWS: Final = 250_000


class _Columns:
    """Rows of ``schema`` (by default :data:`EVENT_SCHEMA`) collected column by column."""

    def __init__(self, schema: pa.Schema = EVENT_SCHEMA) -> None:
        self.schema = schema
        self.cols: tuple[list[Any], ...] = tuple([] for _ in schema)

    def add(self, *row: Any) -> None:
        for col, value in zip(self.cols, row, strict=True):
            col.append(value)

    def __len__(self) -> int:
        return len(self.cols[0])

    def clear(self) -> None:
        for col in self.cols:
            col.clear()

    def table(self) -> pa.Table:
        return pa.Table.from_arrays(
            [pa.array(col, type=field.type) for col, field in zip(self.cols, self.schema,
                                                                   strict=True)],
            schema=self.schema,
        )


def stage_archive(path: str, file_no: int, out_dir: str, *,
                  rows_per_part: int = _STAGE_ROWS) -> StageResult:
    """Read one archive into Parquet parts of :data:`EVENT_SCHEMA` under ``out_dir``.

    Reads with :func:`~session_fsm.wire.reader.iter_wire` in report mode: every unreadable
    item becomes a ``KIND_UNREADABLE`` row at its place. Raises :class:`OSError` when the
    archive cannot be opened. Memory: one part's rows, plus any rows that come before
    the archive's first timestamp (they wait for it).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts: list[str] = []
    rows = _Columns()
    waiting: list[tuple[Any, ...]] = []  # rows before the first timestamp: no clock yet
    clock: int | None = None
    events = unreadable_count = 0
    unreadable: list[str] = []
    line = pos = 0

    def dumps(value: Any) -> bytes:
        # orjson's bytes keep the capacity of its write buffer (several KiB for an event
        # of a few hundred bytes): a right-sized copy keeps staging's memory ~10x lower.
        return bytes(memoryview(orjson.dumps(value)))

    def flush() -> None:
        if len(rows):
            name = out / f"archive-{file_no:05d}-part-{len(parts):05d}.parquet"
            pq.write_table(rows.table(), name)
            parts.append(str(name))
            rows.clear()

    for item in iter_wire(path, on_error="report"):
        if type(item) is ReadError:
            key, source = item.key, item.source
            error = item.error
            raw = dumps({"error": type(error).__name__, "detail": error.detail})
            kind, own = KIND_UNREADABLE, None
            unreadable_count += 1
            if len(unreadable) < _REPORTED:
                unreadable.append(str(error))
        else:
            key, event, source = item  # type: ignore[misc]
            raw = dumps(event)
            kind, own = KIND_EVENT, event_time(event)
            events += 1
        if source.line != line:
            line, pos = source.line, 0
        else:
            pos += 1
        if own is not None and (clock is None or own > clock):
            clock = own
        if clock is None:
            waiting.append((key, path, file_no, line, pos, kind, raw))
            continue
        if waiting:
            for w_key, w_path, w_no, w_line, w_pos, w_kind, w_raw in waiting:
                rows.add(w_key, w_path, w_no, w_line, w_pos, clock, w_kind, w_raw)
            waiting.clear()
        rows.add(key, path, file_no, line, pos, clock, kind, raw)
        if len(rows) >= rows_per_part:
            flush()
    for w_key, w_path, w_no, w_line, w_pos, w_kind, w_raw in waiting:
        rows.add(w_key, w_path, w_no, w_line, w_pos, NO_TIME, w_kind, w_raw)
    flush()
    return StageResult(path, tuple(parts), events, tuple(unreadable), unreadable_count)


_ERRORS: Final[Mapping[str, type[InputError]]] = {
    cls.__name__: cls for cls in (NotJsonError, NotAnEventError, InputTooLargeError, InputError)
}


def _unreadable(raw: bytes, source: Source) -> InputError:
    data = orjson.loads(raw)
    cls = _ERRORS.get(data["error"], InputError)
    return cls(data["detail"], source)


# --- the output tables ------------------------------------------------------------------

_TIME: Final = pa.timestamp("us", tz="UTC")
TABLES: Final[Mapping[str, pa.Schema]] = {
    "snapshots": pa.schema([
        ("session", pa.string()),
        ("session_id", pa.string()),
        ("agent_id", pa.string()),
        ("bus_no", pa.string()),
        ("status", pa.string()),
        ("end_reason", pa.string()),
        ("end_message", pa.string()),
        ("agent_state", pa.string()),
        ("agent_out_reason", pa.string()),
        ("agent_since", _TIME),
        ("agent_is_acw", pa.bool_()),
        ("agent_leg_id", pa.string()),
        ("agent_leg_status", pa.string()),
        ("open_contacts", pa.int32()),
        ("linked_contact_id", pa.string()),
        ("events", pa.int64()),
        ("violations", pa.int64()),
        ("snapshot", pa.string()),  # the whole entry of `snapshot --json`'s sessions
    ]),
    "contacts": pa.schema([
        ("session", pa.string()),
        ("agent_id", pa.string()),
        ("contact_id", pa.string()),
        ("event_index", pa.int64()),  # where the contact was first seen
        ("media", pa.string()),
        ("skill", pa.string()),
        ("call_type", pa.string()),
        ("is_inbound", pa.bool_()),
        ("status", pa.string()),  # the last status
        ("started", _TIME),
        ("answered", _TIME),
        ("ended", _TIME),
        ("ring_s", pa.float64()),
        ("talk_s", pa.float64()),
        ("hold_s", pa.float64()),
        ("acw_s", pa.float64()),
        ("handle_time_s", pa.float64()),
        ("disconnect_code", pa.string()),
        ("outcome", pa.string()),
        ("closed", pa.bool_()),
    ]),
    "contact_steps": pa.schema([
        ("session", pa.string()),
        ("agent_id", pa.string()),
        ("contact_id", pa.string()),
        ("media", pa.string()),
        ("status", pa.string()),
        ("started", _TIME),
        ("final", pa.bool_()),
        ("event_index", pa.int64()),
        ("disconnect_code", pa.string()),
        ("ended", _TIME),
        ("duration_s", pa.float64()),
    ]),
    "agent_states": pa.schema([
        ("session", pa.string()),
        ("agent_id", pa.string()),
        ("state", pa.string()),
        ("out_reason", pa.string()),
        ("is_acw", pa.bool_()),
        ("started", _TIME),
        ("ended", _TIME),
        ("event_index", pa.int64()),
        ("duration_s", pa.float64()),
        ("acw_contact_id", pa.string()),
    ]),
    "violations": pa.schema([
        ("rule", pa.string()),
        ("severity", pa.string()),
        ("session", pa.string()),
        ("event_index", pa.int64()),
        ("contact_id", pa.string()),
        ("source", pa.string()),
        ("message", pa.string()),
        ("ordinal", pa.int64()),  # the violation's place in its session's list
    ]),
}

TABLE_ORDER: Final[Mapping[str, tuple[str, ...]]] = {
    "snapshots": ("session",),
    "contacts": ("session", "event_index", "contact_id"),
    "contact_steps": ("session", "event_index"),
    "agent_states": ("session", "event_index"),
    "violations": ("session", "event_index", "ordinal"),
}
"""The documented order of each table: every file of a table is in this order, and the
whole table, sorted by it, is the same for every engine and partitioning."""


@attrs.frozen(slots=True)
class FoldOptions:
    """How :func:`fold_table` treats the sessions still open at the end of the input."""

    out_dir: str
    carry_dir: str | None = None
    """Where open sessions' checkpoints go (None: no next chunk; finish every session)."""
    last_chunk: bool = True
    """Whether the input ends here: finish every session and write every row."""


@attrs.frozen(slots=True)
class FoldSummary:
    events: int = 0
    unreadable: int = 0
    sessions: int = 0
    violations: int = 0
    errors: int = 0
    carried: int = 0
    rows: Mapping[str, int] = attrs.field(factory=dict)

    def __add__(self, other: FoldSummary) -> FoldSummary:
        rows = dict(self.rows)
        for name, n in other.rows.items():
            rows[name] = rows.get(name, 0) + n
        return FoldSummary(self.events + other.events, self.unreadable + other.unreadable,
                           self.sessions + other.sessions, self.violations + other.violations,
                           self.errors + other.errors, self.carried + other.carried, rows)


def _us(value: datetime | None) -> int | None:
    if value is None:
        return None
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    """``end - start`` in seconds, as the history view counts durations: None when either
    is unknown or the server's clock went backwards (unknown time, not negative time)."""
    if start is None or end is None:
        return None
    seconds = (end - start).total_seconds()
    return seconds if seconds >= 0 else None


_MEDIA_OF_MACHINE: Final = {spec.name: media for media, spec in CONTACT_MACHINES.items()}


class _Output:
    """The rows of one partition, column by column, and the sessions it carries on."""

    def __init__(self, carry_part: str | None) -> None:
        self.tables = {name: _Columns(schema) for name, schema in TABLES.items()}
        self.carry = _Columns()
        self.carry_part = carry_part
        """Where the carried sessions go (None: none is carried)."""

    def add(self, table: str, *row: Any) -> None:
        self.tables[table].add(*row)

    def add_carried(self, key: str, data: Mapping[str, Any]) -> None:
        """A session for the next chunk: a row that sorts before its events there, and
        names its checkpoint part and row, should it be damaged by then."""
        assert self.carry_part is not None  # only a chunk with a next one carries
        self.carry.add(key, self.carry_part, -1, len(self.carry) + 1, 0, NO_TIME,
                       KIND_CHECKPOINT, state_bytes(data))  # an API integer past 64 bits too

    def write(self, out_dir: str, number: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        for name, rows in self.tables.items():
            # Written even when empty, so every table has every partition's file.
            pq.write_table(rows.table(), Path(out_dir, name, f"part-{number:05d}.parquet"))
            counts[name] = len(rows)
        if self.carry_part is not None and len(self.carry):
            pq.write_table(self.carry.table(), self.carry_part)
        return counts


class _SessionRows:
    """One session's rows of ``contacts``, ``contact_steps``, ``agent_states`` and
    ``violations``, folded from the changes the engine returns.

    A row is made once, when nothing can change it any more: a contact's step when the
    contact's next step (whose time ends it) or its close comes; a violation at once; an
    agent-state interval when the next one begins. A status after the close (a
    ``StatusAfterFinal``) is no step: the contact-after-final violation reports it. What can
    still change is :attr:`pending`, a :class:`~session_fsm.views.history.SessionLog` of
    what is still open and nothing else: each open contact with its media, its disconnect
    code (its next step's) and its last step, and the agent's current interval. A chunk that
    ends before the session does carries it on
    (:func:`~session_fsm.io.checkpoint.dump_history`) next to the engine's state;
    :meth:`close` writes it as it stands when the input is over (an open status then has no
    end, as in the history view without ``now``).

    ``contacts`` rows come from a :class:`~session_fsm.views.contacts.ContactsFold` of the
    same changes: a contact's row is made once it is settled (nothing can change it: the
    agent is in a state begun after its close that is no ACW for it), from its whole
    history, so its figures are the history view's. What that fold still holds (its
    ``log``: unsettled contacts with all their steps, the intervals they need) is carried
    by a chunk as ``pending`` is.
    """

    __slots__ = ("contacts", "intervals", "pending", "steps", "violations")

    def __init__(self, pending: SessionLog, contacts: SessionLog | None = None) -> None:
        self.pending = pending
        self.contacts = ContactsFold(contacts if contacts is not None
                                     else SessionLog(pending.key))
        self.steps: list[tuple[Any, ...]] = []
        self.intervals: list[tuple[Any, ...]] = []
        self.violations: list[tuple[Any, ...]] = []

    def apply(self, changes: Iterable[Change]) -> None:
        """Fold what one ``feed()`` (``report_input_error()``, ``finish()``) returned.

        Violation changes are left to :meth:`add_violations`: a redelivery's
        ``duplicate-event`` is a violation of the session but no change (see
        ``engine/changes.py``), and the table has every violation of the session.
        """
        for change in changes:
            fold = _FOLDS.get(type(change))  # NamedTuples: their exact classes
            if fold is not None:
                fold(self, change)
        self.contacts.apply(changes)

    def _details(self, change: ContactDetails) -> None:
        contact = self._contact(change.contact_id, change.media, change.event_index)
        contact.disconnect_code = change.disconnect_code

    def _status(self, change: AgentStatus) -> None:
        timeline = self.pending.timeline
        if timeline:  # the current interval ends where the new one begins
            self._interval(timeline[-1], change.at)
        timeline[:] = [AgentInterval(change.state, change.out_reason, change.is_acw,
                                     change.at, change.event_index)]

    def _acw_linked(self, change: AcwLinked) -> None:
        timeline = self.pending.timeline
        # the ACW in progress learns its contact: it is the current interval
        if timeline and timeline[-1].is_acw and timeline[-1].acw_contact_id is None:
            timeline[-1].acw_contact_id = change.contact_id

    def _contact(self, contact_id: str, media: str, index: int) -> ContactLog:
        contacts = self.pending.contacts
        found = contacts.get(contact_id)
        if found is None:
            found = contacts[contact_id] = ContactLog(contact_id, media, index)
        return found

    def _transition(self, change: Transition) -> None:
        media = _MEDIA_OF_MACHINE.get(change.machine)
        if media is None or change.subject is None:
            return  # not a contact's: the agent's timeline is AgentStatus's
        contact = self._contact(change.subject, media, change.event_index)
        last = contact.steps[-1] if contact.steps else None
        if change.final and last is not None and last.event_index == change.event_index:
            # the close of the status this same event moved into: that step is the final one
            self._step_row(contact.contact_id, media, attrs.evolve(last, final=True), None)
            del self.pending.contacts[contact.contact_id]
            return
        if last is not None:  # it lasted until this step
            self._step_row(contact.contact_id, media, last, change.at)
        step = Step(change.status or "", change.at, change.final, change.event_index,
                    contact.disconnect_code)
        if change.final:  # closed: its history ends here
            self._step_row(contact.contact_id, media, step, None)
            del self.pending.contacts[contact.contact_id]
        else:
            contact.steps[:] = [step]

    def _step_row(self, contact_id: str, media: str, step: Step, end: datetime | None) -> None:
        self.steps.append((self.pending.key, contact_id, media, step.status, _us(step.at),
                           step.final, step.event_index, step.disconnect_code, _us(end),
                           _seconds(step.at, end)))

    def _interval(self, interval: AgentInterval, end: datetime | None) -> None:
        self.intervals.append((self.pending.key, interval.state, interval.out_reason,
                               interval.is_acw, _us(interval.start), _us(end),
                               interval.event_index, _seconds(interval.start, end),
                               interval.acw_contact_id))

    def add_violations(self, violations: Sequence[Violation], first: int) -> None:
        """The session's violations from its ``first`` on: each one's place in the
        session's list is its ``ordinal``."""
        for ordinal in range(first, len(violations)):
            found = violations[ordinal]
            self.violations.append((found.rule, found.severity.value, found.session,
                                    found.event_index, found.contact_id, found.source,
                                    found.message, ordinal))

    def close(self) -> None:
        """The input is over: what is still open is written as it stands, without an end."""
        pending = self.pending
        for contact in pending.contacts.values():
            for step in contact.steps:
                self._step_row(contact.contact_id, contact.media, step, None)
        for interval in pending.timeline:
            self._interval(interval, None)
        pending.contacts.clear()
        pending.timeline.clear()
        self.contacts.close()

    def write(self, out: _Output, agent_id: str | None) -> None:
        """The rows made so far, in the tables' order (:data:`TABLE_ORDER`), with the
        session's agent id as it stands (AgentSessionStart, the first event, says it)."""
        for name, rows in (("contact_steps", self.steps), ("agent_states", self.intervals)):
            rows.sort(key=_EVENT_INDEX)
            for row in rows:
                out.add(name, row[0], agent_id, *row[1:])
            rows.clear()
        self.violations.sort(key=_VIOLATION_ORDER)
        for row in self.violations:
            out.add("violations", *row)
        self.violations.clear()
        made = self.contacts.rows
        made.sort(key=_CONTACT_ORDER)
        session = self.pending.key
        for (contact_id, index, media, skill, call_type, inbound, status, started, answered,
             ended, *rest) in made:
            out.add("contacts", session, agent_id, contact_id, index, media, skill, call_type,
                    inbound, status, _us(started), _us(answered), _us(ended), *rest)
        made.clear()


_FOLDS: Final[Mapping[type[Any], Callable[[_SessionRows, Any], None]]] = {
    Transition: _SessionRows._transition,
    ContactDetails: _SessionRows._details,
    AgentStatus: _SessionRows._status,
    AcwLinked: _SessionRows._acw_linked,
}
"""What each kind of change does to the rows; the other kinds (transcript lines, link
moves, notes, violations: see :meth:`_SessionRows.apply`) are in no table of these."""
_EVENT_INDEX: Final = operator.itemgetter(6)  # a contact_steps or agent_states row's
_CONTACT_ORDER: Final = operator.itemgetter(1, 0)  # a contact's event_index, contact_id
_VIOLATION_ORDER: Final = operator.itemgetter(3, 7)  # a violation's event_index, ordinal


def _ended_for_good(session: AgentSession) -> bool:
    """Ended, and not waiting for the AgentSessionEnd a RemoteAgentSessionEnd announces."""
    info = session.info
    return info.status == "ended" and (info.saw_end_event
                                       or info.end_reason != "RemoteAgentSessionEnd")


def _fold_session(key: str, rows: Iterator[tuple[int, str, int, bytes]], out: _Output,
                  options: FoldOptions) -> tuple[int, int, bool]:
    """Fold one session's rows (in order) through the engine, and the changes it returns
    into the session's table rows; (events, unreadable, carried)."""
    session: AgentSession | None = None
    folded = _SessionRows(SessionLog(key))
    events = unreadable = 0
    for kind, archive, line, raw in rows:
        if session is None:
            if kind == KIND_CHECKPOINT:
                session, folded = _carried(key, raw, archive, line)
                continue
            session = new_session(key)
        source = Source(archive, line)
        before = len(session.violations)
        if kind == KIND_EVENT:
            folded.apply(session.feed(orjson.loads(raw), source=source, batch=source))
            events += 1
        elif kind == KIND_UNREADABLE:
            folded.apply(session.report_input_error(_unreadable(raw, source), source))
            unreadable += 1
        else:
            raise ReplayError(f"session {key!r} has a second checkpoint row ({archive})")
        folded.add_violations(session.violations, before)
    assert session is not None  # a group has at least one row
    done = options.last_chunk or options.carry_dir is None or _ended_for_good(session)
    if done:
        before = len(session.violations)
        folded.apply(session.finish())  # the end-of-stream checks' violations
        folded.add_violations(session.violations, before)
        folded.close()
    _snapshot_row(session, out)
    folded.write(out, session.info.agent_id)
    if not done:
        out.add_carried(key, {"session": dump_session(session),
                              "history": dump_history(folded.pending),
                              "contacts": dump_history(folded.contacts.log)})
    return events, unreadable, not done


def _snapshot_row(session: AgentSession, out: _Output) -> None:
    snap = session.snapshot()
    data = to_json(snap)
    info, agent, leg = data["session"], snap.agent_state, snap.agent_leg
    out.add("snapshots", session.key, info["session_id"], info["agent_id"], info["bus_no"],
            info["status"], info["end_reason"], info["end_message"],
            agent.state if agent else None, agent.out_reason if agent else None,
            _us(agent.since) if agent else None, agent.is_acw if agent else None,
            leg.id if leg else None, leg.status if leg else None, len(snap.contacts),
            snap.linked_contact_id, snap.events, snap.violations,
            orjson.dumps(data).decode())


def _carried(key: str, raw: bytes, part: str, row: int) -> tuple[AgentSession, _SessionRows]:
    """A session carried from the previous chunk: its engine state and its pending rows,
    checked as any checkpoint is. A damaged one stops the replay with a
    :class:`ReplayError` naming the checkpoint part, row, session and field."""
    try:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise CheckpointLoadError(f"is not JSON ({error})") from None
        if not isinstance(data, dict) or sorted(data) != ["contacts", "history", "session"]:
            raise CheckpointLoadError("is not a carried session (an object of 'session', "
                                      "'history' and 'contacts')")
        session = _part(load_session, data, "session")
        pending = _part(load_history, data, "history")
        contacts = _part(load_history, data, "contacts")
        problem = _pending_problem(key, session, pending)
        if problem is None and contacts.key != key:
            problem = ("contacts.key", f"expected the row's session {key!r}, "
                       f"got {contacts.key!r}")
        if problem is not None:
            raise CheckpointLoadError(problem[1], problem[0])
    except CheckpointLoadError as error:
        raise ReplayError(str(error.located(f"{part} (row {row}, session {key!r})"))) from None
    return session, _SessionRows(pending, contacts)


_T = TypeVar("_T")


def _part(load: Callable[[Any], _T], data: Mapping[str, Any], name: str) -> _T:
    """``load(data[name])``, a damaged field named from the carried row down."""
    try:
        return load(data[name])
    except CheckpointLoadError as error:
        field = name if error.field is None else f"{name}.{error.field}"
        raise CheckpointLoadError(error.detail, field) from None


def _pending_problem(key: str, session: AgentSession,
                     pending: SessionLog) -> tuple[str, str] | None:
    """What a carried row's fields cannot say alone, as (field, what is wrong): it is
    this session's, and its history holds only what :class:`_SessionRows` leaves
    pending (open contacts of a known media with at most their last step, at most the
    current interval, not ended)."""
    if session.key != key:
        return "session.key", f"expected the row's session {key!r}, got {session.key!r}"
    if pending.key != key:
        return "history.key", f"expected the row's session {key!r}, got {pending.key!r}"
    for n, contact in enumerate(pending.contacts.values()):
        where = f"history.contacts[{n}]"
        if contact.media not in CONTACT_MACHINES:
            return (f"{where}.media", f"expected one of {', '.join(CONTACT_MACHINES)}, "
                    f"got {contact.media!r}")
        if contact.final or any(step.final for step in contact.steps):
            return f"{where}.final", "expected an open contact (a closed one is written)"
        if len(contact.steps) > 1:
            return (f"{where}.steps", "expected at most the contact's last step (the "
                    f"others are written), got {len(contact.steps)}")
    if len(pending.timeline) > 1:
        return ("history.timeline", "expected at most the current interval (the others "
                f"are written), got {len(pending.timeline)}")
    if pending.timeline and pending.timeline[0].end is not None:
        return "history.timeline[0].end", "expected null: the current interval goes on"
    return None


def fold_table(table: pa.Table, number: int, options: FoldOptions,
               progress: Callable[[int], None] | None = None) -> FoldSummary:
    """Fold every session of ``table`` (rows of :data:`EVENT_SCHEMA`, whole sessions only)
    and write the tables' part ``number`` (and the open sessions' checkpoints).

    The rows are sorted by :data:`ORDER` here, so a partition may arrive in any order.
    ``progress`` hears the number of rows folded so far, every :data:`_PROGRESS_ROWS`.
    """
    keys = [(name, "ascending") for name in ORDER]
    table = table.select([field.name for field in EVENT_SCHEMA])
    table = table.take(pc.sort_indices(table, sort_keys=keys))
    carry_dir = options.carry_dir
    out = _Output(str(Path(carry_dir, f"part-{number:05d}.parquet"))
                  if carry_dir is not None else None)
    events = unreadable = sessions = carried = reported = 0
    for key, rows in _sessions(table):
        n_events, n_unreadable, was_carried = _fold_session(key, rows, out, options)
        events += n_events
        unreadable += n_unreadable
        sessions += 1
        carried += was_carried
        if progress is not None and events + unreadable >= reported + _PROGRESS_ROWS:
            reported = events + unreadable
            progress(reported)
    counts = out.write(options.out_dir, number)
    severities = out.tables["violations"].cols[1]
    errors = sum(1 for severity in severities if severity == "error")
    return FoldSummary(events, unreadable, sessions, counts["violations"], errors, carried,
                       counts)


def _sessions(table: pa.Table) -> Iterator[tuple[str, Iterator[tuple[int, str, int, bytes]]]]:
    """Group sorted rows by session: (key, its rows as (kind, archive, line, raw))."""
    rows = _rows(table)
    pending = next(rows, None)
    while pending is not None:
        key = pending[0]
        group: list[tuple[int, str, int, bytes]] = []
        while pending is not None and pending[0] == key:
            group.append(pending[1:])
            pending = next(rows, None)
        yield key, iter(group)


def _rows(table: pa.Table) -> Iterator[tuple[str, int, str, int, bytes]]:
    for batch in table.to_batches(max_chunksize=65_536):
        yield from zip(batch.column("session").to_pylist(), batch.column("kind").to_pylist(),
                       batch.column("archive").to_pylist(), batch.column("line").to_pylist(),
                       batch.column("raw").to_pylist(), strict=True)


# --- directories ------------------------------------------------------------------------


def prepare_out(out_dir: str) -> None:
    """Make ``out_dir``'s table folders empty (a rerun replaces an earlier, maybe partial, one).

    Only this command's own folders are removed, never anything else in ``out_dir``.
    """
    for name in (*TABLES, "_staging"):
        shutil.rmtree(Path(out_dir, name), ignore_errors=True)
    for name in TABLES:
        Path(out_dir, name).mkdir(parents=True)


def read_table(out_dir: str, name: str) -> pa.Table:
    """One output table, whole, in its documented order (:data:`TABLE_ORDER`)."""
    table = pq.read_table(Path(out_dir, name), schema=TABLES[name])
    keys = [(column, "ascending") for column in TABLE_ORDER[name]]
    return table.take(pc.sort_indices(table, sort_keys=keys))


_STATE_FORMAT: Final = "session_fsm.io.replay-checkpoints"
_STATE_VERSION: Final = 3
"""2: a carried session is the engine's state and its pending rows (``history``), not
``written`` marks. 3: and the contacts not yet made into ``contacts`` rows
(``contacts``)."""


class CheckpointStore:
    """A ``--checkpoint-dir``: the open sessions after each chunk, one generation per chunk.

    ``state.json`` names the current generation and every archive replayed into it; it
    is replaced atomically only after a chunk has written everything, so a chunk that
    failed half-way leaves the previous generation current: run the same chunk again.
    An archive already replayed is refused (replaying it twice would apply its events
    twice), and so is any chunk after a ``last_chunk`` run.
    """

    def __init__(self, directory: str) -> None:
        self.dir = Path(directory)
        self.generation = 0
        self.archives: list[str] = []
        self.closed = False
        state = self.dir / "state.json"
        if state.exists():
            try:
                data = orjson.loads(state.read_bytes())
                if not isinstance(data, dict) or data.get("format") != _STATE_FORMAT:
                    raise ValueError("not a replay checkpoint directory")
                version = data.get("version")
                if version == _STATE_VERSION:
                    self.generation = int(data["generation"])
                    self.archives = list(data["archives"])
                    self.closed = bool(data["closed"])
            except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
                raise ReplayError(f"{state}: cannot use this checkpoint state ({exc})") from None
            if version != _STATE_VERSION:
                # its carried sessions are in another shape: not guessed at
                raise ReplayError(f"{state}: written by another version of session-fsm "
                                  f"(checkpoint state version {version}; this one reads "
                                  f"{_STATE_VERSION}): finish its chunks with that version, "
                                  "or start a new --checkpoint-dir")

    def check(self, archives: Sequence[str]) -> None:
        if self.closed:
            raise ReplayError(f"{self.dir} was closed by a --last-chunk run; use a new "
                              "--checkpoint-dir")
        done = set(self.archives)
        for archive in archives:
            if os.path.abspath(archive) in done:
                raise ReplayError(f"{archive} was already replayed into {self.dir} "
                                  f"(generation {self.generation})")

    def current_parts(self) -> list[str]:
        """The open sessions' checkpoint files of the current generation."""
        if self.generation == 0:
            return []
        return sorted(str(p) for p in self._gen_dir(self.generation).glob("part-*.parquet"))

    def next_dir(self) -> str:
        """An empty directory for the generation this chunk writes."""
        target = self._gen_dir(self.generation + 1)
        shutil.rmtree(target, ignore_errors=True)  # left by a chunk that failed
        target.mkdir(parents=True)
        return str(target)

    def commit(self, archives: Sequence[str], last_chunk: bool) -> None:
        """Make the new generation current, then drop the old one."""
        previous = self.generation
        self.generation += 1
        self.archives = [*self.archives, *(os.path.abspath(a) for a in archives)]
        self.closed = last_chunk
        write_atomic(self.dir / "state.json", orjson.dumps({
            "format": _STATE_FORMAT, "version": _STATE_VERSION, "generation": self.generation,
            "archives": self.archives, "closed": self.closed,
        }, option=orjson.OPT_INDENT_2))
        if previous:
            shutil.rmtree(self._gen_dir(previous), ignore_errors=True)

    def _gen_dir(self, generation: int) -> Path:
        return self.dir / f"gen-{generation:05d}"


# --- one process --------------------------------------------------------------------------


@attrs.frozen(slots=True)
class ReplaySummary:
    """What a replay did, for the command's summary."""

    engine: str
    archives: int
    fold: FoldSummary
    partitions: int
    unreadable: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        fold = self.fold
        return {
            "engine": self.engine,
            "archives": self.archives,
            "events": fold.events,
            "unreadable": fold.unreadable,
            "sessions": fold.sessions,
            "violations": fold.violations,
            "errors": fold.errors,
            "warnings": fold.violations - fold.errors,
            "carried": fold.carried,
            "partitions": self.partitions,
            "rows": dict(fold.rows),
        }


def check_archives(archives: Sequence[str]) -> None:
    """Refuse an archive given twice: its events would be applied twice."""
    seen: set[str] = set()
    for archive in archives:
        path = os.path.abspath(archive)
        if path in seen:
            raise ReplayError(f"{archive} is given twice")
        seen.add(path)


def start_run(archives: Sequence[str], out_dir: str, checkpoint_dir: str | None
              ) -> tuple[CheckpointStore | None, str]:
    """What every engine does first: check the archives (and, with a checkpoint
    directory, that they continue its chain of chunks), empty ``out_dir``, and name the
    staging directory inside it."""
    check_archives(archives)
    store = CheckpointStore(checkpoint_dir) if checkpoint_dir is not None else None
    if store is not None:
        store.check(archives)
    prepare_out(out_dir)
    return store, str(Path(out_dir, "_staging"))


def finish_run(store: CheckpointStore | None, archives: Sequence[str], options: FoldOptions,
               staging: str, results: Iterable[StageResult]) -> tuple[str, ...]:
    """What every engine does last, once every partition is written: record the chunk in
    the checkpoint chain, drop the staging directory. Returns the unreadable lines."""
    if store is not None:
        store.commit(archives, options.last_chunk)
    shutil.rmtree(staging, ignore_errors=True)
    return tuple(line for result in results for line in result.unreadable)


def chunk_inputs(parts: list[str], store: CheckpointStore | None, out_dir: str,
                 last_chunk: bool) -> tuple[list[str], FoldOptions]:
    """This chunk's staged parts plus the open sessions carried from the last chunk,
    and the fold options that carry this chunk's open sessions on (if any)."""
    if store is not None:
        parts = parts + store.current_parts()
    options = FoldOptions(out_dir, store.next_dir() if store is not None else None,
                          last_chunk=last_chunk or store is None)
    return parts, options


def replay_local(archives: Sequence[str], out_dir: str, *, checkpoint_dir: str | None = None,
                 last_chunk: bool = False, partitions: int | None = None,
                 progress: Callable[[str], None] | None = None) -> ReplaySummary:
    """The whole replay in this process: stage, group by session, sort, fold, write.

    The rows are folded ``partitions`` groups of whole sessions at a time (default: one
    per :data:`ROWS_PER_PARTITION` rows), so memory stays at one group's worth.
    ``progress`` (a callable taking a message) hears about each step.
    """
    say = progress or (lambda message: None)
    store, staging = start_run(archives, out_dir, checkpoint_dir)
    results: list[StageResult] = []
    for number, archive in enumerate(archives):
        results.append(stage_archive(archive, number, staging))
        say(f"staged {number + 1}/{len(archives)} archives "
            f"({sum(r.events for r in results):,} events)")
    parts = [part for result in results for part in result.parts]
    parts, options = chunk_inputs(parts, store, out_dir, last_chunk)
    total = sum(pq.read_metadata(part).num_rows for part in parts)
    count = partitions or max(1, -(-total // ROWS_PER_PARTITION))
    buckets = _buckets(parts, count, Path(staging, "buckets")) if count > 1 else [parts]
    fold = FoldSummary()
    for number, files in enumerate(buckets):
        tables = [pq.read_table(part, schema=EVENT_SCHEMA) for part in files]
        table = pa.concat_tables(tables) if tables else EVENT_SCHEMA.empty_table()
        fold = fold + fold_table(table, number, options,
                                 functools.partial(_say_folded, say, fold, total))
        say(f"folded {number + 1}/{count} partitions "
            f"({fold.events + fold.unreadable:,}/{total:,} rows)")
    unreadable = finish_run(store, archives, options, staging, results)
    return ReplaySummary("local", len(archives), fold, count, unreadable)


def _say_folded(say: Callable[[str], None], before: FoldSummary, total: int, rows: int) -> None:
    say(f"folded {before.events + before.unreadable + rows:,}/{total:,} rows")


def _buckets(parts: Sequence[str], count: int, directory: Path) -> list[list[str]]:
    """Split the staged rows into ``count`` buckets of whole sessions, on disk, so that
    one process folds archives larger than its memory one bucket at a time."""
    directory.mkdir(parents=True)
    buckets: list[list[str]] = [[] for _ in range(count)]
    for n, part in enumerate(parts):
        table = pq.read_table(part, schema=EVENT_SCHEMA)
        sessions = table.column("session").combine_chunks().dictionary_encode()
        codes = pa.array([zlib.crc32(key.encode()) % count
                          for key in sessions.dictionary.to_pylist()], pa.int32())
        bucket_of = pc.take(codes, sessions.indices)
        for number in range(count):
            chosen = table.filter(pc.equal(bucket_of, number))
            if chosen.num_rows:
                name = directory / f"bucket-{number:05d}-{n:05d}.parquet"
                pq.write_table(chosen, name)
                buckets[number].append(str(name))
    return buckets
