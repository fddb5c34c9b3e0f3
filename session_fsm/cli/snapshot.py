"""``session-fsm snapshot``: feed every event, print each session's current state."""

from __future__ import annotations

import sys
from datetime import datetime

import click
from rich.console import Group, RenderableType
from rich.text import Text

from ..engine.snapshot import Snapshot, snapshots_json
from ..errors import InputError
from ..io.client import printable
from ..wire.codec import format_time
from ._common import (
    CHECKPOINT,
    CHECKPOINT_EVERY,
    FILES,
    JSON,
    RESUME,
    SKIP_BAD,
    emit_json,
    input_failure,
    replay_files,
    stdout,
    table,
)

EXAMPLES = """\b
Examples:
  session-fsm snapshot calls.jsonl
  session-fsm snapshot day1.jsonl.gz day2.jsonl.gz --json | jq '.sessions[0].agent_state'
  cat recording.jsonl | session-fsm snapshot - --skip-bad
  session-fsm snapshot big.jsonl.gz --checkpoint state.ckpt      # killed? then:
  session-fsm snapshot big.jsonl.gz --checkpoint state.ckpt --resume
"""


@click.command("snapshot", epilog=EXAMPLES)
@FILES
@JSON
@SKIP_BAD
@CHECKPOINT
@RESUME
@CHECKPOINT_EVERY
def command(files: tuple[str, ...], as_json: bool, skip_bad: bool, checkpoint: str | None,
            resume: bool, checkpoint_every: int) -> None:
    """Feed every event of FILE... and print the current snapshot of each session.

    FILE is a path, a .gz path or - for standard input: JSON Lines or one JSON document
    of events, get-next-event responses or keyed {"session", "events"} envelopes.
    """
    try:
        replay = replay_files(files, skip_bad=skip_bad, checkpoint=checkpoint, resume=resume,
                              checkpoint_every=checkpoint_every)
    except InputError as error:
        raise input_failure(error) from None
    snapshots = replay.engine.snapshot()
    if as_json:
        emit_json(snapshots_json(snapshots))
    else:
        for snap in snapshots:
            show(snap)
    if replay.skipped:
        click.echo(f"session-fsm: {replay.skipped} unreadable item(s) skipped", err=True)


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


def render(snap: Snapshot) -> RenderableType:
    """A session's snapshot for people: header, agent, leg, monitoring, open contacts.

    One renderable, so ``snapshot`` prints it and ``follow`` redraws it in place.
    """
    info = snap.session
    end = f" ({info.end_reason})" if info.end_reason else ""
    # Text, not markup: a key or id from the stream could hold "[...]"
    parts: list[RenderableType] = [Text.assemble(
        (cell(snap.key), "bold"),
        f"  session {cell(info.session_id)}  agent {cell(info.agent_id)}  {info.status}"
        f"{cell(end) if end else ''}  {snap.events} events, {snap.violations} violations")]
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


def show(snap: Snapshot) -> None:
    """Print a session's snapshot, for people."""
    console = stdout()
    console.print(render(snap))
    console.print()
