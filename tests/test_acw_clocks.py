"""One definition of a contact's ACW and handle time, and every view follows it, also when
the agent's clock and the contact's differ (issue 29, item 4).

The definition (README, "History and the store"; ``views/history.py``): a contact's
``acw_s`` is the agent's ACW that belongs to it, from the ACW state's StartTimeUTC to the
next AgentState's (the agent's clock); only when no agent ACW belongs to it, its own ACW
phase, Disconnected (FinalState False) to FinalState True (the contact's clock).
``handle_time_s`` is first Active to the voice's end (its first Disconnected) plus
``acw_s``. ``time_in_status_s`` is the contact's own, by its own events.

The stream: one inbound call on 2013-09-11 (the documentation's day). The agent's events
and the call's are stamped by clocks a fraction of a second apart: the call's voice ends
at 10:05:00.000 by its clock, the agent's ACW starts at 10:05:00.200 by the agent's and
lasts 30 s, and the call's close is stamped 10:05:30.600.

- ring: Incoming 10:00:00.000 -> Active 10:00:04.000 = 4 s
- talk: Active 10:00:04.000 -> Disconnected 10:05:00.000 = 296 s
- the call's own Disconnected: 10:05:00.000 -> 10:05:30.600 = 30.6 s
- the agent's ACW: 10:05:00.200 -> 10:05:30.200 = 30 s: ``acw_s``
- handle time: 296 + 30 = 326 s (not the call's own 296 + 30.6 = 326.6)
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import agent_state, call, replay_history, session_start, utc

from session_fsm.views.contacts import CONTACT_COLUMNS, contact_values


def t(hour: int, minute: int, second: int, millisecond: int = 0) -> datetime:
    return utc(2013, 9, 11, hour, minute, second, millisecond)


CALL = "1569815"


def _call(status: str, at: datetime, *, final: bool = False) -> dict[str, Any]:
    return call(CALL, status, at=at, start=t(10, 0, 0), final=final)


DAY = [
    session_start(agent_id="12214"),
    agent_state("Available", at=t(9, 59, 0)),
    _call("Incoming", t(10, 0, 0)),
    agent_state("InboundContact", at=t(10, 0, 0), next_states=["Unavailable", "Available"]),
    _call("Active", t(10, 0, 4)),
    _call("Disconnected", t(10, 5, 0)),                     # the call's clock
    agent_state("Unavailable", at=t(10, 5, 0, 200), acw=True, acw_timeout=120,
                next_states=["Available"]),                 # the agent's clock
    _call("Disconnected", t(10, 5, 30, 600), final=True),
    agent_state("Available", at=t(10, 5, 30, 200)),
]

# by hand, from the module docstring
TIME_IN_STATUS = {"Incoming": 4.0, "Active": 296.0, "Disconnected": 30.6}
ACW_S = 30.0
HANDLE_S = 326.0  # 296 + 30


def test_the_history_counts_the_agents_acw_and_the_handle_time_from_it() -> None:
    replayed = replay_history(DAY)
    assert replayed.session.violations == []
    history = replayed.history()
    contact, = history.contacts
    assert contact.time_in_status_s == pytest.approx(TIME_IN_STATUS)
    assert (contact.ring_s, contact.hold_s) == (4.0, 0.0)
    assert contact.acw_s == pytest.approx(ACW_S)
    assert contact.handle_time_s == pytest.approx(HANDLE_S)
    # the ACW is the agent's interval linked to the call, to the millisecond
    acw, = [i for i in history.agent_states if i.is_acw]
    assert (acw.start, acw.end, acw.acw_contact_id) == (t(10, 5, 0, 200), t(10, 5, 30, 200),
                                                        CALL)
    assert acw.duration_s == pytest.approx(ACW_S)


def test_the_contacts_row_has_the_historys_figures() -> None:
    contact, = replay_history(DAY).history().contacts
    row = dict(zip(CONTACT_COLUMNS, contact_values(contact), strict=True))
    # talk is the time in Active: 296 s; handle = talk + ACW here (no hold)
    assert (row["ring_s"], row["talk_s"], row["hold_s"]) == (4.0, 296.0, 0.0)
    assert row["acw_s"] == pytest.approx(ACW_S)
    assert row["handle_time_s"] == pytest.approx(HANDLE_S)
    assert row["outcome"] == "handled"


def _archive(tmp_path: Path) -> str:
    path = tmp_path / "day.jsonl"
    path.write_bytes(b"".join(orjson.dumps({"session": "agent-12214", "event": e}) + b"\n"
                              for e in DAY))
    return str(path)


def test_replay_the_store_and_the_report_count_it_the_same_way(tmp_path: Path) -> None:
    pytest.importorskip("duckdb", reason="report needs the analytics extra")
    from session_fsm.io.replay import read_table, replay_local
    from session_fsm.io.report import open_source
    from session_fsm.io.store import Store

    archive = _archive(tmp_path)
    replay_local([archive], str(tmp_path / "tables"))
    row, = read_table(str(tmp_path / "tables"), "contacts").to_pylist()
    assert (row["acw_s"], row["handle_time_s"]) == pytest.approx((ACW_S, HANDLE_S))
    db = tmp_path / "store.sqlite"
    with Store(db) as store:
        store.ingest([archive])
    with closing(sqlite3.connect(db)) as connection:
        assert connection.execute("SELECT acw_s, handle_time_s FROM contacts").fetchall() == [
            pytest.approx((ACW_S, HANDLE_S))]
    for source in (open_source(str(tmp_path / "tables")), open_source(db=str(db))):
        try:
            skill, = source.report("skill").to_json()["groups"]
        finally:
            source.close()
        # one handled call: the averages are its figures
        assert (skill["group"], skill["handled"]) == ("1507", 1)
        assert (skill["talk_avg_s"], skill["acw_avg_s"], skill["handle_avg_s"]) == \
            pytest.approx((296.0, ACW_S, HANDLE_S))


def test_without_an_agent_acw_the_contacts_own_phase_is_its_acw_and_adds_up_the_same() -> None:
    """No agent ACW belongs to the call (the agent goes Available while the call is still
    in its ACW phase): its ACW is its own phase, and handle time the same sum."""
    contact, = replay_history([
        session_start(),
        agent_state("Available", at=t(11, 0, 0)),
        _call("Incoming", t(11, 0, 0)),
        agent_state("InboundContact", at=t(11, 0, 0)),
        _call("Active", t(11, 0, 10)),
        _call("Disconnected", t(11, 2, 0)),
        agent_state("Available", at=t(11, 2, 0)),
        _call("Disconnected", t(11, 2, 20), final=True),
    ]).history().contacts
    # ACW: Disconnected 11:02:00 -> FinalState True 11:02:20 = 20 s;
    # handle: Active 11:00:10 -> 11:02:00 = 110 s, + 20 = 130 s
    assert (contact.acw_s, contact.handle_time_s) == (20.0, 130.0)
    assert contact.time_in_status_s == {"Incoming": 10.0, "Active": 110.0, "Disconnected": 20.0}
