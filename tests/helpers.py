"""Event factories and a replay() for the engine's tests.

Every factory returns a WIRE dict spelled exactly as the stream spells it (see
``shared/seed/000_ca972a22fc664176.txt``): string booleans ``"True"``/``"False"``,
string integers, IDs as strings and ISO 8601 UTC timestamps with milliseconds and
``Z``. Tests feed these dicts to the engine, so the codec is on the path too, as it is
in production. Timestamps may be given as aware datetimes or as ready-made strings.

The defaults are the documentation's example values (skill ``"1507"``, agent leg
``"2200339882"``, chat room ``"2"``...), so a test only spells what it cares about.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import seed_events as seed
from click.testing import CliRunner

from session_fsm.cli import main
from session_fsm.engine import AgentSession
from session_fsm.engine.changes import Change
from session_fsm.views.history import HistoryFold, SessionHistory
from session_fsm.views.history import to_json as history_json
from session_fsm.wire.codec import format_optional_time

Wire = dict[str, Any]
When = datetime | str


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int,
        millisecond: int = 0) -> datetime:
    """An aware UTC datetime (what the engine's timestamps compare equal to)."""
    return datetime(year, month, day, hour, minute, second, millisecond * 1000, tzinfo=UTC)


def iso(at: When) -> str:
    """The wire's timestamp form, written out by hand: ``2013-09-11T05:06:17.000Z``."""
    if isinstance(at, str):
        return at
    at = at.astimezone(UTC)
    return (f"{at.year:04d}-{at.month:02d}-{at.day:02d}T"
            f"{at.hour:02d}:{at.minute:02d}:{at.second:02d}.{at.microsecond // 1000:03d}Z")


def flag(value: bool) -> str:
    """The wire's boolean form."""
    return "True" if value else "False"


# --- agent session --------------------------------------------------------------------


def session_start(*, session_id: str = "58070815", agent_id: str = "12214",
                  bus_no: str = "4500") -> Wire:
    """The documented AgentSessionStart example, for another agent if asked."""
    return {**seed.AGENT_SESSION_START, "BusNo": bus_no, "AgentId": agent_id,
            "SessionId": session_id}


def session_end(*, message: str = "", success: bool = True) -> Wire:
    return {"Type": "AgentSessionEnd", "Success": flag(success), "Message": message}


def remote_end(message: str = "RemoteLogoff") -> Wire:
    return {"Type": "RemoteAgentSessionEnd", "Message": message}


def agent_state(
    state: str,
    *,
    at: When,
    out_reason: str = "",
    next_states: Iterable[str | tuple[str, str]] = (),
    acw: bool = False,
    acw_timeout: int = 0,
) -> Wire:
    """An AgentState; ``next_states`` entries are a state or ``(state, out_reason)``."""
    entries = [(n, "") if isinstance(n, str) else n for n in next_states]
    return {
        "Type": "AgentState",
        "CurrentState": state,
        "CurrentOutReason": out_reason,
        "NextStates": [{"State": s, "OutReason": r} for s, r in entries],
        "StartTimeUTC": iso(at),
        "IsAcw": flag(acw),
        "AcwTimeout": str(acw_timeout),
    }


def leg(leg_id: str = "2200339882", status: str = "Dialing", *, final: bool = False,
        **extra: str) -> Wire:
    """An AgentLeg; ``extra`` adds undocumented fields (``IISHost=...``) as the wire may."""
    return {"Type": "AgentLeg", "AgentLegId": leg_id, "Status": status,
            "FinalState": flag(final), **extra}


def agent_error(result_code: str, *, contact_id: str = "-1", target: str = "AgentLeg") -> Wire:
    return {"Type": "AgentError", "Command": "ReadyAgentLeg", "ResultCode": result_code,
            "ContactID": contact_id, "Target": target, "ErrorLevel": "Medium"}


# --- contacts ---------------------------------------------------------------------------


def call(
    contact_id: str,
    status: str,
    *,
    at: When,
    inbound: bool = True,
    final: bool = False,
    linked: bool = False,
    call_type: str = "Regular",
    skill: str = "1507",
    disconnect: str = "NA",
    start: When | None = None,
) -> Wire:
    """A CallContactEvent; ``start`` (StartTimeUTC) defaults to ``at``."""
    return {
        "Type": "CallContactEvent",
        "ContactID": contact_id,
        "Status": status,
        "OriginalState": "False",
        "CallType": call_type,
        "DNIS": "4000010001",
        "ANI": "8013203200",
        "Skill": skill,
        "IsInbound": flag(inbound),
        "StartTimeUTC": iso(start if start is not None else at),
        "LastStateChangeTimeUTC": iso(at),
        "ScreenPopUrl": "",
        "DisconnectCode": disconnect,
        "IsLogging": "False",
        "Timeout": "",
        "AllowDispositions": "True",
        "Label": "",
        "IsLinked": flag(linked),
        "TimeZones": "",
        "FinalState": flag(final),
        "OtherInformation": "",
        "BlendingToSkillName": "",
    }


def supervisor_contact(
    contact_id: str,
    status: str,
    *,
    at: When,
    final: bool = False,
    inbound: bool = False,
    skill: str = "50883",
    disconnect: str = "NA",
    start: When | None = None,
) -> Wire:
    """The supervisor's own leg while monitoring (call-shaped, ``Type`` SupervisorContact)."""
    return {
        "Type": "SupervisorContact",
        "ContactID": contact_id,
        "Status": status,
        "OriginalState": "False",
        "CallType": "Regular",
        "DNIS": "9991638000",
        "ANI": "+748596215382",
        "Skill": skill,
        "IsInbound": flag(inbound),
        "StartTimeUTC": iso(start if start is not None else at),
        "LastStateChangeTimeUTC": iso(at),
        "ScreenPopUrl": "",
        "DisconnectCode": disconnect,
        "IsLogging": "False",
        "Timeout": "",
        "AllowDispositions": "False",
        "Label": "",
        "IsLinked": "False",
        "TimeZones": "",
        "FinalState": flag(final),
        "OtherInformation": "",
    }


WORK_ITEM_PAYLOAD = "{\"queries\":[{\"query\":\"SELECT ID FROM case WHERE Priority='Low'\"}]}"


def work_item(
    contact_id: str,
    status: str,
    *,
    at: When,
    final: bool = False,
    skill_id: str = "1528",
    work_item_id: str = "3920",
    work_item_type: str = "Testing",
    start: When | None = None,
) -> Wire:
    return {
        "Type": "WorkItemContactEvent",
        "ContactID": contact_id,
        "Status": status,
        "WorkItemId": work_item_id,
        "WorkItemPayload": WORK_ITEM_PAYLOAD,
        "WorkItemType": work_item_type,
        "AgentId": "1218",
        "SkillId": skill_id,
        "StartTimeUTC": iso(start if start is not None else at),
        "LastStateChangeTimeUTC": iso(at),
        "ScreenPopUrl": "http://www.microsoft.com?variable2=Jose&variable3=90",
        "ScreenPopUrlVariables": [{"variable2": "Jose"}, {"variable3": "90"}],
        "RefusalTimeout": "45",
        "FinalState": flag(final),
    }


def chat(
    contact_id: str,
    status: str,
    *,
    at: When,
    room: str = "2",
    skill: str = "1509",
    messages: Sequence[tuple[str, str, When]] = (),
    final: bool = False,
    start: When | None = None,
) -> Wire:
    """A ChatContactEvent; ``messages`` are ``(party, text, at)`` (the transcript so far)."""
    return {
        "Type": "ChatContactEvent",
        "ContactID": contact_id,
        "RoomId": room,
        "Status": status,
        "Skill": skill,
        "StartTime": iso(start if start is not None else at),
        "LastStateChangeTime": iso(at),
        "ScreenPopUrl": "",
        "RefusalTimeout": "45",
        "IsActive": "True",
        "Messages": [{"Text": text, "TimeStamp": iso(when), "PartyType": party}
                     for party, text, when in messages],
        "FinalState": flag(final),
    }


def chat_text(room: str, party: str, message: str, *, at: When, label: str = "") -> Wire:
    return {"Type": "ChatText", "RoomId": room, "Label": label, "Message": message,
            "PartyType": party, "TimeStamp": iso(at)}


def voicemail(contact_id: str, status: str, *, at: When, final: bool = False,
              start: When | None = None) -> Wire:
    return {"Type": "VoiceMailContactEvent", "ContactID": contact_id, "Status": status,
            "Skill": "1510", "FileName": "vm-0001.wav",
            "StartTimeUTC": iso(start if start is not None else at),
            "LastStateChangeTimeUTC": iso(at), "FinalState": flag(final)}


def digital(contact_id: str, status: str, *, at: When, final: bool = False,
            inbound: bool = True, start: When | None = None) -> Wire:
    return {"Type": "DigitalContactEvent", "ContactID": contact_id, "Status": status,
            "Skill": "1511", "IsInbound": flag(inbound),
            "StartTimeUTC": iso(start if start is not None else at),
            "LastStateChangeTimeUTC": iso(at), "FinalState": flag(final)}


# --- supervisor and on-screen ------------------------------------------------------------


def supervisor_monitor(target: str = "9011", *, at: When, final: bool = False) -> Wire:
    return {"Type": "SupervisorMonitor", "MonitorStartTime": iso(at), "TargetAgentId": target,
            "FinalState": flag(final)}


def take_over(contact_id: str, *, at: When) -> Wire:
    return {"Type": "TakeOver", "ContactID": contact_id, "TakeOverDate": iso(at)}


def page_open(contact_id: str, *, action: str = "OPEN", uri: str | None = None) -> Wire:
    page = uri or ("http://eng-ngpcl07/WebScripting/Default.aspx?id=1218"
                   f"&__ContactID={contact_id}&__bus_no=199&__type={action}")
    return {"Type": "PageOpen", "ContactID": contact_id, "Action": action, "PageUri": page}


# --- replay ----------------------------------------------------------------------------


def replay(
    events: Iterable[Wire],
    *,
    key: str = "s",
    batch_of: Sequence[Hashable] | None = None,
    strict: bool = False,
) -> AgentSession:
    """Feed ``events`` to a fresh session and return it.

    ``batch_of`` gives each event's batch (its get-next-event response); by default every
    event arrives in a response of its own (batch = its position).
    """
    session = AgentSession(key, strict=strict)
    for index, event in enumerate(events):
        session.feed(event, batch=index if batch_of is None else batch_of[index])
    return session


class Replayed:
    """A session and the history folded from what its ``feed()`` returned."""

    def __init__(self, key: str = "s", *, strict: bool = False) -> None:
        self.session = AgentSession(key, strict=strict)
        self.fold = HistoryFold()
        self.said: list[Change] = []
        """Every change ``feed()`` returned, in order."""

    def feed(self, event: Wire, *, batch: Hashable | None = None) -> None:
        changes = self.session.feed(event, batch=batch)
        self.said.extend(changes)
        self.fold.apply_all(changes)

    def history(self, *, now: datetime | None = None, skew_s: float = 0.0) -> SessionHistory:
        return self.fold.history(self.session.key, now=now, skew_s=skew_s)


def replay_history(
    events: Iterable[Wire],
    *,
    key: str = "s",
    batch_of: Sequence[Hashable] | None = None,
    strict: bool = False,
) -> Replayed:
    """:func:`replay`, with the history folded from the changes as they came."""
    replayed = Replayed(key, strict=strict)
    for index, event in enumerate(events):
        replayed.feed(event, batch=index if batch_of is None else batch_of[index])
    return replayed


GOLDEN = Path(__file__).parent / "data" / "differential"
"""Simulated streams and the histories the records-based history of 0c2c667 gave for them
(see test_history_differential.py)."""


def golden_form(history: SessionHistory) -> dict[str, Any]:
    """A history as the golden files hold it: ``history --json``'s entry, plus what the
    Python values carry beyond it."""
    entry = history_json(history)
    for contact, shown in zip(history.contacts, entry["contacts"], strict=True):
        shown["beyond"] = {
            "ring_s": contact.ring_s, "hold_s": contact.hold_s, "skill": contact.skill,
            "payload": contact.payload, "is_inbound": contact.is_inbound,
            "call_type": contact.call_type, "first_index": contact.first_index,
            "step_disconnect_codes": [s.disconnect_code for s in contact.steps],
            "step_ends": [format_optional_time(s.end) for s in contact.steps],
            "step_durations": [s.duration_s for s in contact.steps],
        }
    for interval, shown in zip(history.agent_states, entry["agent_states"], strict=True):
        shown["acw_contact_id"] = interval.acw_contact_id
        shown["event_index"] = interval.event_index
    return entry


# --- the command line, in this process ------------------------------------------------


@attrs.frozen
class Result:
    exit_code: int
    stdout: str
    stderr: str


def run(*args: str, input: bytes | None = None) -> Result:
    """The console script's entry point in this process (its exit codes, its streams)."""
    with CliRunner().isolation(input=input) as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as done:
            code = int(done.code or 0)
        return Result(code, out.getvalue().decode(), err.getvalue().decode())
