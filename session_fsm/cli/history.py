"""``session-fsm history``: contact lifecycles and agent-state timelines with durations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import click

from ..errors import InputError, plural
from ..io.store import Store, StoreError
from ..machines.agent_state import REAL_STATES
from ..views.history import (
    ContactFilter,
    ContactHistory,
    HistoryFold,
    SessionHistory,
    StateFilter,
    StateInterval,
    histories_json,
)
from ..wire.codec import parse_time
from ..wire.events import MEDIA_OF
from ._common import (
    EXIT_FINDING,
    EXIT_INPUT,
    JSON,
    SKIP_BAD,
    Failure,
    emit_json,
    input_failure,
    replay_files,
    say_if_empty,
)
from .render import show_history

EXAMPLES = """\b
Examples:
  session-fsm history calls.jsonl
  session-fsm history calls.jsonl --contact 1569815 --json
  session-fsm history calls.jsonl --now now --skew 1.5     # live time in current states
  session-fsm history --db store.sqlite --media chat --since 2013-09-11T05:00:00Z
  session-fsm history --db store.sqlite --state Unavailable --out-reason Lunch --json
"""


def _time_option(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value == "now" and name == "--now":
        return datetime.now(UTC)
    try:
        return parse_time(value)
    except ValueError:
        raise Failure(f"{name}: expected an ISO 8601 time (2013-09-11T05:00:00Z), got "
                      f"{value!r}", EXIT_INPUT) from None


_STATES = {name.value.lower(): name.value for name in REAL_STATES}


@click.command("history", epilog=EXAMPLES)
@click.argument("files", nargs=-1, metavar="[FILE]...")
@click.option("--db", metavar="PATH", help="Query this store (see `ingest`) instead of FILEs.")
@click.option("--contact", "contact_id", metavar="ID",
              help="Only this contact (and the agent's states during it).")
@click.option("--media", type=click.Choice(tuple(MEDIA_OF.values()), case_sensitive=False),
              help="Only contacts of this media.")
@click.option("--skill", help="Only contacts of this skill.")
@click.option("--status", help="Only contacts whose last status is this (e.g. Disconnected).")
@click.option("--disconnect-code", help="Only contacts with this DisconnectCode.")
@click.option("--open/--closed", "is_open", default=None,
              help="Only open (not yet FinalState True) or only closed contacts.")
@click.option("--since", metavar="ISO", help="Only contacts and states going on at or after this.")
@click.option("--until", metavar="ISO", help="Only contacts and states that began before this.")
@click.option("--state", help="Only agent states of this name (e.g. Unavailable; any case).")
@click.option("--out-reason", help="Only agent states with this unavailable code.")
@click.option("--now", metavar="ISO|now",
              help="FILE input: live durations up to this client time for what is still going on.")
@click.option("--skew", type=float, default=0.0, show_default=True, metavar="SECONDS",
              help="Server clock minus client clock, added to --now.")
@JSON
@SKIP_BAD
def command(files: tuple[str, ...], db: str | None, contact_id: str | None, media: str | None,
            skill: str | None, status: str | None, disconnect_code: str | None,
            is_open: bool | None, since: str | None, until: str | None, state: str | None,
            out_reason: str | None, now: str | None, skew: float, as_json: bool,
            skip_bad: bool) -> None:
    """Contact lifecycles (every status with its server time and duration, ring, hold,
    ACW and handle time, chat transcripts) and the agent-state timeline of each session
    in FILE... or, with --db, in a store.

    Durations come from the server's timestamps only. Filters combine (all must hold):
    the contact filters select contacts, --state/--out-reason select agent states, and
    --since/--until both.
    """
    if bool(files) == bool(db):
        raise Failure("give FILE... or --db PATH (one of them)", EXIT_INPUT)
    if db and now is not None:
        raise Failure("--now applies to FILE input; a store holds histories as ingested",
                      EXIT_INPUT)
    if state is not None and state.lower() not in _STATES:
        # told, not refused: the stream may bring a state the documentation does not name
        # (the engine records it, with an unknown-status warning), and it can be asked for
        click.echo(f"session-fsm: --state {state!r} is no documented agent state "
                   f"({', '.join(_STATES.values())}): only states recorded under that name "
                   "are shown", err=True)
    start, end = _time_option(since, "--since"), _time_option(until, "--until")
    contacts = ContactFilter(contact_id=contact_id, media=media, skill=skill, status=status,
                             disconnect_code=disconnect_code, since=start, until=end,
                             closed=None if is_open is None else not is_open)
    states = StateFilter(state=state, out_reason=out_reason, since=start, until=end)
    if db:
        found = _from_store(db, contacts, states, contact_id)
    else:
        found = _from_files(files, skip_bad, _time_option(now, "--now"), skew, contacts, states,
                            contact_id)
    if contact_id is not None and not any(h.contacts for h in found):
        raise Failure(f"contact {contact_id} not found", EXIT_FINDING)
    if as_json:
        emit_json(histories_json(found))
        return
    for history in found:
        show_history(history)


def _from_files(files: Sequence[str], skip_bad: bool, now: datetime | None, skew: float,
                contacts: ContactFilter, states: StateFilter,
                contact_id: str | None) -> list[SessionHistory]:
    fold = HistoryFold()
    try:
        replay = replay_files(files, skip_bad=skip_bad, on_changes=fold.apply_all)
    except InputError as error:
        raise input_failure(error) from None
    if replay.skipped:
        click.echo(f"session-fsm: {plural(replay.skipped, 'unreadable item')} skipped", err=True)
    say_if_empty(replay)
    chosen = []
    for history in fold.histories(replay.engine.sessions, now=now, skew_s=skew):
        picked = _pick(history.key, history.find_contacts(contacts),
                       history.find_states(states), contact_id)
        if picked is not None:
            chosen.append(picked)
    return chosen


_READ_TRIES = 3
"""Reads of a store that a writer kept changing under them before history gives up."""


def _from_store(db: str, contacts: ContactFilter, states: StateFilter,
                contact_id: str | None) -> list[SessionHistory]:
    try:
        for _ in range(_READ_TRIES):
            # read-only: nothing written, so a store in a directory the user cannot write
            # can be read
            with Store(db, read_only=True) as store:
                stale = store.dirty()
                stored = list(store.histories(contacts, states))
                if not store.written_since_open():
                    break
        else:
            raise Failure(f"{db}: the store was written to while it was read, {_READ_TRIES} "
                          "times: run history again", EXIT_INPUT)
    except StoreError as error:
        raise Failure(str(error), EXIT_INPUT) from None
    if stale:
        have = "has" if len(stale) == 1 else "have"
        click.echo(f"session-fsm: {plural(len(stale), 'session')} {have} events not yet in "
                   "their history (an ingest was interrupted): run ingest again", err=True)
    chosen = []
    for history in stored:
        picked = _pick(history.key, history.contacts, history.agent_states, contact_id)
        if picked is not None:
            chosen.append(picked)
    return chosen


def _pick(key: str, contacts: tuple[ContactHistory, ...],
          states: tuple[StateInterval, ...], contact_id: str | None) -> SessionHistory | None:
    """The session ``key`` as selected; with --contact, only that contact and the agent's
    states during it (from its first step to its close), or None if the session lacks it."""
    if contact_id is None:
        return SessionHistory(key, contacts, states)
    contact = next((c for c in contacts if c.contact_id == contact_id), None)
    if contact is None:
        return None
    during = StateFilter(since=contact.started, until=contact.ended if contact.closed else None)
    overlapping = tuple(i for i in states if i.acw_contact_id == contact_id
                        or (contact.started is not None and during.matches(i)))
    return SessionHistory(key, (contact,), overlapping)


# --- human output -------------------------------------------------------------------------


