"""``session-fsm snapshot``: feed every event, print each session's current state."""

from __future__ import annotations

import click

from ..codec import format_time
from ..errors import InputError
from ..snapshot import Snapshot, snapshots_json
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
        return
    for snap in snapshots:
        show(snap)
    if replay.skipped:
        click.echo(f"session-fsm: {replay.skipped} unreadable item(s) skipped", err=True)


def _t(value: object) -> str:
    from datetime import datetime

    if value is None:
        return "-"
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def show(snap: Snapshot) -> None:
    """A session's snapshot as tables, for people."""
    console = stdout()
    info = snap.session
    end = f" ({info.end_reason})" if info.end_reason else ""
    console.print(f"[bold]{snap.key}[/bold]  session {_t(info.session_id)}  agent "
                  f"{_t(info.agent_id)}  {info.status}{end}  {snap.events} events, "
                  f"{snap.violations} violations")
    agent = snap.agent_state
    if agent is not None:
        nexts = ", ".join(f"{n.state}{'/' + n.out_reason if n.out_reason else ''}"
                          for n in agent.next_states) or "-"
        acw = ""
        if agent.is_acw:
            follows = agent.acw.contact_id if agent.acw else None
            acw = f"  ACW for {_t(follows)} until {_t(agent.acw_deadline)}"
        reason = f" ({agent.out_reason})" if agent.out_reason else ""
        console.print(f"  agent: {agent.state}{reason} since {_t(agent.since)}{acw}  "
                      f"next: {nexts}")
    if snap.agent_leg is not None:
        leg = snap.agent_leg
        console.print(f"  agent leg {_t(leg.id)}: {leg.status}{' (final)' if leg.final else ''}")
    if snap.monitoring is not None:
        mon = snap.monitoring
        console.print(f"  monitoring agent {_t(mon.target_agent_id)} since {_t(mon.since)}")
    if snap.contacts:
        contacts = table("  open contacts", "contact", "media", "status", "ACW", "linked",
                         "inbound", "skill", "last change")
        for c in snap.contacts:
            contacts.add_row(c.contact_id, c.media, c.status, _t(c.in_acw),
                             _t(c.is_linked), _t(c.is_inbound), _t(c.skill), _t(c.last_change))
        console.print(contacts)
    else:
        console.print("  no open contacts")
    console.print()
