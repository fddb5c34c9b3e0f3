"""The SQLite store: ingest without duplicates, resumable after a kill, histories applied
from the change stream (only what is new), and the live writer ``follow --db`` uses.

The histories a store holds are compared with the ones the same file gives in memory
(``history FILE``: every change folded, nothing taken out), which test_history.py checks
by hand; here the store must add nothing of its own and lose nothing, however the events
reach it (one ingest, many, or line by line through a live writer).
"""

from __future__ import annotations

import gzip
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import (
    GOLDEN,
    agent_state,
    call,
    chat,
    chat_text,
    golden_form,
    run,
    session_start,
    utc,
    voicemail,
    work_item,
)
from store_helpers import (
    agent_events,
    assert_same_histories,
    assert_same_store,
    file_histories,
    store_line_by_line,
    write_stream,
)

from session_fsm.errors import NotJsonError
from session_fsm.io import store as store_module
from session_fsm.io.store import Store, StoreConflictError, StoreError
from session_fsm.views.history import ContactFilter, StateFilter

# --- ingest ---------------------------------------------------------------------------------


def test_ingest_twice_adds_nothing_and_matches_the_in_memory_history(tmp_path: Path) -> None:
    stream = tmp_path / "day.jsonl"
    total = write_stream(stream, agents=3, cycles=12)
    with Store(tmp_path / "s.sqlite") as store:
        first = store.ingest([str(stream)], batch_size=7)  # lines straddle batches
        assert (first.read, first.added, first.skipped) == (total, total, 0)
        assert first.updated == ("agent-0", "agent-1", "agent-2")
        assert first.rebuilt == ()  # new sessions: nothing to rebuild
        again = store.ingest([str(stream)], batch_size=7)
        assert (again.read, again.added, again.updated) == (total, 0, ())
        assert store.event_count() == total
        stored = list(store.histories())
        events = list(store.events("agent-1"))
    assert stored == file_histories(stream)
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
    assert stored == file_histories(stream)
    item, mail = stored[0].contacts
    assert item.closed is False
    assert item.payload == {
        "work_item_id": "3920", "work_item_type": "Testing",
        "payload": "{\"queries\":[{\"query\":\"SELECT ID FROM case WHERE Priority='Low'\"}]}"}
    assert mail.payload == {"file_name": "vm-0001.wav"}
    assert mail.time_in_status_s == {"Incoming": 256.0, "Active": 0.0}


def test_how_often_rows_are_written_changes_nothing(tmp_path: Path) -> None:
    stream = tmp_path / "day.jsonl"
    write_stream(stream, agents=2, cycles=30)
    found = []
    for every in (1, 5, 10**9):
        with Store(tmp_path / f"s-{every}.sqlite") as store:
            store.ingest([str(stream)], write_every=every)
            found.append(list(store.histories()))
    assert found[0] == found[1] == found[2] == file_histories(stream)


def _counting_feeds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every event the store feeds to an engine from now on, by its seq."""
    fed: list[int] = []
    real = store_module._Applied.feed

    def counting(self: Any, seq: int, wire: dict[str, Any], source: Any) -> None:
        fed.append(seq)
        real(self, seq, wire, source)

    monkeypatch.setattr(store_module._Applied, "feed", counting)
    return fed


def test_a_grown_file_adds_and_applies_only_its_new_lines(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = tmp_path / "live.jsonl"
    write_stream(stream, agents=2, cycles=8)
    lines = stream.read_bytes().splitlines(keepends=True)
    stream.write_bytes(b"".join(lines[:20]))
    with Store(tmp_path / "s.sqlite") as store:
        early = store.ingest([str(stream)])
        stream.write_bytes(b"".join(lines))
        fed = _counting_feeds(monkeypatch)
        later = store.ingest([str(stream)])
        assert early.added + later.added == later.read
        assert early.added > 0
        assert later.added > 0
        # each session resumed from its saved state: only the new events went through
        # the engine, not the session from its first event
        assert len(fed) == later.added
        assert later.rebuilt == ()
        stored = list(store.histories())
    assert stored == file_histories(stream)


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


def _state(db: Path, key: str) -> tuple[int, bytes, bytes] | None:
    """Session ``key``'s saved resume state: (applied seq, engine, history)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as reader:
        found = reader.execute(
            "SELECT t.applied_seq, t.engine, t.history FROM session_state t JOIN sessions s "
            "ON s.id = t.session WHERE s.key = ?", (key,)).fetchone()
    return None if found is None else (found[0], found[1], found[2])


def test_an_interrupted_update_keeps_the_old_history_state_and_dirty_mark(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = tmp_path / "day.jsonl"
    write_stream(stream, agents=2, cycles=8)
    lines = stream.read_bytes().splitlines(keepends=True)
    stream.write_bytes(b"".join(lines[:24]))
    db = tmp_path / "s.sqlite"
    with Store(db) as store:
        store.ingest([str(stream)])
        before, state = store.history("agent-1"), _state(db, "agent-1")
        stream.write_bytes(b"".join(lines))
        real_save = Store._save

        def failing(self: Store, applied: Any) -> None:
            if applied.key == "agent-1":
                raise KeyboardInterrupt  # as if the process were stopped right here
            real_save(self, applied)

        monkeypatch.setattr(Store, "_save", failing)
        with pytest.raises(KeyboardInterrupt):
            store.ingest([str(stream)])
        # its rows were upserted before the save: rolled back with it
        assert store.dirty() == ["agent-1"]
        assert store.history("agent-1") == before
        assert _state(db, "agent-1") == state
        monkeypatch.setattr(Store, "_save", real_save)
        resumed = store.ingest([str(stream)])
        assert (resumed.added, resumed.updated, resumed.rebuilt) == (0, ("agent-1",), ())
    assert_same_histories(db, file_histories(stream))


def test_rebuild_applies_a_session_from_its_first_event_whatever_its_state(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = tmp_path / "day.jsonl"
    write_stream(stream, agents=2, cycles=8)
    db = tmp_path / "s.sqlite"
    with Store(db) as store:
        store.ingest([str(stream)])
        before = list(store.histories())
        events = len(list(store.events("agent-1")))
        fed = _counting_feeds(monkeypatch)
        assert store.update(["agent-1"]) == ["agent-1"]  # up to date: nothing to feed
        assert fed == []
        assert store.rebuild(["agent-1"]) == ["agent-1"]
        assert fed == list(range(events))  # every event, in order
        with pytest.raises(StoreError, match="no session 'agent-9' in this store"):
            store.rebuild(["agent-9"])
        assert store.keys() == ["agent-0", "agent-1"]  # nor made one
        assert list(store.histories()) == before
    assert_same_histories(db, file_histories(stream))


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


def _stored(db: Path, query: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as reader:
            (count,) = reader.execute(query).fetchone()
            return int(count)
    except sqlite3.Error:  # not created yet, or its tables not yet committed
        return 0


_EVENTS = "SELECT count(*) FROM events"
_STATES = "SELECT count(*) FROM session_state"


def _killed_ingest(stream: Path, db: Path, until: str, at_least: int) -> None:
    """Run ``ingest stream --db db`` in a process of its own and SIGKILL it as soon as
    ``until`` (a count query on the store) reaches ``at_least``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "session_fsm", "ingest", str(stream), "--db", str(db),
         "--batch-size", "200"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        give_up = time.monotonic() + 120
        while process.poll() is None and _stored(db, until) < at_least:
            assert time.monotonic() < give_up, "ingest never got there"
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL


def test_a_killed_ingest_resumes_to_exactly_the_uninterrupted_store(tmp_path: Path) -> None:
    stream = tmp_path / "big.jsonl"
    total = write_stream(stream, agents=20, cycles=200)
    whole, killed = tmp_path / "whole.sqlite", tmp_path / "killed.sqlite"
    assert run("ingest", str(stream), "--db", str(whole)).exit_code == 0

    _killed_ingest(stream, killed, _EVENTS, 200)
    partial = _stored(killed, _EVENTS)
    assert 200 <= partial < total  # killed mid-way, with committed batches in the store

    resumed = run("ingest", str(stream), "--db", str(killed), "--json")
    assert resumed.exit_code == 0
    assert orjson.loads(resumed.stdout)["added"] == total - partial

    assert_same_store(killed, whole, total)
    with Store(killed) as store:
        assert sum(len(h.contacts) for h in store.histories()) == 20 * 150


def test_an_ingest_killed_while_applying_its_sessions_resumes_to_the_same_store(
        tmp_path: Path) -> None:
    stream = tmp_path / "big.jsonl"
    total = write_stream(stream, agents=20, cycles=200)
    whole, killed = tmp_path / "whole.sqlite", tmp_path / "killed.sqlite"
    assert run("ingest", str(stream), "--db", str(whole)).exit_code == 0

    # every event stored, some sessions applied (their states saved), not all
    _killed_ingest(stream, killed, _STATES, 1)
    assert _stored(killed, _EVENTS) == total
    applied = _stored(killed, _STATES)
    assert 1 <= applied < 20
    with Store(killed) as store:
        assert len(store.dirty()) == 20 - applied

    resumed = run("ingest", str(stream), "--db", str(killed), "--json")
    assert resumed.exit_code == 0
    report = orjson.loads(resumed.stdout)
    assert (report["added"], len(report["updated"]), report["rebuilt"]) == (0, 20 - applied, [])
    assert_same_store(killed, whole, total)


# --- the live writer (follow --db) ---------------------------------------------------------------


def test_one_go_pieces_and_line_by_line_store_the_same_histories(tmp_path: Path) -> None:
    stream = tmp_path / "day.jsonl"
    total = write_stream(stream, agents=4, cycles=40)
    lines = stream.read_bytes().splitlines(keepends=True)
    expected = file_histories(stream)

    whole = tmp_path / "whole.sqlite"
    with Store(whole) as store:
        store.ingest([str(stream)])
    assert_same_histories(whole, expected)

    # the file growing by a few lines at a time, ingested after each
    pieces, grown = tmp_path / "pieces.sqlite", tmp_path / "grown.jsonl"
    with Store(pieces) as store:
        for end in range(7, len(lines) + 7, 7):
            grown.write_bytes(b"".join(lines[:end]))
            store.ingest([str(grown)])
    assert_same_histories(pieces, expected)

    # line by line through a live writer, saving its states now and then
    live = tmp_path / "live.sqlite"
    store_line_by_line(live, stream, save_every=50)
    assert_same_histories(live, expected)
    assert_same_store(live, whole, total)  # the same events at the same positions
    with Store(live) as store:
        assert store.ingest([str(stream)]).added == 0  # stored as ingest stores them


def test_a_contact_settled_in_a_poll_gets_its_acw_and_a_late_status_nowhere(
        tmp_path: Path) -> None:
    at = utc(2013, 9, 11, 5, 0, 0)

    def s(seconds: int) -> str:
        return (at + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")

    stream = tmp_path / "k.jsonl"
    stream.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in [
        session_start(), agent_state("Available", at=s(0)),
        call("1", "Incoming", at=s(40)), agent_state("InboundContact", at=s(41)),
        call("1", "Active", at=s(65), start=s(40)),
        call("1", "Disconnected", at=s(377), final=True, start=s(40)),
        agent_state("Unavailable", at=s(377), acw=True),  # the agent's ACW: linked to 1
        call("1", "Holding", at=s(380), start=s(40)),  # after its FinalState, 1 still held
        agent_state("Available", at=s(402)),  # 1 is settled: the fold lets it go
        call("1", "Active", at=s(500), start=s(40)),  # after its FinalState, 1 let go
    ]))
    histories = []
    for name in ("live", "whole", "every event"):
        db = tmp_path / f"{name}.sqlite"
        if name == "live":
            store_line_by_line(db, stream)  # one event per poll
        else:
            with Store(db) as store:  # rows written once, or after every event
                store.ingest([str(stream)], write_every=10**9 if name == "whole" else 1)
        with Store(db) as store:
            ((key, contact),) = store.contacts()
            histories.append(list(store.histories()))
        assert key == str(stream)
        # 312 s of talk, then the agent's 25 s of ACW
        assert (contact.acw_s, contact.handle_time_s) == (25.0, 337.0)
        # a status after its FinalState is no step, held or let go (the engine reports
        # it): the history ends at the close, however the events came
        assert [(s.status, s.final, s.duration_s) for s in contact.steps] == [
            ("Incoming", False, 25.0), ("Active", False, 312.0), ("Disconnected", True, None)]
    assert histories[0] == histories[1] == histories[2]


def _late_chat_lines(path: Path) -> Path:
    """A chat closed and settled (the agent moved on), then two more of its lines."""
    at = utc(2013, 9, 11, 5, 0, 0)

    def s(seconds: int) -> str:
        return (at + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")

    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in [
        session_start(), agent_state("Available", at=s(0)),
        chat("7", "Incoming", at=s(10), room="r7", messages=[("Client", "hi", s(10))]),
        agent_state("InboundContact", at=s(11)),
        chat("7", "Active", at=s(15), room="r7", start=s(10)),
        chat_text("r7", "Agent", "hello", at=s(20)),
        chat("7", "Disconnected", at=s(30), room="r7", final=True, start=s(10)),
        agent_state("Available", at=s(30)),  # 7 is settled here
        chat_text("r7", "Client", "one more thing", at=s(40)),
        agent_state("Unavailable", at=s(50), out_reason="Break"),
        chat_text("r7", "Client", "and another", at=s(60)),
    ]))
    return path


_LINE_BY_LINE = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from store_helpers import store_line_by_line
store_line_by_line(Path(sys.argv[1]), Path(sys.argv[2]), save_every=150)
"""


def test_a_killed_live_writer_leaves_a_store_an_ingest_completes(tmp_path: Path) -> None:
    stream = tmp_path / "day.jsonl"
    total = write_stream(stream, agents=4, cycles=200)
    whole, killed = tmp_path / "whole.sqlite", tmp_path / "killed.sqlite"
    with Store(whole) as store:
        store.ingest([str(stream)])
    process = subprocess.Popen(
        [sys.executable, "-c", _LINE_BY_LINE, str(killed), str(stream),
         str(Path(__file__).parent)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        give_up = time.monotonic() + 120
        while process.poll() is None and _stored(killed, _EVENTS) < total // 3:
            assert time.monotonic() < give_up, "the writer never got there"
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr
    assert total // 3 <= _stored(killed, _EVENTS) < total
    with Store(killed) as store:
        assert store.dirty() == []  # each line's events and rows were one transaction
        report = store.ingest([str(stream)])
    assert report.rebuilt == ()  # resumed from the saved states
    assert_same_store(killed, whole, total)


def test_a_chat_line_after_its_contact_was_settled_joins_the_stored_contact(
        tmp_path: Path) -> None:
    stream = _late_chat_lines(tmp_path / "chat.jsonl")
    live, whole = tmp_path / "live.sqlite", tmp_path / "whole.sqlite"
    store_line_by_line(live, stream)  # each line a poll: 7 is written, then let go
    with Store(whole) as store:
        store.ingest([str(stream)])
    for db in (live, whole):
        with Store(db) as store:
            ((_, contact),) = store.contacts()
        # the steps and first index it was stored with, and every line, once
        assert [(s.status, s.final) for s in contact.steps] == [
            ("Incoming", False), ("Active", False), ("Disconnected", True)]
        assert contact.first_index == 2
        assert [t.text for t in contact.transcript] == [
            "hi", "hello", "one more thing", "and another"]
    assert_same_histories(live, file_histories(stream))
    assert_same_histories(whole, file_histories(stream))


def test_a_writer_that_died_between_saves_resumes_without_doubling_anything(
        tmp_path: Path) -> None:
    stream = _late_chat_lines(tmp_path / "chat.jsonl")
    db = tmp_path / "s.sqlite"
    with Store(db) as store:
        writer = store.writer(save_every=1000)
        for number, line in enumerate(stream.read_bytes().splitlines()[:9], 1):
            writer.add_line(str(stream), number, line)
        # never closed: as if killed here. Rows and events are committed; the state is
        # the one saved at its first line
    assert _state(db, str(stream)) is not None
    assert _state(db, str(stream))[0] == 0  # type: ignore[index]
    # the next run re-applies lines 2..9 from that state, then stores lines 10 and 11
    store_line_by_line(db, stream, first=10)
    assert_same_histories(db, file_histories(stream))


def test_a_writer_resumes_from_the_store_when_another_process_stored_events_between(
        tmp_path: Path) -> None:
    stream = tmp_path / "day.jsonl"
    write_stream(stream, agents=2, cycles=10)
    lines = stream.read_bytes().splitlines(keepends=True)
    db, half = tmp_path / "s.sqlite", tmp_path / "half.jsonl"
    with Store(db) as store, store.writer() as writer:
        for number, line in enumerate(lines[:20], 1):
            writer.add_line(str(stream), number, line.rstrip(b"\n"))
        # meanwhile another process stores the next lines of the same sessions (as
        # another file: events this writer never saw)
        half.write_bytes(b"".join(lines[20:40]))
        assert run("ingest", str(half), "--db", str(db)).exit_code == 0
        for number, line in enumerate(lines[40:], 41):
            writer.add_line(str(stream), number, line.rstrip(b"\n"))
    # stored in the file's order (20 lines, the other file's 20, the rest): its histories
    assert_same_histories(db, file_histories(stream))


def test_saved_states_hold_what_can_still_change_not_the_session(tmp_path: Path) -> None:
    short, long = tmp_path / "short.jsonl", tmp_path / "long.jsonl"
    for path, cycles in ((short, 20), (long, 200)):
        path.write_bytes(b"".join(orjson.dumps({"session": "a", "event": e}) + b"\n"
                                  for e in agent_events(0, cycles)))
    sizes = {}
    for path in (short, long):
        db = tmp_path / f"{path.stem}.sqlite"
        store_line_by_line(db, path, save_every=100)
        state = _state(db, "a")
        assert state is not None
        history = orjson.loads(state[2])
        # the fold keeps the current interval and what is not settled: never the day
        assert len(history["contacts"]) <= 2
        assert len(history["timeline"]) <= 2
        sizes[path.stem] = len(state[2])
        with Store(db) as store:
            assert len(store.contacts()) == (150 if path is long else 15)
    assert sizes["long"] < 2 * sizes["short"]


# --- against the records-based history of the last version that had it ----------------------

@pytest.mark.parametrize("seed", [3, 5, 8])
def test_stored_histories_equal_the_records_based_ones(tmp_path: Path, seed: int) -> None:
    """The golden files were written from the engine's own records by commit 0c2c667,
    whose store gave the same histories on these streams (checked before that code was
    deleted, flushing every 50, 5000 and never)."""
    stream = tmp_path / f"seed-{seed}.jsonl"
    stream.write_bytes(gzip.decompress((GOLDEN / f"seed-{seed}.jsonl.gz").read_bytes()))
    expected = orjson.loads(gzip.decompress(
        (GOLDEN / f"seed-{seed}.history.json.gz").read_bytes()))
    whole, live = tmp_path / "whole.sqlite", tmp_path / "live.sqlite"
    with Store(whole) as store:
        store.ingest([str(stream)])
    store_line_by_line(live, stream, save_every=25)
    for db in (whole, live):
        with Store(db) as store:
            found = orjson.loads(orjson.dumps([golden_form(h) for h in store.histories()]))
        assert [s["key"] for s in found] == [s["key"] for s in expected]
        assert found == expected


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
