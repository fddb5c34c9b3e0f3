"""The service's one engine: what goes in (in one order, journaled) and what it says.

Theory of operation. Every session the service knows (followed by a poller, or fed by
``POST /api/events``) lives in one :class:`~session_fsm.engine.SessionEngine`, and the
hub is the only way in and out of it.

In: an answer from the platform (:meth:`Hub.take_answer`) and a pushed body
(:meth:`Hub.take_push`) are *taken*: given the next sequence number, appended to the
write-ahead journal (:mod:`.journal`, fsync'd; with ``--state-dir``) and only then
applied, by one task (:meth:`Hub.run`) in sequence order. So a restart that applies the
journal after the saved state applies the same inputs in the same order, and gets the
same changes under the same ids. A big push is applied in slices with the event loop let
go in between, so polls, the API and the event stream keep answering; other inputs wait
their turn, since the order is what makes the journal replayable.

Out: whatever an input changed goes through :meth:`Hub.publish`: each change is folded
into the histories (:class:`~session_fsm.views.history.HistoryFold`), counted in the
metrics, and appended to the *change log* (:class:`~.changelog.ChangeLog`) under the next
id, as the line ``changes --json`` prints for it. The Server-Sent Events stream reads
that log (:meth:`Hub.events_after`), so a client that reconnects with ``Last-Event-ID``
gets exactly what it missed, in order.

Bounded histories. The histories would otherwise keep every contact and agent state
of every session for the life of the process. Each time a session's agent enters a new
state, :func:`prune_log` takes out of its history what is older than the history window
(an hour of the stream's time by default): closed contacts nothing can change any more,
and agent-state stretches that ended before then. With ``--db`` every answer is also in
the store, whose rows hold those; :meth:`Hub.history` shows the store's history under
what memory holds (:func:`merged_history`), so ``/history`` still has all of it.

Change ids. A service that starts with no saved state begins its ids at the current
time in microseconds, so no two runs ever issue the same id (a run would have to publish
a million changes a second to reach the next run's first id), and they stay plain
increasing numbers. A client resuming from an id no longer kept, from one of an earlier
run whose changes this one does not have, or from one never issued, gets one ``reset``
event and continues from the present: it must read the snapshots again, and it is told
so, never silently left with a gap.

Clock skew. Stream timestamps are the platform's clock. The service keeps ``skew_s``,
the platform's clock minus its own: each published change that carries a time ``at``
bounds it from below (a change cannot arrive before it happened), so the largest
``at - received`` seen is the estimate, within the network's latency. The wallboard adds
it to the browser's clock to show time in state in server time.

State. :meth:`Hub.state` is the engine (``checkpoint.dump_engine``), the histories, the
change log, the followed sessions' poll positions and the last journaled sequence number;
it is written when the journal grows past ``checkpoint_bytes`` and when the service
stops, and the journal is then emptied. Everything runs on the service's event loop, so
nothing here needs a lock.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import (
    AsyncIterator,
    Callable,
    Collection,
    Generator,
    Iterable,
    Iterator,
    Mapping,
)
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import attrs
import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ...engine import AgentSession, SessionEngine
from ...engine.changes import AgentStatus, Change, Transition, Violation, as_json
from ...engine.snapshot import to_json as snapshot_json
from ...errors import (
    CheckpointLoadError,
    PushConflictError,
    PushError,
    ServiceError,
    SessionFsmError,
)
from ...views.history import ContactLog, HistoryFold, SessionHistory, SessionLog, settled
from ...views.history import to_json as history_json
from ...wire.codec import format_optional_time
from ...wire.reader import DEFAULT_MAX_LINE_BYTES, ReadError, WireItem, wire_bytes
from ..checkpoint import (
    dump_engine,
    dump_history,
    load_engine,
    load_history,
    state_bytes,
    write_atomic,
)
from ..poll import Applied, Body, PollCore, RetryPolicy, body_from_line
from ..store import merged_contact
from .changelog import ChangeLog
from .config import check_key
from .journal import Entry, Journal

__all__ = ["DEFAULT_CHECKPOINT_BYTES", "DEFAULT_HISTORY_WINDOW_S", "DEFAULT_KEEP_CHANGES",
           "KEEPALIVE_S", "STATE_FILE", "Hub", "PushError", "Pushed", "merged_history",
           "prune_log"]

log = logging.getLogger("session_fsm.io.service")

DEFAULT_KEEP_CHANGES: Final = 100_000
"""Changes the log keeps for clients that reconnect."""

DEFAULT_CHECKPOINT_BYTES: Final = 64 * 1024 * 1024
"""A journal this large is folded into a saved state: it bounds the replay at a start."""

KEEPALIVE_S: Final = 15.0
"""A quiet event stream sends a comment this often, so proxies and browsers keep it."""

SLICE_EVENTS: Final = 2_000
"""Events of a push checked or applied between two turns of the event loop (about 50 ms
of work: a 15 MiB push then never holds the loop for long)."""

CHUNK_CHANGES: Final = 1_000
"""Changes sent to one event-stream client at a time: one slow client holds no huge buffer."""

DEFAULT_HISTORY_WINDOW_S: Final = 3600.0
"""How long, in the stream's time, a session's history keeps a closed contact and an
ended agent-state stretch in memory (see :func:`prune_log`)."""

STATE_FILE: Final = "service-state.json"
STATE_FORMAT: Final = "session-fsm service state"
STATE_VERSION: Final = 2
"""Version 2 adds the journal position and the change-id epoch; version 1 still loads."""


# A counter's "_created" series (when it was made) says nothing a wallboard or alert uses
# and doubles the series per session.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Pushed:
    """What a push applied: events, and violations they added."""

    __slots__ = ("applied", "violations")

    def __init__(self, applied: int, violations: int) -> None:
        self.applied = applied
        self.violations = violations


@attrs.define(slots=True)
class _Taken:
    """An input taken and not yet applied: its journal entry, the answer already decoded
    (None for a push, and in a replay), and who waits for the result."""

    entry: Entry
    body: Body | None
    done: asyncio.Future[Any]


_Applying = Generator[None, None, "Applied | Pushed"]
"""Applying one input: yields where the event loop may run, returns the result."""


class Hub:
    """The service's engine, its inputs and everything that reads it (see the module doc)."""

    def __init__(self, *, keep_changes: int = DEFAULT_KEEP_CHANGES,
                 clock: Callable[[], float] = time.time, state_dir: Path | None = None,
                 checkpoint_bytes: int = DEFAULT_CHECKPOINT_BYTES,
                 history_window_s: float = DEFAULT_HISTORY_WINDOW_S) -> None:
        if not history_window_s > 0:
            raise ValueError(f"the history window must be positive, got {history_window_s}")
        self.engine = SessionEngine()
        self.fold = HistoryFold()
        self.history_window = timedelta(seconds=history_window_s)
        """What a session's history keeps in memory (:func:`prune_log`)."""
        self.stored_history: Callable[[str], SessionHistory | None] | None = None
        """Where what left the memory is kept (``--db``: the store's history of the
        session), read by :meth:`history` under what memory still holds."""
        self.clock = clock
        self.changes = ChangeLog(keep_changes, next_id=max(1, int(clock() * 1_000_000)))
        self.epoch_first_id = self.changes.next_id
        """The first change id of the run whose changes this log continues."""
        self.skew_s: float | None = None
        self.pushes = 0
        """Pushes numbered so far (their sources are ``POST /api/events #N``)."""
        self.cores: dict[str, PollCore] = {}
        """The followed sessions' poll cores, by key: answers are applied through them."""
        self.state_dir = state_dir
        self.journal = Journal(state_dir) if state_dir is not None else None
        self.checkpoint_bytes = checkpoint_bytes
        self.seq = 0
        """The sequence number of the last input taken."""
        self.applied_seq = 0
        """The sequence number of the last input applied: what a saved state includes
        (inputs taken after it may still wait their turn)."""
        self.closing = asyncio.Event()
        """Set when the service stops: event streams end."""
        self._made: dict[str, int] = {}
        """Changes published per session: with its position, what a snapshot depends on."""
        self._snapshots: dict[str, tuple[tuple[int, int], dict[str, Any]]] = {}
        """Each session's last snapshot entry, with the (position, changes made) it is of:
        ``GET /api/sessions`` makes anew only those of sessions that moved since."""
        self._changed = asyncio.Event()
        self._queue: list[_Taken] = []
        self._wake = asyncio.Event()
        self._draining = False
        self.registry = CollectorRegistry()
        self.events_applied = Counter(
            "session_fsm_events_applied", "Events fed to the engine, per session.",
            ["session"], registry=self.registry)
        self.polls = Counter(
            "session_fsm_polls", "get-next-event requests sent, retries included, per session.",
            ["session"], registry=self.registry)
        self.retries = Counter(
            "session_fsm_poll_retries", "Failed polls retried after a backoff, per session.",
            ["session"], registry=self.registry)
        self.violations = Counter(
            "session_fsm_violations", "Protocol violations found, by rule and severity.",
            ["rule", "severity"], registry=self.registry)
        self.changes_published = Counter(
            "session_fsm_changes", "Changes published on the event stream.",
            registry=self.registry)
        self.stream_clients = Gauge(
            "session_fsm_stream_clients", "Clients connected to /api/changes.",
            registry=self.registry)
        self.registry.register(_AgentsByState(self.engine))
        self._applied_counters: dict[str, Counter] = {}

    # --- taking inputs -------------------------------------------------------------------

    async def take_answer(self, key: str, body: Body) -> Applied:
        """Journal, then apply a followed session's answer through its poll core."""
        header = {"kind": "answer", "key": key, "number": body.number, "ends": body.ends}
        result: Applied = await self._take(header, body.line, body)
        return result

    async def take_push(self, body: bytes, session: str | None, *,
                        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                        merge: bool = False) -> Pushed:
        """Check, journal and apply a pushed body (any input shape of the contract; events
        without an envelope belong to ``session``). The whole body is checked first: a line
        that is not JSON or holds no event object, or a bare event without ``session``,
        raises :class:`PushError`, and an event for a session this service follows
        :class:`~session_fsm.errors.PushConflictError` unless ``merge`` (two streams in
        one session are a mistake far more often than a plan); then nothing is applied.
        A field of the wrong kind is the engine's: left out, the rest of its event
        applied, a bad-field violation."""
        self.pushes += 1
        number = self.pushes
        followed = frozenset() if merge else self.cores.keys()
        for n, _ in enumerate(self._push_items(body, session, number, max_line_bytes,
                                               followed), 1):
            if n % SLICE_EVENTS == 0:
                await asyncio.sleep(0)
        header = {"kind": "push", "session": session, "number": number,
                  "max_line_bytes": max_line_bytes}
        result: Pushed = await self._take(header, body, None)
        return result

    async def _take(self, header: dict[str, Any], body: bytes, decoded: Body | None) -> Any:
        if self._draining:
            raise ServiceError("the service is stopping: nothing more is taken")
        self.seq += 1
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Taken(Entry(self.seq, header, body), decoded, done))
        self._wake.set()
        # Cancelling the waiter cancels only the wait: the input is applied all the same.
        return await done

    async def run(self) -> None:
        """Journal and apply what is taken, in order, until :meth:`drain` (the one task
        that applies inputs while the service runs)."""
        while True:
            if not self._queue:
                if self._draining:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch, self._queue = self._queue, []
            if self.journal is not None:
                try:  # one fsync for everything taken meanwhile (group commit)
                    await asyncio.to_thread(self.journal.append, [t.entry for t in batch])
                except OSError as error:
                    log.error("cannot write the journal %s: %s; %d inputs refused",
                              self.journal.path, error.strerror or error, len(batch))
                    for taken in batch:
                        if not taken.done.done():
                            taken.done.set_exception(error)
                    continue
            for taken in batch:
                applying = self._apply(taken.entry, taken.body)
                try:
                    while True:
                        next(applying)
                        await asyncio.sleep(0)
                except StopIteration as finished:
                    self.applied_seq = taken.entry.seq
                    if not taken.done.done():
                        taken.done.set_result(finished.value)
                except Exception as error:  # a bug: said loudly, and the service goes on
                    self.applied_seq = taken.entry.seq
                    log.exception("applying input %d failed", taken.entry.seq)
                    if not taken.done.done():
                        taken.done.set_exception(error)
            if self.journal is not None and self.journal.size >= self.checkpoint_bytes:
                data = self.state()
                await asyncio.to_thread(self._write_state, data)

    def drain(self) -> None:
        """Let :meth:`run` end once everything taken so far is applied; take no more."""
        self._draining = True
        self._wake.set()

    def _apply(self, entry: Entry, decoded: Body | None) -> _Applying:
        header = entry.header
        if header["kind"] == "answer":
            key = header["key"]
            body = decoded if decoded is not None else \
                body_from_line(entry.body, header["number"], ends=header["ends"])
            applied = self._core(key).apply(body)
            self._applied_counter(key).inc(
                sum(1 for item in body.items if not isinstance(item, SessionFsmError)))
            self.publish(applied.changes)
            return applied
        pushed = yield from self._apply_push(entry.body, header["session"], header["number"],
                                             header["max_line_bytes"])
        return pushed

    def _applied_counter(self, key: str) -> Counter:
        """``session_fsm_events_applied{session=key}``, looked up once per session:
        ``labels()`` takes a lock and builds a tuple each call, 7% of the service's CPU
        at 10,000 sessions when it was called for every answer."""
        counter = self._applied_counters.get(key)
        if counter is None:
            counter = self._applied_counters[key] = self.events_applied.labels(key)
        return counter

    def _core(self, key: str) -> PollCore:
        core = self.cores.get(key)
        if core is None:
            # A journaled answer of a session no longer in the config: it was taken, so it
            # is applied, with the poll protocol's meaning, by a core that will never poll.
            core = PollCore("0", self.engine.session(key), timeout=0, max_body=1,
                            policy=RetryPolicy(), rand=random.random)
            self.cores[key] = core
        return core

    def _push_items(self, body: bytes, session: str | None, number: int,
                    max_line_bytes: int, followed: Collection[str] = ()
                    ) -> Iterator[WireItem]:
        """The events of a pushed body, each checked as it is read (see :meth:`take_push`),
        with their session keys; one for a session in ``followed`` is refused."""
        name = f"POST /api/events #{number}"
        for item in wire_bytes(body, name, on_error="report", max_line_bytes=max_line_bytes):
            if isinstance(item, ReadError):  # not JSON, or no event object in it
                raise PushError(item.source.line, item.error.detail)
            key, obj, at = item
            if key == name:
                if session is None:
                    raise PushError(at.line, 'an event without a {"session": KEY, ...} '
                                    "envelope needs ?session=KEY")
                key = session
            elif (problem := check_key(key)) is not None:  # a key from the network
                raise PushError(at.line, f'envelope "session": {problem}')
            if key in followed:
                raise PushConflictError(at.line, f"session {key!r} is followed by this "
                                        "service: pushing into it would merge two streams "
                                        "(add ?merge=1 to push into it all the same)")
            yield key, obj, at

    def _apply_push(self, body: bytes, session: str | None, number: int,
                    max_line_bytes: int) -> _Applying:
        applied = violations = 0
        feed = self.engine.feed
        # published a slice at a time (the same changes in the same order): the streams
        # are woken once a slice, not once an event
        pending: list[Change] = []
        for key, obj, at in self._push_items(body, session, number, max_line_bytes):
            # the engine leaves out a field of the wrong kind and applies the rest; the
            # reader's source says the line and the response it came in (its batch)
            changes = feed(obj, key=key, source=at, batch=at)
            applied += 1
            self._applied_counter(key).inc()
            violations += sum(1 for c in changes if type(c) is Violation)
            pending.extend(changes)
            if applied % SLICE_EVENTS == 0:
                self.publish(pending)
                pending.clear()
                yield
        self.publish(pending)
        self.pushes = max(self.pushes, number)
        return Pushed(applied, violations)

    # --- publishing ------------------------------------------------------------------------

    def publish(self, changes: Iterable[Change]) -> None:
        """Fold, count and log ``changes`` (in order), and wake the event streams."""
        fold = self.fold.apply
        append = self.changes.append
        first = self.changes.next_id
        newest: datetime | None = None
        made = self._made
        moved: set[str] = set()
        for change in changes:
            made[change.session] = made.get(change.session, 0) + 1
            fold(change)
            append(orjson.dumps(as_json(change)))
            if isinstance(change, Violation):
                self.violations.labels(change.rule, str(change.severity)).inc()
            elif isinstance(change, Transition | AgentStatus):
                at = change.at
                if at is not None and (newest is None or at > newest):
                    newest = at
                if type(change) is AgentStatus:
                    moved.add(change.session)
        # A history can shed something only when its agent enters a new state (a closed
        # contact is settled then, and a stretch ends): pruned here, with the changes
        # that made it possible, so a replay of the journal prunes at the same points.
        logs = self.fold.sessions
        for key in moved:
            log_ = logs.get(key)
            if log_ is not None:
                prune_log(log_, self.history_window)
        self._published(self.changes.next_id - first, newest)

    def _published(self, count: int, newest: datetime | None) -> None:
        """``count`` lines were appended to the change log, the newest server time among
        them ``newest``: count them, update the skew, and wake the event streams."""
        if not count:
            return
        self.changes_published.inc(count)
        if newest is not None:
            seen = newest.timestamp() - self.clock()
            if self.skew_s is None or seen > self.skew_s:
                self.skew_s = seen
        self._changed.set()
        self._changed = asyncio.Event()

    # --- reading ---------------------------------------------------------------------------

    def snapshots(self, keys: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """``snapshot --json`` entries of every session (or of ``keys`` that exist)."""
        sessions = self.engine.sessions
        chosen = sessions if keys is None else [k for k in dict.fromkeys(keys) if k in sessions]
        return [self._snapshot_of(key, sessions[key]) for key in chosen]

    def snapshot(self, key: str) -> dict[str, Any] | None:
        session = self.engine.sessions.get(key)
        return None if session is None else self._snapshot_of(key, session)

    def _snapshot_of(self, key: str, session: AgentSession) -> dict[str, Any]:
        """``session``'s snapshot entry, made again only when it moved: every event takes
        a position (a redelivery too: the count of events is in the entry), and whatever
        else changes a session is a change the hub published. Entries are shared: the
        callers only serialise them."""
        stamp = (session.position, self._made.get(key, 0))
        cached = self._snapshots.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        entry = snapshot_json(session.snapshot())
        self._snapshots[key] = (stamp, entry)
        return entry

    def history(self, key: str) -> dict[str, Any] | None:
        """``history --json``'s entry of session ``key``: what memory holds (the history
        window), under what the store holds of it (with ``--db``). Reading the store may
        raise :class:`~session_fsm.errors.StoreFailedError`."""
        if key not in self.engine.sessions:
            return None
        live = self.fold.history(key)
        stored = self.stored_history(key) if self.stored_history is not None else None
        return history_json(live if stored is None else merged_history(stored, live))

    @property
    def last_id(self) -> int:
        """The id of the newest change (one before this run's first id before any)."""
        return self.changes.last_id

    def server_time(self) -> str | None:
        """The platform's clock now, as far as the skew estimate knows it."""
        if self.skew_s is None:
            return None
        return format_optional_time(datetime.fromtimestamp(self.clock() + self.skew_s, UTC))

    async def events_after(self, after: int) -> AsyncIterator[bytes]:
        """The event stream from after id ``after`` (0: from the oldest kept): SSE text, a
        chunk at a time, until the service closes (or the client goes, which cancels
        this)."""
        changes = self.changes
        # the id before this run's first is where a client that saw none of it stands
        position = max(after, self.epoch_first_id - 1)
        reason = None
        if after > changes.last_id:
            reason = "that id was never issued here (the service restarted without its state?)"
        elif after != 0 and after < self.epoch_first_id - 1:
            reason = "that id is from an earlier run of the service, whose changes are lost"
        elif position < changes.first_id - 1:
            reason = _NOT_KEPT
        if reason is not None:
            position = changes.last_id
            yield _reset(after, position, reason)
        while not self.closing.is_set():
            if position < changes.last_id:
                if position < changes.first_id - 1:  # this client fell out of the window
                    after, position = position, changes.last_id
                    yield _reset(after, position, _NOT_KEPT)
                    continue
                parts = [b"id: %d\ndata: %s\n\n" % kept for kept in
                         changes.lines(position + 1, position + 1 + CHUNK_CHANGES)]
                position += len(parts)
                yield b"".join(parts)
                continue
            changed = self._changed
            closing = asyncio.ensure_future(self.closing.wait())
            waiting = asyncio.ensure_future(changed.wait())
            try:
                done, _ = await asyncio.wait((waiting, closing), timeout=KEEPALIVE_S,
                                             return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiting.cancel()
                closing.cancel()
            if not done:
                yield b": keep-alive\n\n"

    # --- state -----------------------------------------------------------------------------

    @property
    def state_file(self) -> Path | None:
        return None if self.state_dir is None else self.state_dir / STATE_FILE

    def state(self) -> bytes:
        """Everything a restart needs, as one JSON document."""
        polls = {key: {"session_id": core.session_id, "responses": core.responses,
                       "ended": core.ended} for key, core in self.cores.items()}
        position = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "next_change_id": self.changes.next_id,
            "epoch_first_id": self.epoch_first_id,
            "changes": [line.decode() for line in self.changes.kept_lines()],
            "histories": [dump_history(log) for log in self.fold.sessions.values()],
            "pushes": self.pushes,
            "skew_s": self.skew_s,
            "journal_seq": self.applied_seq,
            "extra": {"polls": polls},
        }
        return state_bytes(dump_engine(self.engine, position=position))  # an API's huge integer too

    def save(self) -> None:
        """Write the state to the state directory and empty the journal it now includes
        (nothing without a state directory). Blocking: call it between inputs."""
        if self.state_file is not None:
            self._write_state(self.state())
            log.info("state saved to %s (%d sessions)", self.state_file,
                     len(self.engine.sessions))

    def _write_state(self, data: bytes) -> None:
        assert self.state_file is not None
        write_atomic(self.state_file, data)
        if self.journal is not None:
            self.journal.clear()

    def load(self) -> dict[str, dict[str, Any]]:
        """Read the saved state, if there is one; the followed sessions' saved poll
        positions by key (``session_id``, ``responses``, ``ended``). Call :meth:`recover`
        once their poll cores are in :attr:`cores`."""
        path = self.state_file
        if path is None or not path.exists():
            return {}
        try:
            extra = self.restore(path.read_bytes())
        except OSError as error:
            raise ServiceError(f"cannot read {path}: {error.strerror or error}") from None
        except CheckpointLoadError as error:
            raise ServiceError(f"{path}: {error}") from None
        polls = extra.get("polls", {})
        if not isinstance(polls, dict) or not all(isinstance(p, dict) for p in polls.values()):
            raise ServiceError(f"{path}: position.extra.polls: expected an object of objects")
        return polls

    def recover(self) -> int:
        """Apply the journal's entries that the saved state does not include, in order, as
        they were applied live; then save, so the journal starts empty. How many."""
        if self.journal is None:
            return 0
        entries = [e for e in self.journal.recover() if e.seq > self.applied_seq]
        for entry in entries:
            self.seq = self.applied_seq = entry.seq
            if entry.header.get("kind") not in ("answer", "push"):
                raise ServiceError(f"{self.journal.path}: entry {entry.seq} is of an unknown "
                                   f"kind {entry.header.get('kind')!r}")
            for _ in self._apply(entry, None):
                pass
        if entries:
            log.info("applied %d journaled inputs after the saved state", len(entries))
        if self.journal.size or entries:
            self.save()
        return len(entries)

    def restore(self, data: bytes) -> dict[str, Any]:
        """Take back :meth:`state`; its ``extra``. A damaged or foreign document raises
        :class:`~session_fsm.errors.CheckpointLoadError` naming what is wrong."""
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError as error:
            raise CheckpointLoadError(f"is not JSON ({error})") from None
        engine = load_engine(document)
        position = document.get("position")
        if (not isinstance(position, dict) or position.get("format") != STATE_FORMAT
                or position.get("version") not in (1, STATE_VERSION)):
            raise CheckpointLoadError(f"is not a {STATE_FORMAT} of version 1 or "
                                      f"{STATE_VERSION}", "position")
        next_id = _field(position, "next_change_id", int)
        lines = _field(position, "changes", list)
        if next_id < 1 or len(lines) >= next_id or not all(isinstance(x, str) for x in lines):
            raise CheckpointLoadError("does not fit next_change_id", "position.changes")
        histories = [load_history(h) for h in _field(position, "histories", list)]
        skew = position.get("skew_s")
        if skew is not None and not isinstance(skew, int | float):
            raise CheckpointLoadError("expected a number or null", "position.skew_s")
        version_1 = position["version"] == 1
        epoch = 1 if version_1 else _field(position, "epoch_first_id", int)
        seq = 0 if version_1 else _field(position, "journal_seq", int)
        if not 1 <= epoch <= next_id - len(lines):
            raise CheckpointLoadError("does not fit next_change_id", "position.epoch_first_id")
        self.engine.sessions.update(engine.sessions)
        for key in engine.sessions:  # sessions taken back: their entries are made anew
            self._snapshots.pop(key, None)
        self.fold.sessions.update({log.key: log for log in histories})
        self.changes = ChangeLog(self.changes.keep, next_id=next_id - len(lines))
        for line in lines:
            self.changes.append(line.encode())
        self.epoch_first_id = epoch
        self.pushes = _field(position, "pushes", int)
        self.skew_s = None if skew is None else float(skew)
        self.seq = self.applied_seq = seq
        extra: dict[str, Any] = _field(position, "extra", dict)
        return extra


def prune_log(log: SessionLog, window: timedelta) -> int:
    """Take out of ``log`` what its history no longer needs to hold: a closed contact
    whose close is older than ``window`` and that nothing can change any more
    (:func:`~session_fsm.views.history.settled`), and an agent-state stretch that ended
    before then and is no ACW of a contact still held. Time is the stream's, the start of
    the agent's current state: a service behind, or a stream replayed, keeps as much.
    What goes is the part of the history a store written from the same events holds
    (``serve --db``); without a store it is no longer shown. How many items went."""
    timeline = log.timeline
    if not timeline:
        return 0
    last = timeline[-1]
    if last.start is None:
        return 0
    cutoff = last.start - window
    if (not log.contacts and (len(timeline) == 1 or timeline[0].end is None
                              or timeline[0].end >= cutoff)):
        return 0  # the common case, checked in constant time: nothing is old enough
    gone = [c.contact_id for c in log.contacts.values()
            if settled(c, last) and _closed_before(c, cutoff)]
    for contact_id in gone:
        del log.contacts[contact_id]
    kept = log.contacts
    stretches = [i for i in timeline[:-1] if i.acw_contact_id in kept
                 or i.end is None or i.end >= cutoff]
    dropped = len(timeline) - 1 - len(stretches)
    if dropped:
        stretches.append(last)
        log.timeline = stretches
    # what changed since a store last took updates: this service's fold is never asked,
    # so it would only grow
    log.touched.clear()
    log.touched_from = len(log.timeline)
    return len(gone) + dropped


def _closed_before(contact: ContactLog, cutoff: datetime) -> bool:
    """Whether ``contact`` closed before ``cutoff`` (one with no time at all: yes, there
    is no time to keep it by)."""
    at = next((s.at for s in reversed(contact.steps) if s.at is not None), None)
    return at is None or at < cutoff


def merged_history(stored: SessionHistory, live: SessionHistory) -> SessionHistory:
    """A session's history from the store (``stored``: what left the memory, and maybe
    more) and from memory (``live``: the history window, which wins where both hold a
    contact; a contact that came back with only a chat line is merged, as the store does).
    Agent-state stretches: the stored ones before the first held in memory."""
    contacts = {c.contact_id: c for c in stored.contacts}
    for contact in live.contacts:
        before = contacts.get(contact.contact_id)
        contacts[contact.contact_id] = contact if before is None else \
            merged_contact(before, contact)
    first = live.agent_states[0].event_index if live.agent_states else None
    earlier = tuple(i for i in stored.agent_states if first is None or i.event_index < first)
    return SessionHistory(live.key, tuple(contacts.values()), earlier + live.agent_states)


_NOT_KEPT: Final = "the changes after that id are no longer kept"


def _reset(after: int, last_id: int, reason: str) -> bytes:
    """The ``reset`` event: the client asked from ``after``, goes on from ``last_id``."""
    data = orjson.dumps({"kind": "reset", "after": after, "last_id": last_id,
                         "reason": reason})
    return b"event: reset\nid: %d\ndata: %s\n\n" % (last_id, data)


def _field(position: Mapping[str, Any], name: str, kind: type[Any]) -> Any:
    value = position.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CheckpointLoadError(f"expected {kind.__name__}", f"position.{name}")
    return value


class _AgentsByState(Collector):
    """``session_fsm_agents{state=...}``: agents in each state, counted when scraped."""

    def __init__(self, engine: SessionEngine) -> None:
        self.engine = engine

    def collect(self) -> Iterable[GaugeMetricFamily]:
        counts: dict[str, int] = {}
        for session in self.engine.sessions.values():
            if session.info.status != "active":
                continue
            # the record's label, not a snapshot: a scrape must not copy every session
            name = session.agent.label or "Unknown"
            counts[name] = counts.get(name, 0) + 1
        family = GaugeMetricFamily("session_fsm_agents", "Agents with an active session, "
                                   "by agent state.", labels=["state"])
        for name, count in sorted(counts.items()):
            family.add_metric([name], count)
        yield family
