"""Contact histories and agent timelines, on realistic sequences, with hand-worked numbers.

Every expected duration below was worked out by hand from the timestamps written in the
events (server time), e.g. Active at 05:01:05 and Disconnected at 05:06:17 is 5 min 12 s
= 312.0 s. Nothing is recomputed with the code under test.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from helpers import (
    Replayed,
    agent_state,
    call,
    chat,
    chat_text,
    replay_history,
    run,
    session_end,
    session_start,
    utc,
    work_item,
)

from session_fsm.views.history import (
    ContactFilter,
    ContactHistory,
    SessionHistory,
    StateFilter,
    to_json,
)


def t(hour: int, minute: int, second: int, millisecond: int = 0) -> datetime:
    """A time on 2013-09-11, the day of the documentation's examples."""
    return utc(2013, 9, 11, hour, minute, second, millisecond)


def steps(contact: ContactHistory) -> list[tuple[str, datetime | None, bool, int]]:
    return [(s.status, s.at, s.final, s.event_index) for s in contact.steps]


def durations(contact: ContactHistory) -> list[float | None]:
    return [s.duration_s for s in contact.steps]


def states(history: SessionHistory) -> list[tuple[str, str, bool, float | None, str | None]]:
    return [(i.state, i.out_reason, i.is_acw, i.duration_s, i.acw_contact_id)
            for i in history.agent_states]


def only(history: SessionHistory) -> ContactHistory:
    (contact,) = history.contacts
    return contact


# --- sequences ---------------------------------------------------------------------------


def two_step_acw_call() -> list[dict[str, Any]]:
    """An inbound call put on hold once, then the documented two-step ACW."""
    c = "1569815"
    return [
        session_start(),                                                          # 0
        agent_state("Available", at=t(5, 0, 0)),                                  # 1
        call(c, "Incoming", at=t(5, 0, 40)),                                      # 2
        agent_state("InboundContact", at=t(5, 0, 41),
                    next_states=["Unavailable", "Available"]),                    # 3
        call(c, "Active", at=t(5, 1, 5), start=t(5, 0, 40)),                      # 4
        call(c, "Holding", at=t(5, 3, 0), start=t(5, 0, 40)),                     # 5
        call(c, "Active", at=t(5, 3, 40), start=t(5, 0, 40)),                     # 6
        call(c, "Disconnected", at=t(5, 6, 17), start=t(5, 0, 40)),               # 7
        agent_state("Unavailable", at=t(5, 6, 17), acw=True, acw_timeout=30,
                    next_states=["Available"]),                                   # 8
        call(c, "Disconnected", at=t(5, 6, 42), final=True, start=t(5, 0, 40)),   # 9
        agent_state("Available", at=t(5, 6, 42)),                                 # 10
    ]


def direct_final_call(*, agent_first: bool) -> list[dict[str, Any]]:
    """FinalState True at once; the ACW is the agent's only (either order of the two)."""
    c = "1569816"
    final = call(c, "Disconnected", at=t(5, 6, 17), final=True, start=t(5, 0, 40))
    acw = agent_state("Unavailable", at=t(5, 6, 17), acw=True, acw_timeout=30,
                      next_states=["Available"])
    return [
        session_start(),
        agent_state("Available", at=t(5, 0, 0)),
        call(c, "Incoming", at=t(5, 0, 40)),
        agent_state("InboundContact", at=t(5, 0, 41), next_states=["Unavailable"]),
        call(c, "Active", at=t(5, 1, 5), start=t(5, 0, 40)),
        *([acw, final] if agent_first else [final, acw]),
        agent_state("Available", at=t(5, 6, 42)),
    ]


# --- contacts ----------------------------------------------------------------------------


def test_inbound_call_with_hold_and_two_step_acw() -> None:
    history = replay_history(two_step_acw_call()).history()
    contact = only(history)
    assert contact.contact_id == "1569815"
    assert contact.media == "call"
    assert contact.closed is True
    assert steps(contact) == [
        ("Incoming", t(5, 0, 40), False, 2),
        ("Active", t(5, 1, 5), False, 4),
        ("Holding", t(5, 3, 0), False, 5),
        ("Active", t(5, 3, 40), False, 6),
        ("Disconnected", t(5, 6, 17), False, 7),
        ("Disconnected", t(5, 6, 42), True, 9),
    ]
    # 05:00:40-05:01:05, 05:01:05-05:03:00, 05:03:00-05:03:40, 05:03:40-05:06:17, ACW
    assert durations(contact) == [25.0, 115.0, 40.0, 157.0, 25.0, None]
    assert contact.time_in_status_s == {"Incoming": 25.0, "Active": 272.0, "Holding": 40.0,
                                        "Disconnected": 25.0}
    assert contact.acw_s == 25.0  # 05:06:17 (Disconnected, not final) -> 05:06:42 (final)
    assert contact.handle_time_s == 337.0  # 05:01:05 -> 05:06:42
    assert contact.ring_s == 25.0
    assert contact.hold_s == 40.0
    assert contact.skill == "1507"
    assert contact.disconnect_code == "NA"
    assert contact.status == "Disconnected"
    assert contact.started == t(5, 0, 40)
    assert contact.ended == t(5, 6, 42)


def test_the_agent_timeline_of_that_call() -> None:
    history = replay_history(two_step_acw_call()).history()
    assert states(history) == [
        ("Available", "", False, 41.0, None),           # 05:00:00 -> 05:00:41
        ("InboundContact", "", False, 336.0, None),     # 05:00:41 -> 05:06:17
        ("Unavailable", "", True, 25.0, "1569815"),     # 05:06:17 -> 05:06:42, its ACW
        ("Available", "", False, None, None),           # still going on
    ]
    assert [(i.start, i.end) for i in history.agent_states] == [
        (t(5, 0, 0), t(5, 0, 41)), (t(5, 0, 41), t(5, 6, 17)), (t(5, 6, 17), t(5, 6, 42)),
        (t(5, 6, 42), None),
    ]
    assert history.time_in_state_s == {"Available": 41.0, "InboundContact": 336.0,
                                       "Unavailable": 25.0}
    assert history.acw_time_s == 25.0


def test_direct_final_state_takes_its_acw_from_the_agent_either_order() -> None:
    for agent_first, final_index in ((False, 5), (True, 6)):
        contact = only(replay_history(direct_final_call(agent_first=agent_first)).history())
        assert steps(contact) == [
            ("Incoming", t(5, 0, 40), False, 2),
            ("Active", t(5, 1, 5), False, 4),
            ("Disconnected", t(5, 6, 17), True, final_index),
        ], agent_first
        assert contact.time_in_status_s == {"Incoming": 25.0, "Active": 312.0}
        assert contact.acw_s == 25.0  # the agent's ACW 05:06:17 -> 05:06:42
        assert contact.handle_time_s == 337.0  # 312 talking + 25 ACW
        assert contact.ring_s == 25.0


def repeated_timestamp_call(*, agent_first: bool) -> list[dict[str, Any]]:
    """The two-step ACW path whose closing event keeps the Disconnected's own
    LastStateChangeTimeUTC (the status did not change; ``simulate`` writes exactly this)."""
    c = "1569817"
    hangup = call(c, "Disconnected", at=t(5, 6, 17), start=t(5, 0, 40))
    acw = agent_state("Unavailable", at=t(5, 6, 17), acw=True, acw_timeout=60)
    return [
        session_start(),
        agent_state("Available", at=t(5, 0, 0)),
        call(c, "Incoming", at=t(5, 0, 40)),
        agent_state("InboundContact", at=t(5, 0, 41)),
        call(c, "Active", at=t(5, 1, 5), start=t(5, 0, 40)),
        *([acw, hangup] if agent_first else [hangup, acw]),
        call(c, "Disconnected", at=t(5, 6, 17), final=True, start=t(5, 0, 40)),  # repeated
        agent_state("Available", at=t(5, 6, 47)),
    ]


def test_a_close_that_repeats_the_disconnected_time_takes_the_agents_acw() -> None:
    for agent_first in (False, True):
        history = replay_history(repeated_timestamp_call(agent_first=agent_first)).history()
        contact = only(history)
        # the agent's ACW interval, 05:06:17 -> 05:06:47, is the contact's ACW
        assert states(history)[2] == ("Unavailable", "", True, 30.0, "1569817"), agent_first
        assert contact.acw_s == 30.0, agent_first
        assert contact.handle_time_s == 342.0  # 05:01:05 -> 05:06:17 talking (312) + 30 ACW
        # the steps stay what the wire said: the Disconnected lasted 0 s by its own times
        assert contact.time_in_status_s == {"Incoming": 25.0, "Active": 312.0,
                                            "Disconnected": 0.0}


def test_while_the_agents_acw_lasts_the_contacts_acw_is_not_yet_known() -> None:
    events = repeated_timestamp_call(agent_first=False)[:-1]  # still in ACW
    contact = only(replay_history(events).history())
    assert (contact.closed, contact.acw_s, contact.handle_time_s) == (True, None, None)
    live = only(replay_history(events).history(now=t(5, 6, 37)))  # 20 s into it
    assert (live.acw_s, live.handle_time_s) == (20.0, 332.0)


def test_an_acw_is_linked_to_its_own_contact_not_to_an_older_one() -> None:
    # The second call's ACW state arrives before its FinalState: it must not be
    # credited to the first call, whose voice ended long before.
    events = [
        *direct_final_call(agent_first=False),
        call("1569900", "Incoming", at=t(5, 10, 0)),
        agent_state("InboundContact", at=t(5, 10, 1)),
        call("1569900", "Active", at=t(5, 10, 5), start=t(5, 10, 0)),
        agent_state("Unavailable", at=t(5, 12, 0), acw=True),
        call("1569900", "Disconnected", at=t(5, 12, 0), final=True, start=t(5, 10, 0)),
        agent_state("Available", at=t(5, 12, 30)),
    ]
    history = replay_history(events).history()
    first, second = history.contacts
    assert (first.contact_id, first.acw_s, first.handle_time_s) == ("1569816", 25.0, 337.0)
    # 05:10:05 -> 05:12:00 is 115 s talking, ACW 05:12:00 -> 05:12:30 is 30 s
    assert (second.contact_id, second.acw_s, second.handle_time_s) == ("1569900", 30.0, 145.0)
    assert [i.acw_contact_id for i in history.agent_states if i.is_acw] == ["1569816",
                                                                            "1569900"]


def test_abandoned_call() -> None:
    events = [
        session_start(),
        agent_state("Available", at=t(5, 20, 0)),
        call("1569817", "Incoming", at=t(5, 20, 3)),
        call("1569817", "Disconnected", at=t(5, 20, 21), final=True, disconnect="CallAbandoned",
             start=t(5, 20, 3)),
    ]
    contact = only(replay_history(events).history())
    assert steps(contact) == [("Incoming", t(5, 20, 3), False, 2),
                              ("Disconnected", t(5, 20, 21), True, 3)]
    assert contact.time_in_status_s == {"Incoming": 18.0}
    assert contact.ring_s == 18.0  # never answered: rang until the caller hung up
    assert contact.acw_s is None
    assert contact.handle_time_s is None  # never Active: nothing was handled
    assert contact.hold_s == 0.0
    assert contact.disconnect_code == "CallAbandoned"
    assert contact.steps[-1].disconnect_code == "CallAbandoned"


def chat_events() -> list[dict[str, Any]]:
    c, room = "1569822", "2"
    first = [("Client", "asdf", t(5, 30, 40, 750))]
    return [
        session_start(),                                                            # 0
        agent_state("Available", at=t(5, 30, 0)),                                   # 1
        chat(c, "Incoming", at=t(5, 30, 39), room=room, messages=first),            # 2
        agent_state("InboundContact", at=t(5, 30, 40)),                             # 3
        chat(c, "Active", at=t(5, 30, 50), room=room, messages=first,
             start=t(5, 30, 39)),                                                   # 4
        chat_text(room, "Agent", "Test", at=t(5, 32, 10)),                          # 5
        chat_text(room, "Client", "Test Test Test", at=t(5, 32, 36)),               # 6
        chat_text(room, "System", "$Localized:ChatSessionEnded", at=t(5, 33, 9)),   # 7
        chat(c, "Disconnected", at=t(5, 33, 10), room=room, final=True, messages=first,
             start=t(5, 30, 39)),                                                   # 8
        agent_state("Available", at=t(5, 33, 10)),                                  # 9
    ]


def test_chat_with_its_transcript() -> None:
    contact = only(replay_history(chat_events()).history())
    assert contact.media == "chat"
    assert steps(contact) == [("Incoming", t(5, 30, 39), False, 2),
                              ("Active", t(5, 30, 50), False, 4),
                              ("Disconnected", t(5, 33, 10), True, 8)]
    assert contact.time_in_status_s == {"Incoming": 11.0, "Active": 140.0}
    assert contact.ring_s == 11.0
    assert contact.handle_time_s == 140.0  # 05:30:50 -> 05:33:10
    assert contact.acw_s is None
    assert [(line.party, line.text, line.at) for line in contact.transcript] == [
        ("Client", "asdf", t(5, 30, 40, 750)),  # repeated in every Messages: kept once
        ("Agent", "Test", t(5, 32, 10)),
        ("Client", "Test Test Test", t(5, 32, 36)),
        ("System", "$Localized:ChatSessionEnded", t(5, 33, 9)),
    ]
    assert to_json(replay_history(chat_events()).history())["contacts"][0]["transcript"][0] == {
        "party": "Client", "text": "asdf", "at": "2013-09-11T05:30:40.750Z"}


def test_work_item_keeps_its_payload() -> None:
    events = [
        session_start(),
        work_item("1569819", "Incoming", at=t(5, 15, 44)),
        work_item("1569819", "Active", at=t(5, 16, 0), start=t(5, 15, 44)),
        work_item("1569819", "Disconnected", at=t(5, 20, 0), final=True, start=t(5, 15, 44)),
    ]
    contact = only(replay_history(events).history())
    assert contact.media == "work_item"
    assert contact.skill == "1528"
    assert contact.time_in_status_s == {"Incoming": 16.0, "Active": 240.0}
    assert contact.payload == {
        "work_item_id": "3920", "work_item_type": "Testing",
        "payload": "{\"queries\":[{\"query\":\"SELECT ID FROM case WHERE Priority='Low'\"}]}",
    }


def test_agent_unavailable_with_out_reasons() -> None:
    events = [
        session_start(),
        agent_state("Available", at=t(5, 0, 0)),
        agent_state("Unavailable", at=t(5, 40, 0), out_reason="Lunch", next_states=["Available"]),
        agent_state("Available", at=t(6, 10, 0)),
        agent_state("Unavailable", at=t(6, 50, 0), out_reason="Break"),
        agent_state("Available", at=t(7, 5, 0)),
        agent_state("Unavailable", at=t(7, 30, 0), out_reason="Lunch"),
        agent_state("Available", at=t(7, 40, 0)),
    ]
    history = replay_history(events).history()
    assert states(history) == [
        ("Available", "", False, 2400.0, None),      # 05:00 -> 05:40
        ("Unavailable", "Lunch", False, 1800.0, None),  # 05:40 -> 06:10
        ("Available", "", False, 2400.0, None),      # 06:10 -> 06:50
        ("Unavailable", "Break", False, 900.0, None),   # 06:50 -> 07:05
        ("Available", "", False, 1500.0, None),      # 07:05 -> 07:30
        ("Unavailable", "Lunch", False, 600.0, None),   # 07:30 -> 07:40
        ("Available", "", False, None, None),
    ]
    assert history.time_in_state_s == {"Available": 6300.0, "Unavailable": 3300.0}
    assert history.time_by_out_reason_s == {"Lunch": 2400.0, "Break": 900.0}
    assert history.acw_time_s == 0.0
    assert [i.start for i in history.find_states(out_reason="lunch")] == [t(5, 40, 0),
                                                                          t(7, 30, 0)]
    later = history.find_states(StateFilter(state="Unavailable", since=t(7, 0, 0),
                                            until=t(8, 0, 0)))
    assert [i.out_reason for i in later] == ["Break", "Lunch"]  # Break runs until 07:05


def test_live_figures_use_now_plus_the_clock_skew() -> None:
    session = replay_history(two_step_acw_call()[:6])  # on hold since 05:03:00, server time
    assert only(session.history()).steps[-1].duration_s is None  # no end without a now
    # the client's clock reads 05:03:30 and is 2.5 s ahead of the server's
    history = session.history(now=t(5, 3, 30), skew_s=-2.5)
    contact = only(history)
    assert durations(contact) == [25.0, 115.0, 27.5]
    assert contact.time_in_status_s == {"Incoming": 25.0, "Active": 115.0, "Holding": 27.5}
    assert contact.hold_s == 27.5
    assert contact.handle_time_s == 142.5  # 05:01:05 -> 05:03:27.5
    assert contact.acw_s is None
    assert contact.closed is False
    # the agent has been InboundContact since 05:00:41
    assert history.agent_states[-1].duration_s == 166.5
    assert history.agent_states[-1].end is None


def test_live_acw_of_an_open_contact() -> None:
    session = replay_history(two_step_acw_call()[:9])  # in ACW since 05:06:17
    contact = only(session.history(now=t(5, 6, 27)))
    assert contact.acw_s == 10.0
    assert contact.handle_time_s == 322.0  # 05:01:05 -> 05:06:27
    assert only(session.history()).acw_s is None


def test_now_does_not_apply_to_an_ended_session() -> None:
    session = replay_history([*two_step_acw_call(), session_end()])
    history = session.history(now=t(9, 0, 0))
    assert history.agent_states[-1].duration_s is None


def test_a_status_after_the_final_one_is_no_step() -> None:
    events = [
        session_start(),
        call("1569817", "Incoming", at=t(5, 20, 3)),
        call("1569817", "Disconnected", at=t(5, 20, 21), final=True, start=t(5, 20, 3)),
        call("1569817", "Active", at=t(5, 20, 30), start=t(5, 20, 3)),  # contact-after-final
    ]
    session = replay_history(events)
    contact = only(session.history())
    # the history ends at the close: the violation reports what came after it
    assert [(s.status, s.duration_s) for s in contact.steps] == [
        ("Incoming", 18.0), ("Disconnected", None)]
    assert contact.time_in_status_s == {"Incoming": 18.0}
    assert contact.handle_time_s is None
    assert [v.rule for v in session.session.violations] == ["contact-after-final"]


def test_time_running_backwards_is_unknown_not_negative() -> None:
    events = [
        session_start(),
        call("1", "Incoming", at=t(5, 0, 40)),
        call("1", "Active", at=t(5, 1, 5), start=t(5, 0, 40)),
        call("1", "Holding", at=t(5, 1, 0), start=t(5, 0, 40)),  # 5 s before Active
        call("1", "Active", at=t(5, 1, 30), start=t(5, 0, 40)),
    ]
    contact = only(replay_history(events).history())
    assert durations(contact) == [25.0, None, 30.0, None]
    assert contact.time_in_status_s == {"Incoming": 25.0, "Holding": 30.0}


def test_statuses_are_grouped_by_the_tables_spelling() -> None:
    events = [
        session_start(),
        call("1", "Incoming", at=t(5, 0, 40)),
        call("1", "Active", at=t(5, 1, 0), start=t(5, 0, 40)),
        call("1", "Holding", at=t(5, 2, 0), start=t(5, 0, 40)),
        call("1", "active", at=t(5, 2, 30), start=t(5, 0, 40)),
        call("1", "Disconnected", at=t(5, 3, 0), final=True, start=t(5, 0, 40)),
    ]
    contact = only(replay_history(events).history())
    assert [s.status for s in contact.steps] == ["Incoming", "Active", "Holding", "active",
                                                 "Disconnected"]
    assert contact.time_in_status_s == {"Incoming": 20.0, "Active": 90.0, "Holding": 30.0}


def test_a_contact_first_seen_mid_lifecycle_has_no_ring_time() -> None:
    # a join: the replay batch shows the call already Active (no Incoming was seen)
    session = Replayed("s")
    session.feed(call("7", "Active", at=t(5, 1, 5), start=t(5, 0, 40)), batch="join")
    session.feed(session_start(), batch="join")
    session.feed(call("7", "Disconnected", at=t(5, 2, 5), final=True, start=t(5, 0, 40)),
                 batch=1)
    contact = only(session.history())
    assert contact.ring_s is None
    assert contact.handle_time_s == 60.0
    assert contact.time_in_status_s == {"Active": 60.0}


# --- queries and JSON --------------------------------------------------------------------


def day() -> list[dict[str, Any]]:
    """One agent's morning: a call, a work item, an abandoned call, a chat, an open call."""
    return [
        *two_step_acw_call(),
        work_item("1569819", "Incoming", at=t(5, 15, 44)),
        work_item("1569819", "Active", at=t(5, 16, 0), start=t(5, 15, 44)),
        work_item("1569819", "Disconnected", at=t(5, 20, 0), final=True, start=t(5, 15, 44)),
        call("1569817", "Incoming", at=t(5, 20, 3)),
        call("1569817", "Disconnected", at=t(5, 20, 21), final=True, disconnect="CallAbandoned",
             start=t(5, 20, 3)),
        *chat_events()[2:],
        call("1569830", "Incoming", at=t(5, 40, 0), skill="1600"),
        agent_state("InboundContact", at=t(5, 40, 1)),
        call("1569830", "Active", at=t(5, 40, 5), skill="1600", start=t(5, 40, 0)),
    ]


def ids(found: tuple[ContactHistory, ...]) -> list[str]:
    return [c.contact_id for c in found]


def test_queries_over_contacts() -> None:
    history = replay_history(day()).history()
    assert ids(history.contacts) == ["1569815", "1569819", "1569817", "1569822", "1569830"]
    assert history.contact("1569822") is not None
    assert history.contact("1569822").media == "chat"  # type: ignore[union-attr]
    assert history.contact("nope") is None
    assert ids(history.find_contacts(media="chat")) == ["1569822"]
    assert ids(history.find_contacts(media="call", skill="1507")) == ["1569815", "1569817"]
    assert ids(history.find_contacts(skill="1600")) == ["1569830"]
    assert ids(history.find_contacts(disconnect_code="callabandoned")) == ["1569817"]
    assert ids(history.find_contacts(status="Active")) == ["1569830"]
    assert ids(history.find_contacts(closed=False)) == ["1569830"]
    assert ids(history.find_contacts(closed=True, status="disconnected")) == [
        "1569815", "1569819", "1569817", "1569822"]
    # going on at some point in [05:18, 05:31): the work item (until 05:20:00), the
    # abandoned call (05:20:03-05:20:21) and the chat (from 05:30:39)
    assert ids(history.find_contacts(ContactFilter(since=t(5, 18, 0), until=t(5, 31, 0)))) == [
        "1569819", "1569817", "1569822"]
    # the open call is still going on, however late the range
    assert ids(history.find_contacts(since=t(9, 0, 0))) == ["1569830"]
    assert ids(history.find_contacts(until=t(5, 0, 40))) == []


def test_json_has_exactly_the_contract_keys() -> None:
    document = to_json(replay_history(day()).history())
    assert set(document) == {"key", "contacts", "agent_states"}
    for contact in document["contacts"]:
        assert set(contact) == {"contact_id", "media", "closed", "steps", "time_in_status_s",
                                "acw_s", "handle_time_s", "disconnect_code", "transcript"}
        for step in contact["steps"]:
            assert set(step) == {"status", "at", "final", "event_index"}
    for interval in document["agent_states"]:
        assert set(interval) == {"state", "out_reason", "is_acw", "start", "end", "duration_s"}
    first = document["contacts"][0]
    assert first["steps"][1] == {"status": "Active", "at": "2013-09-11T05:01:05.000Z",
                                 "final": False, "event_index": 4}
    assert first["time_in_status_s"] == {"Incoming": 25.0, "Active": 272.0, "Holding": 40.0,
                                         "Disconnected": 25.0}
    assert (first["acw_s"], first["handle_time_s"], first["disconnect_code"]) == (
        25.0, 337.0, "NA")
    assert document["agent_states"][2] == {
        "state": "Unavailable", "out_reason": "", "is_acw": True,
        "start": "2013-09-11T05:06:17.000Z", "end": "2013-09-11T05:06:42.000Z",
        "duration_s": 25.0}


# --- the command ---------------------------------------------------------------------------


def day_file(tmp_path: Path) -> str:
    path = tmp_path / "day.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in day()))
    return str(path)


def test_history_command_shows_steps_durations_and_the_timeline(tmp_path: Path) -> None:
    result = run("history", day_file(tmp_path))
    assert result.exit_code == 0, result.stderr
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert "call 1569815 closed skill 1507 disconnect NA" in lines
    assert "ring 25s hold 40s ACW 25s handle 5m 37s" in lines
    assert "5 Holding 05:03:00.000 40s" in lines
    assert "7 Disconnected 05:06:17.000 25s" in lines
    assert "9 Disconnected 05:06:42.000 yes -" in lines
    assert "05:32:36.000 Client: Test Test Test" in lines
    assert "Unavailable 1569815 05:06:17.000 05:06:42.000 25s" in lines
    assert "call 1569830 open skill 1600 disconnect NA" in lines


def test_history_command_json_filters_and_live_figures(tmp_path: Path) -> None:
    path = day_file(tmp_path)
    chats = orjson.loads(run("history", path, "--media", "chat", "--json").stdout)
    assert [c["contact_id"] for c in chats["sessions"][0]["contacts"]] == ["1569822"]
    one = orjson.loads(run("history", path, "--contact", "1569822", "--json").stdout)
    (session,) = one["sessions"]
    assert [c["contact_id"] for c in session["contacts"]] == ["1569822"]
    # the agent's states while the chat lasted (05:30:39 -> 05:33:10)
    assert [(s["state"], s["start"], s["end"]) for s in session["agent_states"]] == [
        ("Available", "2013-09-11T05:06:42.000Z", "2013-09-11T05:30:40.000Z"),
        ("InboundContact", "2013-09-11T05:30:40.000Z", "2013-09-11T05:33:10.000Z"),
    ]
    # the open call has been Active since 05:40:05 (server); the client reads 05:41:00
    # and is 5 s behind the server
    live = orjson.loads(run("history", path, "--contact", "1569830", "--now",
                            "2013-09-11T05:41:00Z", "--skew", "5", "--json").stdout)
    (contact,) = live["sessions"][0]["contacts"]
    assert contact["time_in_status_s"] == {"Incoming": 5.0, "Active": 60.0}
    assert contact["handle_time_s"] == 60.0
    assert contact["closed"] is False


def test_history_command_errors(tmp_path: Path) -> None:
    path = day_file(tmp_path)
    missing = run("history", path, "--contact", "nope")
    assert (missing.exit_code, missing.stderr) == (1, "session-fsm: contact nope not found\n")
    bad_time = run("history", path, "--since", "yesterday")
    assert bad_time.exit_code == 2
    assert "--since: expected an ISO 8601 time" in bad_time.stderr
    assert run("history", path, "--db", str(tmp_path / "s.sqlite")).exit_code == 2
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"Type": "AgentSessionStart"}\n{oops\n')
    unreadable = run("history", str(broken))
    assert unreadable.exit_code == 2
    assert f"{broken}:2:" in unreadable.stderr
    assert "Traceback" not in unreadable.stderr
