"""The shipped JSON Schemas (``session_fsm/schemas``, ``session-fsm schema NAME``) hold the
real outputs: every command's ``--json`` on simulated days of several seeds and on the
streams of the engine's scenario tests, run as users run them (the CLI in a subprocess),
and the real service's ``/api/sessions`` and ``/api/changes``.

Every output is validated against the *strict* variant of its schema
(:func:`session_fsm.schemas.strict`: no key beyond those the schema lists), so a key
added to an output without its description in the schema fails here; the shipped schemas
themselves allow more keys, as the contract welcomes them.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import subprocess
import sys
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import served as service_processes
import test_engine_scenarios as scenarios
from served import BOUND_S, Served

from session_fsm import schemas
from session_fsm.engine import SessionEngine
from session_fsm.engine.changes import as_json
from session_fsm.engine.rules import RuleName
from session_fsm.engine.session import AgentSession
from session_fsm.engine.snapshot import to_json as snapshot_json
from session_fsm.machines import spec_registry
from session_fsm.machines.contacts import CONTACT_MACHINES
from session_fsm.views.history import HistoryFold
from session_fsm.views.history import to_json as history_json

jsonschema = pytest.importorskip("jsonschema")
served = service_processes.served

NAMES = ["snapshot", "changes", "history", "validate", "report", "sessions", "change"]
SEEDS = (1, 8, 23)
KINDS = {"transition", "violation", "agent_status", "contact_details", "acw_linked",
         "link_moved", "transcript", "status_after_final", "noted"}
"""Every kind of change, as the README's change table names them."""


@functools.cache
def validator(name: str, definition: str | None = None) -> Any:
    """The strict variant of schema ``name`` (or of one of its ``$defs``)."""
    schema = schemas.strict(schemas.load(name))
    if definition is not None:
        schema = {"$schema": schema["$schema"], "$defs": schema["$defs"],
                  "$ref": f"#/$defs/{definition}"}
    return jsonschema.Draft202012Validator(schema)


def check(name: str, document: Any, definition: str | None = None) -> None:
    errors = sorted(validator(name, definition).iter_errors(document),
                    key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{name}: {'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:5])


def cli(*args: str, ok: tuple[int, ...] = (0,)) -> str:
    done = subprocess.run([sys.executable, "-m", "session_fsm", *args], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode in ok, (args, done.returncode, done.stderr[-2000:])
    return done.stdout


def check_change_lines(lines: list[str]) -> None:
    """Each line against the branch its kind names (the whole oneOf costs about 4 ms a
    line), and the first line of each kind against the whole schema, as ``changes``
    and as the service's stream sends it (``change``)."""
    first: set[str] = set()
    for text in lines:
        line = orjson.loads(text)
        check("changes", line, line["kind"])
        if line["kind"] not in first:
            first.add(line["kind"])
            check("changes", line)
            check("change", line)


def kinds_of(lines: str) -> set[str]:
    return {orjson.loads(line)["kind"] for line in lines.splitlines()}


def every_output(stream: Path, work: Path) -> set[str]:
    """Run every command that prints JSON on ``stream``, validate each output against its
    schema, and return the kinds of change seen."""
    skip = ("--skip-bad",)
    check("snapshot", orjson.loads(cli("snapshot", str(stream), "--json", *skip)))
    check("history", orjson.loads(cli("history", str(stream), "--json", *skip)))
    check("validate", orjson.loads(cli("validate", str(stream), "--json", *skip, ok=(0, 1))))
    changes = cli("changes", str(stream), "--json", *skip)
    check_change_lines(changes.splitlines())
    tables = work / f"tables-{stream.stem}"
    cli("replay", str(stream), "--out", str(tables), *skip)
    for by in ("skill", "agent", "hour", "day"):
        report = orjson.loads(cli("report", str(tables), "--by", by, "--json"))
        check("report", report)
        assert report["groups"], by
    return kinds_of(changes)


# --- the schemas themselves -----------------------------------------------------------


def described(node: Any, where: str = "") -> Iterator[str]:
    """Where a listed key has no description (empty when every key has one)."""
    if isinstance(node, dict):
        for key, value in node.get("properties", {}).items():
            if not (isinstance(value, dict) and str(value.get("description", "")).strip()):
                yield f"{where}/{key}"
        for key, value in node.items():
            yield from described(value, f"{where}/{key}")
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from described(value, f"{where}/{n}")


def test_every_schema_is_2020_12_and_every_key_is_described() -> None:
    assert list(schemas.NAMES) == NAMES
    for name in NAMES:
        schema = schemas.load(name)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", name
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.Draft202012Validator.check_schema(schemas.strict(schema))
        assert "\n" not in schema["title"], name
        assert schema["description"], name
        assert list(described(schema)) == [], name
        for definition, body in schema.get("$defs", {}).items():
            assert body.get("description"), (name, definition)


def test_the_files_that_share_defs_keep_them_identical() -> None:
    assert schemas.load("sessions")["$defs"] == schemas.load("snapshot")["$defs"]
    stream, changes = schemas.load("change")["$defs"], schemas.load("changes")["$defs"]
    assert {k: v for k, v in stream.items() if k != "reset"} == changes


def test_closed_sets_are_the_codes_own() -> None:
    changes = schemas.load("changes")
    assert {b["$ref"].rsplit("/", 1)[1] for b in changes["oneOf"]} == KINDS
    assert {changes["$defs"][k]["properties"]["kind"]["const"] for k in KINDS} == KINDS
    assert set(changes["$defs"]["machine"]["enum"]) == set(spec_registry())
    assert set(changes["$defs"]["violation"]["properties"]["rule"]["enum"]) == {
        rule.value for rule in RuleName}
    assert set(changes["$defs"]["contact_details"]["properties"]["media"]["enum"]) == set(
        CONTACT_MACHINES)
    change = schemas.load("change")
    assert {b["$ref"].rsplit("/", 1)[1] for b in change["oneOf"]} == KINDS | {"reset"}


def test_the_report_schema_lists_the_report_columns_in_order() -> None:
    """The group row's keys are --csv's columns; written out here, in the order the
    README's table has them."""
    group = schemas.load("report")["$defs"]["group"]
    assert list(group["properties"]) == [
        "group", "contacts", "offered", "handled", "abandoned", "missed", "refused",
        "unknown", "open_at_end", "abandon_rate", "outbound", "outbound_connected",
        "consults", "ring_avg_s", "ring_max_s", "talk_avg_s", "talk_max_s", "hold_avg_s",
        "hold_max_s", "acw_avg_s", "acw_max_s", "handle_avg_s", "handle_max_s"]
    assert "offered = handled + abandoned + missed + refused + unknown + open_at_end" in \
        group["properties"]["offered"]["description"]
    assert "ringing at the agent" in group["properties"]["abandoned"]["description"]


def test_strictness_shipped_allows_more_keys_strict_refuses_them(tmp_path: Path) -> None:
    stream = tmp_path / "one.jsonl"
    stream.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in scenarios_stream()))
    document = orjson.loads(cli("snapshot", str(stream), "--json"))
    check("snapshot", document)
    document["sessions"][0]["contacts"][0]["wrap_up_code"] = "42"  # a key not in the schema
    shipped = jsonschema.Draft202012Validator(schemas.load("snapshot"))
    assert shipped.is_valid(document)
    assert not validator("snapshot").is_valid(document)
    del document["sessions"][0]["contacts"][0]["skill"]  # a required key missing
    assert not shipped.is_valid(document)
    line = orjson.loads(cli("changes", str(stream), "--json").splitlines()[0])
    assert validator("changes").is_valid(line)
    assert not validator("changes").is_valid({**line, "kind": "transition2"})
    assert not validator("changes").is_valid({**line, "extra": 1})


def scenarios_stream() -> list[dict[str, Any]]:
    """A call offered, answered and still open (a small stream of the seed's events)."""
    from helpers import agent_state, call, session_start
    return [session_start(), agent_state("Available", at="2013-09-11T05:00:00.000Z"),
            call("1569815", "Incoming", at="2013-09-11T05:01:00.000Z"),
            agent_state("InboundContact", at="2013-09-11T05:01:02.000Z"),
            call("1569815", "Active", at="2013-09-11T05:01:02.000Z")]


# --- the command -----------------------------------------------------------------------------


def test_the_command_lists_prints_and_refuses() -> None:
    listed = cli("schema").splitlines()
    assert [line.split()[0] for line in listed] == NAMES
    assert listed[0].split(None, 1)[1] == "snapshot --json: each session's current state"
    machine = orjson.loads(cli("schema", "--json"))
    assert [s["name"] for s in machine["schemas"]] == NAMES
    for entry in machine["schemas"]:
        shown = cli("schema", entry["name"])
        assert json.loads(shown) == json.loads(Path(entry["path"]).read_text())
        assert Path(entry["path"]).name == f"{entry['name']}.schema.json"
    done = subprocess.run([sys.executable, "-m", "session_fsm", "schema", "snapshots"],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [
        "session-fsm: no schema 'snapshots'; the schemas are: snapshot, changes, history, "
        "validate, report, sessions, change"]


# --- simulated days through the CLI ------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_every_output_of_a_simulated_day_holds_its_schema(tmp_path: Path, seed: int) -> None:
    stream = tmp_path / f"day-{seed}.jsonl"
    cli("simulate", "--agents", "12", "--seed", str(seed), "--minutes", "120",
        "--out", str(stream))
    seen = every_output(stream, tmp_path)
    # a simulated day earns no violation; everything else it makes
    assert seen >= KINDS - {"violation", "status_after_final"}, seen


# --- the scenario tests' streams, through the CLI and the Python API ---------------------------


def _parameter_sets(function: Callable[..., Any]) -> list[dict[str, Any]]:
    """The keyword sets a scenario test runs with (its parametrize marks, if any)."""
    sets: list[dict[str, Any]] = [{}]
    for mark in getattr(function, "pytestmark", []):
        if mark.name != "parametrize":
            continue
        names = [n.strip() for n in (mark.args[0].split(",") if isinstance(mark.args[0], str)
                                     else mark.args[0])]
        values = [getattr(v, "values", v) for v in mark.args[1]]
        values = [v if len(names) > 1 else (v,) for v in values]
        sets = [{**done, **dict(zip(names, v, strict=True))} for done in sets for v in values]
    return sets


@pytest.fixture(scope="module")
def scenario_streams() -> dict[str, list[tuple[Hashable, dict[str, Any]]]]:
    """Every event the scenario tests of ``test_engine_scenarios.py`` feed, per session
    they make, with its batch (a 409 ended from outside is its recorded line's event)."""
    streams: dict[str, list[tuple[Hashable, dict[str, Any]]]] = {}
    feed, end = AgentSession.feed, AgentSession.end
    names: dict[int, str] = {}
    alive: list[AgentSession] = []
    current = [""]

    def stream_of(session: AgentSession) -> list[tuple[Hashable, dict[str, Any]]]:
        if id(session) not in names:
            names[id(session)] = f"{current[0]}-{len(names)}"
            alive.append(session)  # so that no later session gets its id
        return streams.setdefault(names[id(session)], [])

    def recording_feed(self: AgentSession, event: Any, *args: Any, **kw: Any) -> Any:
        if isinstance(event, dict):
            stream_of(self).append((kw.get("batch", args[0] if args else None), event))
        return feed(self, event, *args, **kw)

    def recording_end(self: AgentSession, reason: str = "409", message: str | None = None
                      ) -> Any:
        if reason == "409":
            stream_of(self).append((object(), {"Type": "session_fsm.HttpSessionEnded",
                                               "HttpStatus": "409", "SessionId": "0"}))
        return end(self, reason, message)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AgentSession, "feed", recording_feed)
        patch.setattr(AgentSession, "end", recording_end)
        for name, function in inspect.getmembers(scenarios, inspect.isfunction):
            if not name.startswith("test_") or function.__module__ != scenarios.__name__:
                continue
            wanted = set(inspect.signature(function).parameters)
            for n, parameters in enumerate(_parameter_sets(function)):
                if set(parameters) != wanted:
                    continue  # a scenario that needs a fixture: not a plain stream
                current[0] = f"{name.removeprefix('test_')}-{n}"
                # a scenario that fails is its own test's news; its stream is still one
                with contextlib.suppress(AssertionError):
                    function(**parameters)
    return {key: events for key, events in streams.items() if events}


def envelopes(streams: dict[str, list[tuple[Hashable, dict[str, Any]]]]) -> bytes:
    """The streams as one input: a line per batch (a response), keyed by session."""
    lines = []
    for key, events in streams.items():
        batch: list[dict[str, Any]] = []
        last: Any = object()
        for tag, event in events:
            if batch and (tag is None or tag != last):
                lines.append({"session": key, "events": batch})
                batch = []
            batch.append(event)
            last = tag
        lines.append({"session": key, "events": batch})
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def test_the_scenario_streams_through_the_cli_hold_their_schemas(
        scenario_streams: dict[str, list[tuple[Hashable, dict[str, Any]]]],
        tmp_path: Path) -> None:
    assert len(scenario_streams) >= 40
    stream = tmp_path / "scenarios.jsonl"
    # and an input line that is not JSON, which validate and changes report at its place
    stream.write_bytes(envelopes(scenario_streams) + b"{not json\n")
    seen = every_output(stream, tmp_path)
    assert seen == KINDS, KINDS - seen


def test_the_scenario_streams_through_the_python_api_hold_their_schemas(
        scenario_streams: dict[str, list[tuple[Hashable, dict[str, Any]]]]) -> None:
    engine, fold = SessionEngine(), HistoryFold()
    engine.subscribe(fold.apply)
    seen = set()
    for key, events in scenario_streams.items():
        for tag, event in events:
            batch = object() if tag is None else (key, tag)
            for change in engine.feed(event, key=key, batch=batch):
                line = as_json(change)
                check("changes", line)
                seen.add(line["kind"])
    for change in engine.finish():
        check("changes", as_json(change))
    for snap in engine.snapshot():
        check("snapshot", snapshot_json(snap), "session")
    for history in fold.histories():
        check("history", history_json(history), "session")
    assert seen == KINDS, KINDS - seen


# --- the service ---------------------------------------------------------------------------------


def get(service: Served, path: str) -> Any:
    answer = httpx.get(f"{service.url}{path}", timeout=BOUND_S, trust_env=False)
    assert answer.status_code == 200, (path, answer.text)
    return answer.json()


def sse(service: Served, after: int, until: int | None = None) -> list[tuple[str, int, Any]]:
    """``(event name, id, data)`` of ``/api/changes`` after ``after``: up to id ``until``,
    or only the first event when ``until`` is None."""
    found: list[tuple[str, int, Any]] = []
    buffer = b""
    with httpx.stream("GET", f"{service.url}/api/changes", headers={"Last-Event-ID": str(after)},
                      timeout=BOUND_S, trust_env=False) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            buffer += chunk
            *blocks, buffer = buffer.split(b"\n\n")
            for block in blocks:
                fields = dict(line.split(b": ", 1) for line in block.split(b"\n")
                              if not line.startswith(b":"))
                if not fields:
                    continue
                found.append((fields.get(b"event", b"message").decode(), int(fields[b"id"]),
                              orjson.loads(fields[b"data"])))
                if until is None or found[-1][1] >= until:
                    return found
    return found


def test_the_services_sessions_and_change_stream_hold_their_schemas(
        tmp_path: Path, served: Callable[..., Served],
        scenario_streams: dict[str, list[tuple[Hashable, dict[str, Any]]]]) -> None:
    service = served()
    day = tmp_path / "day.jsonl"
    cli("simulate", "--agents", "6", "--seed", "4", "--minutes", "90", "--out", str(day))
    answer = httpx.post(f"{service.url}/api/events", content=day.read_bytes(), timeout=BOUND_S,
                        headers={"Authorization": f"Bearer {service.push_token()}",
                                 "Content-Type": "application/x-ndjson"}, trust_env=False)
    assert answer.status_code == 200, answer.text
    # a few scenario streams, violations among them, pushed as Served.push sends them
    chosen = [key for key in scenario_streams if "after_final" in key or "409" in key][:6]
    assert chosen
    service.push([(key, event) for key in chosen for _, event in scenario_streams[key]])

    listing = get(service, "/api/sessions")
    check("sessions", listing)
    assert len(listing["sessions"]) == 6 + len(chosen)
    assert listing["server_time"] is not None
    for key in ("agent-00001", chosen[0]):
        check("snapshot", get(service, f"/api/sessions/{key}"), "session")
        check("history", get(service, f"/api/sessions/{key}/history"), "session")
    part = get(service, f"/api/sessions?key={chosen[0]}")
    check("sessions", part)
    assert [s["key"] for s in part["sessions"]] == [chosen[0]]

    last = listing["last_change_id"]
    events = sse(service, 0, last)
    assert events[-1][1] == last
    assert len(events) == last - listing["oldest_change_id"] + 1
    for name, _, data in events:
        assert name == "message"
        check("change", data)
    assert {data["kind"] for _, _, data in events} >= {"transition", "violation",
                                                        "agent_status", "noted"}
    (name, change_id, data), = sse(service, last + 1_000)  # an id never issued
    assert (name, change_id, data["kind"], data["after"]) == ("reset", last, "reset",
                                                              last + 1_000)
    check("change", data)


def test_every_line_of_follow_json_is_a_snapshot_session(tmp_path: Path) -> None:
    """``follow --json`` against the stand-in get-next-event server (six responses, then a
    409): each line is ``snapshot``'s ``$defs/session``, as the README says."""
    from get_next_event_server import ScriptServer, follow_command, loopback_env, session_script

    token = tmp_path / "token"
    token.write_text("fresh\n")
    with ScriptServer(session_script(failures=False)) as server:
        done = subprocess.run(follow_command(server, token, "--json"), capture_output=True,
                              timeout=BOUND_S, env=loopback_env(), check=False)
    assert done.returncode == 0, done.stderr
    lines = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 7
    for line in lines:
        check("snapshot", line, "session")
    assert lines[-1]["session"]["end_reason"] == "409"
