"""Validating event sequences: run the engine over the input and report its violations.

This is not a second implementation of the protocol. The engine already applies every
event in lenient mode and records each deviation under a name from the rule catalogue
(:mod:`session_fsm.engine.rules`); validation feeds it, asks for the whole-stream checks
(:meth:`~session_fsm.engine.SessionEngine.finish`), and turns what the engine recorded
into a :class:`Report`. Selecting and silencing rules is the engine's own ``ignore``: a
silenced rule is never recorded, so it counts nowhere.

Unreadable input (not JSON, not an event object, a field that does not decode) takes its
place in its session's stream like an event and becomes an error-severity violation at
that index; validation goes on with the next item.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from itertools import count
from typing import Any, TypeAlias

import attrs

from ..engine import SessionEngine
from ..engine.rules import CATALOGUE, RULES, Severity, Violation
from ..errors import NotAnEventError, Source, UnknownRuleError
from ..wire import events as ev
from ..wire.reader import ReadError, ReadItem, TakeLines, WireItem, iter_wire

__all__ = [
    "Report",
    "UnknownRuleError",
    "ValidationInput",
    "report_of",
    "rule_table_markdown",
    "selected_rules",
    "validate",
    "validate_files",
]

ValidationInput: TypeAlias = (
    "ev.Event | Mapping[str, Any] | ReadItem | WireItem | ReadError"
    " | list[ev.Event | Mapping[str, Any]]"
)
"""One item :func:`validate` accepts (see there)."""

DEFAULT_KEY = "-"
"""The session key of events given without one (as standard input's events get)."""


@attrs.frozen(slots=True)
class Report:
    """What validation found: every violation, with counts and groupings for people.

    ``violations`` are session by session (in order of first appearance), each session's
    in event order. ``strict_warnings`` makes warnings fail the report too.
    """

    events: int
    """Events checked (unknown types included; unreadable items are not events)."""
    violations: tuple[Violation, ...]
    sessions: tuple[str, ...] = ()
    """Every session key seen, in order of first appearance (with or without violations)."""
    strict_warnings: bool = False

    @property
    def errors(self) -> int:
        """How many error-severity violations."""
        return sum(1 for v in self.violations if v.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        """How many warning-severity violations."""
        return sum(1 for v in self.violations if v.severity is Severity.WARNING)

    @property
    def failed(self) -> bool:
        """Any error, or any warning when ``strict_warnings``."""
        return bool(self.errors or (self.strict_warnings and self.warnings))

    def by_session(self) -> dict[str, tuple[Violation, ...]]:
        """Each session's violations in event order; sessions without any are left out."""
        grouped: dict[str, list[Violation]] = {}
        for violation in self.violations:
            grouped.setdefault(violation.session, []).append(violation)
        return {key: tuple(found) for key, found in grouped.items()}

    def by_rule(self) -> dict[str, tuple[Violation, ...]]:
        """Each rule's violations, rules in catalogue order (errors first)."""
        grouped: dict[str, list[Violation]] = {rule.name: [] for rule in CATALOGUE}
        for violation in self.violations:
            grouped[violation.rule].append(violation)
        return {name: tuple(found) for name, found in grouped.items() if found}

    def rule_counts(self) -> dict[str, int]:
        """How often each rule fired, in catalogue order; rules that did not fire are left out."""
        return {name: len(found) for name, found in self.by_rule().items()}

    def counts(self) -> dict[str, dict[str, int]]:
        """``{session: {rule: count}}``, rules in catalogue order: the human summary."""
        order: dict[str, int] = {rule.name: i for i, rule in enumerate(CATALOGUE)}
        result: dict[str, dict[str, int]] = {}
        for key, found in self.by_session().items():
            tally = Counter(v.rule for v in found)
            result[key] = dict(sorted(tally.items(), key=lambda item: order[item[0]]))
        return result

    def to_json(self) -> dict[str, Any]:
        """The ``validate --json`` document (schema: ``session-fsm schema validate``)."""
        return {
            "events": self.events,
            "errors": self.errors,
            "warnings": self.warnings,
            "violations": [
                {
                    "rule": v.rule,
                    "severity": v.severity.value,
                    "session": v.session,
                    "event_index": v.event_index,
                    "contact_id": v.contact_id,
                    "source": v.source,
                    "message": v.message,
                }
                for v in self.violations
            ],
        }


def selected_rules(
    *, ignore: Iterable[str] = (), select: Iterable[str] | None = None
) -> frozenset[str]:
    """The rule names that stay on: ``select`` (default: all) minus ``ignore``.

    Raises :class:`UnknownRuleError` for a name the catalogue does not have, so a typo
    never silently selects or silences nothing.
    """
    ignore = tuple(ignore)
    chosen = None if select is None else tuple(select)
    for option, names in (("--ignore rule", ignore), ("--select rule", chosen or ())):
        unknown = [name for name in names if name not in RULES]
        if unknown:
            raise UnknownRuleError(dict.fromkeys(unknown), RULES, option)
    on = frozenset(RULES) if chosen is None else frozenset(chosen)
    return on - frozenset(ignore)


def validate(
    events_or_items: Iterable[ValidationInput],
    *,
    ignore: Collection[str] = (),
    select: Collection[str] | None = None,
    strict_warnings: bool = False,
    key: str = DEFAULT_KEY,
    engine: SessionEngine | None = None,
) -> Report:
    """Run the engine over ``events_or_items`` and report every violation it recorded.

    Items may be:

    - typed events or wire dicts: one session, keyed ``key``; each one is its own batch;
    - a get-next-event response ``{"events": [...]}`` or a list of events: one batch of
      session ``key`` (a join's replay is recognised by its batch); a keyed envelope
      ``{"session": K, "events": [...]}`` (or ``"event": {...}``): one batch of session K;
    - the reader's items (:func:`session_fsm.wire.reader.iter_wire` or
      :func:`~session_fsm.wire.reader.read`, with ``on_error="report"``): a ``(key, wire
      object, source)`` tuple or a :class:`ReadItem` goes to its session with its source
      (its input line is its batch), :class:`ReadError` becomes an error violation at its
      index. ``iter_wire``'s are the faster: the engine reads them straight from the wire.

    A value that is no event object (a number, a string...) is a ``not-an-event``
    violation at its index, as it would be in a file.

    ``ignore`` and ``select`` take rule names (see :data:`session_fsm.engine.rules.CATALOGUE`).
    ``engine``: one made by :func:`validation_engine` (then ``ignore`` and ``select`` are
    its), for items whose lines it also reads itself (:func:`native_lines`).
    """
    if engine is None:
        engine = validation_engine(ignore=ignore, select=select)
    batches = count()
    for item in events_or_items:
        if type(item) is tuple:  # iter_wire's (key, wire object, source)
            item_key, wire, source = item
            engine.feed(wire, key=item_key, source=source, batch=source)
        elif type(item) is ReadItem:
            engine.feed(item.event, key=item.key, source=item.source, batch=item.source)
        elif type(item) is ReadError:
            engine.report_input_error(item.key, item.error, item.source)
        elif isinstance(item, list):
            batch = next(batches)
            for event in item:
                _feed(engine, event, key, batch)
        elif isinstance(item, Mapping) and not _has_type(item) \
                and ("events" in item or "session" in item):
            _feed_container(engine, item, key, next(batches))
        else:
            _feed(engine, item, key, next(batches))
    engine.finish()
    return report_of(engine, strict_warnings=strict_warnings)


def validation_engine(*, ignore: Collection[str] = (),
                      select: Collection[str] | None = None) -> SessionEngine:
    """The engine :func:`validate` runs: every rule but those left out (unknown names
    raise :class:`UnknownRuleError`)."""
    return SessionEngine(ignore=frozenset(RULES) - selected_rules(ignore=ignore, select=select))


def native_lines(engine: SessionEngine) -> TakeLines | None:
    """The reader's ``take_lines`` for ``engine`` (the native core reads the usual lines
    itself, feeding what it leaves as :func:`validate` feeds the reader's items), or None
    on the Python engine."""
    def feed(key: str, wire: dict[str, Any], source: Source) -> None:
        engine.feed(wire, key=key, source=source, batch=source)

    taker = engine.line_taker(feed)
    if taker is None:
        return None
    take = taker

    def take_lines(data: bytes, name: str, line: int, limit: int, last: bool) -> tuple[int, int]:
        used, lines, _ = take(data, name, line, limit, last)
        return used, lines

    return take_lines


def report_of(engine: SessionEngine, *, strict_warnings: bool = False) -> Report:
    """The report of an engine that has been fed (call its ``finish()`` first)."""
    return Report(
        events=sum(session.events for session in engine.sessions.values()),
        violations=tuple(engine.violations()),
        sessions=tuple(engine.sessions),
        strict_warnings=strict_warnings,
    )


def validate_files(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    ignore: Collection[str] = (),
    select: Collection[str] | None = None,
    strict_warnings: bool = False,
) -> Report:
    """:func:`validate` over files (plain, ``.gz`` or ``-``), every input shape of the contract.

    Unreadable lines are violations; a file that cannot be opened raises :class:`OSError`.
    """
    engine = validation_engine(ignore=ignore, select=select)  # before any file is opened
    items = iter_wire(paths, on_error="report", take_lines=native_lines(engine))
    return validate(items, strict_warnings=strict_warnings, engine=engine)


def rule_table_markdown() -> str:
    """The README's "Validation rules" table, generated from the catalogue."""
    lines = ["| rule | severity | rationale |", "|---|---|---|"]
    for rule in CATALOGUE:
        rationale = rule.rationale.replace("|", "\\|")
        lines.append(f"| `{rule.name}` | {rule.severity.value} | {rationale} |")
    return "\n".join(lines) + "\n"


def _has_type(obj: Mapping[str, Any]) -> bool:
    return "Type" in obj or "type" in obj


def _feed(engine: SessionEngine, value: Any, key: str, batch: int) -> None:
    # Anything that is not a typed event goes through the codec, which reports a value
    # that is no event object (a number, a string...) as not-an-event, as in a file.
    engine.feed(value, key=key, batch=batch)


def _feed_container(engine: SessionEngine, obj: Mapping[str, Any], key: str, batch: int) -> None:
    """A get-next-event response (``events``) or a keyed envelope (``session``), one batch."""
    session = obj.get("session", key)
    if not isinstance(session, str):
        engine.report_input_error(key, NotAnEventError(
            f'envelope "session" must be a string, got {type(session).__name__}'))
        return
    if "events" in obj:
        events = obj["events"]
        if not isinstance(events, list):
            engine.report_input_error(session, NotAnEventError(
                f'"events" must be an array, got {type(events).__name__}'))
            return
    elif "event" in obj:
        events = [obj["event"]]
    else:
        engine.report_input_error(session, NotAnEventError(
            'envelope has neither "events" nor "event"'))
        return
    for event in events:
        _feed(engine, event, session, batch)
