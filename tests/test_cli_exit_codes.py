"""One rule for input that cannot be read, in every command that reads events (issue 29).

The rule (README, "Exit codes"): a line that is not JSON (or JSON that is no event) is
named on stderr with its file and line, and the command exits 2, unless ``--skip-bad``
accepts such lines. ``snapshot``, ``history`` and ``ingest`` stop at the first one;
``validate``, ``changes`` and ``replay`` report each where it is (a violation, a row),
read on to the end, then exit 2. An empty input is no error: it is told on stderr, the
same words in every command, and the exit is 0. Never a traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from helpers import agent_state, session_end, session_start, utc

SCRIPT = Path(sys.executable).with_name("session-fsm")

READING_COMMANDS = {
    "snapshot": [], "history": [], "validate": [], "changes": [],
    "ingest": ["--db", "{tmp}/store.sqlite"], "replay": ["--out", "{tmp}/tables"],
}
STOPS_AT_THE_FIRST = {"snapshot", "history", "ingest"}
FINDING = {"validate": 1}
"""The exit a command gives once the unreadable lines are accepted: validate still has
their not-json errors (the README's exit codes), the others nothing to say."""


def cli(tmp_path: Path, command: str, path: Path, *more: str) -> subprocess.CompletedProcess[str]:
    args = [a.replace("{tmp}", str(tmp_path)) for a in READING_COMMANDS[command]]
    return subprocess.run([str(SCRIPT), command, str(path), *args, *more],
                          capture_output=True, text=True, timeout=300, check=False)


def truncated(tmp_path: Path) -> Path:
    """Line 2 is an AgentState cut off in the middle, as a killed recorder leaves it."""
    whole = orjson.dumps(agent_state("Available", at=utc(2013, 9, 11, 5, 0, 0)))
    path = tmp_path / "truncated.jsonl"
    path.write_bytes(orjson.dumps(session_start()) + b"\n" + whole[:len(whole) // 2] + b"\n"
                     + orjson.dumps(session_end()) + b"\n")
    return path


def garbage(tmp_path: Path) -> Path:
    """Bytes that are no text at all: a PNG header, NULs, invalid UTF-8, every byte."""
    path = tmp_path / "garbage.bin"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xde\xad\xbe\xef\xff\xfe\n"
                     + bytes(range(256)) * 4)
    return path


@pytest.mark.parametrize("command", list(READING_COMMANDS))
def test_every_reading_command_keeps_the_one_rule_on_bad_input(tmp_path: Path,
                                                               command: str) -> None:
    bad_line = truncated(tmp_path)
    done = cli(tmp_path, command, bad_line)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{bad_line}:2: not valid JSON" in done.stderr  # the file, the line, what is wrong
    assert "--skip-bad" in done.stderr  # and the way past it
    if command not in STOPS_AT_THE_FIRST:  # read to the end: the line after it was applied
        assert done.stdout

    accepted = cli(tmp_path, command, bad_line, "--skip-bad")
    assert accepted.returncode == FINDING.get(command, 0), accepted.stderr
    assert f"{bad_line}:2: not valid JSON" in accepted.stderr  # still said, never dropped

    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    done = cli(tmp_path, command, empty)
    assert done.returncode == 0, done.stderr
    assert done.stderr.endswith("session-fsm: the input held no events\n")  # replay's
    # progress lines come before it
    assert "Traceback" not in done.stderr

    binary = garbage(tmp_path)
    done = cli(tmp_path, command, binary)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{binary}:1: " in done.stderr
