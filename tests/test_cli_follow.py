"""``session-fsm follow`` as a user runs it: a subprocess against a real local server."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import helpers as h
import orjson
import pytest
from get_next_event_server import (
    BEFORE_END,
    BOUND_S,
    FINAL,
    FIRST_ID,
    R3,
    ROTATED_ID,
    Reply,
    ScriptServer,
    follow_command,
    interrupted,
    loopback_env,
    replayed_snapshot,
    session_script,
    without_key,
)
from store_helpers import assert_same_histories, file_histories

from session_fsm.cli import cli, main
from session_fsm.engine.snapshot import CONTRACT_KEYS
from session_fsm.views.history import StateFilter


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("Bearer fresh\n")
    return path


def test_follow_json_to_the_409(token_file: Path, tmp_path: Path) -> None:
    record = tmp_path / "live.jsonl"
    with ScriptServer(session_script(failures=False)) as server:
        done = subprocess.run(follow_command(server, token_file, "--json", "--record", str(record)),
                              capture_output=True, timeout=BOUND_S, env=loopback_env(), check=False)
        seen = server.seen
    assert done.returncode == 0, done.stderr
    lines: list[dict[str, Any]] = [orjson.loads(line) for line in done.stdout.splitlines()]
    # one line per applied response (six) and one for the end, each a full snapshot entry
    assert len(lines) == 7
    assert all(tuple(line) == CONTRACT_KEYS for line in lines)
    assert all(line["key"] == FIRST_ID for line in lines)
    assert without_key(lines[-1]) == FINAL
    assert without_key(lines[-2]) == BEFORE_END
    # R1..R6 hold 3, 2, 2, 1, 2, 2 events; the 409 is applied as one more (HttpSessionEnded)
    assert [line["events"] for line in lines] == [3, 5, 7, 8, 10, 12, 13]
    assert [s.session_id for s in seen] == [FIRST_ID] * 3 + [ROTATED_ID] * 6
    assert {s.authorization for s in seen} == {"Bearer fresh"}  # "Bearer " in the file is fine

    # the recording holds every 200 and the 409's line
    assert replayed_snapshot(record, env=loopback_env(), timeout=BOUND_S) == FINAL

    # the 409's line is no violation: 13 events, none reported, exit 0
    validated = subprocess.run(
        [sys.executable, "-m", "session_fsm", "validate", str(record), "--json"],
        capture_output=True, timeout=BOUND_S, env=loopback_env(), check=False)
    assert validated.returncode == 0, validated.stderr
    assert orjson.loads(validated.stdout) == {"events": 13, "errors": 0, "warnings": 0,
                                              "violations": []}


def test_follow_human_output_when_piped(token_file: Path) -> None:
    with ScriptServer(session_script(failures=False)) as server:
        done = subprocess.run(follow_command(server, token_file), capture_output=True,
                              timeout=BOUND_S, env=loopback_env(), check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert "ended (409)" in out
    assert "agent: Available since 2013-09-11T05:08:50.000Z" in out
    assert "session ended (409) after 6 responses" in done.stderr.decode()
    assert b"Traceback" not in done.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_cleanly_and_says_where_to_resume(
        token_file: Path, signum: int) -> None:
    """A server that only idles (slow 304s) after rotating the id; SIGINT (Ctrl-C) or
    SIGTERM (a service manager's stop) mid-poll: the same clean stop, the same line."""
    rotate = {"sessionId": ROTATED_ID, "events": [h.session_start()]}
    with ScriptServer([Reply(200, rotate)], then=Reply(304, delay_s=0.3)) as server:
        # the rotation applied and two idle polls made: it is following
        code, out, err = interrupted(follow_command(server, token_file, "--json"), server,
                                     after_requests=3, env=loopback_env(), signum=signum)
    assert code == 130
    assert f"resume with --session-id {ROTATED_ID}" in err.decode()
    assert b"Traceback" not in err
    (line,) = out.splitlines()
    assert orjson.loads(line)["session"]["status"] == "active"


def test_giving_up_exits_2_with_one_line(token_file: Path) -> None:
    with ScriptServer([], then=Reply(404, b"unknown session")) as server:
        done = subprocess.run(follow_command(server, token_file, "--json"), capture_output=True,
                              timeout=BOUND_S, env=loopback_env(), check=False)
    assert done.returncode == 2
    (line,) = done.stderr.decode().splitlines()
    assert line.startswith("session-fsm: HTTP 404 from ")
    assert f"resume from session id {FIRST_ID}" in line


def test_a_missing_token_file_exits_2_with_one_line(tmp_path: Path) -> None:
    with ScriptServer([]) as server:
        done = subprocess.run(follow_command(server, tmp_path / "nowhere"), capture_output=True,
                              timeout=BOUND_S, env=loopback_env(), check=False)
        assert server.seen == []
    assert done.returncode == 2
    (line,) = done.stderr.decode().splitlines()[-1:]
    assert "cannot read the bearer token" in line
    assert "nowhere" in line


def test_db_keeps_the_recorded_session_in_the_store(token_file: Path, tmp_path: Path) -> None:
    from session_fsm.io.store import Store

    record, db = tmp_path / "live.jsonl", tmp_path / "store.db"
    with ScriptServer(session_script(failures=False)) as server:
        done = subprocess.run(follow_command(server, token_file, "--json", "--record", str(record),
                                      "--db", str(db)),
                              capture_output=True, timeout=BOUND_S, env=loopback_env(), check=False)
    assert done.returncode == 0, done.stderr
    with Store(db, create=False) as store:
        assert store.keys() == [str(record)]  # a recording's events are keyed by its path
        assert store.event_count() == 13  # 12 from the 200s, and the 409's HttpSessionEnded
        assert list(store.events(str(record)))[-1] == {
            "Type": "session_fsm.HttpSessionEnded", "HttpStatus": "409", "SessionId": ROTATED_ID}
        replayed = store.replay(str(record))
        assert (replayed.info.status, replayed.info.end_reason) == ("ended", "409")
        assert replayed.violations == []
        ((key, call),) = store.contact("1569815")
        assert key == str(record)
        assert call.closed
        assert [(s.status, s.final, s.event_index) for s in call.steps] == [
            ("Incoming", False, 5), ("Active", False, 7), ("Disconnected", False, 8),
            ("Disconnected", True, 10)]
        # stored response by response as an ingest of the recording stores it: that adds
        # nothing, and the histories are the recording's
        assert store.ingest([str(record)]).added == 0
    assert_same_histories(db, file_histories(record))


def test_db_goes_on_where_an_earlier_run_stopped(token_file: Path, tmp_path: Path) -> None:
    from session_fsm.io.store import Store

    record, db = tmp_path / "live.jsonl", tmp_path / "store.db"
    for run_number in (1, 2):
        with ScriptServer(session_script(failures=False)) as server:
            done = subprocess.run(follow_command(server, token_file, "--json", "--record",
                                                 str(record), "--db", str(db)),
                                  capture_output=True, timeout=BOUND_S, env=loopback_env(),
                                  check=False)
        assert done.returncode == 0, done.stderr
        if run_number == 1:
            # a line recorded but never stored, as by a follow killed between the two
            late = {"sessionId": ROTATED_ID, "events": [
                h.agent_state("Unavailable", at="2013-09-11T05:09:00.000Z", out_reason="Lunch")]}
            with record.open("ab") as out:
                out.write(orjson.dumps(late) + b"\n")
    assert len(record.read_bytes().splitlines()) == 7 + 1 + 7
    with Store(db, create=False) as store:
        # the second run stored the late line when it started, then its own after it
        assert store.event_count() == 13 + 1 + 13
        assert store.ingest([str(record)]).added == 0
        lunch = store.agent_states(StateFilter(out_reason="Lunch"))
        assert [i.start for _, i in lunch] == [h.utc(2013, 9, 11, 5, 9, 0)]
    # the histories of the whole recording ingested in one go. (Not those of `history
    # FILE`: the second run's call 1569815 comes after its FinalState True, once the
    # store has let it go, so its statuses are violations, not steps of its history.)
    with Store(tmp_path / "whole.db") as whole:
        whole.ingest([str(record)])
        expected = list(whole.histories())
    assert_same_histories(db, expected)


def test_db_numbers_its_lines_after_a_cut_last_line(tmp_path: Path) -> None:
    """A recording whose last line was cut (a writer killed mid-line) gets its newline
    back, so the next response is a line of its own, numbered as the reader numbers it."""
    from session_fsm.cli.follow import _Recorder
    from session_fsm.io.store import Store

    record, db = tmp_path / "live.jsonl", tmp_path / "store.db"
    first = orjson.dumps({"sessionId": FIRST_ID, "events": [h.session_start()]})
    record.write_bytes(first + b"\n" + b'{"sessionId": "x", "eve')
    skipped: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("session_fsm.cli.follow._warn", skipped.append)
        recorder = _Recorder(record, Store(db))
        assert recorder.lines == 2
        nxt = orjson.dumps({"sessionId": FIRST_ID, "events": [
            h.agent_state("Available", at="2013-09-11T05:02:00.000Z")]})
        recorder(nxt)
        recorder.close()
    assert record.read_bytes() == first + b'\n{"sessionId": "x", "eve\n' + nxt + b"\n"
    assert len(skipped) == 1  # the cut line, reported by the ingest at the start
    assert skipped[0].startswith(f"not stored: {record}:2: not valid JSON")
    with Store(db) as store:
        assert store.event_count() == 2
        assert [e["Type"] for e in store.events(str(record))] == ["AgentSessionStart",
                                                                 "AgentState"]
        # the response went in as line 3: an ingest of the recording finds it there
        assert store.ingest([str(record)], skip_bad=True).added == 0


def test_a_store_that_fails_stops_follow_naming_the_id_to_resume_from(
        token_file: Path, tmp_path: Path) -> None:
    from session_fsm.io.store import Store

    record, db = tmp_path / "live.jsonl", tmp_path / "store.db"
    Store(db).close()
    lock = tmp_path / "store.db.lock"
    lock.unlink()
    lock.mkdir()  # the store's writer lock cannot be taken
    with ScriptServer(session_script(failures=False)) as server:
        done = subprocess.run(follow_command(server, token_file, "--json", "--record",
                                             str(record), "--db", str(db)),
                              capture_output=True, timeout=BOUND_S, env=loopback_env(),
                              check=False)
    assert done.returncode == 2
    (line,) = done.stderr.decode().splitlines()
    assert line == (f"session-fsm: cannot record response 1: {db}: cannot open its lock file "
                    f"{lock} (Is a directory); nothing of it applied (resume from session id "
                    f"{FIRST_ID})")
    assert done.stdout == b""  # nothing applied, nothing shown
    assert record.read_bytes() == b""  # and nothing recorded: it could not be stored


def test_a_store_failing_mid_session_leaves_recording_and_store_equal(
        token_file: Path, tmp_path: Path) -> None:
    from session_fsm.io.store import Store

    record, db = tmp_path / "live.jsonl", tmp_path / "store.db"
    lock = tmp_path / "store.db.lock"

    def break_the_lock() -> None:
        lock.unlink()
        lock.mkdir()

    script = session_script(failures=False)
    (third,) = [n for n, reply in enumerate(script) if reply.body is R3]
    script[third] = Reply(200, R3, before=break_the_lock)
    with ScriptServer(script) as server:
        done = subprocess.run(follow_command(server, token_file, "--json", "--record",
                                             str(record), "--db", str(db)),
                              capture_output=True, timeout=BOUND_S, env=loopback_env(),
                              check=False)
    assert done.returncode == 2
    (line,) = done.stderr.decode().splitlines()
    assert line.startswith(f"session-fsm: cannot record response 3: {db}: cannot open its "
                           f"lock file {lock} (Is a directory); nothing of it applied")
    assert line.endswith(f"(resume from session id {ROTATED_ID})")  # R2 rotated it
    assert len(done.stdout.splitlines()) == 2  # R1 and R2 applied and shown
    assert len(record.read_bytes().splitlines()) == 2  # and recorded, R3 not
    lock.rmdir()
    with Store(db, create=False) as store:
        assert store.event_count() == 3 + 2  # and stored
        assert store.ingest([str(record)]).added == 0
    # the resume state could not be saved at the end either: it is R1's, and the rows
    # are current (the next events applied re-apply R2's from that state)
    assert_same_histories(db, file_histories(record), saved=False)


def test_db_needs_record(token_file: Path, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["follow", "--base-url", "http://127.0.0.1:9", "--session-id", "x",
              "--token-file", str(token_file), "--db", str(tmp_path / "store.db")])
    assert exited.value.code == 2
    assert capsys.readouterr().err == ("session-fsm: --db needs --record FILE: the store "
                                       "ingests the recording\n")
    assert not (tmp_path / "store.db").exists()


def test_help_has_examples() -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["follow", "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output
    assert "--record" in result.output


def test_a_token_file_with_two_lines_exits_2_with_one_line_and_no_request(tmp_path: Path) -> None:
    """An access and a refresh token in one file: before, httpx refused the header and the
    whole token was printed on every retry and in the final error."""
    token_file = tmp_path / "token"
    token_file.write_text("TOKEN-SECRET-5f3a9c\nREFRESH-SECRET-5f3a9c\n")
    with ScriptServer([]) as server:
        done = subprocess.run(follow_command(server, token_file, "--max-retries", "1"),
                              capture_output=True, timeout=BOUND_S, env=loopback_env(),
                              check=False)
        assert server.seen == []
    assert done.returncode == 2
    assert done.stderr.decode().splitlines()[-1] == (
        f"session-fsm: cannot read the bearer token: the token in {token_file} holds a line "
        f"break; a token is one line of visible ASCII characters (resume from session id "
        f"{FIRST_ID})")
    assert b"5f3a9c" not in done.stderr + done.stdout


@pytest.mark.parametrize(("session_id", "shown"), [
    ("..", '".."'),
    ("../../elsewhere", '"../../elsewhere"'),
    ("x\x1b[31m", '"x\\x1b[31m"'),
])
def test_a_session_id_that_is_not_a_path_segment_exits_2_before_any_request(
        token_file: Path, session_id: str, shown: str) -> None:
    with ScriptServer([]) as server:
        done = subprocess.run(follow_command(server, token_file, session_id=session_id),
                              capture_output=True, timeout=BOUND_S, env=loopback_env(),
                              check=False)
        assert server.seen == []
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == [
        f"session-fsm: --session-id {shown} is not one plain path segment (1 to 256 of A-Z "
        f"a-z 0-9 . _ ~ -, and not . or ..)"]


def test_server_text_reaches_the_terminal_escaped(token_file: Path) -> None:
    """Before: the escape sequence went to the terminal as it was (clearing the screen)."""
    with ScriptServer([Reply(404, b"no\x1b[2J such\r\nsession\x07")]) as server:
        done = subprocess.run(follow_command(server, token_file), capture_output=True,
                              timeout=BOUND_S, env=loopback_env(), check=False)
    assert done.returncode == 2
    assert done.stderr.decode().splitlines()[-1] == (
        f"session-fsm: HTTP 404 from {server.url}/agent-sessions/{FIRST_ID}/get-next-event: "
        f"no\\x1b[2J such\\r\\nsession\\x07 (resume from session id {FIRST_ID})")
    assert not any(byte in done.stderr for byte in b"\x1b\r\x07")
