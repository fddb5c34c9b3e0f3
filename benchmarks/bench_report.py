"""Benchmark of ``session-fsm report`` over replay's tables.

By default the day is small (the suite runs this once, as a test, under
``--benchmark-disable``); ``REPORT_BENCH_AGENTS`` and ``REPORT_BENCH_MINUTES`` make it
bigger (about 1.5 events per agent-minute). The README's figure for the 5M-event archive
comes from the command line, on the tables ``bench_replay.py``'s archive replays to::

    python benchmarks/bench_replay.py generate DIR --agents 6800 --minutes 600 --files 8
    session-fsm replay DIR/*.jsonl --out TABLES
    /usr/bin/time -v session-fsm report TABLES --by agent --json > /dev/null
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("duckdb", reason="report needs the analytics extra")

from bench_replay import write_archive

from session_fsm.io.replay import replay_local
from session_fsm.io.report import open_source

AGENTS = int(os.environ.get("REPORT_BENCH_AGENTS", "30"))
MINUTES = float(os.environ.get("REPORT_BENCH_MINUTES", "60"))


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("report")
    archives, _ = write_archive(root / "archive", agents=AGENTS, minutes=MINUTES, files=2)
    out = str(root / "tables")
    replay_local(archives, out)
    return out


def report_all(tables: str) -> int:
    """Every grouping's report of the tables, as ``report --by ...`` computes it."""
    analytics = open_source(tables)
    try:
        return sum(len(analytics.report(by).groups) for by in ("skill", "agent", "hour", "day"))
    finally:
        analytics.close()


def test_report(benchmark, tables: str) -> None:  # type: ignore[no-untyped-def]
    """Report by skill, agent, hour and day over the replayed day."""
    groups = benchmark(report_all, tables)
    assert groups >= AGENTS  # one group per agent at least


def test_report_page(benchmark, tables: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Write the report page (charts drawn by matplotlib) of the replayed day."""
    from session_fsm.io.report_page import write_page

    def page() -> int:
        analytics = open_source(tables)
        try:
            write_page(analytics, analytics.report("skill"), str(tmp_path / "report.html"))
        finally:
            analytics.close()
        return (tmp_path / "report.html").stat().st_size

    assert benchmark(page) > 10_000
