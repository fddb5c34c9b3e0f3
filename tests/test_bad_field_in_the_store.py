"""A field of the wrong kind in the store: stored, left out when applied, as every reader does.

The stream: an agent goes Available at 05:00 (its IsAcw is "maybe": no boolean) and to
Lunch at 05:10. Worked by hand: the Available stretch lasts 600 s whether the history
comes from the file or from the store; the store keeps all three events.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

LINES = [
    {"session": "a", "event": {"Type": "AgentSessionStart", "BusNo": "1", "AgentId": "2",
                               "SessionId": "3"}},
    {"session": "a", "event": {"Type": "AgentState", "CurrentState": "Available",
                               "CurrentOutReason": "", "StartTimeUTC": "2013-09-11T05:00:00.000Z",
                               "IsAcw": "maybe"}},
    {"session": "a", "event": {"Type": "AgentState", "CurrentState": "Unavailable",
                               "CurrentOutReason": "Lunch",
                               "StartTimeUTC": "2013-09-11T05:10:00.000Z"}},
]


def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run([sys.executable, "-m", "session_fsm", *args], capture_output=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done


def test_ingest_keeps_an_event_with_a_bad_field_and_its_history_is_the_files(
        tmp_path: Path) -> None:
    stream = tmp_path / "s.jsonl"
    stream.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in LINES))
    db = tmp_path / "s.sqlite"
    said = cli("ingest", str(stream), "--db", str(db)).stdout.decode()
    assert "3 new" in said
    stored = orjson.loads(cli("history", "--db", str(db), "--json").stdout)
    from_file = orjson.loads(cli("history", str(stream), "--json").stdout)
    assert stored == from_file
    (session,) = stored["sessions"]
    available = session["agent_states"][0]
    assert (available["state"], available["duration_s"]) == ("Available", 600.0)
