"""``session-fsm changes``: the engine's change stream, one change a line, as it is made."""

from __future__ import annotations

import sys
from datetime import datetime

import click
import orjson

from ..engine.changes import (
    AcwLinked,
    AgentStatus,
    Change,
    ContactDetails,
    LinkMoved,
    Noted,
    StatusAfterFinal,
    TranscriptAdded,
    Transition,
    kind_of,
)
from ..engine.changes import (
    as_json as change_json,
)
from ..engine.rules import Violation
from ..errors import InputError, printable
from ..wire.codec import format_time
from ._common import FILES, JSON, REPORT_BAD, input_failure, replay_files, say_if_empty

EXAMPLES = """\b
Examples:
  session-fsm changes calls.jsonl
  session-fsm changes recording.jsonl --json | jq -c 'select(.kind == "transition")'
  session-fsm changes day.jsonl.gz --json | jq -c 'select(.machine == "agent_state")'
"""


@click.command("changes", epilog=EXAMPLES)
@FILES
@JSON
@REPORT_BAD
def command(files: tuple[str, ...], as_json: bool, skip_bad: bool) -> None:
    """Print every change the engine makes while it feeds FILE...: transitions of every
    machine, violations, and what users watch for (ACW linked, transcript lines, noted
    events), in the order they are made.

    An unreadable line is a violation at its place (as in validate), never dropped: it is
    named on stderr too, and the exit is 2 once the input is read (unless --skip-bad).
    With --json: JSON Lines, one change a line (every kind's keys: `session-fsm schema
    changes`, and the README's change table).
    """
    out = sys.stdout.buffer
    line = _json_line if as_json else _text_line

    def write(changes: tuple[Change, ...]) -> None:
        out.write(b"".join(line(change) for change in changes))

    try:
        replay = replay_files(files, skip_bad=False, report_bad=True, on_changes=write)
    except InputError as error:  # a file that cannot be opened at all
        raise input_failure(error) from None
    out.flush()
    say_if_empty(replay)
    replay.unreadable.done(skip_bad)


def _json_line(change: Change) -> bytes:
    return orjson.dumps(change_json(change)) + b"\n"


def _text_line(change: Change) -> bytes:
    line = f"{change.session}  #{change.event_index}  {kind_of(change)}  {describe(change)}"
    # names, statuses and messages come from the input: no escape sequence reaches the
    # terminal as it is
    return printable(line, sys.maxsize).encode() + b"\n"


def describe(change: Change) -> str:
    """What a change says, for people (one line)."""
    if isinstance(change, Transition):
        subject = f" {change.subject}" if change.subject else ""
        status = f" ({change.status})" if change.status and change.status != change.to_state \
            else ""
        final = " final" if change.final else ""
        return (f"{change.machine}{subject}: {change.from_state} -> {change.to_state} "
                f"on {change.trigger}{status}{final}{_at(change.at)}")
    if isinstance(change, Violation):
        contact = f" {change.contact_id}" if change.contact_id else ""
        return f"{change.severity} {change.rule}{contact}: {change.message}"
    if isinstance(change, AgentStatus):
        reason = f"/{change.out_reason}" if change.out_reason else ""
        acw = " ACW" if change.is_acw else ""
        deadline = f" until {format_time(change.acw_deadline)}" if change.acw_deadline else ""
        return f"agent {change.state}{reason}{acw}{deadline}{_at(change.at)}"
    if isinstance(change, ContactDetails):
        direction = None if change.is_inbound is None else \
            ("inbound" if change.is_inbound else "outbound")
        parts = (f"skill {change.skill}" if change.skill else None, direction,
                 f"type {change.call_type}" if change.call_type else None,
                 f"disconnect code {change.disconnect_code}" if change.disconnect_code else None)
        return f"{change.media} {change.contact_id}: " + ", ".join(p for p in parts if p)
    if isinstance(change, AcwLinked):
        return f"ACW for contact {change.contact_id}{_at(change.started)}"
    if isinstance(change, LinkMoved):
        return f"linked call {change.from_contact or '-'} -> {change.to_contact or '-'}"
    if isinstance(change, TranscriptAdded):
        return f"{change.contact_id} {change.party or '?'}: {change.text or ''}{_at(change.at)}"
    if isinstance(change, StatusAfterFinal):
        return f"{change.machine} {change.subject}: {change.status} after final{_at(change.at)}"
    assert isinstance(change, Noted)
    subject = f" {change.subject}" if change.subject else ""
    return f"{change.event_type}{subject}"


def _at(value: datetime | None) -> str:
    return f" at {format_time(value)}" if value is not None else ""
