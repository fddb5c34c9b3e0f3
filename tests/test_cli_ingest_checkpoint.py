"""Checkpoints and the store: ``ingest --checkpoint/--resume``, and the store's own
resume states, which are engine checkpoints.

The store itself (dedupe, histories equal to the in-memory ones) is test_store.py's
business; here a resumed ingest must equal an uninterrupted one, read only what the
checkpoint says is not yet committed, and refuse a checkpoint that is not its own.
"""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import orjson
import pytest
from helpers import agent_state, call, run, session_start, utc
from store_helpers import agent_events, assert_same_store, ingest_command, stored_rows, write_stream

from session_fsm.engine import AgentSession
from session_fsm.errors import Source
from session_fsm.io import checkpoint as ck
from session_fsm.io.store import Store


def _items(line: bytes) -> int:
    """Input items on one line of write_stream's output: an envelope's events, or one."""
    obj = orjson.loads(line)
    return len(obj["events"]) if "events" in obj else 1


def _position(checkpoint: Path) -> dict[str, object] | None:
    try:
        position = orjson.loads(checkpoint.read_bytes())["position"]
    except FileNotFoundError:
        return None
    assert isinstance(position, dict)
    return position


def _open_writer(fifo: Path, process: subprocess.Popen[bytes]) -> int:
    """The FIFO's write end, once the ingest has opened its read end (a child that died
    before opening it fails the test instead of blocking it)."""
    give_up = time.monotonic() + 120
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as error:
            if error.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < give_up, "ingest never opened its input"
            time.sleep(0.01)
            continue
        os.set_blocking(fd, True)
        return fd


def test_a_killed_ingest_resumes_from_its_checkpoint_to_the_uninterrupted_store(
        tmp_path: Path) -> None:
    source = tmp_path / "source.jsonl"
    total = write_stream(source, agents=10, cycles=40)
    lines = source.read_bytes().splitlines(keepends=True)
    cut = len(lines) // 2
    sent = sum(_items(line) for line in lines[:cut])
    committed = sent // 200 * 200  # the last checkpoint the first half reaches
    assert 0 < committed < sent < total
    assert committed != sent  # events read but not committed when the kill comes

    # The input is a FIFO while the first run reads it, so the run is stopped at a known
    # point: it has read the first half and waits for more, with the last events since
    # its last checkpoint read but not committed.
    stream, db, checkpoint = tmp_path / "day.jsonl", tmp_path / "s.sqlite", tmp_path / "i.ckpt"
    os.mkfifo(stream)
    process = subprocess.Popen(
        ingest_command(str(stream), "--db", str(db), "--checkpoint", str(checkpoint),
                    "--checkpoint-every", "200"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    fd = _open_writer(stream, process)
    try:
        data = memoryview(b"".join(lines[:cut]))
        while data:
            data = data[os.write(fd, data):]
        give_up = time.monotonic() + 120
        while (_position(checkpoint) or {}).get("items") != committed:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < give_up, f"no checkpoint at {committed} items"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        os.close(fd)
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    # the position never runs ahead of the store, nor behind it at a checkpoint
    with Store(db) as store:
        assert store.event_count() == committed
    assert _position(checkpoint) == {"files": [str(stream)], "items": committed,
                                     "store": os.path.realpath(db)}

    # the same path, now a plain file holding the whole input
    stream.unlink()
    stream.write_bytes(b"".join(lines))
    resumed = subprocess.run(
        ingest_command(str(stream), "--db", str(db), "--checkpoint", str(checkpoint), "--resume",
                    "--json"), capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    report = orjson.loads(resumed.stdout)
    # what the checkpoint covered was passed over, not read into the store again
    assert (report["resumed"], report["read"], report["added"]) == (
        committed, total - committed, total - committed)
    assert report["store"] == {"events": total, "sessions": 10}

    whole = tmp_path / "whole.sqlite"
    assert run("ingest", str(stream), "--db", str(whole)).exit_code == 0
    assert_same_store(db, whole, total)
    # the last checkpoint is a valid checkpoint document: no engine state, the position
    engine, position = ck.read_checkpoint(checkpoint)
    assert engine.sessions == {}
    assert position == {"files": [str(stream)], "items": total, "store": os.path.realpath(db)}


def test_resume_over_other_files_is_refused_in_one_line(tmp_path: Path) -> None:
    first, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    total = write_stream(first, agents=2, cycles=4)
    other.write_bytes(first.read_bytes())
    db, checkpoint = tmp_path / "s.sqlite", tmp_path / "i.ckpt"
    assert run("ingest", str(first), "--db", str(db), "--checkpoint", str(checkpoint),
               "--checkpoint-every", "5").exit_code == 0

    refused = subprocess.run(
        ingest_command(str(other), "--db", str(db), "--checkpoint", str(checkpoint), "--resume"),
        capture_output=True, timeout=120)
    assert refused.returncode == 2
    (message,) = refused.stderr.decode().splitlines()
    assert message == (f"session-fsm: checkpoint {checkpoint} was taken over other input "
                       f"files (['{first}'])")
    assert refused.stdout == b""
    with Store(db) as store:
        assert store.event_count() == total  # nothing of b.jsonl went in


def test_resume_starts_inside_the_line_where_the_checkpoint_stopped(tmp_path: Path) -> None:
    # write_stream's turns alternate: one envelope line of three events, then three
    # one-event lines. Items 1-3 are line 1, 4-6 lines 2-4, 7-9 line 5, 10-12 lines 6-8,
    # 13-15 line 9: checkpoints every 7 items fall after item 7 (line 5, first event of
    # three) and item 14 (line 9, second of three).
    stream = tmp_path / "day.jsonl"
    total = write_stream(stream, agents=3, cycles=10)
    db = tmp_path / "s.sqlite"
    positions: list[int] = []

    def killed_at_the_second(items: int) -> None:
        positions.append(items)
        if len(positions) == 2:
            raise KeyboardInterrupt  # as if the process died right after this checkpoint

    with Store(db) as store:
        with pytest.raises(KeyboardInterrupt):
            store.ingest([str(stream)], on_commit=killed_at_the_second, commit_every=7)
        assert positions == [7, 14]
        assert sorted((line, pos) for _, _, line, pos, _ in stored_rows(db))[-3:] == [
            (8, 0), (9, 0), (9, 1)]
        resumed = store.ingest([str(stream)], resume_after=14, batch_size=5)
        assert (resumed.resumed, resumed.read, resumed.added) == (14, total - 14, total - 14)
    with Store(tmp_path / "whole.sqlite") as whole:
        whole.ingest([str(stream)])
    rows = stored_rows(db)
    assert rows == stored_rows(tmp_path / "whole.sqlite")
    assert (9, 2) in {(line, pos) for _, _, line, pos, _ in rows}


def test_a_bad_line_stops_the_run_with_the_position_before_it(tmp_path: Path) -> None:
    at = utc(2013, 9, 11, 5, 0, 0)
    good = [session_start(), agent_state("Available", at=at), call("1", "Incoming", at=at)]
    stream = tmp_path / "day.jsonl"
    stream.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in good[:2]) + b"{not json\n"
                       + orjson.dumps(good[2]) + b"\n")
    db, checkpoint = tmp_path / "s.sqlite", tmp_path / "i.ckpt"
    stopped = run("ingest", str(stream), "--db", str(db), "--checkpoint", str(checkpoint))
    assert stopped.exit_code == 2
    assert f"{stream}:3" in stopped.stderr
    assert _position(checkpoint) == {"files": [str(stream)], "items": 2,
                                     "store": os.path.realpath(db)}

    resumed = run("ingest", str(stream), "--db", str(db), "--checkpoint", str(checkpoint),
                  "--resume", "--skip-bad", "--json")
    assert resumed.exit_code == 0
    report = orjson.loads(resumed.stdout)
    assert (report["resumed"], report["read"], report["added"], report["skipped"]) == (
        2, 1, 1, 1)
    assert resumed.stderr.startswith(f"session-fsm: skipped {stream}:3: ")
    assert (_position(checkpoint) or {})["items"] == 4
    # resumed past the bad line (now skipped): a run without --skip-bad goes on too
    again = run("ingest", str(stream), "--db", str(db), "--checkpoint", str(checkpoint),
                "--resume", "--json")
    assert again.exit_code == 0
    assert orjson.loads(again.stdout)["resumed"] == 4
    with Store(db) as store:
        assert [e["Type"] for e in store.events(str(stream))] == [
            "AgentSessionStart", "AgentState", "CallContactEvent"]


def test_ingest_and_snapshot_checkpoints_are_not_interchangeable(tmp_path: Path) -> None:
    stream = tmp_path / "day.jsonl"
    write_stream(stream, agents=1, cycles=4)
    db, ingested, snapped = tmp_path / "s.sqlite", tmp_path / "i.ckpt", tmp_path / "s.ckpt"
    assert run("ingest", str(stream), "--db", str(db), "--checkpoint",
               str(ingested)).exit_code == 0
    assert run("snapshot", str(stream), "--checkpoint", str(snapped)).exit_code == 0

    # an ingest's position counts items committed to its store: meaningless elsewhere
    cases = [
        (("snapshot", str(stream), "--checkpoint", str(ingested), "--resume"),
         f"checkpoint {ingested} was written by ingest into {os.path.realpath(db)}: it holds "
         "no engine state to resume"),
        (("ingest", str(stream), "--db", str(db), "--checkpoint", str(snapped), "--resume"),
         f"checkpoint {snapped} was not written by ingest: it holds no position in the store "
         f"{os.path.realpath(db)}"),
        (("ingest", str(stream), "--db", str(tmp_path / "other.sqlite"), "--checkpoint",
          str(ingested), "--resume"),
         f"checkpoint {ingested} was taken for the store {os.path.realpath(db)}, not "
         f"{os.path.realpath(tmp_path / 'other.sqlite')}"),
        (("ingest", "-", "--db", str(db), "--checkpoint", str(ingested)),
         "--checkpoint cannot follow standard input (-); ingest it again without one: the "
         "store adds only the events it lacks"),
    ]
    for args, message in cases:
        refused = run(*args)
        assert (refused.exit_code, refused.stderr) == (2, f"session-fsm: {message}\n"), args
    assert not (tmp_path / "other.sqlite").exists()  # refused before the store was made


# --- the store's resume state is an engine checkpoint ---------------------------------------


def test_a_saved_state_is_the_engine_checkpoint_of_its_events(tmp_path: Path) -> None:
    events = list(agent_events(0, 8))
    stream = tmp_path / "day.jsonl"
    stream.write_bytes(b"".join(orjson.dumps({"session": "a", "event": e}) + b"\n"
                                for e in events[:30]))
    db = tmp_path / "s.sqlite"
    with Store(db) as store:
        store.ingest([str(stream)])
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as reader:
        seq, engine = reader.execute("SELECT applied_seq, engine FROM session_state").fetchone()
    reader.close()
    assert seq == 29  # the last of the 30 events stored
    restored = ck.load_session(orjson.loads(engine))
    # fed the rest, it is the session fed everything from the start (same batches)
    whole = AgentSession("a")
    for n, event in enumerate(events, 1):
        source = Source(str(stream), n)
        if n > 30:
            restored.feed(event, source=source, batch=source)
        whole.feed(event, source=source, batch=source)
    assert ck.dump_session(restored) == ck.dump_session(whole)
    assert restored.events == len(events)
