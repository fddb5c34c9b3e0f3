"""``session-fsm ingest``: append events and their histories to a store (see ``store.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial
from typing import Any

import click

from ..errors import InputError, plural
from ..io.store import DEFAULT_BATCH, DEFAULT_LOCK_TIMEOUT, Store, StoreError, unnamed_stream
from ..wire.reader import ReadError
from ._common import (
    CHECKPOINT_EVERY,
    EXIT_INPUT,
    FILES,
    JSON,
    RESUME,
    SKIP_BAD,
    Failure,
    check_inputs,
    emit_json,
    input_failure,
    past_the_end,
    resume_position,
    say_empty,
    stdout,
    with_progress,
    write_position,
)

EXAMPLES = """\b
Examples:
  session-fsm ingest day1.jsonl.gz day2.jsonl.gz --db store.sqlite
  session-fsm ingest day1.jsonl.gz --db store.sqlite     # again: adds nothing
  cat live.jsonl | session-fsm ingest - --db store.sqlite --skip-bad --json
  session-fsm ingest big.jsonl.gz --db store.sqlite --checkpoint ingest.ckpt   # killed? then:
  session-fsm ingest big.jsonl.gz --db store.sqlite --checkpoint ingest.ckpt --resume
  session-fsm history --db store.sqlite --contact 1569815
"""

# Not _common.CHECKPOINT: the store keeps each session's engine state itself.
CHECKPOINT = click.option(
    "--checkpoint", type=click.Path(dir_okay=False), default=None,
    help="Write the input position to this file as the run goes, atomically, each time "
         "the events before it are committed to the store. Only the position: the store "
         "keeps each session's engine and history state itself, with its events.",
)


@click.command("ingest", epilog=EXAMPLES)
@FILES
@click.option("--db", required=True, metavar="PATH",
              help="The store (SQLite); created if missing.")
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULT_BATCH,
              show_default=True, help="Events per transaction.")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=DEFAULT_LOCK_TIMEOUT,
              show_default=True, metavar="SECONDS",
              help="How long to wait for another process writing to the store (one writer "
                   "at a time) before giving up with exit 2.")
@JSON
@SKIP_BAD
@CHECKPOINT
@RESUME
@CHECKPOINT_EVERY
def command(files: tuple[str, ...], db: str, batch_size: int, lock_timeout: float,
            as_json: bool, skip_bad: bool, checkpoint: str | None, resume: bool,
            checkpoint_every: int) -> None:
    """Append every event of FILE... to the store at PATH and bring the histories of the
    sessions they belong to up to date; `history --db PATH` queries it.

    Safe to repeat and to interrupt: an event already stored (same input, line and
    position in the line) is not added again, a file that grew adds only its new lines
    (and only they are applied: each session resumes from the state the store saved),
    and a run killed at any point leaves the store consistent; running it again adds
    the rest and finishes the histories. Standard input (-) and pipes (/dev/stdin,
    <(...)) are known by their content. With --checkpoint, --resume does not read the
    input items already committed into the store again: it starts after them. Two
    ingests into one store run one after the other (see --lock-timeout).
    """
    def skipped(item: ReadError) -> None:
        click.echo(f"session-fsm: skipped {item.error}", err=True)

    def warned(message: str) -> None:  # a session's damaged state, rebuilt from its events
        click.echo(f"session-fsm: {message}", err=True)

    def progress(items: Iterator[Any]) -> Iterator[Any]:
        return with_progress(items, files)

    # before anything is created: a failed ingest into a new path leaves no empty store
    check_inputs(files)
    streams = [f for f in files if unnamed_stream(f)]
    if checkpoint is not None and streams:
        # what was piped before cannot be told from what is piped now
        name = "standard input (-)" if streams[0] == "-" else f"the pipe {streams[0]}"
        raise Failure(f"--checkpoint cannot follow {name}; ingest it again without one: the "
                      "store adds only the events it lacks", EXIT_INPUT)
    # the real path: a position counts items committed to this store, and no other
    store_path = os.path.realpath(db)
    resume_after = resume_position(checkpoint, files, store=store_path)[1] if resume else 0

    # called with the number of input items whose events the store has committed
    on_commit = (None if checkpoint is None
                 else partial(write_position, checkpoint, files, store=store_path))

    try:
        with Store(db, lock_timeout=lock_timeout, on_warning=warned) as store:
            result = store.ingest(files, skip_bad=skip_bad, on_skipped=skipped,
                                  batch_size=batch_size, progress=progress,
                                  resume_after=resume_after,
                                  on_commit=on_commit,
                                  commit_every=None if checkpoint is None else checkpoint_every)
            total_events, sessions = store.event_count(), len(store.keys())
    except InputError as error:
        raise input_failure(error) from None
    except StoreError as error:
        raise Failure(str(error), EXIT_INPUT) from None
    if result.resumed < resume_after:
        raise past_the_end(checkpoint, resume_after, result.resumed)
    if not result.read and not result.skipped and not result.resumed:
        say_empty()
    if as_json:
        emit_json({"db": db, "read": result.read, "added": result.added,
                   "skipped": result.skipped, "resumed": result.resumed,
                   "updated": list(result.updated), "rebuilt": list(result.rebuilt),
                   "store": {"events": total_events, "sessions": sessions}})
        return
    resumed = (f" (resumed after {plural(result.resumed, 'input item')} already committed)"
               if result.resumed else "")
    rebuilt = (f" ({len(result.rebuilt)} rebuilt from their first event)"
               if result.rebuilt else "")
    stdout().print(f"{plural(result.read, 'event')} read{resumed}, {result.added} new; histories "
                   f"updated for {plural(len(result.updated), 'session')}{rebuilt}; the store "
                   f"holds {plural(total_events, 'event')} of {plural(sessions, 'session')}")
    if result.skipped:
        click.echo(f"session-fsm: {plural(result.skipped, 'unreadable item')} skipped", err=True)
