"""The declaration of every state machine, held apart from the records it drives.

Each machine kind is a table of ``Rule(trigger, source, dest, why)`` rows in its own
module. :class:`MachineSpec` hands the table to ``transitions`` once per kind (which
checks that every state and trigger exists) and compiles it into a dict
``{(state, trigger): dest}`` that the engine reads per event: a dict lookup costs about
0.05 us where a ``transitions`` trigger costs about 5 us, and no record is ever
registered as a ``transitions`` model. The same table feeds the diagrams and validation,
and a test checks the compiled dict against ``transitions``' own firing on every pair.

Machine modules know nothing of JSON field names, and only the engine fires transitions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

import attrs
from transitions import Machine

ANY = "*"
"""``source`` of a rule that applies in every state."""
SAME = "="
"""``dest`` of a rule that stays in the state it fired in (a reflexive transition)."""
CLOSE = "close"
"""The trigger FinalState True fires once the status is applied (legs and contacts)."""


@attrs.frozen(slots=True)
class Rule:
    """One row of a transition table; ``why`` says why the protocol allows it."""

    trigger: str
    source: str
    dest: str
    why: str


class MachineSpec:
    """One machine kind: its states, its table, and the lookup compiled from them."""

    def __init__(
        self,
        name: str,
        states: type[StrEnum],
        initial: StrEnum,
        rules: Iterable[Rule],
        *,
        final_states: Iterable[StrEnum] = (),
    ) -> None:
        self.name = name
        self.states: tuple[str, ...] = tuple(states)
        # transitions keys Enum states by member *name* (NEW); the engine uses values (New).
        self._value_of: dict[str, str] = {member.name: member.value for member in states}
        self.initial: str = str(initial)
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.final_states: frozenset[str] = frozenset(final_states)
        self.machine = Machine(
            model=None,
            states=list(states),
            initial=initial,
            transitions=[
                {"trigger": r.trigger, "source": r.source, "dest": r.dest} for r in self.rules
            ],
            auto_transitions=False,
        )
        self.table: Mapping[tuple[str, str], str] = self._compile()
        # plain strings, not the Enum members some tables name them by: they travel in
        # changes and JSON
        self.triggers: tuple[str, ...] = tuple(dict.fromkeys(str(r.trigger) for r in self.rules))
        # Wire strings are compared case-insensitively, as the official SDK does.
        self._folded: dict[str, str] = {t.lower(): t for t in self.triggers}
        self.exact: Mapping[str | None, str] = {t: t for t in self.triggers}
        """Each trigger under its own spelling: the wire's usual one, found with no call
        (the engine tries it before :meth:`trigger_for`)."""

    def _compile(self) -> dict[tuple[str, str], str]:
        """Read ``transitions``' own event table, so the engine runs exactly what it checked."""
        table: dict[tuple[str, str], str] = {}
        value = self._value_of
        for trigger, event in self.machine.events.items():
            for source, transitions in event.transitions.items():
                for transition in transitions:
                    table[(value[source], trigger)] = value[transition.dest or source]
        return table

    def trigger_for(self, wire_value: str | None) -> str | None:
        """The trigger a wire status names (any casing), or None if this machine has none."""
        if wire_value is None:
            return None
        return self._folded.get(wire_value.lower())

    def next_state(self, state: str, trigger: str) -> str | None:
        """Where ``trigger`` leads from ``state``, or None when the table has no such row."""
        return self.table.get((state, trigger))

    def __repr__(self) -> str:
        return f"MachineSpec({self.name!r}, {len(self.states)} states, {len(self.table)} rows)"


def rules(*rows: tuple[str, str | Iterable[str], str, str]) -> list[Rule]:
    """Expand ``(trigger, source or sources, dest, why)`` rows into :class:`Rule` values."""
    expanded: list[Rule] = []
    for trigger, sources, dest, why in rows:
        for source in [sources] if isinstance(sources, str) else sources:
            expanded.append(Rule(trigger, source, dest, why))
    return expanded


def spec_registry() -> dict[str, MachineSpec]:
    """Every machine kind by name: the session's lifecycle, the agent state, the agent leg,
    one per contact media."""
    from .agent_leg import AGENT_LEG
    from .agent_state import AGENT_STATE
    from .contacts import CONTACT_MACHINES
    from .session import SESSION

    specs: dict[str, Any] = {SESSION.name: SESSION, AGENT_STATE.name: AGENT_STATE,
                             AGENT_LEG.name: AGENT_LEG}
    specs.update({spec.name: spec for spec in CONTACT_MACHINES.values()})
    return specs
