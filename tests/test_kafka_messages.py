"""The input messages and their processing, without a broker; and the commands' refusals.

A recording cut into messages (``publish``'s way) and applied message by message, each
session on its own, as a processor applies them (``stream``'s way), makes exactly the
changes ``changes --json`` makes of the recording: every input shape, unreadable lines,
a join's batch, a redelivered response. The refusals need no broker either: they come
before one is reached, or name the one that cannot be reached, in one line.
"""

from __future__ import annotations

import collections
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from helpers import agent_state, call, iso, session_end, session_start, utc
from kafka_broker import free_port

from session_fsm.engine import AgentSession
from session_fsm.errors import Source
from session_fsm.io.kafka.messages import apply_message, change_records, recording_messages
from session_fsm.wire.reader import iter_wire


def at(minute: int, second: int = 0) -> str:
    return iso(utc(2024, 3, 4, 8, minute, second))


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "session_fsm", *args],
                          capture_output=True, timeout=timeout, check=False)


def recording(folder: Path) -> list[Path]:
    """Every input shape, in two files: bare events, responses, keyed envelopes (one
    event, several), an array of responses, a pretty-printed document, a line that is
    not JSON, an element that is no event, and a response delivered twice."""
    first = [session_start(), agent_state("Available", at=at(0))]
    answer = {"sessionId": "58070815", "events": [call("1", "Incoming", at=at(1)),
                                                  agent_state("InboundContact", at=at(1))]}
    lines = [
        orjson.dumps(first[0]), orjson.dumps(first[1]),
        orjson.dumps(answer), orjson.dumps(answer),  # redelivered: a duplicate-event
        b"{not json",
        orjson.dumps({"session": "b", "event": session_start(session_id="77")}),
        orjson.dumps({"session": "b", "events": [agent_state("Available", at=at(2)), 7,
                                                 call("2", "Incoming", at=at(3))]}),
        orjson.dumps([{"session": "c", "events": [session_start(session_id="88")]},
                      {"session": "b", "events": [call("2", "Active", at=at(4))]}]),
        orjson.dumps({"session": "b", "events": [session_end()]}),
        orjson.dumps({"session": "c", "events": [{"no": "type"}]}),
    ]
    one = folder / "one.jsonl"
    one.write_bytes(b"\n".join(lines) + b"\n")
    two = folder / "two.json"  # one pretty-printed document: events on lines of their own
    two.write_bytes(orjson.dumps({"session": "d", "events": [
        session_start(session_id="99"), agent_state("Available", at=at(5))]},
        option=orjson.OPT_INDENT_2))
    return [one, two]


def test_messages_applied_per_session_make_the_changes_of_the_recording(
        tmp_path: Path) -> None:
    files = recording(tmp_path)
    expected = run("changes", "--json", "--skip-bad", *map(str, files))
    assert expected.returncode == 0, expected.stderr
    want: dict[str, list[bytes]] = collections.defaultdict(list)
    for line in expected.stdout.splitlines():
        want[orjson.loads(line)["session"]].append(line)
    got: dict[str, list[bytes]] = collections.defaultdict(list)
    sessions: dict[str, AgentSession] = {}
    messages = list(recording_messages(iter_wire([str(f) for f in files], on_error="report")))
    for offset, message in enumerate(messages):
        session = sessions.setdefault(message.key, AgentSession(message.key))
        changes = apply_message(session, message.value, Source("input/0", offset))
        got[message.key].extend(line for line, _ in change_records(
            changes, len(got[message.key])))
    # changes --json runs the end-of-stream checks once the input is over; a processor
    # runs a session's when it ends (as follow does): for the sessions that did not end
    # here, they are the recording's last changes of their session
    for key, session in sessions.items():
        got[key].extend(line for line, _ in change_records(session.finish(), 0))
    assert dict(got) == dict(want)
    kinds = {orjson.loads(line).get("rule") for lines in want.values() for line in lines}
    assert {"not-json", "not-an-event"} <= kinds  # the shapes were there
    # the redelivered response changed nothing: a warning to validation, not a change
    assert [v.rule for v in sessions[str(files[0])].violations
            if v.rule == "duplicate-event"] == ["duplicate-event"] * 2
    # a message per line, but the redelivery is one of its own, the array of responses
    # two, and the envelope with the 7 three (events, the unreadable 7, events)
    assert len(messages) == 14


def test_a_message_of_another_producer_is_a_violation_where_it_came_from() -> None:
    session = AgentSession("s")
    for value in (b"{not json", b"[1]", b'{"session": "s", "events": []}',
                  b'{"events": [1], "source": {"path": "x", "line": 1, "batch": "no"}}'):
        changes = apply_message(session, value, Source("responses/3", 41))
        assert len(changes) == 1, value
        found = orjson.loads(change_records(changes, 0)[0][0])
        assert found["kind"] == "violation"
        assert found["rule"] in ("not-json", "not-an-event")
        assert found["source"] == "responses/3:41"
    assert session.position == 4  # each took its index: nothing dropped in silence


def test_publish_refuses_a_bootstrap_list_that_is_not_host_port(tmp_path: Path) -> None:
    files = recording(tmp_path)
    done = run("publish", str(files[0]), "--bootstrap-servers", "kafka", "--topic", "t")
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == [
        "session-fsm: --bootstrap-servers 'kafka': expected HOST:PORT[,HOST:PORT...] "
        "(example: 127.0.0.1:9092)"]


def test_publish_to_no_broker_is_one_line_within_its_timeout(tmp_path: Path) -> None:
    pytest.importorskip("confluent_kafka")
    files = recording(tmp_path)
    started = time.monotonic()
    port = free_port()  # nothing listens there
    done = run("publish", str(files[0]), "--bootstrap-servers", f"127.0.0.1:{port}",
               "--topic", "t", "--timeout", "2")
    assert time.monotonic() - started < 20
    assert done.returncode == 2
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"session-fsm: cannot reach Kafka at 127.0.0.1:{port} "
                               "within 2 s")


def test_publish_of_a_missing_file_is_named_before_any_broker(tmp_path: Path) -> None:
    done = run("publish", str(tmp_path / "nope.jsonl"), "--bootstrap-servers",
               "127.0.0.1:9", "--topic", "t")
    assert done.returncode == 2
    assert done.stderr.decode().startswith(f"session-fsm: cannot read {tmp_path}/nope.jsonl")


def test_stream_refuses_one_topic_for_two_roles() -> None:
    done = run("stream", "--bootstrap-servers", "127.0.0.1:9", "--input-topic", "a",
               "--changes-topic", "a")
    assert done.returncode == 2
    assert "three topics" in done.stderr.decode()
