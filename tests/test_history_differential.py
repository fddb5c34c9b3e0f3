"""History folded from the change stream against the history the engine's records gave.

Until the change stream, the history was read from the engine's own records (every
contact's steps and the agent timeline, kept in the engine). It is now a fold over what
``feed()`` returns (``views/history.py``). The golden files in ``tests/data/differential``
were written by the records-based history of commit 0c2c667 (the last one that had it,
the ACW and handle-time fix included) from the simulated streams beside them: six agents
over 90 minutes each, seeds 3, 5 and 8, every media (calls with both ACW paths and the
repeated-timestamp close, chats with ChatText, work items, voicemails, digital,
supervisor monitoring). Before that code was deleted, the same comparison ran on
fifteen more seeds of 8 and 60 agents, all equal. The fold must give the same contacts,
steps, durations, ACW, handle time, transcripts and agent timeline, in the same order.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import GOLDEN, golden_form

from session_fsm.engine import SessionEngine
from session_fsm.views.history import HistoryFold
from session_fsm.wire.reader import iter_wire


def _folded(stream: Path) -> list[dict[str, Any]]:
    engine = SessionEngine()
    fold = HistoryFold()
    engine.subscribe(fold.apply)
    for key, wire, source in iter_wire([str(stream)]):  # type: ignore[misc]
        engine.feed(wire, key=key, source=source, batch=source)
    engine.finish()
    return [golden_form(history) for history in fold.histories(engine.sessions)]


@pytest.mark.parametrize("seed", [3, 5, 8])
def test_the_folded_history_equals_the_records_based_one(seed: int) -> None:
    expected = orjson.loads(gzip.decompress((GOLDEN / f"seed-{seed}.history.json.gz").read_bytes()))
    found = orjson.loads(orjson.dumps(_folded(GOLDEN / f"seed-{seed}.jsonl.gz")))
    assert [s["key"] for s in found] == [s["key"] for s in expected]
    media = set()
    for got, want in zip(found, expected, strict=True):
        assert got["agent_states"] == want["agent_states"], got["key"]
        assert [c["contact_id"] for c in got["contacts"]] == \
            [c["contact_id"] for c in want["contacts"]], got["key"]
        for contact, wanted in zip(got["contacts"], want["contacts"], strict=True):
            assert contact == wanted, (got["key"], contact["contact_id"])
            media.add(contact["media"])
    # the streams hold every media the engine has a machine for
    assert media == {"call", "chat", "work_item", "voicemail", "digital", "supervisor"}


@pytest.mark.parametrize("seed", [3, 5, 8])
def test_updates_taken_as_they_come_add_up_to_the_whole_history(seed: int) -> None:
    """take_updates() after every event, kept as a store keeps rows (the latest per
    contact id and per interval), gives the whole history, while the fold forgets what
    can no longer change (memory stays bounded however long the day)."""
    engine = SessionEngine()
    whole, part = HistoryFold(), HistoryFold()
    engine.subscribe(whole.apply)
    engine.subscribe(part.apply)
    rows: dict[str, tuple[dict[str, Any], dict[int, Any]]] = {}

    def take(key: str) -> None:
        contacts, intervals = rows.setdefault(key, ({}, {}))
        updates = part.take_updates(key)
        for contact in updates.contacts:
            contacts[contact.contact_id] = contact
        for interval in updates.agent_states:
            intervals[interval.event_index] = interval

    held = 0
    for key, wire, source in iter_wire([str(GOLDEN / f"seed-{seed}.jsonl.gz")]):  # type: ignore[misc]
        engine.feed(wire, key=key, source=source, batch=source)
        take(key)
        held = max(held, sum(len(log.contacts) for log in part.sessions.values()))
    engine.finish()
    for key in part.sessions:
        take(key)
    total = 0
    for history in whole.histories(engine.sessions):
        contacts, intervals = rows[history.key]
        assert sorted(contacts.values(), key=lambda c: c.first_index) == list(history.contacts)
        assert [intervals[i] for i in sorted(intervals)] == list(history.agent_states)
        total += len(history.contacts)
    assert total > 80
    assert held <= total // 4  # settled contacts were let go as the day went on
