"""``session-fsm schema``: the JSON Schemas of the outputs users script against."""

from __future__ import annotations

import sys

import click

from .. import schemas
from ._common import EXIT_INPUT, JSON, Failure, emit_json

EXAMPLES = """\b
Examples:
  session-fsm schema                        # the names, each with what it describes
  session-fsm schema snapshot > snapshot.schema.json
  session-fsm schema changes | jq '.["$defs"].transition'
  session-fsm schema --json                 # the list, with each file's path
"""


@click.command("schema", epilog=EXAMPLES)
@click.argument("name", required=False, metavar="[NAME]")
@JSON
def command(name: str | None, as_json: bool) -> None:
    """Print the JSON Schema (draft 2020-12) of output NAME: snapshot, changes (one line),
    history, validate, report, sessions (the service's GET /api/sessions) or change (one
    event's data on GET /api/changes). Without NAME, list the names.

    Every key is described (for report, its definition). A schema marks what is always
    present as required and allows keys it does not list: later versions may add keys.
    The files are in the package, session_fsm/schemas/NAME.schema.json.
    """
    if name is None:
        if as_json:
            emit_json({"schemas": [{"name": n, "title": schemas.title(n),
                                    "path": str(schemas.path(n))} for n in schemas.NAMES]})
            return
        width = max(len(n) for n in schemas.NAMES)
        sys.stdout.write("".join(f"{n:<{width}}  {schemas.title(n)}\n" for n in schemas.NAMES))
        return
    if name not in schemas.NAMES:
        raise Failure(f"no schema {name!r}; the schemas are: {', '.join(schemas.NAMES)}",
                      EXIT_INPUT)
    sys.stdout.write(schemas.text(name))
