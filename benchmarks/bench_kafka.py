"""Events per second through one ``session-fsm stream`` processor against the offline
engine (``changes --json``'s work) on the same stream, in one run.

The stream is simulated, published to a fresh topic of a Tansu broker on loopback
(tests/kafka_broker.py; skipped, saying why, where it cannot run), and processed by one
processor (a real ``session-fsm stream --json --stop-after-idle`` process, exactly once,
a checkpoint a second). Its rate is its events over its busy time: first message
applied to last, the checkpoints' transactions included, joining the group and the idle
wait at the end not. The offline rate is the engine's over the same recording in this
process: read, feed, and each change written as its ``changes --json`` line. Both are
on a ``bench:`` line (``-s``) and in ``extra_info``.

Sizes: by default (CI's ``--benchmark-disable``) 20 agents over 30 minutes, to check it
runs; with ``--benchmark-enable`` (or ``BENCH_FULL=1``) 200 agents over 120 minutes::

    .venv/bin/python -m pytest benchmarks/bench_kafka.py --benchmark-enable -s
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sizes import full_size

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from kafka_broker import Broker, broker

from session_fsm.engine import SessionEngine
from session_fsm.engine.changes import as_json
from session_fsm.wire.reader import iter_wire


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with broker(tmp_path_factory.mktemp("broker")) as running:
        yield running


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "session_fsm", *args], cwd=cwd,
                          capture_output=True, timeout=600, check=False)


def offline(recording: Path) -> tuple[int, float]:
    """Events and seconds of the engine over ``recording``, as ``changes --json`` runs it."""
    started = time.perf_counter()
    engine = SessionEngine()
    events = 0
    sink = bytearray()
    for key, wire, source in iter_wire([str(recording)]):
        for change in engine.feed(wire, key=key, source=source, batch=source):
            sink += orjson.dumps(as_json(change)) + b"\n"
        events += 1
    return events, time.perf_counter() - started


def test_one_processor_against_the_offline_engine(benchmark: Any, kafka: Broker,
                                                   tmp_path: Path,
                                                   request: pytest.FixtureRequest) -> None:
    full = full_size(request.config)
    agents, minutes = (200, 120) if full else (20, 30)
    recording = tmp_path / "day.jsonl"
    made = cli("simulate", "--agents", str(agents), "--seed", "5", "--minutes", str(minutes),
               "--out", str(recording))
    assert made.returncode == 0, made.stderr
    published = cli("publish", str(recording), "--bootstrap-servers", kafka.bootstrap,
                    "--topic", "bench-responses", "--json")
    assert published.returncode == 0, published.stderr
    messages = orjson.loads(published.stdout)["messages"]

    def process() -> dict[str, Any]:
        done = cli("stream", "--bootstrap-servers", kafka.bootstrap, "--input-topic",
                   "bench-responses", "--changes-topic", "bench-changes",
                   "--snapshots-topic", "bench-snapshots", "--group", "bench",
                   "--stop-after-idle", "4", "--json", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        stats: dict[str, Any] = orjson.loads(done.stdout)
        return stats

    # one round: a second one would find the group's offsets at the end of the topic
    stats = benchmark.pedantic(process, rounds=1, iterations=1)
    assert stats["messages"] == messages
    events, seconds = offline(recording)
    assert stats["events"] == events
    offline_rate = events / seconds
    ratio = stats["events_per_s"] / offline_rate
    benchmark.extra_info.update({"events": events, "stream_events_per_s": stats["events_per_s"],
                                 "offline_events_per_s": round(offline_rate, 1),
                                 "stream_over_offline": round(ratio, 3)})
    print(f"\nbench: {events:,} events ({agents} agents, {minutes} min): one processor "
          f"{stats['events_per_s']:,.0f} events/s, the offline engine {offline_rate:,.0f} "
          f"events/s ({ratio:.0%})")
