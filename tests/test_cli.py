"""The command line as a user meets it: real subprocesses, output and exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import agent_state, call, session_start

import session_fsm


def t(minute: int, second: int = 0) -> str:
    return f"2013-09-11T05:{minute:02d}:{second:02d}.000Z"


COMMANDS = ["demo", "snapshot", "validate", "history", "diagrams", "simulate", "ingest",
            "follow", "replay", "changes", "serve", "report", "schema", "publish", "stream"]


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "session_fsm", *args], input=stdin,
                          capture_output=True, timeout=120)


def write_stream(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


CALL_STREAM = [
    session_start(),
    agent_state("Available", at=t(0)),
    call("1569815", "Incoming", at=t(1)),
    agent_state("InboundContact", at=t(1)),
    call("1569815", "Active", at=t(1, 5)),
]


def test_version_says_which_engine_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from session_fsm.engine import engine_name

    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.decode().strip() == \
        f"session-fsm, version {session_fsm.__version__} ({engine_name()} engine)"
    monkeypatch.setenv("SESSION_FSM_ENGINE", "python")
    assert run("--version").stdout.decode().strip().endswith("(python engine)")
    monkeypatch.setenv("SESSION_FSM_ENGINE", "rust")
    assert "expected 'python' or 'native'" in run("--version").stdout.decode()
    done = run("snapshot", "--json", "-")  # a command refuses to run: one line, exit 2
    assert done.returncode == 2
    assert done.stderr.decode().count("\n") == 1
    assert "SESSION_FSM_ENGINE='rust'" in done.stderr.decode()


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples(command: str) -> None:
    done = run(command, "--help")
    assert done.returncode == 0, done.stderr
    assert "Examples:" in done.stdout.decode()


def test_top_level_help_lists_every_command() -> None:
    text = run("--help").stdout.decode()
    # the Commands section itself: its Examples below name some commands too
    section = text.split("\nCommands:\n", 1)[1].split("\n\n", 1)[0]
    assert sorted(line.split()[0] for line in section.splitlines()) == sorted(COMMANDS)


def test_snapshot_human_output_names_the_state_and_the_call(tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "calls.jsonl", CALL_STREAM)
    done = run("snapshot", str(stream))
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode()
    assert "agent: InboundContact since 2013-09-11T05:01:00.000Z" in text
    assert "1569815" in text
    assert "Active" in text
    assert "5 events, 0 violations" in text
    assert "\x1b[" not in text  # piped: no colour codes


def test_snapshot_json_reads_stdin(tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "calls.jsonl", CALL_STREAM)
    done = run("snapshot", "-", "--json", stdin=stream.read_bytes())
    assert done.returncode == 0, done.stderr
    (session,) = orjson.loads(done.stdout)["sessions"]
    assert session["key"] == "-"
    assert session["agent_state"]["state"] == "InboundContact"
    assert [c["status"] for c in session["contacts"]] == ["Active"]


def test_missing_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = run("snapshot", str(tmp_path / "nope.jsonl"))
    assert done.returncode == 2
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("session-fsm: ")
    assert "nope.jsonl" in lines[0]


def test_bad_line_stops_snapshot_with_file_and_line(tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "calls.jsonl", CALL_STREAM)
    with stream.open("ab") as out:
        out.write(b'{"Type": "AgentState", "AcwTimeout": \n')  # cut short: not JSON
    done = run("snapshot", str(stream))
    assert done.returncode == 2
    message = done.stderr.decode()
    assert f"{stream}:6" in message
    assert "not valid JSON" in message
    assert "Traceback" not in message


def test_a_bad_field_is_left_out_and_the_rest_applied(tmp_path: Path) -> None:
    """The input rules (README, "Exit codes"): input errors are lines that are not JSON
    and events that are not objects; a field of the wrong kind is the bad-field
    violation, and the rest of its event (here the agent going Available at 20:06:00) and
    of the stream applies."""
    stream = write_stream(tmp_path / "calls.jsonl", CALL_STREAM)
    with stream.open("ab") as out:
        out.write(b'{"Type": "AgentState", "CurrentState": "Available", "CurrentOutReason": "",'
                  b' "StartTimeUTC": "2013-09-10T20:06:00.000Z", "AcwTimeout": "soon"}\n')
    done = run("snapshot", str(stream), "--json")
    assert done.returncode == 0, done.stderr
    (session,) = orjson.loads(done.stdout)["sessions"]
    assert session["events"] == 6
    assert (session["agent_state"]["state"], session["agent_state"]["since"]) == (
        "Available", "2013-09-10T20:06:00.000Z")
    message = done.stderr.decode()
    assert message.count("\n") == 1  # one line says so, naming the place and the field
    assert f"{stream}:6: AgentState.AcwTimeout: expected an integer" in message
    assert "1 field of the wrong kind left out" in message


def test_skip_bad_reports_and_counts(tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "calls.jsonl", CALL_STREAM)
    with stream.open("ab") as out:
        out.write(b"{not json\n")
    done = run("snapshot", str(stream), "--skip-bad", "--json")
    assert done.returncode == 0
    assert f"{stream}:6" in done.stderr.decode()
    assert "1 unreadable item skipped" in done.stderr.decode()
    assert orjson.loads(done.stdout)["sessions"][0]["events"] == 5


def test_skip_bad_skips_lines_not_a_bad_field(tmp_path: Path) -> None:
    """--skip-bad is for unreadable lines; an event with a bad field is no such line: it
    is applied without the field, with or without --skip-bad, and its session exists."""
    stream = write_stream(tmp_path / "calls.jsonl", CALL_STREAM)
    with stream.open("ab") as out:
        out.write(b'{"session": "agent-9", "event": {"Type": "AgentState", '
                  b'"CurrentState": "Available", "IsAcw": "maybe"}}\n')
    done = run("snapshot", str(stream), "--skip-bad", "--json")
    assert done.returncode == 0, done.stderr
    message = done.stderr.decode()
    assert "skipped" not in message
    assert f"{stream}:6: AgentState.IsAcw" in message
    sessions = orjson.loads(done.stdout)["sessions"]
    assert [(s["key"], s["events"]) for s in sessions] == [(str(stream), 5), ("agent-9", 1)]
    agent_9 = sessions[1]
    assert (agent_9["agent_state"]["state"], agent_9["agent_state"]["is_acw"]) == (
        "Available", False)


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = run("--debug", "snapshot", str(tmp_path / "nope.jsonl"))
    assert done.returncode != 0
    assert "Traceback" in done.stderr.decode()


def test_usage_error_exits_2() -> None:
    done = run("snapshot")
    assert done.returncode == 2
    assert "Missing argument" in done.stderr.decode()


def test_console_script_and_module_are_the_same_program(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("session-fsm")
    if not script.exists():  # installed without scripts on PATH: nothing to compare
        pytest.fail(f"console script not installed next to {sys.executable}")
    stream = write_stream(tmp_path / "calls.jsonl", CALL_STREAM)
    via_script = subprocess.run([str(script), "snapshot", str(stream), "--json"],
                                capture_output=True, timeout=60)
    assert via_script.stdout == run("snapshot", str(stream), "--json").stdout


@pytest.mark.parametrize(("command", "status"), [
    ("snapshot", "\x1b[2JActive"),  # an unknown status is shown as the record keeps it
    ("history", "Active"),  # history lists only the statuses a table knows
])
def test_human_output_shows_text_from_the_stream_escaped(tmp_path: Path, command: str,
                                                         status: str) -> None:
    # an out reason and a status a terminal would act on, and a contact id in rich markup
    hostile = [session_start(),
               agent_state("Unavailable", at="2013-09-11T05:00:00.000Z",
                           out_reason="\x1b]0;pwned\x07Lunch"),
               call("[bold]1569815", status, at="2013-09-11T05:01:00.000Z")]
    stream = write_stream(tmp_path / "hostile.jsonl", hostile)
    done = run(command, str(stream))
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode()
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\\x1b]0;pwned\\x07Lunch" in text
    assert "[bold]1569815" in text  # shown as it is, not taken as markup
    assert status.replace("\x1b", "\\x1b") in text
