"""Idempotence when a whole get-next-event response arrives twice (at-least-once delivery).

A poll retried after its answer was lost, or a recorder that writes a message twice,
repeats whole responses. Every expected value below is worked out by hand from the
timestamps written in the events.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
from helpers import Replayed, agent_state, call, session_start, utc

from session_fsm.engine import END_EVENTS, SessionEngine
from session_fsm.engine.changes import NO_CHANGES, Change, LinkMoved, Transition, as_json
from session_fsm.engine.rules import Violation
from session_fsm.engine.snapshot import to_json
from session_fsm.sim import simulate
from session_fsm.views.history import HistoryFold, histories_json
from session_fsm.wire.codec import decode
from session_fsm.wire.events import AgentSessionStart
from session_fsm.wire.reader import iter_wire

C = "1569815"


def t(minute: int, second: int = 0) -> datetime:
    return utc(2013, 9, 10, 20, minute, second)


# The case: in the middle of a call, one response holds the call, resumes it and
# sets the agent's next state.
BEFORE = [
    session_start(),
    agent_state("Available", at=t(0)),
    call(C, "Incoming", at=t(1)),
    agent_state("InboundContact", at=t(1)),
    call(C, "Active", at=t(1, 10), start=t(1)),
]
RESPONSE = [
    call(C, "Holding", at=t(2), start=t(1)),
    call(C, "Active", at=t(2, 30), start=t(1)),
    agent_state("InboundContact", at=t(1), next_states=["Unavailable"]),
]
AFTER = [
    call(C, "Disconnected", at=t(5), start=t(1), final=True),
    agent_state("Available", at=t(5)),
]


def _fed(batches: list[list[dict[str, Any]]]) -> tuple[Replayed, list[tuple[Change, ...]]]:
    """Each inner list is one response (one batch); what each event returned."""
    replayed = Replayed()
    returned = []
    for number, batch in enumerate(batches):
        for event in batch:
            before = len(replayed.said)
            replayed.feed(event, batch=number)
            returned.append(tuple(replayed.said[before:]))
    return replayed, returned


def _one_by_one(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [[event] for event in events]


def test_a_response_delivered_twice_is_applied_once() -> None:
    once, _ = _fed([*_one_by_one(BEFORE), RESPONSE, *_one_by_one(AFTER)])
    twice, returned = _fed([*_one_by_one(BEFORE), RESPONSE, RESPONSE, *_one_by_one(AFTER)])
    # the second copy (events 8, 9, 10) changes nothing, and says so once per event
    assert returned[8:11] == [NO_CHANGES] * 3
    assert [(v.rule, v.event_index) for v in twice.session.violations] == [
        ("duplicate-event", 8), ("duplicate-event", 9), ("duplicate-event", 10)]
    contact, = twice.history().contacts
    # Incoming 20:01:00, Active 20:01:10, Holding 20:02:00, Active 20:02:30, closed 20:05:00
    assert [(s.status, s.at, s.final, s.event_index) for s in contact.steps] == [
        ("Incoming", t(1), False, 2), ("Active", t(1, 10), False, 4),
        ("Holding", t(2), False, 5), ("Active", t(2, 30), False, 6),
        ("Disconnected", t(5), True, 11)]
    assert contact.hold_s == 30.0  # 20:02:00 to 20:02:30, once
    assert contact.time_in_status_s == {"Incoming": 10.0, "Active": 200.0, "Holding": 30.0}
    assert contact.handle_time_s == 230.0  # 20:01:10 to 20:05:00
    # the same as one delivery, but for the indexes the second copy took
    single, = once.history().contacts
    assert (single.hold_s, single.handle_time_s, single.time_in_status_s) == (
        contact.hold_s, contact.handle_time_s, contact.time_in_status_s)
    assert once.session.violations == []


def test_a_response_delivered_again_later_is_still_applied_once() -> None:
    """Another response came in between: the call's Holding is older than its current
    status, and the Active and the AgentState are their subjects' last events."""
    other = [agent_state("InboundContact", at=t(1), next_states=["Unavailable", "Available"])]
    replayed, returned = _fed([*_one_by_one(BEFORE), RESPONSE, other, RESPONSE])
    assert returned[9] == NO_CHANGES  # Holding at 20:02:00 again
    assert returned[10] == NO_CHANGES  # Active at 20:02:30 again: the call's last event
    # the AgentState of the response is not the agent's last any more (the one in
    # between set a next-next state) and not older than it: a real change back
    assert [(c.trigger, c.event_index) for c in returned[11] if isinstance(c, Transition)] \
        == [("next_set", 11)]
    contact, = replayed.history().contacts
    assert [s.status for s in contact.steps] == ["Incoming", "Active", "Holding", "Active"]
    assert [(v.rule, v.event_index) for v in replayed.session.violations] == [
        ("duplicate-event", 9), ("duplicate-event", 10)]


def test_a_genuinely_new_older_event_is_still_time_going_backwards() -> None:
    late = call(C, "Holding", at=t(2, 10), start=t(1))  # never applied: new, but older
    replayed, returned = _fed([*_one_by_one(BEFORE), RESPONSE, [late]])
    assert [v.rule for v in replayed.session.violations] == ["time-went-backwards"]
    assert [(c.from_state, c.to_state) for c in returned[8] if isinstance(c, Transition)] == [
        ("Active", "Holding")]
    contact, = replayed.history().contacts
    assert [s.status for s in contact.steps][-1] == "Holding"


def test_a_change_back_to_an_earlier_content_is_not_a_redelivery() -> None:
    """The next state set, then cleared (the same content as before it was set); a dialer
    call's IsLinked set and cleared: equal times, real changes."""
    first = agent_state("InboundContact", at=t(1))
    replayed, returned = _fed(_one_by_one([
        session_start(), first,
        agent_state("InboundContact", at=t(1), next_states=["Unavailable"]), first,
        call("7", "Dialing", at=t(2), inbound=False),
        call("7", "Active", at=t(3), inbound=False, linked=False),
        call("7", "Active", at=t(3), inbound=False, linked=True),
        call("7", "Active", at=t(3), inbound=False, linked=False),
    ]))
    assert [c.trigger for c in returned[3] if isinstance(c, Transition)] == ["next_cleared"]
    assert returned[7] == (LinkMoved("s", 7, "7", None),)
    assert replayed.session.violations == []


def test_a_join_batch_delivered_twice_is_applied_once() -> None:
    join = [call(C, "Active", at=t(1, 10), start=t(1)), session_start(),
            agent_state("InboundContact", at=t(1))]
    replayed, returned = _fed([join, join])
    assert returned[3:] == [NO_CHANGES] * 3
    # the call and the agent state are duplicates; the start is one start, whatever
    # repeats it, with no warning
    assert [(v.rule, v.event_index) for v in replayed.session.violations] == [
        ("duplicate-event", 3), ("duplicate-event", 5)]


# --- every response of a simulated day, delivered twice -----------------------------------


def _changes_and_views(path: Path) -> tuple[list[Change], SessionEngine, HistoryFold]:
    engine, fold, said = SessionEngine(), HistoryFold(), []
    for key, wire, source in iter_wire([str(path)]):  # type: ignore[misc]
        changes = engine.feed(wire, key=key, source=source, batch=source)
        said.extend(changes)
        fold.apply_all(changes)
    finished = engine.finish()
    said.extend(finished)
    fold.apply_all(finished)
    return said, engine, fold


def _at(change: Change, index: int) -> Change:
    """The change, said at another index."""
    if isinstance(change, Violation):
        return attrs.evolve(change, event_index=index)
    return change._replace(event_index=index)


def _without_source(change: Change) -> dict[str, Any]:
    found = as_json(change)
    found.pop("source", None)  # the file and line differ: one file holds each line twice
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_response_delivered_twice_gives_one_delivery(seed: int, tmp_path: Path) -> None:
    once = tmp_path / "once.jsonl"
    with once.open("wb") as out:
        simulate(out, agents=10, seed=seed, minutes=90)
    lines = once.read_bytes().splitlines(keepends=True)
    twice = tmp_path / "twice.jsonl"
    twice.write_bytes(b"".join(line + line for line in lines))
    # where each event of the single delivery lands when every line comes twice
    landing: dict[tuple[str, int], int] = {}
    taken: dict[str, int] = {}
    lifecycle = 0  # the session's own start and end: one whatever repeats them, silently
    for line in lines:
        envelope = orjson.loads(line)
        key, events = envelope["session"], envelope.get("events") or [envelope["event"]]
        lifecycle += sum(type(decode(e)) in (AgentSessionStart, *END_EVENTS) for e in events)
        start = taken.get(key, 0)
        for offset in range(len(events)):
            landing[key, start + offset] = 2 * start + offset
        taken[key] = start + len(events)

    said_once, engine_once, fold_once = _changes_and_views(once)
    said_twice, engine_twice, fold_twice = _changes_and_views(twice)

    moved = [_without_source(_at(c, landing[c.session, c.event_index])) for c in said_once]
    assert moved == [_without_source(c) for c in said_twice]
    assert len(said_once) > 1000

    def snapshot(engine: SessionEngine) -> list[dict[str, Any]]:
        # every delivery counts as an event, and each second copy has its warning
        return [{k: v for k, v in to_json(s).items() if k not in ("events", "violations")}
                for s in engine.snapshot()]

    assert snapshot(engine_once) == snapshot(engine_twice)
    duplicates = [v for v in engine_twice.violations() if v.rule == "duplicate-event"]
    # one warning per event delivered again
    assert len(duplicates) == sum(taken.values()) - lifecycle
    assert lifecycle >= 10
    history_once = histories_json(fold_once.histories(engine_once.sessions))
    history_twice = histories_json(fold_twice.histories(engine_twice.sessions))
    for session in history_once["sessions"]:
        for contact in session["contacts"]:
            for step in contact["steps"]:
                step["event_index"] = landing[session["key"], step["event_index"]]
    assert history_once == history_twice
