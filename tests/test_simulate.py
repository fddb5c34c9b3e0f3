"""The simulator: deterministic, documented wire shapes, every event type, and a stream the
engine accepts with no error and agrees with about every session's final state.

Two kinds of checks. The raw output is read here by hand, with the documentation's
meaning (a join's batch has AgentSessionStart not first, one linked call at a time...),
without the engine. Then the engine replays it: it must find no error-severity violation
and only the warnings the simulator intends, and its final snapshot of every session
must equal what the simulator says it did, field by field.
"""

from __future__ import annotations

import collections
import gzip
import io
import itertools
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from seed_events import ALL_EXAMPLES

from session_fsm.cli import main
from session_fsm.engine import SessionEngine
from session_fsm.engine.rules import Severity
from session_fsm.engine.snapshot import Snapshot
from session_fsm.sim import INTENDED_WARNINGS, ExpectedSession, Simulation, simulate
from session_fsm.sim.session import SessionWriter
from session_fsm.sim.spelling import PLAIN, QUIRKS, spelled
from session_fsm.wire import events as ev
from session_fsm.wire.codec import decode
from session_fsm.wire.reader import ReadItem, read

# A run big enough for every kind of session and every event type (the cast repeats
# every 12 agents), small enough to replay in a fraction of a second.
AGENTS, SEED, MINUTES = 24, 6, 120
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
UNDOCUMENTED = {"IISHost", "VCHost", "MasterID", "MonitorType"}


def _run(agents: int, seed: int, minutes: float, *,
         intended_warnings: bool = False) -> tuple[bytes, Simulation]:
    simulation = Simulation(agents, seed, minutes, intended_warnings=intended_warnings)
    out = io.BytesIO()
    simulation.write(out)
    return out.getvalue(), simulation


@pytest.fixture(scope="module")
def run() -> tuple[bytes, Simulation]:
    return _run(AGENTS, SEED, MINUTES)


@pytest.fixture(scope="module")
def lines(run: tuple[bytes, Simulation]) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in run[0].splitlines()]


@pytest.fixture(scope="module")
def by_session(lines: list[dict[str, Any]]) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """Each session's events in order, with the number of the line each came on."""
    sessions: dict[str, list[tuple[int, dict[str, Any]]]] = collections.defaultdict(list)
    for number, line in enumerate(lines):
        for event in line["events"] if "events" in line else [line["event"]]:
            sessions[line["session"]].append((number, event))
    return sessions


@pytest.fixture(scope="module")
def warned_run() -> tuple[bytes, Simulation]:
    """The same run, asked to also write what the engine warns about on purpose."""
    return _run(AGENTS, SEED, MINUTES, intended_warnings=True)


def _replayed(data: bytes, path: Path) -> SessionEngine:
    path.write_bytes(data)
    engine = SessionEngine()
    for item in read(path, on_error="raise"):
        assert isinstance(item, ReadItem)
        engine.feed(item.event, key=item.key, source=item.source, batch=item.source)
    engine.finish()
    return engine


@pytest.fixture(scope="module")
def engine(run: tuple[bytes, Simulation], tmp_path_factory: pytest.TempPathFactory
           ) -> SessionEngine:
    return _replayed(run[0], tmp_path_factory.mktemp("sim") / "stream.jsonl")


def type_of(event: dict[str, Any]) -> str:
    return str(event.get("Type", event.get("type")))


def flag(value: Any) -> bool:
    """The wire's boolean, however it was spelled ("True", "false", true)."""
    if isinstance(value, bool):
        return value
    assert value in ("True", "False", "true", "false"), value
    return bool(value.lower() == "true")


# --- determinism ------------------------------------------------------------------------


def test_the_same_seed_writes_the_same_bytes() -> None:
    first, _ = _run(6, 5, 30)
    second = io.BytesIO()
    simulate(second, agents=6, seed=5, minutes=30)
    assert first == second.getvalue()
    assert first.count(b"\n") > 100


def test_different_seeds_write_different_streams() -> None:
    assert _run(6, 5, 30)[0] != _run(6, 6, 30)[0]


def test_an_agents_stream_does_not_depend_on_how_many_others_there_are() -> None:
    small, _ = _run(3, 9, 20)
    large, _ = _run(5, 9, 20)

    def of_agent_0(data: bytes) -> list[bytes]:
        return [line for line in data.splitlines() if b'"agent-00000"' in line]

    assert of_agent_0(small) == of_agent_0(large)
    assert of_agent_0(small)


def test_a_simulation_runs_once_and_knows_its_result_only_at_the_end() -> None:
    simulation = Simulation(2, 1, 5)
    with pytest.raises(RuntimeError, match="not run to its end"):
        simulation.expected()
    simulation.write(io.BytesIO())
    assert set(simulation.expected()) == {"agent-00000", "agent-00001"}
    with pytest.raises(RuntimeError, match="runs once"):
        simulation.write(io.BytesIO())


@pytest.mark.parametrize(("agents", "minutes"), [(0, 5.0), (3, 0.0), (3, -1.0)])
def test_bad_arguments_are_refused(agents: int, minutes: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        Simulation(agents, 1, minutes)


# --- the raw output, read by hand ---------------------------------------------------------


def test_every_line_is_a_keyed_envelope(lines: list[dict[str, Any]]) -> None:
    keys = {f"agent-{i:05d}" for i in range(AGENTS)}
    for line in lines:
        assert line["session"] in keys
        assert set(line) in ({"session", "event"}, {"session", "events"})
        for event in line.get("events", [line.get("event")]):
            assert isinstance(event, dict)
            assert "Type" in event or "type" in event


def test_sessions_are_interleaved_in_server_time_order(lines: list[dict[str, Any]]) -> None:
    # Times that are "now" when written: a ChatText's TimeStamp, and a contact's
    # LastStateChangeTime when its status changes on a live (single-event) line.
    stamps: list[str] = []
    status: dict[str, str] = {}
    for line in lines:
        if "event" not in line:
            for event in line["events"]:
                status[str(event.get("ContactID"))] = str(event.get("Status"))
            continue
        event = line["event"]
        if type_of(event) == "ChatText":
            stamps.append(event["TimeStamp"])
        changed = event.get("LastStateChangeTimeUTC") or event.get("LastStateChangeTime")
        if changed and type_of(event) != "SupervisorContact":
            cid = event["ContactID"]
            if status.get(cid) != event["Status"]:
                stamps.append(changed)
            status[cid] = event["Status"]
    assert len(stamps) > 1000
    assert stamps == sorted(stamps)
    switches = sum(a["session"] != b["session"] for a, b in itertools.pairwise(lines))
    assert switches > len(lines) / 3  # interleaved, not one session after another


def test_wire_dicts_are_spelled_like_the_documentation(
        by_session: dict[str, list[tuple[int, dict[str, Any]]]]) -> None:
    """The first plainly spelled event of each documented type has the example's keys, in
    the example's order, and its kind of value for every key."""
    plain: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for events in by_session.values():
        for _, event in events:
            if "Type" in event:
                plain[event["Type"]].append(event)
    for name, example in ALL_EXAMPLES.items():
        candidates = [e for e in plain[example["Type"]]
                      if [k for k in e if k not in UNDOCUMENTED] == list(example)
                      and all(isinstance(e[k], str) for k, v in example.items()
                              if isinstance(v, str))]
        assert candidates, f"no {example['Type']} spelled like {name}"
        event = candidates[0]
        for key, value in example.items():
            if value in ("True", "False"):
                assert event[key] in ("True", "False"), (name, key, event[key])
            elif isinstance(value, str) and ISO.fullmatch(value):
                assert ISO.fullmatch(event[key]), (name, key, event[key])
            elif isinstance(value, str) and value.isdigit():
                assert event[key].isdigit(), (name, key, event[key])


def test_every_event_type_appears_and_nothing_else(run: tuple[bytes, Simulation]) -> None:
    """Every platform type, the ones beyond the documentation (RunApp, PromiseKeeper...)
    included, and the recorder's 409 line; no type nobody lists."""
    summary = run[1].summary
    known = {cls.TYPE for cls in ev.KNOWN_EVENTS}
    assert {"RunApp", "PromiseKeeper", "Conference"} <= known
    assert set(summary.types) == known | {"session_fsm.HttpSessionEnded"}
    assert summary.types["session_fsm.HttpSessionEnded"] == 2  # agents 7 and 19
    assert summary.events == sum(summary.types.values())
    assert summary.sessions == AGENTS
    assert summary.lines == run[0].count(b"\n")


def test_asked_to_it_also_writes_a_type_nobody_lists(
        warned_run: tuple[bytes, Simulation]) -> None:
    types = warned_run[1].summary.types
    unlisted = set(types) - {cls.TYPE for cls in ev.KNOWN_EVENTS}
    assert unlisted == {"AgentWorkflowConfiguration"}
    assert "session_fsm.HttpSessionEnded" not in types  # no 409 after the remote logoffs


def test_the_live_streams_quirks_appear(run: tuple[bytes, Simulation]) -> None:
    data = run[0]
    for quirk in (b'"true"', b'"false"', b":true", b":false", b'{"type":', b'"IsACW":',
                  b'"IsAcw":', b'"IISHost":', b'"MasterID":', b'"HideAgentStatePermission":""',
                  b'"Timeout":""', b'"MonitorType":"StopMonitor"', b'"Data":', b'"data":'):
        assert quirk in data, quirk


def test_a_join_replays_the_current_state_in_one_batch(
        lines: list[dict[str, Any]]) -> None:
    joins = [line for line in lines if "events" in line]
    assert {line["session"] for line in joins} == {"agent-00002", "agent-00008", "agent-00010",
                                                   "agent-00014", "agent-00020", "agent-00022"}
    first_line = {}
    for line in lines:
        first_line.setdefault(line["session"], line)
    middle = {"Active", "Holding", "Joined", "Disconnected"}
    mid_contacts = 0
    for line in joins:
        assert first_line[line["session"]] is line  # the first thing the recorder got
        types = [type_of(e) for e in line["events"]]
        assert types.count("AgentSessionStart") == 1
        assert types.index("AgentSessionStart") > 0
        mid_contacts += sum(1 for e in line["events"] if "ContactID" in e
                            and type_of(e) == "CallContactEvent" and e["Status"] in middle)
    assert mid_contacts >= 2


def test_remote_logoffs_with_and_without_the_session_end(
        by_session: dict[str, list[tuple[int, dict[str, Any]]]]) -> None:
    endings = {key: [type_of(e) for _, e in events][-2:] for key, events in by_session.items()}
    assert endings["agent-00005"] == ["RemoteAgentSessionEnd", "AgentSessionEnd"]
    # the AgentSessionEnd was purged with the queue: the recorder's 409 line ends it
    assert endings["agent-00007"] == ["RemoteAgentSessionEnd", "session_fsm.HttpSessionEnded"]
    assert by_session["agent-00007"][-1][1] == {
        "Type": "session_fsm.HttpSessionEnded", "HttpStatus": "409",
        "SessionId": by_session["agent-00007"][0][1]["SessionId"]}
    assert endings["agent-00004"] == ["AgentLeg", "AgentSessionEnd"]
    ends = {"AgentSessionEnd", "RemoteAgentSessionEnd", "session_fsm.HttpSessionEnded"}
    for key, events in by_session.items():
        types = [type_of(e) for _, e in events]
        for end in ends:
            if end in types:  # nothing but the end events after an end
                tail = types[types.index(end):]
                assert set(tail) <= ends, key


def test_asked_to_a_remote_logoff_is_left_without_its_end(
        warned_run: tuple[bytes, Simulation]) -> None:
    last = {}
    for line in map(orjson.loads, warned_run[0].splitlines()):
        last[line["session"]] = line.get("event") or line["events"][-1]
    assert type_of(last["agent-00007"]) == "RemoteAgentSessionEnd"
    assert type_of(last["agent-00005"]) == "AgentSessionEnd"


def test_both_acw_paths_with_and_without_a_timeout(
        by_session: dict[str, list[tuple[int, dict[str, Any]]]]) -> None:
    two_step = direct = 0
    timeouts: set[str] = set()
    next_next = 0
    for events in by_session.values():
        disconnects: dict[str, list[bool]] = collections.defaultdict(list)
        last_final_disconnect: str | None = None
        for _, event in events:
            kind = type_of(event)
            if kind == "AgentState":
                acw = flag(event.get("IsAcw", event.get("IsACW")))
                next_next += len(event["NextStates"]) == 2
                if acw:
                    assert event["CurrentState"] == "Unavailable"
                    timeouts.add(event["AcwTimeout"])
                    if last_final_disconnect is not None and \
                            disconnects[last_final_disconnect] == [True]:
                        direct += 1
                last_final_disconnect = None
            elif event.get("Status") == "Disconnected" and "ContactID" in event:
                disconnects[event["ContactID"]].append(flag(event["FinalState"]))
                if flag(event["FinalState"]):
                    last_final_disconnect = event["ContactID"]
        two_step += sum(1 for seq in disconnects.values() if seq == [False, True])
    assert two_step >= 5
    assert direct >= 5
    assert "0" in timeouts
    assert timeouts - {"0"}
    assert next_next >= 10


def test_personal_connection_calls_link_one_at_a_time_and_the_link_moves(
        by_session: dict[str, list[tuple[int, dict[str, Any]]]]) -> None:
    most_concurrent = moves = full_path = 0
    for events in by_session.values():
        open_calls: dict[str, bool] = {}  # ContactID -> IsLinked
        statuses: dict[str, list[str]] = collections.defaultdict(list)
        last_linked: str | None = None
        for _, event in events:
            if type_of(event) != "CallContactEvent":
                continue
            cid = event["ContactID"]
            statuses[cid].append(event["Status"])
            open_calls[cid] = flag(event["IsLinked"])
            if flag(event["FinalState"]):
                del open_calls[cid]
            linked = [c for c, is_linked in open_calls.items() if is_linked]
            assert len(linked) <= 1, linked
            if event["CallType"] == "NaturalCalling":
                most_concurrent = max(most_concurrent, len(open_calls))
            if linked and last_linked is not None and linked[0] != last_linked:
                moves += 1
            if linked:
                last_linked = linked[0]
        full_path += sum(1 for seq in statuses.values() if seq[:4] == [
            "NaturalCallDialing", "NaturalCallRinging", "NaturalCallAMD", "Active"])
    assert most_concurrent >= 3
    assert moves >= 5
    assert full_path >= 5


def test_chat_text_follows_its_chat_by_room(
        by_session: dict[str, list[tuple[int, dict[str, Any]]]]) -> None:
    texts = 0
    for events in by_session.values():
        open_rooms: set[str] = set()
        for _, event in events:
            if type_of(event) == "ChatContactEvent":
                open_rooms.add(event["RoomId"])
                if flag(event["FinalState"]):
                    open_rooms.discard(event["RoomId"])
            elif type_of(event) == "ChatText":
                assert event["RoomId"] in open_rooms
                texts += 1
    assert texts >= 20


def test_calls_hold_mask_conference_and_consult(run: tuple[bytes, Simulation]) -> None:
    data = run[0]
    for status in (b"Holding", b"Masking", b"Joined", b"Ringing", b"Preview",
                   b"CallBackDisconnected", b"Interrupted", b"Discarded", b"Transfer"):
        assert b'"Status":"' + status + b'"' in data, status
    for call_type in (b"Consult", b"TakeOver", b"NaturalCalling", b"Dialer", b"Regular"):
        assert b'"CallType":"' + call_type + b'"' in data, call_type
    for state in (b"InboundConsult", b"OutboundConsult", b"Refused", b"DialerPending",
                  b"LoggedIn", b"LoggedOut"):
        assert b'"CurrentState":"' + state + b'"' in data, state


# --- built as typed events, written by the codec -------------------------------------------


def _meaning(event: Any) -> Any:
    """What an event says: an unknown type's raw object without its tag, whose key the
    live stream spells either way; any other event as it is."""
    if isinstance(event, ev.UnknownEvent):
        return event.type, {k: v for k, v in event.raw.items() if k not in ("Type", "type")}
    return event


def test_each_event_written_decodes_to_the_typed_event_it_was_built_as(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Spelling an event as the live stream does (``type``, ``"true"``, ``IsACW``, the
    documentation's empty values, undocumented extras) never changes what it says."""
    built: dict[str, list[Any]] = collections.defaultdict(list)
    emit = SessionWriter.emit

    def recording(self: SessionWriter, event: Any, *args: Any, **kwargs: Any) -> None:
        # what emit writes: not past the window, never the same event twice in a row
        if not self.cut and not (self.batch is None and event == self.last_event):
            built[self.key].append(event)
        emit(self, event, *args, **kwargs)

    monkeypatch.setattr(SessionWriter, "emit", recording)
    data, simulation = _run(AGENTS, SEED, MINUTES)
    written: dict[str, list[Any]] = collections.defaultdict(list)
    for line in map(orjson.loads, data.splitlines()):
        written[line["session"]].extend(line.get("events", [line.get("event")]))
    assert sum(map(len, built.values())) == simulation.summary.events
    assert written.keys() == built.keys()
    for key, events in written.items():
        assert [_meaning(decode(e)) for e in events] == [_meaning(e) for e in built[key]], key


@pytest.mark.parametrize("name", sorted(ALL_EXAMPLES))
def test_the_documentations_examples_are_written_key_for_key(name: str) -> None:
    """The documentation's form, empty values in their place (``"Timeout": ""``), and
    the live stream's: the tag and the booleans respelled where they stand."""
    example = ALL_EXAMPLES[name]
    event = decode(example)
    renames = {"Data": "data"} if "data" in example else None  # CustomEvent's casing
    assert list(spelled(event, PLAIN, renames=renames).items()) == list(example.items())
    for spelling in QUIRKS:
        quirky = spelled(event, spelling, renames=renames)
        respelled = {spelling.tag if key == "Type" else key:
                     spelling.true if value == "True" else
                     spelling.false if value == "False" else value
                     for key, value in example.items()}
        assert list(quirky.items()) == list(respelled.items()), spelling
        assert decode(quirky) == event


# --- the engine's reading of it -------------------------------------------------------------


def test_the_engine_finds_no_violation_at_all(
        engine: SessionEngine, run: tuple[bytes, Simulation]) -> None:
    """No error, and no warning either: ``validate --strict`` passes on the stream."""
    assert list(engine.violations()) == []
    assert all(not e.warnings for e in run[1].expected().values())


def test_asked_to_the_engine_finds_exactly_the_intended_warnings(
        warned_run: tuple[bytes, Simulation], tmp_path: Path) -> None:
    engine = _replayed(warned_run[0], tmp_path / "warned.jsonl")
    violations = list(engine.violations())
    assert [v for v in violations if v.severity is Severity.ERROR] == []
    assert {v.rule for v in violations} == INTENDED_WARNINGS
    expected = warned_run[1].expected()
    per_session: dict[str, dict[str, int]] = collections.defaultdict(dict)
    for v in violations:
        per_session[v.session][v.rule] = per_session[v.session].get(v.rule, 0) + 1
    assert {key: dict(e.warnings) for key, e in expected.items() if e.warnings} == per_session
    # the cast: agent 7 is logged off remotely with no AgentSessionEnd, agent 5 with one
    assert per_session["agent-00007"]["remote-end-without-end"] == 1
    assert "remote-end-without-end" not in per_session.get("agent-00005", {})
    # and the engine agrees with the simulator about every session, warned or not
    snapshots = {snap.key: snap for snap in engine.snapshot()}
    for key, want in expected.items():
        assert _as_expected(snapshots[key]) == _from_expected(want), key


def _as_expected(snap: Snapshot) -> dict[str, Any]:
    agent = snap.agent_state
    return {
        "session": (snap.session.session_id, snap.session.agent_id, snap.session.bus_no,
                    snap.session.status, snap.session.end_reason, snap.session.end_message),
        "agent_state": None if agent is None else (
            agent.state, agent.out_reason, agent.since, agent.is_acw, agent.acw_timeout_s,
            agent.acw_deadline, tuple((n.state, n.out_reason) for n in agent.next_states)),
        **_common(snap),
    }


def _from_expected(e: ExpectedSession) -> dict[str, Any]:
    agent = e.agent_state
    return {
        "session": (e.session_id, e.agent_id, e.bus_no, e.status, e.end_reason, e.end_message),
        "agent_state": None if agent is None else (
            agent.state, agent.out_reason, agent.since, agent.is_acw, agent.acw_timeout_s,
            agent.acw_deadline, agent.next_states),
        **_common(e),
    }


def _common(s: Snapshot | ExpectedSession) -> dict[str, Any]:
    """The parts a snapshot and the simulator's expectation spell alike."""
    return {
        "agent_leg": None if s.agent_leg is None else (
            s.agent_leg.id, s.agent_leg.status, s.agent_leg.final),
        "contacts": [(c.contact_id, c.media, c.status, c.in_acw, c.is_linked, c.is_inbound,
                      c.call_type, c.skill, c.started, c.last_change) for c in s.contacts],
        "linked_contact_id": s.linked_contact_id,
        "monitoring": None if s.monitoring is None else (
            s.monitoring.target_agent_id, s.monitoring.since, s.monitoring.contact_id),
        "events": s.events,
    }


def test_the_simulators_knowledge_equals_the_engines_final_snapshot(
        engine: SessionEngine, run: tuple[bytes, Simulation]) -> None:
    expected = run[1].expected()
    snapshots = {snap.key: snap for snap in engine.snapshot()}
    assert set(snapshots) == set(expected)
    for key, want in expected.items():
        got, wanted = _as_expected(snapshots[key]), _from_expected(want)
        assert got.keys() == wanted.keys()
        for field, value in wanted.items():
            assert got[field] == value, (key, field)
    # The comparison covers sessions in every kind of end state, not only idle ones.
    wants = list(expected.values())
    assert {e.status for e in wants} == {"active", "ended"}
    assert {e.end_reason for e in wants} == {None, "AgentSessionEnd", "RemoteAgentSessionEnd"}
    assert sum(len(e.contacts) for e in wants) >= 3
    assert any(e.agent_leg is not None and e.agent_leg.final for e in wants)


def test_the_knowledge_holds_for_windows_that_cut_sessions_anywhere(tmp_path: Path) -> None:
    """Short windows end sessions mid-contact, mid-ACW, mid-dialer round, mid-join."""
    cut_contacts = 0
    for seed in range(12):
        data, simulation = _run(12, seed, 4)
        engine = _replayed(data, tmp_path / f"cut-{seed}.jsonl")
        assert list(engine.violations()) == [], seed  # a cut earns no warning either
        expected = simulation.expected()
        for snap in engine.snapshot():
            want = expected[snap.key]
            assert _as_expected(snap) == _from_expected(want), (seed, snap.key)
            cut_contacts += len(want.contacts)
    assert cut_contacts >= 12


# --- the command ----------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "session_fsm", "simulate", *args],
                          capture_output=True, timeout=60, check=False)


def test_the_command_writes_the_same_stream_as_the_library(tmp_path: Path) -> None:
    out = tmp_path / "F.jsonl"
    done = _cli("--agents", "3", "--seed", "1", "--minutes", "5", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == _run(3, 1, 5)[0]
    assert b"events" in done.stdout
    assert not (tmp_path / "F.jsonl.part").exists()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_validate_strict_passes_on_the_commands_output(seed: int, tmp_path: Path) -> None:
    """The project's own output is a clean stream: not one warning, so --strict exits 0."""
    out = tmp_path / "F.jsonl"
    done = _cli("--agents", "20", "--seed", str(seed), "--out", str(out))
    assert done.returncode == 0, done.stderr
    checked = subprocess.run([sys.executable, "-m", "session_fsm", "validate", "--strict",
                              str(out)], capture_output=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert b"20 sessions" in checked.stdout
    assert b"0 errors, 0 warnings" in checked.stdout


def test_the_command_json_summary_and_gzip(tmp_path: Path) -> None:
    out = tmp_path / "F.jsonl.gz"
    done = _cli("--agents", "3", "--seed", "1", "--minutes", "5", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    summary = orjson.loads(done.stdout)
    data = gzip.decompress(out.read_bytes())
    assert data == _run(3, 1, 5)[0]
    assert summary["lines"] == data.count(b"\n")
    assert summary["events"] == sum(summary["types"].values())
    assert summary["sessions"] == 3
    assert summary["out"] == str(out)
    again = tmp_path / "G.jsonl.gz"
    _cli("--agents", "3", "--seed", "1", "--minutes", "5", "--out", str(again))
    assert again.read_bytes() == out.read_bytes()  # gzip without a timestamp


def test_the_command_writes_to_stdout_without_out(
        capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    main(["simulate", "--agents", "2", "--seed", "4", "--minutes", "3"])  # returns: exit 0
    assert capsysbinary.readouterr().out == _run(2, 4, 3)[0]


@pytest.mark.parametrize(("args", "message"), [
    (("--agents", "2", "--json"), "give --out FILE"),
    (("--agents", "0"), "--agents"),
    (("--agents", "2", "--start", "soon"), "not an ISO 8601 time"),
    (("--agents", "2", "--out", "/nonexistent-dir/x.jsonl"), "cannot write"),
])
def test_the_command_refuses_bad_usage_in_one_line(
        args: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["simulate", *args])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
