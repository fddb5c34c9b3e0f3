"""Contact lifecycles and agent-state timelines with durations, folded from the change stream.

The engine keeps where things stand, not how they got there: that is what ``feed()``
returns (``engine/changes.py``). :class:`HistoryFold` folds those changes into each
session's :class:`SessionLog`: every contact's steps (a status lasts until the next
transition of the same contact; its history ends at its final step: a
:class:`~session_fsm.engine.changes.StatusAfterFinal` is the violation's, not a step), its
details (:class:`~session_fsm.engine.changes.ContactDetails`) and transcript, and the
agent's timeline (a stretch lasts until the next
:class:`~session_fsm.engine.changes.AgentStatus`; an
:class:`~session_fsm.engine.changes.AcwLinked` ties an ACW stretch to its contact).
Reading a log into frozen values computes durations, from **server timestamps only**:

- *time in status*: from a step's timestamp to the next step's. The last status of an open
  contact has no end, unless a ``now`` is given: then it lasts until ``now + skew_s``
  (``skew_s`` = server clock minus client clock), which gives live "time in current state"
  figures. A difference that would be negative (the server's clock went backwards; the
  engine reports it) counts as unknown, not as negative time.
- *ring*: from the first step to the first ``Active``; for a contact that never became
  Active (abandoned, missed), to the status that ended it. Unknown when the contact was
  first seen in a middle status (a join's replay), since its start was not seen.
- *ACW* (``acw_s``), the contact's after-call work: the agent's ACW intervals that belong
  to it (``AgentInterval.acw_contact_id``: the engine links an ACW to the contact still
  open in its ACW phase, or to one closed at once when there is none, see
  ``engine/core.py``), each from its StartTimeUTC to the next AgentState's, on the
  agent's clock. They tell the truth on every documented path, the one where the contact
  is closed at once (FinalState True on its first ``Disconnected``) included, and also
  when the closing event repeats the ``LastStateChangeTimeUTC`` of the Disconnected
  before it (that field says when the *status* began, and it did not change). Only when
  no agent ACW belongs to it: the contact's own ACW phase, from its ``Disconnected`` with
  FinalState False (see ``machines/contacts.py``) to its FinalState True, on the
  contact's clock. None when it had neither.
- *handle time* (``handle_time_s``): first ``Active`` to the voice's end (the first
  ``Disconnected`` with FinalState False, or the close when it came at once), plus the
  ACW above. Time in status is the contact's own: when the agent's clock and the
  contact's differ, or the close repeats the Disconnected's time, its ``Disconnected``
  differs from ``acw_s``, and handle time follows ``acw_s``.
- *agent time*: each interval's ``end - start``; totals per state, per out reason and ACW.

Statuses are grouped by the machine table's own spelling (``active`` counts as ``Active``);
the steps keep the wire's. :func:`to_json` gives ``history --json``'s entry
(``session-fsm schema history``), exactly its keys; the Python values carry more (ring,
hold, skill, payload, step ends).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from ..engine.changes import (
    AcwLinked,
    AgentStatus,
    Change,
    ContactDetails,
    TranscriptAdded,
    Transition,
)
from ..engine.records import TranscriptLine
from ..machines.contacts import CONTACT_MACHINES
from ..wire.codec import format_optional_time as _time

__all__ = [
    "AgentInterval",
    "ContactFilter",
    "ContactHistory",
    "ContactLog",
    "HistoryFold",
    "SessionHistory",
    "SessionLog",
    "StateFilter",
    "StateInterval",
    "Step",
    "StepHistory",
    "acw_step",
    "agent_acw_s",
    "contact_history",
    "contact_json",
    "histories",
    "histories_json",
    "history_of",
    "interval_json",
    "settled",
    "state_intervals",
    "to_json",
]

_ACTIVE = "Active"
_HOLDING = "Holding"


@attrs.frozen(slots=True)
class StepHistory:
    """One applied status of a contact, with when it ended and how long it lasted."""

    status: str
    at: datetime | None
    final: bool
    event_index: int
    disconnect_code: str | None = None
    end: datetime | None = None
    """The next step's timestamp; None for the last one (and for steps after the final one)."""
    duration_s: float | None = None
    """``end - at``, or live up to ``now`` for an open contact's last status; None if unknown."""


@attrs.frozen(slots=True)
class ContactHistory:
    """One contact's lifecycle and durations. The first fields are the contract's JSON."""

    contact_id: str
    media: str
    closed: bool
    steps: tuple[StepHistory, ...]
    time_in_status_s: Mapping[str, float]
    acw_s: float | None
    handle_time_s: float | None
    disconnect_code: str | None
    transcript: tuple[TranscriptLine, ...]
    # beyond the contract's JSON
    ring_s: float | None = None
    hold_s: float | None = None
    skill: str | None = None
    payload: Mapping[str, Any] | None = None
    is_inbound: bool | None = None
    call_type: str | None = None
    first_index: int = 0

    @property
    def status(self) -> str:
        """The last status: the one it ended in when closed, the current one when open."""
        return self.steps[-1].status if self.steps else ""

    @property
    def started(self) -> datetime | None:
        """The first step's server timestamp."""
        return next((s.at for s in self.steps if s.at is not None), None)

    @property
    def ended(self) -> datetime | None:
        """The FinalState True step's server timestamp (None while open)."""
        return next((s.at for s in self.steps if s.final), None)

    @property
    def answered_step(self) -> StepHistory | None:
        """The first ``Active`` step (by the table's spelling: ``active`` counts), before
        the close: where the agent answered; None if never."""
        spec = CONTACT_MACHINES.get(self.media)
        for step in self.steps:
            name = (spec.trigger_for(step.status) if spec is not None else None) or step.status
            if name == "Active":
                return step
            if step.final:
                break
        return None

    @property
    def talk_s(self) -> float | None:
        """Seconds in ``Active`` and ``Joined`` (a conference is talk too); None when never
        answered. With :attr:`hold_s`, :attr:`acw_s` and :attr:`handle_time_s`, what a
        desktop says when a contact ends."""
        if self.answered_step is None:
            return None
        return sum(seconds for status, seconds in self.time_in_status_s.items()
                   if status in _TALK)


@attrs.frozen(slots=True)
class StateInterval:
    """One stretch of the agent-state timeline with its duration."""

    state: str
    out_reason: str
    is_acw: bool
    start: datetime | None
    end: datetime | None
    duration_s: float | None
    event_index: int = 0
    acw_contact_id: str | None = None


@attrs.frozen(slots=True)
class ContactFilter:
    """A query over contact histories; every given criterion must hold (None: any).

    ``status`` is the last status (the final one for closed contacts), compared
    case-insensitively as the wire's statuses are; ``since``/``until`` select contacts
    whose lifetime (first step to FinalState True, or still open) overlaps
    ``[since, until)``; a contact without any timestamp never matches a time range.
    """

    media: str | None = None
    skill: str | None = None
    status: str | None = None
    disconnect_code: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    closed: bool | None = None
    contact_id: str | None = None

    def matches(self, contact: ContactHistory) -> bool:
        if self.contact_id is not None and contact.contact_id != self.contact_id:
            return False
        if self.media is not None and contact.media != self.media:
            return False
        if self.skill is not None and contact.skill != self.skill:
            return False
        if self.status is not None and contact.status.lower() != self.status.lower():
            return False
        if self.disconnect_code is not None and \
                (contact.disconnect_code or "").lower() != self.disconnect_code.lower():
            return False
        if self.closed is not None and contact.closed != self.closed:
            return False
        if self.since is None and self.until is None:
            return True
        return _overlaps(contact.started, contact.ended if contact.closed else None,
                         self.since, self.until)


@attrs.frozen(slots=True)
class StateFilter:
    """A query over agent-state intervals (None: any). ``state`` and ``out_reason`` are
    compared case-insensitively; ``since``/``until`` select intervals overlapping
    ``[since, until)`` (an interval without an end is still going on)."""

    state: str | None = None
    out_reason: str | None = None
    is_acw: bool | None = None
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, interval: StateInterval) -> bool:
        if self.state is not None and interval.state.lower() != self.state.lower():
            return False
        if self.out_reason is not None and interval.out_reason.lower() != self.out_reason.lower():
            return False
        if self.is_acw is not None and interval.is_acw != self.is_acw:
            return False
        if self.since is None and self.until is None:
            return True
        return _overlaps(interval.start, interval.end, self.since, self.until)


@attrs.frozen(slots=True)
class SessionHistory:
    """One session's contact histories (in order of first appearance) and agent timeline."""

    key: str
    contacts: tuple[ContactHistory, ...]
    agent_states: tuple[StateInterval, ...]

    def contact(self, contact_id: str) -> ContactHistory | None:
        """One contact by id."""
        return next((c for c in self.contacts if c.contact_id == contact_id), None)

    def find_contacts(self, query: ContactFilter | None = None, **criteria: Any) -> tuple[
            ContactHistory, ...]:
        """Contacts matching ``query`` (or the :class:`ContactFilter` fields as keywords)."""
        chosen = query or ContactFilter(**criteria)
        return tuple(c for c in self.contacts if chosen.matches(c))

    def find_states(self, query: StateFilter | None = None, **criteria: Any) -> tuple[
            StateInterval, ...]:
        """Agent-state intervals matching ``query`` (or :class:`StateFilter` keywords)."""
        chosen = query or StateFilter(**criteria)
        return tuple(i for i in self.agent_states if chosen.matches(i))

    @property
    def time_in_state_s(self) -> dict[str, float]:
        """Agent time per state (intervals of unknown length left out)."""
        return _totals((i.state, i.duration_s) for i in self.agent_states)

    @property
    def time_by_out_reason_s(self) -> dict[str, float]:
        """Agent time per unavailable code (intervals with a non-empty out reason)."""
        return _totals((i.out_reason, i.duration_s) for i in self.agent_states if i.out_reason)

    @property
    def acw_time_s(self) -> float:
        """The agent's total time in ACW."""
        return sum(i.duration_s or 0.0 for i in self.agent_states if i.is_acw)


# --- the fold ---------------------------------------------------------------------------


@attrs.frozen(slots=True, weakref_slot=False)
class Step:
    """One applied status of a contact: what, when (server time), and where."""

    status: str
    at: datetime | None
    final: bool
    event_index: int
    disconnect_code: str | None = None


@attrs.define(slots=True, weakref_slot=False)
class AgentInterval:
    """One stretch of the agent-state timeline as folded; ``end`` is None while it lasts."""

    state: str
    out_reason: str
    is_acw: bool
    start: datetime | None
    event_index: int
    end: datetime | None = None
    acw_contact_id: str | None = None


@attrs.define(slots=True, weakref_slot=False)
class ContactLog:
    """One contact as folded from the change stream: its steps, details and transcript."""

    contact_id: str
    media: str
    first_index: int
    final: bool = False
    steps: list[Step] = attrs.Factory(list)
    transcript: list[TranscriptLine] = attrs.Factory(list)
    skill: str | None = None
    is_inbound: bool | None = None
    call_type: str | None = None
    disconnect_code: str | None = None
    payload: dict[str, Any] | None = None


@attrs.define(slots=True, weakref_slot=False)
class SessionLog:
    """One session as folded: its contacts (first-seen order) and agent timeline."""

    key: str
    contacts: dict[str, ContactLog] = attrs.Factory(dict)
    timeline: list[AgentInterval] = attrs.Factory(list)
    ended: bool = False
    touched: set[str] = attrs.Factory(set)
    """Contacts whose history changed since :meth:`HistoryFold.take_updates` last ran."""
    touched_from: int = 0
    """The first interval of ``timeline`` that changed since then."""

    def touch_interval(self) -> None:
        """The last interval changed (it ended, or an ACW got linked to it)."""
        last = len(self.timeline) - 1
        if last >= 0:
            self.touched_from = min(self.touched_from, last)
            linked = self.timeline[last].acw_contact_id
            if linked is not None:  # its ACW time is that contact's
                self.touched.add(linked)


_MEDIA_OF_MACHINE = {spec.name: media for media, spec in CONTACT_MACHINES.items()}
_TALK: Final = frozenset(("Active", "Joined"))
"""The statuses that are talk (time in status is counted by the table's spelling)."""


class HistoryFold:
    """Folds the engine's change stream into contact histories and agent timelines.

    Subscribe it to an engine (``engine.subscribe(fold.apply)``), or hand it the changes
    ``feed()`` returned (:meth:`apply_all`); then :meth:`history` reads one session. It
    keeps what a history needs and nothing else: every contact's steps (a status lasts
    until the next transition of the same contact), details and transcript, and the
    agent's timeline (a stretch lasts until the next :class:`AgentStatus`).
    """

    def __init__(self) -> None:
        self.sessions: dict[str, SessionLog] = {}

    def _contact(self, log: SessionLog, contact_id: str, media: str,
                 index: int) -> ContactLog:
        found = log.contacts.get(contact_id)
        if found is None:
            found = log.contacts[contact_id] = ContactLog(contact_id, media, index)
        return found

    def apply_all(self, changes: Iterable[Change]) -> None:
        """Fold changes, in order."""
        for change in changes:
            self.apply(change)

    def apply(self, change: Change) -> None:
        """Fold one change (a :data:`~session_fsm.engine.changes.Subscriber`)."""
        # Every change of every event passes here when history is kept: the session's log
        # is looked up inline and a Transition, the commonest kind, is folded here.
        key = change.session
        log = self.sessions.get(key)
        if log is None:  # every session, in first-seen order
            log = self.sessions[key] = SessionLog(key)
        if type(change) is not Transition:
            fold = _FOLDS.get(type(change))
            if fold is not None:
                fold(self, log, change)
            return
        media = _MEDIA_OF_MACHINE.get(change.machine)
        if media is None:
            if change.final and change.machine == "session":
                log.ended = True
            return
        contact_id = change.subject
        assert contact_id is not None  # a contact machine's subject is its id
        contact = log.contacts.get(contact_id)
        if contact is None:
            contact = log.contacts[contact_id] = ContactLog(contact_id, media,
                                                            change.event_index)
        log.touched.add(contact_id)
        steps = contact.steps
        if change.final:
            contact.final = True
            last = steps[-1] if steps else None
            # the close of a status this same event moved into: that step is the final one
            if last is not None and last.event_index == change.event_index and not last.final:
                # (Step's every field, spelled out: attrs.evolve costs ten times as much)
                steps[-1] = Step(last.status, last.at, True, last.event_index,
                                 last.disconnect_code)
                return
        steps.append(Step(change.status or "", change.at, change.final, change.event_index,
                          contact.disconnect_code))

    def on_contact_done(self, callback: Callable[[str, ContactHistory], object]
                        ) -> Callable[[Change], None]:
        """A subscriber that folds every change (subscribe it *instead of* :meth:`apply`,
        so the history is folded before you read it) and then calls ``callback(key,
        contact)`` once for each contact whose figures are final: closed (FinalState
        True) and its after-call work over. That is at the agent's first state after the
        close that is not the contact's own ACW (an ACW not yet linked to any contact is
        waited out), or at the session's end. ``contact`` has the talk, hold, ACW and
        handle times (:attr:`ContactHistory.talk_s`, ``hold_s``, ``acw_s``,
        ``handle_time_s``)::

            fold = HistoryFold()
            engine.subscribe(fold.on_contact_done(lambda key, c: print(c.contact_id, c.acw_s)))
        """
        waiting: dict[str, dict[str, None]] = {}  # by session: contacts closed, not yet done

        def subscriber(change: Change) -> None:
            self.apply(change)
            key = change.session
            if type(change) is Transition and change.contact_ended:
                assert change.subject is not None  # a contact machine's subject is its id
                waiting.setdefault(key, {})[change.subject] = None
            closed = waiting.get(key)
            if not closed:
                return
            log = self.sessions[key]
            last = log.timeline[-1] if log.timeline else None
            for contact_id in list(closed):
                record = log.contacts[contact_id]
                if log.ended or _after_work_over(record, last):
                    del closed[contact_id]
                    callback(key, contact_history(record, log.timeline))

        return subscriber

    def _agent_status(self, log: SessionLog, change: AgentStatus) -> None:
        timeline = log.timeline
        if timeline:
            timeline[-1].end = change.at
            log.touch_interval()
        timeline.append(AgentInterval(change.state, change.out_reason, change.is_acw,
                                      change.at, change.event_index))

    def _acw_linked(self, log: SessionLog, change: AcwLinked) -> None:
        timeline = log.timeline
        # the ACW in progress: its interval is the last one
        if timeline and timeline[-1].is_acw and timeline[-1].acw_contact_id is None:
            timeline[-1].acw_contact_id = change.contact_id
            log.touch_interval()

    def _details(self, log: SessionLog, change: ContactDetails) -> None:
        contact = self._contact(log, change.contact_id, change.media, change.event_index)
        log.touched.add(change.contact_id)
        contact.skill = change.skill
        contact.is_inbound = change.is_inbound
        contact.call_type = change.call_type
        contact.disconnect_code = change.disconnect_code
        contact.payload = change.payload

    def _transcript(self, log: SessionLog, change: TranscriptAdded) -> None:
        contact = log.contacts.get(change.contact_id)
        if contact is None:  # a chat room's text before any ChatContactEvent claimed it
            contact = self._contact(log, change.contact_id, "chat", change.event_index)
            contact.final = True
        log.touched.add(change.contact_id)
        contact.transcript.append(TranscriptLine(change.party, change.text, change.at))

    def take_updates(self, key: str) -> SessionHistory:
        """What changed in session ``key`` since the last call, as history to write
        elsewhere (a store): the contacts whose history changed and the agent intervals
        that began, ended or got an ACW linked. Then what can no longer change is taken
        out of the fold, so a long session folds in bounded memory: closed contacts
        that are *settled* (the agent is in a state that began after the contact closed
        and is not an ACW for it: a later ACW is linked only to a contact whose voice
        ended in the state just before it) and ended intervals no contact still here
        links to. A contact taken out keeps the history written for it: a status after
        its FinalState True no longer changes it (the engine still reports the violation).
        """
        log = self.sessions.get(key)
        if log is None:
            return SessionHistory(key, (), ())
        timeline = log.timeline
        acw = agent_acw_s(timeline)
        touched = sorted((log.contacts[c] for c in log.touched if c in log.contacts),
                         key=lambda c: c.first_index)
        updates = SessionHistory(
            key=key,
            contacts=tuple(contact_history(c, agent_acw=acw) for c in touched),
            agent_states=state_intervals(timeline)[log.touched_from:],
        )
        last = timeline[-1] if timeline else None
        for contact in [c for c in log.contacts.values() if settled(c, last)]:
            del log.contacts[contact.contact_id]
        kept = log.contacts
        log.timeline = [i for i in timeline[:-1] if i.acw_contact_id in kept] + timeline[-1:]
        log.touched.clear()
        log.touched_from = len(log.timeline)
        return updates

    def keys(self) -> list[str]:
        """The sessions folded so far, in first-seen order."""
        return list(self.sessions)

    def history(self, key: str, *, now: datetime | None = None,
                skew_s: float = 0.0) -> SessionHistory:
        """Session ``key``'s history (an empty one for a key never seen)."""
        return history_of(self.sessions.get(key) or SessionLog(key), now=now, skew_s=skew_s)

    def histories(self, keys: Iterable[str] | None = None, *, now: datetime | None = None,
                  skew_s: float = 0.0) -> tuple[SessionHistory, ...]:
        """Every session's history in first-seen order (or those of ``keys``, in their
        order: an engine's ``sessions`` give the order events were first fed)."""
        chosen = self.sessions if keys is None else keys
        return tuple(self.history(key, now=now, skew_s=skew_s) for key in chosen)


_FOLDS: dict[type[Any], Callable[[HistoryFold, SessionLog, Any], None]] = {
    AgentStatus: HistoryFold._agent_status,
    AcwLinked: HistoryFold._acw_linked,
    ContactDetails: HistoryFold._details,
    TranscriptAdded: HistoryFold._transcript,
}
"""How each kind of change other than a Transition (which :meth:`HistoryFold.apply` folds
itself) is folded; the others say nothing a history keeps (a status after a contact's
FinalState True is its violation's, not a step of its history)."""


def settled(contact: ContactLog, last: AgentInterval | None) -> bool:
    """Whether nothing can change a closed contact's history any more (see
    :meth:`HistoryFold.take_updates`). A contact without steps (a chat room's text before
    any contact claimed it) can still grow, so it stays."""
    final = next((s for s in contact.steps if s.final), None)
    if final is None:
        return False
    return last is not None and last.event_index > final.event_index \
        and last.acw_contact_id != contact.contact_id


def _after_work_over(contact: ContactLog, last: AgentInterval | None) -> bool:
    """Whether a closed contact's figures are final: the agent's current state began
    after the close and is no ACW that is, or may yet be linked to, this contact."""
    final = next((s for s in contact.steps if s.final), None)
    if final is None or last is None or last.event_index <= final.event_index:
        return False
    return not last.is_acw or last.acw_contact_id not in (None, contact.contact_id)


def history_of(log: SessionLog, *, now: datetime | None = None,
               skew_s: float = 0.0) -> SessionHistory:
    """A folded session's :class:`SessionHistory`.

    ``now`` (the client's clock) plus ``skew_s`` (server minus client, seconds) gives live
    durations for what is still going on; without it, open things have no duration. A
    session that has ended has nothing going on, so ``now`` does not apply to it.
    """
    server_now = _server_now(now, skew_s) if not log.ended else None
    timeline = log.timeline
    records = sorted(log.contacts.values(), key=lambda c: c.first_index)
    acw = agent_acw_s(timeline, now=server_now)
    return SessionHistory(
        key=log.key,
        contacts=tuple(contact_history(c, agent_acw=acw, now=server_now) for c in records),
        agent_states=state_intervals(timeline, now=server_now),
    )


def histories(changes: Iterable[Change], *, now: datetime | None = None,
              skew_s: float = 0.0) -> tuple[SessionHistory, ...]:
    """Every session's history folded from ``changes``, in first-seen order."""
    fold = HistoryFold()
    fold.apply_all(changes)
    return fold.histories(now=now, skew_s=skew_s)


def state_intervals(timeline: Sequence[AgentInterval], *,
                    now: datetime | None = None) -> tuple[StateInterval, ...]:
    """The agent timeline with durations; ``now`` is the *server's* now (skew applied)."""
    last = len(timeline) - 1
    return tuple(
        StateInterval(i.state, i.out_reason, i.is_acw, i.start, i.end,
                      _seconds(i.start, i.end if i.end is not None or n < last else now),
                      i.event_index, i.acw_contact_id)
        for n, i in enumerate(timeline)
    )


def agent_acw_s(timeline: Sequence[AgentInterval], *,
                now: datetime | None = None) -> dict[str, float | None]:
    """The agent's ACW time per contact it was linked to (``AgentInterval.acw_contact_id``);
    None for a contact whose ACW has not ended (and no ``now``: the server's now)."""
    current = timeline[-1] if timeline else None
    found: dict[str, float | None] = {}
    for interval in timeline:
        contact_id = interval.acw_contact_id
        if not interval.is_acw or contact_id is None:
            continue
        end = interval.end if interval.end is not None or interval is not current else now
        seconds = _seconds(interval.start, end)
        total = found.get(contact_id, 0.0)
        found[contact_id] = None if seconds is None or total is None else total + seconds
    return found


def contact_history(record: ContactLog, timeline: Sequence[AgentInterval] = (), *,
                    now: datetime | None = None,
                    agent_acw: Mapping[str, float | None] | None = None) -> ContactHistory:
    """One contact's history; the agent's ACW that belongs to it (from ``timeline``, or
    ``agent_acw`` as :func:`agent_acw_s` gives it, computed once for many contacts) is its
    ACW whenever there is one (the module docstring says how ACW and handle time count).

    ``now`` is the *server's* now (skew already applied), for an open contact's live figures.
    """
    spec = CONTACT_MACHINES.get(record.media)
    steps = record.steps
    final_at = next((n for n, s in enumerate(steps) if s.final), None)
    # the steps that make up the lifecycle; anything after the final step is a violation
    lifecycle = steps if final_at is None else steps[:final_at + 1]
    live = now if not record.final else None

    def canonical(status: str) -> str:
        found = spec.trigger_for(status) if spec is not None else None
        return found or status

    shown: list[StepHistory] = []
    totals: dict[str, float] = {}
    for n, step in enumerate(steps):
        end: datetime | None = None
        duration: float | None = None
        if n < len(lifecycle) - 1:
            end = lifecycle[n + 1].at
            duration = _seconds(step.at, end)
        elif n == len(lifecycle) - 1 and not step.final:
            duration = _seconds(step.at, live)
        if duration is not None:
            name = canonical(step.status)
            totals[name] = totals.get(name, 0.0) + duration
        shown.append(StepHistory(step.status, step.at, step.final, step.event_index,
                                 step.disconnect_code, end, duration))

    names = [canonical(s.status) for s in lifecycle]
    closable = spec.closable if spec is not None else frozenset()
    entry = spec.entry_triggers if spec is not None else frozenset()
    final_step = lifecycle[-1] if final_at is not None else None
    end_of_contact = final_step.at if final_step is not None else live

    ring: float | None = None
    if lifecycle and names[0] in entry:
        answered = next((n for n, name in enumerate(names) if name == _ACTIVE), None)
        if answered is None:
            answered = next((n for n, name in enumerate(names) if name in closable), None)
        if answered is not None:
            ring = _seconds(lifecycle[0].at, lifecycle[answered].at)

    acw_begins = acw_step(record)
    if agent_acw is None:
        agent_acw = agent_acw_s(timeline, now=now)
    first_active = next((s for s, name in zip(lifecycle, names, strict=True)
                         if name == _ACTIVE), None)
    handle: float | None = None
    # handle time = first Active to the voice's end, plus the ACW (module docstring)
    if record.contact_id in agent_acw:  # an agent ACW belongs to it: the agent's side
        acw = agent_acw[record.contact_id]
        voice_end = acw_begins if acw_begins is not None else final_step
        if first_active is not None and voice_end is not None:
            talk = _seconds(first_active.at, voice_end.at)
            handle = None if talk is None or acw is None else talk + acw
    else:  # its own ACW phase, from the voice's end to the close: the sum is one subtraction
        acw = _seconds(acw_begins.at, end_of_contact) if acw_begins is not None else None
        if first_active is not None:
            handle = _seconds(first_active.at, end_of_contact)

    hold = totals.get(_HOLDING, 0.0) if any(s.duration_s is not None for s in shown) else None
    return ContactHistory(
        contact_id=record.contact_id,
        media=record.media,
        closed=record.final,
        steps=tuple(shown),
        time_in_status_s=totals,
        acw_s=acw,
        handle_time_s=handle,
        disconnect_code=record.disconnect_code,
        transcript=tuple(record.transcript or ()),
        ring_s=ring,
        hold_s=hold,
        skill=record.skill,
        payload=dict(record.payload) if record.payload is not None else None,
        is_inbound=record.is_inbound,
        call_type=record.call_type,
        first_index=record.first_index,
    )


def acw_step(record: ContactLog) -> Step | None:
    """The step where a contact's own ACW phase began: a status that ends the voice (the
    table's closable ones, ``Disconnected``) with FinalState False, before any final step.
    None when the contact had none (closed at once, or not ended yet)."""
    spec = CONTACT_MACHINES.get(record.media)
    if spec is None:
        return None
    for step in record.steps:
        if step.final:
            return None
        if (spec.trigger_for(step.status) or step.status) in spec.closable:
            return step
    return None


# --- JSON -------------------------------------------------------------------------------



def contact_json(contact: ContactHistory) -> dict[str, Any]:
    """One entry of a session's ``contacts`` in ``history --json``: exactly the contract keys."""
    return {
        "contact_id": contact.contact_id,
        "media": contact.media,
        "closed": contact.closed,
        "steps": [{"status": s.status, "at": _time(s.at), "final": s.final,
                   "event_index": s.event_index} for s in contact.steps],
        "time_in_status_s": dict(contact.time_in_status_s),
        "acw_s": contact.acw_s,
        "handle_time_s": contact.handle_time_s,
        "disconnect_code": contact.disconnect_code,
        "transcript": [{"party": t.party, "text": t.text, "at": _time(t.at)}
                       for t in contact.transcript],
    }


def interval_json(interval: StateInterval) -> dict[str, Any]:
    """One entry of ``agent_states`` in ``history --json``."""
    return {
        "state": interval.state,
        "out_reason": interval.out_reason,
        "is_acw": interval.is_acw,
        "start": _time(interval.start),
        "end": _time(interval.end),
        "duration_s": interval.duration_s,
    }


def to_json(history: SessionHistory) -> dict[str, Any]:
    """One entry of ``history --json``'s ``sessions``: exactly the keys of
    ``session-fsm schema history``."""
    return {
        "key": history.key,
        "contacts": [contact_json(c) for c in history.contacts],
        "agent_states": [interval_json(i) for i in history.agent_states],
    }


def histories_json(items: Iterable[SessionHistory]) -> dict[str, Any]:
    """The whole ``history --json`` document."""
    return {"sessions": [to_json(h) for h in items]}


# --- helpers ----------------------------------------------------------------------------


def _server_now(now: datetime | None, skew_s: float) -> datetime | None:
    return None if now is None else now + timedelta(seconds=skew_s)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    """``end - start`` in seconds; None when either is unknown or time ran backwards."""
    if start is None or end is None:
        return None
    seconds = (end - start).total_seconds()
    return seconds if seconds >= 0 else None


def _totals(pairs: Iterable[tuple[str, float | None]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for name, seconds in pairs:
        if seconds is not None:
            totals[name] = totals.get(name, 0.0) + seconds
    return totals


def _overlaps(start: datetime | None, end: datetime | None,
              since: datetime | None, until: datetime | None) -> bool:
    """Whether ``[start, end]`` (``end`` None: still going on) meets ``[since, until)``."""
    if start is None:
        return False
    if until is not None and start >= until:
        return False
    return since is None or end is None or end >= since
