"""``session-fsm report``: standard contact-center metrics from replay tables or a store.

The metrics are :mod:`session_fsm.io.report`'s (DuckDB over the tables); this module
checks the options, prints them as tables, JSON or CSV, and writes the page
(:mod:`session_fsm.io.report_page`). DuckDB, pyarrow and matplotlib are the
``analytics`` extra: they are imported only when the command runs, and a missing one is
one line naming the extra.
"""

from __future__ import annotations

import csv
import os
import sys
from typing import TYPE_CHECKING, Any, Final

import click

from ..views.durations import duration
from ._common import EXIT_INPUT, JSON, Failure, emit_json
from .render import Columns, Style, cell

if TYPE_CHECKING:
    from ..io.report import Report

EXAMPLES = """\b
Examples:
  session-fsm replay archive/*.jsonl.gz --out tables/ && session-fsm report tables/
  session-fsm report tables/ --by agent --csv > agents.csv
  session-fsm report --db store.sqlite --by hour --json
  session-fsm report tables/ --html report.html
"""

_EXTRA: Final = "pip install 'session-fsm[analytics]'"


@click.command("report", epilog=EXAMPLES)
@click.argument("tables_dir", required=False, metavar="[TABLES_DIR]")
@click.option("--db", metavar="PATH", help="Report on this store (see `ingest`) instead of "
                                            "replay's tables.")
@click.option("--by", type=click.Choice(["skill", "agent", "hour", "day"]), default="skill",
              show_default=True, help="How contacts are grouped (hour and day: of the "
                                      "contact's start, UTC).")
@click.option("--csv", "as_csv", is_flag=True,
              help="The grouped metrics as CSV on stdout (with --by agent, each agent's "
                   "time columns too).")
@click.option("--html", "html", metavar="FILE", type=click.Path(dir_okay=False),
              help="Also write one self-contained page with charts: each agent's day, "
                   "handle time per skill, contacts per hour.")
@JSON
def command(tables_dir: str | None, db: str | None, by: str, as_csv: bool, html: str | None,
            as_json: bool) -> None:
    """Contacts offered, and how each ended: handled, abandoned (the caller hung up while
    it rang at the agent), missed, refused, unknown (joined mid-way, ended unanswered) or
    still open at the end, which add up to offered; ring, talk, hold, ACW and handle
    time (average and longest); agent occupancy and time per state and out reason. From
    replay's tables (TABLES_DIR, written by `session-fsm replay`) or a store (--db). The
    definitions are in the README, "What the metrics mean", and in `session-fsm schema
    report` (every --json key).
    """
    if (tables_dir is None) == (db is None):
        raise Failure("give TABLES_DIR or --db PATH (one of them)", EXIT_INPUT)
    if as_json and as_csv:
        raise Failure("--json and --csv: choose one", EXIT_INPUT)
    if html is not None:
        _check_writable(html)
    try:
        from ..io import report as analytics
    except ImportError as error:
        raise Failure(f"report needs DuckDB and pyarrow ({error.msg}): {_EXTRA}",
                      EXIT_INPUT) from None
    try:
        source = analytics.open_source(tables_dir, db=db)
        try:
            found = source.report(by)
            if html is not None:
                _page(source, found, html)
        finally:
            source.close()
    except analytics.ReportError as error:
        raise Failure(str(error), EXIT_INPUT) from None
    if as_json:
        emit_json(found.to_json())
    elif as_csv:
        columns, rows = found.csv_rows()
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        _show(found)
    if html is not None:
        click.echo(f"session-fsm: wrote {html}", err=True)


def _check_writable(path: str) -> None:
    """Refuse a page that could not be written before the report is computed (it can
    take a while): its directory must exist and be writable."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise Failure(f"cannot write {path}: no directory {folder}", EXIT_INPUT)
    if not os.access(folder, os.W_OK):
        raise Failure(f"cannot write {path}: {folder} is not writable", EXIT_INPUT)


def _page(source: Any, found: Report, path: str) -> None:
    try:
        from ..io.report_page import write_page
    except ImportError as error:
        raise Failure(f"--html draws its charts with matplotlib ({error.msg}): {_EXTRA}",
                      EXIT_INPUT) from None
    try:
        write_page(source, found, path)
    except OSError as error:
        raise Failure(f"cannot write {path}: {error.strerror or error}", EXIT_INPUT) from None


_OFFERED: Final = ("offered", "handled", "abandoned", "missed", "refused", "unknown",
                   "open_at_end")
"""Offered, then the outcomes it is split into (they add up to it)."""


def _count(value: Any) -> str:
    return "-" if value is None else f"{value:,}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _pair(row: dict[str, Any], name: str) -> str:
    average, longest = row[f"{name}_avg_s"], row[f"{name}_max_s"]
    if average is None:
        return "-"
    return f"{duration(round(average))} / {duration(round(longest))}"


def _show(found: Report) -> None:
    """The report as plain-text tables, written at once: a day of thousands of agents
    has tens of thousands of state rows, which rich's tables take minutes to lay out
    (see :class:`~session_fsm.cli.render.Columns`). Text from the stream (skills, agent
    ids, out reasons) goes through :func:`~session_fsm.cli.render.cell`: escaped."""
    style = Style()
    # three tables of one row per group, not one of seventeen columns: each fits a
    # 120-column terminal (an hour's group name is 16 characters)
    contacts = Columns("  ", found.by, "offered", "handled", "abandoned", "missed",
                       "refused", "unknown", "open", "abandon %")
    outbound = Columns("  ", found.by, "outbound", "connected", "consults")
    times = Columns("  ", found.by, "ring", "talk", "hold", "ACW", "handle")
    for row in (*found.groups, found.total):
        group = cell(row["group"])
        contacts.add_row(group, *(_count(row[n]) for n in _OFFERED),
                         _percent(row["abandon_rate"]))
        outbound.add_row(group, *(_count(row[n]) for n in ("outbound", "outbound_connected",
                                                           "consults")))
        times.add_row(group, *(_pair(row, n) for n in ("ring", "talk", "hold", "acw",
                                                       "handle")))
    agents = Columns("  ", "agent", "logged in", "available", "occupied", "ACW",
                     "unavailable", "occupancy")
    for agent in found.agents:
        agents.add_row(cell(agent["agent"]), *(duration(round(agent[n])) for n in (
            "logged_in_s", "available_s", "occupied_s", "acw_s", "unavailable_s")),
            _percent(agent["occupancy"]))
    states = Columns("  ", "agent", "state", "out reason", "ACW", "intervals", "time")
    for row in found.states:
        states.add_row(cell(row["agent"]), cell(row["state"]), cell(row["out_reason"] or ""),
                       "yes" if row["is_acw"] else "", _count(row["intervals"]),
                       duration(round(row["seconds"])))
    out = [style.bold(f"report of {cell(found.source)}, by {found.by}"), "",
           style.bold(f"contacts offered by {found.by}, and how they ended (open: still "
                      "open at the end)"), *contacts.lines(style), "",
           style.bold(f"outbound contacts by {found.by}"), *outbound.lines(style), "",
           style.bold(f"times by {found.by}: average / longest, of handled contacts"),
           *times.lines(style), "",
           style.bold("agents"), *agents.lines(style), "",
           style.bold("time per state and out reason"), *states.lines(style)]
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()
