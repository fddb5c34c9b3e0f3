"""Checkpoint and restore: an engine's complete state as a versioned JSON document.

A checkpoint holds every session's machines, records, histories, counters and
violations, so a restored engine behaves exactly as the original from then on. Events
kept on records (indicators, monitoring...) travel in their wire form through the codec,
whose round trip is property-tested; the digest of the last event of each agent, leg and
contact (how a redelivery is told) travels as the number it is. The document carries
``format`` and ``version``: anything else (a foreign file, a newer version, a damaged
document) is refused with :class:`~session_fsm.errors.CheckpointError`, never misread.

:func:`write_atomic` writes a checkpoint as a user's process must: to a temporary file
in the same directory, fsync, rename over the old one, fsync the directory.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Hashable, Mapping, Sized
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import attrs
import cattrs
import orjson

from . import events as ev
from .codec import decode, encode
from .engine import AgentSession, SessionEngine
from .errors import CheckpointError, InputError, Source
from .records import (
    AgentInterval,
    AgentRecord,
    ContactRecord,
    LegRecord,
    NextStateChange,
    SessionInfo,
)
from .rules import Violation

FORMAT: Final = "session_fsm.checkpoint"
VERSION: Final = 2  # 2: records keep the digest of their last event, not the event

# Every attribute of AgentSession and how it travels. A test compares this with the
# attributes a live session has, so a new one cannot be forgotten silently.
_EVENT_MAPS = ("indicators", "page_opens", "pop_urls", "custom_events")
_OPTIONAL_EVENTS = ("monitoring", "take_over", "skill_list", "hours_of_operation")
_PLAIN = ("key", "strict", "linked_contact_id", "monitor_contact_id", "muted", "position",
          "events", "finished", "signals", "unknown_types", "rooms")
SESSION_FIELDS: Final = frozenset({
    *_EVENT_MAPS, *_OPTIONAL_EVENTS, *_PLAIN,
    "ignore", "info", "agent", "leg", "contacts", "closed", "agent_timeline",
    "next_state_changes", "past_legs", "session_errors", "violations",
    "_start_batch", "_last_ended_contact", "_source", "_index",
    # Not carried: `released` is empty until records are released from memory
    # (Store.flush); those records and their ids live elsewhere, so dump_session refuses
    # such a session rather than write a checkpoint that silently forgets them.
    "released",
    # Not carried: the changes of the event being applied; between events it holds the
    # last event's, which feed() already returned.
    "_out",
})

_state = cattrs.Converter()
_state.register_unstructure_hook(datetime, datetime.isoformat)
_state.register_structure_hook(datetime, lambda value, _: datetime.fromisoformat(value))


def _event_out(event: Any) -> Any:
    # `Any` also types plain values (a work item's payload dict holds strings): only
    # events (attrs classes) go through the codec.
    return encode(event) if attrs.has(type(event)) else event


def _event_in(value: Any, _: Any = None) -> Any:
    return decode(value) if isinstance(value, dict) else value


# Records keep typed events in `Any` fields (a monitoring event; a work item's payload is
# plain data) and lists of AgentError: both travel in wire form.
_state.register_unstructure_hook_func(lambda t: t is Any, _event_out)
_state.register_structure_hook_func(lambda t: t is Any, _event_in)
for _event_type in (ev.AgentError,):
    _state.register_unstructure_hook(_event_type, encode)
    _state.register_structure_hook(_event_type, lambda value, _: decode(value))


def _batch_out(batch: Hashable | None) -> Any:
    if isinstance(batch, Source):
        return {"path": batch.path, "line": batch.line}
    if batch is None or isinstance(batch, str | int):
        return batch
    return repr(batch)  # an opaque caller batch: equal only to itself after restore


def _batch_in(value: Any) -> Hashable | None:
    if isinstance(value, dict):
        return Source(value["path"], value["line"])
    return value  # type: ignore[no-any-return]


def dump_session(session: AgentSession) -> dict[str, Any]:
    """One session's complete state as JSON-ready data.

    A session that has released closed contacts from memory (``released``, e.g. after
    ``Store.flush``) is refused with :class:`CheckpointError`: its checkpoint would
    lose them.
    """
    released = session.released
    if not (isinstance(released, Sized) and len(released) == 0):
        held = (f"{len(released)} closed contact(s) from memory" if isinstance(released, Sized)
                else "closed contacts to a store")  # Store.flush: a lookup, not a set
        raise CheckpointError(
            f"session {session.key} has released {held}: their ids and histories are not in "
            "the engine; checkpoint the store, not the engine")
    unstructure = _state.unstructure
    data: dict[str, Any] = {name: getattr(session, name) for name in _PLAIN}
    data["signals"] = dict(session.signals)
    data["unknown_types"] = dict(session.unknown_types)
    data["rooms"] = dict(session.rooms)
    data["ignore"] = sorted(session.ignore)
    data["info"] = unstructure(session.info)
    data["agent"] = unstructure(session.agent)
    data["leg"] = unstructure(session.leg)
    data["past_legs"] = unstructure(session.past_legs, list[LegRecord])
    data["contacts"] = unstructure(list(session.contacts.values()), list[ContactRecord])
    data["closed"] = unstructure(list(session.closed.values()), list[ContactRecord])
    data["agent_timeline"] = unstructure(session.agent_timeline)
    data["next_state_changes"] = unstructure(session.next_state_changes)
    data["session_errors"] = [encode(e) for e in session.session_errors]
    data["violations"] = unstructure(session.violations)
    for name in _EVENT_MAPS:
        data[name] = {k: encode(v) for k, v in getattr(session, name).items()}
    for name in _OPTIONAL_EVENTS:
        data[name] = _event_out(getattr(session, name))
    data["start_batch"] = _batch_out(session._start_batch)
    data["last_ended_contact"] = session._last_ended_contact
    return data


def load_session(data: Mapping[str, Any]) -> AgentSession:
    """Rebuild a session from :func:`dump_session`'s data."""
    structure = _state.structure
    session = AgentSession(data["key"], strict=data["strict"], ignore=data["ignore"])
    for name in _PLAIN:
        setattr(session, name, data[name])
    session.info = structure(data["info"], SessionInfo)
    session.agent = structure(data["agent"], AgentRecord)
    session.leg = None if data["leg"] is None else structure(data["leg"], LegRecord)
    # empty ones stay the shared empties a new session starts with
    session.past_legs = structure(data["past_legs"], list[LegRecord]) or ()
    session.contacts = {c.contact_id: c for c in structure(data["contacts"], list[ContactRecord])}
    session.closed = {c.contact_id: c for c in structure(data["closed"], list[ContactRecord])}
    session.agent_timeline = structure(data["agent_timeline"], list[AgentInterval])
    session.next_state_changes = structure(data["next_state_changes"], list[NextStateChange])
    session.session_errors = [decode(e) for e in data["session_errors"]] or ()  # type: ignore[misc]
    session.violations = structure(data["violations"], list[Violation])
    for name in _EVENT_MAPS:
        setattr(session, name, {k: decode(v) for k, v in data[name].items()})
    for name in _OPTIONAL_EVENTS:
        setattr(session, name, _event_in(data[name]))
    session._start_batch = _batch_in(data["start_batch"])
    ended = data["last_ended_contact"]
    session._last_ended_contact = (ended[0], ended[1]) if ended else None
    return session


def dump_engine(engine: SessionEngine, *, position: Any = None) -> dict[str, Any]:
    """The whole engine (and, optionally, the caller's input position) as a document."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "strict": engine.strict,
        "ignore": sorted(engine.ignore),
        "position": position,
        "sessions": [dump_session(s) for s in engine.sessions.values()],
    }


def load_engine(document: Mapping[str, Any]) -> SessionEngine:
    """Rebuild an engine from :func:`dump_engine`'s document; refuse anything else."""
    if not isinstance(document, Mapping) or document.get("format") != FORMAT:
        raise CheckpointError("not a session_fsm checkpoint (no 'format' of "
                              f"{FORMAT!r})")
    version = document.get("version")
    if version != VERSION:
        raise CheckpointError(f"checkpoint version {version!r} is not supported "
                              f"(this session_fsm reads version {VERSION})")
    try:
        engine = SessionEngine(strict=document["strict"], ignore=document["ignore"])
        for data in document["sessions"]:
            session = load_session(data)
            engine.sessions[session.key] = session
    except (KeyError, TypeError, ValueError, InputError, cattrs.BaseValidationError) as exc:
        raise CheckpointError(f"damaged checkpoint: {exc!r}") from None
    return engine


def to_bytes(engine: SessionEngine, *, position: Any = None) -> bytes:
    return orjson.dumps(dump_engine(engine, position=position))


def from_bytes(data: bytes) -> tuple[SessionEngine, Any]:
    """An engine and the input position stored with it."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint is not JSON: {exc}") from None
    engine = load_engine(document)
    return engine, document.get("position")


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` so a crash leaves the old file or the new, never half."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    directory = os.open(target.parent or ".", os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_checkpoint(path: str | os.PathLike[str]) -> tuple[SessionEngine, Any]:
    """Load a checkpoint file written by :func:`write_atomic`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror}") from None
    return from_bytes(data)

