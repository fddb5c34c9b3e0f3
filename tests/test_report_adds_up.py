"""``session-fsm report``'s contact counts add up: offered = handled + abandoned + missed +
refused + unknown + open_at_end on every row of every grouping, in the real command run
in a subprocess.

First a small day worked out by hand from the event documentation (the seed): one agent,
one contact of each outcome. Then simulated days of several seeds, where contacts still
open when the input ends (the ones the report once had no column for) occur.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import agent_state, call, session_start, utc

pytest.importorskip("duckdb", reason="report needs the analytics extra")

BOUND_S = 120
PARTS = ("handled", "abandoned", "missed", "refused", "unknown", "open_at_end")
"""What offered is split into, written out here rather than taken from the code."""
BY = ("skill", "agent", "hour", "day")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "session_fsm", *args], capture_output=True,
                          text=True, timeout=BOUND_S)
    assert done.returncode == 0, done.stderr
    return done


def t(hour: int, minute: int, second: int) -> Any:
    return utc(2024, 3, 5, hour, minute, second)


def day_of_each_outcome(path: Path) -> Path:
    """One agent (1001), seven contacts; the first line is a join's first response.

    What the seed says each event means, and so each contact's outcome:

    - 5005 (skill 1507): the join's first response replays it ``Holding`` (a middle
      status: its start is not in the stream); it is ``Disconnected`` with FinalState
      True 30 s later, never ``Active`` in view, no after-call work, DisconnectCode
      ``NA``: ended unanswered, but whether it rang or was refused before the join
      cannot be known -> unknown.
    - 5001 (1507): ``Incoming`` ("when a call is first being routed to the agent"),
      ``Active`` ("finally connected to the agent leg"), ``Disconnected`` FinalState
      True -> handled.
    - 5002 (1507): ``Incoming``, then ``Disconnected`` FinalState True with DisconnectCode
      ``CallAbandoned`` 8 s later, never connected: the caller hung up while it rang at
      the agent -> abandoned.
    - 5003 (1507): ``Incoming`` at 09:05:00; the agent goes ``Refused`` at 09:05:45 (the
      RefusalTimeout of 45 s ran out) and the call ends then, never connected -> refused.
    - 5004 (1508): ``Incoming``, ``Disconnected`` FinalState True 20 s later, code ``NA``;
      the agent stayed ``Available`` and went ``OutboundContact`` next, not ``Refused``
      -> missed.
    - 5007 (1507): ``IsInbound False`` (manual outbound): ``Dialing``, ``Active``,
      ``Disconnected`` -> outbound, connected; not offered.
    - 5006 (1508): ``Incoming`` at 09:11:00, and the input ends: no FinalState True ->
      open at the end.
    """
    first = {"session": "desk", "events": [
        session_start(agent_id="1001"), agent_state("InboundContact", at=t(8, 58, 0)),
        call("5005", "Holding", at=t(8, 59, 30), start=t(8, 58, 0))]}
    rest = [
        call("5005", "Disconnected", at=t(9, 0, 30), final=True, start=t(8, 58, 0)),
        agent_state("Available", at=t(9, 0, 30)),
        call("5001", "Incoming", at=t(9, 1, 0)),
        agent_state("InboundContact", at=t(9, 1, 5)),
        call("5001", "Active", at=t(9, 1, 5), start=t(9, 1, 0)),
        call("5001", "Disconnected", at=t(9, 3, 0), final=True, start=t(9, 1, 0)),
        agent_state("Available", at=t(9, 3, 0)),
        call("5002", "Incoming", at=t(9, 4, 0)),
        call("5002", "Disconnected", at=t(9, 4, 8), final=True, disconnect="CallAbandoned",
             start=t(9, 4, 0)),
        call("5003", "Incoming", at=t(9, 5, 0)),
        agent_state("Refused", at=t(9, 5, 45)),
        call("5003", "Disconnected", at=t(9, 5, 45), final=True, start=t(9, 5, 0)),
        agent_state("Available", at=t(9, 6, 0)),
        call("5004", "Incoming", at=t(9, 7, 0), skill="1508"),
        call("5004", "Disconnected", at=t(9, 7, 20), final=True, skill="1508",
             start=t(9, 7, 0)),
        agent_state("OutboundContact", at=t(9, 8, 0)),
        call("5007", "Dialing", at=t(9, 8, 0), inbound=False),
        call("5007", "Active", at=t(9, 8, 15), inbound=False, start=t(9, 8, 0)),
        call("5007", "Disconnected", at=t(9, 10, 0), final=True, inbound=False,
             start=t(9, 8, 0)),
        agent_state("Available", at=t(9, 10, 0)),
        call("5006", "Incoming", at=t(9, 11, 0), skill="1508"),
    ]
    lines = [first, *({"session": "desk", "event": e} for e in rest)]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def counts(**given: int) -> dict[str, int]:
    return {"contacts": 0, "offered": 0, **dict.fromkeys(PARTS, 0), "outbound": 0,
            "outbound_connected": 0, "consults": 0, **given}


# 1507: 5005 unknown, 5001 handled, 5002 abandoned, 5003 refused (offered 4 = 0 + 1 + 1 +
#   0 + 1 + 1 + 0: handled, abandoned, missed, refused, unknown, open), and 5007 outbound
#   and connected: contacts 5 = 4 offered + 1 outbound.
# 1508: 5004 missed, 5006 open at the end: offered 2 = 1 + 1, contacts 2.
SKILL_1507 = counts(contacts=5, offered=4, handled=1, abandoned=1, refused=1, unknown=1,
                    outbound=1, outbound_connected=1)
SKILL_1508 = counts(contacts=2, offered=2, missed=1, open_at_end=1)
# all: contacts 5 + 2 = 7; offered 4 + 2 = 6 = 1 handled + 1 abandoned + 1 missed
#   + 1 refused + 1 unknown + 1 open at the end; abandon rate 1 / 6.
ALL = counts(contacts=7, offered=6, handled=1, abandoned=1, missed=1, refused=1, unknown=1,
             open_at_end=1, outbound=1, outbound_connected=1)
# by hour of the first status: 5005 08:59:30 alone in 08:00 (offered 1 = unknown 1); the
#   other six in 09:00: offered 5 = handled + abandoned + missed + refused + open.
HOURS = {"2024-03-05T08:00Z": counts(contacts=1, offered=1, unknown=1),
         "2024-03-05T09:00Z": counts(contacts=6, offered=5, handled=1, abandoned=1, missed=1,
                                     refused=1, open_at_end=1, outbound=1,
                                     outbound_connected=1)}


def only_counts(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in counts()}


def test_a_day_of_each_outcome_by_hand_in_the_real_command(tmp_path: Path) -> None:
    archive = day_of_each_outcome(tmp_path / "day.jsonl")
    run("replay", str(archive), "--out", str(tmp_path / "tables"))
    tables = str(tmp_path / "tables")
    found = orjson.loads(run("report", tables, "--json").stdout)
    assert {g["group"]: only_counts(g) for g in found["groups"]} == {
        "1507": SKILL_1507, "1508": SKILL_1508}
    assert only_counts(found["total"]) == ALL
    assert found["total"]["abandon_rate"] == round(1 / 6, 6)  # figures: to the microsecond
    assert [g["abandon_rate"] for g in found["groups"]] == [0.25, 0.0]
    for by, expected in (("agent", {"1001": ALL}), ("day", {"2024-03-05": ALL}),
                         ("hour", HOURS)):
        found = orjson.loads(run("report", tables, "--by", by, "--json").stdout)
        assert {g["group"]: only_counts(g) for g in found["groups"]} == expected, by
        assert only_counts(found["total"]) == ALL, by

    rows = list(csv.DictReader(io.StringIO(run("report", tables, "--csv").stdout)))
    assert [(r["group"], r["offered"], *(r[p] for p in PARTS)) for r in rows] == [
        ("1507", "4", "1", "1", "0", "1", "1", "0"),
        ("1508", "2", "0", "0", "1", "0", "0", "1"),
        ("all", "6", "1", "1", "1", "1", "1", "1")]

    human = run("report", tables).stdout.splitlines()
    header = next(line for line in human if line.lstrip().startswith("skill"))
    assert header.split()[:8] == ["skill", "offered", "handled", "abandoned", "missed",
                                  "refused", "unknown", "open"]
    total = next(line.split() for line in human if line.lstrip().startswith("all"))
    assert total[:8] == ["all", "6", "1", "1", "1", "1", "1", "1"]

    page = tmp_path / "report.html"
    run("report", tables, "--html", str(page))
    text = page.read_text()
    assert "<th>unknown</th><th>open at end</th>" in text
    cells = re.findall(r"<tr><td>all</td>((?:<td>[^<]*</td>){7})", text)
    assert cells == ["<td>6</td><td>1</td><td>1</td><td>1</td><td>1</td><td>1</td><td>1</td>"]


SEEDS = (3, 11, 29)


@pytest.fixture(scope="module")
def simulated_tables(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three simulated days (25 agents, four hours each), replayed to tables."""
    root = tmp_path_factory.mktemp("days")
    found = []
    for seed in SEEDS:
        archive = root / f"day-{seed}.jsonl"
        run("simulate", "--agents", "25", "--seed", str(seed), "--minutes", "240",
            "--out", str(archive))
        run("replay", str(archive), "--out", str(root / f"tables-{seed}"))
        found.append(root / f"tables-{seed}")
    return found


def test_every_row_of_every_grouping_adds_up_on_simulated_days(
        simulated_tables: list[Path]) -> None:
    open_at_end = 0
    for tables in simulated_tables:
        for by in BY:
            found = orjson.loads(run("report", str(tables), "--by", by, "--json").stdout)
            rows = [*found["groups"], found["total"]]
            assert len(rows) > 1
            for row in rows:
                where = (tables.name, by, row["group"])
                assert row["offered"] == sum(row[part] for part in PARTS), where
                assert row["contacts"] == row["offered"] + row["outbound"], where
                assert row["outbound_connected"] <= row["outbound"], where
            for name in ("contacts", "offered", *PARTS, "outbound", "outbound_connected",
                         "consults"):
                assert found["total"][name] == sum(g[name] for g in found["groups"]), \
                    (tables.name, by, name)
            open_at_end += found["total"]["open_at_end"]
    # the column the identity needed: contacts still open when a simulated day ends
    assert open_at_end > 0


def test_the_csv_rows_add_up_too(simulated_tables: list[Path]) -> None:
    done = run("report", str(simulated_tables[0]), "--by", "hour", "--csv")
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert rows[-1]["group"] == "all"
    for row in rows:
        assert int(row["offered"]) == sum(int(row[part]) for part in PARTS), row["group"]
