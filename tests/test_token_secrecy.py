"""The bearer token never reaches standard output, standard error or the recording, on any
path by which ``session-fsm follow`` ends: a real subprocess against a real server on
127.0.0.1, with a token of recognisable bytes.

Each path runs with ``--debug``: it shows all a plain run shows (the same messages) and
more, the client's debug and info logs and, for a failure, the traceback.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import helpers as h
import pytest
from get_next_event_server import (
    BOUND_S,
    FIRST_ID,
    R1,
    Reply,
    ScriptServer,
    file_size_limit,
    follow_command,
    interrupted,
    loopback_env,
    padded_response,
    session_script,
)

TOKEN = "TOKEN-SECRET-5f3a9c"
MARKS = (b"5f3a9c", b"TOKEN-SECRET")
"""What must appear nowhere: the token's own bytes (its refresh token too, below)."""

# 100 bytes sent one every 0.1 s: 10 s, where --http-timeout allows 1
DRIPPED = padded_response(FIRST_ID, 100)


@dataclass
class Ending:
    """One way follow ends: what the server answers, and what stderr must then say."""

    says: str
    """A fragment of standard error that shows this ending was the one reached."""
    script: list[Reply] = field(default_factory=list)
    then: Reply = field(default_factory=lambda: Reply(409))
    args: tuple[str, ...] = ()
    token: bytes = TOKEN.encode()
    session_id: str | None = None
    nobody_listens: bool = False
    interrupt: bool = False
    """Ctrl-C once follow has polled twice (the server only idles)."""
    preexec: Callable[[], None] | None = None
    sent: bool = True
    """Whether the token reaches the server (then its echo must be blanked out)."""


ENDINGS = {
    "the session ends": Ending("session ended (409)", session_script(failures=False)),
    "401 twice": Ending("401 Unauthorized from", then=Reply(401, echo_authorization=1)),
    "5xx past --max-retries": Ending(
        "gave up after 2 failed attempts", then=Reply(503, echo_authorization=1),
        args=("--max-retries", "1")),
    "4xx quoting the token": Ending("HTTP 400 from", [Reply(400, echo_authorization=1)]),
    "network error": Ending("network error", args=("--max-retries", "0"), nobody_listens=True),
    "a rotated session id that is no path segment": Ending(
        "not one plain path segment", [Reply(200, {"sessionId": "..", "events": [
            h.session_start()]})]),
    "a --session-id that is no path segment": Ending(
        "--session-id", session_id="../elsewhere", sent=False),
    "a body too large": Ending("over the body limit of 100 bytes", [Reply(200, R1)],
                              args=("--max-body", "100")),
    "a body that is not JSON, quoting the token": Ending(
        "is not JSON", then=Reply(200, echo_authorization=1), args=("--max-retries", "1")),
    "a body that drips past the deadline": Ending(
        "request deadline", [Reply(200, DRIPPED, drip_s=0.1)],
        args=("--http-timeout", "1", "--max-retries", "0")),
    # files stop at 100 bytes, R1's line is longer
    "a full disk under --record": Ending("File too large", [Reply(200, R1)],
                                         preexec=file_size_limit(100)),
    "a token file with two lines": Ending(
        "holds a line break", token=f"{TOKEN}\nREFRESH-5f3a9c\n".encode(), sent=False),
    "a token file with a NUL": Ending(
        "holds a control character (0x00)", token=f"{TOKEN}\x00".encode(), sent=False),
    "a token file that is not ASCII": Ending(
        "holds a character that is not ASCII", token=TOKEN.encode() + b"\xe9\xff", sent=False),
    "a token file with an escape": Ending(
        "holds a control character (0x1b)", token=f"{TOKEN}\x1b[2J".encode(), sent=False),
    "Ctrl-C": Ending("interrupted", then=Reply(304, delay_s=0.2), interrupt=True),
}


def _run(ending: Ending, command: list[str], server: ScriptServer) -> tuple[int, bytes, bytes]:
    env = {**loopback_env(), "PYTHONDONTWRITEBYTECODE": "1"}
    if not ending.interrupt:
        done = subprocess.run(command, capture_output=True, timeout=BOUND_S, env=env,
                              preexec_fn=ending.preexec, check=False)
        return done.returncode, done.stdout, done.stderr
    return interrupted(command, server, after_requests=2, env=env)


@pytest.mark.parametrize("name", list(ENDINGS))
def test_the_token_is_never_shown_or_recorded(tmp_path: Path, name: str) -> None:
    ending = ENDINGS[name]
    token_file = tmp_path / "token"
    token_file.write_bytes(ending.token)
    record = tmp_path / "live.jsonl"
    with ScriptServer(list(ending.script), then=ending.then) as server:
        command = follow_command(server, token_file, "--record", str(record), *ending.args,
                                 session_id=ending.session_id)
        command.insert(command.index("follow"), "--debug")
        if ending.nobody_listens:
            server.close()  # nothing listens at its address any more
        code, out, err = _run(ending, command, server)
        sent = {s.authorization for s in server.seen}
    recorded = record.read_bytes() if record.exists() else b""
    for mark in MARKS:
        assert mark not in out
        assert mark not in err
        assert mark not in recorded
    # and this is the ending meant: it said so, and the token really was sent (so it could
    # have been echoed back), or was refused before any request
    assert ending.says in err.decode(), err.decode()
    assert (code == 0) == (name == "the session ends")
    assert sent == ({f"Bearer {TOKEN}"} if ending.sent and not ending.nobody_listens else set())
