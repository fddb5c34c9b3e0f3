"""``publish`` and ``stream`` against a real broker: exactly once, through a SIGKILL and a
rebalance, checked against ``changes --json`` and ``snapshot --json`` of the recording.

The recording is a compressed day: 200 simulated agents over 60 minutes (about 18,600
events in 18,500 responses, in two files of half the lines each), so the whole module
runs in about 80 s on two shared cores. Every processor is a real ``session-fsm
stream`` process with its own working and state directory; the broker is Tansu
(tests/kafka_broker.py) unless ``SESSION_FSM_TEST_KAFKA`` names a real Kafka.

How the output is judged. Each change record carries its position in its session's
change stream (the ``session-fsm-change`` header), which is deterministic: a processor
that redoes work makes the same record under the same position. On Apache Kafka a
``read_committed`` reader never sees a record twice, and :func:`judge` fails on any
repeat. Tansu 0.6.0 also hands ``read_committed`` readers the records of aborted
transactions (the work of a killed processor's last, never committed checkpoint), so on
Tansu, and only there, a repeat is accepted when it is byte for byte the record already
read at that position, and the number of times a session's stream goes back is bounded
by the interruptions the test made. A processor that lost work leaves a gap and fails
on both; one that doubled work on Kafka fails on the repeat; one that redid work on
every checkpoint (state lost) fails the bound on Tansu.
"""

from __future__ import annotations

import collections
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka_broker import Broker, broker, consumer_config, read_topic

AGENTS = 200
MINUTES = 60
SEED = 11
CHANGE_HEADER = "session-fsm-change"
CHANGES_HEADER = "session-fsm-changes"
DONE_TIMEOUT_S = 120.0
"""The longest a run may take to bring every change out (it takes about 20 s)."""


def cli(*args: str, cwd: Path | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "session_fsm", *args], cwd=cwd,
                          capture_output=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with broker(tmp_path_factory.mktemp("broker")) as running:
        yield running


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The recording, and what the one-shot commands make of it."""
    folder = tmp_path_factory.mktemp("day")
    recording = folder / "day.jsonl"
    made = cli("simulate", "--agents", str(AGENTS), "--seed", str(SEED), "--minutes",
               str(MINUTES), "--out", str(recording))
    assert made.returncode == 0, made.stderr
    # in two halves, so a test can publish the second after a processor joined
    lines = recording.read_bytes().splitlines(keepends=True)
    halves = (folder / "day-1.jsonl", folder / "day-2.jsonl")
    halves[0].write_bytes(b"".join(lines[:len(lines) // 2]))
    halves[1].write_bytes(b"".join(lines[len(lines) // 2:]))
    changes = cli("changes", "--json", *map(str, halves))
    assert changes.returncode == 0, changes.stderr
    expected: dict[str, list[bytes]] = collections.defaultdict(list)
    for line in changes.stdout.splitlines():
        expected[orjson.loads(line)["session"]].append(line)
    snapshot = cli("snapshot", "--json", *map(str, halves))
    assert snapshot.returncode == 0, snapshot.stderr
    snapshots = {entry["key"]: entry for entry in orjson.loads(snapshot.stdout)["sessions"]}
    assert len(expected) == AGENTS
    assert len(snapshots) == AGENTS
    return {"halves": halves, "changes": dict(expected), "snapshots": snapshots,
            "total": sum(len(v) for v in expected.values())}


class Processor:
    """One ``session-fsm stream`` process in a directory of its own."""

    def __init__(self, kafka: Broker, folder: Path, topics: dict[str, str]) -> None:
        self.kafka = kafka
        self.folder = folder
        self.topics = topics
        folder.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.folder / f"run-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "session_fsm", "stream", "--bootstrap-servers",
             self.kafka.bootstrap, "--input-topic", self.topics["input"],
             "--changes-topic", self.topics["changes"], "--snapshots-topic",
             self.topics["snapshots"], "--group", self.topics["group"]],
            cwd=self.folder, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            return None

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:]
                         for p in sorted(self.folder.glob("run-*.log")))


def topics_for(name: str) -> dict[str, str]:
    return {"input": f"{name}-responses", "changes": f"{name}-changes",
            "snapshots": f"{name}-snapshots", "group": f"{name}-processors"}


def publish(kafka: Broker, topic: str, *files: Path) -> None:
    done = cli("publish", *map(str, files), "--bootstrap-servers", kafka.bootstrap,
               "--topic", topic, "--partitions", "4", "--json")
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["unreadable"] == 0


def count_uncommitted(kafka: Broker, topic: str, at_least: int, timeout_s: float) -> int:
    """Records of ``topic`` so far, aborted and open transactions' included, once there
    are ``at_least`` (or the timeout passed): how far the processors have come."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(consumer_config(kafka.bootstrap, **{
        "isolation.level": "read_uncommitted"}))
    try:
        deadline = time.monotonic() + timeout_s
        partitions: Any = {}
        while not partitions and time.monotonic() < deadline:  # the processors make it
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            time.sleep(0.1)
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        seen = 0
        while seen < at_least and time.monotonic() < deadline:
            seen += sum(1 for m in consumer.consume(1000, 0.2) if m.error() is None)
        return seen
    finally:
        consumer.close()


def header(message: Any, name: str) -> int:
    found = [value for key, value in message.headers() or [] if key == name]
    assert len(found) == 1, f"{name} header: {found}"
    return int(found[0])


def judge(kafka: Broker, records: list[Any], day: dict[str, Any],
          interruptions: int) -> dict[str, int]:
    """Each session's change stream as read, against ``changes --json``: in order, no
    gap, nothing that differs; repeats only on a broker that hands out aborted records,
    and then identical and at most ``interruptions`` times back per session."""
    streams: dict[str, list[bytes]] = collections.defaultdict(list)
    last: dict[str, int] = {}
    backs: collections.Counter[str] = collections.Counter()
    repeats = 0
    for message in records:
        session = message.key().decode()
        position = header(message, CHANGE_HEADER)
        stream = streams[session]
        if position < len(stream):
            assert not kafka.filters_aborted, (
                f"{session}: change {position} read twice from a broker that filters "
                "aborted transactions: work was committed twice")
            # Tansu hands read_committed readers aborted records (module doc)
            assert message.value() == stream[position], f"{session}: change {position} " \
                "read again with other content"
            repeats += 1
        else:
            assert position == len(stream), f"{session}: change {len(stream)} is missing " \
                f"(the next one read is {position})"
            stream.append(message.value())
        if position <= last.get(session, -1):
            backs[session] += 1
        last[session] = position
    worst = max(backs.values(), default=0)
    assert worst <= interruptions, f"a session's stream went back {worst} times for " \
        f"{interruptions} interruptions: work was redone beyond what they explain"
    assert set(streams) == set(day["changes"])
    for session, expected in day["changes"].items():
        assert streams[session] == expected, f"{session}: the changes differ"
    return {"repeats": repeats, "sessions_gone_back": len(backs)}


def judge_snapshots(records: list[Any], day: dict[str, Any]) -> None:
    latest: dict[str, Any] = {}
    for message in records:
        latest[message.key().decode()] = message
    assert set(latest) == set(day["snapshots"])
    for session, message in latest.items():
        assert header(message, CHANGES_HEADER) == len(day["changes"][session])
        assert orjson.loads(message.value()) == day["snapshots"][session], session


def read_changes(kafka: Broker, topics: dict[str, str], day: dict[str, Any]) -> list[Any]:
    return read_topic(kafka.bootstrap, topics["changes"], expected=day["total"],
                      idle_s=3.0, timeout_s=DONE_TIMEOUT_S)


def test_a_processor_killed_mid_stream_and_restarted_loses_and_doubles_nothing(
        kafka: Broker, day: dict[str, Any], tmp_path: Path) -> None:
    topics = topics_for("kill")
    first, second = (Processor(kafka, tmp_path / name, topics) for name in ("p1", "p2"))
    try:
        publish(kafka, topics["input"], *day["halves"])
        first.start()
        second.start()
        # mid-stream: a third of the changes out, in transactions open or committed
        seen = count_uncommitted(kafka, topics["changes"], day["total"] // 3, 60)
        assert day["total"] // 3 <= seen < day["total"], first.logs() + second.logs()
        first.kill()
        first.start()  # the same directory: its state store and its transactional id
        records = read_changes(kafka, topics, day)
        outcome = judge(kafka, records, day, interruptions=2)
        judge_snapshots(read_topic(kafka.bootstrap, topics["snapshots"], idle_s=2.0), day)
    except AssertionError:
        print(first.logs(), second.logs(), sep="\n")
        raise
    finally:
        first.stop()
        second.stop()
    print(f"{len(records)} change records read for {day['total']} changes: {outcome}")


def test_a_processor_joining_takes_partitions_over_without_loss_or_repeat(
        kafka: Broker, day: dict[str, Any], tmp_path: Path) -> None:
    topics = topics_for("join")
    processors = [Processor(kafka, tmp_path / f"p{n}", topics) for n in (1, 2, 3)]
    try:
        publish(kafka, topics["input"], day["halves"][0])
        processors[0].start()
        processors[1].start()
        seen = count_uncommitted(kafka, topics["changes"], day["total"] // 6, 60)
        assert seen < day["total"]
        processors[2].start()  # the group rebalances: partitions move to it
        # Quix makes a store for each partition it is given: then it has joined, and
        # the second half is work for all three
        stores = processors[2].folder / "state" / topics["group"] / "default" / topics["input"]
        deadline = time.monotonic() + 60
        while not (stores.is_dir() and any(stores.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stores.is_dir(), processors[2].logs()
        publish(kafka, topics["input"], day["halves"][1])
        records = read_changes(kafka, topics, day)
        outcome = judge(kafka, records, day, interruptions=2)
        judge_snapshots(read_topic(kafka.bootstrap, topics["snapshots"], idle_s=2.0), day)
        assert processors[2].process is not None
        assert processors[2].process.poll() is None
    except AssertionError:
        print(*(p.logs() for p in processors), sep="\n")
        raise
    finally:
        codes = [p.stop() for p in processors]
    assert codes == [0, 0, 0], "SIGTERM stops a processor cleanly"
    print(f"{len(records)} change records read for {day['total']} changes: {outcome}")
    # the joiner got work: it says how many messages it processed when it stops
    said = re.search(r"stopped after (\d+) message", processors[2].logs())
    assert said is not None, processors[2].logs()
    assert int(said[1]) > 0
