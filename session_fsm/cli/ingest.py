"""``session-fsm ingest``: append events and their histories to a store (see ``store.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click

from ..errors import InputError
from ..reader import ReadError
from ..store import DEFAULT_BATCH, Store, StoreError
from ._common import (
    EXIT_INPUT,
    FILES,
    JSON,
    SKIP_BAD,
    Failure,
    emit_json,
    input_failure,
    stdout,
    with_progress,
)

EXAMPLES = """\b
Examples:
  session-fsm ingest day1.jsonl.gz day2.jsonl.gz --db store.sqlite
  session-fsm ingest day1.jsonl.gz --db store.sqlite     # again: adds nothing
  cat live.jsonl | session-fsm ingest - --db store.sqlite --skip-bad --json
  session-fsm history --db store.sqlite --contact 1569815
"""


@click.command("ingest", epilog=EXAMPLES)
@FILES
@click.option("--db", required=True, metavar="PATH",
              help="The store (SQLite); created if missing.")
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULT_BATCH,
              show_default=True, help="Events per transaction.")
@JSON
@SKIP_BAD
def command(files: tuple[str, ...], db: str, batch_size: int, as_json: bool,
            skip_bad: bool) -> None:
    """Append every event of FILE... to the store at PATH and rebuild the histories of
    the sessions they belong to; `history --db PATH` queries it.

    Safe to repeat and to interrupt: an event already stored (same input, line and
    position in the line) is not added again, a file that grew adds only its new lines,
    and a run killed at any point leaves the store consistent; running it again adds
    the rest and finishes the histories.
    """
    def skipped(item: ReadError) -> None:
        click.echo(f"session-fsm: skipped {item.error}", err=True)

    def progress(items: Iterator[Any]) -> Iterator[Any]:
        return with_progress(items, files)

    try:
        with Store(db) as store:
            result = store.ingest(files, skip_bad=skip_bad, on_skipped=skipped,
                                  batch_size=batch_size, progress=progress)
            total_events, sessions = store.event_count(), len(store.keys())
    except InputError as error:
        raise input_failure(error) from None
    except StoreError as error:
        raise Failure(str(error), EXIT_INPUT) from None
    if as_json:
        emit_json({"db": db, "read": result.read, "added": result.added,
                   "skipped": result.skipped, "rebuilt": list(result.rebuilt),
                   "store": {"events": total_events, "sessions": sessions}})
        return
    stdout().print(f"{result.read} event(s) read, {result.added} new; histories rebuilt for "
                   f"{len(result.rebuilt)} session(s); the store holds {total_events} event(s) "
                   f"of {sessions} session(s)")
    if result.skipped:
        click.echo(f"session-fsm: {result.skipped} unreadable item(s) skipped", err=True)
