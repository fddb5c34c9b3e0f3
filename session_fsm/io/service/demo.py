"""``serve --demo``: the service following simulated agents, with no CXone tenant needed.

A newcomer wants to see the board before they have a tenant. The demo runs a stand-in of
get-next-event in the service's own process and event loop (Starlette on uvicorn, on
127.0.0.1), playing a simulated window of ``agents`` sessions (:mod:`session_fsm.sim`)
in real time from now; the service follows every session over real HTTP polls, exactly
as it follows a tenant's (the same config, poll core, journal and API). Nothing here is
special-cased in the service.

The simulated window began :data:`WARM_UP_MINUTES` ago, so the board is full at once:
the first poll of a session gets everything due so far in one response, as a client
that joins a running session does. Then each poll waits until the session's next line is
due (or its ``timeout`` passes: 304), answers every due line as one response, and
answers 409 once the session's lines are all sent. A session id it does not know is a
404.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...sim.simulation import Simulation
from .config import PollSettings, ServiceConfig, SessionSpec

__all__ = ["DEMO_MINUTES", "StandIn", "demo_config"]

DEMO_MINUTES: Final = 120.0
"""How long the simulated window runs; the sessions end after it (409)."""
WARM_UP_MINUTES: Final = 20.0
"""How long before the demo starts its window began (see the module doc)."""

_SESSION_ID: Final = re.compile(r"demo-(\d+)")


class StandIn:
    """get-next-event for a simulation's sessions, played in real time (module doc)."""

    def __init__(self, agents: int, seed: int, *, minutes: float = DEMO_MINUTES,
                 clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        start = datetime.fromtimestamp(round(clock() - WARM_UP_MINUTES * 60, 3), UTC)
        simulation = Simulation(agents, seed, minutes=minutes, start=start)
        self.keys: list[str] = []
        self.lines: list[deque[tuple[float, list[Any]]]] = []
        index: dict[str, int] = {}
        for at_ms, line in simulation.timed_lines():
            envelope = orjson.loads(line)
            key = envelope["session"]
            if key not in index:
                index[key] = len(self.keys)
                self.keys.append(key)
                self.lines.append(deque())
            events = envelope["events"] if "events" in envelope else [envelope["event"]]
            self.lines[index[key]].append((at_ms / 1000, events))
        self.closing = asyncio.Event()
        """Set at the stop: a poll held for its next line is answered at once (304)."""

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/agent-sessions/{session_id}/get-next-event",
                                       self._poll)])

    async def _poll(self, request: Request) -> Response:
        found = _SESSION_ID.fullmatch(request.path_params["session_id"])
        if found is None or int(found[1]) >= len(self.keys):
            return Response(status_code=404)
        n = int(found[1])
        timeout = min(max(int(request.query_params.get("timeout", "0") or 0), 0), 60)
        waiting = self.lines[n]
        deadline = self.clock() + timeout
        while True:
            if not waiting:
                return Response(status_code=409)
            now = self.clock()
            if waiting[0][0] <= now:
                break
            if now >= deadline or self.closing.is_set():
                return Response(status_code=304)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), min(waiting[0][0], deadline) - now)
        events: list[Any] = []
        while waiting and waiting[0][0] <= self.clock():
            events.extend(waiting.popleft()[1])
        body = orjson.dumps({"sessionId": f"demo-{n}", "events": events})
        return Response(body, media_type="application/json")


def demo_config(base_url: str, keys: list[str], token_dir: Path) -> ServiceConfig:
    """A config following each simulated session of the stand-in at ``base_url``."""
    token = token_dir / "demo-token"
    token.write_text("demo-token-not-a-secret\n")
    sessions = tuple(SessionSpec(key, base_url, f"demo-{n}", token)
                     for n, key in enumerate(keys))
    return ServiceConfig(sessions, PollSettings(timeout=20))


async def run_demo(agents: int, seed: int, make_service: Callable[[ServiceConfig], Any],
                   ) -> None:
    """Serve the stand-in on 127.0.0.1 and run the service that ``make_service`` builds
    from the demo's config, until the service stops."""
    standin = StandIn(agents, seed)
    # a poll it holds is abandoned at the stop, as the service abandons its own
    server = _QuietServer(uvicorn.Config(standin.app(), host="127.0.0.1", port=0,
                                         log_level="warning", lifespan="off",
                                         access_log=False, timeout_graceful_shutdown=1))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()  # the error that stopped it
        await asyncio.sleep(0.01)
    (port,) = {s.getsockname()[1] for srv in server.servers for s in srv.sockets}
    with tempfile.TemporaryDirectory(prefix="session-fsm-demo-") as tokens:
        service = make_service(demo_config(f"http://127.0.0.1:{port}", standin.keys,
                                           Path(tokens)))
        try:
            await service.run()
        finally:
            standin.closing.set()
            server.should_exit = True
            with contextlib.suppress(Exception):
                await serving


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the service's handles SIGTERM for both."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield
