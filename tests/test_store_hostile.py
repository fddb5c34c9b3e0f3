"""The store under a hostile machine: pipes ingested twice, concurrent writers, SQLite
failing (a file-size limit, a lock held too long, a damaged page, a read-only file) and a
store read where nothing may be written.

Everything runs as a user would meet it: real ``session-fsm`` processes, real database
files, a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored) set in the child only. Tests run
as root, which writes whatever the permission bits say, so a child that must not be able
to write drops that power (CAP_DAC_OVERRIDE) first.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import run, session_start
from store_helpers import assert_same_store, ingest_command, stored_rows, write_stream

from session_fsm.io import checkpoint as ck
from session_fsm.io.store import Store

_TIMEOUT = 120
"""Seconds any one child may take before the test fails."""


def _one_line_error(result: subprocess.CompletedProcess[bytes], prefix: str) -> str:
    """The failed run's stderr: exit 2, one line starting with ``prefix``, no traceback."""
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.decode().splitlines()
    assert line.startswith(prefix), line
    return line


_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1


def _bound_by_permissions() -> None:
    """In the child, before exec: if root, drop the power to write what the permission bits
    forbid (CAP_DAC_OVERRIDE, from the bounding set: the program exec'd never has it)."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE)")


def _halves(tmp_path: Path, *, agents: int, cycles: int) -> tuple[Path, Path, int]:
    """One recording cut in two consecutive files; returns them and the event count."""
    whole = tmp_path / "whole.jsonl"
    total = write_stream(whole, agents=agents, cycles=cycles)
    lines = whole.read_bytes().splitlines(keepends=True)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_bytes(b"".join(lines[:len(lines) // 2]))
    second.write_bytes(b"".join(lines[len(lines) // 2:]))
    return first, second, total


def _ingested(db: Path, *paths: Path) -> Path:
    """A store holding ``paths`` ingested one after the other, in this process."""
    with Store(db) as store:
        for path in paths:
            store.ingest([str(path)])
    return db


# --- 4. a pipe is known by its content -----------------------------------------------------


def test_a_pipe_ingested_again_adds_nothing(tmp_path: Path) -> None:
    stream, other = tmp_path / "day.jsonl", tmp_path / "next.jsonl"
    total = write_stream(stream, agents=2, cycles=6)
    other.write_bytes(orjson.dumps({"session": "agent-9", "event": session_start()}) + b"\n")
    db = tmp_path / "s.sqlite"
    env = {**os.environ, "PY": sys.executable, "STREAM": str(stream), "OTHER": str(other),
           "DB": str(db)}

    def bash(script: str) -> dict[str, object]:
        done = subprocess.run(["bash", "-c", script], env=env, capture_output=True,
                              timeout=_TIMEOUT)
        assert done.returncode == 0, done.stderr
        report = orjson.loads(done.stdout)
        assert isinstance(report, dict)
        return report

    ingest = '"$PY" -m session_fsm ingest --db "$DB" --json'
    # /dev/fd/63 resolves to /proc/PID/fd/pipe:[N], another path on every run
    assert bash(f'{ingest} <(cat "$STREAM")')["added"] == total
    assert bash(f'{ingest} <(cat "$STREAM")')["added"] == 0
    assert bash(f'cat "$STREAM" | {ingest} /dev/stdin')["added"] == 0
    assert bash(f'{ingest} - < "$STREAM"')["added"] == 0  # the same content as -: one input
    # another content through the same kind of path: its own input, not a conflict
    changed = bash(f'{ingest} <(cat "$OTHER")')
    assert (changed["added"], changed["store"]) == (1, {"events": total + 1, "sessions": 3})
    # a checkpoint counts items of one input: a pipe's next content is another input
    refused = subprocess.run(["bash", "-c", f'cat "$STREAM" | {ingest} /dev/stdin '
                              f'--checkpoint "$DB.ckpt"'], env=env, capture_output=True,
                             timeout=_TIMEOUT)
    assert (refused.returncode, refused.stderr.decode()) == (
        2, "session-fsm: --checkpoint cannot follow the pipe /dev/stdin; ingest it again "
           "without one: the store adds only the events it lacks\n")


# --- 5. one writer at a time -----------------------------------------------------------------

_STARTER = """
import os, sys, time
import orjson
from session_fsm.cli import main  # imported first: only the runs themselves race
folder, me, rounds = sys.argv[1], sys.argv[2], orjson.loads(sys.argv[3])
codes = []
for n, args in enumerate(rounds):
    open(os.path.join(folder, f"ready-{me}-{n}"), "w").close()
    go, give_up = os.path.join(folder, f"go-{n}"), time.monotonic() + 120
    while not os.path.exists(go):  # spinning, not sleeping: the children start together
        if time.monotonic() > give_up:
            sys.exit("never told to start")
    try:
        main(args)
        codes.append(0)
    except SystemExit as done:
        codes.append(done.code or 0)
    with open(os.path.join(folder, f"codes-{me}"), "wb") as out:
        out.write(orjson.dumps(codes))
"""


def _started_together(folder: Path, rounds: list[list[list[str]]]) -> list[list[int]]:
    """Each round's ``session-fsm ARGS`` runs, one per child process, released at the same
    moment (the children import everything first, then wait for the round's signal).
    Returns the exit codes, round by round."""
    width = len(rounds[0])
    children = [subprocess.Popen(
        [sys.executable, "-c", _STARTER, str(folder), str(me),
         orjson.dumps([runs[me] for runs in rounds]).decode()],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for me in range(width)]
    try:
        give_up = time.monotonic() + _TIMEOUT
        for n in range(len(rounds)):
            while not all((folder / f"ready-{me}-{n}").exists() for me in range(width)):
                assert all(c.poll() is None for c in children), [
                    c.stderr.read() for c in children if c.stderr and c.poll() is not None]
                assert time.monotonic() < give_up, f"the children never got to round {n}"
                time.sleep(0.001)
            (folder / f"go-{n}").touch()
        for child in children:
            _, err = child.communicate(timeout=_TIMEOUT)
            assert child.returncode == 0, err
        codes = [orjson.loads((folder / f"codes-{me}").read_bytes()) for me in range(width)]
        return [list(round_) for round_ in zip(*codes, strict=True)]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


def test_ingests_creating_one_store_at_the_same_moment_all_succeed(tmp_path: Path) -> None:
    stream = tmp_path / "day.jsonl"
    total = write_stream(stream, agents=2, cycles=2)
    stores = [tmp_path / f"s-{n}.sqlite" for n in range(100)]
    # before: "not a session-fsm store (database is locked)" in 1 round in 20 to 1 in 3
    codes = _started_together(tmp_path, [[["ingest", str(stream), "--db", str(db)]] * 2
                                         for db in stores])
    assert codes == [[0, 0]] * len(stores)
    for db in stores:
        with Store(db) as store:
            assert store.event_count() == total


def test_two_ingests_at_once_store_one_of_the_two_sequential_orders(tmp_path: Path) -> None:
    first, second, total = _halves(tmp_path, agents=4, cycles=24)
    orders = {"first, second": _ingested(tmp_path / "ab.sqlite", first, second),
              "second, first": _ingested(tmp_path / "ba.sqlite", second, first)}
    expected = {name: stored_rows(db) for name, db in orders.items()}
    assert expected["first, second"] != expected["second, first"]
    stores = [tmp_path / f"s-{n}.sqlite" for n in range(3)]
    codes = _started_together(tmp_path, [
        [["ingest", str(path), "--db", str(db), "--batch-size", "10"] for path in (first, second)]
        for db in stores])
    assert codes == [[0, 0]] * len(stores)
    for db in stores:
        rows = stored_rows(db)
        (order,) = [name for name, want in expected.items() if rows == want]  # not a mix
        assert_same_store(db, orders[order], total)


def test_a_writer_waits_for_the_other_and_gives_up_after_lock_timeout(tmp_path: Path) -> None:
    first, second, total = _halves(tmp_path, agents=2, cycles=12)
    db, fifo = tmp_path / "s.sqlite", tmp_path / "live.jsonl"
    os.mkfifo(fifo)
    # the first ingest reads a FIFO the test keeps open: it holds the store until then
    holder = subprocess.Popen(ingest_command(str(fifo), "--db", str(db)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    waiter: subprocess.Popen[bytes] | None = None
    try:
        fd = _open_writer(fifo, holder)
        try:
            data = first.read_bytes()
            os.write(fd, data[:len(data) // 2])
            waiter = subprocess.Popen(ingest_command(str(second), "--db", str(db)),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            started = time.monotonic()
            gave_up = subprocess.run(
                ingest_command(str(second), "--db", str(db), "--lock-timeout", "0.5"),
                capture_output=True, timeout=_TIMEOUT)
            assert time.monotonic() - started >= 0.5
            assert gave_up.stderr.decode() == (
                f"session-fsm: {db}: another process is writing to this store; gave up after "
                "waiting 0.5 s for it (run again once it is done, or wait longer: "
                "--lock-timeout)\n")
            assert gave_up.returncode == 2
            assert waiter.poll() is None  # still waiting its turn (60 s by default)
            os.write(fd, data[len(data) // 2:])
        finally:
            os.close(fd)
        assert holder.wait(timeout=_TIMEOUT) == 0, holder.stderr
        assert waiter.wait(timeout=_TIMEOUT) == 0, waiter.stderr
    finally:
        for child in (holder, waiter):
            if child is not None and child.poll() is None:
                child.kill()
                child.wait()
    # the waiter went after the holder, not between its batches
    assert_same_store(db, _ingested(tmp_path / "ab.sqlite", first, second), total)


def _open_writer(fifo: Path, reader: subprocess.Popen[bytes]) -> int:
    """The FIFO's write end, once ``reader`` has opened the read end."""
    give_up = time.monotonic() + _TIMEOUT
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            assert reader.poll() is None, reader.stderr.read() if reader.stderr else ""
            assert time.monotonic() < give_up, "the ingest never opened its input"
            time.sleep(0.01)
            continue
        os.set_blocking(fd, True)
        return fd


# --- 6. SQLite failing: one line naming the store, exit 2, and a re-run completes -------------


def _file_size_limit(limit: int) -> Callable[[], None]:
    def in_child() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write fails (EFBIG) instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return in_child


def test_a_file_size_limit_is_one_line_and_a_rerun_completes(tmp_path: Path) -> None:
    stream = tmp_path / "day.jsonl"
    total = write_stream(stream, agents=4, cycles=40)
    db = tmp_path / "s.sqlite"
    limited = subprocess.run(ingest_command(str(stream), "--db", str(db), "--batch-size", "100"),
                             capture_output=True, timeout=_TIMEOUT,
                             preexec_fn=_file_size_limit(300_000))
    line = _one_line_error(limited, f"session-fsm: {db}: ingest failed: ")
    assert "(SQLITE_IOERR_WRITE): a full disk, a file-size limit or a failing device" in line
    with sqlite3.connect(db) as check:  # consistent: committed batches, nothing torn
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (kept,) = check.execute("SELECT count(*) FROM events").fetchone()
    assert 0 < kept < total
    assert run("ingest", str(stream), "--db", str(db)).exit_code == 0
    assert_same_store(db, _ingested(tmp_path / "whole.sqlite", stream), total)


def test_a_lock_held_too_long_is_one_line_and_a_rerun_completes(tmp_path: Path) -> None:
    first, second, total = _halves(tmp_path, agents=2, cycles=6)
    db = _ingested(tmp_path / "s.sqlite", first)
    other = sqlite3.connect(db, isolation_level=None)  # another program, not session-fsm
    try:
        other.execute("BEGIN IMMEDIATE")  # holds the store's write lock
        started = time.monotonic()
        held = subprocess.run(ingest_command(str(second), "--db", str(db), "--lock-timeout", "0.5"),
                              capture_output=True, timeout=_TIMEOUT)
        assert time.monotonic() - started >= 0.5
        line = _one_line_error(held, f"session-fsm: {db}: ingest failed: database is locked "
                                     "(SQLITE_BUSY): another process held a lock")
        assert line.endswith("for longer than the wait allowed")
    finally:
        other.close()
    assert run("ingest", str(second), "--db", str(db)).exit_code == 0
    assert_same_store(db, _ingested(tmp_path / "ab.sqlite", first, second), total)


def _damage_root_pages(db: Path, *tables: str) -> None:
    """Overwrite the root page of each of ``tables`` with bytes no page can hold."""
    with sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True) as reader:
        (size,) = reader.execute("PRAGMA page_size").fetchone()
        roots = [reader.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                                (table,)).fetchone()[0] for table in tables]
    reader.close()
    with db.open("r+b") as file:
        for root in roots:
            file.seek((root - 1) * size)
            file.write(b"\xff" * size)


def test_a_damaged_page_is_one_line(tmp_path: Path) -> None:
    stream = tmp_path / "day.jsonl"
    write_stream(stream, agents=2, cycles=6)
    db = _ingested(tmp_path / "s.sqlite", stream)
    _damage_root_pages(db, "events", "contacts")
    damaged = "database disk image is malformed (SQLITE_CORRUPT): the file is damaged"
    read = subprocess.run([sys.executable, "-m", "session_fsm", "history", "--db", str(db)],
                          capture_output=True, timeout=_TIMEOUT)
    assert damaged in _one_line_error(read, f"session-fsm: {db}: reading the store failed: ")
    again = subprocess.run(ingest_command(str(stream), "--db", str(db)), capture_output=True,
                           timeout=_TIMEOUT)
    assert damaged in _one_line_error(again, f"session-fsm: {db}: ingest failed: ")


def test_a_read_only_store_file_is_one_line_and_a_rerun_completes(tmp_path: Path) -> None:
    first, second, total = _halves(tmp_path, agents=2, cycles=6)
    db = _ingested(tmp_path / "s.sqlite", first)
    db.chmod(0o444)  # its directory stays writable: SQLite's -wal and -shm may be made
    refused = subprocess.run(ingest_command(str(second), "--db", str(db)), capture_output=True,
                             timeout=_TIMEOUT, preexec_fn=_bound_by_permissions)
    line = _one_line_error(refused, f"session-fsm: {db}: ingest failed: attempt to write a "
                                    "readonly database (SQLITE_READONLY")
    assert line.endswith("the file or its directory cannot be written")
    db.chmod(0o644)
    assert run("ingest", str(second), "--db", str(db)).exit_code == 0
    assert_same_store(db, _ingested(tmp_path / "ab.sqlite", first, second), total)


# --- 7. reading writes nothing ----------------------------------------------------------------


def _files(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Each file of ``directory`` with its bytes and modification time, and the directory's
    own modification time (a file made and removed again changes it)."""
    found = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.iterdir()}
    found["."] = (b"", directory.stat().st_mtime_ns)
    return found


def test_history_from_a_store_writes_nothing(tmp_path: Path) -> None:
    stream, folder = tmp_path / "day.jsonl", tmp_path / "store"
    write_stream(stream, agents=2, cycles=6)
    folder.mkdir()
    db = _ingested(folder / "s.sqlite", stream)
    before = _files(folder)
    assert not [name for name in before if name.endswith(("-wal", "-shm"))]
    time.sleep(0.01)  # a write now would move a modification time
    read = subprocess.run([sys.executable, "-m", "session_fsm", "history", "--db", str(db),
                           "--json"], capture_output=True, timeout=_TIMEOUT)
    assert read.returncode == 0, read.stderr
    assert _files(folder) == before
    assert orjson.loads(read.stdout) == orjson.loads(run("history", str(stream), "--json").stdout)


def test_history_reads_a_store_in_a_directory_it_cannot_write(tmp_path: Path) -> None:
    stream = tmp_path / "day.jsonl"
    write_stream(stream, agents=2, cycles=6)
    folder = tmp_path / "store"
    folder.mkdir()
    db = _ingested(folder / "s.sqlite", stream)
    db.chmod(0o444)
    folder.chmod(0o555)
    before = _files(folder)
    read = subprocess.run([sys.executable, "-m", "session_fsm", "history", "--db", str(db),
                           "--json"], capture_output=True, timeout=_TIMEOUT,
                          preexec_fn=_bound_by_permissions)
    assert read.returncode == 0, read.stderr
    assert _files(folder) == before
    assert orjson.loads(read.stdout) == orjson.loads(run("history", str(stream), "--json").stdout)


def test_a_read_only_store_sees_a_writers_commits_and_notices_a_late_writer(
        tmp_path: Path) -> None:
    first, second, total = _halves(tmp_path, agents=2, cycles=6)
    db = tmp_path / "s.sqlite"
    with Store(db) as store:
        store.ingest([str(first)])
        kept = store.event_count()
    # no writer: the file is read as it stands, and a writer starting later is noticed
    with Store(db, read_only=True) as reader:
        assert reader.event_count() == kept
        assert not reader.written_since_open()
        _ingested(db, second)
        assert reader.written_since_open()  # what it read may mix two states: read again
    # a writer with the store open: its last commits are in its -wal file only
    db = _ingested(tmp_path / "live.sqlite", first)
    with Store(db) as writer:
        writer.ingest([str(second)])
        assert Path(f"{db}-wal").stat().st_size > 0
        with Store(db, read_only=True) as reader:
            assert reader.event_count() == total
            assert not reader.written_since_open()


# --- 8. a resume state that cannot be used: said in one line, rebuilt from the events ---------


def _states(db: Path) -> dict[str, tuple[int, int, bytes, bytes]]:
    """Each session's saved state: (applied seq, checkpoint version, engine, history)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as reader:
        return {key: (seq, version, engine, history) for key, seq, version, engine, history
                in reader.execute("SELECT s.key, t.applied_seq, t.version, t.engine, "
                                  "t.history FROM session_state t JOIN sessions s "
                                  "ON s.id = t.session")}


def _set_state(db: Path, key: str, column: str, value: object) -> None:
    with sqlite3.connect(db) as writer:
        writer.execute(f"UPDATE session_state SET {column} = ? WHERE session = "
                       "(SELECT id FROM sessions WHERE key = ?)", (value, key))
    writer.close()


def _bad_position(engine: bytes) -> bytes:
    document = orjson.loads(engine)
    document["position"] = -1
    return orjson.dumps(document)


def _bad_timeline_mark(history: bytes) -> bytes:
    document = orjson.loads(history)
    document["touched_from"] = len(document["timeline"]) + 3
    return orjson.dumps(document)


@pytest.mark.parametrize(("column", "damage", "problem"), [
    ("engine", lambda blob: blob[:len(blob) // 2], "is damaged: not JSON ("),
    ("engine", _bad_position,
     "is damaged: position: expected an index or count (an integer >= 0), got -1;"),
    ("history", _bad_timeline_mark, "is damaged: touched_from: expected at most the "
                                    "timeline's length"),
    ("version", lambda version: version - 1,
     f"is of checkpoint version {ck.VERSION - 1} (this session-fsm reads version "
     f"{ck.VERSION});"),
])
def test_a_state_that_cannot_be_used_is_one_line_and_the_session_is_rebuilt(
        tmp_path: Path, column: str, damage: Callable[[Any], Any], problem: str) -> None:
    first, second, total = _halves(tmp_path, agents=2, cycles=12)
    db = _ingested(tmp_path / "s.sqlite", first)
    index = {"version": 1, "engine": 2, "history": 3}[column]
    _set_state(db, "agent-1", column, damage(_states(db)["agent-1"][index]))

    done = subprocess.run(ingest_command(str(second), "--db", str(db), "--json"),
                          capture_output=True, timeout=_TIMEOUT)
    assert done.returncode == 0, done.stderr
    (line,) = done.stderr.decode().splitlines()  # one line, no traceback
    assert line.startswith(f"session-fsm: {db}: session 'agent-1': its saved state {problem}")
    # every event it has now: the first half's and the second's
    assert line.endswith(f"; its history is rebuilt from its {_events_of(db, 'agent-1')} "
                         "stored events")
    report = orjson.loads(done.stdout)
    assert (report["updated"], report["rebuilt"]) == (["agent-0", "agent-1"], ["agent-1"])
    assert_same_store(db, _ingested(tmp_path / "ab.sqlite", first, second), total)
    # and the state saved again is whole: the next ingest uses it, quietly
    again = subprocess.run(ingest_command(str(second), "--db", str(db)),
                           capture_output=True, timeout=_TIMEOUT)
    assert (again.returncode, again.stderr) == (0, b"")


def test_a_state_of_another_session_is_refused_too(tmp_path: Path) -> None:
    first, second, total = _halves(tmp_path, agents=2, cycles=6)
    db = _ingested(tmp_path / "s.sqlite", first)
    states = _states(db)
    _set_state(db, "agent-1", "engine", states["agent-0"][2])
    warnings: list[str] = []
    with Store(db, on_warning=warnings.append) as store:
        assert store.ingest([str(second)]).rebuilt == ("agent-1",)
    assert warnings == [
        f"{db}: session 'agent-1': its saved state is damaged: it is the state of session "
        f"'agent-0'; its history is rebuilt from its {_events_of(db, 'agent-1')} stored "
        "events"]
    assert_same_store(db, _ingested(tmp_path / "ab.sqlite", first, second), total)


def _events_of(db: Path, key: str) -> int:
    return sum(1 for row in stored_rows(db) if row[0] == key)


def test_a_version_1_store_is_upgraded_and_rebuilt_once(tmp_path: Path) -> None:
    first, second, total = _halves(tmp_path, agents=2, cycles=6)
    db = _ingested(tmp_path / "s.sqlite", first)
    # what version 1 wrote: the same tables but the resume states
    with sqlite3.connect(db) as old:
        old.execute("DROP TABLE session_state")
        old.execute("UPDATE meta SET value = '1' WHERE name = 'version'")
    old.close()
    # read-only, it is read as it is and left so
    read = subprocess.run([sys.executable, "-m", "session_fsm", "history", "--db", str(db),
                           "--json"], capture_output=True, timeout=_TIMEOUT)
    assert read.returncode == 0, read.stderr
    assert orjson.loads(read.stdout) == orjson.loads(run("history", str(first), "--json").stdout)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as reader:
        assert reader.execute("SELECT value FROM meta WHERE name = 'version'").fetchone() == ("1",)
    reader.close()

    done = subprocess.run(ingest_command(str(second), "--db", str(db), "--json"),
                          capture_output=True, timeout=_TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert done.stderr.decode() == (
        f"session-fsm: {db}: upgraded from store format version 1 to 3; the histories of "
        "its 2 sessions are rebuilt from their events by the next ingest\n")
    report = orjson.loads(done.stdout)
    assert report["rebuilt"] == ["agent-0", "agent-1"]
    assert_same_store(db, _ingested(tmp_path / "ab.sqlite", first, second), total)
    again = subprocess.run(ingest_command(str(second), "--db", str(db), "--json"),
                           capture_output=True, timeout=_TIMEOUT)
    assert (orjson.loads(again.stdout)["rebuilt"], again.stderr) == ([], b"")
