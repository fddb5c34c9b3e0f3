"""``session-fsm demo``: replay the bundled sample stream and show what the tool makes of it.

The stream (``session_fsm/data/demo.jsonl``, package data) is a hand-written recording
of five agent sessions in keyed envelopes: an inbound call with two-step ACW and a chat,
a Personal Connection dialer with a linked call and a NoAnswer, a work item with its
PageOpen, a supervisor monitoring an agent, a client joining mid-call, and an
administrator's remote logoff. One engine run gives all three views: the snapshot, the
contact histories and the validation report.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from importlib import resources
from pathlib import Path

import click

from ..engine import SessionEngine
from ..engine.rules import RULES, Violation
from ..engine.snapshot import snapshots_json
from ..errors import InputError, plural
from ..views.durations import duration
from ..views.history import (
    ContactHistory,
    HistoryFold,
    SessionHistory,
    StateInterval,
    histories_json,
)
from ..views.validation import Report, report_of
from ..wire.codec import format_time
from ._common import JSON, Failure, emit_json, heading, replay_files, stdout, table
from .render import show_report, show_snapshot

EXAMPLES = """\b
Examples:
  session-fsm demo
  session-fsm demo --json | jq '.snapshot.sessions[] | {key, linked_contact_id}'
  session-fsm demo --json | jq '.violations'
"""

DEMO_RESOURCE = ("data", "demo.jsonl")
"""Where the sample stream lives inside the installed ``session_fsm`` package."""


@contextmanager
def demo_stream() -> Iterator[Path]:
    """A real path to the bundled stream, wherever the package is installed (even zipped)."""
    resource = resources.files("session_fsm").joinpath(*DEMO_RESOURCE)
    with resources.as_file(resource) as path:
        yield path


def replay_demo() -> tuple[SessionEngine, Report, HistoryFold]:
    """Feed the bundled stream to one engine; its violations make the validation report,
    its changes the histories."""
    fold = HistoryFold()
    with demo_stream() as path:
        if not path.is_file():
            raise Failure(f"the bundled demo stream is missing: {path} (a broken install?)")
        try:
            engine = replay_files([str(path)], skip_bad=False, report_bad=True,
                                  on_changes=fold.apply_all).engine
        except InputError as error:  # the bundled file is ours: unreadable means a bad build
            raise Failure(f"the bundled demo stream is damaged: {error}") from None
    return engine, report_of(engine), fold


@click.command("demo", epilog=EXAMPLES)
@JSON
def command(as_json: bool) -> None:
    """Replay a bundled, realistic sample stream and show the snapshot of each session,
    every contact's lifecycle with durations, and the validation report.

    No input needed: the stream ships inside the package (see `session_fsm/data/demo.jsonl`,
    one keyed {"session", "event(s)"} envelope per line, as `snapshot` reads them).
    """
    engine, report, fold = replay_demo()
    snapshots = engine.snapshot()
    history = fold.histories(engine.sessions)
    if as_json:
        emit_json({"snapshot": snapshots_json(snapshots),
                   "violations": report.to_json()["violations"],
                   "history": histories_json(history)})
        return
    console = stdout()
    with demo_stream() as path:
        console.print(f"Replayed {plural(report.events, 'event')} of "
                      f"{plural(len(snapshots), 'agent session')} "
                      f"from the bundled stream {path}")
    console.print()
    heading(console, "Snapshot: each session now")
    for snap in snapshots:
        show_snapshot(snap)
    heading(console, "History: every contact's lifecycle, from server timestamps")
    for session in history:
        _show_history(session)
    heading(console, "Validation")
    _show_report(report)


# --- history ----------------------------------------------------------------------------


def _lifecycle(contact: ContactHistory) -> str:
    parts = []
    for step in contact.steps:
        if step.final:
            parts.append(f"{step.status} (final)")
        elif step.duration_s is not None:
            parts.append(f"{step.status} {duration(step.duration_s)}")
        else:
            parts.append(step.status + ("" if contact.closed else " (now)"))
    return " -> ".join(parts)


def _interval(interval: StateInterval) -> str:
    name = interval.state + (f"/{interval.out_reason}" if interval.out_reason else "")
    if interval.is_acw:
        name += f" (ACW for {interval.acw_contact_id or '?'})"
    shown = duration(interval.duration_s) if interval.duration_s is not None else "(now)"
    return f"{name} {shown}"


def _show_history(session: SessionHistory) -> None:
    console = stdout()
    console.print(f"[bold]{session.key}[/bold]")
    if session.agent_states:
        console.print("  agent: " + " -> ".join(_interval(i) for i in session.agent_states),
                      markup=False)
    if not session.contacts:
        console.print("  no contacts")
        console.print()
        return
    figures = table("  contacts", "contact", "media", "end", "ring", "hold", "ACW", "handle")
    for contact in session.contacts:
        code = f" {contact.disconnect_code}" if contact.disconnect_code else ""
        end = f"closed{code}" if contact.closed else "open"
        figures.add_row(contact.contact_id, contact.media, end, duration(contact.ring_s),
                        duration(contact.hold_s), duration(contact.acw_s),
                        duration(contact.handle_time_s))
    console.print(figures)
    # the lifecycles are too long for table cells at 80 columns: one line each below
    for contact in session.contacts:
        console.print(f"  {contact.media} {contact.contact_id}: {_lifecycle(contact)}",
                      markup=False)
    for contact in session.contacts:
        if contact.transcript:
            console.print(f"  transcript of {contact.media} {contact.contact_id}:")
            for line in contact.transcript:
                console.print(f"    {_clock(line.at)} {line.party or '?'}: {line.text or ''}",
                              markup=False)
    console.print()


def _clock(at: datetime | None) -> str:
    return format_time(at)[11:19] if at is not None else "--:--:--"


# --- validation -------------------------------------------------------------------------


def _show_report(report: Report) -> None:
    """``session-fsm validate``'s own report, then what each rule that fired is about."""
    show_report(report)
    for name in _fired(report.violations):
        stdout().print(f"  {name}: {RULES[name].rationale}", markup=False)
    stdout().print()


def _fired(violations: Sequence[Violation]) -> list[str]:
    return list(dict.fromkeys(v.rule for v in violations))
