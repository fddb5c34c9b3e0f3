"""The store's cost of one ``follow --db`` poll, at 1,000 and at 100,000 events into a session.

One poll is one get-next-event response of 10 events, stored through the live writer
(:class:`~session_fsm.io.store.StoreWriter`, what ``follow --db`` uses): its events
inserted, fed to the session's engine and history fold kept in memory, the fold's
updates upserted, one commit. That must cost the same however long the session is.
Measured, the two sizes interleaved, best of the rounds (a loaded machine slows a round,
never speeds it up), as CPU time (``time.process_time``):

- ``live``: one more poll through the writer (warm: the session already in memory).
  Its ratio 100k/1k must be flat within noise; so must its SQLite work (virtual-machine
  instructions, a count a busy machine does not disturb: asserted in every mode).
- ``save``: the writer's save of the session's resume state, which it makes every
  ``max(1000, state bytes / 512)`` events (:data:`~session_fsm.io.store.STATE_BYTES_PER_EVENT`).
  It grows with the state: the engine remembers every closed contact for its
  after-final checks.
- ``ingest``: the same poll as a fresh ``session-fsm ingest`` of a file holding just it
  (open the store, load the session's state, apply, save it, close). Not flat: loading
  and saving the state cost in proportion to it.
- ``grown`` (full runs only, one round): an ingest of the whole recording grown by one
  poll, as a cron job re-ingesting a live file would: it reads and checks every line of
  the file again, so it grows with the file.

The session is one simulated agent over weeks (:func:`session_fsm.sim.simulate`: calls of
every kind, chats, work items, joins...), its events re-cut into keyed lines of 10, built
by one ingest. The polls then are the same at both sizes: the n-th poll into each
session is the same call (Incoming, hold, ACW, a break), so what differs between the two
is the length of the session and nothing else. Numbers are on a ``bench:`` line (``-s``)
and in ``extra_info``.

Sizes: under the default ``--benchmark-disable`` (CI) 300 and 3,000 events, as a fast
test; with ``--benchmark-enable`` (or ``BENCH_FULL=1``) 1,000 and 100,000 (about a minute
to build)::

    .venv/bin/python -m pytest benchmarks/bench_store_poll.py --benchmark-enable -s
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sizes import full_size

from session_fsm.io.store import Store, StoreWriter
from session_fsm.sim import simulate

POLL = 10
"""Events per poll (one get-next-event response)."""
ROUNDS = 15
"""Interleaved rounds of the live poll."""
INGEST_ROUNDS = 3
"""Interleaved rounds of the poll through a fresh ingest (each loads and saves the state)."""
KEY = "agent"



def _call_cycle(n: int) -> list[dict[str, Any]]:
    """Poll ``n``: one inbound call with hold and the two-step ACW, then a break: 10
    events, on a clock that starts after any simulated session ends."""
    at = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=20 * n)

    def when(seconds: int) -> str:
        return (at + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def state(name: str, seconds: int, *, acw: bool = False, reason: str = "") -> dict[str, Any]:
        return {"Type": "AgentState", "CurrentState": name, "CurrentOutReason": reason,
                "NextStates": [], "StartTimeUTC": when(seconds), "IsAcw": str(acw),
                "AcwTimeout": "30" if acw else "0"}

    def call(status: str, seconds: int, final: bool = False) -> dict[str, Any]:
        return {"Type": "CallContactEvent", "ContactID": str(9_000_000 + n), "Status": status,
                "CallType": "Regular", "Skill": "1507", "IsInbound": "True",
                "StartTimeUTC": when(0), "LastStateChangeTimeUTC": when(seconds),
                "DisconnectCode": "NA", "IsLinked": "False", "FinalState": str(final)}

    return [call("Incoming", 0), state("InboundContact", 1), call("Active", 20),
            call("Holding", 90), call("Active", 120), call("Disconnected", 300),
            state("Unavailable", 300, acw=True), call("Disconnected", 325, final=True),
            state("Unavailable", 325, reason="Break"), state("Available", 900)]


class _Session:
    """One store holding the first ``size`` events of the stream, its recording, and a
    live writer on it; :meth:`poll` stores its next poll (:func:`_call_cycle`)."""

    def __init__(self, folder: Path, events: list[dict[str, Any]], size: int) -> None:
        self.size = size
        self.recording = folder / f"live-{size}.jsonl"
        self.recording.write_bytes(b"".join(_line(events[n:n + POLL]) + b"\n"
                                            for n in range(0, size, POLL)))
        self.lines = -(-size // POLL)
        self.polls = 0
        self.db = folder / f"store-{size}.sqlite"
        with Store(self.db) as store:
            store.ingest([str(self.recording)])
        self.store = Store(self.db)
        self.writer: StoreWriter = self.store.writer()
        self.poll()  # the first one loads the session's state: not what is measured

    def _next_poll(self) -> bytes:
        self.polls += 1
        return _line(_call_cycle(self.polls))

    def _take(self) -> bytes:
        line = self._next_poll()
        self.lines += 1
        with self.recording.open("ab") as out:  # as follow records it, before storing it
            out.write(line + b"\n")
        return line

    def poll(self) -> tuple[float, int]:
        """Store one more poll through the live writer: (CPU seconds, SQLite steps/100)."""
        line = self._take()
        steps = 0

        def tick() -> int:
            nonlocal steps
            steps += 1
            return 0

        self.store._db.set_progress_handler(tick, 100)
        started = time.process_time()
        self.writer.add_line(str(self.recording), self.lines, line)
        cpu = time.process_time() - started
        self.store._db.set_progress_handler(None, 0)
        return cpu, steps

    def save(self) -> float:
        """CPU seconds of a save of the session's resume state (after one more poll)."""
        self.poll()
        started = time.process_time()
        self.writer.save()
        return time.process_time() - started

    def ingested(self, folder: Path) -> float:
        """CPU seconds of a fresh ingest of one more poll, as its own file."""
        self.writer.save()  # the state the ingest loads is the session's as it stands
        path = folder / f"poll-{self.size}-{self.polls}.jsonl"
        path.write_bytes(self._next_poll() + b"\n")
        started = time.process_time()
        with Store(self.db) as store:
            store.ingest([str(path)])
        cpu = time.process_time() - started
        self._reopen()  # that ingest applied events the writer has not seen
        return cpu

    def grown(self) -> float:
        """CPU seconds of an ingest of the whole recording, grown by one poll."""
        self.writer.save()
        self._take()
        started = time.process_time()
        with Store(self.db) as store:
            store.ingest([str(self.recording)])
        cpu = time.process_time() - started
        self._reopen()
        return cpu

    def _reopen(self) -> None:
        self.writer.close()
        self.store.close()
        self.store = Store(self.db)
        self.writer = self.store.writer()
        self.poll()  # warm again

    def close(self) -> None:
        self.writer.close()
        self.store.close()


def _line(events: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"session": KEY, "events": events})


def _events(total: int) -> list[dict[str, Any]]:
    """The first ``total`` events of one simulated agent's long session."""
    simulated = io.BytesIO()
    # about 2,000 events a simulated day
    simulate(simulated, agents=1, seed=11, minutes=60 * 24 * (total / 1900 + 1))
    events: list[dict[str, Any]] = []
    for line in simulated.getvalue().splitlines():
        batch = orjson.loads(line)
        events.extend(batch["events"] if "events" in batch else [batch["event"]])
    assert len(events) >= total
    return events[:total]


def _best(rounds: int, sessions: list[_Session],
          measure: Callable[[_Session], float]) -> list[float]:
    """Best of ``rounds`` of ``measure`` per session, the sessions interleaved."""
    best = [float("inf")] * len(sessions)
    for _ in range(rounds):
        for n, session in enumerate(sessions):
            best[n] = min(best[n], measure(session))
    return best


def test_per_poll_store_cost_is_flat(benchmark: Any, request: pytest.FixtureRequest,
                                     tmp_path: Path) -> None:
    full = full_size(request.config)
    small, large = (1_000, 100_000) if full else (300, 3_000)
    events = _events(large)
    sessions = [_Session(tmp_path, events[:small], small), _Session(tmp_path, events, large)]
    try:
        # pytest-benchmark's own table: the live poll into the long session
        benchmark.pedantic(sessions[1].poll, rounds=ROUNDS, iterations=1)

        steps = [0, 0]

        def live(session: _Session) -> float:
            cpu, count = session.poll()
            index = sessions.index(session)
            steps[index] = count if not steps[index] else min(steps[index], count)
            return cpu

        live_s = _best(ROUNDS, sessions, live)
        save_s = _best(INGEST_ROUNDS, sessions, _Session.save)
        ingest_s = _best(INGEST_ROUNDS, sessions, lambda s: s.ingested(tmp_path))
        grown_s = [s.grown() for s in sessions] if full else [0.0, 0.0]
        state = []
        with Store(sessions[1].db) as store:
            state.append(store._db.execute(
                "SELECT length(engine) + length(history) FROM session_state").fetchone()[0])
    finally:
        for session in sessions:
            session.close()

    ratio = live_s[1] / live_s[0]
    steps_ratio = steps[1] / steps[0]
    benchmark.extra_info.update(
        sizes=[small, large], poll_events=POLL,
        live_poll_cpu_s=[round(t, 6) for t in live_s], live_ratio=round(ratio, 2),
        live_poll_sqlite_steps=steps, steps_ratio=round(steps_ratio, 2),
        state_save_cpu_s=[round(t, 5) for t in save_s],
        ingest_poll_cpu_s=[round(t, 5) for t in ingest_s],
        ingest_ratio=round(ingest_s[1] / ingest_s[0], 1),
        grown_file_ingest_cpu_s=[round(t, 4) for t in grown_s],
        state_bytes_at_large=state[0])
    print(f"\nbench: one poll of {POLL} events, live writer: {live_s[0] * 1e3:.2f} ms at "
          f"{small:,} events, {live_s[1] * 1e3:.2f} ms at {large:,}: ratio {ratio:.2f} "
          f"(SQLite work {steps_ratio:.2f}); state save "
          f"{save_s[0] * 1e3:.1f} / {save_s[1] * 1e3:.1f} ms; the same poll by a fresh "
          f"ingest {ingest_s[0] * 1e3:.1f} / {ingest_s[1] * 1e3:.1f} ms "
          f"({ingest_s[1] / ingest_s[0]:.1f}x, state {state[0] / 1e6:.1f} MB)"
          + (f"; ingest of the grown recording {grown_s[0]:.2f} / {grown_s[1]:.2f} s"
             if full else ""))
    # The SQLite work of a poll: a B-tree a level or two deeper at most
    assert steps_ratio < 1.3
    if full:
        # flat within noise (best of 15 interleaved rounds)
        assert ratio < 1.5
