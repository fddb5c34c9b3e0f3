"""The agent's handlers: its state (with ACW and next states) and its leg."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime, timedelta
from sys import intern

from ..machines import CLOSE
from ..machines.agent_leg import AGENT_LEG, LegStatus
from ..machines.agent_state import AGENT_STATE, NEXT_CLEARED, NEXT_SET, ON_CONTACT, AgentStateName
from ..wire.facts import (
    LegFacts,
    StateFacts,
)
from .changes import (
    AcwLinked,
    AgentStatus,
    StatusAfterFinal,
    Transition,
)
from .core import SessionCore, _new
from .records import (
    AcwPeriod,
    LegRecord,
)
from .rules import RuleName

_CONTACT_STATES = frozenset(ON_CONTACT)
_STATE_UNAVAILABLE = AgentStateName.UNAVAILABLE.value
_AGENT_STATE_MACHINE = AGENT_STATE.name
_AGENT_TRIGGERS = AGENT_STATE.exact


class AgentHandlers(SessionCore):
    """AgentState and AgentLeg events (mixed into :class:`~session_fsm.engine.AgentSession`)."""

    __slots__ = ()

    # --- agent state --------------------------------------------------------------------

    def _on_agent_state(self, event: StateFacts, batch: Hashable | None,
                        digest: int | None) -> None:
        agent = self.agent
        if digest is not None and digest == agent.last_digest:
            self._violate(RuleName.DUPLICATE_EVENT, "the same AgentState event twice in a row",
                          change=False)
            return
        if event.start_time is not None and agent.since is not None \
                and event.start_time < agent.since and self._repeats_recent(digest):
            # an earlier state again, and older than the current one: delivered again (an
            # equal time is a real change back: next states set, then cleared)
            self._violate(RuleName.DUPLICATE_EVENT, "an AgentState applied before, delivered "
                          "again (older than the current state)", change=False)
            return
        trigger = _AGENT_TRIGGERS.get(event.current_state) or \
            AGENT_STATE.trigger_for(event.current_state)
        if len(event.next_states) > 2:
            self._violate(RuleName.TOO_MANY_NEXT_STATES, f"NextStates has {len(event.next_states)} "
                          "entries; the protocol has at most two (next, next-next)",
                          machine=AGENT_STATE.name, state=agent.state, trigger=trigger)
        dest = agent.state
        if trigger is None:
            self._violate(RuleName.UNKNOWN_STATUS, f"unknown agent state {event.current_state!r}",
                          machine=AGENT_STATE.name, state=agent.state)
        elif trigger != agent.state:
            found = AGENT_STATE.next_state(agent.state, trigger)
            if found is None:
                self._violate(RuleName.AGENT_STATE_TRANSITION, f"agent state {agent.state} -> "
                              f"{trigger} is not in the agent-state table",
                              machine=AGENT_STATE.name, state=agent.state, trigger=trigger)
            dest = found or trigger
        is_acw = bool(event.is_acw)
        if is_acw and dest != _STATE_UNAVAILABLE:
            self._violate(RuleName.ACW_OUTSIDE_UNAVAILABLE, f"IsAcw True with CurrentState "
                          f"{event.current_state!r}; ACW is an Unavailable state")
        agent.last_digest = digest
        # History keeps a string per step; the wire repeats a few spellings, each parsed
        # into a new string: interned, every step of one spelling shares one string.
        out_reason = intern(event.current_out_reason) if event.current_out_reason else ""
        state_changed = dest != agent.state
        start = event.start_time
        # the same state with a later StartTimeUTC ("when the agent's state began", seed):
        # it began again, the agent having left it and come back while the client was away
        # (a join's replay shows it). An equal time is the same stretch (next states set or
        # cleared); an earlier one, an old event.
        restarted = not state_changed and trigger is not None and start is not None \
            and agent.since is not None and start > agent.since
        ended: str | None = None
        if state_changed or restarted:
            self._check_contact_state_left()
            if state_changed:
                # _moved(), inlined on the hot path (as in _on_contact)
                self._out.append(_new(Transition, (self.key, self._index, _AGENT_STATE_MACHINE,
                                                   None, agent.state, dest, trigger or dest,
                                                   event.current_state, start, False)))
                agent.state = dest
            elif agent.acw is not None:  # no table row (the moves in between were not
                # seen); that ACW is over, and this one is linked anew
                ended, agent.acw = agent.acw.contact_id, None
            agent.entered_index = self._index
            agent.entered_source = self._source
            agent.contact_seen = dest not in _CONTACT_STATES or self._has_contact_for(dest)
        if not state_changed and event.next_states != agent.next_states:
            # a transition of its own, reflexive in the table: the state stays, the next
            # state is set or cleared
            change = NEXT_SET if event.next_states else NEXT_CLEARED
            if AGENT_STATE.next_state(agent.state, change) is not None:
                self._moved(AGENT_STATE.name, None, agent.state, agent.state, change,
                            event.current_state, start, False)
        agent.label = event.current_state or agent.label
        new_interval = state_changed or restarted or out_reason != agent.out_reason or \
            is_acw != agent.is_acw or agent.interval_index is None
        since = start if new_interval or agent.since is None else agent.since
        acw_contact = None
        if new_interval:
            acw_contact = self._new_interval(dest, out_reason, is_acw, since, event.acw_timeout,
                                             ended)
        agent.out_reason = out_reason
        agent.since = since
        agent.next_states = event.next_states
        agent.acw_timeout_s = event.acw_timeout
        if is_acw and dest == _STATE_UNAVAILABLE:
            if agent.acw is None:
                # the interval just opened knows which contact this ACW follows
                agent.acw = AcwPeriod(acw_contact, since,
                                      event.acw_timeout, _deadline(since, event.acw_timeout),
                                      self._index)
            else:
                agent.acw.timeout_s = event.acw_timeout
                agent.acw.deadline = _deadline(agent.acw.started, event.acw_timeout)
        else:
            agent.acw = None
        agent.is_acw = is_acw

    def _new_interval(self, state: str, out_reason: str, is_acw: bool,
                      since: datetime | None, acw_timeout: int | None,
                      ended: str | None = None) -> str | None:
        """A new stretch of the agent timeline begins: say so, and which contact its ACW
        belongs to (returned too) when that is known already; ``ended`` is the contact of
        an ACW that just ended (a restarted one's)."""
        agent = self.agent
        acw_contact = agent.acw.contact_id if is_acw and agent.acw else None
        if is_acw and acw_contact is None:
            previous = agent.interval_index
            acw_contact = self._acw_contact(previous if previous is not None else 0, ended)
        agent.interval_index = self._index
        deadline = _deadline(since, acw_timeout) if is_acw else None
        self._out.append(_new(AgentStatus, (self.key, self._index, state, out_reason, is_acw,
                                            since, acw_timeout, deadline)))
        if acw_contact is not None:
            self._out.append(AcwLinked(self.key, self._index, acw_contact, since, deadline))
        return acw_contact

    # --- agent leg ----------------------------------------------------------------------

    def _on_agent_leg(self, event: LegFacts, batch: Hashable | None, digest: int | None) -> None:
        leg = self.leg
        if leg is not None and digest is not None and digest == leg.last_digest:
            self._violate(RuleName.DUPLICATE_EVENT, "the same AgentLeg event twice in a row",
                          change=False)
            return
        leg_id = event.agent_leg_id
        new_leg = leg is None
        if leg is not None and leg_id != leg.leg_id:
            if not leg.final:
                self._violate(RuleName.LEG_ID_CHANGED, f"AgentLegId changed from {leg.leg_id} to "
                              f"{leg_id} while leg {leg.leg_id} was {leg.status}")
            new_leg = True
        elif leg is not None and leg.final:
            self._violate(RuleName.LEG_AFTER_FINAL, f"agent leg {leg_id} {event.status} after its "
                          "final Disconnected", machine=AGENT_LEG.name, state=leg.state,
                          trigger=event.status)
            leg.last_digest = digest
            self._out.append(StatusAfterFinal(self.key, self._index, AGENT_LEG.name, leg_id,
                                              event.status or "", None,
                                              bool(event.final_state), None))
            return
        state = AGENT_LEG.initial if new_leg or leg is None else leg.state
        trigger = AGENT_LEG.trigger_for(event.status)
        dest = state
        if trigger is None:
            self._violate(RuleName.UNKNOWN_STATUS, f"unknown agent leg status {event.status!r}",
                          machine=AGENT_LEG.name, state=state)
        elif trigger != state:
            found = AGENT_LEG.next_state(state, trigger)
            if found is None:
                self._violate(RuleName.LEG_TRANSITION, f"agent leg {leg_id}: {state} -> {trigger} "
                              "is not in the leg table (Dialing -> Active -> Disconnected)",
                              machine=AGENT_LEG.name, state=state, trigger=trigger)
            dest = found or trigger
        if event.final_state and AGENT_LEG.next_state(dest, CLOSE) is None:
            self._violate(RuleName.LEG_TRANSITION, f"agent leg {leg_id}: FinalState True on "
                          f"{event.status}; only Disconnected ends the leg",
                          machine=AGENT_LEG.name, state=dest, trigger=CLOSE)
        if new_leg:
            if leg is not None:
                self._own_list("past_legs").append(leg)
            leg = self.leg = LegRecord(leg_id, AGENT_LEG.initial)
        assert leg is not None
        leg.last_digest = digest
        leg.status = intern(event.status) if event.status else leg.status
        final = bool(event.final_state)
        if dest != leg.state:
            self._moved(AGENT_LEG.name, leg_id, leg.state, dest, trigger or dest, leg.status,
                        None, False)
        if final:
            self._moved(AGENT_LEG.name, leg_id, dest, LegStatus.CLOSED.value, CLOSE, leg.status,
                        None, True)
        leg.state = LegStatus.CLOSED if final else dest
        leg.final = final


def _deadline(start: datetime | None, timeout_s: int | None) -> datetime | None:
    if start is None or not timeout_s:
        return None
    try:
        return start + timedelta(seconds=timeout_s)
    except OverflowError:  # past the year 9999: a deadline no clock reaches
        return None

