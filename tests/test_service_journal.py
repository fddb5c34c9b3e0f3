"""The service's write-ahead journal and change log, on their own (the service's crash
test, ``test_serve_crash.py``, runs them under SIGKILL)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

import helpers as h
import orjson
import pytest
from get_next_event_server import loopback_env

from session_fsm.errors import JournalError
from session_fsm.io.service.changelog import BLOCK_LINES, ChangeLog
from session_fsm.io.service.hub import Hub
from session_fsm.io.service.journal import JOURNAL_FILE, Entry, Journal

# --- the change log ------------------------------------------------------------------------


def test_the_log_keeps_exactly_the_last_n_by_consecutive_id() -> None:
    log = ChangeLog(keep=1_500, next_id=1_000)
    for n in range(3 * BLOCK_LINES + 7):  # 3,079 lines: three sealed blocks and an open one
        assert log.append(b"line %d" % n) == 1_000 + n
    assert log.last_id == 1_000 + 3 * BLOCK_LINES + 6  # 4,078
    assert log.first_id == 4_079 - 1_500  # 2,579
    assert len(log) == 1_500
    # across the sealed blocks and the open one, and clipped to what is kept
    assert list(log.lines(2_570, 2_582)) == [(i, b"line %d" % (i - 1_000))
                                             for i in range(2_579, 2_582)]
    tail = list(log.lines(4_070, 10_000))
    assert tail == [(i, b"line %d" % (i - 1_000)) for i in range(4_070, 4_079)]
    assert log.kept_lines()[0] == b"line 1579"
    # blocks entirely before the window are gone: the first held block starts at or
    # after 2,579 - 1,023
    assert log._blocks[0].first_id > 2_579 - BLOCK_LINES


def test_an_empty_log_says_one_before_its_first_id() -> None:
    log = ChangeLog(keep=10, next_id=500)
    assert (log.first_id, log.last_id, len(log)) == (500, 499, 0)
    assert list(log.lines(0, 1_000)) == []


# --- the journal ---------------------------------------------------------------------------


def entries() -> list[Entry]:
    return [Entry(1, {"kind": "push", "session": "a", "number": 1, "max_line_bytes": 99},
                  b'{"Type":"AgentLeg"}\n'),
            Entry(2, {"kind": "answer", "key": "b", "number": 7, "ends": False},
                  b'{"sessionId":"9","events":[]}'),
            Entry(3, {"kind": "push", "session": None, "number": 2, "max_line_bytes": 99},
                  b"\x00\xff binary survives\n")]


def test_what_is_appended_is_recovered_whole(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append(entries()[:2])
    journal.append(entries()[2:])
    journal.close()
    again = Journal(tmp_path)
    assert again.recover() == entries()
    assert again.size == (tmp_path / JOURNAL_FILE).stat().st_size


def test_a_torn_last_frame_is_cut_off_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    journal = Journal(tmp_path)
    journal.append(entries())
    journal.close()
    path = tmp_path / JOURNAL_FILE
    whole = path.read_bytes()
    frame = entries()[2].frame()
    path.write_bytes(whole[:-5])  # the last write interrupted 5 bytes before its end
    with caplog.at_level(logging.WARNING, logger="session_fsm.io.service"):
        assert Journal(tmp_path).recover() == entries()[:2]
    assert f"cut off a torn last frame at byte {len(whole) - len(frame)}" in caplog.text
    assert path.read_bytes() == whole[:-len(frame)]  # gone from the file too
    assert Journal(tmp_path).recover() == entries()[:2]


def test_damage_before_the_end_is_refused_with_its_place(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append(entries())
    journal.close()
    path = tmp_path / JOURNAL_FILE
    data = bytearray(path.read_bytes())
    first = len(entries()[0].frame())
    data[first + 20] ^= 0xFF  # a flipped bit inside the second frame's payload
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError) as refused:
        Journal(tmp_path).recover()
    assert refused.value.offset == first
    assert str(path) in str(refused.value)
    assert "move it away" in str(refused.value)


def test_serve_refuses_a_damaged_journal_in_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    journal = Journal(state)
    journal.append(entries())
    journal.close()
    data = bytearray((state / JOURNAL_FILE).read_bytes())
    data[10] ^= 0xFF
    (state / JOURNAL_FILE).write_bytes(bytes(data))
    done = subprocess.run([sys.executable, "-m", "session_fsm", "serve", "--port", "0",
                           "--state-dir", str(state)], capture_output=True, text=True,
                          timeout=60, env=loopback_env(), check=False)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "service-journal" in line
    assert "at byte 0" in line
    assert "Traceback" not in done.stderr


# --- the hub: a reader that falls out of the window ---------------------------------------


def test_a_reader_that_falls_behind_the_log_is_told_to_reset() -> None:
    async def main() -> list[bytes]:
        hub = Hub(keep_changes=3, clock=lambda: 1.0)  # ids from 1,000,000
        intake = asyncio.create_task(hub.run())
        body = b"\n".join(orjson.dumps({"session": "a", "event": h.agent_state(state, at=at)})
                          for state, at in [("Available", "08:00:00"),
                                            ("Unavailable", "08:01:00")])
        await hub.take_push(body, None)
        stream = hub.events_after(0)
        first = await anext(stream)  # changes were dropped before this client came
        # more changes than the log keeps arrive while the client is away
        await hub.take_push(body.replace(b"08:0", b"09:0"), None)
        second = await anext(stream)
        # and the next change after the reset reaches it
        await hub.take_push(orjson.dumps({"session": "a", "event": h.agent_state(
            "Available", at="10:00:00")}), None)
        third = await anext(stream)
        hub.drain()
        await intake
        return [first, second, third]

    first, second, third = asyncio.run(main())
    assert first.startswith(b"event: reset\n")
    assert orjson.loads(first.split(b"data: ")[1])["reason"] == \
        "the changes after that id are no longer kept"
    assert second.startswith(b"event: reset\n")
    last = int(second.split(b"\n")[1][4:])
    assert third.startswith(b"id: %d\n" % (last + 1))


# --- the hub: a checkpoint while inputs wait their turn -------------------------------------


def test_a_checkpoint_taken_while_inputs_wait_loses_none_of_them(tmp_path: Path) -> None:
    """A big push is applied in slices; a small one taken meanwhile waits in the queue.
    The checkpoint after the big one (the journal is past ``checkpoint_bytes``) must not
    claim the waiting one: after a crash right after it was acknowledged, the restarted
    hub has both, exactly as the hub that took them."""
    big = b"\n".join(orjson.dumps({"session": "big", "event": h.agent_state(
        "Available" if n % 2 else "Unavailable", at=f"2024-03-04T08:{n // 60 % 60:02d}:"
        f"{n % 60:02d}.{n // 3600:03d}Z")}) for n in range(5_000))
    small = orjson.dumps({"session": "small", "event": h.agent_state(
        "Available", at="2024-03-04T09:00:00.000Z")})

    async def take_both() -> list[str]:
        hub = Hub(state_dir=tmp_path, checkpoint_bytes=1)
        intake = asyncio.create_task(hub.run())
        pushing = asyncio.create_task(hub.take_push(big, None))
        while hub.seq == 0:  # the big push is checked and taken
            await asyncio.sleep(0)
        while not hub.engine.sessions:  # and being applied, slice by slice
            await asyncio.sleep(0)
        await hub.take_push(small, None)  # taken while the big one is applied
        await pushing
        intake.cancel()  # the process dies here: no drain, no final save
        return [orjson.dumps(s).decode() for s in hub.snapshots()]

    before = asyncio.run(take_both())
    assert (tmp_path / "service-state.json").exists()  # a checkpoint was taken

    async def restart() -> list[str]:
        hub = Hub(state_dir=tmp_path)
        hub.load()
        hub.recover()
        return [orjson.dumps(s).decode() for s in hub.snapshots()]

    assert asyncio.run(restart()) == before



def test_snapshots_are_made_again_only_for_sessions_that_moved(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """GET /api/sessions at 10,000 sessions must not make 10,000 snapshots each time: an
    entry is kept with the session's position and the changes it made, and made again
    only when either moved (a redelivery moves the position and makes no change)."""
    from session_fsm.io.service import hub as hub_module

    made: list[str] = []
    real = hub_module.snapshot_json

    def counting(snapshot: object) -> dict[str, object]:
        made.append(snapshot.key)  # type: ignore[attr-defined]
        return real(snapshot)  # type: ignore[arg-type]

    monkeypatch.setattr(hub_module, "snapshot_json", counting)

    def line(key: str, state: str, at: str) -> bytes:
        return orjson.dumps({"session": key, "event": h.agent_state(state, at=at)})

    async def run() -> None:
        hub = Hub()
        intake = asyncio.create_task(hub.run())
        for key in ("a", "b", "c"):
            await hub.take_push(line(key, "Available", "2024-03-04T08:00:00.000Z"), None)
        first = hub.snapshots()
        assert sorted(made) == ["a", "b", "c"]
        assert hub.snapshots() == first  # nothing moved: nothing made again
        assert sorted(made) == ["a", "b", "c"]
        await hub.take_push(line("b", "Unavailable", "2024-03-04T08:01:00.000Z"), None)
        second = hub.snapshots()
        assert made[3:] == ["b"]
        assert second[1]["agent_state"]["state"] == "Unavailable"
        assert second[0] is first[0]
        assert second[2] is first[2]
        # the same event again: a redelivery, no change made, but one more event counted
        await hub.take_push(line("b", "Unavailable", "2024-03-04T08:01:00.000Z"), None)
        third = hub.snapshot("b")
        assert made[4:] == ["b"]
        assert third is not None
        assert third["events"] == second[1]["events"] + 1
        intake.cancel()

    asyncio.run(run())
