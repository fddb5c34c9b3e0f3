"""A persistent store of sessions' events and histories: one SQLite file (stdlib, WAL).

Theory of operation. :meth:`Store.ingest` appends every event of its inputs, as the wire
sent it, keyed by its position: (source, line, position in the line). A *source* is a
file's real path, or the content (SHA-256) of standard input or of a pipe with no file
behind it (``/dev/stdin``, ``/dev/fd/N``, ``<(...)``: their path is another on every run);
these are spooled to a temporary file first. ``UNIQUE(source, line, pos)`` with ``INSERT
OR IGNORE`` makes a re-ingest add nothing, and a file that only grew adds its new lines.
Each stored event keeps a digest of its bytes: a position whose event differs from the
stored one (the file changed under the same path) is refused with
:class:`StoreConflictError`, never silently skipped. Events are committed in batches, each
batch one transaction that also marks its sessions *dirty*; a ``seq`` number per session
keeps the order they were appended in.

One writer at a time: an ingest holds the store's writer lock (``flock`` on
``<store>.lock``) from its first read to its last history written, so two ingests into
one store run one after the other, never interleaved, and a second one waits at most
``lock_timeout`` seconds (then :class:`StoreBusyError`). Creating a store takes the lock
too. Readers take no lock: a ``read_only`` store is opened without writing anything (no
journal-mode switch, no ``-wal`` or ``-shm`` file), so a store can be queried in a
directory the reader cannot write. A failure of SQLite itself (disk full, a file-size
limit, a lock held too long, a damaged page, a read-only file) is a
:class:`StoreFailedError` naming the store and what failed; what was committed stays.

Histories are folded from the engine's change stream, and only what is new is applied.
The engine (:class:`~session_fsm.engine.AgentSession`) is the only place that fires
transitions; a :class:`~session_fsm.views.history.HistoryFold` folds what each ``feed()``
returns, and :meth:`~session_fsm.views.history.HistoryFold.take_updates` hands over the
contacts and agent-state intervals that changed, which are upserted as rows (by
``(session, contact_id)`` and ``(session, event_index)``); the fold then drops what can
no longer change, so it stays small however long the session. Each row keeps its whole
document (``doc``, what the Python API reads) and real columns for SQL: a contact's are
those of replay's ``contacts`` table (:func:`~session_fsm.views.contacts.contact_values`,
times as epoch seconds), an interval's its times, duration and linked contact, both with
the session's ``agent_id`` (also on ``sessions``). Whether a closed contact was refused
depends on agent intervals the fold drops when it settles the contact, so it is decided
just before (:meth:`_Applied.take`). Nothing of the engine's
records is read. Each session's *resume state* (table ``session_state``) is its engine
(:func:`~session_fsm.io.checkpoint.dump_session`) and its fold
(:func:`~session_fsm.io.checkpoint.dump_history`) as of event ``applied_seq``. Applying a
session (:meth:`Store.update`, at the end of every ingest, for the dirty sessions) loads
that state, feeds the events after ``applied_seq`` in ``seq`` order, upserts the
updates, saves the state and clears the dirty mark: one transaction. A session without a
state (a store of format version 1, whose sessions have none) or with one that cannot
be read (damaged: said through ``on_warning``, never a traceback; or saved by another
checkpoint version) is rebuilt from its first event instead, its old rows deleted first.
What an ingest costs a session is thus its new events plus one load and one save of its
state; the state grows with the session, since the engine remembers every closed contact
(without its history) for its contact-after-final check.

:class:`StoreWriter` (``Store.writer()``, used by ``follow --db``) keeps each session's
engine and fold in memory between calls, so storing one get-next-event response costs
inserting its events, feeding them, upserting the updates and one commit, however many
events came before. It saves a session's resume state after ``save_every`` of its events
or more, as many more as keep the saves a bounded share of the work however large the
state grows (:data:`STATE_BYTES_PER_EVENT`), and when closed. Its events are stored under
the identity an ingest of the recording gives them (the recording's path, line,
position), so ingesting the recording later adds nothing. Under the writer lock it first
checks that its session's last stored event is the last it applied; if another process
stored some meanwhile, it resumes from the store.

Crash consistency: a process killed at any moment leaves the store consistent. Committed
batches stay; a half-written batch, or a session half applied, rolls back (its rows, its
state and its dirty mark change together). The next run stores what is missing and
applies every dirty session from its saved state. A writer killed between two saves
leaves rows newer than the state: the next run re-applies the events after the state,
which writes the same rows again (a fold is a function of the events it was fed).

When updates are taken matters in one way: a status after a contact's FinalState True
is a step of its history only while the fold still holds the contact (once dropped, the
engine reports the violation and the history stays as written). The store takes updates
after every event that begins an agent-state interval, the only events after which a
contact can become settled (:meth:`_Applied.feed`), so it drops each contact at the same
event however the input was cut: ingesting a file in one go, in pieces, or storing it
response by response gives the same rows. (``history FILE`` never drops anything: on a
stream with such late statuses it shows them as steps, and the store does not.) A chat
line for a contact the fold has already dropped comes back as a contact with no steps;
its lines are merged into the stored contact, never written over it (:func:`merged_contact`).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import logging
import os
import sqlite3
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Concatenate, Final, ParamSpec, TypeVar, cast

import attrs
import cattrs
import orjson

from ..engine import AgentSession, new_session
from ..engine.changes import AgentStatus
from ..errors import (
    CheckpointLoadError,
    InputError,
    NotJsonError,
    Source,
    StoreBusyError,
    StoreConflictError,
    StoreError,
    StoreFailedError,
    plural,
)
from ..views.contacts import contact_values, refused_by_agent
from ..views.history import (
    ContactFilter,
    ContactHistory,
    HistoryFold,
    SessionHistory,
    SessionLog,
    StateFilter,
    StateInterval,
)
from ..wire.codec import decode_lenient, format_time
from ..wire.reader import ReadError, WireItem, _value_items, iter_wire
from . import checkpoint

__all__ = [
    "FORMAT",
    "VERSION",
    "IngestResult",
    "Store",
    "StoreBusyError",
    "StoreConflictError",
    "StoreError",
    "StoreFailedError",
    "StoreWriter",
    "merged_contact",
    "unnamed_stream",
]

FORMAT: Final = "session_fsm.io.store"
VERSION: Final = 3
"""2: each session's resume state (``session_state``); its histories are applied from
the change stream, only what is new. 3: tables with real columns for SQL: each
session's ``agent_id``; a contact's figures as replay's ``contacts`` table has them
(:data:`~session_fsm.views.contacts.CONTACT_COLUMNS`); an interval's ``duration_s`` and
``acw_contact_id``; ``agent_id`` on both; no column that needs quoting
(``first_index`` is ``event_index``, ``start``/``"end"`` are ``started``/``ended``). A
store of version 1 or 2 opened for writing is upgraded: its columns are added and
renamed, and its sessions rebuilt from their first event once (which fills them). Opened
read-only, it is read as it is (the figures' columns are missing there)."""

_OLDER: Final = ("1", "2")
"""Store format versions upgraded when opened for writing, read as they are read-only."""

_UPGRADE_3: Final = (
    ("sessions", "agent_id", "ALTER TABLE sessions ADD COLUMN agent_id TEXT"),
    ("contacts", "event_index", "ALTER TABLE contacts RENAME COLUMN first_index TO event_index"),
    *(("contacts", column, f"ALTER TABLE contacts ADD COLUMN {column} {kind}")
      for column, kind in (("agent_id", "TEXT"), ("call_type", "TEXT"),
                           ("is_inbound", "INTEGER"), ("answered", "REAL"), ("ring_s", "REAL"),
                           ("talk_s", "REAL"), ("hold_s", "REAL"), ("acw_s", "REAL"),
                           ("handle_time_s", "REAL"), ("outcome", "TEXT"))),
    ("agent_states", "started", "ALTER TABLE agent_states RENAME COLUMN start TO started"),
    ("agent_states", "ended", 'ALTER TABLE agent_states RENAME COLUMN "end" TO ended'),
    *(("agent_states", column, f"ALTER TABLE agent_states ADD COLUMN {column} {kind}")
      for column, kind in (("agent_id", "TEXT"), ("duration_s", "REAL"),
                           ("acw_contact_id", "TEXT"))),
)
"""Version 2's tables made version 3's, as (table, the column it makes, statement): each
only when the column is missing (the rebuild that follows fills the new columns)."""

_STATE_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS session_state (
    session INTEGER PRIMARY KEY REFERENCES sessions(id),
    applied_seq INTEGER NOT NULL,    -- the last event (seq) the state has applied
    version INTEGER NOT NULL,        -- the checkpoint format version of the two documents
    engine BLOB NOT NULL,            -- checkpoint.dump_session (JSON)
    history BLOB NOT NULL            -- checkpoint.dump_history: the fold's SessionLog (JSON)
);
"""

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY,
    identity TEXT NOT NULL UNIQUE,   -- "file:<real path>", or "stdin:<sha256>" (- or a pipe)
    path TEXT NOT NULL               -- as given when first ingested (quoted in messages)
);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    events INTEGER NOT NULL DEFAULT 0,
    dirty INTEGER NOT NULL DEFAULT 0, -- events added since its history was last written
    agent_id TEXT                    -- AgentSessionStart's AgentId, once applied
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    session INTEGER NOT NULL REFERENCES sessions(id),
    seq INTEGER NOT NULL,            -- order within the session (the order appended)
    source INTEGER NOT NULL REFERENCES sources(id),
    line INTEGER NOT NULL,
    pos INTEGER NOT NULL,            -- 0-based position among the line's events
    digest BLOB NOT NULL,
    wire BLOB NOT NULL,              -- the event object as the wire sent it (JSON)
    UNIQUE (source, line, pos),
    UNIQUE (session, seq)
);
CREATE TABLE IF NOT EXISTS contacts (
    session INTEGER NOT NULL REFERENCES sessions(id),
    contact_id TEXT NOT NULL,
    event_index INTEGER NOT NULL,    -- where the contact was first seen
    media TEXT NOT NULL,
    skill TEXT,
    status TEXT NOT NULL,
    disconnect_code TEXT,
    closed INTEGER NOT NULL,
    started REAL,                    -- epoch seconds, for range queries
    ended REAL,
    doc BLOB NOT NULL,               -- the whole ContactHistory (JSON)
    agent_id TEXT,                   -- the columns below are replay's contacts table's
    call_type TEXT,
    is_inbound INTEGER,
    answered REAL,
    ring_s REAL,
    talk_s REAL,
    hold_s REAL,
    acw_s REAL,
    handle_time_s REAL,
    outcome TEXT,
    PRIMARY KEY (session, contact_id)
);
CREATE INDEX IF NOT EXISTS contacts_by_id ON contacts (contact_id);
CREATE TABLE IF NOT EXISTS agent_states (
    session INTEGER NOT NULL REFERENCES sessions(id),
    event_index INTEGER NOT NULL,
    state TEXT NOT NULL,
    out_reason TEXT NOT NULL,
    is_acw INTEGER NOT NULL,
    started REAL,                    -- epoch seconds
    ended REAL,
    doc BLOB NOT NULL,               -- the whole StateInterval (JSON)
    agent_id TEXT,
    duration_s REAL,
    acw_contact_id TEXT,
    PRIMARY KEY (session, event_index)
);
""" + _STATE_SCHEMA

DEFAULT_BATCH: Final = 2000
"""Events per ingest transaction."""
DEFAULT_WRITE_EVERY: Final = 5000
"""Events between two writes of a session's history rows while it is applied (the
fold's updates held in between are bounded by it)."""
DEFAULT_SAVE_EVERY: Final = 1000
"""Events of a session at least between two saves of its resume state by a
:class:`StoreWriter`; more for a large state (:data:`STATE_BYTES_PER_EVENT`)."""
STATE_BYTES_PER_EVENT: Final = 512
"""A :class:`StoreWriter` saves a state of ``n`` bytes after ``n / 512`` events at least.
A save costs in proportion to the state (the closed contacts the engine remembers for
its after-final checks grow with the session: 6 MB after 100,000 simulated events); on
the machine this was measured on, saving a byte cost about what applying 1/2000 of an
event did. So the saves cost at most about a quarter of the applying, however long the
session, and a restart re-applies at most that many events."""
DEFAULT_LOCK_TIMEOUT: Final = 60.0
"""Seconds a writer waits for another to finish with the store (and SQLite for a lock)."""
_LOCK_POLL_S: Final = 0.05

log = logging.getLogger(__name__)

_Pending = tuple[str, Source, int, dict[str, Any]]
"""An event read, not yet stored: (session key, source, position in line, wire object)."""
_Row = tuple[int, int, int, int, bytes, bytes, Source]
"""(session id, source id, line, position, digest, wire bytes, source)."""
_Added = tuple[str, int, int, Source, dict[str, Any]]
"""An event just stored: (session key, session id, seq, source as stored, wire object)."""

_Doc = TypeVar("_Doc", ContactHistory, StateInterval)
"""A document the store keeps in a table of its own."""


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _failing(action: str) -> Callable[[Callable[Concatenate[Store, _P], _R]],
                                      Callable[Concatenate[Store, _P], _R]]:
    """A Store method whose SQLite errors become :class:`StoreFailedError` (``action``)."""
    def wrap(method: Callable[Concatenate[Store, _P], _R]) -> Callable[Concatenate[Store, _P], _R]:
        def wrapped(self: Store, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            with self._errors(action):
                return method(self, *args, **kwargs)
        functools.update_wrapper(wrapped, method)
        return wrapped
    return wrap


@attrs.frozen(slots=True)
class IngestResult:
    """What one ingest did."""

    read: int
    """Events read from the inputs."""
    added: int
    """Events new to the store (the rest were there already)."""
    skipped: int
    """Unreadable items skipped (``skip_bad``)."""
    updated: tuple[str, ...]
    """Keys of the sessions whose histories were brought up to date."""
    resumed: int = 0
    """Input items passed over because an earlier run committed them (``resume_after``)."""
    rebuilt: tuple[str, ...] = ()
    """Those of ``updated`` applied from their first event: no usable saved state (a
    version 1 store, a damaged state, or one of another checkpoint version)."""


# --- documents: the stored form of history values -----------------------------------------

_docs = cattrs.Converter()
_docs.register_unstructure_hook(datetime, format_time)
_docs.register_structure_hook(datetime, lambda value, _: datetime.fromisoformat(value))


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def merged_contact(stored: ContactHistory, update: ContactHistory) -> ContactHistory:
    """``update`` written over ``stored``, the same contact's row.

    A contact with steps replaces the row: the fold held all of it. One without steps
    while the row has some is a contact the fold already dropped (settled) that got a
    chat line since (the engine still knows its room): the fold starts it again with that
    line only, so the line is added to the stored contact instead of replacing it. The
    engine adds a line to a contact at most once, so the lines the row holds already
    (this update written once before, or again after a crash) are not added twice.
    """
    if update.steps or not stored.steps:
        return update
    have = set(stored.transcript)
    extra = tuple(line for line in update.transcript if line not in have)
    return attrs.evolve(stored, transcript=stored.transcript + extra) if extra else stored


class _Applied:
    """One session as applied: its engine and history fold, the last event (``seq``)
    fed to them, and the updates taken from the fold and not yet written."""

    __slots__ = ("contacts", "engine", "fold", "intervals", "key", "saved_seq", "seq",
                 "session_id", "state_bytes")

    def __init__(self, key: str, session_id: int, engine: AgentSession, log_: SessionLog,
                 seq: int, saved_seq: int | None) -> None:
        self.key = key
        self.session_id = session_id
        self.engine = engine
        self.fold = HistoryFold()
        self.fold.sessions[key] = log_
        self.seq = seq
        self.saved_seq = saved_seq
        """The ``applied_seq`` of the state the store holds for it (None: none)."""
        self.state_bytes = 0
        """The size of that state."""
        self.contacts: dict[str, tuple[ContactHistory, bool]] = {}
        """The contacts to write, each with whether the agent refused it."""
        self.intervals: dict[int, StateInterval] = {}

    def feed(self, seq: int, wire: dict[str, Any], source: Source) -> None:
        """Apply the stored event ``seq``; ``source`` is its input line (and batch, as
        ``replay_files`` has it, so a join's batch is told the same way)."""
        changes = self.engine.feed(wire, source=source, batch=source, on_error="report")
        self.seq = seq
        if not changes:
            return
        self.fold.apply_all(changes)
        # Updates are taken at the events that can settle a contact, not at the end of
        # whatever batch, poll or ingest this event came in: the fold drops a settled
        # contact when updates are taken, and a status after its FinalState then no
        # longer changes its history, so the rows would depend on how the input was
        # cut. A closed contact becomes settled only when a new agent-state interval
        # begins (see HistoryFold.take_updates); taking updates after each AgentStatus
        # drops every contact at the first event where it can be dropped, however the
        # events were cut.
        for change in changes:
            if type(change) is AgentStatus:
                self.take()
                return

    def take(self) -> None:
        """Hold the fold's updates until they are written (the latest of each row).

        Whether a closed contact was refused depends on the agent's intervals around its
        close, which the fold drops once the contact is settled: it is decided here,
        before, and such a contact is updated (the agent's next state may say it).
        """
        log_ = self.fold.sessions.get(self.key)
        refused: set[str] = set()
        if log_ is not None:
            refused = {c.contact_id for c in log_.contacts.values()
                       if c.final and refused_by_agent(c, log_.timeline)}
            log_.touched |= refused
        updates = self.fold.take_updates(self.key)
        held = self.contacts
        for contact in updates.contacts:
            before = held.get(contact.contact_id)
            row = contact if before is None else merged_contact(before[0], contact)
            held[contact.contact_id] = (row, contact.contact_id in refused
                                        or (before is not None and before[1]))
        for interval in updates.agent_states:
            self.intervals[interval.event_index] = interval

    def history_log(self) -> SessionLog:
        return self.fold.sessions.get(self.key) or SessionLog(self.key)


# --- the store ----------------------------------------------------------------------------


class Store:
    """One SQLite store. ``Store(path)`` opens it, creating it if missing (``create=False``:
    it must exist); ``read_only=True`` opens an existing one for reading without writing
    anything. A writer waits at most ``lock_timeout`` seconds for another.
    ``on_warning`` is told, in one line, what the store repaired by itself (a session's
    saved state that could not be read, rebuilt from its events); by default it goes to
    this module's logger. Close it, or use it as a context manager."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True,
                 read_only: bool = False, lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
                 on_warning: Callable[[str], None] | None = None) -> None:
        self.path = os.fspath(path)
        self.lock_timeout = lock_timeout
        self.on_warning = on_warning if on_warning is not None else log.warning
        self._stamp: tuple[int, int, int] | None = None
        self.version = VERSION
        """The store's format version: older ones are read as they are, read-only."""
        self._legacy = False
        """Whether the tables have the column names of versions 1 and 2."""
        self._locked = 0  # depth of _writer_lock blocks: the lock is taken by the outermost
        if (read_only or not create) and not os.path.exists(self.path):
            raise StoreError(self.path, f"{self.path}: no store there (create one with "
                                        "session-fsm ingest)")
        with self._errors("opening the store"):
            self._db = self._connect(read_only)
            try:
                self._open(create and not read_only, read_only)
            except BaseException:
                self._db.close()
                raise
        self._session_ids: dict[str, int] = {}
        self._source_ids: dict[str, int] = {}
        self._paths: dict[int, str] = {}

    def _connect(self, read_only: bool) -> sqlite3.Connection:
        # autocommit off by hand: transactions are begun explicitly (BEGIN IMMEDIATE)
        if not read_only:
            return sqlite3.connect(self.path, isolation_level=None, timeout=self.lock_timeout)
        # mode=ro writes nothing to the store, but reading a WAL store needs its -shm
        # file: a writer's, if one has the store open (its -wal is there), else SQLite
        # would create one, which a reader may not (or must not) do. With no writer, the
        # file is read as it stands (immutable: no -wal, no -shm, no locks); a writer that
        # starts meanwhile is noticed by written_since_open().
        self._stamp = None if os.path.exists(self.path + "-wal") else _stamp(self.path)
        uri = f"file:{urllib.parse.quote(os.path.abspath(self.path))}?mode=ro"
        if self._stamp is not None:
            uri += "&immutable=1"
        return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=self.lock_timeout)

    def _open(self, create: bool, read_only: bool) -> None:
        if not read_only:
            # WAL + NORMAL: a committed transaction survives the process being killed
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if "meta" not in tables:
            if tables or not create:
                raise StoreError(self.path, f"{self.path}: not a session-fsm store")
            # Switching to WAL needs the file to itself: two processes doing it at the
            # same moment fail ("database is locked") rather than wait, so creating a
            # store is a writer's turn. Every statement is idempotent: the second process
            # to get here finds the store made and changes nothing.
            with self._writer_lock():
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.executescript(
                    f"BEGIN IMMEDIATE; {_SCHEMA} INSERT OR IGNORE INTO meta VALUES "
                    f"('format', '{FORMAT}'), ('version', '{VERSION}'); COMMIT;")
            return
        meta = dict(self._db.execute("SELECT name, value FROM meta").fetchall())
        if meta.get("format") != FORMAT:
            raise StoreError(self.path, f"{self.path}: not a session-fsm store")
        version = meta.get("version")
        # Versions 1 and 2 have every document of version 3 under older column names:
        # read-only, they read the same (their histories are the documents).
        if version in _OLDER and not read_only:
            self._upgrade()
        elif version in _OLDER:
            self.version = int(version)
            self._legacy = "first_index" in self._columns("contacts")
        elif version != str(VERSION):
            raise StoreError(self.path, f"{self.path}: store format version {version}; this "
                                        f"session-fsm reads version {VERSION}")

    def _upgrade(self) -> None:
        """Version 1 or 2 to 3: add the resume states (1), add and rename the columns,
        and mark every session dirty without a state, so the next ingest rebuilds each
        from its first event once (which fills the new columns)."""
        with self._writer_lock(), self._transaction():
            (version,) = self._db.execute(
                "SELECT value FROM meta WHERE name = 'version'").fetchone()
            if version not in _OLDER:  # another process upgraded it while this one waited
                return
            for statement in _STATE_SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            have = {table: self._columns(table) for table in ("sessions", "contacts",
                                                               "agent_states")}
            for table, column, statement in _UPGRADE_3:
                if column not in have[table]:  # a column of version 3 it lacks
                    self._db.execute(statement)
            self._db.execute("DELETE FROM session_state")
            self._db.execute("UPDATE meta SET value = ? WHERE name = 'version'", (str(VERSION),))
            sessions = self._db.execute("UPDATE sessions SET dirty = 1").rowcount
        self.on_warning(f"{self.path}: upgraded from store format version {version} to "
                        f"{VERSION}; the histories of its {plural(sessions, 'session')} are "
                        "rebuilt from their events by the next ingest")

    def _columns(self, table: str) -> set[str]:
        return {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}

    def written_since_open(self) -> bool:
        """Whether a store opened ``read_only`` with no writer on it may have been written
        since: then what was read may mix two states of the file; open it again. (With a
        writer on it when opened, each query reads one committed state, and this is False.)"""
        return self._stamp is not None and (os.path.exists(self.path + "-wal")
                                            or _stamp(self.path) != self._stamp)

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """SQLite's errors as this store's: "not a store" for a file that is not a
        database, else :class:`StoreFailedError` naming ``action``."""
        try:
            yield
        except sqlite3.Error as error:
            if error.sqlite_errorcode == sqlite3.SQLITE_NOTADB:
                raise StoreError(self.path, f"{self.path}: not a session-fsm store "
                                            f"({error})") from error
            raise StoreFailedError(self.path, action, error) from error

    @contextlib.contextmanager
    def _writer_lock(self) -> Iterator[None]:
        """The store's writer lock, held until the block ends; waits at most
        ``lock_timeout`` seconds for another process's, then :class:`StoreBusyError`.
        A block inside another (an ingest applying its sessions) holds it already.

        ``flock`` on a file of its own: SQLite's locks on the store are POSIX locks,
        which closing any other descriptor of the store's file would drop.
        """
        if self._locked:
            self._locked += 1
            try:
                yield
            finally:
                self._locked -= 1
            return
        lock = self.path + ".lock"
        try:
            fd = os.open(lock, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as error:
            raise StoreError(self.path, f"{self.path}: cannot open its lock file {lock} "
                                        f"({error.strerror})") from error
        try:
            give_up = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= give_up:
                        raise StoreBusyError(self.path, self.lock_timeout) from None
                    time.sleep(_LOCK_POLL_S)
            self._locked = 1
            try:
                yield
            finally:
                self._locked = 0
        finally:
            os.close(fd)  # releases the lock

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction (nested calls join the outer one)."""
        if self._db.in_transaction:
            yield
            return
        # BEGIN IMMEDIATE takes the write lock at once: check-then-insert stays atomic
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- ingest ---------------------------------------------------------------------------

    @_failing("ingest")
    def ingest(
        self,
        paths: Sequence[str],
        *,
        skip_bad: bool = False,
        on_skipped: Callable[[ReadError], None] | None = None,
        batch_size: int = DEFAULT_BATCH,
        write_every: int = DEFAULT_WRITE_EVERY,
        progress: Callable[[Iterator[Any]], Iterator[Any]] | None = None,
        resume_after: int = 0,
        on_commit: Callable[[int], None] | None = None,
        commit_every: int | None = None,
    ) -> IngestResult:
        """Append every event of ``paths`` and bring the histories of the sessions touched
        up to date (:meth:`update`).

        An unreadable item raises its :class:`~session_fsm.errors.InputError` (after
        committing the events before it and applying their sessions) unless
        ``skip_bad``: then it is handed to ``on_skipped`` and counted.

        Input position, for checkpoints: an *input item* is an event or an unreadable
        item, counted from the start of ``paths``. ``on_commit(n)`` is called once the
        events of the first ``n`` items are committed: every ``commit_every`` items (the
        pending batch is committed first), when an unreadable item stops the run, and at
        the end; so ``n`` never runs ahead of the store. ``resume_after=n`` skips the
        first ``n`` items (an earlier run committed them) without storing or reporting
        them again; the store's duplicate check still guards whatever is read.

        The whole run holds the store's writer lock (see the module docstring): waiting
        longer than ``lock_timeout`` for another writer raises :class:`StoreBusyError`.
        """
        read = added = skipped = 0
        done = 0  # input items handled: their events committed or pending
        self._source_ids.clear()  # "-" and pipes are other inputs on every call
        with _spooled(paths, self.path) as (real_paths, shown), self._writer_lock():
            # errors are raised here, not by the reader: an item an earlier run skipped
            # (with skip_bad) must not stop this one
            items: Iterator[Any] = iter_wire(real_paths, on_error="report")
            if progress is not None:
                items = progress(items)
            pending: list[_Pending] = []
            previous: Source | None = None
            pos = 0

            def commit() -> None:
                nonlocal added
                added += len(self._append(pending, shown))
                pending.clear()

            def committed() -> None:
                commit()
                if on_commit is not None:
                    on_commit(done)

            try:
                for item in items:
                    # An item an earlier run consumed goes through the same steps but is
                    # neither stored nor reported: the position within its line must come
                    # out as it did then.
                    new = done >= resume_after
                    if type(item) is ReadError:
                        if new:
                            if not skip_bad:
                                raise item.error
                            skipped += 1
                            if on_skipped is not None:
                                on_skipped(_shown_error(item, shown))
                    else:
                        key, obj, source = cast(WireItem, item)
                        key, source = shown.get(key, key), _shown_source(source, shown)
                        try:
                            # no event at all is refused; a field of the wrong kind is the
                            # engine's (left out, the rest applied: bad-field), as every
                            # reader has it; the store keeps the wire's form
                            decode_lenient(obj)
                        except InputError as error:
                            if new:
                                error.located(source)
                                if not skip_bad:
                                    raise
                                skipped += 1
                                if on_skipped is not None:
                                    on_skipped(ReadError(key, error, source))
                        else:
                            # its position among the line's events (a line may hold an array)
                            pos = pos + 1 if source == previous else 0
                            previous = source
                            if new:
                                read += 1
                                pending.append((key, source, pos, obj))
                    done += 1
                    if not new:
                        continue
                    if commit_every is not None and done % commit_every == 0:
                        committed()
                    elif len(pending) >= batch_size:
                        commit()
            except InputError as error:
                if error.source is not None:
                    error.located(_shown_source(error.source, shown))
                # what was read before the bad item is good: keep it, with its history
                committed()
                self._update(None, write_every)
                raise
            except StoreConflictError:
                self._update(None, write_every)
                raise
            committed()
            updated, rebuilt = self._update(None, write_every)
        return IngestResult(read, added, skipped, tuple(updated), min(done, resume_after),
                            tuple(rebuilt))

    def _source_id(self, path: str, shown: dict[str, str]) -> int:
        found = self._source_ids.get(path)
        if found is not None:
            return found
        identity = shown.get(f"identity:{path}") or f"file:{os.path.realpath(path)}"
        self._db.execute("INSERT OR IGNORE INTO sources (identity, path) VALUES (?, ?)",
                         (identity, path))
        (found,) = self._db.execute("SELECT id FROM sources WHERE identity = ?",
                                    (identity,)).fetchone()
        self._source_ids[path] = found
        return cast(int, found)

    def _source_path(self, source_id: int) -> str:
        """The path a source was first ingested as (quoted in messages and violations)."""
        found = self._paths.get(source_id)
        if found is None:
            (found,) = self._db.execute("SELECT path FROM sources WHERE id = ?",
                                        (source_id,)).fetchone()
            self._paths[source_id] = found
        return cast(str, found)

    def _session_id(self, key: str) -> int:
        found = self._session_ids.get(key)
        if found is None:
            self._db.execute("INSERT OR IGNORE INTO sessions (key) VALUES (?)", (key,))
            (found,) = self._db.execute("SELECT id FROM sessions WHERE key = ?",
                                        (key,)).fetchone()
            self._session_ids[key] = found
        return found

    def _append(self, items: Sequence[_Pending], shown: dict[str, str]) -> list[_Added]:
        """Store one batch in one transaction (or in the one going on); return the events
        that were new, in the order stored, and mark their sessions dirty."""
        if not items:
            return []
        added: list[_Added] = []
        with self._transaction():
            rows: list[_Row] = []
            for key, source, pos, obj in items:
                wire = orjson.dumps(obj)
                digest = hashlib.blake2b(wire, digest_size=16).digest()
                rows.append((self._session_id(key), self._source_id(source.path, shown),
                             source.line, pos, digest, wire, source))
            stored = self._stored_digests(rows)
            next_seq: dict[int, int] = {}
            counts: dict[int, int] = {}
            for (key, _, _, obj), row in zip(items, rows, strict=True):
                session_id, source_id, line, pos, digest, wire, source = row
                known = stored.get((source_id, line, pos))
                if known is not None:
                    if known != digest:
                        raise StoreConflictError(self.path, source,
                                                 self._source_path(source_id))
                    continue
                seq = next_seq.get(session_id)
                if seq is None:
                    seq = self._last_seq(session_id)
                seq += 1
                next_seq[session_id] = seq
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO events (session, seq, source, line, pos, digest, wire)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (session_id, seq, source_id, line, pos, digest, wire))
                if cursor.rowcount:
                    added.append((key, session_id, seq,
                                  Source(self._source_path(source_id), line), obj))
                    counts[session_id] = counts.get(session_id, 0) + 1
            self._db.executemany(
                "UPDATE sessions SET events = events + ?, dirty = 1 WHERE id = ?",
                [(n, session_id) for session_id, n in counts.items()])
        return added

    def _last_seq(self, session_id: int) -> int:
        """The seq of the session's last stored event (-1: none)."""
        (top,) = self._db.execute("SELECT max(seq) FROM events WHERE session = ?",
                                  (session_id,)).fetchone()
        return -1 if top is None else cast(int, top)

    def _stored_digests(self, rows: Sequence[_Row]) -> dict[tuple[int, int, int], bytes]:
        """The digests already stored at the batch's positions (one range query per source).

        The range is of (line, position), not of lines: a line holding many batches' events
        (one long array) would otherwise be read whole for each of its batches.
        """
        ranges: dict[int, tuple[tuple[int, int], tuple[int, int]]] = {}
        for _, source_id, line, pos, *_rest in rows:
            at = (line, pos)
            low, high = ranges.get(source_id, (at, at))
            ranges[source_id] = (min(low, at), max(high, at))
        found: dict[tuple[int, int, int], bytes] = {}
        for source_id, (low, high) in ranges.items():
            for line, pos, digest in self._db.execute(
                    "SELECT line, pos, digest FROM events WHERE source = ? AND (line, pos) "
                    "BETWEEN (?, ?) AND (?, ?)", (source_id, *low, *high)):
                found[(source_id, line, pos)] = digest
        return found

    # --- histories ------------------------------------------------------------------------

    @_failing("reading the store")
    def dirty(self) -> list[str]:
        """Keys of the sessions with events not yet in their history."""
        return [k for (k,) in self._db.execute(
            "SELECT key FROM sessions WHERE dirty = 1 ORDER BY id")]

    @_failing("writing histories")
    def update(self, keys: Iterable[str] | None = None, *,
               write_every: int = DEFAULT_WRITE_EVERY) -> list[str]:
        """Bring the histories of ``keys`` (default: the dirty sessions) up to date: each
        from its saved state, with the events stored after it (see the module docstring).

        Each session is one transaction: its rows, its state and its dirty mark change
        together, so an interrupted update leaves the old history and the mark. Takes the
        writer lock. Returns the keys updated.
        """
        return self._update(keys, write_every)[0]

    @_failing("rebuilding histories")
    def rebuild(self, keys: Iterable[str], *,
                write_every: int = DEFAULT_WRITE_EVERY) -> list[str]:
        """Rebuild the histories of ``keys`` from their first event, whatever state is
        saved (after an upgrade that changes what a history holds, say). One transaction
        per session, as :meth:`update`."""
        chosen = self._known(keys)
        with self._writer_lock():
            for key in chosen:
                with self._transaction():
                    self._db.execute("DELETE FROM session_state WHERE session = ?",
                                     (self._session_id(key),))
                    self._update([key], write_every)
        return chosen

    def _update(self, keys: Iterable[str] | None,
                write_every: int) -> tuple[list[str], list[str]]:
        """:meth:`update`; also the keys rebuilt from their first event."""
        with self._writer_lock():
            chosen = self.dirty() if keys is None else self._known(keys)
            rebuilt: list[str] = []
            for key in chosen:
                with self._transaction():
                    applied, again = self._resume(key, self._session_id(key), write_every)
                    self._finish(applied)
                if again:
                    rebuilt.append(key)
        return chosen, rebuilt

    def _known(self, keys: Iterable[str]) -> list[str]:
        """``keys``, each a session of this store (else :class:`StoreError`)."""
        chosen = list(keys)
        known = {key for (key,) in self._db.execute("SELECT key FROM sessions")}
        missing = [key for key in chosen if key not in known]
        if missing:
            raise StoreError(self.path, f"{self.path}: no session {missing[0]!r} in this store")
        return chosen

    def _resume(self, key: str, session_id: int,
                write_every: int) -> tuple[_Applied, bool]:
        """Session ``key`` applied up to its last stored event: from its saved state, or
        from its first event when there is no state it can use (its old rows deleted;
        True when there were any, or a state). Writes the rows every ``write_every``
        events; call within a transaction."""
        applied = self._load_state(key, session_id)
        rebuilt = False
        if applied is None:
            # a history is rebuilt when there was one: rows, or a state it could not use
            rebuilt = self._saved_seq(session_id) is not None
            for table in ("contacts", "agent_states"):
                rebuilt |= self._db.execute(f"DELETE FROM {table} WHERE session = ?",
                                            (session_id,)).rowcount > 0
            # saved_seq None: whatever state is there (damaged) is replaced
            applied = _Applied(key, session_id, new_session(key), SessionLog(key), -1, None)
        rows = self._db.execute(
            "SELECT seq, source, line, wire FROM events WHERE session = ? AND seq > ? "
            "ORDER BY seq", (session_id, applied.seq))
        for count, (seq, source_id, line, wire) in enumerate(rows, 1):
            # the stored wire object, as ingest fed it: the engine reads it (and gives
            # it the digest it had then)
            applied.feed(seq, orjson.loads(wire), Source(self._source_path(source_id), line))
            if count % write_every == 0:
                self._write(applied)
        return applied, rebuilt

    def _saved_seq(self, session_id: int) -> int | None:
        found = self._db.execute("SELECT applied_seq FROM session_state WHERE session = ?",
                                 (session_id,)).fetchone()
        return None if found is None else cast(int, found[0])

    def _load_state(self, key: str, session_id: int) -> _Applied | None:
        """The session as its saved state has it; None when there is none, or it cannot
        be used (said through ``on_warning``): then it is applied from its first event."""
        found = self._db.execute(
            "SELECT applied_seq, version, engine, history FROM session_state "
            "WHERE session = ?", (session_id,)).fetchone()
        if found is None:
            return None
        seq, version, engine, history = found
        if version != checkpoint.VERSION:
            problem = (f"is of checkpoint version {version} (this session-fsm reads "
                       f"version {checkpoint.VERSION})")
        else:
            try:
                session = checkpoint.load_session(orjson.loads(engine))
                log_ = checkpoint.load_history(orjson.loads(history))
            except (orjson.JSONDecodeError, CheckpointLoadError) as error:
                problem = f"is damaged: {_state_problem(error)}"
            else:
                last = self._last_seq(session_id)
                if session.key != key or log_.key != key:
                    problem = (f"is damaged: it is the state of session "
                               f"{session.key if session.key != key else log_.key!r}")
                elif not -1 <= seq <= last:
                    problem = (f"is damaged: it says it applied event {seq}, past the last "
                               f"stored one ({last})")
                else:
                    applied = _Applied(key, session_id, session, log_, seq, seq)
                    applied.state_bytes = len(engine) + len(history)
                    return applied
        (events,) = self._db.execute("SELECT events FROM sessions WHERE id = ?",
                                     (session_id,)).fetchone()
        self.on_warning(f"{self.path}: session {key!r}: its saved state {problem}; its "
                        f"history is rebuilt from its {plural(events, 'stored event')}")
        return None

    def _finish(self, applied: _Applied) -> None:
        """Write what is left of ``applied``'s updates, save its state, clear its dirty mark."""
        self._write(applied)
        self._save(applied)
        self._db.execute("UPDATE sessions SET dirty = 0 WHERE id = ?", (applied.session_id,))

    def _write(self, applied: _Applied) -> None:
        """Upsert the updates ``applied`` holds (taken from its fold now too), merging a
        contact the fold had dropped with its row (:func:`merged_contact`)."""
        applied.take()
        session_id = applied.session_id
        agent_id = applied.engine.info.agent_id
        contacts = list(applied.contacts.values())
        for n, (contact, refused) in enumerate(contacts):
            if contact.steps:
                continue
            found = self._db.execute(
                "SELECT doc, outcome FROM contacts WHERE session = ? AND contact_id = ?",
                (session_id, contact.contact_id)).fetchone()
            if found is not None:
                stored = _docs.structure(orjson.loads(found[0]), ContactHistory)
                contacts[n] = (merged_contact(stored, contact), refused or found[1] == "refused")
        rows = []
        for contact, refused in contacts:
            (contact_id, index, media, skill, call_type, inbound, status, started, answered,
             ended, ring, talk, hold, acw, handle, code, outcome,
             closed) = contact_values(contact, refused=refused)
            rows.append((session_id, contact_id, index, media, skill, status, code,
                         int(closed), _epoch(started), _epoch(ended),
                         orjson.dumps(_docs.unstructure(contact)), agent_id, call_type,
                         None if inbound is None else int(inbound), _epoch(answered), ring,
                         talk, hold, acw, handle, outcome))
        self._db.executemany(
            "INSERT OR REPLACE INTO contacts (session, contact_id, event_index, media, skill, "
            "status, disconnect_code, closed, started, ended, doc, agent_id, call_type, "
            "is_inbound, answered, ring_s, talk_s, hold_s, acw_s, handle_time_s, outcome) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self._db.executemany(
            "INSERT OR REPLACE INTO agent_states (session, event_index, state, out_reason, "
            "is_acw, started, ended, doc, agent_id, duration_s, acw_contact_id) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(session_id, i.event_index, i.state, i.out_reason, int(i.is_acw), _epoch(i.start),
              _epoch(i.end), orjson.dumps(_docs.unstructure(i)), agent_id, i.duration_s,
              i.acw_contact_id)
             for i in applied.intervals.values()])
        if agent_id is not None:
            self._db.execute("UPDATE sessions SET agent_id = ? WHERE id = ?",
                             (agent_id, session_id))
        applied.contacts.clear()
        applied.intervals.clear()

    def _save(self, applied: _Applied) -> None:
        """Save ``applied``'s resume state (its updates written first: the fold's
        ``touched`` marks are empty then)."""
        if applied.saved_seq == applied.seq:
            return
        engine = checkpoint.state_bytes(checkpoint.dump_session(applied.engine))
        history = orjson.dumps(checkpoint.dump_history(applied.history_log()))
        self._db.execute(
            "INSERT OR REPLACE INTO session_state (session, applied_seq, version, engine, "
            "history) VALUES (?, ?, ?, ?, ?)",
            (applied.session_id, applied.seq, checkpoint.VERSION, engine, history))
        applied.saved_seq = applied.seq
        applied.state_bytes = len(engine) + len(history)

    @_failing("replaying a session")
    def replay(self, key: str) -> AgentSession:
        """A fresh session fed every stored event of ``key`` in order, then finished.
        Nothing is written."""
        session_id = self._session_id(key)
        session = new_session(key)
        rows = self._db.execute(
            "SELECT source, line, wire FROM events WHERE session = ? ORDER BY seq",
            (session_id,))
        for source_id, line, wire in rows:
            # batch: the input line, as replay_files gives it, so join batches match
            source = Source(self._source_path(source_id), line)
            session.feed(orjson.loads(wire), source=source, batch=source, on_error="report")
        session.finish()
        return session

    def writer(self, *, save_every: int = DEFAULT_SAVE_EVERY) -> StoreWriter:
        """A :class:`StoreWriter` into this store."""
        return StoreWriter(self, save_every=save_every)

    # --- queries --------------------------------------------------------------------------

    @_failing("reading the store")
    def select(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """The rows of one query of the store's tables, for readers that do their own SQL
        (``report`` reads the contact and agent-state columns so)."""
        return self._db.execute(sql, args).fetchall()

    @_failing("reading the store")
    def keys(self) -> list[str]:
        """Every session key, in the order first stored."""
        return [k for (k,) in self._db.execute("SELECT key FROM sessions ORDER BY id")]

    @_failing("reading the store")
    def event_count(self) -> int:
        (count,) = self._db.execute("SELECT count(*) FROM events").fetchone()
        return cast(int, count)

    def events(self, key: str) -> Iterator[dict[str, Any]]:
        """The stored wire events of session ``key``, in order."""
        with self._errors("reading the store"):
            for (wire,) in self._db.execute(
                    "SELECT wire FROM events WHERE session = (SELECT id FROM sessions WHERE "
                    "key = ?) ORDER BY seq", (key,)):
                yield orjson.loads(wire)

    def history(self, key: str) -> SessionHistory | None:
        """Session ``key``'s stored history (None: no such session)."""
        found = self._db.execute("SELECT id FROM sessions WHERE key = ?", (key,)).fetchone()
        if found is None:
            return None
        return SessionHistory(key, tuple(c for _, c in self.contacts(key=key)),
                              tuple(i for _, i in self.agent_states(key=key)))

    def histories(self, contacts: ContactFilter | None = None,
                  states: StateFilter | None = None) -> Iterator[SessionHistory]:
        """Every session's stored history, in the order sessions were first stored: its
        contacts matching ``contacts`` and its intervals matching ``states`` (all of them
        by default). Two queries in all, not two per session."""
        by_key: dict[str, tuple[list[ContactHistory], list[StateInterval]]] = {
            key: ([], []) for key in self.keys()}
        for key, contact in self.contacts(contacts):
            by_key[key][0].append(contact)
        for key, interval in self.agent_states(states):
            by_key[key][1].append(interval)
        for key, (found, intervals) in by_key.items():
            yield SessionHistory(key, tuple(found), tuple(intervals))

    def contact(self, contact_id: str) -> list[tuple[str, ContactHistory]]:
        """Contact ``contact_id`` in every session that has it, as ``(session key, history)``."""
        return self.contacts(ContactFilter(contact_id=contact_id))

    @_failing("reading the store")
    def contacts(self, query: ContactFilter | None = None, *,
                 key: str | None = None) -> list[tuple[str, ContactHistory]]:
        """Contacts matching ``query`` (of session ``key`` only, if given), as
        ``(session key, history)`` in session order, then order of first appearance."""
        query = query or ContactFilter()
        where: list[str] = []
        args: list[object] = []
        for column, value in (("c.contact_id", query.contact_id), ("c.media", query.media),
                              ("c.skill", query.skill)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if query.status is not None:
            where.append("lower(c.status) = lower(?)")
            args.append(query.status)
        if query.disconnect_code is not None:
            where.append("lower(coalesce(c.disconnect_code, '')) = lower(?)")
            args.append(query.disconnect_code)
        if query.closed is not None:
            where.append("c.closed = ?")
            args.append(int(query.closed))
        _overlapping(where, args, "c.started", "c.ended", query.since, query.until)
        order = "c.first_index" if self._legacy else "c.event_index"
        return self._select("contacts c", order, ContactHistory, where, args, key,
                            query.matches)

    @_failing("reading the store")
    def agent_states(self, query: StateFilter | None = None, *,
                     key: str | None = None) -> list[tuple[str, StateInterval]]:
        """Agent-state intervals matching ``query``, as ``(session key, interval)``."""
        query = query or StateFilter()
        where: list[str] = []
        args: list[object] = []
        if query.state is not None:
            where.append("lower(a.state) = lower(?)")
            args.append(query.state)
        if query.out_reason is not None:
            where.append("lower(a.out_reason) = lower(?)")
            args.append(query.out_reason)
        if query.is_acw is not None:
            where.append("a.is_acw = ?")
            args.append(int(query.is_acw))
        if self._legacy:
            _overlapping(where, args, "a.start", 'a."end"', query.since, query.until)
        else:
            _overlapping(where, args, "a.started", "a.ended", query.since, query.until)
        return self._select("agent_states a", "a.event_index", StateInterval, where, args, key,
                            query.matches)

    def _select(self, table: str, order: str, cls: type[_Doc], where: list[str],
                args: list[object], key: str | None,
                matches: Callable[[_Doc], bool]) -> list[tuple[str, _Doc]]:
        """The documents of ``table`` (aliased, e.g. ``contacts c``) meeting ``where``, of
        session ``key`` only if given, as ``(session key, document)`` in session order, then
        ``order``. SQL narrows by indexed columns; ``matches`` (the filter) has the last word."""
        alias = table.split()[-1]
        if key is not None:
            where = ["s.key = ?", *where]
            args = [key, *args]
        rows = self._db.execute(
            f"SELECT s.key, {alias}.doc FROM {table} JOIN sessions s ON s.id = {alias}.session "
            f"WHERE {' AND '.join(where) or '1'} ORDER BY s.id, {order}", args)
        found = [(k, _docs.structure(orjson.loads(doc), cls)) for k, doc in rows]
        return [(k, found_doc) for k, found_doc in found if matches(found_doc)]


def _overlapping(where: list[str], args: list[object], start: str, end: str,
                 since: datetime | None, until: datetime | None) -> None:
    """SQL for "going on at some time in [since, until)": begun before ``until``, not
    ended before ``since`` (an open end lasts); without a start nothing overlaps."""
    if since is not None or until is not None:
        where.append(f"{start} IS NOT NULL")
    if until is not None:
        where.append(f"{start} < ?")
        args.append(until.timestamp())
    if since is not None:
        where.append(f"({end} IS NULL OR {end} >= ?)")
        args.append(since.timestamp())


# --- the live writer --------------------------------------------------------------------------


class StoreWriter:
    """Keeps a store's histories current as events arrive a few at a time: ``follow
    --db`` hands it each response it records (:meth:`add_line`).

    Each session's engine and history fold stay in memory between calls, so a call
    costs its own events (stored, fed, their updates upserted, one commit), not the
    length of the session. The resume state of a session is saved every ``save_every``
    of its events (or more: :data:`STATE_BYTES_PER_EVENT`) and by :meth:`close`; a
    writer that dies in between loses nothing (its
    events and rows are committed: the next run re-applies the events after the last
    saved state). Each call takes the store's writer lock, so ingests can run between
    two calls; a session another process stored events of meanwhile is resumed from the
    store. Close it (or use it as a context manager) before closing the store.
    """

    def __init__(self, store: Store, *, save_every: int = DEFAULT_SAVE_EVERY) -> None:
        if save_every < 1:
            raise ValueError(f"save_every must be positive, got {save_every}")
        self.store = store
        self.save_every = save_every
        self._applied: dict[str, _Applied] = {}

    def add_line(self, path: str, line: int, data: bytes, *,
                 on_skipped: Callable[[ReadError], None] | None = None) -> int:
        """Store the events of line ``line`` (1-based) of the file ``path``, which holds
        ``data`` (without its newline), as an ingest of ``path`` stores them (same
        source, line and positions: ingesting the file later adds nothing), and apply
        them to their sessions' histories. An item that is not a readable event is not
        stored; it goes to ``on_skipped``, as ``ingest --skip-bad`` would do. Returns how
        many events were new to the store. One transaction: all of it or nothing."""
        source = Source(path, line)
        pending: list[_Pending] = []
        for item in _line_items(path, data, source):
            if type(item) is ReadError:
                if on_skipped is not None:
                    on_skipped(item)
                continue
            key, obj, at = cast(WireItem, item)
            try:
                decode_lenient(obj)  # the codec's checks, as ingest makes them
            except InputError as error:
                if on_skipped is not None:
                    on_skipped(ReadError(key, error.located(at), at))
                continue
            # its position among the line's readable events, as ingest counts them
            pending.append((key, at, len(pending), obj))
        return self._add(pending)

    def _add(self, pending: list[_Pending]) -> int:
        store = self.store
        with store._errors("storing events"), store._writer_lock(), store._transaction():
            try:
                added = store._append(pending, {})
                self._apply(added)
            except BaseException:
                # rolled back: what these sessions were fed is not in the store
                for key, *_ in pending:
                    self._applied.pop(key, None)
                raise
        return len(added)

    def _apply(self, added: list[_Added]) -> None:
        store = self.store
        by_key: dict[str, list[_Added]] = {}
        for row in added:
            by_key.setdefault(row[0], []).append(row)
        for key, rows in by_key.items():
            session_id, first = rows[0][1], rows[0][2]
            applied = self._applied.get(key)
            if applied is None or applied.seq + 1 != first:
                # new to this writer, or another process stored events of it since: from
                # the store (its saved state and the events after it, these included)
                applied = self._applied[key] = store._resume(key, session_id,
                                                              DEFAULT_WRITE_EVERY)[0]
            else:
                for _, _, seq, source, obj in rows:
                    applied.feed(seq, obj, source)
            store._write(applied)
            due = max(self.save_every, applied.state_bytes // STATE_BYTES_PER_EVENT)
            if applied.saved_seq is None or applied.seq - applied.saved_seq >= due:
                store._save(applied)
            store._db.execute("UPDATE sessions SET dirty = 0 WHERE id = ?", (session_id,))

    def save(self) -> None:
        """Save the resume state of every session with events applied since its last save
        (unless another process saved a later one meanwhile)."""
        store = self.store
        todo = [a for a in self._applied.values() if a.seq != a.saved_seq]
        if not todo:  # nothing to save: not even the lock is needed
            return
        with store._errors("saving the resume states"), store._writer_lock(), \
                store._transaction():
            for applied in todo:
                saved = store._saved_seq(applied.session_id)
                if saved is None or saved < applied.seq:
                    applied.saved_seq = saved
                    store._save(applied)

    def close(self) -> None:
        """Save the resume states; the writer keeps its sessions, so it can go on."""
        self.save()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _line_items(path: str, data: bytes, source: Source) -> Iterator[WireItem | ReadError]:
    """The items an ingest of ``path`` reads from its line ``source.line``, which holds
    ``data``: the reader's own walk of a line's value (an event, an array, a response, an
    envelope), keyed by ``path`` as the reader keys a file's own events."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        failure = NotJsonError(f"not valid JSON: {error.msg}").located(source)
        yield ReadError(path, failure, source)
        return
    yield from _value_items(value, path, source, None)


def _state_problem(error: orjson.JSONDecodeError | CheckpointLoadError) -> str:
    if isinstance(error, CheckpointLoadError):
        return error.detail if error.field is None else f"{error.field}: {error.detail}"
    return f"not JSON ({error})"


# --- standard input and pipes --------------------------------------------------------------


def unnamed_stream(path: str) -> bool:
    """Whether ``path`` is read once and named by nothing that lasts: ``-``, or a pipe or
    socket with no file behind it (``/dev/stdin``, ``/dev/fd/N``, ``<(...)``), whose path
    resolves to ``/proc/PID/fd/pipe:[N]``, another on every run. Such an input is known
    by its content."""
    return path == "-" or (os.path.exists(path)
                           and not os.path.exists(os.path.realpath(path)))


@contextlib.contextmanager
def _spooled(paths: Sequence[str], store: str) -> Iterator[tuple[list[str], dict[str, str]]]:
    """``paths`` with each :func:`unnamed_stream` copied to a temporary file, so it has a
    content identity (SHA-256) before its first event is stored. ``shown`` maps the
    temporary path back to the path given (keys and sources) and holds each spooled
    input's identity."""
    shown: dict[str, str] = {}
    real: list[str] = []
    with contextlib.ExitStack() as stack:
        for path in paths:
            if not unnamed_stream(path):
                real.append(path)
                continue
            if path in shown.values():
                name = "standard input (-)" if path == "-" else path
                raise StoreError(store, f"{name} given twice: it can be read only once")
            spool = stack.enter_context(tempfile.NamedTemporaryFile(
                prefix="session-fsm-stdin-", suffix=".spool"))
            digest = hashlib.sha256()
            source = sys.stdin.buffer if path == "-" else stack.enter_context(open(path, "rb"))
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                spool.write(chunk)
            spool.flush()
            shown[spool.name] = path
            # "stdin:" for a pipe too: the same content piped either way is one input
            shown[f"identity:{path}"] = f"stdin:{digest.hexdigest()}"
            real.append(spool.name)
        yield real, shown


def _stamp(path: str) -> tuple[int, int, int]:
    """What a write to the file changes: its inode, size and modification time."""
    found = os.stat(path)
    return found.st_ino, found.st_size, found.st_mtime_ns


def _shown_source(source: Source, shown: dict[str, str]) -> Source:
    path = shown.get(source.path)
    return source if path is None else Source(path, source.line)


def _shown_error(item: ReadError, shown: dict[str, str]) -> ReadError:
    source = _shown_source(item.source, shown)
    if source is not item.source:
        item.error.located(source)
        return ReadError(shown.get(item.key, item.key), item.error, source)
    return item
