"""What every command shares: reading inputs into an engine, progress, output."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import attrs
import click
import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..engine import SessionEngine
from ..engine.changes import Change
from ..engine.rules import RuleName
from ..engine.session import BAD_FIELD_APPLIED
from ..errors import InputError, OnError, Source, plural
from ..wire.reader import ReadError, WireItem, iter_wire

EXIT_OK = 0
EXIT_FINDING = 1
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130


@attrs.define
class _State:
    debug: bool = False


state = _State()


class Failure(Exception):  # noqa: N818 - a CLI outcome, not a program error
    """A command failed in a way the user must hear about, with its exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_INPUT) -> None:
        self.message = message
        self.exit_code = exit_code
        super().__init__(message)


FILES = click.argument("files", nargs=-1, required=True, metavar="FILE...")
JSON = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
SKIP_BAD = click.option(
    "--skip-bad", is_flag=True,
    help="Report unreadable lines on stderr, count them, and go on (default: stop, exit 2).",
)
REPORT_BAD = click.option(
    "--skip-bad", is_flag=True,
    help="Accept unreadable lines: they are still reported where they are (and on stderr), "
         "but do not make the exit 2.",
)
"""``--skip-bad`` of the commands that report an unreadable line at its place and read on
(validate, changes, replay): the same rule as SKIP_BAD's, which stops at the first."""

SHOWN_UNREADABLE = 20
"""Unreadable items named one by one on stderr by the commands that read on after them;
the rest are counted."""


_PIPED_WIDTH = 100_000
"""Columns of a console when piped: rich would take 80 and cut every wider table (cells
ending in "…"); a table is as wide as its content, so this only lifts the limit."""


def stdout() -> Console:
    """Human output: colour and boxes on a terminal; plain text when piped, never cut."""
    if sys.stdout.isatty():
        return Console(highlight=False)
    return Console(highlight=False, soft_wrap=True, width=_PIPED_WIDTH)


def heading(console: Console, title: str) -> None:
    """A section heading: a rule across a terminal; piped (where the console is as wide as
    _PIPED_WIDTH), the title over a rule of 80 columns, not 100,000."""
    if console.width < _PIPED_WIDTH:
        console.rule(title, align="left")
    else:
        console.print(f"{title}\n{'─' * 80}")


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


def table(title: str, *columns: str) -> Table:
    plain = not sys.stdout.isatty()
    return Table(*columns, title=title, box=None if plain else Table().box,
                 title_justify="left", show_edge=not plain)


def emit_json(document: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()


def read_failure(error: OSError) -> Failure:
    """An input that cannot be read, in the one wording every command uses: ``cannot read
    PATH: reason``."""
    name = error.filename if error.filename is not None else "input"
    return Failure(f"cannot read {name}: {error.strerror or error}", EXIT_INPUT)


def check_inputs(paths: Sequence[str]) -> None:
    """Fail with :func:`read_failure` on the first of ``paths`` that is missing, a folder
    or unreadable, before anything is read or created (a store, a checkpoint), and
    rather than after minutes spent on the files before it. Only looked at, not opened:
    opening a named pipe would wait for its writer."""
    for path in paths:
        if path == "-":
            continue
        try:
            os.stat(path)  # FileNotFoundError, or PermissionError on the folder
            if os.path.isdir(path):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
            if not os.access(path, os.R_OK):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        except OSError as error:
            raise read_failure(error) from None


def _total_bytes(paths: Sequence[str]) -> int | None:
    try:
        return sum(os.path.getsize(p) for p in paths if p != "-")
    except OSError:
        return None


def with_progress(items: Iterable[WireItem | ReadError], paths: Sequence[str]) -> Iterator[
        WireItem | ReadError]:
    """Show a progress bar on stderr for inputs that take more than a moment."""
    total = _total_bytes(paths)
    if not sys.stderr.isatty() or total is None or total < 5_000_000:
        yield from items
        return
    with Progress(TextColumn("reading"), BarColumn(), TextColumn("{task.completed:,} events"),
                  TimeElapsedColumn(), console=stderr(), transient=True) as progress:
        task = progress.add_task("read", total=None)
        for count, item in enumerate(items, 1):
            if count % 10_000 == 0:
                progress.update(task, completed=count)
            yield item


@attrs.define
class Unreadable:
    """The unreadable input items of a command that reports each at its place and reads
    on (validate, changes): the first :data:`SHOWN_UNREADABLE` are named on stderr as they
    come, and :meth:`done` tells the exit."""

    count: int = 0

    def saw(self, error: InputError) -> None:
        self.count += 1
        if self.count <= SHOWN_UNREADABLE:
            click.echo(f"session-fsm: unreadable {error}", err=True)

    def watch(self, items: Iterable[WireItem | ReadError]) -> Iterator[WireItem | ReadError]:
        """``items``, each unreadable one seen (:meth:`saw`) on its way."""
        for item in items:
            if type(item) is ReadError:
                self.saw(item.error)
            yield item

    def done(self, skip_bad: bool) -> None:
        """The input is read: exit 2 if any item was unreadable, unless ``skip_bad``."""
        say_unreadable(self.count, min(self.count, SHOWN_UNREADABLE), skip_bad=skip_bad)


def say_unreadable(count: int, told: int, *, skip_bad: bool) -> None:
    """The end of a run that reported ``count`` unreadable items at their place, ``told``
    of them on stderr already: the rest counted, and exit 2 unless ``skip_bad`` (the one
    rule of every command that reads events; README, "Exit codes")."""
    if not count:
        return
    if count > told:
        more = count - told
        click.echo(f"session-fsm: ... and {more} more unreadable "
                   f"{'item' if more == 1 else 'items'}", err=True)
    if skip_bad:
        click.echo(f"session-fsm: {plural(count, 'unreadable item')} reported and accepted "
                   "(--skip-bad)", err=True)
        return
    each = "" if count == 1 else "each "
    raise Failure(f"{plural(count, 'unreadable item')} in the input, {each}reported at its "
                  "place (use --skip-bad to accept them)", EXIT_INPUT)


@attrs.define
class Replay:
    engine: SessionEngine
    skipped: int = 0
    consumed: int = 0
    """Input items (events and unreadable items) taken from the input, resumed ones included."""
    unreadable: Unreadable = attrs.Factory(Unreadable)
    """With ``report_bad``: the unreadable items reported at their place."""


CHECKPOINT = click.option(
    "--checkpoint", type=click.Path(dir_okay=False), default=None,
    help="Write the engine state and input position to this file as the run goes "
         "(atomically: temporary file, fsync, rename).",
)
RESUME = click.option(
    "--resume", is_flag=True,
    help="Continue from --checkpoint's file; the result is that of one uninterrupted run.",
)
CHECKPOINT_EVERY = click.option(
    "--checkpoint-every", type=click.IntRange(min=1), default=10_000, show_default=True,
    help="Input items between two checkpoints.",
)


def _position(paths: Sequence[str], consumed: int, store: str | None) -> dict[str, Any]:
    position: dict[str, Any] = {"files": list(paths), "items": consumed}
    if store is not None:
        position["store"] = store  # an ingest's position means something only in its store
    return position


def write_position(checkpoint: str, paths: Sequence[str], consumed: int, *,
                   engine: SessionEngine | None = None, store: str | None = None) -> None:
    """Write a checkpoint: ``engine`` (an empty one when the caller keeps no engine state)
    and the number of input items of ``paths`` consumed; ``store`` is the real path of
    the store an ingest committed them to."""
    from ..io import checkpoint as ck

    try:
        ck.write_atomic(checkpoint, ck.to_bytes(engine or SessionEngine(),
                                                position=_position(paths, consumed, store)))
    except OSError as error:  # named by the checkpoint, not by its temporary file
        raise Failure(f"cannot write the checkpoint {checkpoint}: "
                      f"{error.strerror or error}") from None


def resume_position(checkpoint: str | None, paths: Sequence[str], *,
                    store: str | None = None) -> tuple[SessionEngine | None, int]:
    """Where a ``--resume`` run starts: the checkpoint's engine and the number of input
    items already consumed; ``(None, 0)`` when the file does not exist yet.

    A checkpoint taken over other files, or by the other kind of run (an ingest into
    another store, or a snapshot when ``store`` is given, and the reverse), is refused:
    its count of items would skip input this run has not seen.
    """
    from ..io import checkpoint as ck

    if checkpoint is None:
        raise Failure("--resume needs --checkpoint FILE", EXIT_INPUT)
    if not os.path.exists(checkpoint):
        return None, 0
    engine, position = ck.read_checkpoint(checkpoint)
    if not isinstance(position, dict) or position.get("files") != list(paths):
        raise Failure(f"checkpoint {checkpoint} was taken over other input files "
                      f"({position.get('files') if isinstance(position, dict) else '?'})")
    taken_for = position.get("store")
    if taken_for != store:
        if store is None:
            raise Failure(f"checkpoint {checkpoint} was written by ingest into {taken_for}: "
                          "it holds no engine state to resume")
        if taken_for is None:
            raise Failure(f"checkpoint {checkpoint} was not written by ingest: it holds no "
                          f"position in the store {store}")
        raise Failure(f"checkpoint {checkpoint} was taken for the store {taken_for}, not "
                      f"{store}")
    items = position.get("items")
    if type(items) is not int or items < 0:
        raise Failure(f"checkpoint {checkpoint} is damaged: its input position is {items!r}")
    return engine, items


def replay_files(paths: Sequence[str], *, skip_bad: bool, report_bad: bool = False,
                 engine: SessionEngine | None = None, checkpoint: str | None = None,
                 resume: bool = False, checkpoint_every: int = 10_000,
                 on_changes: Callable[[tuple[Change, ...]], object] | None = None) -> Replay:
    """Feed every event of ``paths`` into an engine.

    An unreadable item stops the run with exit 2 unless ``skip_bad`` (reported on
    stderr and counted) or ``report_bad`` (handed to the engine as a violation at its
    index, as ``validate`` does). Nothing is dropped silently.

    With ``checkpoint``, the engine and the number of input items consumed are written
    atomically every ``checkpoint_every`` items and at the end; ``resume`` restores
    them and skips the items already applied.

    ``on_changes`` is handed what each event changed (what ``feed()`` returns), and the
    end-of-stream checks' violations; unlike an engine subscriber, what it raises stops
    the run (a closed pipe, a full disk).
    """
    check_inputs(paths)
    skip = 0
    if resume:
        restored, skip = resume_position(checkpoint, paths)
        if restored is not None:
            engine = restored
    result = Replay(engine or SessionEngine(), consumed=skip)
    feed = result.engine.feed
    # Wire objects go to the engine undecoded (it reads the fields it needs). A field of
    # the wrong kind is no unreadable line: the engine applies the rest of its event and
    # reports the field (bad-field); the summary below says so on stderr.
    on_bad: OnError = "report"

    def feed_item(key: str, wire: dict[str, Any], source: Source) -> None:
        try:
            changes = feed(wire, key=key, source=source, batch=source, on_error=on_bad)
        except InputError as error:
            if not skip_bad:
                raise
            _skipped(result, error)
        else:
            if changes and on_changes is not None:
                on_changes(changes)

    count = 0  # input items consumed (skipped on resume, or applied)

    def consumed(items: int) -> None:
        nonlocal count
        before, count = count, count + items
        result.consumed = count
        if checkpoint is not None and count // checkpoint_every > before // checkpoint_every:
            write_position(checkpoint, paths, count, engine=result.engine)

    # The native core reads the usual lines itself once the resumed items are skipped
    # (they are counted one by one through the reader); what it leaves comes back here.
    native = result.engine.line_taker(feed_item, on_changes)

    def take_lines(data: bytes, name: str, line: int, limit: int, last: bool) -> tuple[int, int]:
        if native is None or count < skip:
            return 0, 0
        used, lines, events = native(data, name, line, limit, last)
        consumed(events)
        return used, lines

    items = iter_wire(paths, on_error="report" if skip_bad or report_bad else "raise",
                      take_lines=take_lines if native is not None else None)
    for item in with_progress(items, paths):
        if count < skip:
            count += 1
            continue
        if isinstance(item, ReadError):
            if report_bad:
                result.unreadable.saw(item.error)
                changes = result.engine.report_input_error(item.key, item.error, item.source)
                if on_changes is not None:
                    on_changes(changes)
            else:
                _skipped(result, item.error)
        else:
            feed_item(*item)
        consumed(1)
    if count < skip:
        raise past_the_end(checkpoint, skip, count)
    changes = result.engine.finish()
    if changes and on_changes is not None:
        on_changes(changes)
    if checkpoint is not None:
        write_position(checkpoint, paths, result.consumed, engine=result.engine)
    if not report_bad:
        _say_bad_fields(result.engine)
    return result


def _say_bad_fields(engine: SessionEngine) -> None:
    """One line on stderr when events were applied without a field of the wrong kind
    (their bad-field violations are in the snapshot's count and in validate's report)."""
    bad = [v for session in engine.sessions.values() for v in session.violations
           if v.rule == RuleName.BAD_FIELD]
    if bad:
        first = bad[0]
        where = f"{first.source}: " if first.source else ""
        click.echo(f"session-fsm: {plural(len(bad), 'field')} of the wrong kind left out, the "
                   f"rest of their events applied (bad-field; validate lists them); first: "
                   f"{where}{first.message.removesuffix(BAD_FIELD_APPLIED)}",
                   err=True)


def say_if_empty(replay: Replay) -> None:
    """Tell the user, on stderr, that the input held nothing at all: an empty output and
    exit 0 would otherwise look the same as a command that did not run. (Input whose every
    item was unreadable and skipped has been told so already.)"""
    if not replay.engine.sessions and not replay.skipped:
        say_empty()


def say_empty() -> None:
    """The one wording of an input that held nothing (every command: exit 0)."""
    click.echo("session-fsm: the input held no events", err=True)


def past_the_end(checkpoint: str | None, position: int, items: int) -> Failure:
    """A resumed run whose checkpoint counts more input items than its input holds: the
    checkpoint was taken over other content, or is damaged."""
    return Failure(f"checkpoint {checkpoint} is past the end of the input: it was taken "
                   f"after {plural(position, 'input item')}, and these files hold {items}")


def _skipped(result: Replay, error: InputError) -> None:
    result.skipped += 1
    click.echo(f"session-fsm: skipped {error}", err=True)


def input_failure(error: InputError) -> Failure:
    return Failure(f"{error} (use --skip-bad to skip unreadable lines)", EXIT_INPUT)
