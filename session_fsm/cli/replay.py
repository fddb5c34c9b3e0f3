"""``session-fsm replay``: replay archives into Parquet tables, in one process or on Dask.

The replay itself is :mod:`session_fsm.io.replay` (and :mod:`session_fsm.io.replay_dask`,
imported only for ``--engine dask``); this module checks the options, shows progress on
standard error, reports unreadable lines and prints the summary. Nothing heavy is
imported until the command runs, so the other commands start as fast without it.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Final

import click

from ._common import (
    EXIT_INPUT,
    JSON,
    REPORT_BAD,
    SHOWN_UNREADABLE,
    Failure,
    emit_json,
    read_failure,
    say_empty,
    say_unreadable,
    stderr,
    stdout,
    table,
)

if TYPE_CHECKING:
    from ..io.replay import ReplaySummary

EXAMPLES = """\b
Examples:
  session-fsm replay archive/*.jsonl.gz --out tables/
  session-fsm replay --engine dask --workers 8 archive/*.jsonl.gz --out tables/
  session-fsm replay --engine dask --scheduler tcp://scheduler:8786 /shared/archive/*.gz \\
      --out /shared/tables/
  # a month, day by day; a failed day is simply run again
  session-fsm replay 2024-03-01/*.gz --out t/03-01 --checkpoint-dir state/
  session-fsm replay 2024-03-02/*.gz --out t/03-02 --checkpoint-dir state/
  session-fsm replay 2024-03-31/*.gz --out t/03-31 --checkpoint-dir state/ --last-chunk
"""

_SHOWN: Final = SHOWN_UNREADABLE  # unreadable lines printed one by one; the rest are counted


@click.command("replay", epilog=EXAMPLES)
@click.argument("archives", nargs=-1, required=True, metavar="ARCHIVE...")
@click.option("--out", "out_dir", required=True, metavar="DIR",
              type=click.Path(file_okay=False),
              help="Where the tables go: DIR/snapshots, contacts, contact_steps, "
                   "agent_states, violations (Parquet; those folders are replaced).")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local",
              show_default=True,
              help="local: one process. dask: a Dask cluster (needs session-fsm[dask]).")
@click.option("--scheduler", metavar="ADDRESS",
              help="With --engine dask: a running scheduler (tcp://host:8786) instead of a "
                   "local cluster.")
@click.option("--workers", type=click.IntRange(min=1), metavar="N",
              help="With --engine dask: worker processes of the local cluster "
                   "(default: one per core).")
@click.option("--partitions", type=click.IntRange(min=1), metavar="N",
              help="Groups of whole sessions folded apart (default: one per 200,000 "
                   "events; with dask, at least two per worker).")
@click.option("--checkpoint-dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Time-chunked replay: carry the sessions still open at the end of these "
                   "archives into the next run with the same DIR.")
@click.option("--last-chunk", is_flag=True,
              help="With --checkpoint-dir: these are the last archives; finish every "
                   "session and write everything still open.")
@JSON
@REPORT_BAD
def command(archives: tuple[str, ...], out_dir: str, engine: str, scheduler: str | None,
            workers: int | None, partitions: int | None, checkpoint_dir: str | None,
            last_chunk: bool, as_json: bool, skip_bad: bool) -> None:
    """Replay ARCHIVE... (JSON Lines, .gz too, keyed {"session", "event(s)"} envelopes)
    through the engine and write Parquet tables: snapshots, contacts, contact_steps,
    agent_states, violations. Both engines write identical tables; `session-fsm report`
    reads them.

    Each session's events are ordered by server time, then by archive offset (see the
    README, "Replaying archives"). An unreadable line is reported here with its file and
    line and becomes a row of the violations table; the replay goes on, and exits 2 at
    the end (unless --skip-bad), the tables written.
    """
    if engine == "local" and (scheduler or workers):
        raise Failure("--scheduler and --workers need --engine dask", EXIT_INPUT)
    if scheduler and workers:
        raise Failure("--workers starts a local cluster; it cannot go with --scheduler",
                      EXIT_INPUT)
    if last_chunk and checkpoint_dir is None:
        raise Failure("--last-chunk needs --checkpoint-dir", EXIT_INPUT)
    try:
        from ..io import replay
    except ImportError as error:
        # the local engine needs only the Parquet writer: the analytics extra brings it
        # (so does the dask extra, for --engine dask)
        extra = "dask" if engine == "dask" else "analytics"
        raise Failure(f"replay writes Parquet and needs pyarrow ({error.msg}): "
                      f"pip install 'session-fsm[{extra}]'", EXIT_INPUT) from None
    err = stderr()

    def progress(message: str) -> None:
        err.print(f"session-fsm: replay: {message}", highlight=False)

    started = time.monotonic()
    try:
        if engine == "dask":
            try:
                from ..io.replay_dask import replay_dask
            except ImportError as error:
                raise Failure(f"--engine dask needs Dask ({error.msg}): "
                              "pip install 'session-fsm[dask]'", EXIT_INPUT) from None
            summary = replay_dask(archives, out_dir, scheduler=scheduler, workers=workers,
                                  checkpoint_dir=checkpoint_dir, last_chunk=last_chunk,
                                  partitions=partitions, progress=progress)
        else:
            summary = replay.replay_local(archives, out_dir, checkpoint_dir=checkpoint_dir,
                                          last_chunk=last_chunk, partitions=partitions,
                                          progress=progress)
    except replay.ReplayError as error:
        raise Failure(str(error), EXIT_INPUT) from None
    except OSError as error:
        raise read_failure(error) from None
    _report_unreadable(summary)
    if as_json:
        emit_json({**summary.to_json(), "out": out_dir,
                   "seconds": round(time.monotonic() - started, 3)})
    else:
        _show(summary, out_dir, time.monotonic() - started)
    unreadable = summary.fold.unreadable
    if not summary.fold.events and not unreadable:
        say_empty()
    say_unreadable(unreadable, unreadable, skip_bad=skip_bad)  # each told above


def _report_unreadable(summary: ReplaySummary) -> None:
    """Every unreadable item on stderr with its file:line (past a few, a count)."""
    lines = summary.unreadable
    for line in lines[:_SHOWN]:
        click.echo(f"session-fsm: unreadable {line}", err=True)
    rest = summary.fold.unreadable - min(len(lines), _SHOWN)
    if rest > 0:
        more = "item" if rest == 1 else "items"
        click.echo(f"session-fsm: ... and {rest} more unreadable {more}; each is a row of "
                   "the violations table with its file:line", err=True)


def _show(summary: ReplaySummary, out_dir: str, seconds: float) -> None:
    data = summary.to_json()
    rows = table(f"replay ({data['engine']}, {seconds:.1f} s) -> {out_dir}", "", "count")
    for label, key in (("archives", "archives"), ("events", "events"),
                       ("unreadable items", "unreadable"), ("sessions", "sessions"),
                       ("open sessions carried", "carried"), ("violations", "violations"),
                       ("  errors", "errors"), ("  warnings", "warnings")):
        rows.add_row(label, f"{data[key]:,}")
    for name, count in data["rows"].items():
        rows.add_row(f"rows in {name}", f"{count:,}")
    stdout().print(rows)
    if not sys.stdout.isatty():
        sys.stdout.flush()
