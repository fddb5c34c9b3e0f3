"""The ``session-fsm`` command line (click), one module per command.

Errors reach the user as one line on standard error and an exit code, never a
traceback (``--debug`` shows one). Exit codes: 0 success, 1 the command's finding
(validation errors, stale diagrams), 2 unreadable input or bad usage, 130 interrupted.
"""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__
from ..errors import SessionFsmError
from ._common import EXIT_INPUT, EXIT_INTERRUPTED, Failure, state

EPILOG = """\b
Examples:
  session-fsm demo
  session-fsm snapshot calls.jsonl --json
  session-fsm validate recording.jsonl.gz --ignore duplicate-event
"""


COMMANDS = ("snapshot", "validate", "diagrams", "demo", "follow", "simulate", "history",
            "ingest", "replay", "changes", "serve", "report", "schema", "publish", "stream")
"""Every command, each a module of this package named as the command is."""


class _LazyGroup(click.Group):
    """Imports a command's module when that command runs (click's "lazily loading
    subcommands" recipe): ``snapshot`` does not pay for ``serve``'s web stack or
    ``report``'s, about 0.4 s of imports on every run."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        command: click.Command = importlib.import_module(f"{__name__}.{cmd_name}").command
        return command


def _show_version(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    """``--version``: the version and which engine runs (``SESSION_FSM_ENGINE``)."""
    if not value or ctx.resilient_parsing:
        return
    from ..engine import engine_name

    try:
        engine = f"{engine_name()} engine"
    except SessionFsmError as error:  # SESSION_FSM_ENGINE=native without a usable core
        engine = f"no engine: {error}"
    click.echo(f"session-fsm, version {__version__} ({engine})")
    ctx.exit()


@click.group(cls=_LazyGroup, epilog=EPILOG,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_show_version, help="Show the version and which engine runs, and exit.")
@click.option("--debug", is_flag=True, help="Show a traceback when something fails.")
def cli(debug: bool) -> None:
    """Live state, validated sequences and contact histories from the CXone agent event stream."""
    state.debug = debug


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI, turning failures into one clear line."""
    try:
        # Outside standalone mode click *returns* the code of a raised Exit, not exits.
        code = cli.main(args=argv, prog_name="session-fsm", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as usage:
        usage.show()
        sys.exit(usage.exit_code)
    except click.exceptions.Abort:
        click.echo("session-fsm: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("session-fsm: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Failure as failure:
        if state.debug:
            raise
        click.echo(f"session-fsm: {failure.message}", err=True)
        sys.exit(failure.exit_code)
    except OSError as error:
        if state.debug:
            raise
        # "PATH: reason", not Python's "[Errno 2] reason: 'PATH'"; the inputs are checked
        # before a command starts (read_failure), so this is a file written, or a
        # device's fault
        name = error.filename if error.filename is not None else "input/output"
        click.echo(f"session-fsm: {name}: {error.strerror or error}", err=True)
        sys.exit(EXIT_INPUT)
    except SessionFsmError as error:
        if state.debug:
            raise
        click.echo(f"session-fsm: {error}", err=True)
        sys.exit(EXIT_INPUT)
