"""Peak memory of a long single-session replay: the history fold stays flat when its
updates are taken, as the store takes them; the engine grows with the closed contacts it
remembers.

The store applies a session through the engine and a
:class:`~session_fsm.views.history.HistoryFold` whose updates it takes every so many
events (:meth:`~session_fsm.views.history.HistoryFold.take_updates`, then writes them):
the fold then drops what can no longer change. Measured, per stream length:

- ``engine``: the engine alone (it keeps each closed contact, without its history, for
  the contact-after-final check: this grows, and is the engine's business);
- ``taken``: the engine and the fold, updates taken every ``TAKE_EVERY`` events: what the
  history adds on top of the engine must stay flat;
- ``kept``: the engine and a fold never emptied (``history FILE``): grows with every contact;
- ``store`` (``--benchmark-enable`` only: slow under tracemalloc): a
  :class:`~session_fsm.io.store.StoreWriter` storing the stream, a line of 10 events at
  a time, as ``follow --db`` does (reported, not asserted: its resume-state saves are
  transient copies of the engine's state, so it grows with the engine).

Run ``pytest benchmarks/bench_history_memory.py -s`` to see the numbers (they are also in
the benchmark's ``extra_info``). The stream is generated lazily, one event at a time, so
what is measured is the engine's and the fold's memory, not the input. tracemalloc sees
Python's allocations only: SQLite's own page cache (bounded by its ``cache_size``) is
not counted.
"""

from __future__ import annotations

import itertools
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from session_fsm.engine import AgentSession
from session_fsm.io.store import Store
from session_fsm.views.history import HistoryFold

CYCLES = (300, 1200, 4800, 19200)
"""Contact cycles per run (``--benchmark-enable``): the stream grows 64x."""
QUICK_CYCLES = (100, 400, 1600)
"""The same check, 16x, when benchmarks run as plain tests (``--benchmark-disable``)."""
TAKE_EVERY = 500
"""Events between two takes of the fold's updates (the store's default is 5,000 while it
applies a stored session, and once per poll for ``follow --db``)."""
KEY = "agent"


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def stream(cycles: int) -> Iterator[dict[str, Any]]:
    """One agent's long day: calls with the two-step ACW, calls closed at once followed by
    the agent's ACW, and chats with text, as wire dicts."""
    now = datetime(2013, 9, 11, 5, 0, 0, tzinfo=UTC)

    def at(seconds: int) -> str:
        nonlocal now
        now += timedelta(seconds=seconds)
        return _iso(now)

    def state(name: str, when: str, *, acw: bool = False) -> dict[str, Any]:
        return {"Type": "AgentState", "CurrentState": name, "CurrentOutReason": "",
                "NextStates": [], "StartTimeUTC": when, "IsAcw": str(acw), "AcwTimeout": "0"}

    def call(cid: str, status: str, when: str, start: str, final: bool = False) -> dict[str, Any]:
        return {"Type": "CallContactEvent", "ContactID": cid, "Status": status,
                "CallType": "Regular", "Skill": "1507", "IsInbound": "True",
                "StartTimeUTC": start, "LastStateChangeTimeUTC": when, "DisconnectCode": "NA",
                "IsLinked": "False", "FinalState": str(final)}

    def chat(cid: str, status: str, when: str, start: str, final: bool = False) -> dict[str, Any]:
        return {"Type": "ChatContactEvent", "ContactID": cid, "RoomId": f"r{cid}",
                "Status": status, "Skill": "1509", "StartTime": start,
                "LastStateChangeTime": when, "Messages": [], "FinalState": str(final)}

    yield {"Type": "AgentSessionStart", "AgentId": "12214", "SessionId": "58070815"}
    yield state("Available", at(0))
    for n in range(cycles):
        cid = str(2_000_000 + n)
        start = at(30)
        if n % 3 == 2:
            yield chat(cid, "Incoming", start, start)
            yield state("InboundContact", at(1))
            yield chat(cid, "Active", at(5), start)
            yield {"Type": "ChatText", "RoomId": f"r{cid}", "Message": "hello",
                   "PartyType": "Agent", "TimeStamp": at(10)}
            yield chat(cid, "Disconnected", at(60), start, final=True)
            yield state("Available", at(0))
            continue
        yield call(cid, "Incoming", start, start)
        yield state("InboundContact", at(1))
        yield call(cid, "Active", at(20), start)
        if n % 3 == 0:
            yield call(cid, "Disconnected", at(200), start)
            yield state("Unavailable", at(0), acw=True)
            yield call(cid, "Disconnected", at(25), start, final=True)
        else:
            yield call(cid, "Disconnected", at(200), start, final=True)
            yield state("Unavailable", at(0), acw=True)
        yield state("Available", at(15))


def peak_bytes(cycles: int, fold: HistoryFold | None, take_every: int | None) -> tuple[int, int]:
    """(events fed, peak traced bytes) of one replay into an engine and, if given, ``fold``,
    its updates taken every ``take_every`` events (None: never)."""
    session = AgentSession(KEY)
    events = stream(cycles)
    tracemalloc.start()
    tracemalloc.reset_peak()
    count = 0
    for count, event in enumerate(events, 1):
        changes = session.feed(event)
        if fold is not None:
            fold.apply_all(changes)
            if take_every is not None and count % take_every == 0:
                fold.take_updates(KEY)  # the store writes these out; here they are dropped
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return count, peak


def store_peak_bytes(cycles: int, db: Path) -> int:
    """Peak traced bytes of storing the stream through a live writer, 10 events a line."""
    events = stream(cycles)
    tracemalloc.start()
    tracemalloc.reset_peak()
    with Store(db) as store, store.writer() as writer:
        for number in itertools.count(1):
            batch = list(itertools.islice(events, 10))
            if not batch:
                break
            writer.add_line(str(db) + ".jsonl", number,
                            orjson.dumps({"session": KEY, "events": batch}))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def test_history_memory_stays_flat_when_updates_are_taken(benchmark: Any,
                                                          tmp_path: Path) -> None:
    """Peak memory of a long replay: the history's share flat when its updates are
    taken, growing when they are not."""
    found: dict[str, list[int]] = {}

    def measure() -> None:
        found.clear()
        for cycles in QUICK_CYCLES if benchmark.disabled else CYCLES:
            events, engine = peak_bytes(cycles, None, None)
            found.setdefault("events", []).append(events)
            found.setdefault("engine", []).append(engine)
            found.setdefault("taken", []).append(peak_bytes(cycles, HistoryFold(), TAKE_EVERY)[1])
            found.setdefault("kept", []).append(peak_bytes(cycles, HistoryFold(), None)[1])
            found.setdefault("store", []).append(
                0 if benchmark.disabled
                else store_peak_bytes(cycles, tmp_path / f"bench-{cycles}.sqlite"))

    benchmark.pedantic(measure, rounds=1, iterations=1)
    history_taken = [t - e for t, e in zip(found["taken"], found["engine"], strict=True)]
    history_kept = [k - e for k, e in zip(found["kept"], found["engine"], strict=True)]
    for n, events in enumerate(found["events"]):
        store = found["store"][n]
        print(f"{events:>7} events: peak engine {found['engine'][n] / 1024:7.0f} KiB; history "
              f"on top: {history_taken[n] / 1024:6.0f} KiB taking updates every {TAKE_EVERY} "
              f"events, {history_kept[n] / 1024:7.0f} KiB never"
              + (f"; live writer in all {store / 1024:7.0f} KiB" if store else ""))
    benchmark.extra_info.update({
        "events": found["events"], "peak_bytes_engine": found["engine"],
        "peak_bytes_engine_and_fold_taken": found["taken"],
        "peak_bytes_engine_and_fold_kept": found["kept"],
        "peak_bytes_live_writer": found["store"]})
    # a 16x (64x) longer stream: the fold whose updates are taken adds what it added on
    # the shortest, within a quarter (and 64 KiB: allocator noise around a few hundred
    # KiB); one never emptied grows with every contact
    assert history_taken[-1] < history_taken[0] * 1.25 + 64 * 1024
    assert history_kept[-1] > history_kept[0] * 4
