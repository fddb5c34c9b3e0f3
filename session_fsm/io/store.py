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
``<store>.lock``) from its first read to its last rebuild, so two ingests into one store
run one after the other, never interleaved, and a second one waits at most
``lock_timeout`` seconds (then :class:`StoreBusyError`). Creating a store takes the lock
too. Readers take no lock: a ``read_only`` store is opened without writing anything (no
journal-mode switch, no ``-wal`` or ``-shm`` file), so a store can be queried in a
directory the reader cannot write. A failure of SQLite itself (disk full, a file-size
limit, a lock held too long, a damaged page, a read-only file) is a
:class:`StoreFailedError` naming the store and what failed; what was committed stays.

Histories are then rebuilt for the dirty sessions: the session's stored events are
replayed in ``seq`` order through a fresh :class:`~session_fsm.engine.AgentSession` (the
engine is the only place that fires transitions) and :mod:`session_fsm.views.history` reads
the records. One session's rebuild is one transaction that replaces its history rows and
clears its dirty mark. So a process killed at any moment leaves the store consistent:
committed batches stay, a half-written batch or rebuild rolls back, and the next run
skips what is there, adds the rest and rebuilds whatever is still dirty.

Bounded memory. :meth:`Store.flush` writes a session's *settled* closed contacts and its
finished agent-state intervals to the store and drops them from memory; the session's
``released`` set becomes a lookup in the store, so the engine's contact-after-final check
still sees them without keeping their ids in memory. A closed contact is settled when
nothing can still change its history: its ACW came from its own steps, or the agent has
moved to a later state that is not an ACW for it. The rebuild flushes every
``flush_every`` events, so a long session replays in bounded memory.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
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

from ..engine import AgentSession
from ..engine.records import AgentInterval, ContactRecord
from ..errors import (
    InputError,
    Source,
    StoreBusyError,
    StoreConflictError,
    StoreError,
    StoreFailedError,
)
from ..views.history import (
    ContactFilter,
    ContactHistory,
    SessionHistory,
    StateFilter,
    StateInterval,
    agent_acw_s,
    contact_history,
    history_of,
    state_intervals,
)
from ..wire.codec import decode, format_time
from ..wire.reader import ReadError, iter_wire

__all__ = [
    "FORMAT",
    "VERSION",
    "IngestResult",
    "Store",
    "StoreBusyError",
    "StoreConflictError",
    "StoreError",
    "StoreFailedError",
    "unnamed_stream",
]

FORMAT: Final = "session_fsm.io.store"
VERSION: Final = 1

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
    dirty INTEGER NOT NULL DEFAULT 0  -- events added since its history was last built
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
    first_index INTEGER NOT NULL,
    media TEXT NOT NULL,
    skill TEXT,
    status TEXT NOT NULL,
    disconnect_code TEXT,
    closed INTEGER NOT NULL,
    started REAL,                    -- epoch seconds, for range queries
    ended REAL,
    doc BLOB NOT NULL,               -- the whole ContactHistory (JSON)
    PRIMARY KEY (session, contact_id)
);
CREATE INDEX IF NOT EXISTS contacts_by_id ON contacts (contact_id);
CREATE TABLE IF NOT EXISTS agent_states (
    session INTEGER NOT NULL REFERENCES sessions(id),
    event_index INTEGER NOT NULL,
    state TEXT NOT NULL,
    out_reason TEXT NOT NULL,
    is_acw INTEGER NOT NULL,
    start REAL,
    "end" REAL,
    doc BLOB NOT NULL,               -- the whole StateInterval (JSON)
    PRIMARY KEY (session, event_index)
);
"""

DEFAULT_BATCH: Final = 2000
"""Events per ingest transaction."""
DEFAULT_FLUSH_EVERY: Final = 5000
"""Events between two flushes while a session's history is rebuilt."""
DEFAULT_LOCK_TIMEOUT: Final = 60.0
"""Seconds a writer waits for another to finish with the store (and SQLite for a lock)."""
_LOCK_POLL_S: Final = 0.05

_Pending = tuple[str, Source, int, dict[str, Any]]
"""An event read, not yet stored: (session key, source, position in line, wire object)."""
_Row = tuple[int, int, int, int, bytes, bytes, Source]
"""(session id, source id, line, position, digest, wire bytes, source)."""

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
    rebuilt: tuple[str, ...]
    """Keys of the sessions whose histories were rebuilt."""
    resumed: int = 0
    """Input items passed over because an earlier run committed them (``resume_after``)."""


# --- documents: the stored form of history values -----------------------------------------

_docs = cattrs.Converter()
_docs.register_unstructure_hook(datetime, format_time)
_docs.register_structure_hook(datetime, lambda value, _: datetime.fromisoformat(value))


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


# --- the store ----------------------------------------------------------------------------


class Store:
    """One SQLite store. ``Store(path)`` opens it, creating it if missing (``create=False``:
    it must exist); ``read_only=True`` opens an existing one for reading without writing
    anything. A writer waits at most ``lock_timeout`` seconds for another. Close it, or
    use it as a context manager."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True,
                 read_only: bool = False, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.path = os.fspath(path)
        self.lock_timeout = lock_timeout
        self._stamp: tuple[int, int, int] | None = None
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
        if meta.get("version") != str(VERSION):
            raise StoreError(self.path, f"{self.path}: store format version "
                                        f"{meta.get('version')}; this session-fsm reads "
                                        f"version {VERSION}")

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

        ``flock`` on a file of its own: SQLite's locks on the store are POSIX locks,
        which closing any other descriptor of the store's file would drop.
        """
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
            yield
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
        flush_every: int = DEFAULT_FLUSH_EVERY,
        progress: Callable[[Iterator[Any]], Iterator[Any]] | None = None,
        resume_after: int = 0,
        on_commit: Callable[[int], None] | None = None,
        commit_every: int | None = None,
    ) -> IngestResult:
        """Append every event of ``paths`` and rebuild the histories of the sessions touched.

        An unreadable item raises its :class:`~session_fsm.errors.InputError` (after
        committing the events before it and rebuilding their sessions) unless
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
                added += self._append(pending, shown)
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
                        key, obj, source = cast(tuple[str, dict[str, Any], Source], item)
                        key, source = shown.get(key, key), _shown_source(source, shown)
                        try:
                            decode(obj)  # the codec's checks; the store keeps the wire's form
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
                self.rebuild(flush_every=flush_every)
                raise
            except StoreConflictError:
                self.rebuild(flush_every=flush_every)
                raise
            committed()
        rebuilt = self.rebuild(flush_every=flush_every)
        return IngestResult(read, added, skipped, tuple(rebuilt), min(done, resume_after))

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

    def _session_id(self, key: str) -> int:
        found = self._session_ids.get(key)
        if found is None:
            self._db.execute("INSERT OR IGNORE INTO sessions (key) VALUES (?)", (key,))
            (found,) = self._db.execute("SELECT id FROM sessions WHERE key = ?",
                                        (key,)).fetchone()
            self._session_ids[key] = found
        return found

    def _append(self, items: Sequence[_Pending], shown: dict[str, str]) -> int:
        """Store one batch in one transaction; return how many events were new."""
        if not items:
            return 0
        added = 0
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
            for session_id, source_id, line, pos, digest, wire, source in rows:
                known = stored.get((source_id, line, pos))
                if known is not None:
                    if known != digest:
                        raise StoreConflictError(self.path, source,
                                                 self._source_path(source_id))
                    continue
                seq = next_seq.get(session_id)
                if seq is None:
                    (top,) = self._db.execute("SELECT max(seq) FROM events WHERE session = ?",
                                              (session_id,)).fetchone()
                    seq = -1 if top is None else top
                seq += 1
                next_seq[session_id] = seq
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO events (session, seq, source, line, pos, digest, wire)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (session_id, seq, source_id, line, pos, digest, wire))
                if cursor.rowcount:
                    added += 1
                    counts[session_id] = counts.get(session_id, 0) + 1
            self._db.executemany(
                "UPDATE sessions SET events = events + ?, dirty = 1 WHERE id = ?",
                [(n, session_id) for session_id, n in counts.items()])
        return added

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

    def _source_path(self, source_id: int) -> str:
        (path,) = self._db.execute("SELECT path FROM sources WHERE id = ?",
                                   (source_id,)).fetchone()
        return cast(str, path)

    # --- histories ------------------------------------------------------------------------

    @_failing("reading the store")
    def dirty(self) -> list[str]:
        """Keys of the sessions with events not yet in their history."""
        return [k for (k,) in self._db.execute(
            "SELECT key FROM sessions WHERE dirty = 1 ORDER BY id")]

    @_failing("rebuilding histories")
    def rebuild(self, keys: Iterable[str] | None = None, *,
                flush_every: int = DEFAULT_FLUSH_EVERY) -> list[str]:
        """Rebuild the histories of ``keys`` (default: the dirty sessions) from their events.

        Each session is one transaction: its history rows are replaced and its dirty mark
        cleared together, so an interrupted rebuild leaves the old history and the mark.
        """
        chosen = self.dirty() if keys is None else list(keys)
        for key in chosen:
            session_id = self._session_id(key)
            with self._transaction():
                self._db.execute("DELETE FROM contacts WHERE session = ?", (session_id,))
                self._db.execute("DELETE FROM agent_states WHERE session = ?", (session_id,))
                session = self.replay(key, flush_every=flush_every)
                self.flush(session, final=True)
                self._db.execute("UPDATE sessions SET dirty = 0 WHERE id = ?", (session_id,))
        return chosen

    @_failing("replaying a session")
    def replay(self, key: str, *, flush_every: int | None = None) -> AgentSession:
        """A fresh session fed every stored event of ``key`` in order, then finished.

        Nothing is written unless ``flush_every`` is given: then settled history is
        flushed to this store every so many events (see :meth:`flush`).
        """
        session_id = self._session_id(key)
        session = AgentSession(key)
        paths = dict(self._db.execute("SELECT id, path FROM sources").fetchall())
        rows = self._db.execute(
            "SELECT source, line, wire FROM events WHERE session = ? ORDER BY seq",
            (session_id,))
        for count, (source_id, line, wire) in enumerate(rows, 1):
            # batch: the input line, as replay_files gives it, so join batches match
            source = Source(paths[source_id], line)
            # the stored wire object, as ingest fed it: the engine reads it (and gives
            # it the digest it had then)
            session.feed(orjson.loads(wire), source=source, batch=source, on_error="raise")
            if flush_every and count % flush_every == 0:
                self.flush(session)
        session.finish()
        return session

    @_failing("writing a history")
    def flush(self, session: AgentSession, *, final: bool = False) -> int:
        """Write ``session``'s settled history to the store and drop it from memory.

        Settled: closed contacts nothing can change any more (see the module docstring)
        and agent-state intervals that have ended and no contact in memory links to. With
        ``final``, everything in memory is written (open contacts and the current interval
        too) and nothing is dropped: the session's history as it stands. Returns how many
        contacts were released.
        """
        session_id = self._session_id(session.key)
        if not isinstance(session.released, _ReleasedIds):
            session.released = _ReleasedIds(self._db, session_id)
        timeline = session.agent_timeline
        with self._transaction():
            if final:
                whole = history_of(session)
                self._write_contacts(session_id, whole.contacts)
                self._write_intervals(session_id, whole.agent_states)
                return 0
            last = timeline[-1] if timeline else None
            settled = [c for c in session.closed.values() if _settled(c, last)]
            if not settled and len(timeline) < 2:
                return 0
            acw = agent_acw_s(timeline)
            self._write_contacts(session_id, [contact_history(c, agent_acw=acw)
                                              for c in settled])
            for record in settled:
                del session.closed[record.contact_id]
                if record.room_id and session.rooms.get(record.room_id) == record.contact_id:
                    del session.rooms[record.room_id]  # a late ChatText becomes an orphan room
            kept = {*session.contacts, *session.closed}
            done = [i for i in timeline[:-1] if i.acw_contact_id not in kept]
            if done:
                self._write_intervals(session_id, state_intervals(done))
                session.agent_timeline[:] = [i for i in timeline[:-1]
                                             if i.acw_contact_id in kept] + timeline[-1:]
        return len(settled)

    def _write_contacts(self, session_id: int, contacts: Iterable[ContactHistory]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO contacts (session, contact_id, first_index, media, skill, "
            "status, disconnect_code, closed, started, ended, doc) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(session_id, c.contact_id, c.first_index, c.media, c.skill, c.status,
              c.disconnect_code, int(c.closed), _epoch(c.started),
              _epoch(c.ended) if c.closed else None,
              orjson.dumps(_docs.unstructure(c))) for c in contacts])

    def _write_intervals(self, session_id: int, intervals: Iterable[StateInterval]) -> None:
        self._db.executemany(
            'INSERT OR REPLACE INTO agent_states (session, event_index, state, out_reason, '
            'is_acw, start, "end", doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
            [(session_id, i.event_index, i.state, i.out_reason, int(i.is_acw), _epoch(i.start),
              _epoch(i.end), orjson.dumps(_docs.unstructure(i))) for i in intervals])

    # --- queries --------------------------------------------------------------------------

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
        return self._select("contacts c", "c.first_index", ContactHistory, where, args, key,
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
        _overlapping(where, args, "a.start", 'a."end"', query.since, query.until)
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


class _ReleasedIds:
    """The ids of a session's contacts released to the store: a lookup, not a set in memory."""

    def __init__(self, db: sqlite3.Connection, session_id: int) -> None:
        self._db = db
        self._session_id = session_id

    def __contains__(self, contact_id: object) -> bool:
        return self._db.execute(
            "SELECT 1 FROM contacts WHERE session = ? AND contact_id = ? AND closed = 1",
            (self._session_id, contact_id)).fetchone() is not None


def _settled(contact: ContactRecord, last: AgentInterval | None) -> bool:
    """Whether nothing can change a closed contact's history any more.

    The agent is in a state that began after the contact closed and is not an ACW for
    it: the engine links a later ACW only to a contact whose voice ended during the state
    before that ACW, and a linked ACW is the contact's ACW even when the contact had its
    own phase (``history``). A record without steps (a chat room's text before any
    contact claimed it) can still grow, so it stays.
    """
    final = next((s for s in contact.steps if s.final), None)
    if final is None:
        return False
    return last is not None and last.event_index > final.event_index \
        and last.acw_contact_id != contact.contact_id


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
