"""The engine measured against the parsing floor: throughput, scaling, memory, validation, history.

The *floor* is the least any Python consumer of the stream must do: ``orjson.loads`` of
every line and a walk over the events it holds. Every timed benchmark runs the floor and
the engine in the same run, interleaved round by round (the floor runs in each round's
untimed setup), and reports the ratio of the best engine round to the best floor round,
which a loaded machine disturbs far less than absolute times. The ratios and rates are
computed from CPU time (``time.process_time``: time spent waiting for a busy CPU is not
the engine's); pytest-benchmark's own table shows wall-clock times. They are in each
benchmark's ``extra_info`` and on one ``bench:`` line per benchmark (``-s`` shows it).

Sizes: with ``--benchmark-enable`` everything is full size: a simulated stream of 2,000
agents over 100 minutes (about 290,000 events, every event type), 10,000 concurrent
sessions for the scaling and memory benchmarks. Under the default ``--benchmark-disable``
(CI, the README's test command) the same code runs once on small inputs (40 agents,
200 sessions), as ordinary fast tests. ``BENCH_FULL=1`` forces full size either way.

Real run (the README's "Performance" table)::

    .venv/bin/python -m pytest benchmarks/bench_engine.py --benchmark-enable -s
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, cast

import orjson
import pytest
from sizes import full_size

from session_fsm.cli._common import replay_files
from session_fsm.engine import SessionEngine
from session_fsm.sim import INTENDED_WARNINGS, simulate
from session_fsm.views.history import HistoryFold
from session_fsm.views.validation import native_lines, validate_files
from session_fsm.wire.reader import WireItem, iter_wire, wire_bytes

Wire = dict[str, Any]

class Stream(NamedTuple):
    path: Path
    events: int
    sessions: int


ROUNDS = 5
"""Timed rounds per benchmark when enabled (each with its own floor round)."""


# --- sizes -----------------------------------------------------------------------------



@pytest.fixture(scope="module")
def full(request: pytest.FixtureRequest) -> bool:
    return full_size(request.config)


@pytest.fixture(scope="module")
def stream(full: bool, tmp_path_factory: pytest.TempPathFactory) -> Stream:
    """The simulated JSON Lines stream (every event type)."""
    agents, minutes = (2000, 100.0) if full else (40, 20.0)
    path = tmp_path_factory.mktemp("bench") / "stream.jsonl"
    with path.open("wb") as out:
        summary, _ = simulate(out, agents=agents, seed=7, minutes=minutes)
    return Stream(path, summary.events, summary.sessions)


@pytest.fixture(scope="module")
def sessions(full: bool) -> int:
    """Concurrent sessions of the scaling and memory benchmarks."""
    return 10_000 if full else 200


# --- the floor and the timing harness ----------------------------------------------------


def parse_floor(path: Path) -> int:
    """``orjson.loads`` of every line plus a walk over its events: the least any consumer does."""
    count = 0
    loads = orjson.loads
    with path.open("rb") as lines:
        for line in lines:
            value = loads(line)
            for event in _events_of(value):
                count += event is not None
    return count


def _events_of(value: Any) -> Iterator[Any]:
    if type(value) is list:
        for element in value:
            yield from _events_of(element)
    elif type(value) is dict and ("events" in value or "event" in value):
        yield from value.get("events") or (value["event"],)
    else:
        yield value


def parse_floor_lines(lines: list[bytes]) -> int:
    """The floor of a stream held in memory as lines (one event each)."""
    count = 0
    loads = orjson.loads
    for line in lines:
        count += loads(line) is not None
    return count


def against_floor(
    benchmark: Any, engine: Callable[[], Any], floor: Callable[[], Any], full: bool
) -> tuple[float, float, Any]:
    """Best engine time, best floor time (seconds) and the engine's last result.

    Each round runs the floor in pytest-benchmark's untimed setup, then the timed engine
    round, so both see the same load. Garbage from the previous round is collected
    before the floor, outside both timings.
    """
    engine_times: list[float] = []
    floor_times: list[float] = []
    last: list[Any] = []

    def setup() -> None:
        last.clear()
        gc.collect()
        start = time.process_time()
        floor()
        floor_times.append(time.process_time() - start)

    def timed() -> None:
        start = time.process_time()
        result = engine()
        engine_times.append(time.process_time() - start)
        last.append(result)

    benchmark.pedantic(timed, setup=setup, rounds=ROUNDS if full else 1, iterations=1)
    return min(engine_times), min(floor_times), last[-1]


def report(benchmark: Any, name: str, **figures: float | int | str) -> None:
    """Record the figures in extra_info and print them as one summary line."""
    benchmark.extra_info.update(figures)
    shown = "  ".join(
        f"{key}={value:,.2f}" if isinstance(value, float) else f"{key}={value}"
        for key, value in figures.items()
    )
    print(f"\nbench: {name}  {shown}")


# --- 1. end to end ---------------------------------------------------------------------------


def replay(path: Path, fold: HistoryFold | None = None) -> tuple[SessionEngine, int]:
    """Bytes to final snapshots, exactly as ``session-fsm snapshot`` does (its
    ``replay_files``: the reader, with the native core taking the lines it reads itself,
    ``feed``, ``finish()``), then every snapshot. With ``fold``, the history is folded
    from the changes as they come, as ``session-fsm history`` does."""
    engine = SessionEngine()
    if fold is not None:
        engine.subscribe(fold.apply)
    replay_files([str(path)], skip_bad=False, engine=engine)  # a bad line would raise
    return engine, len(engine.snapshot())


def test_end_to_end(benchmark: Any, stream: Stream, full: bool) -> None:
    """Bytes -> reader -> engine -> snapshots, against orjson.loads of the same lines."""
    path, events, sessions = stream
    engine_s, floor_s, (engine, snapshots) = against_floor(
        benchmark, lambda: replay(path), lambda: parse_floor(path), full)
    assert sum(s.events for s in engine.sessions.values()) == events
    assert snapshots == len(engine.sessions) == sessions  # one per simulated session
    report(benchmark, "end-to-end", engine=engine.engine, events=events,
           events_per_s=events / engine_s,
           us_per_event=engine_s / events * 1e6, floor_us_per_event=floor_s / events * 1e6,
           ratio_to_floor=engine_s / floor_s)


def test_end_to_end_with_history(benchmark: Any, stream: Stream, full: bool) -> None:
    """The same, with every session's history folded from the change stream as it comes
    (what the engine itself did before the change stream: it kept every step)."""
    path, events, sessions = stream
    engine_s, floor_s, (engine, snapshots) = against_floor(
        benchmark, lambda: replay(path, HistoryFold()), lambda: parse_floor(path), full)
    assert snapshots == len(engine.sessions) == sessions
    report(benchmark, "end-to-end-with-history", events=events,
           events_per_s=events / engine_s, us_per_event=engine_s / events * 1e6,
           ratio_to_floor=engine_s / floor_s)


# --- 2. engine only ----------------------------------------------------------------------------


def test_engine_only(benchmark: Any, stream: Stream, full: bool) -> None:
    """Pre-parsed wire objects into SessionEngine.feed (facts, digest and decoding
    included, the reader not)."""
    path, events, _ = stream
    items = [item for item in iter_wire(path) if type(item) is tuple]
    assert len(items) == events

    def run() -> SessionEngine:
        engine = SessionEngine()
        feed = engine.feed
        for key, wire, source in items:
            feed(wire, key=key, source=source, batch=source)
        return engine

    engine_s, floor_s, engine = against_floor(benchmark, run, lambda: parse_floor(path), full)
    assert sum(s.events for s in engine.sessions.values()) == events
    report(benchmark, "engine-only", events=events, events_per_s=events / engine_s,
           us_per_event=engine_s / events * 1e6, ratio_to_floor=engine_s / floor_s)


def test_engine_on_bytes(benchmark: Any, stream: Stream, full: bool) -> None:
    """The stream's bytes already in memory into the engine (``wire_bytes``, the native
    core taking the lines it reads itself, as ``validate`` hands them): the engine's own
    rate, with no file read and no snapshot."""
    path, events, _ = stream
    data = path.read_bytes()

    def run() -> SessionEngine:
        engine = SessionEngine()
        feed = engine.feed
        items = wire_bytes(data, str(path), take_lines=native_lines(engine))
        for key, wire, source in cast(Iterator[WireItem], items):
            feed(wire, key=key, source=source, batch=source)
        return engine

    engine_s, floor_s, engine = against_floor(benchmark, run, lambda: parse_floor(path), full)
    assert sum(s.events for s in engine.sessions.values()) == events
    report(benchmark, "engine-on-bytes", engine=engine.engine, events=events,
           events_per_s=events / engine_s, us_per_event=engine_s / events * 1e6,
           ratio_to_floor=engine_s / floor_s)


# --- synthetic sessions for scaling and memory ---------------------------------------------


_T0 = datetime(2024, 3, 4, 8, 0, tzinfo=UTC)


def _iso(at: datetime) -> str:
    return f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond // 1000:03d}Z"


def session_start(n: int) -> Wire:
    return {"Type": "AgentSessionStart", "BusNo": "4500", "AgentId": str(10_000 + n),
            "SessionId": str(58_000_000 + n), "StationPhoneNumber": "8014150968",
            "StationCallerId": "8013203200", "DialerCampaign": "",
            "DialerCampaignStartTime": "2024-03-04T07:30:00.000Z",
            "SupervisorPermissionLevel": "0", "CanMask": "False",
            "AgentSchedulePermission": "True", "ScoreRecordingsPermission": "False",
            "HideAgentStatePermission": "", "CanMultiPartyConference": "True"}


def agent_state(state: str, at: datetime, *, acw: bool = False, after: str = "Available",
                timeout: int = 0) -> Wire:
    nexts = [{"State": "Unavailable", "OutReason": ""}] if acw or state == "InboundContact" \
        else []
    if state == "InboundContact" or acw:
        nexts.append({"State": after, "OutReason": ""})
    return {"Type": "AgentState", "CurrentState": state, "CurrentOutReason": "",
            "NextStates": nexts[-2:], "StartTimeUTC": _iso(at), "IsAcw": str(acw),
            "AcwTimeout": str(timeout)}


def leg(status: str) -> Wire:
    return {"Type": "AgentLeg", "AgentLegId": "2200339882", "Status": status,
            "FinalState": "False"}


def call(contact_id: str, status: str, at: datetime, started: datetime, *,
         final: bool = False) -> Wire:
    """A call event with every field the live stream sends (its real size matters here)."""
    return {"Type": "CallContactEvent", "ContactID": contact_id, "Status": status,
            "OriginalState": "False", "CallType": "Regular", "DNIS": "8011002406",
            "ANI": "8566116109", "Skill": "1507", "IsInbound": "True",
            "StartTimeUTC": _iso(started), "LastStateChangeTimeUTC": _iso(at),
            "ScreenPopUrl": "", "DisconnectCode": "NA", "IsLogging": "False", "Timeout": "",
            "AllowDispositions": "True", "Label": "", "IsLinked": "True",
            "TimeZones": "", "FinalState": str(final), "OtherInformation": "",
            "BlendingToSkillName": "", "MasterID": contact_id}


def login(n: int) -> list[Wire]:
    return [session_start(n), agent_state("Available", _T0), leg("Active")]


def call_cycle(n: int, cycle: int) -> list[Wire]:
    """One inbound call with hold and the two-step ACW: 9 events, 6 contact steps and
    3 agent-state intervals (InboundContact, Unavailable ACW, Available)."""
    contact_id = str(17_000_000_000 + n * 1000 + cycle)
    t = _T0 + timedelta(minutes=10 * cycle + 1, milliseconds=n)
    return [
        call(contact_id, "Incoming", t, t),
        agent_state("InboundContact", t + timedelta(seconds=1)),
        call(contact_id, "Active", t + timedelta(seconds=1), t),
        call(contact_id, "Holding", t + timedelta(seconds=60), t),
        call(contact_id, "Active", t + timedelta(seconds=90), t),
        call(contact_id, "Disconnected", t + timedelta(seconds=200), t),
        agent_state("Unavailable", t + timedelta(seconds=200), acw=True, timeout=30),
        call(contact_id, "Disconnected", t + timedelta(seconds=220), t, final=True),
        agent_state("Available", t + timedelta(seconds=221)),
    ]


def interleaved(sessions: int, cycles: int) -> list[tuple[str, bytes]]:
    """``sessions`` logged-in agents, then ``cycles`` calls each, one event per session
    in turn: every session has a call open at once (maximum concurrency)."""
    lines: list[tuple[str, bytes]] = []
    for n in range(sessions):
        lines.extend((f"agent-{n:05d}", orjson.dumps(e)) for e in login(n))
    for cycle in range(cycles):
        scripts = [call_cycle(n, cycle) for n in range(sessions)]
        for step in range(len(scripts[0])):
            lines.extend((f"agent-{n:05d}", orjson.dumps(s[step])) for n, s in enumerate(scripts))
    return lines


# --- 3. scaling ----------------------------------------------------------------------------


def test_scaling(benchmark: Any, sessions: int, full: bool) -> None:
    """Per-event cost with ``sessions`` concurrent sessions against the same events in one."""
    cycles_each = 3
    many = interleaved(sessions, cycles_each)
    one = [("agent-00000", line) for _, line in interleaved(1, sessions * cycles_each)]
    many_wire = [(key, orjson.loads(line)) for key, line in many]
    one_wire = [(key, orjson.loads(line)) for key, line in one]

    def run(wire: list[tuple[str, Wire]]) -> SessionEngine:
        engine = SessionEngine()
        feed = engine.feed
        for key, event in wire:
            feed(event, key=key)
        return engine

    # the single session plays the floor's part: both run in every round, interleaved
    many_s, one_s, engine = against_floor(benchmark, lambda: run(many_wire),
                                          lambda: run(one_wire), full)
    assert len(engine.sessions) == sessions
    ratio = (many_s / len(many)) / (one_s / len(one))
    report(benchmark, "scaling", sessions=sessions,
           us_per_event_1=one_s / len(one) * 1e6,
           us_per_event_many=many_s / len(many) * 1e6, ratio_many_to_1=ratio)


# --- 4. memory -------------------------------------------------------------------------------


def _retained(feed_lines: Callable[[], Any]) -> tuple[int, Any]:
    """Bytes still allocated after ``feed_lines`` (parsing inside: only what the engine
    keeps stays), as tracemalloc counts them, and its result."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = feed_lines()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return after - before, result


def _resident() -> int:
    """This process's resident memory now (RSS), in bytes."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _resident_per_session(sessions: int) -> float:
    """Resident memory (RSS) per live session with one open call, measured in a fresh
    process (here, memory freed by the benchmarks before would be reused and hide it):
    tracemalloc sees neither the native core's heap nor the allocator's own overhead."""
    code = f"""
import gc, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
import orjson
from bench_engine import _feed_bytes, _resident, call_cycle, login
live = []
for n in range({sessions}):
    live.extend((f"agent-{{n:05d}}", orjson.dumps(e)) for e in [*login(n), *call_cycle(n, 0)[:3]])
gc.collect()
before = _resident()
engine = _feed_bytes(live)
gc.collect()
assert len(engine.sessions) == {sessions}
print((_resident() - before) / {sessions})
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def _feed_bytes(lines: list[tuple[str, bytes]], engine: SessionEngine | None = None
                ) -> SessionEngine:
    engine = engine or SessionEngine()
    for key, line in lines:
        engine.feed(orjson.loads(line), key=key)
    return engine


def _fold_bytes(lines: list[tuple[str, bytes]]) -> HistoryFold:
    """The history folded from ``lines``' changes (the engine is dropped at the end)."""
    engine, fold = SessionEngine(), HistoryFold()
    for key, line in lines:
        fold.apply_all(engine.feed(orjson.loads(line), key=key))
    return fold


def test_memory(benchmark: Any, sessions: int, full: bool) -> None:
    """Bytes per live session with one open call, per closed contact the engine keeps (for
    the after-final and redelivery checks), and per history step a fold keeps."""
    # live sessions: logged in, InboundContact, one Active call each
    live: list[tuple[str, bytes]] = []
    for n in range(sessions):
        key = f"agent-{n:05d}"
        events = [*login(n), *call_cycle(n, 0)[:3]]
        live.extend((key, orjson.dumps(e)) for e in events)
    rss_per_session = _resident_per_session(sessions)
    live_bytes, engine = benchmark.pedantic(lambda: _retained(lambda: _feed_bytes(live)),
                                            rounds=1, iterations=1)
    assert len(engine.sessions) == sessions
    assert all(len(s.contacts) == 1 for s in engine.sessions.values())
    per_session = live_bytes / sessions

    # the marginal cost of closed calls in 100 sessions (fixed costs cancel out): in the
    # engine, and in a fold of the history
    agents, short, long = 100, 2, (20 if full else 6)
    closed, steps = {}, {}
    engine_bytes, fold_bytes = {}, {}
    for cycles in (short, long):
        lines = interleaved(agents, cycles)
        engine_bytes[cycles], fed = _retained(lambda lines=lines: _feed_bytes(lines))
        closed[cycles] = sum(len(s.closed) for s in fed.sessions.values())
        del fed
        fold_bytes[cycles], fold = _retained(lambda lines=lines: _fold_bytes(lines))
        steps[cycles] = sum(len(log.timeline) + sum(len(c.steps) for c in log.contacts.values())
                            for log in fold.sessions.values())
        del fold
    per_closed = (engine_bytes[long] - engine_bytes[short]) / (closed[long] - closed[short])
    per_step = (fold_bytes[long] - fold_bytes[short]) / (steps[long] - steps[short])
    report(benchmark, "memory", sessions=sessions, engine=engine.engine,
           rss_bytes_per_live_session=rss_per_session, bytes_per_live_session=per_session,
           engine_bytes_per_closed_contact=per_closed, fold_bytes_per_history_step=per_step)


# --- 5. validation and history queries -------------------------------------------------------


def test_validation(benchmark: Any, stream: Stream, full: bool) -> None:
    """validate_files(): the reader into validate(), the native core taking the lines it
    reads itself, as ``session-fsm validate`` runs it."""
    path, events, _ = stream
    engine_s, floor_s, result = against_floor(
        benchmark, lambda: validate_files(path), lambda: parse_floor(path), full)
    assert result.events == events
    assert result.errors == 0  # the simulator never breaks the documented protocol
    assert {v.rule for v in result.violations} <= INTENDED_WARNINGS
    report(benchmark, "validation", events=events, events_per_s=events / engine_s,
           ratio_to_floor=engine_s / floor_s)


def test_history_queries(benchmark: Any, stream: Stream, full: bool) -> None:
    """Every session's history with durations, then a query over contacts and states."""
    path, events, _ = stream
    fold = HistoryFold()
    replay(path, fold)
    calls: list[int] = []

    def query() -> int:
        found = 0
        for history in fold.histories():
            found += len(history.find_contacts(media="call", closed=True))
            found += len(history.find_states(is_acw=True))
            found += len(history.time_in_state_s)
        calls.append(found)
        return found

    query_s, floor_s, found = against_floor(benchmark, query, lambda: parse_floor(path), full)
    assert found > 0
    report(benchmark, "history", events=events, query_s=query_s,
           events_per_s=events / query_s, ratio_to_floor=query_s / floor_s)
