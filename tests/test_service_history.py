"""The service's bounded histories: :func:`~session_fsm.io.service.hub.prune_log` and the
store under them (:func:`~session_fsm.io.service.hub.merged_history`).

A simulated stream of several agents over hours is folded twice: once whole (what
``history --json`` says) and once pruned as the hub prunes, at every ``AgentStatus``.
What the pruned fold still holds must be exactly the whole fold's, item for item; what it
no longer holds must be old (closed and settled before the window); the memory held must
stay bounded however long the stream; and with a store written from the same events,
store and memory together must give the whole history back.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from session_fsm import SessionEngine
from session_fsm.engine.changes import AgentStatus
from session_fsm.io.service.hub import merged_history, prune_log
from session_fsm.io.store import Store
from session_fsm.sim import simulate
from session_fsm.views.history import HistoryFold, settled
from session_fsm.views.history import to_json as history_json
from session_fsm.wire.reader import iter_wire

WINDOW = timedelta(minutes=30)


def folded(path: Path, *, window: timedelta | None) -> tuple[HistoryFold, dict[str, int]]:
    """The stream at ``path`` folded, pruned as the hub prunes when ``window`` is given;
    and the largest number of contacts plus stretches any session's log held after a
    prune."""
    engine = SessionEngine()
    fold = HistoryFold()
    largest: dict[str, int] = {}
    for key, wire, source in iter_wire(path):
        changes = engine.feed(wire, key=key, source=source, batch=source)
        fold.apply_all(changes)
        if window is not None and any(type(c) is AgentStatus for c in changes):
            log = fold.sessions[key]
            prune_log(log, window)
            held = len(log.contacts) + len(log.timeline)
            largest[key] = max(largest.get(key, 0), held)
    return fold, largest


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("day") / "day.jsonl"
    with path.open("wb") as out:
        simulate(out, agents=4, seed=7, minutes=300.0)
    return path


def test_what_a_pruned_history_holds_is_the_whole_history_s_and_what_went_is_old(
        day: Path) -> None:
    whole, _ = folded(day, window=None)
    pruned, _ = folded(day, window=WINDOW)
    assert pruned.keys() == whole.keys()
    went = 0
    for key in list(whole.sessions):
        full = history_json(whole.history(key))
        kept = history_json(pruned.history(key))
        full_contacts = {c["contact_id"]: c for c in full["contacts"]}
        # every contact still held is the whole history's, the same to the last figure
        for contact in kept["contacts"]:
            assert contact == full_contacts[contact["contact_id"]]
        # every stretch still held is the whole history's, and they are its last ones
        states = full["agent_states"]
        assert kept["agent_states"] == [s for s in states if s in kept["agent_states"]]
        assert kept["agent_states"][-1] == states[-1]
        # what went closed (and was settled) more than the window before the agent's
        # current state began; nothing open went
        log = whole.sessions[key]
        last = log.timeline[-1]
        assert last.start is not None
        for contact_id in set(full_contacts) - {c["contact_id"] for c in kept["contacts"]}:
            contact = log.contacts[contact_id]
            assert settled(contact, last)
            closed = max(s.at for s in contact.steps if s.at is not None)
            assert closed < last.start - WINDOW
            went += 1
        dropped = [s for s in states if s not in kept["agent_states"]]
        for stretch in dropped:
            assert stretch["end"] is not None
        went += len(dropped)
    assert went > 100  # five hours, a window of half of one: most of it went


def test_a_pruned_history_stays_bounded_however_long_the_stream(tmp_path: Path) -> None:
    # the same agents over 2 and over 8 hours: what a session holds at most does not grow
    # with the length of the stream (it is what the window of 30 minutes holds)
    held: dict[float, int] = {}
    for minutes in (120.0, 480.0):
        path = tmp_path / f"{minutes}.jsonl"
        with path.open("wb") as out:
            simulate(out, agents=3, seed=5, minutes=minutes)
        whole, _ = folded(path, window=None)
        _, largest = folded(path, window=WINDOW)
        held[minutes] = max(largest.values())
        total = max(len(log.contacts) + len(log.timeline) for log in whole.sessions.values())
        assert held[minutes] < total / 2  # far less than all of it
    assert held[480.0] < 2 * held[120.0], held  # four times the stream, not 4x the memory


def test_the_store_and_the_window_give_the_whole_history_back(day: Path,
                                                              tmp_path: Path) -> None:
    # serve --db stores every answer; the history the API shows is the store's under
    # what memory holds (merged_history), which must be the whole history
    whole, _ = folded(day, window=None)
    pruned, _ = folded(day, window=WINDOW)
    with Store(tmp_path / "day.sqlite") as store:
        store.ingest([str(day)])
        for key in list(whole.sessions):
            stored = store.history(key)
            assert stored is not None
            full = history_json(whole.history(key))
            shown = history_json(merged_history(stored, pruned.history(key)))
            assert _by_contact(shown) == _by_contact(full)
            assert shown["agent_states"] == full["agent_states"]


def _by_contact(history: dict[str, Any]) -> dict[str, Any]:
    return {c["contact_id"]: c for c in history["contacts"]}
