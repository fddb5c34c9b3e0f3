"""``session-fsm serve`` through a simulated day: is its memory flat after the first hours?

The same three processes as ``bench_serve.py`` (a stand-in get-next-event server, the
real service as a subprocess, this process reading it), but the stand-in plays a working
day in compressed time: the stream's clock runs ``BENCH_UPTIME_SPEED`` times faster than
the wall's, and every session loops through realistic calls: idle in Available for 4 to
16 minutes, a call rings (with the agent's InboundContact), is answered 10 s later, talks
for 2 to 8 minutes, ends into 20 s of ACW, and closes (FinalState True) as the agent is
Available again; a new contact id each time. Each step is one answer, stamped with the
simulated time, so the service's histories, its history window (``--history-window``,
an hour of the stream's time by default) and its engine see a day of calls, about 90
contacts a session.

The service runs as a production one would: ``--state-dir`` (every answer journaled and
fsync'd; the state saved when the journal grows past its bound), ``--db`` off. Every
``BENCH_UPTIME_SAMPLE_S`` wall seconds this process reads the service's VmRSS and the
events it applied, and prints the series with the simulated hour; the result says how
much the resident memory grew over the second half of the day.

    BENCH_UPTIME_SESSIONS=1000 .venv/bin/python -m pytest benchmarks/bench_uptime.py \\
        --benchmark-enable -s

Under ``--benchmark-disable`` (CI): 20 sessions through two simulated hours in 12 s.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bench_serve
import httpx
import orjson
import pytest
from sizes import full_size

SIM_START = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
"""When the simulated day begins (its first hour is the service's first)."""

BOUND_S = 120.0
"""A bound on every wait outside the run itself."""


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _agent_state(state: str, at: datetime, *, reason: str = "", acw: bool = False
                 ) -> dict[str, Any]:
    return {"Type": "AgentState", "CurrentState": state, "CurrentOutReason": reason,
            "NextStates": [], "StartTimeUTC": _iso(at), "IsAcw": str(acw),
            "AcwTimeout": "30" if acw else "0"}


def _call(contact_id: str, status: str, at: datetime, started: datetime, *,
          final: bool = False) -> dict[str, Any]:
    return {"Type": "CallContactEvent", "ContactID": contact_id, "Status": status,
            "OriginalState": "False", "CallType": "Regular", "DNIS": "4000010001",
            "ANI": "8013203200", "Skill": "1507", "IsInbound": "True",
            "StartTimeUTC": _iso(started), "LastStateChangeTimeUTC": _iso(at),
            "ScreenPopUrl": "", "DisconnectCode": "NA", "IsLogging": "False", "Timeout": "",
            "AllowDispositions": "True", "Label": "", "IsLinked": "False", "TimeZones": "",
            "FinalState": str(final), "OtherInformation": "", "BlendingToSkillName": ""}


def day_of(number: int, seed: int) -> Iterator[tuple[datetime, list[dict[str, Any]]]]:
    """Session ``number``'s answers after its join, as (simulated time, events), forever."""
    rand = random.Random(seed * 1_000_003 + number)
    at = SIM_START + timedelta(seconds=rand.uniform(0, 600))
    calls = 0
    while True:
        calls += 1
        contact = f"{number + 1}{calls:06d}"
        at += timedelta(minutes=rand.uniform(4, 16))
        rang = at
        yield at, [_call(contact, "Incoming", at, rang),
                   _agent_state("InboundContact", at)]
        at += timedelta(seconds=10)
        yield at, [_call(contact, "Active", at, rang)]
        at += timedelta(minutes=rand.uniform(2, 8))
        yield at, [_call(contact, "Disconnected", at, rang),
                   _agent_state("Unavailable", at, acw=True)]
        at += timedelta(seconds=20)
        yield at, [_call(contact, "Disconnected", at, rang, final=True),
                   _agent_state("Available", at)]


def _stand_in(port_out: Any, sessions: int, speed: float, seed: int) -> None:
    """The stand-in get-next-event server, playing the day (a process of its own)."""
    import socket

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    wall_start = time.monotonic()
    days: dict[str, Iterator[tuple[datetime, list[dict[str, Any]]]]] = {}
    pending: dict[str, tuple[datetime, list[dict[str, Any]]]] = {}
    freezer: list[asyncio.Task[None]] = []

    def wall_of(at: datetime) -> float:
        return wall_start + (at - SIM_START).total_seconds() / speed

    async def freeze() -> None:  # as in bench_serve: the instrument must not pause
        while True:
            await asyncio.sleep(5)
            gc.freeze()

    async def poll(request: Request) -> Response:
        if not freezer:
            freezer.append(asyncio.get_running_loop().create_task(freeze()))
        session_id = request.path_params["session_id"]
        timeout = float(request.query_params.get("timeout", "30"))
        number = int(session_id.rsplit("-", 1)[1])
        if session_id not in days:
            days[session_id] = day_of(number, seed)
            pending[session_id] = next(days[session_id])
            body = {"sessionId": session_id, "events": [
                {"Type": "AgentSessionStart", "BusNo": "4500",
                 "AgentId": str(10_000 + number), "SessionId": str(58_000_000 + number)},
                _agent_state("Available", SIM_START)]}
            return Response(orjson.dumps(body), media_type="application/json")
        at, events = pending[session_id]
        wait = wall_of(at) - time.monotonic()
        if wait > timeout:
            await asyncio.sleep(timeout)
            return Response(status_code=304)
        await asyncio.sleep(max(0.0, wait))
        pending[session_id] = next(days[session_id])
        body = {"sessionId": session_id, "events": events}
        return Response(orjson.dumps(body), media_type="application/json")

    app = Starlette(routes=[Route("/agent-sessions/{session_id}/get-next-event", poll)])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    port_out.put(listener.getsockname()[1])
    config = uvicorn.Config(app, log_level="error", access_log=False, lifespan="off",
                            backlog=4096)
    asyncio.run(uvicorn.Server(config).serve(sockets=[listener]))


def _run(tmp_path: Path, sessions: int, speed: float, hours: float,
         sample_s: float) -> dict[str, Any]:
    context = multiprocessing.get_context("fork")
    ports: Any = context.Queue()
    stand_in = context.Process(target=_stand_in, args=(ports, sessions, speed, 1),
                               daemon=True)
    stand_in.start()
    service: subprocess.Popen[bytes] | None = None
    series: list[tuple[float, float, float]] = []
    try:
        base = f"http://127.0.0.1:{ports.get(timeout=30)}"
        (tmp_path / "token").write_text("bench-token")
        lines = ["[poll]", "timeout = 30", "http_timeout = 40", ""]
        for n in range(sessions):
            lines += ["[[session]]", f'key = "agent-{n:05d}"', f'base_url = "{base}"',
                      f'session_id = "s-{n}"', 'token_file = "token"', ""]
        config = tmp_path / "sessions.toml"
        config.write_text("\n".join(lines))
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        # BENCH_UPTIME_STATE_DIR=0: without --state-dir, so no saved state (whose
        # writing raises the RSS high-water mark once the journal passes 64 MiB) hides
        # how the heap itself grows
        state = [] if os.environ.get("BENCH_UPTIME_STATE_DIR") == "0" else \
            ["--state-dir", str(tmp_path / "state")]
        service = subprocess.Popen(
            [sys.executable, "-m", "session_fsm", "serve", "--config", str(config),
             "--port", "0", *state], env=env, stderr=subprocess.PIPE)
        assert service.stderr is not None
        first = service.stderr.readline().decode()
        found = re.search(r" on (http://\S+) ", first)
        assert found, first
        http = httpx.Client(base_url=found[1], trust_env=False, timeout=BOUND_S)
        # the day runs on the stand-in's clock, which started a moment before this one
        started = time.monotonic()
        wall_s = hours * 3600 / speed
        while True:
            elapsed = time.monotonic() - started
            rss, _ = bench_serve._memory_kib(service.pid)
            applied = bench_serve._applied(http)
            series.append((elapsed * speed / 3600, rss / 1024, applied))
            print(f"uptime: hour {series[-1][0]:5.2f}  RSS {rss / 1024:7.1f} MiB  "
                  f"events applied {applied:>10.0f}", flush=True)
            if elapsed >= wall_s:
                break
            time.sleep(min(sample_s, max(0.1, wall_s - elapsed)))
        cpu_s = bench_serve._cpu_s(service.pid)
        history_s = bench_serve._timed_get(http, "/api/sessions/agent-00000/history")
        health = http.get("/healthz").json()
        http.close()
    finally:
        if service is not None:
            service.send_signal(signal.SIGTERM)
            try:
                service.wait(timeout=BOUND_S)
            except subprocess.TimeoutExpired:
                service.kill()
        stand_in.kill()
        stand_in.join(10)
    half = [rss for hour, rss, _ in series if hour >= hours / 2]
    return {
        "sessions": sessions,
        "simulated_hours": hours,
        "speed": speed,
        "events_applied": series[-1][2],
        "serve_cpu_s": cpu_s,
        "rss_mib_series": [(round(hour, 2), round(rss, 1)) for hour, rss, _ in series],
        "rss_mib_at_half_day": half[0],
        "rss_mib_at_end": series[-1][1],
        "rss_growth_second_half_percent": 100 * (series[-1][1] - half[0]) / half[0],
        "rss_max_second_half_mib": max(half),
        "history_request_s": history_s,
        "failed_sessions": len(health["failed"]),
    }


def test_serve_memory_through_a_simulated_day(benchmark: Any, request: pytest.FixtureRequest,
                                              tmp_path: Path) -> None:
    """A day of calls at 1,000 sessions, compressed: the service's RSS over the day."""
    full = full_size(request.config)
    sessions, speed, hours, sample_s = (1000, 60.0, 24.0, 30.0) if full else \
        (20, 600.0, 2.0, 2.0)
    sessions = int(os.environ.get("BENCH_UPTIME_SESSIONS", sessions))
    speed = float(os.environ.get("BENCH_UPTIME_SPEED", speed))
    hours = float(os.environ.get("BENCH_UPTIME_HOURS", hours))
    sample_s = float(os.environ.get("BENCH_UPTIME_SAMPLE_S", sample_s))
    result = benchmark.pedantic(_run, args=(tmp_path, sessions, speed, hours, sample_s),
                                rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    print(f"\nbench: {result}")
    assert result["failed_sessions"] == 0
    # a session makes a call every 6.5 to 24.5 simulated minutes: 4 answers, 7 events
    calls_at_least = sessions * hours * 60 / 24.5
    assert result["events_applied"] >= 7 * calls_at_least * 0.5
