"""The output contract as JSON Schemas (draft 2020-12), one file per output, shipped with
the package: what users script against, key by key, each with its description.

- ``snapshot``: ``session-fsm snapshot --json``; an entry of its ``sessions``
  (``$defs/session``) is also ``GET /api/sessions/{key}`` and a line of ``follow --json``;
- ``changes``: one line of ``session-fsm changes --json``, one branch per ``kind``;
- ``history``: ``session-fsm history --json`` (``$defs/session``: ``GET
  /api/sessions/{key}/history``);
- ``validate``: ``session-fsm validate --json``;
- ``report``: ``session-fsm report --json`` (its group rows are ``--csv``'s columns);
- ``sessions``: the service's ``GET /api/sessions``;
- ``change``: the ``data:`` of one event of the service's ``GET /api/changes``: a
  change, or a ``reset``.

How strict. Each schema marks as ``required`` every key that is always present, and lets
an object have keys it does not list: later versions may add keys (the contract welcomes
them), so a consumer that validates its input with these schemas keeps working. Renaming
or removing a key is a breaking change. The project's own tests validate every output
against a strict variant (:func:`strict`: no key beyond those listed), so a key added to
an output without its description here fails a test.

``snapshot``/``sessions`` and ``changes``/``change`` hold the same ``$defs`` (each file
stands alone); a test keeps them identical.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Final

__all__ = ["NAMES", "load", "path", "strict", "text", "title"]

NAMES: Final = ("snapshot", "changes", "history", "validate", "report", "sessions", "change")
"""Every schema, in the order ``session-fsm schema`` lists them."""


def _file(name: str) -> Any:
    if name not in NAMES:
        raise KeyError(f"no schema {name!r}; the schemas are: {', '.join(NAMES)}")
    return resources.files(__name__).joinpath(f"{name}.schema.json")


def text(name: str) -> str:
    """The schema ``name`` as its file holds it (:class:`KeyError` for an unknown name)."""
    found: str = _file(name).read_text(encoding="utf-8")
    return found


def load(name: str) -> dict[str, Any]:
    """The schema ``name`` as a dict."""
    document: dict[str, Any] = json.loads(text(name))
    return document


def path(name: str) -> Path:
    """Where the schema ``name`` is installed (a file in the package)."""
    return Path(str(_file(name)))


def title(name: str) -> str:
    """The schema's one-line title: which output it describes."""
    found: str = load(name)["title"]
    return found


def strict(schema: Any) -> Any:
    """A copy of ``schema`` in which every object that lists its ``properties`` allows no
    other key (``additionalProperties: false``): what the tests hold the outputs to.

    Sound for these schemas because none of them splits one object's keys over several
    subschemas (``allOf``): each object lists all of its keys in one place."""
    if isinstance(schema, dict):
        copy = {key: strict(value) for key, value in schema.items()}
        if "properties" in copy and "additionalProperties" not in copy:
            copy["additionalProperties"] = False
        return copy
    if isinstance(schema, list):
        return [strict(value) for value in schema]
    return schema
