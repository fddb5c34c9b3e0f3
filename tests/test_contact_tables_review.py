"""The five non-call contact tables reviewed row by row (issue 16, item 4).

The rule: a move is a ``contact-transition`` error only where the documentation makes it
impossible; a contact first seen in a middle status is the ``contact-joined-mid-lifecycle``
warning outside a join batch and nothing inside one; everything else the documentation
permits, or stream-facts says real streams do, is a table row. The passages quoted below
are from ``shared/seed/000_ca972a22fc664176.txt`` ("seed") and
``shared/docs/stream-facts.md`` ("stream-facts"). The seed documents the call's statuses
and says work items "are similar to CallContactEvent notices"; stream-facts lists the
statuses of work items, chats and voice mails; nothing documents a digital contact's.

The three orderings the documentation does impose (session_fsm/machines/contacts.py):

R1  seed, CallContactEvent FinalState: "if the agent is moved into an Unavailable/ACW
    state, the contact will still be "active" in the system, and the FinalState property
    ... will be "false". ... When the ACW state finally ends, the contact will be
    completely closed out, and the agent will receive a Disconnected status event with
    the FinalState property set to "true"."  After Disconnected only that close comes.
    stream-facts: "Voice mail: ... Discarded (terminal with FinalState)".
R2  seed, Call Contact Events: "you will receive an "Incoming" status when a call is first
    being routed to the agent ... You will receive an "Active" status when a call is
    finally connected to the agent leg", and ContactID: "this value will change each time
    the call is transferred - the receiving agent will have a different contact ID".
    A contact that was with the agent never goes back to an offer status.
R3  the same passage: "You will receive an "Active" status when a call is finally
    connected". Holding, Interrupted, Transfer and Joined presuppose a connected contact,
    so they follow an Active, never an offer status directly.

Every expected value below is worked out by hand from those passages.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import helpers as h
import pytest

from session_fsm.engine.rules import Severity
from session_fsm.errors import SequenceError
from session_fsm.machines.contacts import CHAT, DIGITAL, SUPERVISOR, VOICEMAIL, WORK_ITEM

Wire = dict[str, Any]


def t(minute: int, second: int = 0) -> datetime:
    """A time on 2013-09-11, the day of the documentation's examples (09:mm:ss)."""
    return h.utc(2013, 9, 11, 9, minute, second)


FACTORIES: dict[str, Callable[..., Wire]] = {
    "work_item": h.work_item,
    "chat": h.chat,
    "voicemail": h.voicemail,
    "digital": h.digital,
    "supervisor": h.supervisor_contact,
}
CONTACT = "1569819"  # the seed's work item example's ContactID


def lifecycle(media: str, statuses: list[str], *, final: bool = False) -> list[Wire]:
    """AgentSessionStart, then one event of ``media`` per status, a minute apart; with
    ``final`` the last one carries FinalState True."""
    make = FACTORIES[media]
    events = [h.session_start()]
    for n, status in enumerate(statuses):
        last = n == len(statuses) - 1
        events.append(make(CONTACT, status, at=t(n), start=t(0), final=final and last))
    return events


def rules_at(session: Any) -> list[tuple[str, str, int]]:
    return [(v.rule, v.severity.value, v.event_index) for v in session.violations]


# --- moves the tables now allow ---------------------------------------------------------------

ALLOWED = [
    # Each lifecycle: one status a minute from 09:00:00, the last one with FinalState True
    # when ``final``. By hand: time in a status is the minutes to the next step (repeats
    # add up); a contact closed at once (no agent ACW linked) has no ACW, and its handle
    # time runs from its first Active to the close.
    #
    # work items: "similar to CallContactEvent"; stream-facts lists Incoming, Active,
    # Holding, Disconnected, Transfer, Interrupted. No passage orders the statuses of a
    # work item in hand.
    pytest.param("work_item", ["Incoming", "Active", "Interrupted", "Holding", "Active",
                               "Disconnected"], True,
                 {"Incoming": 60.0, "Active": 120.0, "Interrupted": 60.0, "Holding": 60.0},
                 240.0, id="work_item: Interrupted -> Holding (parked while interrupted)"),
    pytest.param("work_item", ["Incoming", "Active", "Interrupted", "Transfer"], True,
                 {"Incoming": 60.0, "Active": 60.0, "Interrupted": 60.0}, 120.0,
                 id="work_item: Interrupted -> Transfer, closed on Transfer"),
    # chats: the seed's ChatContactEvent example carries "RefusalTimeout": "45" (an offer
    # can lapse) and stream-facts lists Waiting; nothing forbids the lapsed offer queuing
    # again before it is offered once more.
    pytest.param("chat", ["Waiting", "Incoming", "Waiting", "Incoming", "Active",
                          "Disconnected"], True,
                 {"Waiting": 120.0, "Incoming": 120.0, "Active": 60.0}, 60.0,
                 id="chat: Incoming -> Waiting (offer lapsed, queued again)"),
    # stream-facts lists Inviting and no passage says what it is: an invitation the agent
    # sends while chatting is one reading, so Active -> Inviting -> Active is allowed.
    pytest.param("chat", ["Incoming", "Active", "Inviting", "Active", "Disconnected"], True,
                 {"Incoming": 60.0, "Active": 120.0, "Inviting": 60.0}, 180.0,
                 id="chat: Active -> Inviting (the agent invites another agent)"),
    pytest.param("chat", ["Incoming", "Active", "Interrupted", "Holding", "Active",
                          "Disconnected"], True,
                 {"Incoming": 60.0, "Active": 120.0, "Interrupted": 60.0, "Holding": 60.0},
                 240.0, id="chat: Interrupted -> Holding"),
    # digital contacts: no passage documents their statuses at all
    pytest.param("digital", ["Incoming", "Active", "Interrupted", "Holding", "Active",
                             "Disconnected"], True,
                 {"Incoming": 60.0, "Active": 120.0, "Interrupted": 60.0, "Holding": 60.0},
                 240.0, id="digital: Interrupted -> Holding"),
]


@pytest.mark.parametrize(("media", "statuses", "final", "time_in_status", "handle"), ALLOWED)
def test_a_move_no_passage_forbids_is_no_violation(
        media: str, statuses: list[str], final: bool, time_in_status: dict[str, float],
        handle: float) -> None:
    replayed = h.replay_history(lifecycle(media, statuses, final=final), strict=True)
    assert replayed.session.violations == []
    contact, = replayed.history().contacts
    assert [s.status for s in contact.steps] == statuses
    assert contact.closed is final
    assert dict(contact.time_in_status_s) == time_in_status
    assert (contact.acw_s, contact.handle_time_s) == (None, handle)
    # closed: gone from the snapshot's open contacts
    assert replayed.session.snapshot().contacts == ()


def test_a_work_item_parked_while_interrupted_then_in_its_acw_phase() -> None:
    # the same work item as above, left in its ACW phase (Disconnected, FinalState False):
    # open, in ACW, its status the Disconnected (seed, FinalState: "the contact will still
    # be "active" in the system")
    statuses = ["Incoming", "Active", "Interrupted", "Holding", "Active", "Disconnected"]
    session = h.replay(lifecycle("work_item", statuses), strict=True)
    assert session.violations == []
    assert [(c.contact_id, c.status, c.in_acw, c.final)
            for c in session.snapshot().contacts] == [(CONTACT, "Disconnected", True, False)]


# --- contacts first seen in a middle status -----------------------------------------------------

# stream-facts: "When a client joins an existing session, the first batch replays the
# current state ... contacts can appear for the first time in a middle status (Active,
# Holding, Joined) with no Incoming." Any open status can be the current one.
JOIN_FIRST = [
    ("supervisor", "Disconnected"),  # the monitoring leg ended, not yet final
    ("work_item", "Interrupted"),
    ("work_item", "Transfer"),
    ("voicemail", "Discarded"),
    ("voicemail", "Disconnected"),
    ("digital", "Interrupted"),
    ("digital", "Disconnected"),
]


@pytest.mark.parametrize(("media", "status"), JOIN_FIRST,
                         ids=[f"{m}: first seen {s}" for m, s in JOIN_FIRST])
def test_a_contact_first_seen_mid_lifecycle_in_a_join_is_no_violation(
        media: str, status: str) -> None:
    make = FACTORIES[media]
    # the join's batch: the contact before the AgentSessionStart the SDK moves to the front
    session = h.replay([make(CONTACT, status, at=t(0)), h.session_start()],
                       batch_of=["join", "join"], strict=True)
    assert session.violations == []
    snap = session.snapshot()
    assert [(c.contact_id, c.status, c.in_acw) for c in snap.contacts] == [
        (CONTACT, status, status == "Disconnected")]


@pytest.mark.parametrize(("media", "status"), JOIN_FIRST,
                         ids=[f"{m}: first seen {s}" for m, s in JOIN_FIRST])
def test_the_same_outside_a_join_is_a_warning_not_an_error(media: str, status: str) -> None:
    make = FACTORIES[media]
    # event 0 the start in its own batch, event 1 the contact in the next: not the join
    session = h.replay([h.session_start(), make(CONTACT, status, at=t(0))], strict=True)
    assert rules_at(session) == [("contact-joined-mid-lifecycle", "warning", 1)]


def test_every_open_status_of_the_five_tables_may_start_a_lifecycle() -> None:
    # the structural form of JOIN_FIRST: a row from New into every open state
    for spec in (SUPERVISOR, WORK_ITEM, CHAT, VOICEMAIL, DIGITAL):
        open_states = set(spec.states) - {spec.initial, spec.closed_state}
        assert {s for s in open_states if spec.next_state(spec.initial, s) == s} \
            == open_states, spec.name


def test_a_discarded_voice_mail_closed_at_once_in_a_join() -> None:
    # stream-facts: "Discarded (terminal with FinalState)": the replay's first word on the
    # voice mail is its end; the contact opens and closes on that one event.
    replayed = h.replay_history(
        [h.voicemail(CONTACT, "Discarded", at=t(0), final=True), h.session_start()],
        batch_of=["join", "join"], strict=True)
    assert replayed.session.violations == []
    contact, = replayed.history().contacts
    assert [(s.status, s.final) for s in contact.steps] == [("Discarded", True)]
    assert replayed.session.snapshot().contacts == ()


# --- moves kept as errors ------------------------------------------------------------------------

KEPT = [
    # R1: after Disconnected only the close
    pytest.param("work_item", ["Incoming", "Active", "Disconnected", "Active"],
                 id="R1 work_item: Disconnected -> Active"),
    pytest.param("work_item", ["Incoming", "Active", "Disconnected", "Transfer"],
                 id="R1 work_item: Disconnected -> Transfer"),
    # a work item's Transfer hands it on: the receiving agent has "a different contact ID"
    # (R2), so only Disconnected or the close follow it here (a transfer request to a
    # closed skill is answered by HoursOfOperation before anything is transferred)
    pytest.param("work_item", ["Incoming", "Active", "Transfer", "Active"],
                 id="R1/R2 work_item: Transfer -> Active"),
    pytest.param("work_item", ["Incoming", "Active", "Transfer", "Holding"],
                 id="R1/R2 work_item: Transfer -> Holding"),
    pytest.param("work_item", ["Incoming", "Active", "Transfer", "Interrupted"],
                 id="R1/R2 work_item: Transfer -> Interrupted"),
    pytest.param("chat", ["Incoming", "Active", "Disconnected", "Active"],
                 id="R1 chat: Disconnected -> Active"),
    pytest.param("chat", ["Incoming", "Disconnected", "Waiting"],
                 id="R1 chat: Disconnected -> Waiting"),
    pytest.param("voicemail", ["Incoming", "Active", "Disconnected", "Discarded"],
                 id="R1 voicemail: Disconnected -> Discarded"),
    pytest.param("voicemail", ["Incoming", "Discarded", "Active"],
                 id="R1 voicemail: Discarded -> Active (Discarded is terminal)"),
    pytest.param("voicemail", ["Incoming", "Discarded", "Disconnected"],
                 id="R1 voicemail: Discarded -> Disconnected"),
    pytest.param("digital", ["Incoming", "Active", "Disconnected", "Holding"],
                 id="R1 digital: Disconnected -> Holding"),
    pytest.param("supervisor", ["Active", "Disconnected", "Active"],
                 id="R1 supervisor: Disconnected -> Active"),
    # R2: no way back to an offer once the contact was with the agent
    pytest.param("work_item", ["Incoming", "Active", "Incoming"],
                 id="R2 work_item: Active -> Incoming"),
    pytest.param("work_item", ["Incoming", "Active", "Transfer", "Incoming"],
                 id="R2 work_item: Transfer -> Incoming"),
    pytest.param("chat", ["Incoming", "Active", "Waiting"],
                 id="R2 chat: Active -> Waiting"),
    pytest.param("chat", ["Incoming", "Active", "Holding", "Incoming"],
                 id="R2 chat: Holding -> Incoming"),
    # Inviting is entered from Active: leaving it for an offer would be Active -> offer
    pytest.param("chat", ["Incoming", "Active", "Inviting", "Incoming"],
                 id="R2 chat: Inviting -> Incoming"),
    # a judgment call, not a passage: read as the chat's entry row reads it (the agent's
    # own invitation), Inviting is an offer status and R3 keeps Holding after an Active
    pytest.param("chat", ["Incoming", "Active", "Inviting", "Holding"],
                 id="R3 (Inviting read as an offer) chat: Inviting -> Holding"),
    pytest.param("voicemail", ["Incoming", "Active", "Incoming"],
                 id="R2 voicemail: Active -> Incoming"),
    pytest.param("digital", ["Incoming", "Active", "Holding", "Incoming"],
                 id="R2 digital: Holding -> Incoming"),
    pytest.param("supervisor", ["Dialing", "Active", "Dialing"],
                 id="R2 supervisor: Active -> Dialing"),
    pytest.param("supervisor", ["Incoming", "Active", "Joined", "Incoming"],
                 id="R2 supervisor: Joined -> Incoming"),
    # R3: Holding, Interrupted, Transfer, Joined follow an Active
    pytest.param("work_item", ["Incoming", "Holding"], id="R3 work_item: Incoming -> Holding"),
    pytest.param("work_item", ["Incoming", "Interrupted"],
                 id="R3 work_item: Incoming -> Interrupted"),
    pytest.param("work_item", ["Incoming", "Transfer"], id="R3 work_item: Incoming -> Transfer"),
    pytest.param("chat", ["Waiting", "Holding"], id="R3 chat: Waiting -> Holding"),
    pytest.param("chat", ["Incoming", "Interrupted"], id="R3 chat: Incoming -> Interrupted"),
    pytest.param("voicemail", ["Incoming", "Holding"], id="R3 voicemail: Incoming -> Holding"),
    pytest.param("digital", ["Incoming", "Interrupted"],
                 id="R3 digital: Incoming -> Interrupted"),
    pytest.param("supervisor", ["Incoming", "Joined"], id="R3 supervisor: Incoming -> Joined"),
    # seed, Call Contact Events: calls "either routed to the agent (inbound, or
    # dialer-generated outbound), or placed by the agent (manual outbound)": a routed leg
    # (Incoming) is never a placed one (Dialing), nor the other way round
    pytest.param("supervisor", ["Incoming", "Dialing"],
                 id="routed or placed: supervisor Incoming -> Dialing"),
    pytest.param("supervisor", ["Dialing", "Incoming"],
                 id="routed or placed: supervisor Dialing -> Incoming"),
]


@pytest.mark.parametrize(("media", "statuses"), KEPT)
def test_a_move_the_documentation_makes_impossible_stays_an_error(
        media: str, statuses: list[str]) -> None:
    events = lifecycle(media, statuses)
    last = len(events) - 1
    session = h.replay(events)
    assert rules_at(session) == [("contact-transition", "error", last)]
    # reported, then applied as the platform said it (the lenient engine follows the wire)
    record = session.contacts[CONTACT]
    assert (record.state, record.status) == (statuses[-1], statuses[-1])
    # and strict mode refuses it before anything moves
    strict = h.replay(events[:-1], strict=True)
    with pytest.raises(SequenceError) as raised:
        strict.feed(events[-1], batch=last)
    assert (raised.value.rule, raised.value.state, raised.value.trigger,
            raised.value.event_index) == ("contact-transition", statuses[-2], statuses[-1], last)


@pytest.mark.parametrize(("media", "status"), [
    ("work_item", "Active"), ("chat", "Holding"), ("voicemail", "Active"),
    ("digital", "Interrupted"), ("supervisor", "Joined"),
])
def test_final_state_on_a_connected_status_stays_an_error(media: str, status: str) -> None:
    # seed, FinalState: the contact is closed out with "a Disconnected status event with
    # the FinalState property set to "true"" (voice mail: Discarded, stream-facts; a work
    # item's Transfer closes it too, as the tables had it)
    connected = ["Active"] if media == "supervisor" else ["Incoming", "Active"]
    events = [*lifecycle(media, connected),
              FACTORIES[media](CONTACT, status, at=t(5), start=t(0), final=True)]
    session = h.replay(events)
    assert [(r, s) for r, s, _ in rules_at(session)] == [("final-on-open-status", "error")]
    assert all(i == len(events) - 1 for _, _, i in rules_at(session))
    assert all(v.severity is Severity.ERROR for v in session.violations)
