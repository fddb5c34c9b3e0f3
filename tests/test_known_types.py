"""The types the live stream carries beyond the documentation (stream-facts.md, "Event
types beyond the seed"): each is typed, round-trips key for key, and is noted by the
engine without a warning; a type nobody lists still earns ``unknown-event-type``.

The seed documents none of them. Each example below is written by hand with the keys
NICE's agent SDK (25.1.2) reads of that type, and the expected values are read off the
example, never recomputed through the codec.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from session_fsm.engine import SessionEngine
from session_fsm.engine.changes import Noted
from session_fsm.engine.rules import Severity, Violation
from session_fsm.errors import FieldError
from session_fsm.wire import events as ev
from session_fsm.wire.codec import decode, encode

KEY = "agent-1"

# (wire example, the typed event it says), keys in the order encode() writes them: Type,
# the declared fields, then the extras as they came.
EXAMPLES: dict[str, tuple[dict[str, Any], Any]] = {
    "VoiceMailPlayBackEvent": (
        {"Type": "VoiceMailPlayBackEvent", "ContactId": "1569830",
         "PlayBackPaused": "True", "PlayBackPosition": "42", "IISHost": "C32-IIS-03"},
        ev.VoiceMailPlayBackEvent(contact_id="1569830", play_back_paused=True,
                                  play_back_position=42, extra={"IISHost": "C32-IIS-03"}),
    ),
    "RunApp": (
        {"Type": "RunApp", "ContactId": "1569815", "ActionType": "URL",
         "ActionValue": "https://crm.example.com/app?id=1569815", "WaitTimeout": "30"},
        ev.RunApp(contact_id="1569815", action_type="URL",
                  action_value="https://crm.example.com/app?id=1569815", wait_timeout="30"),
    ),
    "MchAgentSettingsChangeEvent": (
        {"Type": "MchAgentSettingsChangeEvent", "ChatThreshold": "3", "SmsThreshold": "1",
         "EmailThreshold": "2", "WorkItemThreshold": "1", "DigitalThreshold": "4",
         "VoiceThreshold": "1", "TotalContactCount": "5", "ContactAutoFocus": "False",
         "RequestContact": "True", "DeliveryMode": "Push"},
        ev.MchAgentSettingsChangeEvent(
            chat_threshold=3, sms_threshold=1, email_threshold=2, work_item_threshold=1,
            digital_threshold=4, voice_threshold=1, total_contact_count=5,
            contact_auto_focus=False, request_contact=True, delivery_mode="Push"),
    ),
    "AgentAssist": (
        {"Type": "AgentAssist", "ContactId": "1569815",
         "AppUri": "https://assist.example.com/app", "AppTitle": "Agent Assist",
         "AgentAssistAppConfigJson": '{"Params":{"providerId":"AutoSummary"}}'},
        ev.AgentAssist(contact_id="1569815", app_uri="https://assist.example.com/app",
                       app_title="Agent Assist",
                       agent_assist_app_config_json='{"Params":{"providerId":"AutoSummary"}}'),
    ),
    "PromiseKeeper": (
        {"Type": "PromiseKeeper", "CallbackId": "2000417", "AgentId": "-1",
         "SkillId": "1520", "TargetType": "Agent", "CallbackTime": "2013-09-11T05:00:00.000Z",
         "CallbackExpireTime": "2013-09-11T06:00:00.000Z",
         "DeliveryTime": "2013-09-11T05:10:00.000Z", "DialNumber": "8015551234",
         "OrigNumber": "8013203200", "FirstName": "Pat", "LastName": "Lee",
         "Notes": "Call back about the order"},
        ev.PromiseKeeper(
            callback_id="2000417", agent_id="-1", skill_id="1520", target_type="Agent",
            callback_time=datetime(2013, 9, 11, 5, 0, tzinfo=UTC),
            callback_expire_time=datetime(2013, 9, 11, 6, 0, tzinfo=UTC),
            delivery_time=datetime(2013, 9, 11, 5, 10, tzinfo=UTC), dial_number="8015551234",
            orig_number="8013203200", first_name="Pat", last_name="Lee",
            notes="Call back about the order"),
    ),
    "PromiseKeeperStatus": (
        {"Type": "PromiseKeeperStatus", "Status": "Rescheduled"},
        ev.PromiseKeeperStatus(status="Rescheduled"),
    ),
    "Conference": (
        {"Type": "Conference", "ConferenceNo": "1500000042"},
        ev.Conference(conference_no="1500000042"),
    ),
}
# what the engine keeps each under (Noted.subject): the contact, where the type names one
SUBJECTS = {"VoiceMailPlayBackEvent": "1569830", "RunApp": "1569815",
            "AgentAssist": "1569815"}


def test_every_type_stream_facts_lists_is_typed_and_has_an_example() -> None:
    listed = {"VoiceMailPlayBackEvent", "RunApp", "MchAgentSettingsChangeEvent", "AgentAssist",
              "PromiseKeeper", "PromiseKeeperStatus", "Conference"}
    assert {cls.TYPE for cls in ev.NOTED_EVENTS} == listed
    assert set(ev.NOTED_EVENTS) <= set(ev.KNOWN_EVENTS)
    assert set(EXAMPLES) == listed


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_decodes_to_the_typed_event_and_encodes_back_key_for_key(name: str) -> None:
    wire, typed = EXAMPLES[name]
    event = decode(wire)
    assert type(event) is type(typed)
    assert event == typed  # extras included: the IISHost of the playback example
    assert list(encode(event).items()) == list(wire.items())


def test_the_live_streams_spellings_of_the_new_types() -> None:
    """Another casing of the tag and keys, booleans lower-case or real, integers bare."""
    event = decode({"type": "voicemailplaybackevent", "ContactID": "7",
                    "playBackPaused": "false", "PlayBackPosition": 12})
    assert event == ev.VoiceMailPlayBackEvent(contact_id="7", play_back_paused=False,
                                              play_back_position=12)
    settings = decode({"Type": "MchAgentSettingsChangeEvent", "ChatThreshold": "",
                       "ContactAutoFocus": True})
    assert settings == ev.MchAgentSettingsChangeEvent(chat_threshold=None,
                                                      contact_auto_focus=True)


def test_a_bad_value_names_its_field() -> None:
    with pytest.raises(FieldError) as raised:
        decode({"Type": "VoiceMailPlayBackEvent", "ContactId": "7", "PlayBackPosition": "soon"})
    assert "PlayBackPosition" in str(raised.value)
    assert "VoiceMailPlayBackEvent" in str(raised.value)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_engine_notes_each_without_a_warning(name: str) -> None:
    wire, typed = EXAMPLES[name]
    engine = SessionEngine()
    changes = engine.feed(wire, key=KEY)
    assert changes == (Noted(KEY, 0, name, SUBJECTS.get(name), typed),)
    assert list(engine.violations()) == []


def test_a_type_nobody_lists_still_earns_the_warning() -> None:
    engine = SessionEngine()
    wire = {"Type": "AgentWorkflowConfiguration", "ContactId": "42"}
    assert decode(wire) == ev.UnknownEvent(type="AgentWorkflowConfiguration", raw=wire)
    changes = engine.feed(wire, key=KEY)
    assert [type(c) for c in changes] == [Noted, Violation]  # kept, and warned about
    warning = changes[1]
    assert isinstance(warning, Violation)
    assert (warning.rule, warning.severity, warning.event_index) == (
        "unknown-event-type", Severity.WARNING, 0)
    assert "AgentWorkflowConfiguration" in warning.message
