"""Human output shared by the commands: snapshots, histories, validation reports.

Commands print through these and never import each other. Text that comes from the stream
(ids, statuses, messages) is shown escaped and never taken as markup.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

import click
from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.text import Text

from ..engine.rules import CATALOGUE, Severity
from ..engine.snapshot import Snapshot
from ..errors import plural, printable
from ..views.durations import duration
from ..views.history import SessionHistory
from ..views.validation import Report
from ..wire.codec import format_time
from ._common import stdout, table


def show_report(report: Report) -> None:
    """The report for people: totals per rule and severity (what a day's run mostly
    asks: which rules, how often, in how many sessions), per-session rule counts, then
    every violation.

    On a terminal the violations are a table; piped, one line each (``file:line:
    severity: rule: message (...)``, as compilers print), so long messages stay whole
    and grep works.
    """
    console = stdout()
    severity: dict[str, Severity] = {rule.name: rule.severity for rule in CATALOGUE}
    counts = report.counts()
    if counts:
        totals: Counter[str] = Counter()
        sessions: Counter[str] = Counter()
        for rules in counts.values():
            totals.update(rules)
            sessions.update(rules.keys())
        order: dict[str, int] = {rule.name: i for i, rule in enumerate(CATALOGUE)}
        by_rule = table("Violations by rule", "rule", "severity", "count", "sessions")
        # errors first, then the catalogue's order
        for rule in sorted(totals, key=lambda r: (severity[r] is not Severity.ERROR,
                                                  order[r])):
            by_rule.add_row(rule, _severity(severity[rule].value, severity[rule]),
                            str(totals[rule]), str(sessions[rule]))
        console.print(by_rule)
        console.print()
        summary = table("Violations by session and rule", "session", "rule", "severity", "count")
        for key, rules in counts.items():
            for i, (rule, n) in enumerate(rules.items()):
                summary.add_row(Text(key) if i == 0 else "", rule,
                                _severity(severity[rule].value, severity[rule]), str(n))
        console.print(summary)
        console.print()
        if sys.stdout.isatty():
            for key, found in report.by_session().items():
                detail = table(f"{key}: violations", "event", "source", "rule", "contact",
                               "message")
                for column in detail.columns[:4]:
                    column.no_wrap = True
                for v in found:
                    # Text(), not markup: sources, contacts and messages quote input data.
                    detail.add_row(str(v.event_index), Text(v.source or "-"),
                                   _severity(v.rule, v.severity), Text(v.contact_id or "-"),
                                   Text(v.message))
                console.print(detail)
                console.print()
        else:
            for v in report.violations:
                contact = f", contact {v.contact_id}" if v.contact_id else ""
                click.echo(f"{v.source or v.session}: {v.severity.value}: {v.rule}: "
                           f"{v.message} (session {v.session}, event {v.event_index}{contact})")
            click.echo()
    verdict = "FAILED" if report.failed else "ok"
    strict = " (--strict: warnings fail too)" if report.strict_warnings else ""
    click.echo(f"{plural(len(report.sessions), 'session')}, "
               f"{plural(report.events, 'event')}: {plural(report.errors, 'error')}, "
               f"{plural(report.warnings, 'warning')}: {verdict}{strict}")


def _severity(text: str, severity: Severity) -> Text:
    """``text`` coloured by severity: red errors, yellow warnings."""
    return Text(text, style="red" if severity is Severity.ERROR else "yellow")


class _Clock:
    """Timestamps for a table: time of day when they all share one date (named once in
    the title), the full ISO form otherwise, so the tables fit a terminal."""

    def __init__(self, values: Iterable[datetime | None]) -> None:
        dates = {format_time(v)[:10] for v in values if v is not None}
        self.date = dates.pop() if len(dates) == 1 else None

    def __call__(self, value: datetime | None) -> str:
        if value is None:
            return "-"
        text = format_time(value)
        return text[11:-1] if self.date else text

    def title(self, title: str) -> str:
        return f"{title} ({self.date}, UTC)" if self.date else title


def _figures(pairs: Iterable[tuple[str, float | None]]) -> str:
    return "  ".join(f"{name} {duration(value)}" for name, value in pairs if value is not None)


class Columns:
    """A table as plain text, built in one pass over its rows: every column as wide as its
    widest cell, two spaces apart, indented under its title.

    Why not rich's Table: it measures, wraps and crops every cell through several layers
    of renderables, about a tenth of a millisecond a cell, and a day's history of 200
    agents (180,000 lines) took over two minutes against ten seconds for ``--json``. The
    cells here are short values already escaped by :func:`cell`, so nothing needs
    wrapping: the terminal wraps what is wider than it, and piped output is never cut.
    """

    def __init__(self, indent: str, *headers: str) -> None:
        self.indent = indent
        self.headers = headers
        self.rows: list[tuple[str, ...]] = []

    def add_row(self, *cells: str) -> None:
        self.rows.append(cells)

    def lines(self, style: Style) -> list[str]:
        # cell_len, not len: a wide character (CJK, emoji) takes two columns
        widths = [max(map(cell_len, column)) for column in zip(self.headers, *self.rows,
                                                                strict=True)]

        def line(cells: tuple[str, ...]) -> str:
            padded = [text + " " * (width - cell_len(text))
                      for text, width in zip(cells, widths, strict=True)]
            return (self.indent + "  ".join(padded)).rstrip()

        return [style.bold(line(self.headers)), *map(line, self.rows)]


class Style:
    """Bold on a terminal (unless NO_COLOR is set), nothing when piped; decided once, not
    per line, so a long output costs no more than its text."""

    def __init__(self) -> None:
        self.on = sys.stdout.isatty() and not os.environ.get("NO_COLOR")

    def bold(self, text: str) -> str:
        return click.style(text, bold=True) if self.on else text


def show_history(history: SessionHistory) -> None:
    """A session's history as plain text tables, for people (stream text through
    :func:`cell`: escaped), written at once; see :class:`Columns` for why not rich."""
    sys.stdout.write("\n".join(history_lines(history, Style())) + "\n\n")
    sys.stdout.flush()


def history_lines(history: SessionHistory, style: Style) -> list[str]:
    out = [f"{style.bold(cell(history.key))}  "
           f"{plural(len(history.contacts), 'contact')}, "
           f"{plural(len(history.agent_states), 'agent state')}"]
    for contact in history.contacts:
        state = "closed" if contact.closed else "open"
        extra = "  ".join(part for part in (
            f"skill {cell(contact.skill)}" if contact.skill else "",
            f"disconnect {cell(contact.disconnect_code)}" if contact.disconnect_code else "",
        ) if part)
        out.append(f"  {cell(contact.media)} {style.bold(cell(contact.contact_id))}  {state}"
                   f"{'  ' + extra if extra else ''}")
        figures = _figures((("ring", contact.ring_s), ("hold", contact.hold_s or None),
                            ("ACW", contact.acw_s), ("handle", contact.handle_time_s)))
        if figures:
            out.append(f"    {figures}")
        clock = _Clock([*(s.at for s in contact.steps), *(t.at for t in contact.transcript)])
        out.append(style.bold(clock.title("    steps")))
        steps = Columns("    ", "event", "status", "at", "final", "duration")
        for step in contact.steps:
            steps.add_row(str(step.event_index), cell(step.status), clock(step.at),
                          "yes" if step.final else "", duration(step.duration_s))
        out.extend(steps.lines(style))
        out.extend(f"    {clock(line.at)}  {cell(line.party)}: {cell(line.text or '')}"
                   for line in contact.transcript)
    if history.agent_states:
        clock = _Clock([*(i.start for i in history.agent_states),
                        *(i.end for i in history.agent_states)])
        out.append(style.bold(clock.title("  agent states")))
        timeline = Columns("  ", "state", "out reason", "ACW for", "start", "end", "duration")
        for interval in history.agent_states:
            acw = (interval.acw_contact_id or "?") if interval.is_acw else ""
            timeline.add_row(cell(interval.state), cell(interval.out_reason), cell(acw),
                             clock(interval.start), clock(interval.end),
                             duration(interval.duration_s))
        out.extend(timeline.lines(style))
        totals = _figures(sorted(history.time_in_state_s.items()))
        reasons = _figures(sorted(history.time_by_out_reason_s.items()))
        if totals:
            out.append(f"  time per state: {cell(totals)}")
        if reasons:
            out.append(f"  time per out reason: {cell(reasons)}")
    return out


def cell(value: object) -> str:
    """One value as a table cell: timestamps in the wire's form, "-" for nothing; text
    from the stream escaped, so no escape sequence reaches the terminal as it is."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return printable(str(value), sys.maxsize)


def snapshot_view(snap: Snapshot) -> RenderableType:
    """A session's snapshot for people: header, agent, leg, monitoring, open contacts.

    One renderable, so ``snapshot`` prints it and ``follow`` redraws it in place.
    """
    info = snap.session
    end = f" ({info.end_reason})" if info.end_reason else ""
    # Text, not markup: a key or id from the stream could hold "[...]"
    parts: list[RenderableType] = [Text.assemble(
        (cell(snap.key), "bold"),
        f"  session {cell(info.session_id)}  agent {cell(info.agent_id)}  {info.status}"
        f"{cell(end) if end else ''}  {plural(snap.events, 'event')}, "
        f"{plural(snap.violations, 'violation')}")]
    agent = snap.agent_state
    if agent is not None:
        nexts = cell(", ".join(n.state + (f"/{n.out_reason}" if n.out_reason else "")
                               for n in agent.next_states) or "-")
        acw = ""
        if agent.is_acw:
            follows = agent.acw.contact_id if agent.acw else None
            acw = f"  ACW for {cell(follows)} until {cell(agent.acw_deadline)}"
        reason = f" ({cell(agent.out_reason)})" if agent.out_reason else ""
        parts.append(Text(f"  agent: {cell(agent.state)}{reason} since {cell(agent.since)}{acw}  "
                          f"next: {nexts}"))
    if snap.agent_leg is not None:
        leg = snap.agent_leg
        parts.append(Text(f"  agent leg {cell(leg.id)}: {cell(leg.status)}"
                          f"{' (final)' if leg.final else ''}"))
    if snap.monitoring is not None:
        mon = snap.monitoring
        parts.append(Text(f"  monitoring agent {cell(mon.target_agent_id)} since "
                          f"{cell(mon.since)}"))
    if snap.contacts:
        contacts = table("  open contacts", "contact", "media", "status", "ACW", "linked",
                         "inbound", "skill", "last change")
        for c in snap.contacts:
            contacts.add_row(*(Text(cell(value)) for value in (
                c.contact_id, c.media, c.status, c.in_acw, c.is_linked, c.is_inbound, c.skill,
                c.last_change)))
        parts.append(contacts)
    else:
        parts.append(Text("  no open contacts"))
    return Group(*parts)


def show_snapshot(snap: Snapshot) -> None:
    """Print a session's snapshot, for people."""
    console = stdout()
    console.print(snapshot_view(snap))
    console.print()
