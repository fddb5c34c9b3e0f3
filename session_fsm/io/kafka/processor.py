"""``session-fsm stream``: the engine as a Quix Streams processor, any number in a group.

Theory of operation. Kafka's consumer group gives each processor some partitions of the
input topic, so each session (the message key) belongs to one processor at a time. For
every input message the processor takes its session's engine state from Quix's state
store (RocksDB, backed by a changelog topic; the state is the checkpoint form of one
session, :func:`~session_fsm.io.checkpoint.dump_session`), applies the message
(:func:`.messages.apply_message`), writes the state back, and produces the session's
changes to the changes topic (one record per change, its ``changes --json`` line, with
its position in the session's change stream as the ``session-fsm-change`` header) and,
with a snapshots topic, the session's snapshot (compacted: the last one per key is the
session now).

Exactly once (the default, ``processing_guarantee="exactly-once"``): Quix puts the
output records, the state's changelog records and the consumed offsets in one Kafka
transaction per checkpoint. A processor killed at any point leaves its open transaction
to be aborted, and whoever takes its partitions starts from the last committed offsets
with the state as of them, so the committed output is that of one uninterrupted run.
Each processor's ``transactional.id`` is stable (``session-fsm-GROUP-ID``, the ID kept
in its state directory), so a processor that restarts fences its former self and the
broker aborts that open transaction at once, instead of after
``transaction.timeout.ms`` on Kafka (or never, on a broker that lacks the timeout).

At least once (``--at-least-once``, for brokers without transactions): a processor that
dies redoes the messages after the last committed offsets. Its state is the one of those
offsets (Quix recovers the changelog no further than them), and a message already in
the state is not applied again (the state keeps the offset of the last one applied), so
the state is right; a redone message's changes may be produced twice, each time with
the same ``session-fsm-change`` position, which tells the repeat. A poller that
publishes one response twice is the engine's own redelivery rule: the repeat changes
nothing (a ``duplicate-event`` warning).

Speed: a session's engine is kept in memory between its messages (valid while the state
store's offset for it is the one the cached engine has applied), so a message costs
its events' feeding and one serialization of the session's state.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final, Literal

import attrs

from ...engine import AgentSession, new_session
from ...errors import CheckpointLoadError, SessionFsmError, Source
from ..checkpoint import dump_session, load_session
from .client import GROUP_TIMEOUTS, PARTITIONER, TopicSpec, ensure_topics, quiet_imports
from .messages import CHANGE_HEADER, CHANGES_HEADER, apply_message, change_records, snapshot_record

log = logging.getLogger("session_fsm.io.kafka")

Guarantee = Literal["exactly-once", "at-least-once"]

ID_FILE: Final = "session-fsm-processor-id"
"""The file in the state directory holding this processor's stable id."""

_STATE: Final = "session"
_AT: Final = "at"
_CHANGES: Final = "changes"


@attrs.frozen(kw_only=True)
class StreamConfig:
    """What ``session-fsm stream`` was asked to do."""

    bootstrap: str
    input_topic: str
    changes_topic: str
    snapshots_topic: str | None = None
    group: str = "session-fsm"
    guarantee: Guarantee = "exactly-once"
    state_dir: Path = Path("state")
    partitions: int = 4
    """Partitions of the topics this processor creates (the input's, for the outputs)."""
    commit_interval_s: float = 1.0
    stop_after_idle_s: float = 0.0
    """Stop once no message came for this long (0: run until stopped)."""
    debug: bool = False


@attrs.frozen(kw_only=True)
class StreamStats:
    """What one run of a processor did."""

    messages: int
    events: int
    """Input items applied (events, and unreadable items recorded)."""
    busy_s: float
    """From the first message applied to the last (joining the group and waiting for
    messages not included; the checkpoints' commits in between are)."""

    @property
    def events_per_s(self) -> float | None:
        return self.events / self.busy_s if self.busy_s > 0 else None


@attrs.define
class _Cached:
    at: list[int]
    session: AgentSession


class _Processor:
    """The per-message function and its cache of live sessions."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.cache: dict[str, _Cached] = {}
        self.messages = 0
        self.events = 0
        self.first_at: float | None = None
        self.last_at = 0.0

    def __call__(self, value: bytes, key: str, timestamp: int, headers: Any,
                 state: Any) -> tuple[list[tuple[bytes, int]], tuple[bytes, int]]:
        from quixstreams import message_context

        context = message_context()
        at = [context.partition, context.offset]
        done = state.get(_AT)
        if done is not None and done[0] == at[0] and done[1] >= at[1]:
            # already in the state (at least once: a message redone after a crash)
            return [], (b"", -1)
        if self.first_at is None:
            self.first_at = time.monotonic()
        session = self._session(key, done, state)
        before = session.position
        changes = apply_message(session, value, Source(f"{self.topic}/{at[0]}", at[1]))
        first = state.get(_CHANGES, 0)
        records = change_records(changes, first)
        count = first + len(records)
        state.set(_STATE, dump_session(session))
        state.set(_AT, at)
        state.set(_CHANGES, count)
        self.cache[key] = _Cached(at, session)
        self.messages += 1
        self.events += session.position - before
        self.last_at = time.monotonic()
        return records, (snapshot_record(session), count)

    def _session(self, key: str, done: list[int] | None, state: Any) -> AgentSession:
        cached = self.cache.get(key)
        if cached is not None and done is not None and cached.at == done:
            return cached.session
        saved = state.get(_STATE)
        if saved is None:
            return new_session(key)
        try:
            return load_session(saved)
        except CheckpointLoadError as error:  # only another version's state can be this
            raise SessionFsmError(f"the saved state of session {key!r} cannot be read "
                                  f"({error}); remove the processor's state directory and "
                                  "its changelog topic to rebuild it") from None


@contextlib.contextmanager
def _owned(state_dir: Path) -> Iterator[str]:
    """This processor's stable id, with the state directory locked for it: two
    processors in one directory would share a state store and a transactional id."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / ID_FILE
    handle: IO[str] = open(path, "a+", encoding="ascii")  # noqa: SIM115 - held open as the lock
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SessionFsmError(f"another processor runs in {state_dir} (its lock "
                                  f"{path} is held): give each processor its own "
                                  "--state-dir") from None
        handle.seek(0)
        kept = handle.read().strip()
        if not (kept.isascii() and kept.isalnum() and len(kept) == 16):
            kept = secrets.token_hex(8)
            handle.seek(0)
            handle.truncate()
            handle.write(kept + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        yield kept
    finally:
        handle.close()


def run(config: StreamConfig) -> StreamStats:
    """Run one processor until it is stopped (SIGTERM, Ctrl-C) or, with
    ``stop_after_idle_s``, until no message comes for that long; what it did."""
    with quiet_imports():
        try:
            from quixstreams import Application
        except ImportError:
            raise SessionFsmError("Kafka support is not installed: pip install "
                                  "'session-fsm[kafka]'") from None
    partitions = ensure_topics(config.bootstrap, [TopicSpec(config.input_topic,
                                                            config.partitions)])
    count = partitions[config.input_topic]
    outputs = [TopicSpec(config.changes_topic, count)]
    if config.snapshots_topic is not None:
        outputs.append(TopicSpec(config.snapshots_topic, count, compacted=True))
    for name, n in ensure_topics(config.bootstrap, outputs).items():
        if n != count:
            log.warning("topic %s has %d partitions and %s %d: sessions keep their order, "
                        "but processors share output partitions", name, n,
                        config.input_topic, count)
    with _owned(config.state_dir) as ident:
        app = Application(
            broker_address=config.bootstrap,
            consumer_group=config.group,
            auto_offset_reset="earliest",
            processing_guarantee=config.guarantee,
            commit_interval=config.commit_interval_s,
            state_dir=config.state_dir,
            consumer_extra_config=dict(GROUP_TIMEOUTS),
            producer_extra_config={
                "partitioner": PARTITIONER,
                "transactional.id": f"session-fsm-{config.group}-{ident}",
            },
            loglevel="DEBUG" if config.debug else "WARNING",
        )

        def existing(name: str) -> Any:
            # made above (ensure_topics): Quix reads their configs from the broker
            return app.topic(name, key_serializer="str", value_serializer="bytes",
                             key_deserializer="str", value_deserializer="bytes")

        processor = _Processor(config.input_topic)
        sdf = app.dataframe(existing(config.input_topic))
        out = sdf.apply(processor, stateful=True, metadata=True)
        changes = out.apply(lambda result: result[0], expand=True)
        changes = changes.set_headers(
            lambda value, key, timestamp, headers: [(CHANGE_HEADER, b"%d" % value[1])])
        changes.apply(lambda value: value[0]).to_topic(existing(config.changes_topic))
        if config.snapshots_topic is not None:
            snapshots = out.apply(lambda result: result[1]).filter(
                lambda value: value[1] >= 0)
            snapshots = snapshots.set_headers(
                lambda value, key, timestamp, headers: [(CHANGES_HEADER, b"%d" % value[1])])
            snapshots.apply(lambda value: value[0]).to_topic(
                existing(config.snapshots_topic))
        app.run(timeout=config.stop_after_idle_s, collect=False)
        busy = processor.last_at - processor.first_at if processor.first_at else 0.0
        return StreamStats(messages=processor.messages, events=processor.events, busy_s=busy)
