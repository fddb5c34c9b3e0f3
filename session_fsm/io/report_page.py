"""``report --html``: one self-contained page of the report, its charts drawn by matplotlib.

The page is a single HTML file that fetches nothing: the style is inline and every
chart is an inline SVG (matplotlib's SVG backend, text kept as text, so the page stays
small and sharp at any zoom). No script runs on it. Three charts, then the report's
tables:

- each agent's day: one row per agent, a bar per agent-state interval coloured by what
  the agent was doing (waiting for work, on a contact, in ACW, unavailable, refused);
  at most :data:`TIMELINE_AGENTS` agents (in the order of their ids), the page says how
  many there were;
- handle time per skill: the average talk, hold and ACW of handled contacts, stacked
  (their sum is the average handle time when nothing else happened in between);
- contacts per hour of their start: handled, abandoned, missed or refused, other.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final, cast

import matplotlib

matplotlib.use("Agg")  # no display: the charts are files

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..views.durations import duration
from .report import IDLE_STATES, OCCUPIED_STATES, Analytics, Report

__all__ = ["TIMELINE_AGENTS", "render_page", "write_page"]

# matplotlib.dates has no annotations: typed once here
_date_num = cast(Callable[[datetime], float], mdates.date2num)
_hour_minute = cast(Callable[[str], Any], mdates.DateFormatter)

TIMELINE_AGENTS: Final = 40
"""Agents drawn in the day chart: more rows would not be readable."""

_COLOURS: Final = {
    "waiting": "#4caf50",
    "contact": "#1e88e5",
    "acw": "#fb8c00",
    "unavailable": "#9e9e9e",
    "refused": "#e53935",
    "other": "#ce93d8",
}
_LABELS: Final = {
    "waiting": "available (waiting for work)",
    "contact": "on a contact",
    "acw": "after-call work",
    "unavailable": "unavailable",
    "refused": "refused",
    "other": "other (logged in, unknown)",
}


def _kind(state: str, is_acw: bool) -> str:
    if is_acw:
        return "acw"
    if state in OCCUPIED_STATES:
        return "contact"
    if state in IDLE_STATES:
        return "waiting"
    if state == "Unavailable":
        return "unavailable"
    if state == "Refused":
        return "refused"
    return "other"


def _svg(figure: Figure, salt: str) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog, no DOCTYPE: nothing
    that names a URL); ``salt`` keeps its element ids apart from the other charts'."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _timeline_chart(rows: Sequence[dict[str, Any]]) -> str:
    agents = sorted({r["agent"] for r in rows})
    place = {agent: n for n, agent in enumerate(reversed(agents))}
    figure, axes = plt.subplots(figsize=(11, 0.9 + 0.32 * max(len(agents), 1)))
    by_kind: dict[str, list[tuple[str, datetime, datetime]]] = {}
    for row in rows:
        by_kind.setdefault(_kind(row["state"], row["is_acw"]), []).append(
            (row["agent"], row["started"], row["ended"]))
    for kind, spans in by_kind.items():
        for agent in agents:
            bars = [(_date_num(start), _date_num(end) - _date_num(start))
                    for who, start, end in spans if who == agent]
            if bars:
                axes.broken_barh(bars, (place[agent] - 0.4, 0.8), facecolors=_COLOURS[kind])
    axes.set_yticks(range(len(agents)), list(reversed(agents)))
    axes.set_ylim(-0.6, max(len(agents), 1) - 0.4)
    axes.xaxis_date()
    axes.xaxis.set_major_formatter(_hour_minute("%H:%M"))
    axes.set_xlabel("time (UTC)")
    axes.set_ylabel("agent")
    axes.grid(axis="x", alpha=0.3)
    axes.legend(handles=[Patch(color=_COLOURS[k], label=_LABELS[k]) for k in _COLOURS
                         if k in by_kind], loc="lower center", bbox_to_anchor=(0.5, 1.0),
                ncol=6, frameon=False, fontsize=9)
    return _svg(figure, "timeline")


def _handle_chart(skills: Sequence[dict[str, Any]]) -> str:
    shown = [s for s in skills if s["handle_avg_s"] is not None]
    figure, axes = plt.subplots(figsize=(7, 0.9 + 0.45 * max(len(shown), 1)))
    names = [s["group"] for s in shown]
    left = [0.0] * len(shown)
    for part, colour, label in (("talk", "#1e88e5", "talk"), ("hold", "#8e24aa", "hold"),
                                ("acw", "#fb8c00", "after-call work")):
        values = [s[f"{part}_avg_s"] or 0.0 for s in shown]
        axes.barh(names, values, left=left, color=colour, label=label)
        left = [a + b for a, b in zip(left, values, strict=True)]
    for n, skill in enumerate(shown):
        axes.text(left[n], n, f"  {skill['handle_avg_s']:.0f} s", va="center", fontsize=9)
    axes.invert_yaxis()
    axes.set_xlabel("average seconds per handled contact")
    axes.set_ylabel("skill")
    axes.set_xlim(0, max(left, default=1.0) * 1.15 or 1.0)
    axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return _svg(figure, "handle")


def _hourly_chart(hours: Sequence[dict[str, Any]]) -> str:
    figure, axes = plt.subplots(figsize=(7, 3.4))
    days = {h["hour"].date() for h in hours}
    labels = [h["hour"].strftime("%H:00" if len(days) == 1 else "%m-%d %H:00") for h in hours]
    bottom = [0] * len(hours)
    for name, colour, label in (("handled", "#4caf50", "handled"),
                                ("abandoned", "#e53935", "abandoned"),
                                ("missed_or_refused", "#fb8c00", "missed or refused"),
                                ("other", "#9e9e9e",
                                 "other (outbound not reached, unknown, open)")):
        values = [h[name] for h in hours]
        axes.bar(labels, values, bottom=bottom, color=colour, label=label)
        bottom = [a + b for a, b in zip(bottom, values, strict=True)]
    axes.set_xlabel("hour of the contact's start (UTC)"
                    + (f", {min(days).isoformat()}" if len(days) == 1 else ""))
    axes.set_ylabel("contacts")
    if len(hours) > 8:
        axes.tick_params(axis="x", labelrotation=45)
    axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=9)
    return _svg(figure, "hourly")


_STYLE: Final = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1200px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; }
.note { color: #666; font-size: 0.85em; }
svg { max-width: 100%; height: auto; }
"""


def _seconds(value: float | None) -> str:
    """A duration as the terminal report writes it (whole seconds)."""
    return duration(None if value is None else round(value))


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_page(source: Analytics, report: Report) -> str:
    """The whole page as text."""
    skills, _ = source.contact_metrics("skill")
    agents = source.agent_count()
    timeline = source.timeline(TIMELINE_AGENTS)
    hours = source.hourly()
    shown = min(agents, TIMELINE_AGENTS)
    groups = [
        [g["group"], g["offered"], g["handled"], g["abandoned"], g["missed"], g["refused"],
         g["unknown"], g["open_at_end"], g["outbound"], g["outbound_connected"],
         *(_seconds(g[f"{n}_avg_s"]) for n in ("ring", "talk", "hold", "acw", "handle")),
         _seconds(g["handle_max_s"])]
        for g in (*report.groups, report.total)]
    agent_rows = [[a["agent"], *(_seconds(a[n]) for n in ("logged_in_s", "available_s",
                                                           "occupied_s", "acw_s",
                                                           "unavailable_s")),
                   "-" if a["occupancy"] is None else f"{100 * a['occupancy']:.1f}%"]
                  for a in report.agents]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>session-fsm report: {html.escape(report.source)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Contact-center report</h1><p class='note'>{html.escape(report.source)}: "
        f"{report.total['contacts']:,} customer contacts, {agents:,} agents. Times are "
        "averages of handled contacts, in whole seconds; the definitions are in the "
        "README, \u201cReporting\u201d, and in <code>session-fsm schema report</code>.</p>",
        "<h2>Each agent's day</h2>",
        f"<p class='note'>{shown:,} of {agents:,} agents, in the order of their ids.</p>"
        if agents > shown else "",
        _timeline_chart(timeline) if timeline else "<p>No agent-state intervals.</p>",
        "<h2>Handle time per skill</h2>",
        _handle_chart(skills) if any(s["handle_avg_s"] is not None for s in skills)
        else "<p>No handled contacts.</p>",
        "<h2>Contacts per hour</h2>",
        _hourly_chart(hours) if hours else "<p>No contacts.</p>",
        f"<h2>Contacts by {html.escape(report.by)}</h2>",
        _table([report.by, "offered", "handled", "abandoned", "missed", "refused",
                "unknown", "open at end", "outbound", "connected", "avg ring", "avg talk",
                "avg hold", "avg ACW", "avg handle", "longest handle"], groups),
        "<h2>Agents</h2>",
        _table(["agent", "logged in", "available", "occupied", "ACW", "unavailable",
                "occupancy"], agent_rows),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_page(source: Analytics, report: Report, path: str) -> None:
    """Write the page to ``path`` (:class:`OSError` when it cannot be written)."""
    Path(path).write_text(render_page(source, report), encoding="utf-8")
