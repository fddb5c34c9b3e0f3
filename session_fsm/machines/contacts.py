"""Contact lifecycles, one table per media: call, work item, chat, voice mail, digital,
and the supervisor's own monitoring leg.

Triggers are the wire ``Status`` values (compared case-insensitively) plus ``close``,
which FinalState True fires after the status is applied. ``Disconnected`` with FinalState
False is the contact's ACW phase: the voice path is down, the contact is still open and
still counting handle time; ``close`` from there ends it. Both the two-step path
(Disconnected, then Disconnected + FinalState) and the direct one are valid.

Rows out of ``New`` are of two kinds: *entry* statuses, where a lifecycle normally
starts, and middle statuses that only a join's replay presents first (the engine warns
when that happens outside a join batch). A repeat of the current status is an update of
the record's data, not a transition, so it has no row.

A move missing from a table is a ``contact-transition`` error, so a table leaves a move
out only where the documentation makes it impossible (issue 16, item 4). Besides the
close, the seed orders a contact's statuses in three ways, and every table keeps them:

1. ``Disconnected`` (FinalState False) is the ACW phase, and "when the ACW state finally
   ends ... the agent will receive a Disconnected status event with the FinalState
   property set to true": nothing but that close follows it (the call's callback requeue
   aside). Voice mail's ``Discarded`` is terminal too (stream-facts), and a work item's
   ``Transfer`` has handed it on (see 2): only ``Disconnected`` or the close follow it.
2. ``Incoming`` is when a contact "is first being routed to the agent", ``Active`` when it
   "is finally connected", and a contact handed on gets "a different contact ID": a
   contact that was with the agent never goes back to an offer status.
3. "You will receive an Active status when a call is finally connected": statuses that
   presuppose a connected contact (Holding, Interrupted, Transfer, Joined) follow an
   ``Active``, never an offer status directly.

In the supervisor, work item, chat, voice mail and digital tables everything else is
allowed: a join's replay may present any open status first (a warning outside a join
batch), the statuses of a connected contact (Transfer aside) follow each other in any
order, and every open status may end. Two further moves stay out: the supervisor's
``Incoming`` and ``Dialing`` never follow each other (a contact is "either routed to the
agent ... or placed by the agent"), and a chat's ``Inviting`` (undocumented: the agent's
invitation, or one the agent sent) starts a chat or follows ``Active``, and is left for
``Active`` or an end only, so that no path leads a connected chat back to an offer. The
call table was reviewed on its own and keeps ``Masking`` between two ``Active`` statuses.
"""

from __future__ import annotations

from enum import StrEnum

from . import CLOSE, MachineSpec, Rule, rules


class ContactSpec(MachineSpec):
    """A contact machine, plus which statuses may legitimately start a lifecycle."""

    def __init__(
        self,
        media: str,
        states: type[StrEnum],
        table: list[Rule],
        *,
        entry: tuple[StrEnum, ...],
        closable: tuple[StrEnum, ...],
        connected: tuple[StrEnum, ...],
        entry_by_call_type: dict[str, tuple[StrEnum, ...]] | None = None,
    ) -> None:
        new = states("New")
        closed = states("Closed")
        table = table + [Rule(CLOSE, s, closed, "FinalState True ends the contact") for s in closable]
        super().__init__(f"contact_{media}", states, new, table, final_states=(closed,))
        self.media = media
        self.entry_triggers: frozenset[str] = frozenset(entry)
        self.entry_by_call_type: dict[str, frozenset[str]] = {
            call_type.lower(): frozenset(statuses)
            for call_type, statuses in (entry_by_call_type or {}).items()
        }
        self.closable: frozenset[str] = frozenset(closable)
        self.connected: frozenset[str] = frozenset(connected)
        """The statuses of a contact in the agent's hands (answered, its voice or media up):
        ``Active`` and those that presuppose it. Such a contact may still go into its ACW
        phase, so an ACW is not given to a contact that closed beside it (see
        ``engine/core.py``, ``_acw_contact``)."""
        self.closed_state: str = str(closed)

    def is_entry(self, trigger: str, call_type: str | None = None) -> bool:
        """Whether a lifecycle may start with ``trigger`` (for this CallType) outside a join."""
        if trigger in self.entry_triggers:
            return True
        return trigger in self.entry_by_call_type.get((call_type or "").lower(), ())


class CallStatus(StrEnum):
    NEW = "New"  #: not seen yet
    INCOMING = "Incoming"  #: routed to the agent while the agent leg is being called
    RINGING = "Ringing"  #: ringing the agent (or the called party)
    PREVIEW = "Preview"  #: a dialer preview: the agent sees the record before dialing
    DIALING = "Dialing"  #: an outbound call is being placed
    NATURAL_CALL_DIALING = "NaturalCallDialing"  #: Personal Connection placing the call
    NATURAL_CALL_RINGING = "NaturalCallRinging"  #: Personal Connection call ringing
    NATURAL_CALL_AMD = "NaturalCallAMD"  #: answering-machine detection running
    ACTIVE = "Active"  #: connected to the agent
    HOLDING = "Holding"  #: on hold
    MASKING = "Masking"  #: recording masked (e.g. while payment data is given)
    JOINED = "Joined"  #: in a conference with another party
    DISCONNECTED = "Disconnected"  #: voice path torn down; ACW phase until FinalState
    CALLBACK_DISCONNECTED = "CallBackDisconnected"  #: ended and requeued as a callback
    CLOSED = "Closed"  #: FinalState True: the contact is over


C = CallStatus
CALL = ContactSpec(
    "call",
    CallStatus,
    rules(
        ("Incoming", C.NEW, C.INCOMING, "an inbound call is routed to the agent"),
        ("Ringing", C.NEW, C.RINGING, "a call that skips Incoming starts ringing"),
        ("Preview", C.NEW, C.PREVIEW, "a preview dialer shows the record first"),
        ("Dialing", C.NEW, C.DIALING, "a manual or dialer outbound call starts dialing"),
        ("NaturalCallDialing", C.NEW, C.NATURAL_CALL_DIALING, "Personal Connection places a call"),
        ("Active", C.NEW, C.ACTIVE, "join replay: already connected"),
        ("Holding", C.NEW, C.HOLDING, "join replay: already on hold"),
        ("Joined", C.NEW, C.JOINED, "join replay: already in a conference"),
        ("Masking", C.NEW, C.MASKING, "join replay: already masking"),
        ("NaturalCallRinging", C.NEW, C.NATURAL_CALL_RINGING, "join replay: a dialer call already ringing"),
        ("NaturalCallAMD", C.NEW, C.NATURAL_CALL_AMD, "join replay: a dialer call in answering-machine detection"),
        ("Disconnected", C.NEW, C.DISCONNECTED, "join replay: already in its ACW phase"),
        ("CallBackDisconnected", C.NEW, C.CALLBACK_DISCONNECTED, "join replay: already requeued as a callback"),
        ("Ringing", (C.INCOMING, C.DIALING), C.RINGING, "the called side starts ringing"),
        ("Active", (C.INCOMING, C.RINGING, C.DIALING), C.ACTIVE, "answered"),
        ("Dialing", C.PREVIEW, C.DIALING, "the agent accepted the preview and dials"),
        ("NaturalCallRinging", C.NATURAL_CALL_DIALING, C.NATURAL_CALL_RINGING, "the dialed party's phone rings"),
        ("NaturalCallAMD", (C.NATURAL_CALL_DIALING, C.NATURAL_CALL_RINGING), C.NATURAL_CALL_AMD, "answered (the ringing not reported): detecting a machine"),
        ("Active", (C.NATURAL_CALL_DIALING, C.NATURAL_CALL_RINGING, C.NATURAL_CALL_AMD), C.ACTIVE, "a live party answered (the ringing and detection need not be reported)"),
        ("Holding", (C.ACTIVE, C.JOINED), C.HOLDING, "the agent put the call on hold"),
        ("Active", (C.HOLDING, C.MASKING, C.JOINED), C.ACTIVE, "back to the caller (unhold, unmask, conference ended)"),
        ("Masking", C.ACTIVE, C.MASKING, "the agent masked the recording"),
        ("Joined", (C.ACTIVE, C.HOLDING), C.JOINED, "a conference joined the call"),
        (
            "Disconnected",
            (C.INCOMING, C.RINGING, C.PREVIEW, C.DIALING, C.NATURAL_CALL_DIALING,
             C.NATURAL_CALL_RINGING, C.NATURAL_CALL_AMD, C.ACTIVE, C.HOLDING, C.MASKING, C.JOINED),
            C.DISCONNECTED,
            "the voice path ended: hang-up, abandon, no answer, busy, machine, skip",
        ),
        ("CallBackDisconnected", (C.PREVIEW, C.ACTIVE, C.HOLDING, C.MASKING, C.JOINED, C.DISCONNECTED), C.CALLBACK_DISCONNECTED, "ended and requeued as a callback (a preview skipped to a callback, a call ended while masked)"),
    ),
    entry=(C.INCOMING, C.RINGING, C.PREVIEW, C.DIALING, C.NATURAL_CALL_DIALING),
    closable=(C.DISCONNECTED, C.CALLBACK_DISCONNECTED),
    connected=(C.ACTIVE, C.HOLDING, C.MASKING, C.JOINED),
    # a supervisor's takeover call starts connected (the documentation's example)
    entry_by_call_type={"TakeOver": (C.ACTIVE,)},
)


class SupervisorStatus(StrEnum):
    NEW = "New"  #: not seen yet
    INCOMING = "Incoming"  #: the monitoring leg is being set up
    DIALING = "Dialing"  #: the platform is calling the supervisor
    ACTIVE = "Active"  #: listening to the agent's call
    JOINED = "Joined"  #: barged in: speaking on the call
    DISCONNECTED = "Disconnected"  #: the monitoring leg ended
    CLOSED = "Closed"  #: FinalState True


SV = SupervisorStatus
SUPERVISOR = ContactSpec(
    "supervisor",
    SupervisorStatus,
    rules(
        ("Incoming", SV.NEW, SV.INCOMING, "the monitoring leg is being set up"),
        ("Dialing", SV.NEW, SV.DIALING, "the platform calls the supervisor's station"),
        ("Active", SV.NEW, SV.ACTIVE, "monitoring starts connected (the documented example)"),
        ("Joined", SV.NEW, SV.JOINED, "join replay: already barged in"),
        ("Disconnected", SV.NEW, SV.DISCONNECTED, "join replay: the monitoring leg already ended, not yet final"),
        ("Active", (SV.INCOMING, SV.DIALING, SV.JOINED), SV.ACTIVE, "connected (or back to listening)"),
        ("Joined", SV.ACTIVE, SV.JOINED, "the supervisor barged in"),
        ("Disconnected", (SV.INCOMING, SV.DIALING, SV.ACTIVE, SV.JOINED), SV.DISCONNECTED, "monitoring ended"),
    ),
    entry=(SV.INCOMING, SV.DIALING, SV.ACTIVE),
    closable=(SV.DISCONNECTED,),
    # the monitoring leg is the supervisor's own: no after-call work follows it
    connected=(),
)


class WorkItemStatus(StrEnum):
    NEW = "New"  #: not seen yet
    INCOMING = "Incoming"  #: offered to the agent (RefusalTimeout runs)
    ACTIVE = "Active"  #: the agent is working it
    HOLDING = "Holding"  #: parked
    INTERRUPTED = "Interrupted"  #: interrupted by a higher-priority contact
    TRANSFER = "Transfer"  #: transferred away: ends it (FinalState True), or Disconnected follows
    DISCONNECTED = "Disconnected"  #: done; ACW phase until FinalState
    CLOSED = "Closed"  #: FinalState True


W = WorkItemStatus
WORK_ITEM = ContactSpec(
    "work_item",
    WorkItemStatus,
    rules(
        ("Incoming", W.NEW, W.INCOMING, "a work item is offered"),
        ("Active", W.NEW, W.ACTIVE, "join replay: already being worked"),
        ("Holding", W.NEW, W.HOLDING, "join replay: already parked"),
        ("Interrupted", W.NEW, W.INTERRUPTED, "join replay: already interrupted"),
        ("Transfer", W.NEW, W.TRANSFER, "join replay: already transferred away, not yet final"),
        ("Disconnected", W.NEW, W.DISCONNECTED, "join replay: already in its ACW phase"),
        ("Active", (W.INCOMING, W.HOLDING, W.INTERRUPTED), W.ACTIVE, "accepted, resumed or unparked"),
        ("Holding", (W.ACTIVE, W.INTERRUPTED), W.HOLDING, "parked (also while interrupted)"),
        ("Interrupted", (W.ACTIVE, W.HOLDING), W.INTERRUPTED, "a higher-priority contact interrupted it"),
        ("Transfer", (W.ACTIVE, W.HOLDING, W.INTERRUPTED), W.TRANSFER, "transferred away"),
        ("Disconnected", (W.INCOMING, W.ACTIVE, W.HOLDING, W.INTERRUPTED, W.TRANSFER), W.DISCONNECTED, "ended, refused or transferred out"),
    ),
    entry=(W.INCOMING,),
    closable=(W.DISCONNECTED, W.TRANSFER),
    connected=(W.ACTIVE, W.HOLDING, W.INTERRUPTED),
)


class ChatStatus(StrEnum):
    NEW = "New"  #: not seen yet
    WAITING = "Waiting"  #: queued, waiting for an agent
    INCOMING = "Incoming"  #: offered to the agent
    INVITING = "Inviting"  #: an invitation into the chat: the agent's, or one the agent sent
    ACTIVE = "Active"  #: chatting
    HOLDING = "Holding"  #: on hold
    INTERRUPTED = "Interrupted"  #: interrupted by a higher-priority contact
    DISCONNECTED = "Disconnected"  #: ended; ACW phase until FinalState
    CLOSED = "Closed"  #: FinalState True


H = ChatStatus
CHAT = ContactSpec(
    "chat",
    ChatStatus,
    rules(
        ("Waiting", H.NEW, H.WAITING, "a chat waits in queue"),
        ("Incoming", H.NEW, H.INCOMING, "a chat is offered"),
        ("Inviting", H.NEW, H.INVITING, "the agent is invited into a chat"),
        ("Active", H.NEW, H.ACTIVE, "join replay: already chatting"),
        ("Holding", H.NEW, H.HOLDING, "join replay: already on hold"),
        ("Interrupted", H.NEW, H.INTERRUPTED, "join replay: already interrupted"),
        ("Disconnected", H.NEW, H.DISCONNECTED, "join replay: already in its ACW phase"),
        ("Incoming", H.WAITING, H.INCOMING, "offered after waiting"),
        ("Waiting", H.INCOMING, H.WAITING, "the offer lapsed or was refused (RefusalTimeout): queued again"),
        ("Inviting", H.ACTIVE, H.INVITING, "the agent invites another agent into the chat"),
        ("Active", (H.WAITING, H.INCOMING, H.INVITING, H.HOLDING, H.INTERRUPTED), H.ACTIVE, "accepted, resumed, or the invitation answered"),
        ("Holding", (H.ACTIVE, H.INTERRUPTED), H.HOLDING, "put on hold (also while interrupted)"),
        ("Interrupted", (H.ACTIVE, H.HOLDING), H.INTERRUPTED, "a higher-priority contact interrupted it"),
        ("Disconnected", (H.WAITING, H.INCOMING, H.INVITING, H.ACTIVE, H.HOLDING, H.INTERRUPTED), H.DISCONNECTED, "ended by either party, or refused"),
    ),
    entry=(H.WAITING, H.INCOMING, H.INVITING),
    closable=(H.DISCONNECTED,),
    connected=(H.ACTIVE, H.HOLDING, H.INTERRUPTED),
)


class VoiceMailStatus(StrEnum):
    NEW = "New"  #: not seen yet
    INCOMING = "Incoming"  #: offered to the agent
    ACTIVE = "Active"  #: being played / worked
    HOLDING = "Holding"  #: parked
    DISCARDED = "Discarded"  #: discarded; ends with FinalState
    DISCONNECTED = "Disconnected"  #: done; ACW phase until FinalState
    CLOSED = "Closed"  #: FinalState True


V = VoiceMailStatus
VOICEMAIL = ContactSpec(
    "voicemail",
    VoiceMailStatus,
    rules(
        ("Incoming", V.NEW, V.INCOMING, "a voice mail is offered"),
        ("Active", V.NEW, V.ACTIVE, "join replay: already being worked"),
        ("Holding", V.NEW, V.HOLDING, "join replay: already parked"),
        ("Discarded", V.NEW, V.DISCARDED, "join replay: already discarded, not yet final"),
        ("Disconnected", V.NEW, V.DISCONNECTED, "join replay: already in its ACW phase"),
        ("Active", (V.INCOMING, V.HOLDING), V.ACTIVE, "accepted or resumed"),
        ("Holding", V.ACTIVE, V.HOLDING, "parked"),
        ("Discarded", (V.INCOMING, V.ACTIVE, V.HOLDING), V.DISCARDED, "the agent discarded it"),
        ("Disconnected", (V.INCOMING, V.ACTIVE, V.HOLDING), V.DISCONNECTED, "done or refused"),
    ),
    entry=(V.INCOMING,),
    closable=(V.DISCARDED, V.DISCONNECTED),
    connected=(V.ACTIVE, V.HOLDING),
)


class DigitalStatus(StrEnum):
    NEW = "New"  #: not seen yet
    INCOMING = "Incoming"  #: offered to the agent
    ACTIVE = "Active"  #: being worked
    HOLDING = "Holding"  #: parked
    INTERRUPTED = "Interrupted"  #: interrupted by a higher-priority contact
    DISCONNECTED = "Disconnected"  #: done; ACW phase until FinalState
    CLOSED = "Closed"  #: FinalState True


D = DigitalStatus
DIGITAL = ContactSpec(
    "digital",
    DigitalStatus,
    rules(
        ("Incoming", D.NEW, D.INCOMING, "a digital contact is offered"),
        ("Active", D.NEW, D.ACTIVE, "join replay (or an outbound digital contact) starts active"),
        ("Holding", D.NEW, D.HOLDING, "join replay: already parked"),
        ("Interrupted", D.NEW, D.INTERRUPTED, "join replay: already interrupted"),
        ("Disconnected", D.NEW, D.DISCONNECTED, "join replay: already in its ACW phase"),
        ("Active", (D.INCOMING, D.HOLDING, D.INTERRUPTED), D.ACTIVE, "accepted or resumed"),
        ("Holding", (D.ACTIVE, D.INTERRUPTED), D.HOLDING, "parked (also while interrupted)"),
        ("Interrupted", (D.ACTIVE, D.HOLDING), D.INTERRUPTED, "a higher-priority contact interrupted it"),
        ("Disconnected", (D.INCOMING, D.ACTIVE, D.HOLDING, D.INTERRUPTED), D.DISCONNECTED, "done or refused"),
    ),
    entry=(D.INCOMING,),
    closable=(D.DISCONNECTED,),
    connected=(D.ACTIVE, D.HOLDING, D.INTERRUPTED),
)

CONTACT_MACHINES: dict[str, ContactSpec] = {
    spec.media: spec for spec in (CALL, WORK_ITEM, CHAT, VOICEMAIL, DIGITAL, SUPERVISOR)
}
"""The contact machine of each media, keyed by the media name the snapshot shows."""
