"""Reading facts straight from the wire: the same answer as decoding, or no answer at all.

The engine takes the frequent event types without building typed events
(``facts.wire_reader``). These tests hold it to its promise: whenever it answers, it
answers what ``decode`` followed by ``facts_of_event`` gives; whenever ``decode`` would
reject an object (or would need to rename a key), it does not answer, so the engine
decodes and fails or converts exactly as before.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import seed_events as seed
from hypothesis import given
from hypothesis import strategies as st
from wire_strategies import casings, declared, extras, wire_values

from session_fsm.engine import AgentSession, SessionEngine
from session_fsm.engine.changes import Change
from session_fsm.engine.snapshot import to_json
from session_fsm.errors import FieldError, InputError, Source
from session_fsm.sim import simulate
from session_fsm.views.history import histories, histories_json
from session_fsm.wire import events as ev
from session_fsm.wire.codec import decode, encode
from session_fsm.wire.events import wire_name
from session_fsm.wire.facts import (
    FACTS_OF,
    ContactFacts,
    StateFacts,
    facts_of_event,
    wire_digest,
    wire_reader,
)
from session_fsm.wire.reader import iter_wire

READ_FROM_WIRE = sorted(FACTS_OF, key=lambda cls: cls.TYPE)

# Values decode() rejects, per declared type: the reader must never accept one.
BAD_VALUES: dict[Any, list[Any]] = {
    str | None: [[], {}, True, 4.5],
    bool | None: ["maybe", "1", 1, 0.0, []],
    int | None: ["4.5", "x", True, [], 4.5, "9" * 19, "9" * 5000, 10**18],
    datetime | None: ["yesterday", "2024-13-01T00:00:00Z", 17, []],
}


def wire_value(annotation: Any) -> st.SearchStrategy[Any]:
    good = wire_values(annotation)
    bad = BAD_VALUES.get(annotation)
    return good if bad is None else good | st.sampled_from(bad)


def documented_objects(cls: type[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Wire objects of ``cls``, mostly spelled as documented (the reader's usual case),
    sometimes in another casing, with good, odd and bad values and random extras."""

    @st.composite
    def build(draw: Any) -> dict[str, Any]:
        obj: dict[str, Any] = {"Type": cls.TYPE}
        for field in declared(cls):
            if draw(st.integers(0, 4)):  # present four times in five
                key = wire_name(field)
                if not draw(st.integers(0, 9)):
                    key = draw(casings(key))
                obj[key] = draw(wire_value(field.type))
        obj.update(draw(extras(cls)))
        return obj

    return build()


@pytest.mark.parametrize("cls", READ_FROM_WIRE, ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_the_reader_answers_what_decoding_gives_or_nothing(
    cls: type[Any], data: st.DataObject
) -> None:
    obj = data.draw(documented_objects(cls))
    read = wire_reader(cls)(obj)
    try:
        event = decode(obj)
    except InputError:
        assert read is None  # decode rejects it: the engine must take the general path
        return
    if read is not None:
        assert read == facts_of_event(event)
        assert type(read) is FACTS_OF[cls]


FAST_EXAMPLES = {name: example for name, example in seed.ALL_EXAMPLES.items()
                 if decode(example).__class__ in FACTS_OF}


@pytest.mark.parametrize("name", sorted(FAST_EXAMPLES))
def test_documented_examples_take_the_fast_path(name: str) -> None:
    """The point of the reader: the documentation's own events need no decoding."""
    example = FAST_EXAMPLES[name]
    event = decode(example)
    read = wire_reader(type(event))(example)
    assert read is not None
    assert read == facts_of_event(event)


def test_call_facts_by_hand() -> None:
    obj = {"Type": "CallContactEvent", "ContactID": "1569815", "Status": "Holding",
           "CallType": "Regular", "Skill": "1507", "IsInbound": "true",
           "StartTimeUTC": "2013-09-10T20:04:10.000Z",
           "LastStateChangeTimeUTC": "2013-09-10T20:05:37.000Z", "DisconnectCode": "NA",
           "IsLinked": "False", "FinalState": "False", "ANI": "8015551234", "MasterID": "9"}
    assert wire_reader(ev.CallContactEvent)(obj) == ContactFacts(
        contact_id="1569815", status="Holding", final_state=False,
        last_state_change_time=datetime(2013, 9, 10, 20, 5, 37, tzinfo=UTC),
        start_time=datetime(2013, 9, 10, 20, 4, 10, tzinfo=UTC), skill="1507", skill_id=None,
        is_inbound=True, call_type="Regular", is_linked=False, disconnect_code="NA",
        room_id=None, messages=None, work_item_id=None, work_item_type=None,
        work_item_payload=None, file_name=None, ani="8015551234", dnis=None,
        screen_pop_url=None, screen_pop_url_variables=None, other_information=None,
        blending_to_skill_name=None, refusal_timeout=None, master_id="9")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"IsACW": "True", "ISACW": "False"}, "IsAcw spelled three ways: decode's rules"),
        ({"AcwTimeout": 30}, "a bare integer: decode accepts it, the reader leaves it"),
        ({"AcwTimeout": "9" * 19}, "19 digits: over the bound, decode says so"),
        ({"AcwTimeout": "9" * 5000}, "past int()'s own limit: decode says what is wrong"),
        ({"IsAcw": " True"}, "a spaced boolean: decode's general path"),
        ({"StartTimeUTC": "2013-09-10T20:05:37+02:00"}, "an offset: decode converts to UTC"),
        ({"NextStates": "Available"}, "not an array: decode says what is wrong"),
    ],
)
def test_anything_unusual_is_left_to_decode(change: dict[str, Any], why: str) -> None:
    obj = {"Type": "AgentState", "CurrentState": "Available", "CurrentOutReason": "",
           "NextStates": [], "StartTimeUTC": "2013-09-10T20:05:37.000Z", "IsAcw": "False",
           "AcwTimeout": "0", **change}
    assert wire_reader(ev.AgentState)(obj) is None, why


def test_extra_keys_are_remembered_and_other_casings_read_as_their_field() -> None:
    read = wire_reader(ev.AgentState)
    obj = {"Type": "AgentState", "CurrentState": "Available", "IISHost": "C39"}
    assert read(obj) == StateFacts("Available", None, (), None, None, None)
    # the extra key, now remembered, is still just an extra
    assert read(obj) == StateFacts("Available", None, (), None, None, None)
    # The seed's table spells IsACW: read as IsAcw, as decode does
    assert read({**obj, "IsACW": "True"}) == StateFacts("Available", None, (), None, True, None)
    # CurrentState twice: decode keeps the documented one, the other as extra; the
    # reader leaves that to decode
    assert read({**obj, "currentstate": "Unavailable"}) is None


# --- redelivery --------------------------------------------------------------------------


def _state(**change: Any) -> dict[str, Any]:
    return {"Type": "AgentState", "CurrentState": "Available", "CurrentOutReason": "",
            "NextStates": [], "StartTimeUTC": "2013-09-10T20:05:37.000Z", "IsAcw": "False",
            "AcwTimeout": "0", "Label": "", **change}


def test_a_redelivered_event_is_a_duplicate_but_a_changed_unread_field_is_not() -> None:
    session = AgentSession()
    session.feed(_state())
    session.feed(_state())  # the same event again: a redelivery
    session.feed(_state(Label="new"))  # same facts, new content: a real event
    session.feed({"Type": "AgentState", "CurrentState": "Available", "CurrentOutReason": "",
                  "NextStates": [], "StartTimeUTC": "2013-09-10T20:05:37.000Z",
                  "IsAcw": "False", "AcwTimeout": "0", "Label": "new"})  # equal copy
    duplicates = [v.event_index for v in session.violations if v.rule == "duplicate-event"]
    assert duplicates == [1, 3]


def test_the_digest_is_the_same_in_another_process() -> None:
    """A checkpoint carries digests: they must not depend on the process (hash salting)."""
    obj = _state(NextStates=[{"State": "Unavailable", "OutReason": "Lunch"}])
    code = ("import sys, orjson; from session_fsm.wire.facts import wire_digest; "
            "print(wire_digest(orjson.loads(sys.argv[1])))")
    out = subprocess.run([sys.executable, "-c", code, orjson.dumps(obj).decode()],
                         capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345"})
    assert int(out.stdout) == wire_digest(obj)


def test_feed_keeps_the_digest_wire_digest_defines() -> None:
    # feed() computes it inline (every event pays it); checkpoints carry what it kept,
    # so the two must never drift apart
    session = AgentSession()
    obj = _state(NextStates=[{"State": "Unavailable", "OutReason": "Lunch"}])
    session.feed(obj)
    assert session.agent.last_digest == wire_digest(obj) is not None


def test_an_undigestible_event_is_never_a_duplicate() -> None:
    session = AgentSession()
    huge = _state(Extra=2**70)  # orjson cannot write it: no digest
    assert wire_digest(huge) is None
    session.feed(huge)
    session.feed(huge)
    assert [v.rule for v in session.violations] == []


# --- bad wire objects --------------------------------------------------------------------


def test_feed_can_raise_a_bad_field_before_it_takes_an_index() -> None:
    session = AgentSession()
    bad = _state(IsAcw="maybe")
    with pytest.raises(FieldError, match=r"in\.jsonl:7: .*IsAcw") as raised:
        session.feed(bad, source=Source("in.jsonl", 7), on_error="raise")
    assert raised.value.source == Source("in.jsonl", 7)
    assert session.position == 0
    assert session.violations == []
    session.feed(bad)  # the default: recorded at its index, nothing raised
    assert [(v.rule, v.event_index) for v in session.violations] == [("bad-field", 0)]



def test_a_session_whose_first_event_is_raised_is_not_created() -> None:
    """``snapshot --skip-bad``: a skipped bad first line leaves no empty session behind."""
    engine = SessionEngine()
    with pytest.raises(FieldError):
        engine.feed(_state(IsAcw="maybe"), key="agent-1", on_error="raise")
    assert engine.sessions == {}
    engine.feed(_state(), key="agent-1")
    assert list(engine.sessions) == ["agent-1"]
    assert engine.sessions["agent-1"].events == 1


def test_typed_events_are_told_apart_by_every_field_nested_ones_included() -> None:
    """A stream fed as typed events: the digest covers the type and every field value,
    NextStates entries and extras included."""
    state = decode(_state(NextStates=[{"State": "Unavailable", "OutReason": "Lunch"}]))
    other_next = decode(_state(NextStates=[{"State": "Unavailable", "OutReason": "Break"}]))
    other_extra = decode(_state(NextStates=[{"State": "Unavailable", "OutReason": "Lunch"}],
                                IISHost="C39"))
    session = AgentSession()
    for event in (state, decode(encode(state)), other_next, other_extra):
        session.feed(event)
    assert [(v.rule, v.event_index) for v in session.violations] == [("duplicate-event", 1)]


# --- the whole engine, fed both ways -------------------------------------------------------


@pytest.mark.parametrize("seed", [3, 11])
def test_wire_objects_and_typed_events_give_the_same_engine(seed: int, tmp_path: Path) -> None:
    """A simulated stream (every type and quirk) fed as wire objects, which the engine
    mostly reads straight from the wire, and as typed events, which it reads through
    facts_of_event: the same snapshots, histories and violations, field by field."""
    path = tmp_path / "stream.jsonl"
    with path.open("wb") as out:
        simulate(out, agents=20, seed=seed, minutes=60.0)
    as_wire, as_typed = SessionEngine(), SessionEngine()
    said_wire: list[Change] = []
    said_typed: list[Change] = []
    fed = 0
    for n, item in enumerate(iter_wire(path)):
        key, wire, source = item  # type: ignore[misc]
        for _ in range(2 if n % 97 == 0 else 1):  # now and then a redelivery
            said_wire.extend(as_wire.feed(wire, key=key, source=source, batch=source))
            said_typed.extend(as_typed.feed(decode(wire), key=key, source=source, batch=source))
            fed += 1
    said_wire.extend(as_wire.finish())
    said_typed.extend(as_typed.finish())
    assert fed > 1000
    assert said_wire == said_typed  # the same changes, in the same order
    assert [to_json(s) for s in as_wire.snapshot()] == [to_json(s) for s in as_typed.snapshot()]
    assert histories_json(histories(said_wire)) == histories_json(histories(said_typed))
    assert list(as_wire.violations()) == list(as_typed.violations())
    duplicates = [v for v in as_wire.violations() if v.rule == "duplicate-event"]
    assert len(duplicates) >= 10  # the redeliveries of AgentState, AgentLeg and contacts
