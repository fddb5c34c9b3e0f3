"""The SQLite store: ingest without duplicates, resumable after a kill, bounded-memory replay.

The histories a store holds are compared with the ones the engine gives for the same
file replayed in memory (``history FILE``), which test_history.py checks by hand; here the
store must add nothing of its own and lose nothing.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from helpers import (
    agent_state,
    call,
    run,
    session_start,
    utc,
    voicemail,
    work_item,
)
from store_helpers import agent_events, assert_same_store, write_stream

from session_fsm.cli._common import replay_files
from session_fsm.engine import AgentSession
from session_fsm.errors import NotJsonError
from session_fsm.io.store import Store, StoreConflictError, StoreError
from session_fsm.views.history import ContactFilter, StateFilter, histories, history_of

# --- ingest ---------------------------------------------------------------------------------


def test_ingest_twice_adds_nothing_and_matches_the_in_memory_history(tmp_path: Path) -> None:
    stream = tmp_path / "day.jsonl"
    total = write_stream(stream, agents=3, cycles=12)
    with Store(tmp_path / "s.sqlite") as store:
        first = store.ingest([str(stream)], batch_size=7)  # lines straddle batches
        assert (first.read, first.added, first.skipped) == (total, total, 0)
        assert first.rebuilt == ("agent-0", "agent-1", "agent-2")
        again = store.ingest([str(stream)], batch_size=7)
        assert (again.read, again.added, again.rebuilt) == (total, 0, ())
        assert store.event_count() == total
        stored = list(store.histories())
        events = list(store.events("agent-1"))
    expected = histories(replay_files([str(stream)], skip_bad=False).engine)
    assert stored == list(expected)
    assert len(stored[1].contacts) == 12 - 3  # the fourth kind of cycle is a break
    assert events[0]["Type"] == "AgentSessionStart"
    assert events[0]["AgentId"] == "12001"


def test_payloads_and_open_contacts_survive_the_store(tmp_path: Path) -> None:
    at = utc(2013, 9, 11, 5, 15, 44)
    later = utc(2013, 9, 11, 5, 20, 0)
    stream = tmp_path / "items.jsonl"
    stream.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in [
        session_start(),
        work_item("1569819", "Incoming", at=at),
        work_item("1569819", "Active", at=later, start=at),
        voicemail("1569850", "Incoming", at=at),
        voicemail("1569850", "Active", at=later, start=at),
        voicemail("1569850", "Discarded", at=later, final=True, start=at),
    ]))
    with Store(tmp_path / "s.sqlite") as store:
        store.ingest([str(stream)])
        stored = list(store.histories())
    assert stored == list(histories(replay_files([str(stream)], skip_bad=False).engine))
    item, mail = stored[0].contacts
    assert item.closed is False
    assert item.payload == {
        "work_item_id": "3920", "work_item_type": "Testing",
        "payload": "{\"queries\":[{\"query\":\"SELECT ID FROM case WHERE Priority='Low'\"}]}"}
    assert mail.payload == {"file_name": "vm-0001.wav"}
    assert mail.time_in_status_s == {"Incoming": 256.0, "Active": 0.0}


def test_flushing_during_the_rebuild_changes_nothing(tmp_path: Path) -> None:
    stream = tmp_path / "day.jsonl"
    write_stream(stream, agents=2, cycles=30)
    with Store(tmp_path / "small.sqlite") as store:
        store.ingest([str(stream)], flush_every=5)
        flushed = list(store.histories())
    with Store(tmp_path / "big.sqlite") as store:
        store.ingest([str(stream)], flush_every=10**9)
        whole = list(store.histories())
    assert flushed == whole
    assert flushed == list(histories(replay_files([str(stream)], skip_bad=False).engine))


def test_a_grown_file_adds_only_its_new_lines(tmp_path: Path) -> None:
    stream = tmp_path / "live.jsonl"
    write_stream(stream, agents=2, cycles=8)
    lines = stream.read_bytes().splitlines(keepends=True)
    stream.write_bytes(b"".join(lines[:20]))
    with Store(tmp_path / "s.sqlite") as store:
        early = store.ingest([str(stream)])
        stream.write_bytes(b"".join(lines))
        later = store.ingest([str(stream)])
        assert early.added + later.added == later.read
        assert early.added > 0
        assert later.added > 0
        stored = list(store.histories())
    assert stored == list(histories(replay_files([str(stream)], skip_bad=False).engine))


def test_a_changed_file_is_refused_not_skipped(tmp_path: Path) -> None:
    stream = tmp_path / "calls.jsonl"
    stream.write_bytes(orjson.dumps(session_start()) + b"\n"
                       + orjson.dumps(call("1", "Incoming", at=utc(2013, 9, 11, 5, 0, 0))) + b"\n")
    with Store(tmp_path / "s.sqlite") as store:
        store.ingest([str(stream)])
        stream.write_bytes(orjson.dumps(session_start()) + b"\n"
                           + orjson.dumps(call("2", "Incoming", at=utc(2013, 9, 11, 6, 0, 0)))
                           + b"\n")
        with pytest.raises(StoreConflictError) as raised:
            store.ingest([str(stream)])
        assert raised.value.source.line == 2
        assert store.event_count() == 2
    result = run("ingest", str(stream), "--db", str(tmp_path / "s.sqlite"))
    assert result.exit_code == 2
    assert f"{stream}:2: the store holds a different event" in result.stderr


def test_standard_input_is_identified_by_its_content(tmp_path: Path) -> None:
    db = str(tmp_path / "s.sqlite")
    one = b"".join(orjson.dumps(e) + b"\n" for e in [
        session_start(), agent_state("Available", at=utc(2013, 9, 11, 5, 0, 0))])
    two = orjson.dumps(agent_state("Unavailable", at=utc(2013, 9, 11, 6, 0, 0),
                                   out_reason="Lunch")) + b"\n"
    assert run("ingest", "-", "--db", db, input=one).exit_code == 0
    again = run("ingest", "-", "--db", db, "--json", input=one)
    assert orjson.loads(again.stdout)["added"] == 0
    other = run("ingest", "-", "--db", db, "--json", input=two)
    assert orjson.loads(other.stdout)["added"] == 1
    with Store(db) as store:
        assert store.keys() == ["-"]
        (history,) = store.histories()
    assert [(i.state, i.out_reason, i.duration_s) for i in history.agent_states] == [
        ("Available", "", 3600.0), ("Unavailable", "Lunch", None)]


def test_a_bad_line_stops_ingest_after_keeping_what_came_before(tmp_path: Path) -> None:
    stream = tmp_path / "bad.jsonl"
    good = [session_start(), agent_state("Available", at=utc(2013, 9, 11, 5, 0, 0))]
    stream.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in good) + b"{not json\n"
                       + orjson.dumps(agent_state("Unavailable", at=utc(2013, 9, 11, 5, 30, 0)))
                       + b"\n")
    db = tmp_path / "s.sqlite"
    with Store(db) as store:
        with pytest.raises(NotJsonError) as raised:
            store.ingest([str(stream)])
        assert str(raised.value).startswith(f"{stream}:3:")
        assert store.event_count() == 2
        assert store.dirty() == []  # what was stored has its history
    result = run("ingest", str(stream), "--db", str(db))
    assert result.exit_code == 2
    assert f"{stream}:3:" in result.stderr
    skipping = run("ingest", str(stream), "--db", str(db), "--skip-bad", "--json")
    assert skipping.exit_code == 0
    assert orjson.loads(skipping.stdout)["added"] == 1
    assert orjson.loads(skipping.stdout)["skipped"] == 1
    assert f"skipped {stream}:3:" in skipping.stderr


def test_an_interrupted_rebuild_keeps_the_old_history_and_the_dirty_mark(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = tmp_path / "day.jsonl"
    write_stream(stream, agents=2, cycles=8)
    lines = stream.read_bytes().splitlines(keepends=True)
    stream.write_bytes(b"".join(lines[:24]))
    with Store(tmp_path / "s.sqlite") as store:
        store.ingest([str(stream)])
        before = store.history("agent-1")
        stream.write_bytes(b"".join(lines))
        real_flush = Store.flush

        def failing(self: Store, session: AgentSession, *, final: bool = False) -> int:
            if session.key == "agent-1" and final:
                raise KeyboardInterrupt  # as if the process were stopped right here
            return real_flush(self, session, final=final)

        monkeypatch.setattr(Store, "flush", failing)
        with pytest.raises(KeyboardInterrupt):
            store.ingest([str(stream)])
        assert store.dirty() == ["agent-1"]
        assert store.history("agent-1") == before
        monkeypatch.setattr(Store, "flush", real_flush)
        resumed = store.ingest([str(stream)])
        assert (resumed.added, resumed.rebuilt) == (0, ("agent-1",))
        assert store.dirty() == []
        stored = list(store.histories())
    assert stored == list(histories(replay_files([str(stream)], skip_bad=False).engine))


def _sqlite_steps(path: Path, db: Path) -> int:
    """SQLite virtual-machine instructions (in hundreds) an ingest of ``path`` executes: a
    count of the store's work that, unlike a timing, a busy machine does not disturb."""
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    with Store(db) as store:
        store._db.set_progress_handler(tick, 100)
        store.ingest([str(path)], batch_size=50)
    return steps


def test_ingest_is_linear_in_the_events_of_one_line(tmp_path: Path) -> None:
    # one JSON array on one line: 20 and 80 batches of 50 events; each batch's duplicate
    # check must read its own positions, not every event stored so far on the line
    events = list(agent_events(0, 700))
    steps = {}
    for n in (1000, 4000):
        one_line = tmp_path / f"one-{n}.jsonl"
        one_line.write_bytes(orjson.dumps(events[:n]) + b"\n")
        steps[n] = _sqlite_steps(one_line, tmp_path / f"one-{n}.sqlite")
    per_line = tmp_path / "per-line.jsonl"
    per_line.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events[:4000]))
    # 4x the events, 4x the work (9.6x before: each batch scanned the line's stored events)
    assert 3.5 < steps[4000] / steps[1000] < 5
    # and the same work as the same events one per line
    assert 0.8 < steps[4000] / _sqlite_steps(per_line, tmp_path / "per-line.sqlite") < 1.25


def _stored_count(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as reader:
            (count,) = reader.execute("SELECT count(*) FROM events").fetchone()
            return int(count)
    except sqlite3.Error:  # not created yet, or its tables not yet committed
        return 0


def test_a_killed_ingest_resumes_to_exactly_the_uninterrupted_store(tmp_path: Path) -> None:
    stream = tmp_path / "big.jsonl"
    total = write_stream(stream, agents=20, cycles=200)
    whole, killed = tmp_path / "whole.sqlite", tmp_path / "killed.sqlite"
    assert run("ingest", str(stream), "--db", str(whole)).exit_code == 0

    process = subprocess.Popen(
        [sys.executable, "-m", "session_fsm", "ingest", str(stream), "--db", str(killed),
         "--batch-size", "200"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        give_up = time.monotonic() + 120
        while process.poll() is None and _stored_count(killed) < 200:
            assert time.monotonic() < give_up, "ingest never committed a batch"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL
    partial = _stored_count(killed)
    assert 200 <= partial < total  # killed mid-way, with committed batches in the store

    resumed = run("ingest", str(stream), "--db", str(killed), "--json")
    assert resumed.exit_code == 0
    assert orjson.loads(resumed.stdout)["added"] == total - partial

    assert_same_store(killed, whole, total)
    with Store(killed) as store:
        assert sum(len(h.contacts) for h in store.histories()) == 20 * 150


# --- bounded memory ---------------------------------------------------------------------------


def test_flush_releases_settled_contacts_and_keeps_the_after_final_check(
        tmp_path: Path) -> None:
    events = list(agent_events(0, 8))
    with Store(tmp_path / "s.sqlite") as store:
        session = AgentSession("agent-0")
        for event in events:
            session.feed(event)
        assert len(session.closed) == 6
        released = store.flush(session)
        # every contact is settled: the agent moved on after each (or its ACW is its own)
        assert released == 6
        assert session.closed == {}
        assert len(session.agent_timeline) == 1  # only the state the agent is in now
        # a status for a released contact is still after its FinalState
        session.feed(call("1000000", "Active", at=utc(2013, 9, 11, 9, 0, 0)))
        assert [v.rule for v in session.violations] == ["contact-after-final"]
        assert "released" in session.violations[0].message
        store.flush(session, final=True)
        stored = store.contacts(key="agent-0")
    unflushed = AgentSession("agent-0")
    for event in events:
        unflushed.feed(event)
    assert [c for _, c in stored] == list(history_of(unflushed).contacts)


def test_a_closed_contact_waits_for_its_acw_before_it_is_released(tmp_path: Path) -> None:
    at = utc(2013, 9, 11, 5, 0, 0)
    session = AgentSession("k")
    for event in [session_start(), agent_state("Available", at=at),
                  call("1", "Incoming", at=at + timedelta(seconds=40)),
                  agent_state("InboundContact", at=at + timedelta(seconds=41)),
                  call("1", "Active", at=at + timedelta(seconds=65)),
                  call("1", "Disconnected", at=at + timedelta(seconds=377), final=True)]:
        session.feed(event)
    with Store(tmp_path / "s.sqlite") as store:
        assert store.flush(session) == 0  # its ACW may be next: not settled
        session.feed(agent_state("Unavailable", at=at + timedelta(seconds=377), acw=True))
        assert store.flush(session) == 0  # its ACW is going on
        session.feed(agent_state("Available", at=at + timedelta(seconds=402)))
        assert store.flush(session) == 1
        ((key, contact),) = store.contacts()
    assert key == "k"
    assert (contact.acw_s, contact.handle_time_s) == (25.0, 337.0)  # 312 s talk + 25 s ACW


# --- queries and the CLI ---------------------------------------------------------------------


def test_store_queries(tmp_path: Path) -> None:
    stream = tmp_path / "day.jsonl"
    write_stream(stream, agents=2, cycles=8)
    with Store(tmp_path / "s.sqlite") as store:
        store.ingest([str(stream)])
        chats = store.contacts(ContactFilter(media="chat"))
        assert [(k, c.contact_id) for k, c in chats] == [
            ("agent-0", "1000002"), ("agent-0", "1000006"),
            ("agent-1", "1010002"), ("agent-1", "1010006")]
        assert [t.text for t in chats[0][1].transcript] == ["hi", "hello", "bye"]
        assert [c.contact_id for _, c in store.contacts(ContactFilter(closed=False))] == []
        ((key, found),) = store.contact("1010001")
        assert (key, found.media, found.acw_s) == ("agent-1", "call", 15.0)
        assert store.contact("999") == []
        breaks = store.agent_states(StateFilter(out_reason="break"), key="agent-0")
        assert [(i.state, i.duration_s) for _, i in breaks] == [("Unavailable", 600.0)] * 2
        # agent-0's day starts 05:00:00; its first call rings from 05:00:30 to 05:00:51
        early = store.contacts(ContactFilter(until=utc(2013, 9, 11, 5, 0, 31)))
        assert [(k, c.contact_id) for k, c in early] == [("agent-0", "1000000"),
                                                         ("agent-1", "1010000")]
        assert store.history("nope") is None
        # every session, each with only what its filters keep: chats, and break intervals
        picked = [(h.key, [c.contact_id for c in h.contacts], len(h.agent_states))
                  for h in store.histories(ContactFilter(media="chat"),
                                           StateFilter(out_reason="break"))]
        assert picked == [("agent-0", ["1000002", "1000006"], 2),
                          ("agent-1", ["1010002", "1010006"], 2)]


def test_history_from_the_store_is_the_history_of_the_file(tmp_path: Path) -> None:
    stream = tmp_path / "day.jsonl"
    write_stream(stream, agents=2, cycles=6)
    db = str(tmp_path / "s.sqlite")
    assert run("ingest", str(stream), "--db", db).exit_code == 0
    from_db = run("history", "--db", db, "--json")
    from_file = run("history", str(stream), "--json")
    assert from_db.exit_code == from_file.exit_code == 0
    assert orjson.loads(from_db.stdout) == orjson.loads(from_file.stdout)
    one = orjson.loads(run("history", "--db", db, "--contact", "1010001", "--json").stdout)
    (session,) = one["sessions"]
    assert session["key"] == "agent-1"
    assert [c["contact_id"] for c in session["contacts"]] == ["1010001"]
    # the agent's states during that call and its ACW
    assert [(s["state"], s["is_acw"]) for s in session["agent_states"]] == [
        ("Available", False), ("InboundContact", False), ("Unavailable", True)]
    shown = run("history", "--db", db, "--media", "chat")
    assert shown.exit_code == 0
    assert "chat 1000002" in shown.stdout
    assert "call 1000001" not in shown.stdout
    assert "Client: bye" in shown.stdout


def test_store_errors_are_one_line_with_exit_2(tmp_path: Path) -> None:
    missing = run("history", "--db", str(tmp_path / "none.sqlite"))
    assert missing.exit_code == 2
    assert "no store there" in missing.stderr
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE x (y)")
    foreign = run("history", "--db", str(other))
    assert foreign.exit_code == 2
    assert "not a session-fsm store" in foreign.stderr
    text = tmp_path / "text.sqlite"
    text.write_text("hello\n" * 100)
    with pytest.raises(StoreError):
        Store(text)
    assert run("history").exit_code == 2
    assert run("ingest", "x.jsonl").exit_code == 2  # --db is required
