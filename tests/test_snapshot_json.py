"""``to_json`` of a snapshot against the contract's ``snapshot --json``, key by key.

The expected key sets and values are copied by hand from the contract (the project's
``shared/docs/contract.md``; users have ``session-fsm schema snapshot``):
exactly its keys at every level, timestamps as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` strings,
IDs as strings.
"""

from __future__ import annotations

import json
import re
from typing import Any

from helpers import (
    agent_state,
    call,
    leg,
    replay,
    session_end,
    session_start,
    supervisor_contact,
    supervisor_monitor,
    utc,
)

from session_fsm.engine.snapshot import snapshots_json, to_json

TOP_KEYS = {"key", "session", "agent_state", "agent_leg", "contacts", "linked_contact_id",
            "monitoring", "events", "violations"}
# the contract's keys, end_clean (AgentSessionEnd's Success) among them
SESSION_KEYS = {"session_id", "agent_id", "bus_no", "status", "end_reason", "end_message",
                "end_clean"}
AGENT_STATE_KEYS = {"state", "out_reason", "since", "is_acw", "acw_timeout_s", "acw_deadline",
                    "next_states"}
NEXT_STATE_KEYS = {"state", "out_reason"}
AGENT_LEG_KEYS = {"id", "status", "final"}
# the contract's keys, what a desktop needs among them, and screen_pop_variables (allowed)
CONTACT_KEYS = {"contact_id", "media", "status", "final", "in_acw", "is_linked", "is_inbound",
                "call_type", "skill", "started", "last_change", "ani", "dnis",
                "screen_pop_url", "screen_pop_variables", "master_contact_id",
                "other_information", "blending_to_skill_name", "refusal_timeout_s",
                "refusal_deadline"}
MONITORING_KEYS = {"target_agent_id", "since", "contact_id"}

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def t(hour: int, minute: int, second: int, millisecond: int = 0) -> Any:
    return utc(2013, 9, 11, hour, minute, second, millisecond)


def busy_session_json(*, ended: bool = True) -> dict[str, Any]:
    """An agent in ACW after a call, with a leg up, being monitored, when the session ends
    (or, not ``ended``, just before: the agent state then is the ACW's)."""
    session = replay([
        session_start(),
        leg("2200339882", "Dialing"),
        leg("2200339882", "Active"),
        agent_state("Available", at=t(5, 0, 0)),
        call("1569815", "Incoming", at=t(5, 5, 0)),
        agent_state("InboundContact", at=t(5, 5, 0), next_states=["Unavailable", "Available"]),
        call("1569815", "Active", at=t(5, 5, 4), start=t(5, 5, 0)),
        supervisor_monitor("9011", at=t(5, 5, 30, 250)),
        supervisor_contact("6550071587", "Active", at=t(5, 5, 31), start=t(5, 5, 30)),
        call("1569815", "Disconnected", at=t(5, 6, 17), start=t(5, 5, 0)),
        agent_state("Unavailable", at=t(5, 6, 17), acw=True, acw_timeout=60,
                    next_states=["Available"]),
        *([session_end()] if ended else []),
    ], key="agent-00042")
    return to_json(session.snapshot())


def test_snapshot_json_has_exactly_the_contract_keys_at_every_level() -> None:
    data = busy_session_json()
    assert set(data) == TOP_KEYS
    assert set(data["session"]) == SESSION_KEYS
    assert set(data["agent_state"]) == AGENT_STATE_KEYS
    in_acw = busy_session_json(ended=False)["agent_state"]
    assert set(in_acw) == AGENT_STATE_KEYS
    assert [set(n) for n in in_acw["next_states"]] == [NEXT_STATE_KEYS]
    assert set(data["agent_leg"]) == AGENT_LEG_KEYS
    assert [set(c) for c in data["contacts"]] == [CONTACT_KEYS, CONTACT_KEYS]
    assert set(data["monitoring"]) == MONITORING_KEYS


def test_snapshot_json_values() -> None:
    assert busy_session_json() == {
        "key": "agent-00042",
        "session": {"session_id": "58070815", "agent_id": "12214", "bus_no": "4500",
                    "status": "ended", "end_reason": "AgentSessionEnd", "end_message": None,
                    "end_clean": True},
        # the session ended, so the agent is logged out, whatever it was in (ACW)
        "agent_state": {"state": "LoggedOut", "out_reason": "", "since": None,
                        "is_acw": False, "acw_timeout_s": None, "acw_deadline": None,
                        "next_states": []},
        "agent_leg": {"id": "2200339882", "status": "Active", "final": False},
        "contacts": [
            {"contact_id": "1569815", "media": "call", "status": "Disconnected",
             "final": False, "in_acw": True, "is_linked": False, "is_inbound": True,
             "call_type": "Regular", "skill": "1507", "started": "2013-09-11T05:05:00.000Z",
             "last_change": "2013-09-11T05:06:17.000Z",
             # the call's ANI and DNIS as helpers.call() spells them; "" is no value
             "ani": "8013203200", "dnis": "4000010001", "screen_pop_url": None,
             "screen_pop_variables": [], "master_contact_id": None,
             "other_information": None, "blending_to_skill_name": None,
             "refusal_timeout_s": None, "refusal_deadline": None},
            {"contact_id": "6550071587", "media": "supervisor", "status": "Active",
             "final": False, "in_acw": False, "is_linked": False, "is_inbound": False,
             "call_type": "Regular", "skill": "50883", "started": "2013-09-11T05:05:30.000Z",
             "last_change": "2013-09-11T05:05:31.000Z",
             "ani": "+748596215382", "dnis": "9991638000", "screen_pop_url": None,
             "screen_pop_variables": [], "master_contact_id": None,
             "other_information": None, "blending_to_skill_name": None,
             "refusal_timeout_s": None, "refusal_deadline": None},
        ],
        "linked_contact_id": None,
        "monitoring": {"target_agent_id": "9011", "since": "2013-09-11T05:05:30.250Z",
                       "contact_id": "6550071587"},
        "events": 12,
        # both contacts are still open when the session ends: contacts-open-at-end, twice
        "violations": 2,
    }


def test_snapshot_json_agent_state_in_acw_before_the_end() -> None:
    assert busy_session_json(ended=False)["agent_state"] == {
        "state": "Unavailable", "out_reason": "", "since": "2013-09-11T05:06:17.000Z",
        "is_acw": True, "acw_timeout_s": 60,
        "acw_deadline": "2013-09-11T05:07:17.000Z",  # 05:06:17 + 60 s
        "next_states": [{"state": "Available", "out_reason": ""}]}


def test_snapshot_json_value_types() -> None:
    data = busy_session_json(ended=False)
    timestamps = [
        data["agent_state"]["since"], data["agent_state"]["acw_deadline"],
        data["monitoring"]["since"],
        *(c[k] for c in data["contacts"] for k in ("started", "last_change")),
    ]
    assert all(isinstance(ts, str) and TIMESTAMP.fullmatch(ts) for ts in timestamps), timestamps
    ids = [
        data["key"], data["session"]["session_id"], data["session"]["agent_id"],
        data["session"]["bus_no"], data["agent_leg"]["id"], data["monitoring"]["target_agent_id"],
        data["monitoring"]["contact_id"], *(c["contact_id"] for c in data["contacts"]),
    ]
    assert all(type(i) is str for i in ids), ids
    flags = [data["agent_state"]["is_acw"], data["agent_leg"]["final"],
             *(c[k] for c in data["contacts"] for k in ("final", "in_acw", "is_linked",
                                                         "is_inbound"))]
    assert all(type(f) is bool for f in flags), flags
    assert type(data["agent_state"]["acw_timeout_s"]) is int
    assert type(data["events"]) is int
    assert type(data["violations"]) is int
    # plain JSON: it survives a dump and a load unchanged
    assert json.loads(json.dumps(data)) == data


def test_a_fresh_session_has_the_contract_keys_with_nulls() -> None:
    data = to_json(replay([], key="-").snapshot())
    assert data == {
        "key": "-",
        "session": {"session_id": None, "agent_id": None, "bus_no": None,
                    "status": "not_started", "end_reason": None, "end_message": None,
                    "end_clean": None},
        "agent_state": None,
        "agent_leg": None,
        "contacts": [],
        "linked_contact_id": None,
        "monitoring": None,
        "events": 0,
        "violations": 0,
    }


def test_snapshots_json_wraps_the_sessions() -> None:
    session = replay([session_start()], key="agent-00042")
    document = snapshots_json([session.snapshot()])
    assert list(document) == ["sessions"]
    assert [set(s) for s in document["sessions"]] == [TOP_KEYS]
    assert document["sessions"][0]["session"]["status"] == "active"
