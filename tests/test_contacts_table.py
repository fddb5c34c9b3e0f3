"""replay's ``contacts`` table, every column worked out by hand from a short day.

``DAY`` is two agents' hour (2024-03-04, 09:00 to 10:00 UTC), written event by event
with round timestamps so that each figure below can be checked with a pencil against
the documentation: ring is the first step to the first ``Active`` (or, never answered,
to the status that ended it); talk the time in ``Active``; hold the time in
``Holding``; ACW the agent's ACW interval linked to the contact, or the contact's own
``Disconnected`` (FinalState False) to its FinalState True; handle time the first
``Active`` to the voice's end, plus that ACW. The outcome rules are in
``session_fsm/views/contacts.py``. ``tests/test_report.py`` works the report's metrics
out of the same day.

Agent A (1001): C1 an inbound call with hold and a two-step ACW; C2 an inbound call the
caller abandons while it rings; C3 an inbound call held for a consult (C4, outbound,
CallType Consult) and then transferred (DisconnectCode TransferComplete), closed at once
and followed by the agent's ACW (the direct path); 30 minutes of Lunch.
Agent B (1002): W1 a work item refused (RefusalTimeout: the agent goes Refused); W2 a
work item worked and transferred (status Transfer, FinalState True); C5 an inbound call
missed (it stops ringing without an answer, code NA, no Refused); C6 an outbound call
nobody answers (NoAnswer); C7 an outbound call answered.
"""

from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

pa = pytest.importorskip("pyarrow", reason="replay needs pyarrow (the analytics extra)")

from helpers import agent_state, call, session_end, session_start, utc, work_item  # noqa: E402

from session_fsm.io.replay import TABLES, read_table, replay_local  # noqa: E402
from session_fsm.io.store import Store  # noqa: E402


def t(clock: str) -> datetime:
    hour, minute, second = (int(part) for part in clock.split(":"))
    return utc(2024, 3, 4, hour, minute, second)


A, B = "agent-a", "agent-b"

DAY: list[tuple[str, dict[str, Any]]] = [
    (A, session_start(agent_id="1001", session_id="501")),                       # A0
    (A, agent_state("Available", at=t("09:00:00"))),                             # A1
    (A, call("C1", "Incoming", at=t("09:00:10"))),                               # A2
    (A, agent_state("InboundContact", at=t("09:00:10"))),                        # A3
    (A, call("C1", "Active", at=t("09:00:20"))),                                 # A4
    (A, call("C1", "Holding", at=t("09:01:00"))),                                # A5
    (A, call("C1", "Active", at=t("09:01:30"))),                                 # A6
    (A, call("C1", "Disconnected", at=t("09:03:00"))),                           # A7
    (A, agent_state("Unavailable", at=t("09:03:00"), acw=True)),                 # A8
    (A, call("C1", "Disconnected", at=t("09:03:30"), final=True)),               # A9
    (A, agent_state("Available", at=t("09:03:30"))),                             # A10
    (A, call("C2", "Incoming", at=t("09:05:00"))),                               # A11
    (A, agent_state("InboundContact", at=t("09:05:00"))),                        # A12
    (A, call("C2", "Disconnected", at=t("09:05:12"), final=True,
             disconnect="CallAbandoned")),                                       # A13
    (A, agent_state("Available", at=t("09:05:13"))),                             # A14
    (A, call("C3", "Incoming", at=t("09:10:00"), skill="1508")),                 # A15
    (A, agent_state("InboundContact", at=t("09:10:00"))),                        # A16
    (A, call("C3", "Active", at=t("09:10:05"), skill="1508")),                   # A17
    (A, call("C3", "Holding", at=t("09:12:00"), skill="1508")),                  # A18
    (A, call("C4", "Dialing", at=t("09:12:02"), skill="1508", inbound=False,
             call_type="Consult")),                                              # A19
    (A, agent_state("OutboundConsult", at=t("09:12:02"))),                       # A20
    (A, call("C4", "Active", at=t("09:12:10"), skill="1508", inbound=False,
             call_type="Consult")),                                              # A21
    (A, call("C4", "Disconnected", at=t("09:13:10"), final=True, skill="1508",
             inbound=False, call_type="Consult")),                               # A22
    (A, call("C3", "Active", at=t("09:13:15"), skill="1508")),                   # A23
    (A, agent_state("InboundContact", at=t("09:13:15"))),                        # A24
    (A, call("C3", "Disconnected", at=t("09:14:00"), final=True, skill="1508",
             disconnect="TransferComplete")),                                    # A25
    (A, agent_state("Unavailable", at=t("09:14:00"), acw=True)),                 # A26
    (A, agent_state("Available", at=t("09:14:20"))),                             # A27
    (A, agent_state("Unavailable", at=t("09:20:00"), out_reason="Lunch")),       # A28
    (A, agent_state("Available", at=t("09:50:00"))),                             # A29
    (A, agent_state("LoggedOut", at=t("10:00:00"))),                             # A30
    (A, session_end()),                                                          # A31
    (B, session_start(agent_id="1002", session_id="502")),                       # B0
    (B, agent_state("Available", at=t("09:00:00"))),                             # B1
    (B, work_item("W1", "Incoming", at=t("09:02:00"))),                          # B2
    (B, work_item("W1", "Disconnected", at=t("09:02:45"), final=True)),          # B3
    (B, agent_state("Refused", at=t("09:02:46"))),                               # B4
    (B, agent_state("Available", at=t("09:03:00"))),                             # B5
    (B, work_item("W2", "Incoming", at=t("09:04:00"))),                          # B6
    (B, agent_state("InboundContact", at=t("09:04:00"))),                        # B7
    (B, work_item("W2", "Active", at=t("09:04:30"))),                            # B8
    (B, work_item("W2", "Transfer", at=t("09:09:30"), final=True)),              # B9
    (B, agent_state("Available", at=t("09:09:31"))),                             # B10
    (B, call("C5", "Incoming", at=t("09:20:00"), skill="1508")),                 # B11
    (B, agent_state("InboundContact", at=t("09:20:00"))),                        # B12
    (B, call("C5", "Disconnected", at=t("09:20:20"), final=True, skill="1508")),  # B13
    (B, agent_state("Available", at=t("09:20:21"))),                             # B14
    (B, agent_state("OutboundContact", at=t("09:30:00"))),                       # B15
    (B, call("C6", "Dialing", at=t("09:30:00"), inbound=False)),                 # B16
    (B, call("C6", "Disconnected", at=t("09:30:25"), final=True, inbound=False,
             disconnect="NoAnswer")),                                            # B17
    (B, agent_state("Available", at=t("09:30:26"))),                             # B18
    (B, agent_state("OutboundContact", at=t("09:40:00"))),                       # B19
    (B, call("C7", "Dialing", at=t("09:40:00"), inbound=False)),                 # B20
    (B, call("C7", "Active", at=t("09:40:15"), inbound=False)),                  # B21
    (B, call("C7", "Disconnected", at=t("09:42:15"), final=True, inbound=False)),  # B22
    (B, agent_state("Available", at=t("09:42:15"))),                             # B23
    (B, agent_state("LoggedOut", at=t("10:00:00"))),                             # B24
    (B, session_end()),                                                          # B25
]

COLUMNS = ("session", "agent_id", "contact_id", "event_index", "media", "skill", "call_type",
           "is_inbound", "status", "started", "answered", "ended", "ring_s", "talk_s",
           "hold_s", "acw_s", "handle_time_s", "disconnect_code", "outcome", "closed")

# Every row by hand. (session, agent_id, contact_id, event_index, media, skill, call_type,
# is_inbound, status, started, answered, ended, ring, talk, hold, acw, handle, code,
# outcome, closed)
EXPECTED: list[tuple[Any, ...]] = [
    # C1: ring 09:00:10 -> 09:00:20 = 10; talk 09:00:20 -> 09:01:00 (40) + 09:01:30 ->
    # 09:03:00 (90) = 130; hold 09:01:00 -> 09:01:30 = 30; ACW: the agent's ACW interval
    # 09:03:00 -> 09:03:30 = 30 (the same as the contact's own Disconnected -> final);
    # handle = talk to the voice's end 09:00:20 -> 09:03:00 (160) + ACW 30 = 190.
    (A, "1001", "C1", 2, "call", "1507", "Regular", True, "Disconnected", t("09:00:10"),
     t("09:00:20"), t("09:03:30"), 10.0, 130.0, 30.0, 30.0, 190.0, "NA", "handled", True),
    # C2: never Active, CallAbandoned: ring to the status that ended it 09:05:00 ->
    # 09:05:12 = 12; no talk, no handle; hold 0 (its one timed status was Incoming).
    (A, "1001", "C2", 11, "call", "1507", "Regular", True, "Disconnected", t("09:05:00"),
     None, t("09:05:12"), 12.0, None, 0.0, None, None, "CallAbandoned", "abandoned", True),
    # C3: ring 09:10:00 -> 09:10:05 = 5; talk 09:10:05 -> 09:12:00 (115) + 09:13:15 ->
    # 09:14:00 (45) = 160; hold 09:12:00 -> 09:13:15 = 75; closed at once, so ACW is the
    # agent's ACW that followed, linked to it: 09:14:00 -> 09:14:20 = 20; handle =
    # 09:10:05 -> 09:14:00 (235) + 20 = 255.
    (A, "1001", "C3", 15, "call", "1508", "Regular", True, "Disconnected", t("09:10:00"),
     t("09:10:05"), t("09:14:00"), 5.0, 160.0, 75.0, 20.0, 255.0, "TransferComplete",
     "handled", True),
    # C4 (consult): ring 09:12:02 -> 09:12:10 = 8; talk 09:12:10 -> 09:13:10 = 60; no
    # ACW of its own and none linked; handle = first Active to its close = 60.
    (A, "1001", "C4", 19, "call", "1508", "Consult", False, "Disconnected", t("09:12:02"),
     t("09:12:10"), t("09:13:10"), 8.0, 60.0, 0.0, None, 60.0, "NA", "handled", True),
    # W1: offered 09:02:00, closed 09:02:45 never Active (ring 45); the agent goes
    # Refused next (09:02:46): refused. A work item has no direction, call type or code.
    (B, "1002", "W1", 2, "work_item", "1528", None, None, "Disconnected", t("09:02:00"),
     None, t("09:02:45"), 45.0, None, 0.0, None, None, None, "refused", True),
    # W2: ring 09:04:00 -> 09:04:30 = 30; talk 09:04:30 -> 09:09:30 = 300 = handle.
    (B, "1002", "W2", 6, "work_item", "1528", None, None, "Transfer", t("09:04:00"),
     t("09:04:30"), t("09:09:30"), 30.0, 300.0, 0.0, None, 300.0, None, "handled", True),
    # C5: ring 09:20:00 -> 09:20:20 = 20, never answered, code NA, the agent goes
    # Available next: missed.
    (B, "1002", "C5", 11, "call", "1508", "Regular", True, "Disconnected", t("09:20:00"),
     None, t("09:20:20"), 20.0, None, 0.0, None, None, "NA", "missed", True),
    # C6: dialing 09:30:00 -> 09:30:25 = 25 and NoAnswer: no_answer.
    (B, "1002", "C6", 16, "call", "1507", "Regular", False, "Disconnected", t("09:30:00"),
     None, t("09:30:25"), 25.0, None, 0.0, None, None, "NoAnswer", "no_answer", True),
    # C7: ring 09:40:00 -> 09:40:15 = 15; talk 09:40:15 -> 09:42:15 = 120 = handle.
    (B, "1002", "C7", 20, "call", "1507", "Regular", False, "Disconnected", t("09:40:00"),
     t("09:40:15"), t("09:42:15"), 15.0, 120.0, 0.0, None, 120.0, "NA", "handled", True),
]


def write_day(path: Path, day: list[tuple[str, dict[str, Any]]] = DAY) -> str:
    path.write_bytes(b"".join(orjson.dumps({"session": key, "event": event}) + b"\n"
                              for key, event in day))
    return str(path)


def contact_rows(out: Path) -> list[tuple[Any, ...]]:
    return [tuple(row[c] for c in COLUMNS)
            for row in read_table(str(out), "contacts").to_pylist()]


def test_the_table_has_the_documented_columns_none_needing_quotes() -> None:
    assert tuple(TABLES["contacts"].names) == COLUMNS
    for name, schema in TABLES.items():
        assert not {"at", "end", "start"} & set(schema.names), name


def test_every_column_of_every_contact_by_hand(tmp_path: Path) -> None:
    out = tmp_path / "out"
    replay_local([write_day(tmp_path / "day.jsonl")], str(out))
    assert contact_rows(out) == EXPECTED


def test_the_same_rows_from_two_chunks_cut_inside_a_contact(tmp_path: Path) -> None:
    """Cut after A7 (C1 in its ACW phase) and B3 (W1 closed, the Refused not yet
    seen): the rows come out of the second chunk, the same."""
    b0 = next(n for n, (key, _) in enumerate(DAY) if key == B)
    first = DAY[:8] + DAY[b0:b0 + 4]
    rest = DAY[8:b0] + DAY[b0 + 4:]
    ckpt, out1, out2 = tmp_path / "ckpt", tmp_path / "out1", tmp_path / "out2"
    replay_local([write_day(tmp_path / "d1.jsonl", first)], str(out1), checkpoint_dir=str(ckpt))
    assert contact_rows(out1) == []
    replay_local([write_day(tmp_path / "d2.jsonl", rest)], str(out2), checkpoint_dir=str(ckpt),
                 last_chunk=True)
    assert contact_rows(out2) == EXPECTED


def test_an_open_contact_at_the_end_is_a_row_with_outcome_open(tmp_path: Path) -> None:
    """Active since 09:00:20 when the input ends: no end, no handle time; ring 10 s and
    talk 0 s (its Active has no end)."""
    day = DAY[:5]
    out = tmp_path / "out"
    replay_local([write_day(tmp_path / "day.jsonl", day)], str(out))
    assert contact_rows(out) == [
        (A, "1001", "C1", 2, "call", "1507", "Regular", True, "Active", t("09:00:10"),
         t("09:00:20"), None, 10.0, 0.0, 0.0, None, None, "NA", "open", False)]


def test_agent_id_is_on_the_steps_and_the_agent_states(tmp_path: Path) -> None:
    out = tmp_path / "out"
    replay_local([write_day(tmp_path / "day.jsonl")], str(out))
    steps = read_table(str(out), "contact_steps").to_pylist()
    states = read_table(str(out), "agent_states").to_pylist()
    assert {(r["session"], r["agent_id"]) for r in steps + states} == {(A, "1001"), (B, "1002")}
    # the first interval of A: Available 09:00:00 -> 09:00:10 (10 s), renamed columns
    first = states[0]
    assert (first["state"], first["started"], first["ended"], first["duration_s"]) == (
        "Available", t("09:00:00"), t("09:00:10"), 10.0)




# --- the store: the same rows, as real columns ----------------------------------------------

STORE_QUERY = """
SELECT s.key, c.agent_id, c.contact_id, c.event_index, c.media, c.skill, c.call_type,
       c.is_inbound, c.status, c.started, c.answered, c.ended, c.ring_s, c.talk_s, c.hold_s,
       c.acw_s, c.handle_time_s, c.disconnect_code, c.outcome, c.closed
FROM contacts c JOIN sessions s ON s.id = c.session ORDER BY s.key, c.event_index
"""


def store_rows(db: Path) -> list[tuple[Any, ...]]:
    """The store's contacts as replay's rows: SQLite has no time or boolean type, so times
    are epoch seconds and booleans 0/1 there."""
    def when(value: float | None) -> datetime | None:
        return None if value is None else datetime.fromtimestamp(value, UTC)

    def boolean(value: int | None) -> bool | None:
        return None if value is None else bool(value)

    with closing(sqlite3.connect(db)) as connection:
        found = connection.execute(STORE_QUERY).fetchall()
    return [(*row[:7], boolean(row[7]), row[8], when(row[9]), when(row[10]), when(row[11]),
             *row[12:19], bool(row[19])) for row in found]


def test_the_store_has_the_same_contact_rows_as_columns(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite"
    with Store(db) as store:
        store.ingest([write_day(tmp_path / "day.jsonl")])
    assert store_rows(db) == EXPECTED
    with closing(sqlite3.connect(db)) as connection:
        assert connection.execute("SELECT key, agent_id FROM sessions ORDER BY key").fetchall() \
            == [(A, "1001"), (B, "1002")]
        # A's lunch as real columns: 09:20 -> 09:50, 1800 s
        assert connection.execute(
            "SELECT agent_id, state, out_reason, duration_s, ended - started FROM agent_states "
            "WHERE out_reason = 'Lunch'").fetchall() == [("1001", "Unavailable", "Lunch",
                                                           1800.0, 1800.0)]


def test_the_store_fed_response_by_response_has_the_same_rows(tmp_path: Path) -> None:
    """follow --db stores one line at a time: a refused contact is decided before the
    fold drops it, whichever event the write comes after."""
    db = tmp_path / "store.sqlite"
    path = write_day(tmp_path / "day.jsonl")
    with Store(db) as store, store.writer() as writer:
        for line, data in enumerate(Path(path).read_bytes().splitlines(), 1):
            writer.add_line(path, line, data)
    assert store_rows(db) == EXPECTED


def test_a_version_2_store_is_upgraded_to_columns_and_rebuilt(tmp_path: Path) -> None:
    """A store as version 2 wrote it (first_index, start, "end", no figures): opened for
    writing, its columns are renamed and added, and the next ingest fills them."""
    db = tmp_path / "store.sqlite"
    path = write_day(tmp_path / "day.jsonl")
    with Store(db) as store:
        store.ingest([path])
    with closing(sqlite3.connect(db)) as old:
        for table, columns in (("sessions", ("agent_id",)),
                               ("contacts", ("agent_id", "call_type", "is_inbound",
                                             "answered", "ring_s", "talk_s", "hold_s", "acw_s",
                                             "handle_time_s", "outcome")),
                               ("agent_states", ("agent_id", "duration_s", "acw_contact_id"))):
            for column in columns:
                old.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        old.execute("ALTER TABLE contacts RENAME COLUMN event_index TO first_index")
        old.execute("ALTER TABLE agent_states RENAME COLUMN started TO start")
        old.execute('ALTER TABLE agent_states RENAME COLUMN ended TO "end"')
        old.execute("UPDATE meta SET value = '2' WHERE name = 'version'")
        old.commit()
    with Store(db, read_only=True) as reader:  # read as it is
        assert [c.contact_id for _, c in reader.contacts()] == [r[2] for r in EXPECTED]
    warnings: list[str] = []
    with Store(db, on_warning=warnings.append) as store:
        result = store.ingest([path])
    assert warnings == [f"{db}: upgraded from store format version 2 to 3; the histories of "
                        "its 2 sessions are rebuilt from their events by the next ingest"]
    assert (result.added, sorted(result.rebuilt)) == (0, [A, B])
    assert store_rows(db) == EXPECTED


if __name__ == "__main__":  # pragma: no cover - write the day for a manual look
    write_day(Path(sys.argv[1]))
