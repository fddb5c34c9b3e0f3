"""A seeded simulator of CXone agent event streams: realistic JSON Lines for load tests and demos.

Theory of operation. Each simulated agent is a small script (:class:`_Agent`) that plays
*episodes* (an inbound call, a chat, a Personal Connection dialer round, a break...) on
its own server clock and writes the events they produce, as the documentation spells
them, into a short buffer. :meth:`Simulation.lines` merges the agents' buffers by server
time (ties by agent number), as a live recorder polling every session would write them,
so memory stays at one episode per agent however long the run is.

The generator knows what it did: every event goes through one emitting helper that
also updates the agent's *model* (agent state, leg, open contacts, linked call,
monitoring) exactly as far as the events actually written say, so a session cut off by
the end of the window is known in the state its last event left it. That model is what
:meth:`Simulation.expected` returns; it is the simulator's own intent, not a second
reading of the events (the engine is the only thing that interprets them).

The stream is deliberately awkward where the live stream is: joins (one batch replaying
the current state, ``AgentSessionStart`` not first, contacts first seen in a middle
status), remote logoffs (sometimes with no ``AgentSessionEnd`` after them), unknown event
types, undocumented fields (``IISHost``, ``MasterID``...), booleans lower-case or as
real JSON booleans, ``type`` instead of ``Type``, ``IsACW`` instead of ``IsAcw``, both
ACW paths (Disconnected with FinalState False then True, or True at once) and both orders
of an ``AgentState`` and the contact event it belongs to. It never does what the
documented protocol forbids, so the engine must find no error-severity violation in it;
the only warnings it earns on purpose are :data:`INTENDED_WARNINGS`.

Everything random comes from ``random.Random(seed)``: one seed, one byte-identical output.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import IO, Any, Final

import attrs
import orjson

__all__ = [
    "DEFAULT_START",
    "INTENDED_WARNINGS",
    "ExpectedAgentState",
    "ExpectedContact",
    "ExpectedLeg",
    "ExpectedMonitoring",
    "ExpectedSession",
    "Simulation",
    "Summary",
    "simulate",
]

DEFAULT_START: Final = datetime(2024, 3, 4, 8, 0, tzinfo=UTC)
"""Where the simulated window starts unless told otherwise (a Monday morning, UTC)."""

INTENDED_WARNINGS: Final = frozenset({"unknown-event-type", "remote-end-without-end"})
"""The only rules a simulated stream trips on purpose: event types the documentation
does not list, and a ``RemoteAgentSessionEnd`` whose ``AgentSessionEnd`` never came."""


# --- what the simulator knows ------------------------------------------------------------


@attrs.frozen(slots=True)
class ExpectedContact:
    """An open contact as the simulator left it (the fields of a snapshot's contact)."""

    contact_id: str
    media: str
    status: str
    in_acw: bool
    is_linked: bool
    is_inbound: bool | None
    call_type: str | None
    skill: str | None
    started: datetime | None
    last_change: datetime | None


@attrs.frozen(slots=True)
class ExpectedAgentState:
    """The agent state the last ``AgentState`` event written set."""

    state: str
    out_reason: str
    since: datetime | None
    is_acw: bool
    acw_timeout_s: int | None
    acw_deadline: datetime | None
    next_states: tuple[tuple[str, str], ...]


@attrs.frozen(slots=True)
class ExpectedLeg:
    id: str
    status: str
    final: bool


@attrs.frozen(slots=True)
class ExpectedMonitoring:
    target_agent_id: str
    since: datetime | None
    contact_id: str | None


@attrs.frozen(slots=True)
class ExpectedSession:
    """One session's final state as the simulator made it, and the warnings it earned."""

    key: str
    session_id: str | None
    agent_id: str | None
    bus_no: str | None
    status: str
    end_reason: str | None
    end_message: str | None
    agent_state: ExpectedAgentState | None
    agent_leg: ExpectedLeg | None
    contacts: tuple[ExpectedContact, ...]
    linked_contact_id: str | None
    monitoring: ExpectedMonitoring | None
    events: int
    warnings: Mapping[str, int]


@attrs.frozen(slots=True)
class Summary:
    """What a run wrote."""

    agents: int
    seed: int
    minutes: float
    start: datetime
    events: int
    lines: int
    sessions: int
    types: Mapping[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "agents": self.agents,
            "seed": self.seed,
            "minutes": self.minutes,
            "start": _iso(_ms(self.start)),
            "events": self.events,
            "lines": self.lines,
            "sessions": self.sessions,
            "types": dict(self.types),
        }


# --- time --------------------------------------------------------------------------------

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_DAYS: dict[int, str] = {}


def _ms(at: datetime) -> int:
    return (at.astimezone(UTC) - _EPOCH) // timedelta(milliseconds=1)


def _iso(ms: int) -> str:
    """The wire's timestamp (``2013-09-10T20:05:37.000Z``), without a datetime per event."""
    seconds, milli = divmod(ms, 1000)
    day, seconds = divmod(seconds, 86400)
    date = _DAYS.get(day)
    if date is None:
        date = _DAYS[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")
    hour, seconds = divmod(seconds, 3600)
    minute, second = divmod(seconds, 60)
    return f"{date}T{hour:02d}:{minute:02d}:{second:02d}.{milli:03d}Z"


def _dt(ms: int | None) -> datetime | None:
    return None if ms is None else _EPOCH + timedelta(milliseconds=ms)


# --- the wire's spellings ----------------------------------------------------------------

_Style = tuple[str, Any, Any]
_PLAIN: Final[_Style] = ("Type", "True", "False")
# What the live stream does now and then (stream-facts.md "Values and casing").
_QUIRKS: Final[tuple[_Style, ...]] = (
    ("Type", "true", "false"),
    ("Type", True, False),
    ("type", "True", "False"),
    ("Type", "true", "false"),
    ("Type", True, False),
)

_BREAKS: Final = ("Break", "Lunch", "Meeting", "Training", "Coaching")
# skill -> ACW timeout: None = no ACW skill, 0 = ACW ended only by a disposition
_INBOUND_SKILLS: Final[dict[str, int | None]] = {"1507": 30, "1508": 0, "1510": None, "1513": 120}
_OUTBOUND_SKILLS: Final[dict[str, int | None]] = {"1520": None, "1521": 60}
_CHAT_SKILLS: Final[dict[str, int | None]] = {"1509": None, "1514": 45}
_DIGITAL_SKILLS: Final[dict[str, int | None]] = {"1512": 0, "1515": None}
_PC_SKILL: Final = "1530"
_PC_ACW: Final = (None, 20, 0)
_WORK_SKILL: Final = "1528"
_VOICEMAIL_SKILL: Final = "1511"
_MONITOR_SKILL: Final = "50883"
_SIGNALS: Final = (
    "UpdatePermissions", "UpdateUnavailableCodes", "UpdateIndicators", "UpdateMessages",
    "UpdateSkills", "UpdateDialerCampaigns", "UpdateCallbacks",
)
_CLIENT_LINES: Final = (
    "Hi, I need help with my order", "It has not arrived yet", "Order 55-1234",
    "Can you check the delivery date?", "Thanks!", "Is there a tracking number?",
)
_AGENT_LINES: Final = (
    "Hello, happy to help", "Let me look that up", "I see it here", "It ships tomorrow",
    "Anything else I can do?", "You're welcome",
)

# Episode weights per role: (name, weight).
_BLENDED: Final = (
    ("inbound_call", 30), ("chat", 10), ("work_item", 7), ("voicemail", 4), ("digital", 6),
    ("outbound_call", 6), ("inbound_consult", 3), ("refused_work_item", 2), ("take_break", 7),
    ("callbacks", 2), ("misc", 12), ("leg_reconnect", 1),
)
_DIALER: Final = (("dialer_round", 70), ("take_break", 5), ("misc", 10), ("low_list", 3))
_SUPERVISOR: Final = (("monitor", 45), ("inbound_call", 10), ("take_break", 8), ("misc", 12))
# ... as random.choices takes them: the names and their cumulative weights, per role
_PLAYS: Final = {
    role: ([name for name, _ in weights], list(accumulate(weight for _, weight in weights)))
    for role, weights in (("blended", _BLENDED), ("dialer", _DIALER), ("supervisor", _SUPERVISOR))
}

# Who is who, by agent number, so that every kind of session appears in any run of a
# dozen agents: (role, how the recording starts, how the session ends).
_CAST: Final = (
    ("blended", "login", "stay"),
    ("dialer", "login", "stay"),
    ("blended", "join", "stay"),
    ("supervisor", "login", "stay"),
    ("blended", "login", "logout"),
    ("blended", "login", "remote"),
    ("dialer", "login", "logout"),
    ("blended", "login", "remote_no_end"),
    ("blended", "join", "logout"),
    ("blended", "login", "stay"),
    ("dialer", "join", "stay"),
    ("blended", "login", "stay"),
)


@attrs.define(slots=True)
class _Contact:
    """One contact the agent has: the wire fields that do not change, and its status."""

    contact_id: str
    media: str
    skill: str
    started_ms: int
    changed_ms: int = 0
    # the two timestamps every status event repeats, formatted once
    started_iso: str = ""
    changed_iso: str = ""
    status: str = ""
    is_linked: bool = False
    is_inbound: bool | None = None
    call_type: str | None = None
    dnis: str = ""
    ani: str = ""
    master_id: str | None = None
    other: str = ""
    room_id: str = ""
    messages: list[dict[str, str]] = attrs.Factory(list)
    acw: int | None = None


class _Agent:
    """One agent session's script, its clock, its output buffer and its model."""

    def __init__(self, sim: Simulation, idx: int, seed: int) -> None:
        rng = self.rng = random.Random(seed)
        self.idx = idx
        self.counts = sim._counts
        self.window_end = sim._end_ms
        self.key = f"agent-{idx:05d}"
        self.prefix = b'{"session":' + orjson.dumps(self.key) + b',"event":'
        self.role, self.entry, self.exit = _CAST[idx % len(_CAST)]
        window = sim._end_ms - sim._start_ms
        self.now = sim._start_ms + int(rng.uniform(0, min(60_000, window / 10)))
        self.logout_at = sim._start_ms + int(window * rng.uniform(0.4, 0.9))
        self.cut = False
        self.buffer: deque[tuple[int, bytes]] = deque()
        self.batch: list[dict[str, Any]] | None = None
        # the live stream's habits, per session
        self.quirks = rng.choice((0.0, 0.0, 0.03, 0.15))
        self.acw_key = "IsACW" if rng.random() < 0.2 else "IsAcw"
        self.extras: dict[str, str] = {}
        if rng.random() < 0.3:
            self.extras = {"IISHost": f"C{rng.randrange(10, 60)}-IIS-{rng.randrange(1, 9):02d}",
                           "VCHost": f"C{rng.randrange(10, 60)}-VC-{rng.randrange(1, 9):02d}"}
        self.agent_id = str(12214 + idx)
        self.session_id = str(58_070_815 + idx * 1009 + rng.randrange(1000))
        self.bus_no = "4500"
        self.station = f"801{rng.randrange(10**7):07d}"
        self.campaign_start = _iso(sim._start_ms - 1_800_000)
        self.can_mask = rng.random() < 0.7
        self.target_agent_id = str(12214 + (idx - 1 if idx else 1))  # a colleague
        self.base = "Dialer" if self.role == "dialer" else "Available"
        self.serial = 0
        # -- the model: what the events written so far say --
        self.events = 0
        self.unknown = 0
        self.status = "not_started"
        self.started = False
        self.end_reason: str | None = None
        self.end_message: str | None = None
        self.remote_end = False
        self.end_event = False
        self.a_state: str | None = None
        self.a_reason = ""
        self.a_since: int | None = None
        self.a_acw = False
        self.a_timeout = 0
        self.a_acw_start: int | None = None
        self.a_next: tuple[tuple[str, str], ...] = ()
        self.a_last: tuple[Any, ...] | None = None
        self.leg_id: str | None = None
        self.leg_status = ""
        self.leg_final = False
        self.contacts: dict[str, _Contact] = {}
        self.linked: str | None = None
        self.monitoring: tuple[str, int] | None = None
        self.monitor_contact: str | None = None
        self.script = self._script()

    # --- the merge's interface ---------------------------------------------------------

    def next_time(self) -> int | None:
        """Server time of the next line to write, running the script as needed."""
        buffer = self.buffer
        while not buffer:
            try:
                next(self.script)
            except StopIteration:
                return None
        return buffer[0][0]

    # --- the clock ---------------------------------------------------------------------

    def wait(self, low: float, high: float | None = None) -> None:
        """Let ``low`` (or uniform ``low..high``) seconds pass; past the window, write nothing."""
        seconds = low if high is None else self.rng.uniform(low, high)
        self.now += int(seconds * 1000)
        if self.now > self.window_end:
            self.cut = True

    def nudge(self, low: float, high: float) -> None:
        """A short pause inside a pair of events that belong together (a contact state and
        its contact): it never cuts the pair in two, even at the window's end."""
        self.now += int(self.rng.uniform(low, high) * 1000)

    def _id(self) -> str:
        """A platform-unique ID (contact, leg, room) that depends on this agent alone."""
        self.serial += 1
        return str(1_500_000_000 + self.idx * 10_000_000 + self.serial)

    # --- writing ------------------------------------------------------------------------

    def _style(self) -> _Style:
        quirks = self.quirks
        if quirks:
            r = self.rng.random()
            if r < quirks:
                return _QUIRKS[int(r / quirks * len(_QUIRKS))]
        return _PLAIN

    def _put(self, type_name: str, wire: dict[str, Any]) -> None:
        self.events += 1
        counts = self.counts
        counts[type_name] = counts.get(type_name, 0) + 1
        if self.batch is not None:
            self.batch.append(wire)
        else:
            self.buffer.append((self.now, self.prefix + orjson.dumps(wire) + b"}\n"))

    def begin_batch(self) -> None:
        self.batch = []

    def end_batch(self) -> None:
        batch, self.batch = self.batch, None
        if batch:
            line = (b'{"session":' + orjson.dumps(self.key) + b',"events":'
                    + orjson.dumps(batch) + b"}\n")
            self.buffer.append((self.now, line))

    def simple(self, type_name: str, fields: dict[str, Any] | None = None) -> None:
        """An event whose fields the caller spelled (signals, indicators, custom...)."""
        if self.cut:
            return
        tk = self._style()[0]
        self._put(type_name, {tk: type_name, **(fields or {})})

    # --- session -----------------------------------------------------------------------

    def session_start(self, campaign: str = "") -> None:
        if self.cut:
            return
        tk, t, f = self._style()
        self.started = True
        if self.status == "not_started":
            self.status = "active"
        self._put("AgentSessionStart", {
            tk: "AgentSessionStart",
            "BusNo": self.bus_no,
            "AgentId": self.agent_id,
            "SessionId": self.session_id,
            "StationPhoneNumber": self.station,
            "StationCallerId": "8013203200",
            "DialerCampaign": campaign,
            # present even without a campaign, as in the documentation's example
            "DialerCampaignStartTime": self.campaign_start,
            "SupervisorPermissionLevel": "4" if self.role == "supervisor" else "0",
            "CanMask": t if self.can_mask else f,
            "AgentSchedulePermission": t,
            "ScoreRecordingsPermission": t if self.role == "supervisor" else f,
            "HideAgentStatePermission": "",
            "CanMultiPartyConference": t,
        })

    def session_end(self) -> None:
        if self.cut:
            return
        tk, t, _ = self._style()
        self._end("AgentSessionEnd", None)
        self.end_event = True
        self._put("AgentSessionEnd", {tk: "AgentSessionEnd", "Success": t, "Message": ""})

    def remote_session_end(self) -> None:
        if self.cut:
            return
        self._end("RemoteAgentSessionEnd", "RemoteLogoff")
        self.remote_end = True
        self.simple("RemoteAgentSessionEnd", {"Message": "RemoteLogoff"})

    def _end(self, reason: str, message: str | None) -> None:
        if message and not self.end_message:
            self.end_message = message
        if self.status != "ended":
            self.status = "ended"
            self.end_reason = reason

    # --- agent state and leg -----------------------------------------------------------

    def state(self, current: str, reason: str = "", nexts: tuple[tuple[str, str], ...] = (),
              *, acw: bool = False, timeout: int = 0, start_ms: int | None = None) -> None:
        """Write an AgentState; StartTimeUTC moves only when state, reason or ACW change."""
        if self.cut:
            return
        if start_ms is None:
            same = (current, reason, acw) == (self.a_state, self.a_reason, self.a_acw)
            start_ms = self.a_since if same and self.a_since is not None else self.now
        fields = (current, reason, nexts, start_ms, acw, timeout)
        if fields == self.a_last:
            return  # nothing changed: the platform sends no event
        if acw and not (self.a_acw and self.a_state == current):
            self.a_acw_start = start_ms
        self.a_last = fields
        self.a_state, self.a_reason, self.a_next = current, reason, nexts
        self.a_since, self.a_acw, self.a_timeout = start_ms, acw, timeout
        tk, t, f = self._style()
        wire = {
            tk: "AgentState",
            "CurrentState": current,
            "CurrentOutReason": reason,
            "NextStates": [{"State": s, "OutReason": r} for s, r in nexts],
            "StartTimeUTC": _iso(start_ms),
            self.acw_key: t if acw else f,
            "AcwTimeout": str(timeout),
        }
        if self.extras:
            wire.update(self.extras)
        self._put("AgentState", wire)

    def to(self, target: tuple[str, str]) -> None:
        """The agent moves to ``target`` (state, out reason) with nothing pending."""
        self.state(target[0], target[1])

    def leg(self, status: str, *, final: bool = False) -> None:
        if self.cut:
            return
        if self.leg_id is None or self.leg_final:
            self.leg_id = self._id()
        self.leg_status, self.leg_final = status, final
        tk, t, f = self._style()
        self._put("AgentLeg", {tk: "AgentLeg", "AgentLegId": self.leg_id, "Status": status,
                               "FinalState": t if final else f})

    def agent_error(self, result: str, contact_id: str = "-1", command: str = "ReadyAgentLeg",
                    level: str = "Medium") -> None:
        self.simple("AgentError", {"Command": command, "ResultCode": result,
                                   "ContactID": contact_id, "Target": "AgentLeg",
                                   "ErrorLevel": level})

    # --- contacts ----------------------------------------------------------------------

    def new_contact(self, media: str, skill: str, *, inbound: bool | None = None,
                    call_type: str | None = None, acw: int | None = None,
                    started_ms: int | None = None) -> _Contact:
        """A contact to be (not yet written), with the fields that stay the same."""
        rng = self.rng
        contact = _Contact(self._id(), media, skill, self.now if started_ms is None else started_ms,
                           is_inbound=inbound, call_type=call_type, acw=acw)
        contact.started_iso = _iso(contact.started_ms)
        if media in ("call", "supervisor"):
            own, other = self.station, f"{rng.choice('3456789')}{rng.randrange(10**9):09d}"
            contact.dnis, contact.ani = (own, other) if inbound else (other, own)
            if media == "call" and rng.random() < 0.2:
                contact.master_id = str(int(contact.contact_id) - rng.randrange(1, 500))
        elif media == "chat":
            contact.room_id = str(self.serial)  # small, like the documentation's "2"
        return contact

    def contact(self, c: _Contact, status: str, *, final: bool = False, code: str = "NA",
                linked: bool | None = None, changed_ms: int | None = None) -> None:
        """Write a status event of ``c`` (a repeat of its status only to move IsLinked)."""
        if self.cut:
            return
        contacts = self.contacts
        cid = c.contact_id
        if cid not in contacts:
            contacts[cid] = c
        if changed_ms is not None or status != c.status or not c.changed_ms:
            c.changed_ms = self.now if changed_ms is None else changed_ms
            c.changed_iso = _iso(c.changed_ms)
        c.status = status
        media = c.media
        tk, t, f = self._style()
        if media == "call" or media == "supervisor":
            if linked is not None:
                c.is_linked = linked
            if c.is_linked and not final:
                self.linked = cid
            elif self.linked == cid:
                self.linked = None
            wire: dict[str, Any] = {
                tk: "CallContactEvent" if media == "call" else "SupervisorContact",
                "ContactID": cid,
                "Status": status,
                "OriginalState": f,
                "CallType": c.call_type,
                "DNIS": c.dnis,
                "ANI": c.ani,
                "Skill": c.skill,
                "IsInbound": t if c.is_inbound else f,
                "StartTimeUTC": c.started_iso,
                "LastStateChangeTimeUTC": c.changed_iso,
                "ScreenPopUrl": "",
                "DisconnectCode": code,
                "IsLogging": f,
                "Timeout": "",
                "AllowDispositions": t if media == "call" else f,
                "Label": "",
                "IsLinked": t if c.is_linked else f,
                "TimeZones": "",
                "FinalState": t if final else f,
                "OtherInformation": c.other,
            }
            if media == "call":
                wire["BlendingToSkillName"] = ""
                if c.master_id:
                    wire["MasterID"] = c.master_id
            else:
                self.monitor_contact = None if final else cid
        elif media == "chat":
            wire = {
                tk: "ChatContactEvent",
                "ContactID": cid,
                "RoomId": c.room_id,
                "Status": status,
                "Skill": c.skill,
                "StartTime": c.started_iso,
                "LastStateChangeTime": c.changed_iso,
                "ScreenPopUrl": "",
                "RefusalTimeout": "45",
                "IsActive": f if status == "Disconnected" else t,
                "Messages": list(c.messages),
                "FinalState": t if final else f,
            }
        elif media == "work_item":
            wire = {
                tk: "WorkItemContactEvent",
                "ContactID": cid,
                "Status": status,
                "WorkItemId": str(int(cid) % 100_000),
                "WorkItemPayload": '{"queries":[{"query":"SELECT ID FROM case WHERE '
                                   "Priority='Low'\"}]}",
                "WorkItemType": "Case",
                "AgentId": self.agent_id,
                "SkillId": c.skill,
                "StartTimeUTC": c.started_iso,
                "LastStateChangeTimeUTC": c.changed_iso,
                "ScreenPopUrl": f"https://crm.example.com/case?id={cid}",
                "ScreenPopUrlVariables": [{"caseId": cid}],
                "RefusalTimeout": "45",
                "FinalState": t if final else f,
            }
        elif media == "voicemail":
            wire = {
                tk: "VoiceMailContactEvent",
                "ContactID": cid,
                "Status": status,
                "Skill": c.skill,
                "FileName": f"voicemail/{cid}.wav",
                "StartTimeUTC": c.started_iso,
                "LastStateChangeTimeUTC": c.changed_iso,
                "FinalState": t if final else f,
            }
        else:
            wire = {
                tk: "DigitalContactEvent",
                "ContactID": cid,
                "Status": status,
                "Skill": c.skill,
                "IsInbound": t if c.is_inbound else f,
                "StartTimeUTC": c.started_iso,
                "LastStateChangeTimeUTC": c.changed_iso,
                "FinalState": t if final else f,
            }
        if self.extras:
            wire.update(self.extras)
        self._put(wire[tk], wire)
        if final:
            del contacts[cid]

    def chat_text(self, c: _Contact, party: str, text: str) -> None:
        if self.cut:
            return
        at = _iso(self.now)
        c.messages.append({"Text": text, "TimeStamp": at, "PartyType": party})
        label = {"Agent": "CustomAgentLabel", "Client": "CustomCallerLabel"}.get(party, "System")
        self.simple("ChatText", {"RoomId": c.room_id, "Label": label, "Message": text,
                                 "PartyType": party, "TimeStamp": at})

    def monitor_event(self, *, stop: bool) -> None:
        if self.cut:
            return
        tk, t, f = self._style()
        if stop:
            since = self.monitoring[1] if self.monitoring else self.now
            self.monitoring = None
        else:
            since = self.now
            self.monitoring = (self.target_agent_id, since)
        wire = {tk: "SupervisorMonitor", "MonitorStartTime": _iso(since),
                "TargetAgentId": self.target_agent_id, "FinalState": t if stop else f}
        if stop and self.rng.random() < 0.3:
            wire["FinalState"] = f  # the reported other way to stop: MonitorType
            wire["MonitorType"] = "StopMonitor"
        self._put("SupervisorMonitor", wire)

    # --- building blocks -------------------------------------------------------------------

    def nexts(self, acw: int | None, after: tuple[str, str]) -> tuple[tuple[str, str], ...]:
        """NextStates during a contact: on an ACW skill the ACW state, then the one after."""
        return (("Unavailable", ""), after) if acw is not None else (after,)

    def open_state(self, current: str, c: _Contact, after: tuple[str, str],
                   write_contact: Callable[[], None]) -> None:
        """A contact arrives and the agent's state follows; either may be written first."""
        if self.rng.random() < 0.5:
            self.state(current, "", self.nexts(c.acw, after))
            self.nudge(0.0, 0.3)
            write_contact()
        else:
            write_contact()
            self.nudge(0.0, 0.3)
            self.state(current, "", self.nexts(c.acw, after))

    def request_next(self, current: str, c: _Contact, after: tuple[str, str]) -> tuple[str, str]:
        """Sometimes the agent asks for a break during a contact: only NextStates change."""
        if self.rng.random() < 0.15 and after[0] != "Unavailable":
            after = ("Unavailable", self.rng.choice(_BREAKS))
            self.state(current, "", self.nexts(c.acw, after))
        return after

    def finish(self, c: _Contact, after: tuple[str, str], *, code: str = "NA",
               end: str = "Disconnected") -> None:
        """The contact ends, then its ACW (if its skill has one), and the agent moves on."""
        rng = self.rng
        acw = c.acw
        if acw is None:
            self.contact(c, end, final=True, code=code)
            self.wait(0.05, 1.5)
            self.to(after)
            return
        two_step = end == "Disconnected" and rng.random() < 0.6
        self.contact(c, end, final=not two_step, code=code)
        self.wait(0.05, 0.8)
        self.state("Unavailable", "", (after,), acw=True, timeout=acw)
        spent = rng.uniform(5, 150)
        if acw:
            spent = min(spent, acw)
        if rng.random() < 0.1 and after[0] != "Unavailable":
            self.wait(spent / 3)
            spent -= spent / 3
            after = ("Unavailable", rng.choice(_BREAKS))
            self.state("Unavailable", "", (after,), acw=True, timeout=acw)
        self.wait(spent)
        if two_step and rng.random() < 0.5:
            self.to(after)
            self.wait(0.0, 0.5)
            self.contact(c, end, final=True, code=code)
        elif two_step:
            self.contact(c, end, final=True, code=code)
            self.wait(0.0, 0.5)
            self.to(after)
        else:
            self.to(after)

    def settle(self) -> None:
        """After an episode: a break asked for during it is taken, then back to base."""
        if self.a_state == "Unavailable" and self.a_reason and not self.cut:
            self.wait(120, 600)
            self.state(self.base)
        elif self.a_state != self.base:
            self.state(self.base)

    def talk(self, c: _Contact, current: str, after: tuple[str, str]) -> tuple[str, str]:
        """The middle of a call: hold, masking, conferences, consults, mute, next states."""
        rng = self.rng
        for _ in range(rng.randint(1, 4)):
            self.wait(10, 120)
            roll = rng.random()
            if roll < 0.2:
                self.contact(c, "Holding")
                self.wait(10, 90)
                self.contact(c, "Active")
            elif roll < 0.28 and self.can_mask:
                self.contact(c, "Masking")
                self.wait(10, 60)
                self.contact(c, "Active")
            elif roll < 0.34:
                self.contact(c, "Joined")
                self.wait(20, 120)
                self.contact(c, "Active")
            elif roll < 0.44:
                self.consult(c, current, after)
            elif roll < 0.54:
                self.simple("Mute", {"AgentMuted": self._style()[1]})
                self.wait(3, 30)
                self.simple("Mute", {"AgentMuted": self._style()[2]})
            elif roll < 0.58:
                self.simple("PopURL", {"ContactId": c.contact_id,
                                       "URL": f"https://crm.example.com/contact?id={c.contact_id}"})
            after = self.request_next(current, c, after)
        return after

    def consult(self, c: _Contact, current: str, after: tuple[str, str]) -> None:
        """The agent holds the call and consults a colleague; maybe all three confer."""
        rng = self.rng
        self.contact(c, "Holding")
        self.wait(1, 5)
        b = self.new_contact("call", c.skill, inbound=False, call_type="Consult")
        self.contact(b, "Dialing")
        self.wait(0.0, 0.3)
        nexts = self.nexts(c.acw, after)
        self.state("OutboundConsult", "", nexts)
        self.wait(3, 15)
        if rng.random() < 0.1:
            self.contact(b, "Disconnected", final=True, code="NoAnswer")
        else:
            self.contact(b, "Active")
            self.wait(15, 90)
            if rng.random() < 0.3:
                self.contact(c, "Joined")
                self.contact(b, "Joined")
                self.wait(20, 120)
                self.contact(b, "Disconnected", final=True)
            else:
                self.contact(b, "Disconnected", final=True)
        self.wait(0.2, 2)
        self.contact(c, "Active")
        self.state(current, "", nexts)

    # --- episodes -----------------------------------------------------------------------

    def inbound_call(self) -> None:
        rng = self.rng
        skill = rng.choice(tuple(_INBOUND_SKILLS))
        c = self.new_contact("call", skill, inbound=True, call_type="Regular",
                             acw=_INBOUND_SKILLS[skill])
        after = (self.base, "")
        self.open_state("InboundContact", c, after, lambda: self.contact(c, "Incoming"))
        if rng.random() < 0.3:
            self.wait(0.5, 2)
            self.contact(c, "Ringing")
        if rng.random() < 0.05:
            self.wait(2, 20)
            self.contact(c, "Disconnected", final=True, code="CallAbandoned")
            self.wait(0.1, 1)
            self.to(after)
            return
        self.wait(1, 8)
        self.contact(c, "Active")
        after = self.talk(c, "InboundContact", after)
        code = "NA"
        if rng.random() < 0.1:
            self.wait(5, 30)
            reskill = self._style()[rng.choice((1, 2))]
            self.simple("HoursOfOperation", {"ShowContinueReskill": reskill})
            self.wait(2, 10)
            code = "TransferComplete"
        else:
            self.wait(10, 120)
        self.finish(c, after, code=code)

    def outbound_call(self, base: tuple[str, str] | None = None) -> None:
        rng = self.rng
        after = base or (self.base, "")
        skill = rng.choice(tuple(_OUTBOUND_SKILLS))
        preview = rng.random() < 0.25
        c = self.new_contact("call", skill, inbound=False,
                             call_type="Dialer" if preview else "Regular",
                             acw=_OUTBOUND_SKILLS[skill])
        if preview:
            self.contact(c, "Preview")
            self.wait(5, 30)
        self.state("OutboundContact", "", self.nexts(c.acw, after))
        self.nudge(0.1, 1)
        self.contact(c, "Dialing")
        self.wait(1, 4)
        if rng.random() < 0.5:
            self.contact(c, "Ringing")
            self.wait(3, 20)
        if rng.random() < 0.2:
            code = rng.choice(("Busy", "NoAnswer", "BadNumber"))
            self.agent_error(code, c.contact_id, command="Dial", level="Low")
            self.contact(c, "Disconnected", final=True, code=code)
            self.wait(0.5, 3)
            self.to(after)
            return
        self.contact(c, "Active")
        after = self.talk(c, "OutboundContact", after)
        self.wait(10, 90)
        self.finish(c, after)

    def callbacks(self) -> None:
        """Unavailable for callbacks: manual outbound calls from Unavailable, then back."""
        block = ("Unavailable", "Callbacks")
        self.to(block)
        for _ in range(self.rng.randint(1, 2)):
            self.wait(5, 30)
            self.outbound_call(block)
            if self.a_state == "Unavailable" and self.a_reason != "Callbacks":
                break
        self.wait(5, 30)

    def inbound_consult(self) -> None:
        """A colleague consults this (available) agent."""
        c = self.new_contact("call", self.rng.choice(tuple(_INBOUND_SKILLS)), inbound=True,
                             call_type="Consult")
        self.contact(c, "Incoming")
        self.wait(0.1, 0.5)
        self.state("InboundConsult", "", ((self.base, ""),))
        self.wait(2, 6)
        self.contact(c, "Active")
        self.wait(20, 120)
        self.contact(c, "Disconnected", final=True)
        self.wait(0.1, 1)
        self.state(self.base)

    def chat(self) -> None:
        rng = self.rng
        skill = rng.choice(tuple(_CHAT_SKILLS))
        acw = _CHAT_SKILLS[skill]
        chats = [self.new_contact("chat", skill, acw=acw)]
        after = (self.base, "")
        first = chats[0]
        first.messages.append({"Text": rng.choice(_CLIENT_LINES), "TimeStamp": _iso(self.now),
                               "PartyType": "Client"})
        self.open_state("InboundContact", first, after, lambda: self.contact(first, "Incoming"))
        self.wait(2, 10)
        self.contact(first, "Active")
        for turn in range(rng.randint(3, 10)):
            self.wait(4, 40)
            if turn == 2 and len(chats) == 1 and rng.random() < 0.3:
                second = self.new_contact("chat", skill, acw=acw)
                second.messages.append({"Text": rng.choice(_CLIENT_LINES),
                                        "TimeStamp": _iso(self.now), "PartyType": "Client"})
                self.contact(second, "Incoming")
                self.wait(2, 8)
                self.contact(second, "Active")
                chats.append(second)
                continue
            c = rng.choice(chats)
            if rng.random() < 0.08:
                self.contact(c, "Holding")
                self.wait(10, 60)
                self.contact(c, "Active")
                continue
            party = "Agent" if turn % 2 else "Client"
            lines = _AGENT_LINES if party == "Agent" else _CLIENT_LINES
            self.chat_text(c, party, rng.choice(lines))
            after = self.request_next("InboundContact", c, after)
        for c in chats:
            self.wait(2, 20)
            self.chat_text(c, "System", "$Localized:ChatSessionEnded")
            self.wait(0.2, 1)
            if c is chats[-1]:
                self.finish(c, after)
            else:
                self.contact(c, "Disconnected", final=True)

    def work_item(self) -> None:
        rng = self.rng
        c = self.new_contact("work_item", _WORK_SKILL)
        after = (self.base, "")
        self.open_state("InboundContact", c, after, lambda: self.contact(c, "Incoming"))
        self.simple("PageOpen", {"ContactID": c.contact_id, "Action": "OPEN",
                                 "PageUri": "http://eng-ngpcl07/WebScripting/Default.aspx?id="
                                            f"{self.agent_id}&__ContactID={c.contact_id}"
                                            f"&__bus_no={self.bus_no}&__type=OPEN"})
        self.wait(3, 30)
        self.contact(c, "Active")
        self.wait(30, 200)
        if rng.random() < 0.2:
            self.contact(c, rng.choice(("Holding", "Interrupted")))
            self.wait(10, 90)
            self.contact(c, "Active")
            self.wait(10, 100)
        self.contact(c, "Transfer" if rng.random() < 0.15 else "Disconnected", final=True)
        self.wait(0.1, 1)
        self.to(after)

    def refused_work_item(self) -> None:
        """A work item offered and not accepted within its RefusalTimeout."""
        c = self.new_contact("work_item", _WORK_SKILL)
        self.contact(c, "Incoming")
        self.wait(45)
        self.contact(c, "Disconnected", final=True)
        self.wait(0.1, 1)
        self.state("Refused", "", ((self.base, ""),))
        self.wait(5, 30)
        self.state(self.base)

    def voicemail(self) -> None:
        rng = self.rng
        c = self.new_contact("voicemail", _VOICEMAIL_SKILL, started_ms=self.now - 60_000)
        after = (self.base, "")
        self.open_state("InboundContact", c, after, lambda: self.contact(c, "Incoming"))
        self.wait(2, 15)
        self.contact(c, "Active")
        self.wait(20, 120)
        if rng.random() < 0.2:
            self.contact(c, "Holding")
            self.wait(10, 60)
            self.contact(c, "Active")
            self.wait(5, 30)
        self.contact(c, "Discarded" if rng.random() < 0.4 else "Disconnected", final=True)
        self.wait(0.1, 1)
        self.to(after)

    def digital(self) -> None:
        rng = self.rng
        skill = rng.choice(tuple(_DIGITAL_SKILLS))
        c = self.new_contact("digital", skill, inbound=True, acw=_DIGITAL_SKILLS[skill])
        after = (self.base, "")
        self.open_state("InboundContact", c, after, lambda: self.contact(c, "Incoming"))
        self.wait(2, 20)
        self.contact(c, "Active")
        self.wait(30, 300)
        if rng.random() < 0.25:
            self.contact(c, rng.choice(("Holding", "Interrupted")))
            self.wait(10, 120)
            self.contact(c, "Active")
            self.wait(10, 60)
        after = self.request_next("InboundContact", c, after)
        self.finish(c, after)

    def take_break(self) -> None:
        self.state("Unavailable", self.rng.choice(_BREAKS))
        self.wait(120, 900)
        self.state(self.base)

    def misc(self) -> None:
        rng = self.rng
        for _ in range(rng.randint(1, 3)):
            roll = rng.random()
            if roll < 0.3:
                self.simple(rng.choice(_SIGNALS))
            elif roll < 0.5:
                self.simple("Indicator", {
                    "Name": rng.choice(("IndTest", "QueueAlert", "Recording")),
                    "ImageUri": "https://www.example.com/images/computer.png",
                    "ActionType": "OpenURL",
                    "ActionUri": "http://www.incontact.com/",
                    "ToolTip": "test123",
                    "IndicatorState": rng.choice(("On", "Off")),
                })
            elif roll < 0.7:
                data_key = "data" if rng.random() < 0.7 else "Data"
                self.simple("CustomEvent", {"eventName": rng.choice(("FavoriteColor", "CrmSync")),
                                            data_key: rng.choice(("blue", "green", "id=42"))})
            elif roll < 0.82:
                self.unknown_event()
            elif roll < 0.9:
                self.agent_error(rng.choice(("Failed", "InvalidState")), command="SetState",
                                 level="Low")
            elif roll < 0.95 and self.role == "dialer":
                self.simple("NaturalCallingSkillList", {"Empty": self._style()[2]})
            self.wait(1, 20)

    def unknown_event(self) -> None:
        """An event type the documentation does not list (the engine warns, keeps it)."""
        if self.cut:
            return
        rng = self.rng
        kind = rng.randrange(4)
        if kind == 0:
            fields: dict[str, Any] = {"ContactId": self._id(), "FileName": "vm.wav",
                                      "PlayBackPosition": str(rng.randrange(60))}
            name = "VoiceMailPlayBackEvent"
        elif kind == 1:
            fields = {"ContactId": self._id(), "Name": "OpenCrm", "Parameters": "id=7"}
            name = "RunApp"
        elif kind == 2:
            fields = {"AgentId": self.agent_id, "Settings": {"MaxChats": "3"}}
            name = "MchAgentSettingsChangeEvent"
        else:
            fields = {"ContactId": self._id(), "Suggestion": "Offer a discount"}
            name = "AgentAssist"
        self.unknown += 1
        self.simple(name, fields)

    def leg_reconnect(self) -> None:
        """The station hangs up; the platform calls it again on a new agent leg."""
        self.leg("Disconnected", final=True)
        self.wait(2, 10)
        self.leg("Dialing")
        self.wait(2, 8)
        if self.rng.random() < 0.3:
            self.agent_error("NoAnswer")
            self.wait(5, 10)
        self.leg("Active")

    def low_list(self) -> None:
        """The Personal Connection list runs low; when empty, the agent leaves the campaign."""
        empty = self.rng.random() < 0.3
        _, t, f = self._style()
        self.simple("NaturalCallingSkillList", {"Empty": t if empty else f})
        if empty and not self.cut:
            self.wait(1, 5)
            self.base = "Available"
            self.state("Available")

    def dialer_round(self) -> None:
        """Personal Connection places 1-3 calls at once; the agent's voice path is linked
        to one of them (IsLinked), and the link moves to whichever is likeliest to connect."""
        rng = self.rng
        if self.a_state != "Dialer":
            self.state("Dialer")
        calls = [self.new_contact("call", _PC_SKILL, inbound=False, call_type="NaturalCalling",
                                  acw=rng.choice(_PC_ACW))
                 for _ in range(rng.choice((1, 2, 2, 3, 3)))]
        plan: list[tuple[int, int, _Contact, str, str]] = []
        for i, c in enumerate(calls):
            c.other = f"<b>Account</b> {rng.randrange(10**6):06d}"
            at = i * rng.randint(50, 400)
            plan.append((at, len(plan), c, "dial", ""))
            outcome = rng.choices(("live", "machine", "noanswer", "busy", "badnumber"),
                                  (35, 15, 30, 12, 8))[0]
            if outcome in ("busy", "badnumber"):
                code = "Busy" if outcome == "busy" else "BadNumber"
                plan.append((at + rng.randint(500, 3000), len(plan), c, "end", code))
                continue
            at += rng.randint(800, 3000)
            plan.append((at, len(plan), c, "ring", ""))
            if outcome == "noanswer":
                plan.append((at + rng.randint(15_000, 30_000), len(plan), c, "end", "NoAnswer"))
                continue
            at += rng.randint(2000, 15_000)
            plan.append((at, len(plan), c, "amd", ""))
            at += rng.randint(500, 2500)
            if outcome == "live":
                plan.append((at, len(plan), c, "live", ""))
            else:
                plan.append((at, len(plan), c, "end", "AnsweringMachine"))
        plan.sort(key=lambda step: (step[0], step[1]))
        start = self.now
        connected: _Contact | None = None
        for at, _, c, action, code in plan:
            if start + at > self.now:
                self.wait((start + at - self.now) / 1000)
            if action == "dial":
                c.started_ms, c.started_iso = self.now, _iso(self.now)  # placed just now
                self.contact(c, "NaturalCallDialing", linked=self.linked is None)
            elif action == "ring":
                self.contact(c, "NaturalCallRinging")
            elif action == "amd":
                current = self.contacts.get(self.linked or "")
                if connected is None and (current is None or current.status != "NaturalCallAMD"):
                    self.unlink(c)
                    self.contact(c, "NaturalCallAMD", linked=True)
                else:
                    self.contact(c, "NaturalCallAMD")
            elif action == "live" and connected is None:
                self.unlink(c)
                self.contact(c, "Active", linked=True)
                self.wait(0.0, 0.3)
                self.state("OutboundContact", "", self.nexts(c.acw, ("Dialer", "")))
                connected = c
            else:
                was_linked = c.is_linked
                self.contact(c, "Disconnected", final=True, linked=False,
                             code="CallAbandoned" if action == "live" else code)
                if was_linked and connected is None:
                    self.relink(calls)
        if connected is None or connected.status != "Active":
            self.wait(3, 20)
            return
        after = self.talk(connected, "OutboundContact", ("Dialer", ""))
        self.wait(10, 60)
        if rng.random() < 0.1:
            self.finish(connected, after, end="CallBackDisconnected")
        else:
            self.finish(connected, after)
        self.wait(2, 10)

    def unlink(self, keep: _Contact) -> None:
        """The linked call (if another) loses the link: a repeat of its status says so."""
        current = self.contacts.get(self.linked or "")
        if current is not None and current is not keep:
            self.contact(current, current.status, linked=False)

    def relink(self, calls: list[_Contact]) -> None:
        """The linked call ended: the link moves to the likeliest call still open."""
        if self.linked is not None:
            return
        open_calls = [c for c in calls if c.contact_id in self.contacts]
        if open_calls:
            best = max(open_calls, key=lambda c: c.status == "NaturalCallAMD")
            self.contact(best, best.status, linked=True)

    def monitor(self) -> None:
        """A supervisor monitors a colleague, maybe barges in, maybe takes the call over."""
        rng = self.rng
        sc = self.new_contact("supervisor", _MONITOR_SKILL, inbound=False, call_type="Regular",
                              started_ms=self.now - rng.randint(300, 1500))
        self.contact(sc, "Active")
        self.wait(1, 6)
        self.monitor_event(stop=False)
        self.wait(30, 240)
        if rng.random() < 0.3:
            self.contact(sc, "Joined")
            self.wait(10, 60)
        if rng.random() < 0.4:
            self.simple("TakeOver", {"ContactID": str(6_550_071_000 + rng.randrange(1000)),
                                     "TakeOverDate": _iso(self.now)})
            self.wait(0.1, 1)
            c = self.new_contact("call", _MONITOR_SKILL, inbound=True, call_type="TakeOver")
            self.contact(c, "Active")
            self.contact(sc, "Disconnected", final=True)
            self.monitor_event(stop=True)
            self.wait(0.1, 0.5)
            self.state("InboundContact", "", ((self.base, ""),))
            self.wait(30, 200)
            self.finish(c, (self.base, ""))
            return
        if sc.status == "Joined":
            self.contact(sc, "Active")
            self.wait(5, 30)
        self.contact(sc, "Disconnected", final=True)
        self.wait(0.1, 1)
        self.monitor_event(stop=True)

    # --- session lifecycles -------------------------------------------------------------

    def login(self) -> None:
        rng = self.rng
        dialer = self.role == "dialer"
        self.session_start("PC-Renewals" if dialer else "")
        self.wait(0.0, 0.5)
        if rng.random() < 0.5:
            self.state("LoggedIn")
            self.wait(0.2, 2)
        self.state("Unavailable", "", (("Unavailable", ""),))
        self.leg("Dialing")
        self.wait(2, 10)
        if rng.random() < 0.15:
            self.agent_error("NoAnswer")
            self.wait(5, 15)
        self.leg("Active")
        for name in rng.sample(_SIGNALS[:2], rng.randint(0, 2)):
            self.simple(name)
        self.wait(1, 30)
        if dialer and rng.random() < 0.5:
            self.state("DialerPending")
            self.wait(2, 10)
        self.state(self.base)

    def join(self) -> None:
        """The recorder joins a running session: one batch replays its current state,
        AgentSessionStart somewhere after the first event, contacts in middle statuses."""
        rng = self.rng
        now = self.now
        steps: list[Callable[[], None]] = []
        follow: Callable[[], None] | None = None
        answered = now - rng.randint(20_000, 300_000)
        if self.role == "dialer":
            if rng.random() < 0.5:
                c = self.new_contact("call", _PC_SKILL, inbound=False, call_type="NaturalCalling",
                                     acw=rng.choice(_PC_ACW), started_ms=answered - 9000)
                nexts = self.nexts(c.acw, ("Dialer", ""))
                steps.append(lambda: self.state("OutboundContact", "", nexts, start_ms=answered))
                steps.append(lambda: self.contact(c, "Active", linked=True, changed_ms=answered))

                def end_call() -> None:
                    self.wait(10, 90)
                    self.finish(c, ("Dialer", ""))

                follow = end_call
            else:
                steps.append(lambda: self.state("Dialer", start_ms=answered))
        else:
            kind = rng.choice(("call", "call", "acw", "idle"))
            skill = rng.choice(("1507", "1508"))
            c = self.new_contact("call", skill, inbound=True, call_type="Regular",
                                 acw=_INBOUND_SKILLS[skill], started_ms=answered - 7000)
            after = (self.base, "")
            if kind == "call":
                status = rng.choice(("Active", "Holding", "Joined"))
                changed = now - rng.randint(1000, 15_000)
                nexts = self.nexts(c.acw, after)
                steps.append(lambda: self.state("InboundContact", "", nexts, start_ms=answered))
                steps.append(lambda: self.contact(c, status, changed_ms=changed))

                def go_on() -> None:
                    if c.status != "Active":
                        self.wait(5, 60)
                        self.contact(c, "Active")
                    next_after = self.talk(c, "InboundContact", after)
                    self.wait(10, 60)
                    self.finish(c, next_after)

                follow = go_on
            elif kind == "acw":
                ended = now - rng.randint(1000, 10_000)
                timeout = c.acw or 0
                steps.append(lambda: self.contact(c, "Disconnected", changed_ms=ended))
                steps.append(lambda: self.state("Unavailable", "", (after,), acw=True,
                                                timeout=timeout, start_ms=ended + 300))

                def end_acw() -> None:
                    self.wait(2, 25)
                    self.contact(c, "Disconnected", final=True)
                    self.wait(0.0, 0.5)
                    self.to(after)

                follow = end_acw
            else:
                steps.append(lambda: self.state("Available", start_ms=answered))
        steps.insert(rng.randrange(len(steps) + 1), lambda: self.leg("Active"))
        if rng.random() < 0.5:
            steps.append(lambda: self.simple("Indicator", {
                "Name": "IndTest", "ImageUri": "https://www.example.com/images/computer.png",
                "ActionType": "OpenURL", "ActionUri": "http://www.incontact.com/",
                "ToolTip": "test123", "IndicatorState": "On"}))
        campaign = "PC-Renewals" if self.role == "dialer" else ""
        steps.insert(rng.randint(1, len(steps)), lambda: self.session_start(campaign))
        self.begin_batch()
        for step in steps:
            step()
        self.end_batch()
        if follow is not None:
            follow()

    def logout(self) -> None:
        if self.exit == "logout":
            self.state("LoggedOut")
            self.wait(0.1, 1)
            self.leg("Disconnected", final=True)
            self.wait(0.0, 0.5)
            self.session_end()
        else:
            self.remote_session_end()
            if self.exit == "remote":
                self.wait(0.0, 0.5)
                self.session_end()

    def _script(self) -> Iterator[None]:
        if self.entry == "join":
            self.join()
            self.settle()
        else:
            self.login()
        yield
        names, cumulative = _PLAYS[self.role]
        while not self.cut and (self.exit == "stay" or self.now < self.logout_at):
            self.wait(self.rng.expovariate(1 / 40))
            if self.role == "dialer" and self.base != "Dialer":
                self.role = "blended"  # the list ran dry: the agent works as a blended agent
                names, cumulative = _PLAYS[self.role]
            name = self.rng.choices(names, cum_weights=cumulative)[0]
            getattr(self, name)()
            self.settle()
            yield
        if not self.cut:
            self.wait(1, 30)
            self.logout()
        yield

    # --- the model, read out ------------------------------------------------------------

    def expected(self) -> ExpectedSession:
        agent_state = None
        if self.a_state is not None:
            deadline = None
            if self.a_acw and self.a_timeout and self.a_acw_start is not None:
                deadline = _dt(self.a_acw_start + self.a_timeout * 1000)
            agent_state = ExpectedAgentState(
                self.a_state, self.a_reason, _dt(self.a_since), self.a_acw, self.a_timeout,
                deadline, self.a_next)
        leg = ExpectedLeg(self.leg_id, self.leg_status, self.leg_final) if self.leg_id else None
        contacts = tuple(
            ExpectedContact(
                c.contact_id, c.media, c.status, c.status == "Disconnected", c.is_linked,
                c.is_inbound, c.call_type, c.skill, _dt(c.started_ms), _dt(c.changed_ms))
            for c in self.contacts.values()
        )
        monitoring = None
        if self.monitoring is not None:
            monitoring = ExpectedMonitoring(self.monitoring[0], _dt(self.monitoring[1]),
                                            self.monitor_contact)
        warnings: dict[str, int] = {}
        if self.unknown:
            warnings["unknown-event-type"] = self.unknown
        if self.remote_end and not self.end_event:
            warnings["remote-end-without-end"] = 1
        started = self.started
        return ExpectedSession(
            self.key, self.session_id if started else None, self.agent_id if started else None,
            self.bus_no if started else None, self.status, self.end_reason, self.end_message,
            agent_state, leg, contacts, self.linked, monitoring, self.events, warnings)


class Simulation:
    """``agents`` simulated agent sessions over ``minutes`` of server time from ``start``.

    Iterate :meth:`lines` (or call :meth:`write`) once; afterwards :meth:`expected` holds
    each session's final state and :attr:`summary` the counts.
    """

    def __init__(self, agents: int, seed: int, minutes: float = 60.0,
                 start: datetime = DEFAULT_START) -> None:
        if agents < 1:
            raise ValueError(f"agents must be at least 1, got {agents}")
        if not minutes > 0:
            raise ValueError(f"minutes must be positive, got {minutes}")
        if start.tzinfo is None:
            raise ValueError("start must be an aware datetime (UTC)")
        self.agents = agents
        self.seed = seed
        self.minutes = minutes
        self.start = start
        self._start_ms = _ms(start)
        self._end_ms = self._start_ms + int(minutes * 60_000)
        self._counts: dict[str, int] = {}
        self._lines = 0
        self._done = False
        self._started = False
        master = random.Random(seed)
        # One stream per agent, drawn in agent order: an agent's events do not depend on
        # how the others interleave with it.
        self._agents = [_Agent(self, i, master.getrandbits(64)) for i in range(agents)]

    def lines(self) -> Iterator[bytes]:
        """Every JSON Lines line (``\\n``-terminated), sessions merged by server time."""
        if self._started:
            raise RuntimeError("a Simulation runs once; make a new one to run again")
        self._started = True
        agents = self._agents
        heap: list[tuple[int, int]] = []
        for i, agent in enumerate(agents):
            at = agent.next_time()
            if at is not None:
                heap.append((at, i))
        heapq.heapify(heap)
        while heap:
            _, i = heap[0]
            agent = agents[i]
            yield agent.buffer.popleft()[1]
            self._lines += 1
            at = agent.next_time()
            if at is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (at, i))
        self._done = True

    def write(self, stream: IO[bytes]) -> Summary:
        """Write every line to ``stream``; return the summary."""
        write = stream.write
        for line in self.lines():
            write(line)
        return self.summary

    @property
    def summary(self) -> Summary:
        return Summary(
            agents=self.agents, seed=self.seed, minutes=self.minutes, start=self.start,
            events=sum(self._counts.values()), lines=self._lines,
            sessions=sum(1 for a in self._agents if a.events),
            types=dict(sorted(self._counts.items())),
        )

    def expected(self) -> dict[str, ExpectedSession]:
        """Each session's final state, as the simulator made it (sessions with events)."""
        if not self._done:
            raise RuntimeError("the simulation has not run to its end yet")
        return {a.key: a.expected() for a in self._agents if a.events}


def simulate(stream: IO[bytes], *, agents: int, seed: int, minutes: float = 60.0,
             start: datetime = DEFAULT_START) -> tuple[Summary, dict[str, ExpectedSession]]:
    """Write a simulated stream to ``stream``; return the summary and the expectations."""
    simulation = Simulation(agents, seed, minutes, start)
    summary = simulation.write(stream)
    return summary, simulation.expected()
