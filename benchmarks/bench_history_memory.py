"""Peak memory of a long single-session replay, with and without flushing to the store.

Run ``pytest benchmarks/bench_history_memory.py -s`` to see the numbers (they are also in
the benchmark's ``extra_info``). The stream is generated lazily, one event at a time, so
what is measured is the engine's records, not the input. tracemalloc sees Python's
allocations only: SQLite's own page cache (bounded by its ``cache_size``) is not counted.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from session_fsm.engine import AgentSession
from session_fsm.io.store import Store

CYCLES = (300, 1200, 4800, 19200)
"""Contact cycles per run (``--benchmark-enable``): the stream grows 64x."""
QUICK_CYCLES = (100, 400, 1600)
"""The same check, 16x, when benchmarks run as plain tests (``--benchmark-disable``)."""
FLUSH_EVERY = 500


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


def peak_bytes(cycles: int, store: Store | None) -> tuple[int, int]:
    """(events fed, peak traced bytes) of one replay; ``store`` given: flush as it goes."""
    session = AgentSession(f"agent-{cycles}")
    events = stream(cycles)
    tracemalloc.start()
    tracemalloc.reset_peak()
    count = 0
    for count, event in enumerate(events, 1):
        session.feed(event)
        if store is not None and count % FLUSH_EVERY == 0:
            store.flush(session)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return count, peak


def test_history_memory_stays_flat_with_flushing(benchmark: Any, tmp_path: Path) -> None:
    """Peak memory of a long replay: flat with flushing, growing without it."""
    flushed: list[int] = []
    unflushed: list[int] = []
    sizes: list[int] = []

    def measure() -> None:
        flushed.clear()
        unflushed.clear()
        sizes.clear()
        for cycles in QUICK_CYCLES if benchmark.disabled else CYCLES:
            with Store(tmp_path / f"bench-{cycles}.sqlite") as store:
                events, peak = peak_bytes(cycles, store)
            sizes.append(events)
            flushed.append(peak)
            unflushed.append(peak_bytes(cycles, None)[1])

    benchmark.pedantic(measure, rounds=1, iterations=1)
    for events, with_flush, without in zip(sizes, flushed, unflushed, strict=True):
        print(f"{events:>7} events: peak {with_flush / 1024:8.0f} KiB flushing every "
              f"{FLUSH_EVERY} events, {without / 1024:8.0f} KiB without")
    benchmark.extra_info.update({"events": sizes, "peak_bytes_flushing": flushed,
                                 "peak_bytes_without_flushing": unflushed})
    # a 16x (64x) longer stream: with flushing the peak stays within a quarter of the
    # first run's; without, it grows with every contact kept in memory
    assert flushed[-1] < flushed[0] * 1.25
    assert unflushed[-1] > unflushed[0] * 4
