"""The service's one engine and what it publishes: change log, histories, metrics, state.

Theory of operation. Every session the service knows (followed by a poller, or fed by
``POST /api/events``) lives in one :class:`~session_fsm.engine.SessionEngine`. Whatever
applies events hands the changes it got back to :meth:`Hub.publish`, which is the only
way out of the engine: each change is folded into the histories
(:class:`~session_fsm.views.history.HistoryFold`), counted in the metrics, and appended to
the *change log* under the next id, as the line ``changes --json`` prints for it. The
Server-Sent Events stream reads that log (:meth:`Hub.events_after`), so a client that
reconnects with ``Last-Event-ID`` gets exactly what it missed, in order.

Bounds. The log keeps the last ``keep_changes`` changes. A client asking to resume from
an id the log no longer holds (it was away too long), or from one the service never
issued (the service restarted without ``--state-dir``), gets one ``reset`` event instead
and continues from the present: it must read the snapshots again, and it is told so,
never silently left with a gap. Everything runs on the service's event loop, so the log
needs no lock.

Clock skew. Stream timestamps are the platform's clock. The service keeps ``skew_s``,
the platform's clock minus its own: each published change that carries a time ``at``
bounds it from below (a change cannot arrive before it happened), so the largest
``at - received`` seen is the estimate, within the network's latency. The wallboard adds
it to the browser's clock to show time in state in server time.

State. :meth:`Hub.state` is the engine (``checkpoint.dump_engine``), the histories, the
change log and its next id, and whatever the caller adds (the pollers' session ids);
:meth:`Hub.restore` takes it back, so a restart with ``--state-dir`` continues every
session, every history and the change ids where they stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, cast

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ...engine import SessionEngine
from ...engine.changes import AgentStatus, Change, Transition, Violation, as_json
from ...engine.snapshot import to_json as snapshot_json
from ...errors import CheckpointLoadError, PushError
from ...views.history import HistoryFold
from ...views.history import to_json as history_json
from ...wire.codec import format_optional_time
from ...wire.reader import DEFAULT_MAX_LINE_BYTES, ReadError, WireItem, wire_bytes
from ..checkpoint import dump_engine, dump_history, load_engine, load_history
from .config import check_key

__all__ = ["DEFAULT_KEEP_CHANGES", "KEEPALIVE_S", "Hub", "PushError", "Pushed"]

DEFAULT_KEEP_CHANGES: Final = 100_000
"""Changes the log keeps for clients that reconnect (about 300 bytes each)."""

KEEPALIVE_S: Final = 15.0
"""A quiet event stream sends a comment this often, so proxies and browsers keep it."""

STATE_FORMAT: Final = "session-fsm service state"
STATE_VERSION: Final = 1


# A counter's "_created" series (when it was made) says nothing a wallboard or alert uses
# and doubles the series per session.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Pushed:
    """What a push applied: events, and violations they added."""

    __slots__ = ("applied", "violations")

    def __init__(self, applied: int, violations: int) -> None:
        self.applied = applied
        self.violations = violations


class Hub:
    """The service's engine, and everything that reads what it says (see the module doc)."""

    def __init__(self, *, keep_changes: int = DEFAULT_KEEP_CHANGES,
                 clock: Callable[[], float] = time.time) -> None:
        if keep_changes < 1:
            raise ValueError(f"keep_changes must be positive, got {keep_changes}")
        self.engine = SessionEngine()
        self.fold = HistoryFold()
        self.clock = clock
        self.log: deque[tuple[int, bytes]] = deque(maxlen=keep_changes)
        self.next_id = 1
        self.skew_s: float | None = None
        self.pushes = 0
        """Bodies applied by :meth:`push` (their sources are numbered by it)."""
        self.closing = asyncio.Event()
        """Set when the service stops: event streams end."""
        self._changed = asyncio.Event()
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

    # --- publishing ------------------------------------------------------------------------

    def publish(self, changes: Sequence[Change]) -> None:
        """Fold, count and log ``changes`` (in order), and wake the event streams."""
        if not changes:
            return
        fold = self.fold.apply
        log = self.log
        newest: datetime | None = None
        next_id = self.next_id
        for change in changes:
            fold(change)
            log.append((next_id, orjson.dumps(as_json(change))))
            next_id += 1
            if isinstance(change, Violation):
                self.violations.labels(change.rule, str(change.severity)).inc()
            elif isinstance(change, Transition | AgentStatus):
                at = change.at
                if at is not None and (newest is None or at > newest):
                    newest = at
        self.changes_published.inc(next_id - self.next_id)
        self.next_id = next_id
        if newest is not None:
            seen = newest.timestamp() - self.clock()
            if self.skew_s is None or seen > self.skew_s:
                self.skew_s = seen
        self._changed.set()
        self._changed = asyncio.Event()

    def push(self, body: bytes, session: str | None, *,
             max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Pushed:
        """Apply a pushed body (any input shape of the contract; events without an envelope
        belong to ``session``). The whole body is read and checked first: a line that is
        not JSON or holds no event object, or a bare event without ``session``, raises
        :class:`PushError` and nothing is applied. A field of the wrong kind is the
        engine's: left out, the rest of its event applied, a bad-field violation."""
        number = self.pushes + 1
        name = f"POST /api/events #{number}"
        bare = session if session is not None else name
        items = list(wire_bytes(body, name, on_error="report", max_line_bytes=max_line_bytes))
        for item in items:
            if isinstance(item, ReadError):  # not JSON, or no event object in it
                raise PushError(item.source.line, item.error.detail)
            key, _, at = item
            if key == name:
                if session is None:
                    raise PushError(at.line, 'an event without a {"session": KEY, ...} '
                                    "envelope needs ?session=KEY")
            elif (problem := check_key(key)) is not None:  # a key from the network
                raise PushError(at.line, f'envelope "session": {problem}')
        self.pushes = number
        applied = violations = 0
        engine = self.engine
        for key, obj, at in cast(list[WireItem], items):
            key = bare if key == name else key
            # the engine leaves out a field of the wrong kind and applies the rest; the
            # reader's source says the line and the response it came in (its batch)
            changes = engine.feed(obj, key=key, source=at, batch=at)
            applied += 1
            self.events_applied.labels(key).inc()
            violations += sum(1 for c in changes if type(c) is Violation)
            self.publish(changes)
        return Pushed(applied, violations)

    # --- reading ---------------------------------------------------------------------------

    def snapshots(self, keys: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """``snapshot --json`` entries of every session (or of ``keys`` that exist)."""
        sessions = self.engine.sessions
        chosen = sessions.values() if keys is None else \
            (sessions[k] for k in dict.fromkeys(keys) if k in sessions)
        return [snapshot_json(s.snapshot()) for s in chosen]

    def snapshot(self, key: str) -> dict[str, Any] | None:
        session = self.engine.sessions.get(key)
        return None if session is None else snapshot_json(session.snapshot())

    def history(self, key: str) -> dict[str, Any] | None:
        if key not in self.engine.sessions:
            return None
        return history_json(self.fold.history(key))

    @property
    def last_id(self) -> int:
        """The id of the newest change (0 before the first)."""
        return self.next_id - 1

    def server_time(self) -> str | None:
        """The platform's clock now, as far as the skew estimate knows it."""
        if self.skew_s is None:
            return None
        return format_optional_time(datetime.fromtimestamp(self.clock() + self.skew_s, UTC))

    async def events_after(self, after: int) -> AsyncIterator[bytes]:
        """The event stream from after id ``after``: SSE text, a chunk at a time, until
        the service closes (or the client goes, which cancels this)."""
        position = after
        first = self.log[0][0] if self.log else self.next_id
        if after > self.last_id or after < first - 1:
            reason = ("that id was never issued here (the service restarted without its "
                      "state?)" if after > self.last_id else
                      "the changes after that id are no longer kept")
            position = self.last_id
            data = orjson.dumps({"kind": "reset", "after": after, "last_id": position,
                                 "reason": reason})
            yield b"event: reset\nid: %d\ndata: %s\n\n" % (position, data)
        while not self.closing.is_set():
            chunk = self._lines_after(position)
            if chunk:
                position = self.last_id
                yield chunk
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

    def _lines_after(self, position: int) -> bytes:
        log = self.log
        if not log or position >= self.last_id:
            return b""
        start = max(0, position + 1 - log[0][0])
        # ids are consecutive, so the position is an index; at most 1,000 per chunk keeps
        # one slow client from holding a huge buffer
        parts = []
        for index in range(start, min(len(log), start + 1000)):
            change_id, line = log[index]
            parts.append(b"id: %d\ndata: %s\n\n" % (change_id, line))
        return b"".join(parts)

    # --- state -----------------------------------------------------------------------------

    def state(self, extra: Mapping[str, Any]) -> bytes:
        """Everything a restart needs, as one JSON document (``extra``: the caller's)."""
        position = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "next_change_id": self.next_id,
            "changes": [line.decode() for _, line in self.log],
            "histories": [dump_history(log) for log in self.fold.sessions.values()],
            "pushes": self.pushes,
            "skew_s": self.skew_s,
            "extra": dict(extra),
        }
        return orjson.dumps(dump_engine(self.engine, position=position))

    def restore(self, data: bytes) -> dict[str, Any]:
        """Take back :meth:`state`; the caller's ``extra``. A damaged or foreign document
        raises :class:`~session_fsm.errors.CheckpointLoadError` naming what is wrong."""
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError as error:
            raise CheckpointLoadError(f"is not JSON ({error})") from None
        engine = load_engine(document)
        position = document.get("position")
        if (not isinstance(position, dict) or position.get("format") != STATE_FORMAT
                or position.get("version") != STATE_VERSION):
            raise CheckpointLoadError(f"is not a {STATE_FORMAT} of version {STATE_VERSION}",
                                      "position")
        next_id = _field(position, "next_change_id", int)
        lines = _field(position, "changes", list)
        if next_id < 1 or len(lines) >= next_id or not all(isinstance(x, str) for x in lines):
            raise CheckpointLoadError("does not fit next_change_id", "position.changes")
        histories = [load_history(h) for h in _field(position, "histories", list)]
        skew = position.get("skew_s")
        if skew is not None and not isinstance(skew, int | float):
            raise CheckpointLoadError("expected a number or null", "position.skew_s")
        self.engine.sessions.update(engine.sessions)
        self.fold.sessions.update({log.key: log for log in histories})
        first = next_id - len(lines)
        self.log.extend((first + n, line.encode()) for n, line in enumerate(lines))
        self.next_id = next_id
        self.pushes = _field(position, "pushes", int)
        self.skew_s = None if skew is None else float(skew)
        extra: dict[str, Any] = _field(position, "extra", dict)
        return extra


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
