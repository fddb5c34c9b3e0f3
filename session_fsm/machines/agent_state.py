"""The agent-state machine: where the agent is, as the platform's AgentState events say.

Out reasons, IsAcw, AcwTimeout and NextStates are data on the agent record, not states:
unavailable codes are tenant configuration, and ACW is an Unavailable state with IsAcw.
The platform drives this machine, so an edge missing from the table is a *warning*
(``agent-state-transition``): real tenants do surprising things, and the engine still
follows the event. Triggers are named after the state they lead to.
"""

from __future__ import annotations

from enum import StrEnum

from . import ANY, SAME, MachineSpec, rules


class AgentStateName(StrEnum):
    UNKNOWN = "Unknown"  #: no AgentState seen yet (a join replays whatever the state is)
    LOGGED_OUT = "LoggedOut"  #: not logged in
    LOGGED_IN = "LoggedIn"  #: logged in, not yet Available or Unavailable
    AVAILABLE = "Available"  #: ready for a routed contact
    UNAVAILABLE = "Unavailable"  #: not routable; an out reason or ACW (IsAcw) says why
    INBOUND_CONTACT = "InboundContact"  #: handling an inbound contact
    OUTBOUND_CONTACT = "OutboundContact"  #: on an outbound call (manual or dialer)
    INBOUND_CONSULT = "InboundConsult"  #: on a consult another agent placed to them
    OUTBOUND_CONSULT = "OutboundConsult"  #: consulting another party during a contact
    DIALER = "Dialer"  #: logged into a Personal Connection campaign, calls being placed
    DIALER_PENDING = "DialerPending"  #: waiting for the dialer (seen in the field)
    REFUSED = "Refused"  #: a routed contact was refused or timed out (reported in the field)


S = AgentStateName
REAL_STATES = tuple(s for s in S if s is not S.UNKNOWN)
ON_CONTACT = (S.INBOUND_CONTACT, S.OUTBOUND_CONTACT, S.INBOUND_CONSULT, S.OUTBOUND_CONSULT)
NEXT_SET = "next_set"
NEXT_CLEARED = "next_cleared"

AGENT_STATE = MachineSpec(
    "agent_state",
    AgentStateName,
    S.UNKNOWN,
    rules(
        *((s, S.UNKNOWN, s, "the first AgentState (or a join's replay) sets whatever state the agent is in") for s in REAL_STATES),
        (S.LOGGED_OUT, ANY, S.LOGGED_OUT, "a logout ends any state"),
        (S.LOGGED_IN, S.LOGGED_OUT, S.LOGGED_IN, "a login"),
        (S.AVAILABLE, (S.LOGGED_OUT, S.LOGGED_IN), S.AVAILABLE, "a login straight into Available"),
        (S.UNAVAILABLE, (S.LOGGED_OUT, S.LOGGED_IN), S.UNAVAILABLE, "a login into Unavailable (the usual start)"),
        (S.UNAVAILABLE, (S.AVAILABLE, S.REFUSED), S.UNAVAILABLE, "the agent (or a refusal) made them unavailable"),
        (S.AVAILABLE, (S.UNAVAILABLE, S.REFUSED), S.AVAILABLE, "the agent became available (or ACW ended into Available)"),
        (S.INBOUND_CONTACT, S.AVAILABLE, S.INBOUND_CONTACT, "an inbound contact was routed to an available agent"),
        (S.OUTBOUND_CONTACT, (S.AVAILABLE, S.UNAVAILABLE), S.OUTBOUND_CONTACT, "a manual outbound call, allowed from either"),
        (S.REFUSED, (S.AVAILABLE, S.INBOUND_CONTACT), S.REFUSED, "a routed contact was refused or not answered in time (also one offered on top of a contact in hand: concurrent chats and work items)"),
        (S.INBOUND_CONTACT, S.REFUSED, S.INBOUND_CONTACT, "back to the contact still in hand after refusing another"),
        (S.UNAVAILABLE, ON_CONTACT, S.UNAVAILABLE, "the contact ended into ACW or an unavailable next state"),
        (S.AVAILABLE, ON_CONTACT, S.AVAILABLE, "the contact ended with no ACW into Available"),
        (S.INBOUND_CONSULT, (S.AVAILABLE, S.INBOUND_CONTACT, S.OUTBOUND_CONTACT), S.INBOUND_CONSULT, "another agent consults this one"),
        (S.OUTBOUND_CONSULT, (S.INBOUND_CONTACT, S.OUTBOUND_CONTACT, S.UNAVAILABLE, S.AVAILABLE), S.OUTBOUND_CONSULT, "the agent places a consult"),
        (S.INBOUND_CONTACT, (S.INBOUND_CONSULT, S.OUTBOUND_CONSULT), S.INBOUND_CONTACT, "back to the inbound contact after a consult"),
        (S.OUTBOUND_CONTACT, (S.INBOUND_CONSULT, S.OUTBOUND_CONSULT, S.DIALER, S.DIALER_PENDING), S.OUTBOUND_CONTACT, "back to the outbound call, or a dialer call connected"),
        (S.DIALER, (S.AVAILABLE, S.UNAVAILABLE, S.LOGGED_IN, S.DIALER_PENDING, S.OUTBOUND_CONTACT), S.DIALER, "into (or back to) the Personal Connection campaign"),
        (S.DIALER_PENDING, (S.AVAILABLE, S.UNAVAILABLE, S.LOGGED_IN, S.DIALER), S.DIALER_PENDING, "waiting for the dialer to place calls"),
        (S.AVAILABLE, (S.DIALER, S.DIALER_PENDING), S.AVAILABLE, "out of the campaign into Available"),
        (S.UNAVAILABLE, (S.DIALER, S.DIALER_PENDING), S.UNAVAILABLE, "out of the campaign into Unavailable"),
        (NEXT_SET, ANY, SAME, "a state change requested during a contact sets the next (or next-next) state"),
        (NEXT_CLEARED, ANY, SAME, "the pending next state was cleared"),
    ),
)
