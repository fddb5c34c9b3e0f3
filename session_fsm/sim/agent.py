"""The random day of one simulated agent: how its session starts (a login, or a recorder
joining a running session), the episodes it plays (an inbound call, a chat, a Personal
Connection dialer round, a break...) and how it ends (a logout, a remote logoff, or the
end of the window).

Each episode runs on the agent's own clock and writes through :class:`.SessionWriter`;
:class:`Agent` runs its script one episode at a time, as the merge asks for lines, so
memory stays at one episode per agent however long the run is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..wire.events import (
    AgentAssist,
    ChatMessage,
    Conference,
    CustomEvent,
    HoursOfOperation,
    Indicator,
    MchAgentSettingsChangeEvent,
    Mute,
    NaturalCallingSkillList,
    PageOpen,
    PopURL,
    PromiseKeeper,
    PromiseKeeperStatus,
    RunApp,
    TakeOver,
    VoiceMailPlayBackEvent,
)
from .cast import (
    AGENT_LINES,
    BREAKS,
    CHAT_SKILLS,
    CLIENT_LINES,
    DIGITAL_SKILLS,
    INBOUND_SKILLS,
    MONITOR_SKILL,
    OUTBOUND_SKILLS,
    PC_ACW,
    PC_SKILL,
    PLAYS,
    SIGNALS,
    UNLISTED_TYPE,
    VOICEMAIL_SKILL,
    WORK_SKILL,
)
from .clock import datetime_of
from .contacts import Contact
from .session import Next, SessionWriter


class Agent(SessionWriter):
    """One agent session's script, played on its :class:`.SessionWriter`."""

    def __init__(self, idx: int, seed: int, *, start_ms: int, end_ms: int,
                 counts: dict[str, int], intended_warnings: bool = False) -> None:
        super().__init__(idx, seed, start_ms=start_ms, end_ms=end_ms, counts=counts,
                         intended_warnings=intended_warnings)
        self.script = self._script()

    def next_time(self) -> int | None:
        """Server time of the next line to write, running the script as needed."""
        buffer = self.buffer
        while not buffer:
            try:
                next(self.script)
            except StopIteration:
                return None
        return buffer[0][0]

    # --- building blocks -------------------------------------------------------------------

    def nexts(self, acw: int | None, after: tuple[str, str]) -> Next:
        """NextStates during a contact: on an ACW skill the ACW state, then the one after."""
        return (("Unavailable", ""), after) if acw is not None else (after,)

    def open_state(self, current: str, c: Contact, after: tuple[str, str],
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

    def answer(self, c: Contact, after: tuple[str, str], low: float, high: float) -> None:
        """An inbound contact is offered (its state and Incoming, in either order) and the
        agent answers it ``low..high`` seconds later."""
        self.open_state("InboundContact", c, after, lambda: self.contact(c, "Incoming"))
        self.wait(low, high)
        self.contact(c, "Active")

    def request_next(self, current: str, c: Contact, after: tuple[str, str]) -> tuple[str, str]:
        """Sometimes the agent asks for a break during a contact: only NextStates change."""
        if self.rng.random() < 0.15 and after[0] != "Unavailable":
            after = ("Unavailable", self.rng.choice(BREAKS))
            self.state(current, "", self.nexts(c.acw, after))
        return after

    def finish(self, c: Contact, after: tuple[str, str], *, code: str = "NA",
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
            after = ("Unavailable", rng.choice(BREAKS))
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

    def interlude(self, c: Contact, status: str, low: float, high: float) -> None:
        """``c`` is ``status`` (held, masked, joined...) for a while, then active again."""
        self.contact(c, status)
        self.wait(low, high)
        self.contact(c, "Active")

    def talk(self, c: Contact, current: str, after: tuple[str, str]) -> tuple[str, str]:
        """The middle of a call: hold, masking, conferences, consults, mute, next states."""
        rng = self.rng
        for _ in range(rng.randint(1, 4)):
            self.wait(10, 120)
            roll = rng.random()
            if roll < 0.2:
                self.interlude(c, "Holding", 10, 90)
            elif roll < 0.28 and self.can_mask:
                self.interlude(c, "Masking", 10, 60)
            elif roll < 0.34:
                self.interlude(c, "Joined", 20, 120)
            elif roll < 0.44:
                self.consult(c, current, after)
            elif roll < 0.54:
                self.emit(Mute(agent_muted=True), values=self.style())
                self.wait(3, 30)
                self.emit(Mute(agent_muted=False), values=self.style())
            elif roll < 0.58:
                self.emit(PopURL(contact_id=c.contact_id,
                                 url=f"https://crm.example.com/contact?id={c.contact_id}"))
            elif roll < 0.62:
                self.emit(RunApp(contact_id=c.contact_id, action_type="URL",
                                 action_value=f"https://crm.example.com/app?id={c.contact_id}",
                                 wait_timeout="0", extra=self.extras))
            elif roll < 0.66:
                self.emit(AgentAssist(
                    contact_id=c.contact_id, app_uri="https://assist.example.com/app",
                    app_title="Agent Assist",
                    agent_assist_app_config_json='{"Params":{"providerId":"AutoSummary"}}'))
            after = self.request_next(current, c, after)
        return after

    def consult(self, c: Contact, current: str, after: tuple[str, str]) -> None:
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
                self.emit(Conference(conference_no=self._id()))
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
        skill = rng.choice(tuple(INBOUND_SKILLS))
        c = self.new_contact("call", skill, inbound=True, call_type="Regular",
                             acw=INBOUND_SKILLS[skill])
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
            spelling = self.style()  # drawn before the value: the seed's order
            self.emit(HoursOfOperation(show_continue_reskill=rng.choice((True, False))),
                      values=spelling)
            self.wait(2, 10)
            code = "TransferComplete"
        else:
            self.wait(10, 120)
        self.finish(c, after, code=code)

    def outbound_call(self, base: tuple[str, str] | None = None) -> None:
        rng = self.rng
        after = base or (self.base, "")
        skill = rng.choice(tuple(OUTBOUND_SKILLS))
        preview = rng.random() < 0.25
        c = self.new_contact("call", skill, inbound=False,
                             call_type="Dialer" if preview else "Regular",
                             acw=OUTBOUND_SKILLS[skill])
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
        self.promise_keeper()
        for _ in range(self.rng.randint(1, 2)):
            self.wait(5, 30)
            self.outbound_call(block)
            if self.a_state == "Unavailable" and self.a_reason != "Callbacks":
                break
        self.wait(5, 30)

    def inbound_consult(self) -> None:
        """A colleague consults this (available) agent."""
        c = self.new_contact("call", self.rng.choice(tuple(INBOUND_SKILLS)), inbound=True,
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
        skill = rng.choice(tuple(CHAT_SKILLS))
        acw = CHAT_SKILLS[skill]
        chats = [self.new_contact("chat", skill, acw=acw)]
        after = (self.base, "")
        first = chats[0]
        self.client_opens(first)
        self.answer(first, after, 2, 10)
        for turn in range(rng.randint(3, 10)):
            self.wait(4, 40)
            if turn == 2 and len(chats) == 1 and rng.random() < 0.3:
                second = self.new_contact("chat", skill, acw=acw)
                self.client_opens(second)
                self.contact(second, "Incoming")
                self.wait(2, 8)
                self.contact(second, "Active")
                chats.append(second)
                continue
            c = rng.choice(chats)
            if rng.random() < 0.08:
                self.interlude(c, "Holding", 10, 60)
                continue
            party = "Agent" if turn % 2 else "Client"
            lines = AGENT_LINES if party == "Agent" else CLIENT_LINES
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

    def client_opens(self, c: Contact) -> None:
        """The client's first line, which the chat's first event already carries."""
        c.messages.append(ChatMessage(text=self.rng.choice(CLIENT_LINES),
                                      time_stamp=datetime_of(self.now), party_type="Client"))

    def work_item(self) -> None:
        rng = self.rng
        c = self.new_contact("work_item", WORK_SKILL)
        after = (self.base, "")
        self.open_state("InboundContact", c, after, lambda: self.contact(c, "Incoming"))
        self.emit(PageOpen(contact_id=c.contact_id, action="OPEN",
                           page_uri="http://eng-ngpcl07/WebScripting/Default.aspx?id="
                                    f"{self.agent_id}&__ContactID={c.contact_id}"
                                    f"&__bus_no={self.bus_no}&__type=OPEN"))
        self.wait(3, 30)
        self.contact(c, "Active")
        self.wait(30, 200)
        if rng.random() < 0.2:
            self.interlude(c, rng.choice(("Holding", "Interrupted")), 10, 90)
            self.wait(10, 100)
        self.contact(c, "Transfer" if rng.random() < 0.15 else "Disconnected", final=True)
        self.wait(0.1, 1)
        self.to(after)

    def refused_work_item(self) -> None:
        """A work item offered and not accepted within its RefusalTimeout."""
        c = self.new_contact("work_item", WORK_SKILL)
        self.contact(c, "Incoming")
        self.wait(45)
        self.contact(c, "Disconnected", final=True)
        self.wait(0.1, 1)
        self.state("Refused", "", ((self.base, ""),))
        self.wait(5, 30)
        self.state(self.base)

    def voicemail(self) -> None:
        rng = self.rng
        c = self.new_contact("voicemail", VOICEMAIL_SKILL, started_ms=self.now - 60_000)
        after = (self.base, "")
        self.answer(c, after, 2, 15)
        self.wait(20, 120)
        if rng.random() < 0.5:  # the agent pauses the playback, then plays on
            position = rng.randrange(5, 60)
            self.emit(VoiceMailPlayBackEvent(contact_id=c.contact_id, play_back_paused=True,
                                             play_back_position=position), values=self.style())
            self.wait(3, 20)
            self.emit(VoiceMailPlayBackEvent(contact_id=c.contact_id, play_back_paused=False,
                                             play_back_position=position), values=self.style())
        if rng.random() < 0.2:
            self.interlude(c, "Holding", 10, 60)
            self.wait(5, 30)
        self.contact(c, "Discarded" if rng.random() < 0.4 else "Disconnected", final=True)
        self.wait(0.1, 1)
        self.to(after)

    def digital(self) -> None:
        rng = self.rng
        skill = rng.choice(tuple(DIGITAL_SKILLS))
        c = self.new_contact("digital", skill, inbound=True, acw=DIGITAL_SKILLS[skill])
        after = (self.base, "")
        self.answer(c, after, 2, 20)
        self.wait(30, 300)
        if rng.random() < 0.25:
            self.interlude(c, rng.choice(("Holding", "Interrupted")), 10, 120)
            self.wait(10, 60)
        after = self.request_next("InboundContact", c, after)
        self.finish(c, after)

    def take_break(self) -> None:
        self.state("Unavailable", self.rng.choice(BREAKS))
        self.wait(120, 900)
        self.state(self.base)

    def misc(self) -> None:
        rng = self.rng
        for _ in range(rng.randint(1, 3)):
            roll = rng.random()
            if roll < 0.3:
                self.emit(rng.choice(SIGNALS)())
            elif roll < 0.5:
                self.indicator(rng.choice(("IndTest", "QueueAlert", "Recording")),
                               rng.choice(("On", "Off")))
            elif roll < 0.7:
                renames = {"Data": "data"} if rng.random() < 0.7 else None
                self.emit(CustomEvent(event_name=rng.choice(("FavoriteColor", "CrmSync")),
                                      data=rng.choice(("blue", "green", "id=42"))),
                          renames=renames)
            elif roll < 0.82:
                if self.intended_warnings and rng.random() < 0.5:
                    self.unlisted_event(UNLISTED_TYPE, {"AgentId": self.agent_id,
                                                        "Payload": {"Step": rng.randrange(9)}})
                else:
                    self.settings_change()
            elif roll < 0.9:
                self.agent_error(rng.choice(("Failed", "InvalidState")), command="SetState",
                                 level="Low")
            elif roll < 0.95 and self.role == "dialer":
                self.emit(NaturalCallingSkillList(empty=False), values=self.style())
            self.wait(1, 20)

    def settings_change(self) -> None:
        """The agent's multichannel limits change (an administrator edits them)."""
        rng = self.rng
        chats = rng.randint(1, 4)
        self.emit(MchAgentSettingsChangeEvent(
            chat_threshold=chats, sms_threshold=1, email_threshold=rng.randint(1, 3),
            work_item_threshold=1, digital_threshold=rng.randint(1, 5), voice_threshold=1,
            total_contact_count=chats + 2, contact_auto_focus=rng.random() < 0.5,
            request_contact=False, delivery_mode=rng.choice(("Push", "Pull"))),
            values=self.style())

    def promise_keeper(self) -> None:
        """A scheduled callback falls due (the agent then dials it); now and then the
        platform reports it rescheduled."""
        rng = self.rng
        due = self.now - rng.randint(0, 120_000)
        self.emit(PromiseKeeper(
            callback_id=str(2_000_000 + self.serial), agent_id=self.agent_id,
            skill_id=rng.choice(tuple(OUTBOUND_SKILLS)), target_type="Agent",
            callback_time=datetime_of(due), callback_expire_time=datetime_of(due + 3_600_000),
            delivery_time=datetime_of(self.now), dial_number=f"801{rng.randrange(10**7):07d}",
            orig_number="8013203200", first_name="Pat", last_name="Lee",
            notes="Call back about the order"))
        if rng.random() < 0.3:
            self.wait(5, 30)
            self.emit(PromiseKeeperStatus(status="Rescheduled"))

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
        self.emit(NaturalCallingSkillList(empty=empty), values=self.style())
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
        calls = [self.new_contact("call", PC_SKILL, inbound=False, call_type="NaturalCalling",
                                  acw=rng.choice(PC_ACW))
                 for _ in range(rng.choice((1, 2, 2, 3, 3)))]
        plan: list[tuple[int, int, Contact, str, str]] = []
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
        connected: Contact | None = None
        for at, _, c, action, code in plan:
            if start + at > self.now:
                self.wait((start + at - self.now) / 1000)
            if action == "dial":
                c.started = datetime_of(self.now)  # placed just now
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

    def unlink(self, keep: Contact) -> None:
        """The linked call (if another) loses the link: a repeat of its status says so."""
        current = self.contacts.get(self.linked or "")
        if current is not None and current is not keep:
            self.contact(current, current.status, linked=False)

    def relink(self, calls: list[Contact]) -> None:
        """The linked call ended: the link moves to the likeliest call still open."""
        if self.linked is not None:
            return
        open_calls = [c for c in calls if c.contact_id in self.contacts]
        if open_calls:
            best = max(open_calls, key=lambda c: c.status == "NaturalCallAMD")
            self.contact(best, best.status, linked=True)

    def indicator(self, name: str, state: str) -> None:
        self.emit(Indicator(name=name, image_uri="https://www.example.com/images/computer.png",
                            action_type="OpenURL", action_uri="http://www.incontact.com/",
                            tool_tip="test123", indicator_state=state))

    def monitor(self) -> None:
        """A supervisor monitors a colleague, maybe barges in, maybe takes the call over."""
        rng = self.rng
        sc = self.new_contact("supervisor", MONITOR_SKILL, inbound=False, call_type="Regular",
                              started_ms=self.now - rng.randint(300, 1500))
        self.contact(sc, "Active")
        self.wait(1, 6)
        self.monitor_event(stop=False)
        self.wait(30, 240)
        if rng.random() < 0.3:
            self.contact(sc, "Joined")
            self.wait(10, 60)
        if rng.random() < 0.4:
            self.emit(TakeOver(contact_id=str(6_550_071_000 + rng.randrange(1000)),
                               take_over_date=datetime_of(self.now)))
            self.wait(0.1, 1)
            c = self.new_contact("call", MONITOR_SKILL, inbound=True, call_type="TakeOver")
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
        for signal in rng.sample(SIGNALS[:2], rng.randint(0, 2)):
            self.emit(signal())
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
                c = self.new_contact("call", PC_SKILL, inbound=False, call_type="NaturalCalling",
                                     acw=rng.choice(PC_ACW), started_ms=answered - 9000)
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
                                 acw=INBOUND_SKILLS[skill], started_ms=answered - 7000)
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
            steps.append(lambda: self.indicator("IndTest", "On"))
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
            # the end that follows a remote logoff is never cut off from it by the window
            if self.exit == "remote":
                self.nudge(0.0, 0.5)
                self.session_end()
            elif not self.intended_warnings:
                # The AgentSessionEnd was purged with the queue; the recorder's next poll
                # gets the 409 that ends the session just as well (stream-facts.md).
                self.nudge(0.5, 3)
                self.recorded_409()

    def _script(self) -> Iterator[None]:
        if self.entry == "join":
            self.join()
            self.settle()
        else:
            self.login()
        yield
        names, cumulative = PLAYS[self.role]
        while not self.cut and (self.exit == "stay" or self.now < self.logout_at):
            self.wait(self.rng.expovariate(1 / 40))
            if self.role == "dialer" and self.base != "Dialer":
                self.role = "blended"  # the list ran dry: the agent works as a blended agent
                names, cumulative = PLAYS[self.role]
            name = self.rng.choices(names, cum_weights=cumulative)[0]
            getattr(self, name)()
            self.settle()
            yield
        if not self.cut:
            self.wait(1, 30)
            self.logout()
        yield

    # --- the model, read out ------------------------------------------------------------
