"""``session-fsm snapshot``: feed every event, print each session's current state."""

from __future__ import annotations

import click

from ..engine.snapshot import snapshots_json
from ..errors import InputError, plural
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
    say_if_empty,
)
from .render import show_snapshot

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
            show_snapshot(snap)
    if replay.skipped:
        click.echo(f"session-fsm: {plural(replay.skipped, 'unreadable item')} skipped", err=True)
    say_if_empty(replay)


