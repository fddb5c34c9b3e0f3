"""The Kafka edge: client settings, topics, and a publisher that waits for the broker.

Everything here is confluent-kafka (librdkafka), the client Quix Streams itself uses.

Partitions. Every producer of session_fsm uses one partitioner, librdkafka's
``murmur2_random`` (Kafka's Java default), so a session's key lands on the same partition
number in every topic of the same partition count: the processor that owns a session's
input partition is the only one that writes its output partitions. On Kafka that only
spreads the work; on a broker without full transaction isolation it keeps two
processors' transactions off one partition (README, "Scale-out on Kafka").

Topics are created when missing, with ``retention.ms`` and ``retention.bytes`` given
(Quix Streams reads them back to size its changelog topics, and some brokers list only
the configs a topic was created with); the snapshots topic is compacted. An existing
topic is used as it is.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

import attrs

from ...errors import SessionFsmError, Source

PARTITIONER: Final = "murmur2_random"
"""The one partitioner of every session_fsm producer (see the module doc)."""

RETAIN_INPUT_MS: Final = 7 * 24 * 3600 * 1000
"""Kafka's default retention, given explicitly to the input and changes topics."""

GROUP_TIMEOUTS: Final = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
"""Consumers notice a dead group member in 6 s (Kafka's default is 45 s): a processor's
partitions move on soon after it dies; some brokers also take half of this to let a
member join."""

CLIENT_LOG: Final = logging.getLogger("session_fsm.io.kafka.client")
"""Where librdkafka's own log goes instead of standard error: each failure it logs (a
broker that cannot be reached...) reaches the user as the one line of the error it
causes; a caller that wants the detail adds a handler and sets ``propagate``."""
CLIENT_LOG.addHandler(logging.NullHandler())
CLIENT_LOG.propagate = False

DEFAULT_TIMEOUT_S: Final = 30.0
"""How long a publisher waits for the broker to take a message, and the admin for a topic."""


@contextlib.contextmanager
def quiet_imports() -> Iterator[None]:
    """Imports of the Kafka clients without their noise: confluent_kafka's optional
    schema-registry client imports authlib, whose module turns its own deprecation
    warnings on for good ("always") and then warns about httpx on every run."""
    with warnings.catch_warnings():
        with contextlib.suppress(ImportError):
            import authlib.deprecate  # noqa: F401 - its "always" filter goes in first...
        warnings.simplefilter("ignore")  # ...and this one before it
        yield


def _kafka() -> Any:
    """confluent_kafka, or one line saying which extra brings it."""
    try:
        with quiet_imports():
            import confluent_kafka
    except ImportError:
        raise SessionFsmError("Kafka support is not installed: pip install "
                              "'session-fsm[kafka]'") from None
    return confluent_kafka


def check_bootstrap(servers: str) -> str:
    """``servers`` if it is a list of HOST:PORT, else one line saying what is expected."""
    for server in servers.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SessionFsmError(f"--bootstrap-servers {servers!r}: expected HOST:PORT[,"
                                  "HOST:PORT...] (example: 127.0.0.1:9092)")
    return servers


@attrs.frozen(slots=True)
class TopicSpec:
    """A topic to have: its name, its partitions when it must be created, and whether it
    is compacted (last value per key)."""

    name: str
    partitions: int
    compacted: bool = False

    def config(self) -> dict[str, str]:
        if self.compacted:
            return {"cleanup.policy": "compact", "retention.ms": "-1", "retention.bytes": "-1"}
        return {"cleanup.policy": "delete", "retention.ms": str(RETAIN_INPUT_MS),
                "retention.bytes": "-1"}


def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec], *,
                  timeout_s: float = DEFAULT_TIMEOUT_S,
                  extra: Mapping[str, Any] | None = None) -> dict[str, int]:
    """Create the topics of ``specs`` that do not exist; every topic's partition count.
    A broker that cannot be reached within ``timeout_s`` is one line."""
    kafka = _kafka()
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": CLIENT_LOG, **(extra or {})})
    specs = list(specs)
    existing = _topics(admin, bootstrap, timeout_s)
    missing = [s for s in specs if s.name not in existing]
    if missing:
        futures = admin.create_topics(
            [NewTopic(s.name, num_partitions=s.partitions, replication_factor=-1,
                      config=s.config()) for s in missing],
            request_timeout=timeout_s, operation_timeout=timeout_s)
        for name, future in futures.items():
            try:
                future.result(timeout=timeout_s)
            except kafka.KafkaException as error:
                code = error.args[0].code() if error.args else None
                if code != kafka.KafkaError.TOPIC_ALREADY_EXISTS:  # another one made it
                    raise SessionFsmError(f"cannot create topic {name} on {bootstrap}: "
                                          f"{error.args[0].str() if error.args else error}"
                                          ) from None
            except TimeoutError:
                raise SessionFsmError(f"cannot create topic {name} on {bootstrap}: no "
                                      f"answer in {timeout_s:g} s") from None
        existing = _wait_for(admin, bootstrap, [s.name for s in specs], timeout_s)
    return {s.name: existing[s.name] for s in specs}


def _topics(admin: Any, bootstrap: str, timeout_s: float) -> dict[str, int]:
    kafka = _kafka()
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except kafka.KafkaException as error:
        raise SessionFsmError(f"cannot reach Kafka at {bootstrap} within {timeout_s:g} s "
                              f"({error.args[0].str() if error.args else error})") from None
    return {name: len(topic.partitions) for name, topic in metadata.topics.items()
            if topic.error is None}


def _wait_for(admin: Any, bootstrap: str, names: list[str], timeout_s: float) -> dict[str, int]:
    """The topics once every one of ``names`` is in the metadata with its partitions."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = _topics(admin, bootstrap, timeout_s)
        if all(found.get(name) for name in names):
            return found
        if time.monotonic() > deadline:
            absent = [name for name in names if not found.get(name)]
            raise SessionFsmError(f"topics {', '.join(absent)} did not appear on {bootstrap} "
                                  f"within {timeout_s:g} s")
        time.sleep(0.1)


class Publisher:
    """Produces input messages and waits until the broker has them.

    Idempotent (``enable.idempotence``: a retry inside the client never writes a message
    twice), ``acks=all``, in order per partition, keyed by session with
    :data:`PARTITIONER`. :meth:`send` queues; :meth:`wait` returns once every queued
    message is acknowledged, or raises :class:`~session_fsm.errors.SessionFsmError` naming
    the first that failed, or that the broker did not answer within ``timeout_s``."""

    def __init__(self, bootstrap: str, topic: str, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 extra: Mapping[str, Any] | None = None) -> None:
        kafka = _kafka()
        self.bootstrap = bootstrap
        self.topic = topic
        self.timeout_s = timeout_s
        self.sent = 0
        self._failed: str | None = None
        self._producer = kafka.Producer({
            "bootstrap.servers": bootstrap, "logger": CLIENT_LOG,
            "enable.idempotence": True, "acks": "all",
            "partitioner": PARTITIONER, "linger.ms": 5,
            "message.timeout.ms": int(timeout_s * 1000), **(extra or {})})

    def _delivered(self, error: Any, message: Any) -> None:
        if error is not None and self._failed is None:
            self._failed = error.str()

    def send(self, key: str, value: bytes) -> None:
        kafka = _kafka()
        while True:
            try:
                self._producer.produce(self.topic, value, key.encode(),
                                       on_delivery=self._delivered)
                break
            except BufferError:  # the client's queue is full: let it drain a little
                self._producer.poll(0.1)
            except kafka.KafkaException as error:
                raise SessionFsmError(f"cannot publish to {self.topic}: "
                                      f"{error.args[0].str() if error.args else error}"
                                      ) from None
        self.sent += 1
        self._producer.poll(0)
        self._check()

    def wait(self) -> None:
        left = self._producer.flush(self.timeout_s)
        self._check()
        if left:
            raise SessionFsmError(f"Kafka at {self.bootstrap} did not take {left} messages "
                                  f"for {self.topic} within {self.timeout_s:g} s")

    def _check(self) -> None:
        if self._failed is not None:
            raise SessionFsmError(f"publishing to {self.topic} at {self.bootstrap} failed: "
                                  f"{self._failed}")


class ResponsePublisher:
    """``follow --publish-to`` and ``serve --publish-to``: each polled answer published as
    an input message before it is applied, and acknowledged by the broker first (a
    poller that dies after applying an answer has published it; one that cannot publish
    stops, as when its recording cannot be written)."""

    def __init__(self, bootstrap: str, topic: str, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 partitions: int = 4) -> None:
        ensure_topics(bootstrap, [TopicSpec(topic, partitions)], timeout_s=timeout_s)
        self.publisher = Publisher(bootstrap, topic, timeout_s=timeout_s)

    def __call__(self, key: str, line: bytes, number: int) -> None:
        """Publish the answer recorded as ``line``, the ``number``-th of session ``key``
        (its events' source, ``get-next-event:NUMBER``, as the poller's engine has it)."""
        from ..poll import RESPONSE_SOURCE
        from .messages import response_message

        message = response_message(key, line, Source(RESPONSE_SOURCE, number))
        self.publisher.send(message.key, message.value)
        self.publisher.wait()

    def close(self) -> None:
        self.publisher.wait()
