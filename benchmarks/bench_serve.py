"""``session-fsm serve`` following many sessions at once: throughput, latency, memory.

Three processes on this machine, all on loopback: a stand-in get-next-event server
(Starlette on uvicorn, one asyncio process) for every session, the real service
(``python -m session_fsm serve --config ...``) following all of them, and this process
reading the service's event stream (``/api/changes``).

The stand-in answers each session's first poll with its join batch (session start,
agent state, leg), then holds every poll until that session's next event is due and
answers it with one ``AgentState`` whose ``StartTimeUTC`` is the moment it answers; a
poll with nothing due within its timeout gets a 304. Sessions start spread over one
interval, so events arrive evenly. The latency of an event is the time from that
answer (its ``StartTimeUTC``, millisecond resolution) to the moment its
``agent_status`` change arrives here on the event stream: the poll's transfer, decoding,
the engine, the hub and the SSE delivery, end to end.

Reported (on a ``bench:`` line with ``-s``, and in ``extra_info``): events applied per
second over the measured window (the service's own ``session_fsm_events_applied_total``),
the events offered per second, latency p50 and p99, and the service's resident memory
(VmRSS at the end, VmHWM peak). Sizes: under the default ``--benchmark-disable`` (CI)
20 sessions for 3 s, as a fast test; with ``--benchmark-enable`` (or ``BENCH_FULL=1``)
1,000 sessions (``BENCH_SERVE_SESSIONS`` sets it), one event per session every 4 s
(``BENCH_SERVE_INTERVAL`` sets it), measured for 30 s after a 10 s warm-up; also the
service's CPU over that window and how long ``GET /api/sessions`` (twice) and
``/metrics`` take right after it::

    .venv/bin/python -m pytest benchmarks/bench_serve.py --benchmark-enable -s
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sizes import full_size

BOUND_S = 180.0
"""No run of this benchmark waits longer than this for anything."""



def _now_iso() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _stand_in(port_out: Any, sessions: int, interval_s: float) -> None:
    """The stand-in get-next-event server (runs in a process of its own)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    due: dict[str, float] = {}
    freezer: list[asyncio.Task[None]] = []
    count: dict[str, int] = {}

    async def poll(request: Request) -> Response:
        if not freezer:
            freezer.append(asyncio.get_running_loop().create_task(freeze()))
        session_id = request.path_params["session_id"]
        timeout = float(request.query_params.get("timeout", "30"))
        number = int(session_id.rsplit("-", 1)[1])
        if session_id not in due:
            # the session's first event is due one interval (spread by its number) after
            # its first poll: a service that starts late finds no backlog
            due[session_id] = time.monotonic() + interval_s * (1 + number / sessions)
            count[session_id] = 0
            body = {"sessionId": session_id, "events": [
                {"Type": "AgentSessionStart", "BusNo": "4500", "AgentId": str(10_000 + number),
                 "SessionId": str(58_000_000 + number)},
                {"Type": "AgentState", "CurrentState": "Available", "CurrentOutReason": "",
                 "NextStates": [], "StartTimeUTC": _now_iso(), "IsAcw": "False",
                 "AcwTimeout": "0"},
            ]}
            return Response(orjson.dumps(body), media_type="application/json")
        wait = due[session_id] - time.monotonic()
        if wait > timeout:
            await asyncio.sleep(timeout)
            return Response(status_code=304)
        await asyncio.sleep(max(0.0, wait))
        due[session_id] += interval_s
        count[session_id] += 1
        state = "Unavailable" if count[session_id] % 2 else "Available"
        body = {"sessionId": session_id, "events": [
            {"Type": "AgentState", "CurrentState": state,
             "CurrentOutReason": "Break" if state == "Unavailable" else "",
             "NextStates": [], "StartTimeUTC": _now_iso(), "IsAcw": "False",
             "AcwTimeout": "0"}]}
        return Response(orjson.dumps(body), media_type="application/json")

    async def freeze() -> None:
        # The stand-in is the instrument, not what is measured: a full pass of its own
        # collector over 10,000 held requests would stall its answers after they are
        # stamped, which the latency would count against the service. What is alive is
        # set aside from the collector as the service does (serve's _freeze_long_lived).
        while True:
            await asyncio.sleep(5)
            gc.freeze()

    app = Starlette(routes=[Route("/agent-sessions/{session_id}/get-next-event", poll)])
    import socket

    # IPPROTO_TCP spelled out: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
    # sockets whose proto says TCP; a socket() with proto 0 keeps it, and every answer on
    # a kept-alive connection then waits ~40 ms for the client's delayed ACK
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    port_out.put(listener.getsockname()[1])
    config = uvicorn.Config(app, log_level="error", access_log=False, lifespan="off",
                            backlog=4096)
    asyncio.run(uvicorn.Server(config).serve(sockets=[listener]))


def _memory_kib(pid: int) -> tuple[int, int]:
    """VmRSS and VmHWM of ``pid``, KiB."""
    text = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", text)[1])  # type: ignore[index]
    peak = int(re.search(r"VmHWM:\s+(\d+)", text)[1])  # type: ignore[index]
    return rss, peak


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _timed_get(http: httpx.Client, path: str) -> float:
    """Seconds one GET of ``path`` takes, its whole answer read."""
    started = time.monotonic()
    answer = http.get(path)
    answer.raise_for_status()
    return time.monotonic() - started


def _applied(http: httpx.Client) -> float:
    total = 0.0
    for line in http.get("/metrics").text.splitlines():
        if line.startswith("session_fsm_events_applied_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _run(tmp_path: Path, sessions: int, interval_s: float, warmup_s: float,
         measure_s: float) -> dict[str, Any]:
    ports: Any = multiprocessing.get_context("fork").Queue()
    stand_in = multiprocessing.get_context("fork").Process(
        target=_stand_in, args=(ports, sessions, interval_s), daemon=True)
    stand_in.start()
    service: subprocess.Popen[bytes] | None = None
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
        service = subprocess.Popen(
            [sys.executable, "-m", "session_fsm", "serve", "--config", str(config),
             "--port", "0"], env=env, stderr=subprocess.PIPE)
        assert service.stderr is not None
        first = service.stderr.readline().decode()
        found = re.search(r" on (http://\S+) ", first)
        assert found, first
        http = httpx.Client(base_url=found[1], trust_env=False, timeout=30)
        latencies: list[float] = []
        series: list[tuple[float, float]] = []
        last_id: int | None = None
        gaps = 0
        """Ids not one after the last, and resets: a change the stream did not deliver."""
        """(seconds into the measured window, latency) of each change: where the tail is."""
        start = time.monotonic()
        measuring_from = start + warmup_s
        stop_at = measuring_from + measure_s
        applied_start: float | None = None
        cpu_start = 0.0
        # this process is the instrument: a pause of its own collector while it reads
        # would count as the service's latency (gen1 passes over the samples took up
        # to 120 ms), so it collects nothing while it measures
        gc.disable()
        with http.stream("GET", "/api/changes", params={"after": "0"},
                         timeout=httpx.Timeout(30, read=BOUND_S)) as stream:
            buffer = b""
            for chunk in stream.iter_bytes():
                received = time.time()
                now = time.monotonic()
                if applied_start is None and now >= measuring_from:
                    applied_start = _applied(http)
                    cpu_start = _cpu_s(service.pid)
                    measuring_from = time.monotonic()
                    stop_at = measuring_from + measure_s
                buffer += chunk
                *blocks, buffer = buffer.split(b"\n\n")
                for block in blocks:
                    if block.startswith(b"id: "):  # every id once, in order: no gap
                        change_id = int(block[4:block.index(b"\n")])
                        if last_id is not None and change_id != last_id + 1:
                            gaps += 1
                        last_id = change_id
                    elif block.startswith(b"event: reset"):
                        gaps += 1
                if now < measuring_from:
                    continue
                for block in blocks:
                    for line in block.split(b"\n"):
                        if line.startswith(b"data: ") and b'"agent_status"' in line:
                            change = orjson.loads(line[6:])
                            at = datetime.fromisoformat(change["at"].replace("Z", "+00:00"))
                            latencies.append(received - at.timestamp())
                            series.append((now - measuring_from, received - at.timestamp()))
                if now >= stop_at or now - start > BOUND_S:
                    break
        gc.enable()
        elapsed = time.monotonic() - measuring_from
        cpu = _cpu_s(service.pid) - cpu_start
        applied = _applied(http) - (applied_start or 0.0)
        rss, peak = _memory_kib(service.pid)
        # the API while the sessions go on: every session's snapshot (the first read makes
        # the entries of sessions that moved, the second finds most of them kept), and
        # the Prometheus scrape
        api = {"api_sessions_s": _timed_get(http, "/api/sessions"),
               "api_sessions_again_s": _timed_get(http, "/api/sessions"),
               "metrics_s": _timed_get(http, "/metrics")}
        health = http.get("/healthz").json()
        http.close()
    finally:
        if service is not None:
            service.send_signal(signal.SIGTERM)
            try:
                service.wait(timeout=60)
            except subprocess.TimeoutExpired:
                service.kill()
        stand_in.kill()
        stand_in.join(10)
    latencies.sort()
    buckets: dict[int, list[float]] = {}
    for moment, latency in series:
        buckets.setdefault(int(moment // 5) * 5, []).append(latency)
    over_time = {start: (len(found), round(1000 * max(found)))
                 for start, found in sorted(buckets.items())}
    return {
        "sessions": sessions,
        "offered_events_per_s": sessions / interval_s,
        "applied_events_per_s": applied / elapsed,
        "latency_p50_ms": 1000 * statistics.median(latencies) if latencies else None,
        "latency_p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))]
        if latencies else None,
        "latency_samples": len(latencies),
        "serve_cpu_percent": 100 * cpu / elapsed,
        **api,
        "rss_mib": rss / 1024,
        "peak_rss_mib": peak / 1024,
        "failed_sessions": len(health["failed"]),
        "stream_gaps": gaps,
        "changes_and_max_latency_ms_per_5_s": over_time,
    }


def test_serve_many_sessions(benchmark: Any, request: pytest.FixtureRequest,
                             tmp_path: Path) -> None:
    """1,000 followed sessions: events/s sustained, poll-answer-to-SSE latency, memory."""
    full = full_size(request.config)
    sessions, interval, warmup, measure = (1000, 4.0, 10.0, 30.0) if full else \
        (20, 0.5, 1.0, 3.0)
    # BENCH_SERVE_WARMUP, BENCH_SERVE_MEASURE: seconds before and of the measured window
    warmup = float(os.environ.get("BENCH_SERVE_WARMUP", warmup))
    measure = float(os.environ.get("BENCH_SERVE_MEASURE", measure))
    # BENCH_SERVE_SESSIONS: how many sessions (the sizes: 1,000, 3,000, 10,000)
    sessions = int(os.environ.get("BENCH_SERVE_SESSIONS", sessions))
    # BENCH_SERVE_INTERVAL: seconds between one session's events (the offered load)
    interval = float(os.environ.get("BENCH_SERVE_INTERVAL", interval))
    result = benchmark.pedantic(_run, args=(tmp_path, sessions, interval, warmup, measure),
                                rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    print(f"\nbench: {result}")
    assert result["failed_sessions"] == 0
    assert result["stream_gaps"] == 0
    assert result["latency_samples"] > 0
    # every session's events arrive: at least half the offered rate even on a busy machine
    assert result["applied_events_per_s"] >= 0.5 * result["offered_events_per_s"]
