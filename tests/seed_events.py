"""The documentation's event examples as Python dicts, corrected, for any test to reuse.

Each constant is one JSON example of the seed document
(``shared/seed/000_ca972a22fc664176.txt``) with its wire values exactly as the
documentation spells them (``"True"``, ``"0"``, ``""``...). The document's JSON is
malformed in places; the corrections made here:

- ``WorkItemContactEvent``: the comma missing after ``"RefusalTimeout": "45"``.
- ``ChatText``: the three examples were run together with ``{ }`` between them
  instead of ``}, {``; they are split into ``CHAT_TEXT_AGENT``, ``CHAT_TEXT_CLIENT``
  and ``CHAT_TEXT_SYSTEM``.
- ``AgentLeg``: the three comma-separated objects become three constants.

``CUSTOM_EVENT`` is built from the documented custom-event parameters (``eventName``,
``data``) of the document's curl example. The examples after it cover the types that
``shared/docs/stream-facts.md`` lists as seen in the official SDK but the seed does not
document, written from the field names declared in ``session_fsm/events.py``.

Treat these as read-only: copy (``dict(X)``) before changing one.
"""

from __future__ import annotations

from typing import Any

Wire = dict[str, Any]

# --- agent session ------------------------------------------------------------------

AGENT_SESSION_START: Wire = {
    "Type": "AgentSessionStart",
    "BusNo": "4500",
    "AgentId": "12214",
    "SessionId": "58070815",
    "StationPhoneNumber": "8013203420",
    "StationCallerId": "8013203200",
    "DialerCampaign": "",
    "DialerCampaignStartTime": "2013-09-10T19:16:33.000Z",
    "SupervisorPermissionLevel": "4",
    "CanMask": "True",
    "AgentSchedulePermission": "True",
    "ScoreRecordingsPermission": "True",
    "HideAgentStatePermission": "",
    "CanMultiPartyConference": "True",
}

AGENT_SESSION_END: Wire = {
    "Type": "AgentSessionEnd",
    "Success": "True",
    "Message": "",
}

REMOTE_AGENT_SESSION_END: Wire = {
    "Type": "RemoteAgentSessionEnd",
    "Message": "RemoteLogoff",
}

AGENT_STATE: Wire = {
    "Type": "AgentState",
    "CurrentState": "Unavailable",
    "CurrentOutReason": "",
    "NextStates": [
        {
            "State": "Unavailable",
            "OutReason": "",
        }
    ],
    "StartTimeUTC": "2013-09-10T20:05:37.000Z",
    "IsAcw": "False",
    "AcwTimeout": "0",
}

AGENT_LEG_DIALING: Wire = {
    "Type": "AgentLeg",
    "AgentLegId": "2200339882",
    "Status": "Dialing",
    "FinalState": "False",
}

AGENT_LEG_ACTIVE: Wire = {
    "Type": "AgentLeg",
    "AgentLegId": "2200339884",
    "Status": "Active",
    "FinalState": "False",
}

AGENT_LEG_DISCONNECTED: Wire = {
    "Type": "AgentLeg",
    "AgentLegId": "2200339882",
    "Status": "Disconnected",
    "FinalState": "True",
}

AGENT_ERROR: Wire = {
    "Type": "AgentError",
    "Command": "ReadyAgentLeg",
    "ResultCode": "BadNumber",
    "ContactID": "-1",
    "Target": "AgentLeg",
    "ErrorLevel": "Medium",
}

LOW_LIST: Wire = {
    "Type": "NaturalCallingSkillList",
    "Empty": "True",
}

# --- contacts -----------------------------------------------------------------------

CALL_DIALING: Wire = {
    "Type": "CallContactEvent",
    "ContactID": "1569815",
    "Status": "Dialing",
    "OriginalState": "False",
    "CallType": "Regular",
    "DNIS": "4000010001",
    "ANI": "8013203200",
    "Skill": "1507",
    "IsInbound": "False",
    "StartTimeUTC": "2013-09-11T05:03:24.000Z",
    "LastStateChangeTimeUTC": "2013-09-11T05:03:24.000Z",
    "ScreenPopUrl": "",
    "DisconnectCode": "NA",
    "IsLogging": "False",
    "Timeout": "",
    "AllowDispositions": "True",
    "Label": "",
    "IsLinked": "False",
    "TimeZones": "",
    "FinalState": "False",
    "OtherInformation": "",
    "BlendingToSkillName": "",
}

WORK_ITEM_INCOMING: Wire = {
    "Type": "WorkItemContactEvent",
    "ContactID": "1569819",
    "Status": "Incoming",
    "WorkItemId": "3920",
    "WorkItemPayload": '{"queries":[{"query":"SELECT ID FROM case WHERE Priority=\'Low\'"}]}',
    "WorkItemType": "Testing",
    "AgentId": "1218",
    "SkillId": "1528",
    "StartTimeUTC": "2013-09-11T05:15:44.000Z",
    "LastStateChangeTimeUTC": "2013-09-11T05:15:44.000Z",
    "ScreenPopUrl": "http://www.microsoft.com?variable2=Jose&variable3=90",
    "ScreenPopUrlVariables": [
        {"variable2": "Jose"},
        {"variable3": "90"},
    ],
    "RefusalTimeout": "45",
    "FinalState": "False",
}

CHAT_INCOMING: Wire = {
    "Type": "ChatContactEvent",
    "ContactID": "1569822",
    "RoomId": "2",
    "Status": "Incoming",
    "Skill": "1509",
    "StartTime": "2013-09-11T05:30:39.000Z",
    "LastStateChangeTime": "2013-09-11T05:30:39.000Z",
    "ScreenPopUrl": "",
    "RefusalTimeout": "45",
    "IsActive": "True",
    "Messages": [
        {
            "Text": "asdf",
            "TimeStamp": "2013-09-11T05:30:40.750Z",
            "PartyType": "Client",
        }
    ],
    "FinalState": "False",
}

CHAT_TEXT_AGENT: Wire = {
    "Type": "ChatText",
    "RoomId": "2",
    "Label": "CustomAgentLabel",
    "Message": "Test",
    "PartyType": "Agent",
    "TimeStamp": "2013-09-11T05:32:10.000Z",
}

CHAT_TEXT_CLIENT: Wire = {
    "Type": "ChatText",
    "RoomId": "2",
    "Label": "CustomCallerLabel",
    "Message": "Test Test Test",
    "PartyType": "Client",
    "TimeStamp": "2013-09-11T05:32:36.000Z",
}

CHAT_TEXT_SYSTEM: Wire = {
    "Type": "ChatText",
    "RoomId": "2",
    "Label": "SystemSaysHello",
    "Message": "$Localized:ChatSessionEnded",
    "PartyType": "System",
    "TimeStamp": "2013-09-11T05:33:09.000Z",
}

# --- on-screen ----------------------------------------------------------------------

INDICATOR: Wire = {
    "Type": "Indicator",
    "Name": "IndTest",
    "ImageUri": "https://www.example.com/images/computer.png",
    "ActionType": "OpenURL",
    "ActionUri": "http://www.incontact.com/",
    "ToolTip": "test123",
    "IndicatorState": "On",
}

PAGE_OPEN: Wire = {
    "Type": "PageOpen",
    "ContactID": "1569819",
    "Action": "OPEN",
    "PageUri": (
        "http://eng-ngpcl07/WebScripting/Default.aspx"
        "?id=1218&__ContactID=1569819&__bus_no=199&__type=OPEN"
    ),
}

# --- supervisor ---------------------------------------------------------------------

TAKE_OVER: Wire = {
    "Type": "TakeOver",
    "ContactID": "TargetContactID",
    "TakeOverDate": "2013-09-11T07:23:26.632Z",
}

SUPERVISOR_CONTACT: Wire = {
    "Type": "SupervisorContact",
    "ContactID": "6550071587",
    "Status": "Active",
    "OriginalState": "False",
    "CallType": "Regular",
    "DNIS": "9991638000",
    "ANI": "+748596215382",
    "Skill": "50883",
    "IsInbound": "False",
    "StartTimeUTC": "2013-09-11T07:32:03.000Z",
    "LastStateChangeTimeUTC": "2013-09-11T07:32:04.000Z",
    "ScreenPopUrl": "",
    "DisconnectCode": "NA",
    "IsLogging": "False",
    "Timeout": "",
    "AllowDispositions": "False",
    "Label": "",
    "IsLinked": "False",
    "TimeZones": "",
    "FinalState": "False",
    "OtherInformation": "",
}

SUPERVISOR_MONITOR: Wire = {
    "Type": "SupervisorMonitor",
    "MonitorStartTime": "2013-09-11T07:32:10.000Z",
    "TargetAgentId": "9011",
    "FinalState": "False",
}

CALL_TAKE_OVER: Wire = {
    "Type": "CallContactEvent",
    "ContactID": "6550071591",
    "Status": "Active",
    "OriginalState": "False",
    "CallType": "TakeOver",
    "DNIS": "9991638000",
    "ANI": "011748596215382",
    "Skill": "50883",
    "IsInbound": "True",
    "StartTimeUTC": "2013-09-11T07:33:57.000Z",
    "LastStateChangeTimeUTC": "2013-09-11T07:33:57.000Z",
    "ScreenPopUrl": "",
    "DisconnectCode": "NA",
    "IsLogging": "False",
    "Timeout": "",
    "AllowDispositions": "True",
    "Label": "",
    "IsLinked": "False",
    "TimeZones": "",
    "FinalState": "False",
    "OtherInformation": "",
    "BlendingToSkillName": "",
}

# --- custom and hours of operation --------------------------------------------------

CUSTOM_EVENT: Wire = {
    "Type": "CustomEvent",
    "eventName": "From_Postman",
    "data": "Sent_from_Postman",
}

HOURS_OF_OPERATION: Wire = {
    "Type": "HoursOfOperation",
    "ShowContinueReskill": "True",
}

# --- seen in the official SDK, not in the seed (field names from events.py) ----------

VOICE_MAIL_INCOMING: Wire = {
    "Type": "VoiceMailContactEvent",
    "ContactID": "1569830",
    "Status": "Incoming",
    "Skill": "1511",
    "FileName": "voicemail/1569830.wav",
    "StartTimeUTC": "2013-09-11T06:00:00.000Z",
    "LastStateChangeTimeUTC": "2013-09-11T06:00:01.000Z",
    "FinalState": "False",
}

DIGITAL_INCOMING: Wire = {
    "Type": "DigitalContactEvent",
    "ContactID": "1569831",
    "Status": "Incoming",
    "Skill": "1512",
    "IsInbound": "True",
    "StartTimeUTC": "2013-09-11T06:10:00.000Z",
    "LastStateChangeTimeUTC": "2013-09-11T06:10:02.500Z",
    "FinalState": "False",
}

MUTE: Wire = {
    "Type": "Mute",
    "AgentMuted": "True",
}

POP_URL: Wire = {
    "Type": "PopURL",
    "ContactId": "1569815",
    "URL": "https://crm.example.com/contact?id=1569815",
}

UPDATE_PERMISSIONS: Wire = {"Type": "UpdatePermissions"}
UPDATE_UNAVAILABLE_CODES: Wire = {"Type": "UpdateUnavailableCodes"}
UPDATE_INDICATORS: Wire = {"Type": "UpdateIndicators"}
UPDATE_MESSAGES: Wire = {"Type": "UpdateMessages"}
UPDATE_SKILLS: Wire = {"Type": "UpdateSkills"}
UPDATE_DIALER_CAMPAIGNS: Wire = {"Type": "UpdateDialerCampaigns"}
UPDATE_CALLBACKS: Wire = {"Type": "UpdateCallbacks"}

UPDATE_SIGNALS: tuple[Wire, ...] = (
    UPDATE_PERMISSIONS,
    UPDATE_UNAVAILABLE_CODES,
    UPDATE_INDICATORS,
    UPDATE_MESSAGES,
    UPDATE_SKILLS,
    UPDATE_DIALER_CAMPAIGNS,
    UPDATE_CALLBACKS,
)

SEED_EXAMPLES: dict[str, Wire] = {
    "AGENT_SESSION_START": AGENT_SESSION_START,
    "AGENT_SESSION_END": AGENT_SESSION_END,
    "REMOTE_AGENT_SESSION_END": REMOTE_AGENT_SESSION_END,
    "AGENT_STATE": AGENT_STATE,
    "AGENT_LEG_DIALING": AGENT_LEG_DIALING,
    "AGENT_LEG_ACTIVE": AGENT_LEG_ACTIVE,
    "AGENT_LEG_DISCONNECTED": AGENT_LEG_DISCONNECTED,
    "AGENT_ERROR": AGENT_ERROR,
    "LOW_LIST": LOW_LIST,
    "CALL_DIALING": CALL_DIALING,
    "WORK_ITEM_INCOMING": WORK_ITEM_INCOMING,
    "CHAT_INCOMING": CHAT_INCOMING,
    "CHAT_TEXT_AGENT": CHAT_TEXT_AGENT,
    "CHAT_TEXT_CLIENT": CHAT_TEXT_CLIENT,
    "CHAT_TEXT_SYSTEM": CHAT_TEXT_SYSTEM,
    "INDICATOR": INDICATOR,
    "PAGE_OPEN": PAGE_OPEN,
    "TAKE_OVER": TAKE_OVER,
    "SUPERVISOR_CONTACT": SUPERVISOR_CONTACT,
    "SUPERVISOR_MONITOR": SUPERVISOR_MONITOR,
    "CALL_TAKE_OVER": CALL_TAKE_OVER,
    "CUSTOM_EVENT": CUSTOM_EVENT,
    "HOURS_OF_OPERATION": HOURS_OF_OPERATION,
}
"""Every example of the seed document (and the custom event built from its parameters)."""

ALL_EXAMPLES: dict[str, Wire] = {
    **SEED_EXAMPLES,
    "VOICE_MAIL_INCOMING": VOICE_MAIL_INCOMING,
    "DIGITAL_INCOMING": DIGITAL_INCOMING,
    "MUTE": MUTE,
    "POP_URL": POP_URL,
    "UPDATE_PERMISSIONS": UPDATE_PERMISSIONS,
    "UPDATE_UNAVAILABLE_CODES": UPDATE_UNAVAILABLE_CODES,
    "UPDATE_INDICATORS": UPDATE_INDICATORS,
    "UPDATE_MESSAGES": UPDATE_MESSAGES,
    "UPDATE_SKILLS": UPDATE_SKILLS,
    "UPDATE_DIALER_CAMPAIGNS": UPDATE_DIALER_CAMPAIGNS,
    "UPDATE_CALLBACKS": UPDATE_CALLBACKS,
}
"""Every example here, by constant name: one or more for each class of KNOWN_EVENTS."""
