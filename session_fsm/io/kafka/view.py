"""``serve --changes-from-kafka``: the wallboard and API as a view of the output topics.

Theory of operation. The service's HTTP app reads a :class:`~..service.hub.Hub`: its
snapshots, its change log (the ``/api/changes`` event stream) and its clock skew.
:class:`KafkaView` is a hub whose engine is elsewhere: any number of ``session-fsm
stream`` processors. It reads the snapshots topic (the last snapshot of each session,
by the ``session-fsm-changes`` header, is the session now) and the changes topic (each
record's ``changes --json`` line goes into the change log under the next change id),
both from their beginning and ``read_committed``, so it shows what the processors
committed. A change record whose position (the ``session-fsm-change`` header) its
session has already had is a repeat, and is left out: at least once processing makes
them after a crash, and some brokers hand ``read_committed`` readers the records of
aborted transactions. So every client of the stream gets each change once, in its
session's order, whatever the processors went through.

The view keeps no engine and no history: ``/api/sessions/{key}/history`` answers 404
(histories are the store's and replay's), and pushes are refused (409): events go to
the input topic. A view keeps no state either: a restart reads the topics again.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

import orjson

from ...errors import PushConflictError, SessionFsmError
from ..service.hub import Hub, Pushed
from ..service.run import Service
from .client import CLIENT_LOG, GROUP_TIMEOUTS, _kafka, check_bootstrap
from .messages import CHANGE_HEADER, CHANGES_HEADER

log = logging.getLogger("session_fsm.io.service")

BATCH: Final = 2_000
"""Records taken from the topics at a time, between two turns of the event loop."""


def _header(headers: Any, name: str) -> int | None:
    for key, value in headers or ():
        if key == name:
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


class KafkaView(Hub):
    """A hub fed by the changes and snapshots topics instead of an engine of its own."""

    def __init__(self, bootstrap: str, changes_topic: str, snapshots_topic: str, *,
                 keep_changes: int, timeout_s: float = 30.0) -> None:
        super().__init__(keep_changes=keep_changes)
        self.bootstrap = check_bootstrap(bootstrap)
        self.changes_topic = changes_topic
        self.snapshots_topic = snapshots_topic
        self.timeout_s = timeout_s
        self.views: dict[str, dict[str, Any]] = {}
        """Each session's latest snapshot entry."""
        self._taken: dict[str, int] = {}
        """Each session's latest snapshot's change count."""
        self._next: dict[str, int] = {}
        """Each session's next change position."""
        self.repeats = 0
        """Change records left out as repeats."""
        self.gaps = 0
        """Sessions whose next change record came after a missing one."""
        self._stop = asyncio.Event()
        self._consumer: Any = None

    # --- reading the topics ------------------------------------------------------------

    def connect(self) -> None:
        """Reach the broker and assign every partition of both topics, from the start;
        one line (a :class:`SessionFsmError`) when that cannot be done in time."""
        kafka = _kafka()
        consumer = kafka.Consumer({
            "bootstrap.servers": self.bootstrap, "logger": CLIENT_LOG,
            "group.id": f"session-fsm-view-{secrets.token_hex(6)}",  # never commits
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "isolation.level": "read_committed", **GROUP_TIMEOUTS})
        try:
            metadata = consumer.list_topics(timeout=self.timeout_s)
        except kafka.KafkaException as error:
            consumer.close()
            raise SessionFsmError(f"cannot reach Kafka at {self.bootstrap} within "
                                  f"{self.timeout_s:g} s ({error.args[0].str()})") from None
        assigned = []
        for topic in (self.changes_topic, self.snapshots_topic):
            found = metadata.topics.get(topic)
            if found is None or found.error is not None or not found.partitions:
                consumer.close()
                raise SessionFsmError(f"topic {topic} does not exist on {self.bootstrap}: "
                                      "start a session-fsm stream processor first")
            assigned += [kafka.TopicPartition(topic, p, kafka.OFFSET_BEGINNING)
                         for p in sorted(found.partitions)]
        consumer.assign(assigned)
        self._consumer = consumer

    async def run(self) -> None:
        """Take the topics' records until :meth:`drain`."""
        consumer = self._consumer
        assert consumer is not None, "connect() first"
        try:
            while not self._stop.is_set():
                records = await asyncio.to_thread(consumer.consume, BATCH, 0.2)
                self.take(records)
        finally:
            await asyncio.to_thread(consumer.close)

    def drain(self) -> None:
        super().drain()
        self._stop.set()

    def take(self, records: Iterable[Any]) -> None:
        """Apply records of the two topics (in their partitions' order)."""
        lines: list[bytes] = []
        for record in records:
            if record.error() is not None:
                # a partition's end, or a broker's hiccup the client retries itself
                log.debug("kafka: %s", record.error().str())
                continue
            key = record.key().decode("utf-8", "replace") if record.key() else ""
            if record.topic() == self.snapshots_topic:
                self._take_snapshot(key, record)
            else:
                line = self._take_change(key, record)
                if line is not None:
                    lines.append(line)
        self._publish_lines(lines)

    def _take_snapshot(self, key: str, record: Any) -> None:
        count = _header(record.headers(), CHANGES_HEADER)
        if count is None or count < self._taken.get(key, -1):
            return  # an older one (a repeat read after a newer one)
        try:
            entry = orjson.loads(record.value())
        except orjson.JSONDecodeError:
            log.warning("a snapshot of session %s is not JSON: left out", key)
            return
        if type(entry) is dict:
            self._taken[key] = count
            self.views[key] = entry

    def _take_change(self, key: str, record: Any) -> bytes | None:
        position = _header(record.headers(), CHANGE_HEADER)
        value: bytes | None = record.value()
        if position is None or value is None:
            log.warning("a change record of session %s has no %s header: left out", key,
                        CHANGE_HEADER)
            return None
        expected = self._next.get(key, 0)
        if position < expected:
            self.repeats += 1
            return None
        if position > expected:
            self.gaps += 1
            log.warning("session %s: changes %d to %d are missing from %s", key, expected,
                        position - 1, self.changes_topic)
        self._next[key] = position + 1
        return value

    def _publish_lines(self, lines: list[bytes]) -> None:
        """The change log and what the app reads of it, as :meth:`Hub.publish` keeps
        them for changes made here."""
        if not lines:
            return
        newest: datetime | None = None
        for line in lines:
            self.changes.append(line)
            change = orjson.loads(line)
            kind = change.get("kind")
            if kind == "violation":
                self.violations.labels(change.get("rule"), change.get("severity")).inc()
            elif kind in ("transition", "agent_status") and change.get("at"):
                at = datetime.fromisoformat(change["at"])
                if newest is None or at > newest:
                    newest = at
        self._published(len(lines), newest)

    # --- what the app reads ------------------------------------------------------------

    def snapshots(self, keys: Iterable[str] | None = None) -> list[dict[str, Any]]:
        views = self.views
        if keys is None:
            return list(views.values())
        return [views[k] for k in dict.fromkeys(keys) if k in views]

    def snapshot(self, key: str) -> dict[str, Any] | None:
        return self.views.get(key)

    def history(self, key: str) -> dict[str, Any] | None:
        return None

    async def take_push(self, body: bytes, session: str | None, *,
                        max_line_bytes: int = 0, merge: bool = False) -> Pushed:
        raise PushConflictError(0, "this service is a view of Kafka topics: publish events "
                                   "to the processors' input topic (session-fsm publish)")


class KafkaService(Service):
    """``serve --changes-from-kafka``: the service, its API and wallboard over a
    :class:`KafkaView` (no followed sessions, no journal)."""

    def __init__(self, view: KafkaView, **options: Any) -> None:
        super().__init__(**options)
        self.hub = view

    def _health(self) -> dict[str, Any]:
        view = self.hub
        assert isinstance(view, KafkaView)
        return {**super()._health(), "sessions": len(view.views),
                "kafka": {"bootstrap": view.bootstrap, "changes_topic": view.changes_topic,
                          "snapshots_topic": view.snapshots_topic,
                          "repeats_left_out": view.repeats, "gaps": view.gaps}}
