"""``session-fsm report``: every metric worked out by hand from the day of
``tests/test_contacts_table.py`` (its rows are worked out there), from replay's tables
and from a store, and the page checked in a headless Chromium.

The contacts of the day, with the figures the metrics are made of (seconds):

| contact | agent | skill | direction | outcome | ring | talk | hold | ACW | handle |
|---|---|---|---|---|---|---|---|---|---|
| C1 | 1001 | 1507 | in | handled | 10 | 130 | 30 | 30 | 190 |
| C2 | 1001 | 1507 | in | abandoned | 12 | - | 0 | - | - |
| C3 | 1001 | 1508 | in | handled (transferred) | 5 | 160 | 75 | 20 | 255 |
| C4 | 1001 | 1508 | out, Consult | handled | 8 | 60 | 0 | - | 60 |
| W1 | 1002 | 1528 | (work item: in) | refused | 45 | - | 0 | - | - |
| W2 | 1002 | 1528 | (work item: in) | handled | 30 | 300 | 0 | - | 300 |
| C5 | 1002 | 1508 | in | missed | 20 | - | 0 | - | - |
| C6 | 1002 | 1507 | out | no_answer | 25 | - | 0 | - | - |
| C7 | 1002 | 1507 | out | handled | 15 | 120 | 0 | - | 120 |

C4 is a consult: counted in ``consults`` only (its time is C3's hold). Times are over
handled customer contacts; a handled contact without ACW counts 0 s of ACW.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

pytest.importorskip("duckdb", reason="report needs the analytics extra")

from test_contacts_table import write_day

from session_fsm.io.replay import replay_local
from session_fsm.io.report import open_source
from session_fsm.io.store import Store
from tests.browser import Browser, browser  # noqa: F401

ZERO = {"abandoned": 0, "missed": 0, "refused": 0, "unknown": 0, "open_at_end": 0,
        "outbound": 0, "outbound_connected": 0, "consults": 0}


def group(name: str, **figures: Any) -> dict[str, Any]:
    return {"group": name, **ZERO, **figures}


BY_SKILL = [
    # 1507: C1, C2 in (offered 2: handled C1, abandoned C2; 1/2 = 0.5 abandoned);
    # C6, C7 out (outbound 2, connected C7). Handled: C1 and C7.
    # ring (10 + 15) / 2 = 12.5, longest 15; talk (130 + 120) / 2 = 125, longest 130;
    # hold (30 + 0) / 2 = 15, longest 30; ACW (30 + 0) / 2 = 15, longest 30;
    # handle (190 + 120) / 2 = 155 (= 125 + 15 + 15), longest 190.
    group("1507", contacts=4, offered=2, handled=1, abandoned=1, abandon_rate=0.5,
          outbound=2, outbound_connected=1, ring_avg_s=12.5, ring_max_s=15.0,
          talk_avg_s=125.0, talk_max_s=130.0, hold_avg_s=15.0, hold_max_s=30.0,
          acw_avg_s=15.0, acw_max_s=30.0, handle_avg_s=155.0, handle_max_s=190.0),
    # 1508: C3 handled, C5 missed (offered 2, 0 abandoned); C4 a consult. Handled: C3.
    group("1508", contacts=2, offered=2, handled=1, missed=1, abandon_rate=0.0, consults=1,
          ring_avg_s=5.0, ring_max_s=5.0, talk_avg_s=160.0, talk_max_s=160.0,
          hold_avg_s=75.0, hold_max_s=75.0, acw_avg_s=20.0, acw_max_s=20.0,
          handle_avg_s=255.0, handle_max_s=255.0),
    # 1528: W1 refused, W2 handled. Handled: W2 (ring 30, talk 300 = handle, no ACW).
    group("1528", contacts=2, offered=2, handled=1, refused=1, abandon_rate=0.0,
          ring_avg_s=30.0, ring_max_s=30.0, talk_avg_s=300.0, talk_max_s=300.0,
          hold_avg_s=0.0, hold_max_s=0.0, acw_avg_s=0.0, acw_max_s=0.0,
          handle_avg_s=300.0, handle_max_s=300.0),
]
# all: 8 customer contacts (not C4); offered C1 C2 C3 W1 W2 C5 = 6; handled C1 C3 W2 = 3;
# abandoned 1 (1/6); outbound C6 C7, connected C7. Handled C1 C3 W2 C7:
# ring (10 + 5 + 30 + 15) / 4 = 15, longest 30; talk (130 + 160 + 300 + 120) / 4 = 177.5;
# hold (30 + 75 + 0 + 0) / 4 = 26.25, longest 75; ACW (30 + 20 + 0 + 0) / 4 = 12.5;
# handle (190 + 255 + 300 + 120) / 4 = 216.25 (= 177.5 + 26.25 + 12.5), longest 300.
TOTAL = group("all", contacts=8, offered=6, handled=3, abandoned=1, missed=1, refused=1,
              abandon_rate=1 / 6, outbound=2, outbound_connected=1, consults=1,
              ring_avg_s=15.0, ring_max_s=30.0, talk_avg_s=177.5, talk_max_s=300.0,
              hold_avg_s=26.25, hold_max_s=75.0, acw_avg_s=12.5, acw_max_s=30.0,
              handle_avg_s=216.25, handle_max_s=300.0)
BY_AGENT = [
    # 1001: C1 C2 C3 offered, C1 C3 handled, C2 abandoned (1/3); C4 a consult.
    # ring (10 + 5) / 2 = 7.5; talk (130 + 160) / 2 = 145; hold (30 + 75) / 2 = 52.5;
    # ACW (30 + 20) / 2 = 25; handle (190 + 255) / 2 = 222.5, longest 255.
    group("1001", contacts=3, offered=3, handled=2, abandoned=1, abandon_rate=1 / 3,
          consults=1, ring_avg_s=7.5, ring_max_s=10.0, talk_avg_s=145.0, talk_max_s=160.0,
          hold_avg_s=52.5, hold_max_s=75.0, acw_avg_s=25.0, acw_max_s=30.0,
          handle_avg_s=222.5, handle_max_s=255.0),
    # 1002: W1 W2 C5 offered (W2 handled, C5 missed, W1 refused); C6 C7 out, C7 connected.
    # Handled W2 C7: ring (30 + 15) / 2 = 22.5; talk (300 + 120) / 2 = 210 = handle.
    group("1002", contacts=5, offered=3, handled=1, missed=1, refused=1, abandon_rate=0.0,
          outbound=2, outbound_connected=1, ring_avg_s=22.5, ring_max_s=30.0,
          talk_avg_s=210.0, talk_max_s=300.0, hold_avg_s=0.0, hold_max_s=0.0,
          acw_avg_s=0.0, acw_max_s=0.0, handle_avg_s=210.0, handle_max_s=300.0),
]

# The agents' hours, interval by interval (from each AgentState's StartTimeUTC to the next):
# 1001: Available 10 (09:00:00-09:00:10) + 90 (09:03:30-09:05:00) + 287 (09:05:13-09:10:00)
#   + 340 (09:14:20-09:20:00) + 600 (09:50-10:00) = 1327; InboundContact 170 + 13 + 122
#   + 45 = 350; OutboundConsult 73 (09:12:02-09:13:15); ACW 30 + 20 = 50; Lunch 1800.
#   Logged in 3600 (the LoggedOut at 10:00 has no end). Occupied 350 + 73 + 50 = 473;
#   occupancy 473 / (473 + 1327) = 473 / 1800.
# 1002: Available 166 + 60 + 629 + 579 + 574 + 1065 = 3073; Refused 14 (09:02:46-09:03:00);
#   InboundContact 331 + 21 = 352; OutboundContact 26 + 135 = 161. Occupied 513;
#   occupancy 513 / (513 + 3073) = 513 / 3586; unavailable: the Refused 14.
AGENTS = [
    {"agent": "1001", "logged_in_s": 3600.0, "available_s": 1327.0, "occupied_s": 473.0,
     "acw_s": 50.0, "unavailable_s": 1800.0, "occupancy": 473 / 1800},
    {"agent": "1002", "logged_in_s": 3600.0, "available_s": 3073.0, "occupied_s": 513.0,
     "acw_s": 0.0, "unavailable_s": 14.0, "occupancy": 513 / 3586},
]
STATES = [  # (agent, state, out reason, ACW, intervals, seconds), longest first
    ("1001", "Unavailable", "Lunch", False, 1, 1800.0),
    ("1001", "Available", "", False, 5, 1327.0),
    ("1001", "InboundContact", "", False, 4, 350.0),
    ("1001", "OutboundConsult", "", False, 1, 73.0),
    ("1001", "Unavailable", "", True, 2, 50.0),
    ("1002", "Available", "", False, 6, 3073.0),
    ("1002", "InboundContact", "", False, 2, 352.0),
    ("1002", "OutboundContact", "", False, 2, 161.0),
    ("1002", "Refused", "", False, 1, 14.0),
]


def approx(value: Any) -> Any:
    """``value`` with every float rounded to the microsecond, as the report rounds its
    figures (1/6 and 473/1800 compare then)."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: approx(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [approx(v) for v in value]
    return value


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The day as an archive, replayed to tables, and ingested into a store."""
    root = tmp_path_factory.mktemp("day")
    archive = write_day(root / "day.jsonl")
    replay_local([archive], str(root / "tables"))
    with Store(root / "store.sqlite") as store:
        store.ingest([archive])
    return {"archive": Path(archive), "tables": root / "tables", "db": root / "store.sqlite"}


def report(day: dict[str, Path], source: str, by: str) -> dict[str, Any]:
    analytics = (open_source(str(day["tables"])) if source == "tables"
                 else open_source(db=str(day["db"])))
    try:
        return analytics.report(by).to_json()
    finally:
        analytics.close()


@pytest.mark.parametrize("source", ["tables", "store"])
def test_every_metric_by_skill_and_the_total_by_hand(day: dict[str, Path], source: str) -> None:
    found = report(day, source, "skill")
    assert approx(found["groups"]) == approx(BY_SKILL)
    assert approx(found["total"]) == approx(TOTAL)


@pytest.mark.parametrize("source", ["tables", "store"])
def test_every_metric_by_agent_by_hand(day: dict[str, Path], source: str) -> None:
    found = report(day, source, "agent")
    assert approx(found["groups"]) == approx(BY_AGENT)
    assert approx(found["agents"]) == approx(AGENTS)
    assert [tuple(s.values())[:6] for s in found["states"]] == STATES


@pytest.mark.parametrize("source", ["tables", "store"])
def test_by_hour_and_day_the_day_is_one_group(day: dict[str, Path], source: str) -> None:
    """Every contact started between 09:00 and 10:00 UTC on 2024-03-04."""
    for by, name in (("hour", "2024-03-04T09:00Z"), ("day", "2024-03-04")):
        found = report(day, source, by)
        assert approx(found["groups"]) == approx([{**TOTAL, "group": name}])


def test_the_store_and_the_tables_give_the_same_report(day: dict[str, Path]) -> None:
    for by in ("skill", "agent", "hour", "day"):
        tables, store = report(day, "tables", by), report(day, "store", by)
        assert {**tables, "source": None} == {**store, "source": None}, by


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "session_fsm", "report", *args],
                          capture_output=True, text=True, timeout=120)


def test_the_command_json_csv_and_human(day: dict[str, Path]) -> None:
    done = run(str(day["tables"]), "--by", "agent", "--json")
    assert done.returncode == 0, done.stderr
    assert approx(orjson.loads(done.stdout)["groups"]) == approx(BY_AGENT)
    done = run("--db", str(day["db"]), "--by", "agent", "--csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [(r["group"], r["offered"], r["handled"], r["handle_avg_s"], r["occupied_s"])
            for r in rows] == [("1001", "3", "2", "222.5", "473.0"),
                               ("1002", "3", "1", "210.0", "513.0"),
                               ("all", "6", "3", "216.25", "")]
    done = run(str(day["tables"]))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # 1507's rows (counts, outbound, times): offered 2, handled 1, abandoned 1 (missed,
    # refused, unknown, open at end 0), 50.0% abandoned; handle 2m 35s / 3m 10s
    counts, _, times = (line.split() for line in lines if line.strip().startswith("1507"))
    assert counts == ["1507", "2", "1", "1", "0", "0", "0", "0", "50.0%"]
    assert " ".join(times).endswith("2m 35s / 3m 10s")
    # three narrow tables, not one of seventeen columns: a 120-column terminal holds it
    assert max(len(line) for line in lines) <= 120
    assert any("473" not in line and "26.3%" in line for line in lines)  # 1001's occupancy


@pytest.mark.parametrize(("args", "message"), [
    (("{tmp}/nowhere",), "cannot read {tmp}/nowhere: no such directory"),
    (("{tmp}",), "cannot read {tmp}: no contacts table (replay tables of session-fsm 0.2 or "
                 "later: DIR/contacts, DIR/agent_states)"),
    (("--db", "{tmp}/none.sqlite"),
     "cannot read {tmp}/none.sqlite: no store there (create one with session-fsm ingest)"),
    (("--db", "{tmp}/text.sqlite"),
     "cannot read {tmp}/text.sqlite: not a session-fsm store (file is not a database)"),
    ((), "give TABLES_DIR or --db PATH (one of them)"),
    (("{tmp}", "--json", "--csv"), "--json and --csv: choose one"),
    # the page's place is checked before anything is read or computed: this error, not
    # the missing tables', is the one said
    (("{tmp}/nowhere", "--html", "{tmp}/no/dir/r.html"),
     "cannot write {tmp}/no/dir/r.html: no directory {tmp}/no/dir"),
], ids=["no-dir", "no-tables", "no-store", "not-a-store", "no-source", "json-and-csv",
        "page-nowhere"])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...],
                                          message: str) -> None:
    (tmp_path / "text.sqlite").write_text("hello\n")
    done = run(*(a.format(tmp=tmp_path) for a in args))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [f"session-fsm: {message.format(tmp=tmp_path)}"]


def test_a_damaged_part_file_is_one_line(day: dict[str, Path], tmp_path: Path) -> None:
    import shutil
    tables = tmp_path / "tables"
    shutil.copytree(day["tables"], tables)
    part, = (tables / "contacts").glob("part-*.parquet")
    part.write_bytes(b"PAR1 not really")
    done = run(str(tables))
    assert done.returncode == 2
    assert done.stderr.startswith(f"session-fsm: cannot read {tables}: contacts: ")
    assert len(done.stderr.splitlines()) == 1


def test_the_page_renders_offline_with_no_console_errors(day: dict[str, Path], tmp_path: Path,
                                                         browser: Browser) -> None:  # noqa: F811
    page = tmp_path / "report.html"
    done = run(str(day["tables"]), "--html", str(page))
    assert done.returncode == 0, done.stderr
    text = page.read_text()
    # nothing to fetch: no script, no link, no source, no url() pointing anywhere
    for reference in ("<script", "<link", 'src="', 'href="http', "url(http", "@import"):
        assert reference not in text, reference
    browser.open(page.as_uri())
    assert browser.console_errors() == []
    assert browser.outside_requests() == []
    body = browser.driver.find_element("tag name", "body").text
    for seen in ("Each agent's day", "Handle time per skill", "Contacts per hour",
                 # the handle time average, 216.25 s, as the terminal says it
                 "Contacts by skill", "26.3%", "14.3%", "1507", "1528", "3m 36s"):
        assert seen in body, seen
    svgs = browser.driver.find_elements("tag name", "svg")
    assert len(svgs) == 3
    assert all(svg.size["width"] > 300 and svg.size["height"] > 100 for svg in svgs)
    assert "216.2" not in body  # no raw seconds beside the terminal's durations
    browser.screenshot(Path("/tmp/report-test.png"))


# --- what each piece needs: a missing one is named with its extra ------------------------------


def run_without(modules: tuple[str, ...], *args: str) -> subprocess.CompletedProcess[str]:
    """The command in a Python where ``modules`` cannot be imported, as if not installed
    (a finder first on the path raises what a missing module raises)."""
    code = (
        "import sys\n"
        "class Missing:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.partition('.')[0] in {list(modules)!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Missing())\n"
        f"from session_fsm.cli import main\nmain({list(args)!r})\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


def test_replay_local_needs_no_dask(day: dict[str, Path], tmp_path: Path) -> None:
    done = run_without(("dask", "distributed", "pandas"), "replay", str(day["archive"]),
                       "--out", str(tmp_path / "out"), "--json")
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["rows"]["contacts"] == 9
    done = run_without(("dask", "distributed"), "replay", "--engine", "dask",
                       str(day["archive"]), "--out", str(tmp_path / "out2"))
    assert done.returncode == 2
    assert done.stderr.startswith("session-fsm: --engine dask needs Dask (")
    assert done.stderr.rstrip().endswith("pip install 'session-fsm[dask]'")


def test_a_missing_piece_names_the_analytics_extra(day: dict[str, Path], tmp_path: Path) -> None:
    done = run_without(("pyarrow",), "replay", str(day["archive"]), "--out",
                       str(tmp_path / "out"))
    assert (done.returncode, done.stderr.rstrip().splitlines()[-1][-36:]) == (
        2, "pip install 'session-fsm[analytics]'")
    done = run_without(("duckdb",), "report", str(day["tables"]))
    assert (done.returncode, done.stderr.rstrip()[-36:]) == (
        2, "pip install 'session-fsm[analytics]'")
    done = run_without(("matplotlib",), "report", str(day["tables"]), "--html",
                       str(tmp_path / "page.html"))
    assert (done.returncode, done.stderr.rstrip()[-36:]) == (
        2, "pip install 'session-fsm[analytics]'")
    assert not (tmp_path / "page.html").exists()


def test_a_simulated_day_gives_the_same_report_from_tables_and_store(tmp_path: Path) -> None:
    """Twenty simulated agents for an hour (every kind of contact the simulator makes:
    dialer calls, consults, conferences, refusals, joins): the store's contact and
    interval rows are replay's, so every figure of every grouping is the same."""
    from session_fsm.sim import Simulation

    archive = tmp_path / "sim.jsonl"
    archive.write_bytes(b"".join(Simulation(20, 5, 60.0).lines()))
    replay_local([str(archive)], str(tmp_path / "tables"))
    with Store(tmp_path / "store.sqlite") as store:
        store.ingest([str(archive)])
    outcomes = set()
    for by in ("skill", "agent", "hour", "day"):
        from_tables = report({"tables": tmp_path / "tables"}, "tables", by)
        from_store = report({"db": tmp_path / "store.sqlite"}, "store", by)
        assert {**from_tables, "source": None} == {**from_store, "source": None}, by
        outcomes |= {name for row in from_tables["groups"] for name in
                     ("handled", "abandoned", "refused", "outbound_connected") if row[name]}
    assert outcomes == {"handled", "abandoned", "refused", "outbound_connected"}
