"""One agent session as the simulator writes it: its identity and habits, its clock, its
output buffer, and the *model* of what the events written so far say.

Every event goes through :meth:`SessionWriter.emit`: a typed event from
:mod:`session_fsm.wire.events`, encoded by the codec and spelled as this session's habits
have it (:mod:`.spelling`). The writing methods (:meth:`~SessionWriter.state`,
:meth:`~SessionWriter.contact`...) update the model exactly as far as the event they
write says, so a session cut off by the end of the window is known in the state its last
event left it: :meth:`SessionWriter.expected`.

Once the clock passes the window's end (``cut``) nothing more is written. The random
draws happen in a fixed order, which is what makes one seed one stream: a change in
their order changes every event after it.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import orjson

from ..wire.events import (
    AgentError,
    AgentLeg,
    AgentSessionEnd,
    AgentSessionStart,
    AgentState,
    ChatMessage,
    ChatText,
    Event,
    HttpSessionEnded,
    NextState,
    RemoteAgentSessionEnd,
    SupervisorMonitor,
    UnknownEvent,
)
from .cast import CAST
from .clock import datetime_of
from .contacts import Contact
from .expected import (
    ExpectedAgentState,
    ExpectedContact,
    ExpectedLeg,
    ExpectedMonitoring,
    ExpectedSession,
)
from .spelling import PLAIN, QUIRKS, Spelling, spelled

Next = tuple[tuple[str, str], ...]
"""NextStates as (state, out reason) pairs."""


@lru_cache(maxsize=256)
def _next_states(nexts: Next) -> tuple[NextState, ...]:
    # a session moves between a handful of these; one frozen value each
    return tuple(NextState(state=state, out_reason=reason) for state, reason in nexts)


class SessionWriter:
    """One agent session's identity, clock, output buffer and model."""

    def __init__(self, idx: int, seed: int, *, start_ms: int, end_ms: int,
                 counts: dict[str, int], intended_warnings: bool = False) -> None:
        rng = self.rng = random.Random(seed)
        self.idx = idx
        self.intended_warnings = intended_warnings
        """Also write what the engine warns about on purpose (see INTENDED_WARNINGS)."""
        self.counts = counts
        self.window_end = end_ms
        self.key = f"agent-{idx:05d}"
        self.prefix = b'{"session":' + orjson.dumps(self.key) + b',"event":'
        self.role, self.entry, self.exit = CAST[idx % len(CAST)]
        window = end_ms - start_ms
        self.now = start_ms + int(rng.uniform(0, min(60_000, window / 10)))
        self.logout_at = start_ms + int(window * rng.uniform(0.4, 0.9))
        self.cut = False
        self.buffer: deque[tuple[int, bytes]] = deque()
        self.batch: list[dict[str, Any]] | None = None
        # the live stream's habits, per session
        self.quirks = rng.choice((0.0, 0.0, 0.03, 0.15))
        self.acw_renames = {"IsAcw": "IsACW"} if rng.random() < 0.2 else None
        self.extras: Mapping[str, str] = {}
        if rng.random() < 0.3:
            self.extras = {"IISHost": f"C{rng.randrange(10, 60)}-IIS-{rng.randrange(1, 9):02d}",
                           "VCHost": f"C{rng.randrange(10, 60)}-VC-{rng.randrange(1, 9):02d}"}
        self.agent_id = str(12214 + idx)
        self.session_id = str(58_070_815 + idx * 1009 + rng.randrange(1000))
        self.bus_no = "4500"
        self.station = f"801{rng.randrange(10**7):07d}"
        self.campaign_start = datetime_of(start_ms - 1_800_000)
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
        self.a_next: Next = ()
        self.a_last: tuple[Any, ...] | None = None
        self.leg_id: str | None = None
        self.leg_status = ""
        self.leg_final = False
        self.contacts: dict[str, Contact] = {}
        self.last_event: Event | None = None
        """The last event written, to never write the same one twice in a row."""
        self.linked: str | None = None
        self.monitoring: tuple[str, int] | None = None
        self.monitor_contact: str | None = None

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

    def style(self) -> Spelling:
        """How the next event is spelled: mostly as documented, now and then not."""
        quirks = self.quirks
        if quirks:
            r = self.rng.random()
            if r < quirks:
                return QUIRKS[int(r / quirks * len(QUIRKS))]
        return PLAIN

    def emit(self, event: Event, spelling: Spelling | None = None, *,
             values: Spelling | None = None, renames: Mapping[str, str] | None = None) -> None:
        """Write ``event``, spelled as drawn here, or as ``spelling`` when the caller drew
        it earlier (draws happen in a fixed order: the seed's stream depends on it).

        ``values`` spells the booleans when their spelling was drawn apart from the tag's:
        the events that carry one boolean value (Mute, Empty, ShowContinueReskill) draw
        it first. ``renames`` gives keys another casing (``{"IsAcw": "IsACW"}``).
        """
        if self.cut:
            return
        wire = spelled(event, spelling or self.style(), values=values, renames=renames)
        if self.batch is None and event == self.last_event:
            # The same event again in a response of its own is that response delivered
            # twice (the engine says so): the simulator writes distinct responses, so a
            # signal or indicator drawn twice in a row is written once.
            return
        self.last_event = event
        name = event.type if isinstance(event, UnknownEvent) else event.TYPE
        self.events += 1
        counts = self.counts
        counts[name] = counts.get(name, 0) + 1
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

    # --- session -----------------------------------------------------------------------

    def session_start(self, campaign: str = "") -> None:
        if self.cut:
            return
        self.started = True
        if self.status == "not_started":
            self.status = "active"
        supervisor = self.role == "supervisor"
        self.emit(AgentSessionStart(
            bus_no=self.bus_no, agent_id=self.agent_id, session_id=self.session_id,
            station_phone_number=self.station, station_caller_id="8013203200",
            dialer_campaign=campaign,
            # present even without a campaign, as in the documentation's example
            dialer_campaign_start_time=self.campaign_start,
            supervisor_permission_level=4 if supervisor else 0, can_mask=self.can_mask,
            agent_schedule_permission=True, score_recordings_permission=supervisor,
            can_multi_party_conference=True))

    def session_end(self) -> None:
        if self.cut:
            return
        self._end("AgentSessionEnd", None)
        self.end_event = True
        self.emit(AgentSessionEnd(success=True, message=""))

    def remote_session_end(self) -> None:
        if self.cut:
            return
        self._end("RemoteAgentSessionEnd", "RemoteLogoff")
        self.remote_end = True
        self.emit(RemoteAgentSessionEnd(message="RemoteLogoff"))

    def _end(self, reason: str, message: str | None) -> None:
        if message and not self.end_message:
            self.end_message = message
        if self.status != "ended":
            self.status = "ended"
            self.end_reason = reason

    # --- agent state and leg -----------------------------------------------------------

    def state(self, current: str, reason: str = "", nexts: Next = (), *, acw: bool = False,
              timeout: int = 0, start_ms: int | None = None) -> None:
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
        self.emit(AgentState(
            current_state=current, current_out_reason=reason, next_states=_next_states(nexts),
            start_time=datetime_of(start_ms), is_acw=acw, acw_timeout=timeout,
            extra=self.extras), renames=self.acw_renames)

    def to(self, target: tuple[str, str]) -> None:
        """The agent moves to ``target`` (state, out reason) with nothing pending."""
        self.state(target[0], target[1])

    def leg(self, status: str, *, final: bool = False) -> None:
        if self.cut:
            return
        if self.leg_id is None or self.leg_final:
            self.leg_id = self._id()
        self.leg_status, self.leg_final = status, final
        self.emit(AgentLeg(agent_leg_id=self.leg_id, status=status, final_state=final))

    def agent_error(self, result: str, contact_id: str = "-1", command: str = "ReadyAgentLeg",
                    level: str = "Medium") -> None:
        self.emit(AgentError(command=command, result_code=result, contact_id=contact_id,
                             target="AgentLeg", error_level=level))

    def recorded_409(self) -> None:
        """The recorder's poll answered 409 (the session is over) and it wrote the line
        ``follow --record`` writes for it: the end the purged AgentSessionEnd never told."""
        if self.cut:
            return
        self._end("409", None)
        self.end_event = True
        self.emit(HttpSessionEnded(http_status=409, session_id=self.session_id))

    def unlisted_event(self, name: str, fields: dict[str, Any]) -> None:
        """An event of a type nobody lists (the engine warns, keeps it)."""
        if self.cut:
            return
        self.unknown += 1
        self.emit(UnknownEvent(type=name, raw={"Type": name, **fields}))

    # --- contacts ----------------------------------------------------------------------

    def new_contact(self, media: str, skill: str, *, inbound: bool | None = None,
                    call_type: str | None = None, acw: int | None = None,
                    started_ms: int | None = None) -> Contact:
        """A contact to be (not yet written), with the fields that stay the same."""
        rng = self.rng
        contact = Contact(self._id(), media, skill,
                          datetime_of(self.now if started_ms is None else started_ms),
                          self.agent_id, self.extras, is_inbound=inbound, call_type=call_type,
                          acw=acw)
        if media in ("call", "supervisor"):
            own, other = self.station, f"{rng.choice('3456789')}{rng.randrange(10**9):09d}"
            contact.dnis, contact.ani = (own, other) if inbound else (other, own)
            if media == "call" and rng.random() < 0.2:
                master_id = str(int(contact.contact_id) - rng.randrange(1, 500))
                contact.extra = {"MasterID": master_id, **self.extras}
        elif media == "chat":
            contact.room_id = str(self.serial)  # small, like the documentation's "2"
        return contact

    def contact(self, c: Contact, status: str, *, final: bool = False, code: str = "NA",
                linked: bool | None = None, changed_ms: int | None = None) -> None:
        """Write a status event of ``c`` (a repeat of its status only to move IsLinked)."""
        if self.cut:
            return
        contacts = self.contacts
        cid = c.contact_id
        if cid not in contacts:
            contacts[cid] = c
        if changed_ms is not None or status != c.status or c.changed is None:
            c.changed = datetime_of(self.now if changed_ms is None else changed_ms)
        c.status = status
        media = c.media
        if media == "call" or media == "supervisor":
            if linked is not None:
                c.is_linked = linked
            if c.is_linked and not final:
                self.linked = cid
            elif self.linked == cid:
                self.linked = None
            if media == "supervisor":
                self.monitor_contact = None if final else cid
        self.emit(c.event(final=final, code=code))
        if final:
            del contacts[cid]

    def chat_text(self, c: Contact, party: str, text: str) -> None:
        if self.cut:
            return
        at = datetime_of(self.now)
        c.messages.append(ChatMessage(text=text, time_stamp=at, party_type=party))
        label = {"Agent": "CustomAgentLabel", "Client": "CustomCallerLabel"}.get(party, "System")
        self.emit(ChatText(room_id=c.room_id, label=label, message=text, party_type=party,
                           time_stamp=at))

    def monitor_event(self, *, stop: bool) -> None:
        if self.cut:
            return
        spelling = self.style()
        if stop:
            since = self.monitoring[1] if self.monitoring else self.now
            self.monitoring = None
        else:
            since = self.now
            self.monitoring = (self.target_agent_id, since)
        # the reported other way to stop: FinalState False and MonitorType StopMonitor
        by_type = stop and self.rng.random() < 0.3
        self.emit(SupervisorMonitor(
            monitor_start_time=datetime_of(since), target_agent_id=self.target_agent_id,
            final_state=stop and not by_type, monitor_type="StopMonitor" if by_type else None),
            spelling)

    # --- the model, read out ------------------------------------------------------------

    def expected(self) -> ExpectedSession:
        agent_state = None
        if self.a_state is not None:
            deadline = None
            if self.a_acw and self.a_timeout and self.a_acw_start is not None:
                deadline = datetime_of(self.a_acw_start + self.a_timeout * 1000)
            agent_state = ExpectedAgentState(
                self.a_state, self.a_reason,
                None if self.a_since is None else datetime_of(self.a_since), self.a_acw,
                self.a_timeout, deadline, self.a_next)
        if self.status == "ended" and (agent_state is None or agent_state.state != "LoggedOut"):
            # an ended session's agent is logged out, whatever state the stream said last
            agent_state = ExpectedAgentState("LoggedOut", "", None, False, None, None, ())
        leg = ExpectedLeg(self.leg_id, self.leg_status, self.leg_final) if self.leg_id else None
        contacts = tuple(
            ExpectedContact(
                c.contact_id, c.media, c.status, c.status == "Disconnected", c.is_linked,
                c.is_inbound, c.call_type, c.skill, c.started, c.changed)
            for c in self.contacts.values()
        )
        monitoring = None
        if self.monitoring is not None:
            monitoring = ExpectedMonitoring(self.monitoring[0], datetime_of(self.monitoring[1]),
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
