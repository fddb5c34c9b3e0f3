"""``session-fsm diagrams``: write (or check) the state diagrams drawn from the machine tables."""

from __future__ import annotations

from pathlib import Path

import click

from .. import diagrams
from ..machines import spec_registry
from ._common import EXIT_FINDING, EXIT_INPUT, JSON, Failure, emit_json, stdout, table

EXAMPLES = """\b
Examples:
  session-fsm diagrams                      # (re)write diagrams/*.md from the tables
  session-fsm diagrams --check              # exit 1 if diagrams/ is stale (for CI)
  session-fsm diagrams --out /tmp/d --json
"""


@click.command("diagrams", epilog=EXAMPLES)
@click.option("--out", default="diagrams", show_default=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory of the Markdown files (one per machine).")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 and name the stale files if DIR differs from the tables.")
@click.option("--no-svg", is_flag=True,
              help="Do not draw SVGs even when a Graphviz `dot` is on PATH.")
@JSON
def command(out: Path, check: bool, no_svg: bool, as_json: bool) -> None:
    """Write one Markdown file per state machine into DIR: a mermaid stateDiagram-v2
    generated from the same transition table the engine runs, and every row of that
    table with its reason. With Graphviz's `dot` on PATH, an SVG is drawn too.
    """
    if check:
        _check(out, as_json)
        return
    written = diagrams.write(out, svg=not no_svg)
    if as_json:
        emit_json({"out": str(out), "written": [str(p) for p in written.markdown],
                   "svg": [str(p) for p in written.svg],
                   "removed": [str(p) for p in written.removed],
                   "svg_errors": list(written.svg_errors)})
        _warn(written.svg_errors)
        return
    specs = spec_registry()
    shown = table(f"diagrams written to {out}", "file", "machine", "states", "rows")
    for path in written.markdown:
        spec = specs[path.stem]
        shown.add_row(str(path), spec.name, str(len(spec.states)), str(len(spec.rules)))
    console = stdout()
    console.print(shown)
    for path in written.svg:
        console.print(f"  svg: {path}")
    for path in written.removed:
        console.print(f"  removed obsolete {path}")
    _warn(written.svg_errors)


def _warn(svg_errors: tuple[str, ...]) -> None:
    for error in svg_errors:  # SVGs are optional: say why one is missing, do not fail
        click.echo(f"session-fsm: warning: no SVG: {error}", err=True)


def _check(out: Path, as_json: bool) -> None:
    if not out.is_dir():  # not stale: there is nothing here to compare (another directory)
        raise Failure(f"{out} is not a directory of diagrams: run the check where the "
                      "diagrams are (the project's root), or name them with --out DIR",
                      EXIT_INPUT)
    found = diagrams.stale(out)
    if as_json:
        emit_json({"out": str(out), "up_to_date": not found,
                   "stale": [{"file": str(out / s.name), "reason": s.reason} for s in found]})
    if found:
        names = ", ".join(f"{out / s.name} ({s.reason})" for s in found)
        raise Failure(f"stale diagrams: {names}; run `session-fsm diagrams --out {out}`",
                      EXIT_FINDING)
    if not as_json:
        stdout().print(f"{len(spec_registry())} diagrams in {out} match the machine tables")
