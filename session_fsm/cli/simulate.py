"""``session-fsm simulate``: write a realistic, seeded agent event stream as JSON Lines.

The stream itself is :class:`session_fsm.sim.Simulation`'s; this module chooses
where it goes (standard output, a file, a ``.gz`` file) and reports what was written.
A file is written under a temporary name and renamed when complete, so an interrupted
run never leaves a file that looks whole.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, cast

import click

from ..sim import DEFAULT_START, Simulation, Summary
from ..wire.codec import format_time
from ._common import EXIT_INPUT, JSON, Failure, emit_json, stdout, table

EXAMPLES = """\b
Examples:
  session-fsm simulate --agents 3 --seed 1 --minutes 5
  session-fsm simulate --agents 1000 --seed 7 --minutes 200 --out load.jsonl.gz --json
  session-fsm simulate --agents 20 --seed 2 --out day.jsonl && session-fsm validate day.jsonl
"""


def _start(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime:
    if value is None:
        return DEFAULT_START
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time "
                                 '(e.g. "2024-03-04T08:00:00Z")') from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@click.command("simulate", epilog=EXAMPLES)
@click.option("--agents", type=click.IntRange(min=1), required=True, metavar="N",
              help="How many agent sessions to simulate.")
@click.option("--seed", type=int, default=0, show_default=True, metavar="S",
              help="Random seed: the same seed writes the same bytes.")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=60.0,
              show_default=True, metavar="M", help="Length of the simulated window.")
@click.option("--start", callback=_start, metavar="ISO",
              help=f"Server time the window starts at (default {format_time(DEFAULT_START)}).")
@click.option("--out", "out", default="-", show_default=True, metavar="FILE",
              help="Where to write the stream (- for standard output; .gz is compressed).")
@JSON
def command(agents: int, seed: int, minutes: float, start: datetime, out: str,
            as_json: bool) -> None:
    """Write a realistic CXone agent event stream for N agents over M minutes.

    Output is JSON Lines of keyed envelopes, {"session": KEY, "event": {...}} one per
    line (a join's replayed batch is one {"session": KEY, "events": [...]} line),
    sessions interleaved by server time as a live recorder writes them. Every documented
    event type appears, with the live stream's quirks; `session-fsm validate` finds no
    error in it.
    """
    if as_json and out == "-":
        raise Failure("--json prints the summary on standard output, which carries the "
                      "stream without --out: give --out FILE", EXIT_INPUT)
    simulation = Simulation(agents, seed, minutes, start)
    if out == "-":
        summary = _to_stdout(simulation)
        if sys.stderr.isatty():
            click.echo(f"session-fsm: {_wrote(summary, 'standard output')}", err=True)
        return
    try:
        with _atomic(out) as stream:
            summary = simulation.write(stream)
    except OSError as error:
        raise Failure(f"cannot write {out}: {error.strerror or error}", EXIT_INPUT) from None
    if as_json:
        emit_json({**summary.to_json(), "out": out})
        return
    show(summary, out)


def _to_stdout(simulation: Simulation) -> Summary:
    try:
        summary = simulation.write(sys.stdout.buffer)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (`| head`): that is its right, not our failure.
        # Point stdout at devnull so the interpreter's final flush does not complain.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    return summary


@contextlib.contextmanager
def _atomic(path: str) -> Iterator[IO[bytes]]:
    """A stream to ``path`` that appears under its name only once complete."""
    temporary = f"{path}.part"
    try:
        with open(temporary, "wb") as raw:
            if path.endswith(".gz"):
                # no name, mtime 0: the same seed gives the same bytes, compressed too
                with gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as packed:
                    yield cast(IO[bytes], packed)
            else:
                yield raw
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _wrote(summary: Summary, where: str) -> str:
    def count(n: int, word: str) -> str:  # 1,000 with its comma; "1 session", not "1 sessions"
        return f"{n:,} {word}{'' if n == 1 else 's'}"

    return (f"wrote {count(summary.events, 'event')} ({count(summary.lines, 'line')}) for "
            f"{count(summary.sessions, 'session')} to {where}")


def show(summary: Summary, out: str) -> None:
    """What was written, for people."""
    console = stdout()
    console.print(_wrote(summary, out))
    counts = table("events by type", "type", "count")
    for name, count in summary.types.items():
        counts.add_row(name, f"{count:,}")
    console.print(counts)
