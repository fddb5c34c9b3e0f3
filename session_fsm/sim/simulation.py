"""A run: ``agents`` simulated sessions merged by server time into one JSON Lines stream,
as a live recorder polling every session would write it; and what the run knows after."""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Final

from .agent import Agent
from .clock import ms_of
from .expected import ExpectedSession, Summary

DEFAULT_START: Final = datetime(2024, 3, 4, 8, 0, tzinfo=UTC)
"""Where the simulated window starts unless told otherwise (a Monday morning, UTC)."""


class Simulation:
    """``agents`` simulated agent sessions over ``minutes`` of server time from ``start``.

    Iterate :meth:`lines` (or call :meth:`write`) once; afterwards :meth:`expected` holds
    each session's final state and :attr:`summary` the counts.

    The stream earns no violation at all, so ``validate --strict`` passes on it. With
    ``intended_warnings`` it also writes what the engine warns about on purpose
    (:data:`INTENDED_WARNINGS`): an event type nobody lists, and a remote logoff that
    neither its AgentSessionEnd nor a 409 ever follows.
    """

    def __init__(self, agents: int, seed: int, minutes: float = 60.0,
                 start: datetime = DEFAULT_START, *, intended_warnings: bool = False) -> None:
        if agents < 1:
            raise ValueError(f"agents must be at least 1, got {agents}")
        if not minutes > 0:
            raise ValueError(f"minutes must be positive, got {minutes}")
        if start.tzinfo is None:
            raise ValueError("start must be an aware datetime (UTC)")
        self.agents = agents
        self.seed = seed
        self.minutes = minutes
        self.start = start
        start_ms = ms_of(start)
        end_ms = start_ms + int(minutes * 60_000)
        self._counts: dict[str, int] = {}
        self._lines = 0
        self._done = False
        self._started = False
        master = random.Random(seed)
        # One stream per agent, drawn in agent order: an agent's events do not depend on
        # how the others interleave with it.
        self._agents = [Agent(i, master.getrandbits(64), start_ms=start_ms, end_ms=end_ms,
                              counts=self._counts, intended_warnings=intended_warnings)
                        for i in range(agents)]

    def lines(self) -> Iterator[bytes]:
        """Every JSON Lines line (``\\n``-terminated), sessions merged by server time."""
        return (line for _, line in self.timed_lines())

    def timed_lines(self) -> Iterator[tuple[int, bytes]]:
        """:meth:`lines`, each with its server time in epoch milliseconds (when a live
        platform would have it to send: ``serve --demo`` plays them at those times)."""
        if self._started:
            raise RuntimeError("a Simulation runs once; make a new one to run again")
        self._started = True
        agents = self._agents
        heap: list[tuple[int, int]] = []
        for i, agent in enumerate(agents):
            at = agent.next_time()
            if at is not None:
                heap.append((at, i))
        heapq.heapify(heap)
        while heap:
            _, i = heap[0]
            agent = agents[i]
            yield agent.buffer.popleft()
            self._lines += 1
            at = agent.next_time()
            if at is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (at, i))
        self._done = True

    def write(self, stream: IO[bytes]) -> Summary:
        """Write every line to ``stream``; return the summary."""
        write = stream.write
        for line in self.lines():
            write(line)
        return self.summary

    @property
    def summary(self) -> Summary:
        return Summary(
            agents=self.agents, seed=self.seed, minutes=self.minutes, start=self.start,
            events=sum(self._counts.values()), lines=self._lines,
            sessions=sum(1 for a in self._agents if a.events),
            types=dict(sorted(self._counts.items())),
        )

    def expected(self) -> dict[str, ExpectedSession]:
        """Each session's final state, as the simulator made it (sessions with events)."""
        if not self._done:
            raise RuntimeError("the simulation has not run to its end yet")
        return {a.key: a.expected() for a in self._agents if a.events}


def simulate(stream: IO[bytes], *, agents: int, seed: int, minutes: float = 60.0,
             start: datetime = DEFAULT_START, intended_warnings: bool = False
             ) -> tuple[Summary, dict[str, ExpectedSession]]:
    """Write a simulated stream to ``stream``; return the summary and the expectations."""
    simulation = Simulation(agents, seed, minutes, start, intended_warnings=intended_warnings)
    summary = simulation.write(stream)
    return summary, simulation.expected()
