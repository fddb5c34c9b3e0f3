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
   writes four tables: ``snapshots``, ``contact_steps``, ``agent_states`` and
   ``violations``. Durations come from :mod:`session_fsm.views.history`.

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
chunk is not finished: its engine state (:func:`~session_fsm.io.checkpoint.dump_session`)
goes into the next chunk's input as a row that sorts before its events, and only the
rows that can no longer change are written (see :func:`fold_table`); the last chunk
(``last_chunk``) finishes and writes everything. So the chunks' tables, put together,
are the tables of one whole replay.
"""

from __future__ import annotations

import functools
import os
import shutil
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import attrs
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..engine import AgentSession
from ..engine.snapshot import to_json
from ..errors import (
    InputError,
    InputTooLargeError,
    NotAnEventError,
    NotJsonError,
    ReplayError,
    Source,
)
from ..views.history import agent_acw_s, contact_history, state_intervals
from ..wire.reader import ReadError, iter_wire
from .checkpoint import dump_session, load_session, write_atomic

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
"""A session carried over from the previous chunk: ``raw`` is its checkpoint."""
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
    "contact_steps": pa.schema([
        ("session", pa.string()),
        ("contact_id", pa.string()),
        ("media", pa.string()),
        ("status", pa.string()),
        ("at", _TIME),
        ("final", pa.bool_()),
        ("event_index", pa.int64()),
        ("disconnect_code", pa.string()),
        ("end", _TIME),
        ("duration_s", pa.float64()),
    ]),
    "agent_states": pa.schema([
        ("session", pa.string()),
        ("state", pa.string()),
        ("out_reason", pa.string()),
        ("is_acw", pa.bool_()),
        ("start", _TIME),
        ("end", _TIME),
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


@attrs.define(slots=True)
class _Written:
    """What earlier chunks already wrote of a carried session (kept in its checkpoint)."""

    position: int = 0
    """Rows of events before this index were written, except the deferred ones."""
    violations: int = 0
    deferred_steps: list[tuple[str, int]] = attrs.Factory(list)
    deferred_intervals: list[int] = attrs.Factory(list)


class _Output:
    """The rows of one partition, column by column."""

    def __init__(self) -> None:
        self.tables = {name: _Columns(schema) for name, schema in TABLES.items()}
        self.carry = _Columns()

    def add(self, table: str, *row: Any) -> None:
        self.tables[table].add(*row)

    def write(self, out_dir: str, number: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        for name, rows in self.tables.items():
            # Written even when empty, so every table has every partition's file.
            pq.write_table(rows.table(), Path(out_dir, name, f"part-{number:05d}.parquet"))
            counts[name] = len(rows)
        return counts


def _ended_for_good(session: AgentSession) -> bool:
    """Ended, and not waiting for the AgentSessionEnd a RemoteAgentSessionEnd announces."""
    info = session.info
    return info.status == "ended" and (info.saw_end_event
                                       or info.end_reason != "RemoteAgentSessionEnd")


def _fold_session(key: str, rows: Iterator[tuple[int, str, int, bytes]], out: _Output,
                  options: FoldOptions) -> tuple[int, int, bool]:
    """Fold one session's rows (in order) and emit its rows; (events, unreadable, carried)."""
    session: AgentSession | None = None
    written = _Written()
    events = unreadable = 0
    for kind, archive, line, raw in rows:
        if session is None:
            if kind == KIND_CHECKPOINT:
                carried = orjson.loads(raw)
                session = load_session(carried["session"])
                marks = carried["written"]
                written = _Written(marks["position"], marks["violations"],
                                   [(c, i) for c, i in marks["deferred_steps"]],
                                   list(marks["deferred_intervals"]))
                continue
            session = AgentSession(key)
        source = Source(archive, line)
        if kind == KIND_EVENT:
            session.feed(orjson.loads(raw), source=source, batch=source)
            events += 1
        elif kind == KIND_UNREADABLE:
            session.report_input_error(_unreadable(raw, source), source)
            unreadable += 1
        else:
            raise ReplayError(f"session {key!r} has a second checkpoint row")
    assert session is not None  # a group has at least one row
    done = options.last_chunk or options.carry_dir is None or _ended_for_good(session)
    if done:
        session.finish()
    _emit(session, written, done, out)
    if not done:
        out.carry.add(key, "", -1, 0, 0, NO_TIME, KIND_CHECKPOINT, orjson.dumps({
            "session": dump_session(session),
            "written": attrs.asdict(_next_written(session, written)),
        }))
    return events, unreadable, not done


def _next_written(session: AgentSession, written: _Written) -> _Written:
    """The marks the next chunk needs: what stayed unwritten because it may still change."""
    deferred_steps = [
        (contact.contact_id, contact.steps[-1].event_index)
        for contact in session.contacts.values() if contact.steps
    ]
    timeline = session.agent_timeline
    return _Written(session.position, len(session.violations), deferred_steps,
                    [timeline[-1].event_index] if timeline else [])


def _emit(session: AgentSession, written: _Written, done: bool, out: _Output) -> None:
    """Write the session's rows that are new since the last chunk and settled.

    A row is *settled* when nothing can change it any more: every step of a closed
    contact and every step but the last of an open one (the last has no end yet), every
    agent-state interval but the last, every violation. When ``done``, everything is.
    """
    key = session.key
    position = written.position
    snap = session.snapshot()
    data = to_json(snap)
    info, agent, leg = data["session"], snap.agent_state, snap.agent_leg
    out.add("snapshots", key, info["session_id"], info["agent_id"], info["bus_no"],
            info["status"], info["end_reason"], info["end_message"],
            agent.state if agent else None, agent.out_reason if agent else None,
            _us(agent.since) if agent else None, agent.is_acw if agent else None,
            leg.id if leg else None, leg.status if leg else None, len(snap.contacts),
            snap.linked_contact_id, snap.events, snap.violations,
            orjson.dumps(data).decode())

    deferred_steps = set(written.deferred_steps)
    timeline = session.agent_timeline
    agent_acw: dict[str, float | None] | None = None  # read off the timeline once, if needed
    steps: list[tuple[Any, ...]] = []
    for record in (*session.contacts.values(), *session.closed.values()):
        if not record.steps:
            continue
        newest = record.steps[-1].event_index
        if newest < position and (record.contact_id, newest) not in deferred_steps:
            continue  # nothing new, nothing deferred: the common case of an old contact
        if agent_acw is None:
            agent_acw = agent_acw_s(timeline)
        history = contact_history(record, agent_acw=agent_acw)
        last = len(history.steps) - 1
        for n, step in enumerate(history.steps):
            if step.event_index < position and \
                    (record.contact_id, step.event_index) not in deferred_steps:
                continue
            if not (done or record.final or n < last):
                continue
            steps.append((key, record.contact_id, record.media, step.status, _us(step.at),
                          step.final, step.event_index, step.disconnect_code, _us(step.end),
                          step.duration_s))
    steps.sort(key=lambda row: row[6])
    for row in steps:
        out.add("contact_steps", *row)

    deferred_intervals = set(written.deferred_intervals)
    intervals = state_intervals(timeline)
    last = len(intervals) - 1
    for n, interval in enumerate(intervals):
        if interval.event_index < position and interval.event_index not in deferred_intervals:
            continue
        if not (done or n < last):
            continue
        out.add("agent_states", key, interval.state, interval.out_reason, interval.is_acw,
                _us(interval.start), _us(interval.end), interval.event_index,
                interval.duration_s, interval.acw_contact_id)

    fresh = sorted(enumerate(session.violations[written.violations:], written.violations),
                   key=lambda item: (item[1].event_index, item[0]))
    for ordinal, violation in fresh:
        out.add("violations", violation.rule, violation.severity.value, violation.session,
                violation.event_index, violation.contact_id, violation.source,
                violation.message, ordinal)


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
    out = _Output()
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
    if options.carry_dir is not None and len(out.carry):
        pq.write_table(out.carry.table(),
                       Path(options.carry_dir, f"part-{number:05d}.parquet"))
    severities = out.tables["violations"].cols[1]
    errors = sum(1 for severity in severities if severity == "error")
    return FoldSummary(events, unreadable, sessions, counts["violations"], errors,
                                 carried, counts)


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
                if data.get("format") != _STATE_FORMAT:
                    raise ValueError("not a replay checkpoint directory")
                self.generation = int(data["generation"])
                self.archives = list(data["archives"])
                self.closed = bool(data["closed"])
            except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
                raise ReplayError(f"{state}: cannot use this checkpoint state ({exc})") from None

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
            "format": _STATE_FORMAT, "version": 1, "generation": self.generation,
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
