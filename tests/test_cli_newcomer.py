"""The command line as a newcomer meets it (issue 21): the real console script in a
subprocess, its streams and exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import session_start

SCRIPT = Path(sys.executable).with_name("session-fsm")


def cli(*args: str, stdin: bytes | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], input=stdin.decode() if stdin else None,
                          capture_output=True, text=True, timeout=120, env=env)


def write_stream(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


# --- 2. empty input ------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["snapshot", "history", "changes"])
@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_empty_input_says_so_on_stderr_and_exits_0(tmp_path: Path, command: str,
                                                   as_json: bool) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    done = cli(command, str(empty), *(["--json"] if as_json else []))
    assert done.returncode == 0
    assert done.stderr == "session-fsm: the input held no events\n"
    if not as_json:
        assert done.stdout == ""


def test_input_with_events_says_nothing_of_the_kind(tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "one.jsonl", [session_start()])
    done = cli("snapshot", str(stream))
    assert (done.returncode, done.stderr) == (0, "")
