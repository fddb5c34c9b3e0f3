"""``session-fsm validate``: check event sequences against the documented protocol.

The checking is :func:`session_fsm.views.validation.validate` (the engine's own violations);
this module reads the files, prints the report and chooses the exit code: 0 no error,
1 errors (with ``--strict``, warnings too), 2 input that cannot be read (a file that cannot
be opened, an unreadable line unless ``--skip-bad``), or bad usage.
"""

from __future__ import annotations

import sys

import click

from ..views.validation import UnknownRuleError, native_lines, validate, validation_engine
from ..wire.reader import iter_wire
from ._common import (
    EXIT_FINDING,
    EXIT_INPUT,
    FILES,
    JSON,
    REPORT_BAD,
    Failure,
    Unreadable,
    check_inputs,
    emit_json,
    read_failure,
    say_empty,
    with_progress,
)
from .render import show_report

EXAMPLES = """\b
Examples:
  session-fsm validate calls.jsonl
  session-fsm validate day1.jsonl.gz day2.jsonl.gz --json | jq '.violations[].rule'
  session-fsm validate recording.jsonl --ignore duplicate-event --ignore unknown-event-type
  session-fsm validate recording.jsonl --select contact-after-final --strict
  cat recording.jsonl | session-fsm validate -
"""

_RULE_HELP = "(repeatable; rule names are listed in the README's 'Validation rules')"


@click.command("validate", epilog=EXAMPLES)
@FILES
@JSON
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too, not only on errors.")
@click.option("--ignore", "ignore", multiple=True, metavar="RULE",
              help=f"Do not check RULE {_RULE_HELP}.")
@click.option("--select", "select", multiple=True, metavar="RULE",
              help=f"Check only RULE {_RULE_HELP}.")
@REPORT_BAD
def command(files: tuple[str, ...], as_json: bool, strict: bool, ignore: tuple[str, ...],
            select: tuple[str, ...], skip_bad: bool) -> None:
    """Check the event sequences of FILE... against the documented protocol.

    Every violation is reported with its rule, severity, session, 0-based event index
    and file:line. Unreadable lines are error violations (named on stderr too);
    validation goes on after them. Exit 0 when there is no error, 1 when there is one
    (with --strict, a warning too), 2 when input cannot be read (a file that cannot be
    opened; an unreadable line, unless --skip-bad) or the command line is wrong.
    """
    chosen = select or None  # no --select: every rule
    check_inputs(files)
    unreadable = Unreadable()
    try:  # the rule names are checked before iter_wire opens anything
        engine = validation_engine(ignore=ignore, select=chosen)
        wire = iter_wire(files, on_error="report", take_lines=native_lines(engine))
        items = unreadable.watch(with_progress(wire, files))
        report = validate(items, strict_warnings=strict, engine=engine)
    except UnknownRuleError as error:
        raise Failure(str(error), EXIT_INPUT) from None
    except OSError as error:
        # iter_wire() opens each file as it reaches it; one that cannot be opened at all is
        # not a finding about the stream.
        raise read_failure(error) from None
    if as_json:
        emit_json(report.to_json())
    else:
        show_report(report)
    if not report.sessions and not unreadable.count:
        say_empty()
    unreadable.done(skip_bad)  # exit 2: input that could not be read comes first
    if report.failed:
        sys.exit(EXIT_FINDING)


