"""Hostile input through every way in: real subprocesses, exit codes, no traceback.

Integers longer than ``int()`` will read, a line that never ends, crafted checkpoints:
each is one clear error naming where it is, never a traceback or a run that never ends.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import agent_state, call, session_start

from session_fsm.engine import SessionEngine
from session_fsm.errors import FieldError, Source

BIG = "9" * 5000  # past the 4,300 digits int() reads at all


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "session_fsm", *args], capture_output=True,
                          text=True, timeout=timeout)


def write_lines(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


def at(second: int) -> str:
    return f"2013-09-11T05:00:{second:02d}.000Z"


def big_integer_stream() -> list[dict[str, Any]]:
    """Event 1 has a 5,000-digit AcwTimeout; a call follows, so a skipped line shows."""
    return [session_start(), {**agent_state("Available", at=at(0)), "AcwTimeout": BIG},
            call("1569815", "Incoming", at=at(1))]


# The error, by hand: FieldError shows at most 60 characters of the value.
BIG_FIELD = ("AgentState.AcwTimeout: expected an integer (a string of at most 18 digits), "
             "got '" + "9" * 56 + "...")
# The violation: the field is left out, the rest of the event applied.
BIG_VIOLATION = BIG_FIELD + " (the rest of the event is applied)"


# --- item 8: integers over 4,300 digits ---------------------------------------------------


def test_validate_reports_a_5000_digit_integer_as_bad_field_at_its_index(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "big.jsonl", big_integer_stream())
    done = cli("validate", str(path), "--json")
    assert "Traceback" not in done.stderr
    assert done.returncode == 1, done.stderr
    violations = orjson.loads(done.stdout)["violations"]
    assert [(v["rule"], v["event_index"], v["source"], v["message"]) for v in violations] == [
        ("bad-field", 1, f"{path}:2", BIG_VIOLATION)]


@pytest.mark.parametrize("skip_bad", [(), ("--skip-bad",)], ids=["plain", "skip-bad"])
@pytest.mark.parametrize("command", ["snapshot", "history"])
def test_a_5000_digit_integer_is_left_out_with_one_line(
        tmp_path: Path, command: str, skip_bad: tuple[str, ...]) -> None:
    path = write_lines(tmp_path / "big.jsonl", big_integer_stream())
    done = cli(command, str(path), "--json", *skip_bad)
    assert "Traceback" not in done.stderr
    assert done.returncode == 0, done.stderr
    assert done.stderr == ("session-fsm: 1 field of the wrong kind left out, the rest of their "
                           "events applied (bad-field; validate lists them); first: "
                           f"{path}:2: {BIG_FIELD}\n")
    assert "1569815" in done.stdout  # the call after it was applied


def test_replay_makes_a_5000_digit_integer_a_bad_field_row(tmp_path: Path) -> None:
    from session_fsm.io.replay import read_table

    path = write_lines(tmp_path / "big.jsonl", big_integer_stream())
    done = cli("replay", str(path), "--out", str(tmp_path / "tables"))
    assert "Traceback" not in done.stderr
    assert done.returncode == 0, done.stderr
    rows = read_table(str(tmp_path / "tables"), "violations").to_pylist()
    assert [(r["rule"], r["event_index"], r["source"], r["message"]) for r in rows] == [
        ("bad-field", 1, f"{path}:2", BIG_VIOLATION)]


@pytest.mark.parametrize(("event", "field"), [
    ({**agent_state("Available", at=at(0)), "AcwTimeout": BIG}, "AgentState.AcwTimeout"),
    ({**call("1569815", "Incoming", at=at(1)), "Timeout": BIG}, "CallContactEvent.Timeout"),
    ({"Type": "ChatContactEvent", "ContactID": "7", "Status": "Incoming",
      "RefusalTimeout": BIG}, "ChatContactEvent.RefusalTimeout"),
], ids=["AcwTimeout", "Timeout", "RefusalTimeout"])
def test_the_engine_api_reports_or_raises_a_5000_digit_integer(event: dict[str, Any],
                                                               field: str) -> None:
    engine = SessionEngine()
    engine.feed(session_start(), key="k")
    engine.feed(event, key="k", source=Source("in.jsonl", 2))  # lenient: a violation
    (violation,) = engine.sessions["k"].violations
    assert (violation.rule, violation.event_index) == ("bad-field", 1)
    assert violation.message.startswith(f"{field}: expected an integer (a string of at most "
                                        "18 digits), got '999")
    with pytest.raises(FieldError) as raised:
        engine.feed(event, key="k", source=Source("in.jsonl", 3), on_error="raise")
    assert str(raised.value).startswith(f"in.jsonl:3: {field}: expected an integer")


@pytest.mark.parametrize(("timeout", "start"), [
    ("999999999999", "2013-09-11T05:00:00.000Z"),  # 12 digits: past the year 9999
    ("999999999999999999", "2013-09-11T05:00:00.000Z"),  # 18: past timedelta's own range
    ("5", "9999-12-31T23:59:59.000Z"),  # a few seconds, from the last one there is
], ids=["12-digits", "18-digits", "year-9999"])
def test_an_acw_deadline_past_the_year_9999_is_none(tmp_path: Path, timeout: str,
                                                    start: str) -> None:
    acw = {"Type": "AgentState", "CurrentState": "Unavailable", "CurrentOutReason": "",
           "IsAcw": "True", "AcwTimeout": timeout, "StartTimeUTC": start, "NextStates": []}
    path = write_lines(tmp_path / "acw.jsonl", [session_start(), acw])
    done = cli("snapshot", str(path), "--json")
    assert done.returncode == 0, done.stderr
    (session,) = orjson.loads(done.stdout)["sessions"]
    assert session["agent_state"]["acw_timeout_s"] == int(timeout)
    assert session["agent_state"]["acw_deadline"] is None


# --- item 15: a line that never ends -------------------------------------------------------


@pytest.mark.parametrize("command", ["snapshot", "validate", "history"])
def test_dev_zero_stops_at_once(command: str) -> None:
    # Before: the rest of the over-long line was skipped first, and /dev/zero has no end.
    done = cli(command, "/dev/zero", timeout=30)
    assert "Traceback" not in done.stderr
    message = ("line is longer than max_line_bytes (16777216 bytes): not parsed, and nothing "
               "after it in this input is read")
    if command == "validate":
        assert done.returncode == 2  # reported at its place, and input that was not read
        assert (f"/dev/zero:1: error: not-json: {message} (session /dev/zero, event 0)\n"
                in done.stdout)
        assert done.stderr.startswith(f"session-fsm: unreadable /dev/zero:1: {message}\n")
    else:
        assert done.returncode == 2
        assert done.stderr == (f"session-fsm: /dev/zero:1: {message} (use --skip-bad to skip "
                               "unreadable lines)\n")


@pytest.mark.parametrize("command", ["snapshot", "history"])
def test_dev_zero_ends_with_skip_bad_too(command: str) -> None:
    done = cli(command, "/dev/zero", "--skip-bad", timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        "session-fsm: skipped /dev/zero:1: line is longer than max_line_bytes (16777216 "
        "bytes): not parsed, and nothing after it in this input is read\n"
        "session-fsm: 1 unreadable item skipped\n")


def test_20_mib_without_a_newline_stops_after_the_limit_and_the_next_file_is_read(
        tmp_path: Path) -> None:
    endless = tmp_path / "endless.jsonl"
    with endless.open("wb") as out:
        out.write(orjson.dumps(session_start()) + b"\n")
        out.write(b"x" * (20 * 1024 * 1024))
    after = write_lines(tmp_path / "after.jsonl", [session_start(session_id="2")])
    done = cli("snapshot", str(endless), str(after), "--skip-bad", "--json", timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        f"session-fsm: skipped {endless}:2: line is longer than max_line_bytes (16777216 "
        "bytes): not parsed, and nothing after it in this input is read\n"
        "session-fsm: 1 unreadable item skipped\n")
    sessions = orjson.loads(done.stdout)["sessions"]
    assert [(s["key"], s["session"]["session_id"]) for s in sessions] == [
        (str(endless), "58070815"), (str(after), "2")]


# --- item 10: crafted checkpoints ----------------------------------------------------------


def test_resume_from_a_crafted_checkpoint_is_one_line_and_exit_2(tmp_path: Path) -> None:
    stream = write_lines(tmp_path / "in.jsonl", [session_start(),
                                                 agent_state("Available", at=at(0))])
    checkpoint = tmp_path / "state.ckpt"
    done = cli("snapshot", str(stream), "--checkpoint", str(checkpoint))
    assert done.returncode == 0, done.stderr
    document = orjson.loads(checkpoint.read_bytes())
    document["sessions"][0]["events"] = -1
    checkpoint.write_bytes(orjson.dumps(document))
    done = cli("snapshot", str(stream), "--checkpoint", str(checkpoint), "--resume")
    assert done.returncode == 2
    assert done.stderr == (f"session-fsm: checkpoint {checkpoint} is damaged: sessions[0].events: "
                           "expected an index or count (an integer >= 0), got -1\n")
    assert done.stdout == ""


@pytest.mark.parametrize("command", ["snapshot", "ingest"])
def test_a_checkpoint_past_the_end_of_the_input_is_refused(tmp_path: Path, command: str) -> None:
    stream = write_lines(tmp_path / "in.jsonl", [session_start(),
                                                 agent_state("Available", at=at(0))])
    checkpoint = tmp_path / "state.ckpt"
    store = ["--db", str(tmp_path / "store.sqlite")] if command == "ingest" else []
    done = cli(command, str(stream), *store, "--checkpoint", str(checkpoint))
    assert done.returncode == 0, done.stderr
    document = orjson.loads(checkpoint.read_bytes())
    assert document["position"]["items"] == 2
    document["position"]["items"] = 5  # the input holds 2
    checkpoint.write_bytes(orjson.dumps(document))
    done = cli(command, str(stream), *store, "--checkpoint", str(checkpoint), "--resume")
    assert done.returncode == 2
    assert done.stderr == (f"session-fsm: checkpoint {checkpoint} is past the end of the input: "
                           "it was taken after 5 input items, and these files hold 2\n")
