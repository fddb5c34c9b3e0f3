"""A generated multi-agent stream, the ways a store is filled (in one go, in pieces, line
by line through a live writer) and the checks of stores built from them (test_store.py,
test_store_hostile.py, test_cli_ingest_checkpoint.py)."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from helpers import agent_state, call, chat, chat_text, session_start, utc

from session_fsm.cli._common import replay_files
from session_fsm.io.store import Store
from session_fsm.views.history import HistoryFold, SessionHistory

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


# --- filling a store, and what it should then hold -------------------------------------------


def file_histories(*paths: Path) -> list[SessionHistory]:
    """The histories ``history FILE...`` shows: the files replayed in memory, every change
    folded, nothing taken out (no store involved)."""
    fold = HistoryFold()
    replay = replay_files([str(p) for p in paths], skip_bad=False, on_changes=fold.apply_all)
    return list(fold.histories(replay.engine.sessions))


def store_line_by_line(db: Path, recording: Path, *, save_every: int = 1000,
                       first: int = 1, last: int | None = None) -> None:
    """Store lines ``first``..``last`` of ``recording`` through a live writer, one call per
    line, as ``follow --db`` stores each response it records."""
    lines = recording.read_bytes().splitlines()
    with Store(db) as store, store.writer(save_every=save_every) as writer:
        for number in range(first, (last or len(lines)) + 1):
            writer.add_line(str(recording), number, lines[number - 1])


def assert_same_histories(db: Path, expected: list[SessionHistory], *,
                          saved: bool = True) -> None:
    """``db``'s histories are ``expected``, nothing is left dirty, and (``saved``) every
    session has a resume state at its last event."""
    with Store(db) as store:
        assert store.dirty() == []
        assert list(store.histories()) == expected
    if not saved:
        return
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as reader:
        behind = reader.execute(
            "SELECT s.key FROM sessions s LEFT JOIN session_state t ON t.session = s.id "
            "WHERE t.applied_seq IS NOT (SELECT max(seq) FROM events e WHERE e.session = s.id)"
        ).fetchall()
    assert behind == []
