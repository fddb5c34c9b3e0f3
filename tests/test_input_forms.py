"""One stream, three ways of writing it: the same snapshot and the same violations.

The input rules let a stream come as JSON Lines, as one JSON document, compact or
pretty-printed. What the engine makes of it must not depend on the line breaks: a batch
(which tells a join's replay from live events, and a response delivered twice from
two) is one get-next-event response or one envelope, wherever its lines fall (issue 16,
item 2). Each stream is written three ways and run through the real CLI; the snapshots
must be equal, and the violations too, but for their ``source`` (a line number, which
is where each form put the event).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from get_next_event_server import RESPONSES

from session_fsm.sim import Simulation

BOUND_S = 120


def cli(*args: str) -> Any:
    done = subprocess.run([sys.executable, "-m", "session_fsm", *args], capture_output=True,
                          timeout=BOUND_S, check=False)
    assert done.returncode in (0, 1), done.stderr
    return orjson.loads(done.stdout)


def three_forms(tmp_path: Path, values: list[Any]) -> list[Path]:
    """``values`` (one per line) as JSON Lines, a one-line document, a pretty document."""
    lines = tmp_path / "stream.jsonl"
    lines.write_bytes(b"".join(orjson.dumps(v) + b"\n" for v in values))
    compact = tmp_path / "stream.json"
    compact.write_bytes(orjson.dumps(values))
    pretty = tmp_path / "stream.pretty.json"
    pretty.write_text(json.dumps(values, indent=2))
    return [lines, compact, pretty]


def outcome(path: Path) -> tuple[Any, Any]:
    # the session key of events without an envelope is the file's path: named alike here
    snapshot = cli("snapshot", str(path), "--json")["sessions"]
    for entry in snapshot:
        entry["key"] = entry["key"].replace(str(path), "stream")
    report = cli("validate", str(path), "--json")
    violations = [{**v, "source": None, "session": v["session"].replace(str(path), "stream")}
                  for v in report["violations"]]
    return snapshot, violations


def simulated(seed: int) -> list[Any]:
    out = io.BytesIO()
    Simulation(12, seed, 90, intended_warnings=True).write(out)
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.parametrize("seed", [3, 11])
def test_a_simulated_day_reads_the_same_in_every_form(tmp_path: Path, seed: int) -> None:
    values = simulated(seed)
    # the sim writes each response as one envelope line: some carry several events (a
    # join's replay), which is where line breaks and responses could part ways
    assert any(len(v.get("events", ())) > 1 for v in values)
    lines, compact, pretty = (outcome(p) for p in three_forms(tmp_path, values))
    assert lines[1], "the day earned some violations on purpose: the test compares them"
    assert compact == lines
    assert pretty == lines


def test_get_next_event_responses_read_the_same_in_every_form(tmp_path: Path) -> None:
    # R1 is the join batch; the 3rd response is repeated whole (one response delivered
    # twice: duplicate-event warnings, nothing applied twice)
    values = [*RESPONSES[:3], RESPONSES[2], *RESPONSES[3:]]
    lines, compact, pretty = (outcome(p) for p in three_forms(tmp_path, values))
    assert [v["rule"] for v in lines[1]] == ["duplicate-event", "duplicate-event"]
    assert compact == lines
    assert pretty == lines


def test_a_join_batch_pretty_printed_is_one_batch(tmp_path: Path) -> None:
    # A join replays a chat already Active: inside its response, no warning; the same
    # chat first seen Active in a response of its own is contact-joined-mid-lifecycle.
    chat = {"Type": "ChatContactEvent", "ContactID": "900", "RoomId": "2",
            "Status": "Active", "Skill": "1509", "StartTime": "2013-09-11T05:00:00.000Z",
            "LastStateChangeTime": "2013-09-11T05:01:00.000Z", "FinalState": "False"}
    join = {"sessionId": "s", "events": [RESPONSES[0]["events"][0], chat]}
    for form in three_forms(tmp_path, [join]):
        assert [v["rule"] for v in outcome(form)[1]
                if v["rule"] == "contact-joined-mid-lifecycle"] == [], form.name
    late = [{"sessionId": "s", "events": [RESPONSES[0]["events"][0]]},
            {"sessionId": "s", "events": [chat]}]
    for form in three_forms(tmp_path, late):
        assert [v["rule"] for v in outcome(form)[1]
                if v["rule"] == "contact-joined-mid-lifecycle"] == \
            ["contact-joined-mid-lifecycle"], form.name
