"""A generated multi-agent stream and the checks of stores built from it (test_store.py,
test_cli_ingest_checkpoint.py)."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from helpers import agent_state, call, chat, chat_text, session_start, utc

from session_fsm.io.store import Store

# --- a generated stream --------------------------------------------------------------------


def agent_events(agent: int, cycles: int) -> Iterator[dict[str, Any]]:
    """One agent's realistic day: two-step ACW calls, direct-final calls with the agent's
    ACW, chats with text, and breaks, on the agent's own server clock."""
    now = utc(2013, 9, 11, 5, 0, 0)

    def at(seconds: float) -> datetime:
        nonlocal now
        now += timedelta(seconds=seconds)
        return now

    yield session_start(agent_id=str(12000 + agent), session_id=str(58000000 + agent))
    yield agent_state("Available", at=at(0))
    for n in range(cycles):
        cid = str(1_000_000 + agent * 10_000 + n)
        kind = n % 4
        if kind == 0:
            start = at(30)
            yield call(cid, "Incoming", at=start)
            yield agent_state("InboundContact", at=at(1), next_states=["Unavailable", "Available"])
            yield call(cid, "Active", at=at(20), start=start)
            yield call(cid, "Holding", at=at(90), start=start)
            yield call(cid, "Active", at=at(30), start=start)
            yield call(cid, "Disconnected", at=at(120), start=start)
            yield agent_state("Unavailable", at=at(0), acw=True, acw_timeout=30,
                              next_states=["Available"])
            yield call(cid, "Disconnected", at=at(25), final=True, start=start)
            yield agent_state("Available", at=at(0))
        elif kind == 1:
            start = at(40)
            yield call(cid, "Incoming", at=start)
            yield agent_state("InboundContact", at=at(1))
            yield call(cid, "Active", at=at(10), start=start)
            yield call(cid, "Disconnected", at=at(200), final=True, start=start)
            yield agent_state("Unavailable", at=at(0), acw=True)
            yield agent_state("Available", at=at(15))
        elif kind == 2:
            start = at(60)
            room = str(agent * 10_000 + n)
            yield chat(cid, "Incoming", at=start, room=room, messages=[("Client", "hi", start)])
            yield agent_state("InboundContact", at=at(1))
            yield chat(cid, "Active", at=at(5), room=room, start=start)
            yield chat_text(room, "Agent", "hello", at=at(10))
            yield chat_text(room, "Client", "bye", at=at(20))
            yield chat(cid, "Disconnected", at=at(5), room=room, final=True, start=start)
            yield agent_state("Available", at=at(0))
        else:
            yield agent_state("Unavailable", at=at(300), out_reason="Break")
            yield agent_state("Available", at=at(600))


def write_stream(path: Path, *, agents: int, cycles: int) -> int:
    """Interleave the agents' events into keyed JSON Lines, three events per turn: one
    envelope line holding all three, or three one-event lines. Returns the event count."""
    live = [(a, agent_events(a, cycles)) for a in range(agents)]
    count = turn = 0
    with path.open("wb") as out:
        while live:
            still = []
            for agent, events in live:
                batch = [e for _, e in zip(range(3), events, strict=False)]
                if not batch:
                    continue
                still.append((agent, events))
                count += len(batch)
                turn += 1
                key = f"agent-{agent}"
                if turn % 2:
                    out.write(orjson.dumps({"session": key, "events": batch}) + b"\n")
                else:
                    for event in batch:
                        out.write(orjson.dumps({"session": key, "event": event}) + b"\n")
            live = still
    return count


def stored_rows(db: Path) -> list[tuple[Any, ...]]:
    """The stored events as (session key, seq, line, pos, digest), in session order."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as reader:
        return reader.execute(
            "SELECT s.key, e.seq, e.line, e.pos, e.digest FROM events e JOIN sessions s "
            "ON s.id = e.session ORDER BY s.key, e.seq").fetchall()


def assert_same_store(db: Path, whole: Path, total: int) -> None:
    """``db`` (resumed) holds exactly the ``total`` events and the histories of ``whole``
    (ingested in one go): each event once, in the same sessions and order, nothing dirty."""
    rows = stored_rows(db)
    assert len(rows) == total
    # each event once (an event read twice has its position and digest twice; two
    # input files may share a position, not also the event)
    assert len({(line, pos, digest) for _, _, line, pos, digest in rows}) == total
    assert rows == stored_rows(whole)  # same events, same sessions, same order
    with Store(db) as a, Store(whole) as b:
        assert a.dirty() == []
        assert list(a.histories()) == list(b.histories())


def ingest_command(*args: str) -> list[str]:
    """``session-fsm ingest ARGS`` as a subprocess command line."""
    return [sys.executable, "-m", "session_fsm", "ingest", *args]
