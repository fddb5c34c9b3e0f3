"""``session-fsm replay``: event order, unreadable lines, local = Dask, chunks = one whole run.

The order tests use hand-written archives whose expected event indices are worked out
from the ordering rule in the README ("Replaying archives"); the chunk tests' expected
rows are worked out from their timestamps. The larger tests replay a simulated stream
of a few thousand sessions whose lines are spread over several archives the way
recorders write them (each archive the sessions one recorder followed,
in recording order), cut into two time chunks; the Dask tests run on a LocalCluster of
two worker processes and are skipped, saying why, when the dask extra is not installed.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import zlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

pa = pytest.importorskip("pyarrow", reason="replay needs pyarrow (the test extra has it)")
pq = pytest.importorskip("pyarrow.parquet", reason="replay needs pyarrow (the test extra has it)")

from session_fsm.engine import AgentSession  # noqa: E402
from session_fsm.engine.snapshot import to_json  # noqa: E402
from session_fsm.io.replay import TABLES, ReplayError, read_table, replay_local  # noqa: E402
from session_fsm.sim import Simulation  # noqa: E402

AGENTS, SEED, MINUTES, RECORDERS = 2000, 11, 4.0, 3


def envelope(session: str, event: dict[str, Any] | list[dict[str, Any]]) -> bytes:
    key = "events" if isinstance(event, list) else "event"
    return orjson.dumps({"session": session, key: event}) + b"\n"


def write(path: Path, lines: list[bytes]) -> str:
    path.write_bytes(b"".join(lines))
    return str(path)


def state(current: str, start: str, *, nexts: tuple[tuple[str, str], ...] = (),
          reason: str = "") -> dict[str, Any]:
    return {"Type": "AgentState", "CurrentState": current, "CurrentOutReason": reason,
            "NextStates": [{"State": s, "OutReason": r} for s, r in nexts],
            "StartTimeUTC": start, "IsAcw": "False", "AcwTimeout": "0"}


def call(status: str, changed: str, *, final: bool = False) -> dict[str, Any]:
    return {"Type": "CallContactEvent", "ContactID": "1569815", "Status": status,
            "CallType": "Regular", "IsInbound": "True", "Skill": "1507",
            "StartTimeUTC": "2024-03-04T10:00:10.000Z", "LastStateChangeTimeUTC": changed,
            "DisconnectCode": "NA", "IsLinked": "False", "FinalState": str(final)}


def rows(out: Path, name: str) -> list[dict[str, Any]]:
    return read_table(str(out), name).to_pylist()  # type: ignore[no-any-return]


def t(clock: str) -> str:
    return f"2024-03-04T{clock}.000Z"


# --- the order of a session's events ------------------------------------------------------


def test_events_of_one_session_in_two_archives_are_ordered_by_the_archives_clocks(
        tmp_path: Path) -> None:
    """Recorder A wrote the start of a call, recorder B its end. A's last event repeats
    the agent state for a NextStates change with the state's old StartTimeUTC (10:00:12):
    it stays after the Holding at 10:00:30 that came before it in A, because the clock of
    A never goes back. AgentSessionStart has no time of its own: it takes the first time
    that follows it in A (10:00:00); AgentSessionEnd takes the clock before it in B."""
    s = "agent-1"
    a = write(tmp_path / "a.jsonl", [
        envelope(s, {"Type": "AgentSessionStart", "AgentId": "12214", "SessionId": "1"}),
        envelope(s, state("Available", t("10:00:00"))),
        envelope(s, call("Incoming", t("10:00:10"))),
        envelope(s, state("InboundContact", t("10:00:12"), nexts=(("Available", ""),))),
        envelope(s, call("Active", t("10:00:12"))),
        envelope(s, call("Holding", t("10:00:30"))),
        envelope(s, state("InboundContact", t("10:00:12"), nexts=(("Unavailable", "Lunch"),))),
    ])
    b = write(tmp_path / "b.jsonl", [
        envelope(s, call("Active", t("10:00:40"))),
        envelope(s, call("Disconnected", t("10:01:00"), final=True)),
        envelope(s, state("Unavailable", t("10:01:01"), reason="Lunch")),
        envelope(s, {"Type": "AgentSessionEnd", "Success": "True", "Message": ""}),
    ])
    out = tmp_path / "out"
    # B is given first: the clock, not the command line, decides between archives.
    summary = replay_local([b, a], str(out))
    assert (summary.fold.events, summary.fold.sessions) == (11, 1)

    steps = rows(out, "contact_steps")
    assert [(r["status"], r["event_index"]) for r in steps] == [
        ("Incoming", 2), ("Active", 4), ("Holding", 5), ("Active", 7), ("Disconnected", 8)]
    # durations are the history's: Incoming 10:00:10 -> Active 10:00:12, Holding 10 s
    assert [r["duration_s"] for r in steps] == [2.0, 18.0, 10.0, 20.0, None]
    assert [(r["state"], r["event_index"], r["duration_s"]) for r in rows(out, "agent_states")] \
        == [("Available", 1, 12.0), ("InboundContact", 3, 49.0), ("Unavailable", 9, None)]
    assert rows(out, "violations") == []
    snapshot, = rows(out, "snapshots")
    assert (snapshot["status"], snapshot["end_reason"], snapshot["events"]) == \
        ("ended", "AgentSessionEnd", 11)


@pytest.mark.parametrize(("order", "first"), [(("x", "y"), "call"), (("y", "x"), "state")])
def test_equal_times_in_two_archives_keep_the_order_the_archives_are_given_in(
        tmp_path: Path, order: tuple[str, str], first: str) -> None:
    files = {
        "x": write(tmp_path / "x.jsonl", [envelope("s", call("Incoming", t("10:00:00")))]),
        "y": write(tmp_path / "y.jsonl",
                   [envelope("s", state("InboundContact", t("10:00:00")))]),
    }
    out = tmp_path / "out"
    replay_local([files[name] for name in order], str(out))
    call_index = rows(out, "contact_steps")[0]["event_index"]
    state_index = rows(out, "agent_states")[0]["event_index"]
    assert (call_index, state_index) == ((0, 1) if first == "call" else (1, 0))


def test_a_batch_line_keeps_its_events_in_their_order(tmp_path: Path) -> None:
    """A join's batch: one line, AgentSessionStart second, a contact in a middle status
    with an older time than the agent state before it. Its events share the line and
    keep their positions in it; the contact joined in the batch is no violation."""
    batch = [
        state("InboundContact", t("09:58:00"), nexts=(("Available", ""),)),
        {"Type": "AgentSessionStart", "AgentId": "12214", "SessionId": "1"},
        call("Active", t("09:57:50")),
    ]
    path = write(tmp_path / "join.jsonl", [envelope("s", batch)])
    out = tmp_path / "out"
    replay_local([path], str(out))
    assert [(r["status"], r["event_index"]) for r in rows(out, "contact_steps")] == \
        [("Active", 2)]
    assert rows(out, "violations") == []


# --- unreadable input ---------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "session_fsm", *args], capture_output=True,
                          text=True, timeout=300, check=False)


def test_unreadable_lines_are_violation_rows_and_stderr_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", [
        envelope("s", {"Type": "AgentSessionStart", "AgentId": "12214"}),
        b'{"session": "s", "event": {"Type": "AgentState", \n',
        envelope("s", {"Type": "AgentState", "CurrentState": "Available",
                       "StartTimeUTC": t("10:00:00"), "AcwTimeout": "soon"}),
        b'[1, 2]\n',
    ])
    out = tmp_path / "out"
    done = run_cli("replay", path, "--out", str(out), "--json")
    assert done.returncode == 2, done.stderr  # the tables are written, then exit 2
    assert f"unreadable {path}:2: not valid JSON" in done.stderr
    assert f"unreadable {path}:4: " in done.stderr
    assert done.stderr.endswith("session-fsm: 3 unreadable items in the input, each reported "
                                "at its place (use --skip-bad to accept them)\n")
    summary = orjson.loads(done.stdout)
    assert (summary["events"], summary["unreadable"]) == (2, 3)
    found = {(r["rule"], r["session"], r["source"]) for r in rows(out, "violations")}
    assert found == {
        # the broken line's session is unknown: it is the archive's own
        ("not-json", path, f"{path}:2"),
        ("not-an-event", path, f"{path}:4"),
        ("not-an-event", path, f"{path}:4"),
        ("no-session-start", path, f"{path}:2"),
        # a field the codec refuses is the engine's bad-field, at its event's place
        ("bad-field", "s", f"{path}:3"),
    }


def test_an_archive_that_cannot_be_opened_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = run_cli("replay", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == \
        f"session-fsm: cannot read {tmp_path / 'missing.jsonl'}: No such file or directory"


def test_an_archive_given_twice_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", [envelope("s", call("Incoming", t("10:00:00")))])
    with pytest.raises(ReplayError, match=r"a\.jsonl is given twice"):
        replay_local([path, str(tmp_path / "." / "a.jsonl")], str(tmp_path / "out"))


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", [envelope("s", call("Incoming", t("10:00:00")))])
    done = run_cli("replay", path, "--out", str(tmp_path / "o"), "--workers", "2")
    assert (done.returncode, done.stderr.strip()) == \
        (2, "session-fsm: --scheduler and --workers need --engine dask")
    done = run_cli("replay", path, "--out", str(tmp_path / "o"), "--last-chunk")
    assert (done.returncode, done.stderr.strip()) == \
        (2, "session-fsm: --last-chunk needs --checkpoint-dir")


# --- a simulated archive ------------------------------------------------------------------


class Archive:
    """A simulated stream: its lines in recording order, and the same lines as two time
    chunks of RECORDERS archives each (the second chunk's first archive gzipped)."""

    def __init__(self, root: Path) -> None:
        simulation = Simulation(AGENTS, SEED, MINUTES)
        self.lines = list(simulation.lines())
        self.expected = simulation.expected()
        half = len(self.lines) // 2
        self.chunks = [self._write(root / "day1", self.lines[:half], gz=False),
                       self._write(root / "day2", self.lines[half:], gz=True)]

    @staticmethod
    def _write(directory: Path, lines: list[bytes], *, gz: bool) -> list[str]:
        directory.mkdir()
        shards: list[list[bytes]] = [[] for _ in range(RECORDERS)]
        for line in lines:
            shards[zlib.crc32(orjson.loads(line)["session"].encode()) % RECORDERS].append(line)
        paths = []
        for n, shard in enumerate(shards):
            data = b"".join(shard)
            if gz and n == 0:
                path = directory / f"recorder-{n}.jsonl.gz"
                path.write_bytes(gzip.compress(data))
            else:
                path = directory / f"recorder-{n}.jsonl"
                path.write_bytes(data)
            paths.append(str(path))
        return paths

    @property
    def archives(self) -> list[str]:
        return [*self.chunks[0], *self.chunks[1]]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    return Archive(tmp_path_factory.mktemp("archive"))


@pytest.fixture(scope="module")
def whole(archive: Archive, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("whole")
    replay_local(archive.archives, str(out))
    return out


def tables(out: Path) -> dict[str, list[dict[str, Any]]]:
    return {name: rows(out, name) for name in TABLES}


def chunked_tables(day1: Path, day2: Path) -> dict[str, list[dict[str, Any]]]:
    """Two chunks' tables put together: rows added up, each session's latest snapshot."""
    first, second = tables(day1), tables(day2)
    latest = {r["session"]: r for r in first["snapshots"]}
    latest.update({r["session"]: r for r in second["snapshots"]})
    together = {"snapshots": [latest[key] for key in sorted(latest)]}
    orders = {"contacts": ("session", "event_index", "contact_id"),
              "contact_steps": ("session", "event_index"),
              "agent_states": ("session", "event_index"),
              "violations": ("session", "event_index", "ordinal")}
    for name, order in orders.items():
        together[name] = sorted(first[name] + second[name],
                                key=lambda r, o=order: tuple(r[c] for c in o))  # type: ignore[misc]
    return together


def test_the_simulated_archive_is_a_few_thousand_sessions_over_several_archives(
        archive: Archive, whole: Path) -> None:
    assert len(archive.expected) == AGENTS >= 2000
    assert len(archive.archives) == 2 * RECORDERS
    assert len(rows(whole, "snapshots")) == AGENTS


def test_whole_replay_equals_the_recording_fed_in_order(archive: Archive, whole: Path) -> None:
    """Each session's events are split over archives and chunks, yet come back in the
    order they were recorded: every session's snapshot is what feeding the recording
    line by line gives, and what the simulator says it did."""
    sessions: dict[str, AgentSession] = {}
    for number, line in enumerate(archive.lines, 1):
        data = orjson.loads(line)
        session = sessions.setdefault(data["session"], AgentSession(data["session"]))
        for event in data.get("events") or [data["event"]]:
            session.feed(event, batch=number)
    for session in sessions.values():
        session.finish()
    replayed = {r["session"]: orjson.loads(r["snapshot"]) for r in rows(whole, "snapshots")}
    assert replayed == {key: to_json(s.snapshot()) for key, s in sessions.items()}
    for key, expected in archive.expected.items():
        assert (replayed[key]["session"]["status"], replayed[key]["events"]) == \
            (expected.status, expected.events)


def test_local_partitions_on_disk_write_the_same_tables(archive: Archive, whole: Path,
                                                         tmp_path: Path) -> None:
    """Folded four groups of sessions at a time (as a big archive is), not all at once."""
    out = tmp_path / "out"
    summary = replay_local(archive.archives, str(out), partitions=4)
    assert summary.partitions == 4
    assert len(list((out / "snapshots").glob("part-*.parquet"))) == 4
    for name in TABLES:
        assert read_table(str(out), name).equals(read_table(str(whole), name)), name


def test_two_chunks_with_a_checkpoint_equal_one_whole_replay(
        archive: Archive, whole: Path, tmp_path: Path) -> None:
    day1, day2, ckpt = tmp_path / "day1", tmp_path / "day2", tmp_path / "ckpt"
    first = replay_local(archive.chunks[0], str(day1), checkpoint_dir=str(ckpt))
    assert first.fold.carried > 100  # most sessions go on into the second chunk
    # sessions still open are not finished: their last interval is not written yet
    open_keys = {r["session"] for r in rows(day1, "snapshots") if r["status"] != "ended"}
    assert len(open_keys) == first.fold.carried
    second = replay_local(archive.chunks[1], str(day2), checkpoint_dir=str(ckpt),
                          last_chunk=True)
    assert second.fold.carried == 0
    assert first.fold.events + second.fold.events == sum(e.events
                                                         for e in archive.expected.values())
    assert chunked_tables(day1, day2) == tables(whole)


def test_a_chunk_that_failed_half_way_is_run_again_from_the_same_checkpoints(
        archive: Archive, whole: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second chunk dies after writing two of its three partitions (tables and carried
    checkpoints half written); running it again, partitioned otherwise, gives the tables
    of one whole replay: nothing of the failed run is left to count twice."""
    from session_fsm.io import replay

    day1, day2, ckpt = tmp_path / "day1", tmp_path / "day2", str(tmp_path / "ckpt")
    replay_local(archive.chunks[0], str(day1), checkpoint_dir=ckpt)
    fold = replay.fold_table

    def dies_on_the_third(table: Any, number: int, *args: Any, **kwargs: Any) -> Any:
        if number == 2:
            raise MemoryError("killed")
        return fold(table, number, *args, **kwargs)

    monkeypatch.setattr(replay, "fold_table", dies_on_the_third)
    with pytest.raises(MemoryError):
        replay_local(archive.chunks[1], str(day2), checkpoint_dir=ckpt, partitions=3)
    assert len(list((day2 / "contact_steps").glob("*.parquet"))) == 2
    monkeypatch.setattr(replay, "fold_table", fold)
    replay_local(archive.chunks[1], str(day2), checkpoint_dir=ckpt, last_chunk=True)
    assert chunked_tables(day1, day2) == tables(whole)


def test_a_checkpoint_dir_refuses_an_archive_twice_and_any_chunk_after_the_last(
        tmp_path: Path) -> None:
    ckpt = str(tmp_path / "ckpt")
    day1, day2, day3 = (write(tmp_path / f"{name}.jsonl", [envelope("s", call("Incoming", at))])
                        for name, at in (("d1", t("10:00:00")), ("d2", t("11:00:00")),
                                         ("d3", t("12:00:00"))))
    done = run_cli("replay", day1, "--out", str(tmp_path / "a"), "--checkpoint-dir", ckpt)
    assert done.returncode == 0, done.stderr
    done = run_cli("replay", day1, "--out", str(tmp_path / "b"), "--checkpoint-dir", ckpt)
    assert (done.returncode, done.stderr.strip()) == \
        (2, f"session-fsm: {day1} was already replayed into {ckpt} (generation 1)")
    done = run_cli("replay", day2, "--out", str(tmp_path / "c"), "--checkpoint-dir", ckpt,
                   "--last-chunk")
    assert done.returncode == 0, done.stderr
    # the call carried from day 1 was still open: the last chunk writes its open step
    assert [(r["status"], r["event_index"]) for r in rows(tmp_path / "a", "contact_steps")] \
        == []
    assert [(r["status"], r["event_index"]) for r in rows(tmp_path / "c", "contact_steps")] \
        == [("Incoming", 0)]
    done = run_cli("replay", day3, "--out", str(tmp_path / "d"), "--checkpoint-dir", ckpt)
    assert (done.returncode, done.stderr.strip()) == (
        2, f"session-fsm: {ckpt} was closed by a --last-chunk run; use a new --checkpoint-dir")


# --- chunks: a row is written once, by the chunk that settles it -------------------------


def at(clock: str) -> datetime:
    return datetime.fromisoformat(t(clock))


def test_a_step_and_an_interval_open_at_a_chunk_end_are_written_by_the_chunk_that_ends_them(
        tmp_path: Path) -> None:
    """Day 1 ends with the call Active and the agent in an ACW that began before the
    call's end came: both are still open, so day 1 writes neither. Day 2 ends the call
    (FinalState True, which links the ACW to it) and the ACW (Available at 10:01:30):
    its rows carry the ends and durations, worked out from the timestamps below."""
    s = "agent-1"
    acw = {**state("Unavailable", t("10:01:00")), "IsAcw": "True"}
    day1 = write(tmp_path / "day1.jsonl", [
        envelope(s, {"Type": "AgentSessionStart", "AgentId": "12214", "SessionId": "1"}),
        envelope(s, state("Available", t("10:00:00"))),  # event 1
        envelope(s, call("Incoming", t("10:00:10"))),  # 2
        envelope(s, state("InboundContact", t("10:00:12"))),  # 3
        envelope(s, call("Active", t("10:00:12"))),  # 4
        envelope(s, acw),  # 5
    ])
    day2 = write(tmp_path / "day2.jsonl", [
        envelope(s, call("Disconnected", t("10:01:00"), final=True)),  # 6
        envelope(s, state("Available", t("10:01:30"))),  # 7
        envelope(s, {"Type": "AgentSessionEnd", "Success": "True", "Message": ""}),  # 8
    ])
    out1, out2, ckpt = tmp_path / "out1", tmp_path / "out2", str(tmp_path / "ckpt")
    assert replay_local([day1], str(out1), checkpoint_dir=ckpt).fold.carried == 1
    assert replay_local([day2], str(out2), checkpoint_dir=ckpt).fold.carried == 0  # ended

    def steps(out: Path) -> list[tuple[Any, ...]]:
        return [(r["status"], r["event_index"], r["final"], r["ended"], r["duration_s"])
                for r in rows(out, "contact_steps")]

    def states(out: Path) -> list[tuple[Any, ...]]:
        return [(r["state"], r["event_index"], r["is_acw"], r["ended"], r["duration_s"],
                 r["acw_contact_id"]) for r in rows(out, "agent_states")]

    assert steps(out1) == [("Incoming", 2, False, at("10:00:12"), 2.0)]
    assert steps(out2) == [("Active", 4, False, at("10:01:00"), 48.0),
                           ("Disconnected", 6, True, None, None)]
    assert states(out1) == [("Available", 1, False, at("10:00:12"), 12.0, None),
                            ("InboundContact", 3, False, at("10:01:00"), 48.0, None)]
    assert states(out2) == [("Unavailable", 5, True, at("10:01:30"), 30.0, "1569815"),
                            ("Available", 7, False, None, None, None)]
    whole = tmp_path / "whole"
    replay_local([day1, day2], str(whole))
    assert chunked_tables(out1, out2) == tables(whole)


@pytest.mark.parametrize("chunked", [False, True], ids=["whole", "chunked"])
def test_redeliveries_and_a_status_after_the_close_are_rows_wherever_the_chunks_end(
        tmp_path: Path, chunked: bool) -> None:
    """A redelivery changes nothing (no change in the stream) but is a duplicate-event
    violation of the session, so it is a row of the violations table; a status after
    the call's FinalState True is its contact-after-final, not a step row. The
    ordinals are the violations' places in the session's list, in the order they were
    found: the two redeliveries (events 1 and 4), the status after the close (5), then
    the end of the input finds no AgentSessionStart (reported at event 0)."""
    s = "agent-1"
    available = envelope(s, state("Available", t("10:00:00")))
    closed = envelope(s, call("Disconnected", t("10:00:20"), final=True))
    day1 = write(tmp_path / "day1.jsonl", [
        available, available, envelope(s, call("Incoming", t("10:00:10"))), closed])
    day2 = write(tmp_path / "day2.jsonl", [
        closed,
        envelope(s, {**call("Disconnected", t("10:00:25"), final=True),
                     "DisconnectCode": "Abandoned"}),
    ])
    if chunked:
        outs = [tmp_path / "out1", tmp_path / "out2"]
        ckpt = str(tmp_path / "ckpt")
        replay_local([day1], str(outs[0]), checkpoint_dir=ckpt)
        replay_local([day2], str(outs[1]), checkpoint_dir=ckpt, last_chunk=True)
    else:
        outs = [tmp_path / "out"]
        replay_local([day1, day2], str(outs[0]))

    def together(name: str, *columns: str) -> list[tuple[Any, ...]]:
        return [tuple(r[c] for c in columns) for out in outs for r in rows(out, name)]

    violations = together("violations", "rule", "event_index", "ordinal", "source")
    assert sorted(violations, key=lambda v: (v[1], v[2])) == [
        ("no-session-start", 0, 3, f"{day1}:1"),
        ("duplicate-event", 1, 0, f"{day1}:2"),
        ("duplicate-event", 4, 1, f"{day2}:1"),
        ("contact-after-final", 5, 2, f"{day2}:2"),
    ]
    assert together("contact_steps", "status", "event_index", "final", "disconnect_code",
                    "duration_s") == [
        ("Incoming", 2, False, "NA", 10.0),
        ("Disconnected", 3, True, "NA", None),
    ]
    if chunked:  # each violation is written by the chunk that found it
        assert [v[1] for v in violations] == [1, 0, 4, 5]


def carried_part(ckpt: Path) -> Path:
    part, = ckpt.glob("gen-*/part-*.parquet")
    return part


def rewrite_carried(part: Path, change: Any) -> None:
    """Replace the carried row's raw checkpoint with ``change(its JSON)``."""
    table = pq.read_table(part)
    data = orjson.loads(table.column("raw")[0].as_py())
    raw = change(data)
    column = table.schema.get_field_index("raw")
    pq.write_table(table.set_column(column, "raw", pa.array([raw], pa.binary())), part)


def set_in(path: tuple[Any, ...], value: Any) -> Any:
    def change(data: Any) -> bytes:
        target = data
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        return orjson.dumps(data)
    return change


@pytest.mark.parametrize(("change", "problem"), [
    (lambda data: b"{not json", "is not JSON"),
    (lambda data: orjson.dumps({**data, "written": {}}),
     "is not a carried session (an object of 'session', 'history' and 'contacts')"),
    (set_in(("session", "events"), -1), "is damaged: session.events: "),
    (set_in(("history", "timeline", 0, "start"), "yesterday"),
     "is damaged: history.timeline[0].start: "),
    (set_in(("history", "key"), "agent-2"),
     "is damaged: history.key: expected the row's session 'agent-1', got 'agent-2'"),
    (set_in(("history", "contacts", 0, "final"), True),
     "is damaged: history.contacts[0].final: expected an open contact"),
], ids=["not-json", "other-keys", "session-field", "history-field", "other-session",
        "closed-contact"])
def test_a_damaged_carried_session_stops_the_next_chunk_with_its_part_row_and_field(
        tmp_path: Path, change: Any, problem: str) -> None:
    """Exit 2 and one line naming the checkpoint part, the row, the session and the
    damaged field; the failed chunk commits nothing, so once the part is whole again the
    same chunk runs."""
    s = "agent-1"
    day1 = write(tmp_path / "day1.jsonl", [envelope(s, state("Available", t("10:00:00"))),
                                           envelope(s, call("Incoming", t("10:00:10")))])
    day2 = write(tmp_path / "day2.jsonl", [envelope(s, call("Active", t("10:00:20")))])
    ckpt = tmp_path / "ckpt"
    replay_local([day1], str(tmp_path / "out1"), checkpoint_dir=str(ckpt))
    part = carried_part(ckpt)
    whole = part.read_bytes()
    rewrite_carried(part, change)
    done = run_cli("replay", day2, "--out", str(tmp_path / "out2"), "--checkpoint-dir",
                   str(ckpt), "--last-chunk")
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"session-fsm: checkpoint {part} (row 1, session 'agent-1') "
                           f"{problem}"), last
    part.write_bytes(whole)
    done = run_cli("replay", day2, "--out", str(tmp_path / "out2"), "--checkpoint-dir",
                   str(ckpt), "--last-chunk")
    assert done.returncode == 0, done.stderr
    assert [(r["status"], r["duration_s"]) for r in rows(tmp_path / "out2", "contact_steps")] \
        == [("Incoming", 10.0), ("Active", None)]


def test_a_checkpoint_dir_of_another_version_is_refused(tmp_path: Path) -> None:
    """Version 1 carried "written" marks, not pending rows: not guessed at."""
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "state.json").write_bytes(orjson.dumps({
        "format": "session_fsm.io.replay-checkpoints", "version": 1, "generation": 1,
        "archives": [], "closed": False}))
    path = write(tmp_path / "a.jsonl", [envelope("s", call("Incoming", t("10:00:00")))])
    with pytest.raises(ReplayError, match=r"state\.json: written by another version of "
                       r"session-fsm \(checkpoint state version 1; this one reads 3\)"):
        replay_local([path], str(tmp_path / "out"), checkpoint_dir=str(ckpt))


# --- Dask ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    pytest.importorskip("dask.dataframe", reason="the dask extra (session-fsm[dask]) is not "
                        "installed")
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local:
        yield local.scheduler_address


def test_dask_writes_the_same_tables_row_for_row(archive: Archive, whole: Path, cluster: str,
                                                  tmp_path: Path) -> None:
    from session_fsm.io.replay_dask import replay_dask

    out = tmp_path / "dask"
    summary = replay_dask(archive.archives, str(out), scheduler=cluster, partitions=5)
    assert summary.partitions == 5
    assert len(list((out / "contact_steps").glob("part-*.parquet"))) == 5
    for name in TABLES:
        assert read_table(str(out), name).equals(read_table(str(whole), name)), name


def test_dask_chunks_with_a_checkpoint_equal_one_whole_replay(
        archive: Archive, whole: Path, cluster: str, tmp_path: Path) -> None:
    from session_fsm.io.replay_dask import replay_dask

    day1, day2, ckpt = tmp_path / "day1", tmp_path / "day2", str(tmp_path / "ckpt")
    replay_dask(archive.chunks[0], str(day1), scheduler=cluster, checkpoint_dir=ckpt)
    replay_dask(archive.chunks[1], str(day2), scheduler=cluster, checkpoint_dir=ckpt,
                last_chunk=True)
    assert chunked_tables(day1, day2) == tables(whole)


def test_the_command_on_a_running_scheduler(archive: Archive, whole: Path, cluster: str,
                                            tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run_cli("replay", "--engine", "dask", "--scheduler", cluster, *archive.archives,
                   "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    summary = orjson.loads(done.stdout)
    assert (summary["engine"], summary["sessions"]) == ("dask", AGENTS)
    assert "session-fsm: replay: folded" in done.stderr
    assert tables(out) == tables(whole)
