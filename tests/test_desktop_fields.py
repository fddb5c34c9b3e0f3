"""What an agent desktop or CRM connector needs of a contact (issue 16, item 9).

The snapshot's contact carries ANI, DNIS, ScreenPopUrl and its variables, the master
contact id (``MasterID``, an undocumented key stream-facts lists), OtherInformation and
BlendingToSkillName (dialer calls), and RefusalTimeout with its deadline (work items,
chats). Expected values are the seed's own example values, worked by hand.
"""

from __future__ import annotations

from typing import Any

import helpers as h
from helpers import utc

from session_fsm.engine import AgentSession
from session_fsm.engine.snapshot import to_json
from session_fsm.io.checkpoint import dump_session, load_session
from session_fsm.wire.codec import decode


def contact_json(session: AgentSession, contact_id: str) -> dict[str, Any]:
    data = to_json(session.snapshot())
    return next(c for c in data["contacts"] if c["contact_id"] == contact_id)


DESKTOP_KEYS = ("ani", "dnis", "screen_pop_url", "screen_pop_variables", "master_contact_id",
                "other_information", "blending_to_skill_name", "refusal_timeout_s",
                "refusal_deadline")


def desktop(contact: dict[str, Any]) -> dict[str, Any]:
    return {key: contact[key] for key in DESKTOP_KEYS}


def test_the_seeds_work_item_with_its_refusal_deadline() -> None:
    # The seed's WorkItemContactEvent: offered (Incoming) at 05:15:44 with RefusalTimeout
    # "45": the offer times out at 05:16:29. MasterID "1569800" rides along (stream-facts).
    offered = {**h.work_item("1569819", "Incoming", at=utc(2013, 9, 11, 5, 15, 44)),
               "MasterID": "1569800"}
    session = h.replay([offered])
    assert desktop(contact_json(session, "1569819")) == {
        "ani": None, "dnis": None,
        "screen_pop_url": "http://www.microsoft.com?variable2=Jose&variable3=90",
        "screen_pop_variables": [{"variable2": "Jose"}, {"variable3": "90"}],
        "master_contact_id": "1569800", "other_information": None,
        "blending_to_skill_name": None, "refusal_timeout_s": 45,
        "refusal_deadline": "2013-09-11T05:16:29.000Z",
    }
    # accepted (Active at 05:16:00): no offer left to time out
    session.feed(h.work_item("1569819", "Active", at=utc(2013, 9, 11, 5, 16, 0)))
    accepted = contact_json(session, "1569819")
    assert (accepted["refusal_timeout_s"], accepted["refusal_deadline"]) == (45, None)
    assert accepted["master_contact_id"] is None  # the Active event carried no MasterID


def test_a_dialer_call_shows_ani_dnis_and_its_campaign_fields() -> None:
    ringing = {**h.call("1570001", "Dialing", at=utc(2013, 9, 11, 6, 0, 0), inbound=False,
                        call_type="Dialer"),
               "OtherInformation": "campaign=Renewals", "BlendingToSkillName": "Outbound-2",
               "ScreenPopUrl": "https://crm.example/contact?id=42", "MasterID": 1569999}
    session = h.replay([ringing])
    assert desktop(contact_json(session, "1570001")) == {
        "ani": "8013203200", "dnis": "4000010001",
        "screen_pop_url": "https://crm.example/contact?id=42", "screen_pop_variables": [],
        # an integer MasterID is shown as the id it is; a call has no refusal timeout
        "master_contact_id": "1569999", "other_information": "campaign=Renewals",
        "blending_to_skill_name": "Outbound-2", "refusal_timeout_s": None,
        "refusal_deadline": None,
    }


def test_a_chat_offered_with_a_refusal_timeout() -> None:
    # helpers.chat() carries RefusalTimeout "45": offered at 07:00:10, due at 07:00:55
    session = h.replay([h.chat("1580001", "Incoming", at=utc(2013, 9, 11, 7, 0, 10))])
    chat = contact_json(session, "1580001")
    assert (chat["refusal_timeout_s"], chat["refusal_deadline"]) == \
        (45, "2013-09-11T07:00:55.000Z")
    assert chat["screen_pop_url"] is None  # "" on the wire is no URL


def test_a_master_id_that_is_no_id_is_not_shown() -> None:
    odd = {**h.call("1", "Incoming", at=utc(2013, 9, 11, 6, 0, 0)), "MasterID": {"a": 1}}
    assert contact_json(h.replay([odd]), "1")["master_contact_id"] is None


def test_typed_events_give_the_same_desktop_as_the_wire() -> None:
    events = [{**h.work_item("1569819", "Incoming", at=utc(2013, 9, 11, 5, 15, 44)),
               "MasterID": "1569800"},
              {**h.call("1570001", "Dialing", at=utc(2013, 9, 11, 6, 0, 0), inbound=False,
                        call_type="Dialer"), "OtherInformation": "x", "MasterID": "7"}]
    wire = h.replay(events)
    typed = AgentSession("s")
    for index, event in enumerate(events):
        typed.feed(decode(event), batch=index)
    assert to_json(typed.snapshot())["contacts"] == to_json(wire.snapshot())["contacts"]


def test_a_checkpoint_keeps_the_desktop_and_a_close_drops_it() -> None:
    session = h.replay([{**h.work_item("1569819", "Incoming", at=utc(2013, 9, 11, 5, 15, 44)),
                         "MasterID": "1569800"}])
    restored = load_session(dump_session(session))
    assert to_json(restored.snapshot())["contacts"] == to_json(session.snapshot())["contacts"]
    session.feed(h.work_item("1569819", "Disconnected", at=utc(2013, 9, 11, 5, 20, 0),
                             final=True))
    assert session.contacts == {}
    assert session.closed["1569819"].desktop is None  # kept small after it closed
