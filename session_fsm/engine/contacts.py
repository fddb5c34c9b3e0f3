"""The contacts' handlers: every media's contact events, chat text, the linked dialer call."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from operator import itemgetter
from sys import intern

from ..machines import CLOSE
from ..machines.contacts import CONTACT_MACHINES, ContactSpec
from ..wire import events as ev
from ..wire.facts import (
    ChatTextFacts,
    ContactFacts,
)
from .changes import (
    AcwLinked,
    ContactDetails,
    LinkMoved,
    StatusAfterFinal,
    TranscriptAdded,
    Transition,
)
from .core import SessionCore, _matches_direction, _new
from .records import (
    ContactRecord,
    TranscriptLine,
)
from .rules import RuleName

_TYPE_OF_MEDIA = {media: cls.TYPE for cls, media in ev.MEDIA_OF.items()}
"""The wire Type of each media's contact event (named in messages)."""

DESKTOP_FACTS = ("ani", "dnis", "screen_pop_url", "screen_pop_url_variables", "master_id",
                 "other_information", "blending_to_skill_name", "refusal_timeout")
"""The facts an agent desktop shows, kept raw on the contact (``ContactRecord.desktop``)."""
_desktop_facts = itemgetter(*(ContactFacts._fields.index(name) for name in DESKTOP_FACTS))


class ContactHandlers(SessionCore):
    """Contact and ChatText events (mixed into :class:`~session_fsm.engine.AgentSession`)."""

    __slots__ = ()

    # --- contacts -----------------------------------------------------------------------

    def _on_contact(self, event: ContactFacts, batch: Hashable | None, digest: int | None, *,
                    media: str) -> None:
        spec = CONTACT_MACHINES[media]
        contact_id = event.contact_id
        if not contact_id:
            self._violate(RuleName.BAD_FIELD, f"{_TYPE_OF_MEDIA[media]} without a ContactID")
            return
        contact = self.contacts.get(contact_id)
        known = contact if contact is not None else self.closed.get(contact_id)
        if known is not None and digest is not None and digest == known.last_digest:
            self._violate(RuleName.DUPLICATE_EVENT, f"the same {_TYPE_OF_MEDIA[media]} for "
                          f"{contact_id} twice in a row", contact_id=contact_id, change=False)
            return
        changed = event.last_state_change_time
        if known is not None and changed is not None and known.last_change is not None \
                and changed < known.last_change and self._repeats_recent(digest):
            # an earlier status again, older than the current one: delivered again (an
            # equal time is a real change: IsLinked toggled, the close repeating the time)
            self._violate(RuleName.DUPLICATE_EVENT, f"a {_TYPE_OF_MEDIA[media]} for "
                          f"{contact_id} applied before, delivered again (older than its "
                          "current status)", contact_id=contact_id, change=False)
            return
        if contact is None and known is not None:  # closed, its record still here
            self._violate(RuleName.CONTACT_AFTER_FINAL,
                          f"{media} {contact_id} {event.status} after "
                          f"its FinalState True at event {known.final_index}",
                          contact_id=contact_id, machine=spec.name, state=known.state,
                          trigger=event.status)
            known.last_digest = digest
            self._after_final(spec, contact_id, event)
            return
        state = contact.state if contact else spec.initial
        trigger = spec.exact.get(event.status) or spec.trigger_for(event.status)
        dest = state
        if trigger is None:
            self._violate(RuleName.UNKNOWN_STATUS, f"unknown {media} status {event.status!r}",
                          contact_id=contact_id, machine=spec.name, state=state)
        elif trigger != state:
            found = spec.next_state(state, trigger)
            if found is None:
                self._violate(RuleName.CONTACT_TRANSITION, f"{media} {contact_id}: {state} -> "
                              f"{trigger} is not in the {media} table", contact_id=contact_id,
                              machine=spec.name, state=state, trigger=trigger)
            elif contact is None and not spec.is_entry(trigger, event.call_type) \
                    and not self._in_join_batch(batch):
                self._violate(RuleName.CONTACT_JOINED_MID_LIFECYCLE, f"{media} {contact_id} first "
                              f"seen as {event.status} outside a join batch",
                              contact_id=contact_id)
            dest = found or trigger
        final = bool(event.final_state)
        if final and dest not in spec.closable:
            self._violate(RuleName.FINAL_ON_OPEN_STATUS,
                          f"{media} {contact_id}: FinalState True on "
                          f"{event.status}, which cannot end a {media}", contact_id=contact_id,
                          machine=spec.name, state=dest, trigger=CLOSE)
        if contact is not None and changed is not None and contact.last_change is not None \
                and changed < contact.last_change:
            self._violate(RuleName.TIME_WENT_BACKWARDS,
                          f"{media} {contact_id}: LastStateChangeTime "
                          f"{changed.isoformat()} is before {contact.last_change.isoformat()}",
                          contact_id=contact_id)
        if media == "call":
            self._check_link(event, contact_id)

        # -- checks done: apply --
        new = contact is None
        if contact is None:
            contact = ContactRecord(contact_id, media, spec.initial, "", self._index)
            self.contacts[contact_id] = contact
        if self._update_contact(contact, event, digest) or new:
            self._out.append(_new(ContactDetails, (
                self.key, self._index, contact_id, media, contact.skill, contact.is_inbound,
                contact.call_type, contact.disconnect_code, contact.payload)))
        at = changed or event.start_time
        if dest != contact.state:
            # _moved(), inlined: the hot path makes one of these for most contact events
            self._out.append(_new(Transition, (self.key, self._index, spec.name, contact_id,
                                               contact.state, dest, trigger or dest,
                                               contact.status, at, False)))
            if dest in spec.closable:
                if not final:  # the voice ended and the contact goes on: its ACW phase
                    contact.acw_phase_index = self._index
            elif contact.acw_phase_index is not None:  # out of it again (a move no table has)
                contact.acw_phase_index = None
        contact.state = dest
        if final:
            if contact.acw_phase_index is None:  # closed at once: the close is its voice's end
                self._last_ended_contact = (contact_id, self._index)
            self._moved(spec.name, contact_id, dest, spec.closed_state, CLOSE, contact.status,
                        at, True)
            self._close(contact, spec)
        if event.messages:  # a chat's: after its status, as the transcript follows it
            self._add_transcript(contact, [
                TranscriptLine(message.party_type, message.text, message.time_stamp)
                for message in event.messages])
        if media == "supervisor":
            self.monitor_contact_id = None if final else contact_id
        agent = self.agent
        if not agent.contact_seen and not final and _matches_direction(agent.state, contact):
            agent.contact_seen = True
        acw = agent.acw
        # an ACW that began before its contact's event (both orders occur): the contact in
        # (or closing from) its ACW phase owns it; one closed at once only when no other
        # is still in the agent's hands (see _acw_contact)
        if acw is not None and acw.contact_id is None and (
                contact.acw_phase_index is not None or (final and not self._connected())):
            acw.contact_id = contact_id
            self._out.append(AcwLinked(self.key, self._index, contact_id, acw.started,
                                       acw.deadline))

    def _after_final(self, spec: ContactSpec, contact_id: str, event: ContactFacts) -> None:
        self._out.append(StatusAfterFinal(
            self.key, self._index, spec.name, contact_id, event.status or "",
            event.last_state_change_time, bool(event.final_state), event.disconnect_code))

    def _update_contact(self, contact: ContactRecord, event: ContactFacts,
                        digest: int | None) -> bool:
        """Apply the event's data to the record; whether what the contact is changed
        (skill, direction, call type, disconnect code, payload: a ContactDetails)."""
        contact.last_digest = digest
        # interned: the status and the codes recur on every contact (the same strings)
        contact.status = intern(event.status) if event.status else contact.status
        changed = False
        skill = event.skill or event.skill_id
        if skill and skill != contact.skill:
            contact.skill = intern(skill)
            changed = True
        contact.started = event.start_time or contact.started
        contact.last_change = event.last_state_change_time or contact.last_change
        contact.desktop = _desktop_facts(event)  # one C call (comparing first cost more)
        if event.is_inbound is not None and event.is_inbound != contact.is_inbound:
            contact.is_inbound = event.is_inbound
            changed = True
        if event.call_type and event.call_type != contact.call_type:
            contact.call_type = intern(event.call_type)
            changed = True
        media = contact.media
        if media == "call" and event.is_linked is not None:
            contact.is_linked = event.is_linked
        if event.disconnect_code and event.disconnect_code != contact.disconnect_code:
            contact.disconnect_code = intern(event.disconnect_code)
            changed = True
        if media == "chat":
            if event.room_id:
                contact.room_id = event.room_id
                self.rooms[event.room_id] = contact.contact_id
        elif media == "work_item":
            payload = {
                "work_item_id": event.work_item_id,
                "work_item_type": event.work_item_type,
                "payload": event.work_item_payload,
            }
            if payload != contact.payload:
                contact.payload = payload
                changed = True
        elif media == "voicemail" and event.file_name and (
                contact.payload is None or contact.payload.get("file_name") != event.file_name):
            contact.payload = {"file_name": event.file_name}
            changed = True
        return changed

    def _add_transcript(self, contact: ContactRecord, lines: Iterable[TranscriptLine]) -> bool:
        """Append the lines the transcript does not have yet; whether any was new.

        Each ChatContactEvent's Messages repeat the transcript so far: one set of what is
        there per call keeps a long chat linear, not a scan of the transcript per line.
        """
        transcript = contact.transcript
        if transcript is None:
            transcript = contact.transcript = []
        seen = set(transcript)
        added = False
        for line in lines:
            if line not in seen:
                seen.add(line)
                transcript.append(line)
                self._out.append(TranscriptAdded(self.key, self._index, contact.contact_id,
                                                 line.party, line.text, line.at))
                added = True
        return added

    def _close(self, contact: ContactRecord, spec: ContactSpec) -> None:
        contact.final = True
        contact.final_index = self._index
        contact.state = spec.closed_state
        contact.desktop = None  # a closed contact's record stays for the after-final checks
        del self.contacts[contact.contact_id]
        self.closed[contact.contact_id] = contact
        self._keep_closed()
        if self.linked_contact_id == contact.contact_id:
            self._link(None)

    def _link(self, contact_id: str | None) -> None:
        """The agent's voice path now links ``contact_id`` (None: no call)."""
        self._out.append(LinkMoved(self.key, self._index, self.linked_contact_id, contact_id))
        self.linked_contact_id = contact_id

    def _check_link(self, event: ContactFacts, contact_id: str) -> None:
        """The agent's voice path links one dialer call at a time (``IsLinked``)."""
        linked = self.linked_contact_id
        if event.is_linked:
            if event.final_state:
                # a closing event's IsLinked says what was, not a new link: the close takes
                # the link with it when this call holds it (_close), and leaves another's
                return
            other = self.contacts.get(linked) if linked is not None and linked != contact_id \
                else None
            if other is not None:
                # a call in its ACW phase has no voice path left: linking the next is no
                # second link
                if not other.in_acw:
                    self._violate(RuleName.TWO_LINKED_CALLS,
                                  f"call {contact_id} IsLinked True while call "
                                  f"{linked} is still linked", contact_id=contact_id)
                other.is_linked = False
            if linked != contact_id:
                self._link(contact_id)
        elif linked == contact_id and event.is_linked is False:
            self._link(None)

    def _on_chat_text(self, event: ChatTextFacts, batch: Hashable | None,
                      digest: int | None) -> None:
        contact_id = self.rooms.get(event.room_id or "")
        contact = self.contacts.get(contact_id or "") or self.closed.get(contact_id or "")
        line = TranscriptLine(event.party_type, event.message, event.time_stamp)
        if contact is None:
            # ChatText before its ChatContactEvent: keep it under the room until one claims it
            contact = self._orphan_room(event.room_id or "")
        if not self._add_transcript(contact, (line,)):
            self._violate(RuleName.DUPLICATE_EVENT,
                          f"the same ChatText for room {event.room_id} twice",
                          contact_id=contact.contact_id, change=False)

    def _orphan_room(self, room_id: str) -> ContactRecord:
        contact_id = f"room:{room_id}"
        self.rooms.setdefault(room_id, contact_id)
        contact = self.closed.get(contact_id)
        if contact is None:
            contact = ContactRecord(contact_id, "chat", "Closed", "", self._index, final=True)
            self.closed[contact_id] = contact
            self._keep_closed()
        return contact
