"""Pollers and processors apart: ``follow --publish-to`` publishes every response before
applying it, and a ``stream`` processor of that topic ends where follow ended."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from get_next_event_server import (
    BOUND_S,
    FINAL,
    FIRST_ID,
    ScriptServer,
    follow_command,
    loopback_env,
    session_script,
    without_key,
)
from kafka_broker import Broker, broker, read_topic


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with broker(tmp_path_factory.mktemp("broker")) as running:
        yield running


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "session_fsm", *args], cwd=cwd,
                          capture_output=True, timeout=BOUND_S, env=loopback_env(),
                          check=False)


def test_follow_publishes_each_response_and_a_processor_ends_where_follow_ended(
        kafka: Broker, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("Bearer fresh\n")
    record = tmp_path / "live.jsonl"
    with ScriptServer(session_script(failures=False)) as server:
        done = subprocess.run(
            follow_command(server, token, "--json", "--record", str(record),
                           "--publish-to", "live-responses", "--bootstrap-servers",
                           kafka.bootstrap),
            capture_output=True, timeout=BOUND_S, env=loopback_env(), check=False)
    assert done.returncode == 0, done.stderr
    assert without_key(orjson.loads(done.stdout.splitlines()[-1])) == FINAL

    published = read_topic(kafka.bootstrap, "live-responses", idle_s=1.0)
    # every 200 and the 409's end, in order, keyed by the session, numbered as follow's
    assert [m.key() for m in published] == [FIRST_ID.encode()] * 7
    values: list[dict[str, Any]] = [orjson.loads(m.value()) for m in published]
    assert [v["source"]["line"] for v in values] == [1, 2, 3, 4, 5, 6, 7]
    assert [v["events"] for v in values] == [orjson.loads(line)["events"]
                                             for line in record.read_bytes().splitlines()]

    processed = run("stream", "--bootstrap-servers", kafka.bootstrap, "--input-topic",
                    "live-responses", "--changes-topic", "live-changes",
                    "--snapshots-topic", "live-snapshots", "--group", "live",
                    "--stop-after-idle", "3", "--json", cwd=tmp_path)
    assert processed.returncode == 0, processed.stderr
    assert orjson.loads(processed.stdout)["events"] == 13
    (snapshot,) = read_topic(kafka.bootstrap, "live-snapshots", idle_s=1.0)[-1:]
    assert orjson.loads(snapshot.value()) == orjson.loads(done.stdout.splitlines()[-1])
    # the recording says the same: changes made from the topic are changes of the file
    changes = [m.value() for m in read_topic(kafka.bootstrap, "live-changes", idle_s=1.0)]
    replayed = run("changes", "--json", str(record))
    assert replayed.returncode == 0, replayed.stderr
    assert [orjson.loads(c) | {"session": "-"} for c in changes] == \
        [orjson.loads(c) | {"session": "-"} for c in replayed.stdout.splitlines()]


def test_at_least_once_processing_makes_the_changes_of_the_recording(
        kafka: Broker, tmp_path: Path) -> None:
    """``--at-least-once`` (brokers without transactions), uninterrupted: the same
    changes as ``changes --json``; the position header would tell a repeat."""
    recording = tmp_path / "small.jsonl"
    assert run("simulate", "--agents", "20", "--seed", "4", "--minutes", "20", "--out",
               str(recording)).returncode == 0
    assert run("publish", str(recording), "--bootstrap-servers", kafka.bootstrap, "--topic",
               "alo-responses").returncode == 0
    processed = run("stream", "--bootstrap-servers", kafka.bootstrap, "--input-topic",
                    "alo-responses", "--changes-topic", "alo-changes", "--group", "alo",
                    "--at-least-once", "--stop-after-idle", "3", cwd=tmp_path)
    assert processed.returncode == 0, processed.stderr
    expected = run("changes", "--json", str(recording))
    assert expected.returncode == 0, expected.stderr
    wanted: dict[str, list[bytes]] = {}
    for line in expected.stdout.splitlines():
        wanted.setdefault(orjson.loads(line)["session"], []).append(line)
    got: dict[str, list[bytes]] = {}
    for record in read_topic(kafka.bootstrap, "alo-changes", idle_s=1.0):
        stream = got.setdefault(record.key().decode(), [])
        (position,) = [int(v) for k, v in record.headers() if k == "session-fsm-change"]
        assert position == len(stream)  # nothing repeated, nothing missing
        stream.append(record.value())
    assert got == wanted
