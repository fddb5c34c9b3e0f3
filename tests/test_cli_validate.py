"""``session-fsm validate`` as users run it: a real subprocess, its output and exit codes.

Expected indexes and counts are worked out by hand from the streams written here.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from helpers import agent_state, call, session_end, session_start

CALL = "1569815"
AT = "2013-09-11T05:03:24.000Z"
LATER = "2013-09-11T05:04:00.000Z"


def run(*args: str, stdin: str | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "session_fsm", "validate", *args],
        input=stdin, capture_output=True, text=True, cwd=cwd, check=False, timeout=60,
    )


def jsonl(*events: Any) -> str:
    return "".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events)


def clean_stream() -> str:
    return jsonl(session_start(), agent_state("Available", at=AT),
                 call(CALL, "Incoming", at=AT), agent_state("InboundContact", at=AT),
                 call(CALL, "Active", at=LATER, start=AT),
                 call(CALL, "Disconnected", at=LATER, start=AT, final=True),
                 agent_state("Available", at=LATER), session_end())


def broken_stream() -> str:
    """Index 0 start, 1 Incoming, 2 Disconnected final, 3 Active after final (error),
    4 not JSON (error), 5 unknown Type (warning). Line 5 cannot be read: without
    --skip-bad that alone exits 2 (README, "Exit codes")."""
    return jsonl(session_start(), call(CALL, "Incoming", at=AT),
                 call(CALL, "Disconnected", at=LATER, start=AT, final=True),
                 call(CALL, "Active", at=LATER, start=AT),
                 '{"Type": "AgentState", "CurrentState": ',
                 {"Type": "FavoriteColor", "Data": "blue"})


def warnings_only() -> str:
    """Index 0 start, 1 unknown Type (warning), 2 end."""
    return jsonl(session_start(), {"Type": "FavoriteColor"}, session_end())


def test_clean_file_exits_0(tmp_path: Path) -> None:
    (tmp_path / "clean.jsonl").write_text(clean_stream())
    done = run("clean.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.strip().splitlines()[-1] == "1 session, 8 events: 0 errors, 0 warnings: ok"


def test_errors_exit_1_with_counts_then_violations(tmp_path: Path) -> None:
    (tmp_path / "calls.jsonl").write_text(broken_stream())
    done = run("calls.jsonl", "--skip-bad", cwd=tmp_path)  # the unreadable line accepted
    assert done.returncode == 1, done.stderr
    said = done.stderr.splitlines()
    assert said[0].startswith("session-fsm: unreadable calls.jsonl:5: not valid JSON: ")
    assert said[1:] == ["session-fsm: 1 unreadable item reported and accepted (--skip-bad)"]
    out = done.stdout
    lines = out.splitlines()
    # first the totals: rule, severity, count, sessions; errors first
    rows = [line.split() for line in lines]
    by_rule = rows.index(["Violations", "by", "rule"])
    assert rows[by_rule + 1:by_rule + 6] == [
        ["rule", "severity", "count", "sessions"],
        ["contact-after-final", "error", "1", "1"],
        ["not-json", "error", "1", "1"],
        ["unknown-event-type", "warning", "1", "1"],
        []]
    # then session, rule, severity, count; rules in catalogue order (errors first)
    by_session = rows.index(["Violations", "by", "session", "and", "rule"])
    assert by_session > by_rule
    assert rows[by_session + 1:by_session + 5] == [
        ["session", "rule", "severity", "count"],
        ["calls.jsonl", "contact-after-final", "error", "1"],
        ["not-json", "error", "1"],
        ["unknown-event-type", "warning", "1"]]
    # then every violation, one line each when piped, at its file:line
    detail = [line for line in lines if line.startswith("calls.jsonl:")]
    assert [line.split(": ")[:3] for line in detail] == [
        ["calls.jsonl:4", "error", "contact-after-final"],
        ["calls.jsonl:5", "error", "not-json"],
        ["calls.jsonl:6", "warning", "unknown-event-type"],
    ]
    assert detail[0].endswith("(session calls.jsonl, event 3, contact 1569815)")
    assert detail[1].endswith("(session calls.jsonl, event 4)")
    assert lines[-1] == "1 session, 5 events: 2 errors, 1 warning: FAILED"
    assert out.index("contact-after-final") < out.index("calls.jsonl:4")


def test_json_is_the_contract_document(tmp_path: Path) -> None:
    (tmp_path / "calls.jsonl").write_text(broken_stream())
    done = run("calls.jsonl", "--json", cwd=tmp_path)
    assert done.returncode == 2  # an unreadable line: the document is written all the same
    document = json.loads(done.stdout)
    assert list(document) == ["events", "errors", "warnings", "violations"]
    assert (document["events"], document["errors"], document["warnings"]) == (5, 2, 1)
    keys = ["rule", "severity", "session", "event_index", "contact_id", "source", "message"]
    assert all(list(v) == keys for v in document["violations"])
    assert all(isinstance(v["message"], str) and v["message"] for v in document["violations"])
    assert [{k: v[k] for k in keys[:-1]} for v in document["violations"]] == [
        {"rule": "contact-after-final", "severity": "error", "session": "calls.jsonl",
         "event_index": 3, "contact_id": CALL, "source": "calls.jsonl:4"},
        {"rule": "not-json", "severity": "error", "session": "calls.jsonl",
         "event_index": 4, "contact_id": None, "source": "calls.jsonl:5"},
        {"rule": "unknown-event-type", "severity": "warning", "session": "calls.jsonl",
         "event_index": 5, "contact_id": None, "source": "calls.jsonl:6"},
    ]


def test_json_of_a_clean_file(tmp_path: Path) -> None:
    (tmp_path / "clean.jsonl").write_text(clean_stream())
    done = run("clean.jsonl", "--json", cwd=tmp_path)
    assert done.returncode == 0
    assert json.loads(done.stdout) == {"events": 8, "errors": 0, "warnings": 0, "violations": []}


def test_warnings_exit_0_unless_strict(tmp_path: Path) -> None:
    (tmp_path / "w.jsonl").write_text(warnings_only())
    relaxed = run("w.jsonl", cwd=tmp_path)
    assert relaxed.returncode == 0
    assert relaxed.stdout.splitlines()[-1] == "1 session, 3 events: 0 errors, 1 warning: ok"
    strict = run("w.jsonl", "--strict", cwd=tmp_path)
    assert strict.returncode == 1
    assert strict.stdout.splitlines()[-1] == (
        "1 session, 3 events: 0 errors, 1 warning: FAILED (--strict: warnings fail too)")
    assert run("w.jsonl", "--strict", "--json", cwd=tmp_path).returncode == 1
    # --strict with no warning at all still passes
    (tmp_path / "clean.jsonl").write_text(clean_stream())
    assert run("clean.jsonl", "--strict", cwd=tmp_path).returncode == 0


def test_ignore_silences_rules_and_their_exit_code(tmp_path: Path) -> None:
    (tmp_path / "calls.jsonl").write_text(broken_stream())
    done = run("calls.jsonl", "--json", "--ignore", "contact-after-final", "--ignore",
               "not-json", "--skip-bad", cwd=tmp_path)
    assert done.returncode == 0
    document = json.loads(done.stdout)
    assert (document["errors"], document["warnings"]) == (0, 1)
    assert [v["rule"] for v in document["violations"]] == ["unknown-event-type"]
    # and --strict still sees the warning that is left
    assert run("calls.jsonl", "--strict", "--ignore", "contact-after-final", "--ignore",
               "not-json", "--skip-bad", cwd=tmp_path).returncode == 1
    # a rule ignored is not reported; the line still could not be read: exit 2
    assert run("calls.jsonl", "--ignore", "contact-after-final", "--ignore", "not-json",
               cwd=tmp_path).returncode == 2


def test_select_checks_only_the_named_rules(tmp_path: Path) -> None:
    (tmp_path / "calls.jsonl").write_text(broken_stream())
    done = run("calls.jsonl", "--json", "--select", "unknown-event-type", "--skip-bad",
               cwd=tmp_path)
    assert done.returncode == 0
    assert [v["rule"] for v in json.loads(done.stdout)["violations"]] == ["unknown-event-type"]


def test_unknown_rule_is_a_usage_error_listing_the_valid_ones(tmp_path: Path) -> None:
    (tmp_path / "clean.jsonl").write_text(clean_stream())
    done = run("clean.jsonl", "--ignore", "duplicate-events", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("session-fsm: unknown --ignore rule 'duplicate-events'; valid rules: ")
    assert "duplicate-event," in line
    assert "contact-after-final" in line
    assert "Traceback" not in done.stderr
    assert run("clean.jsonl", "--select", "nope", cwd=tmp_path).returncode == 2


def test_file_that_cannot_be_opened_exits_2(tmp_path: Path) -> None:
    (tmp_path / "clean.jsonl").write_text(clean_stream())
    for args in (["missing.jsonl"], ["clean.jsonl", "missing.jsonl"]):
        done = run(*args, "--json", cwd=tmp_path)
        assert done.returncode == 2
        assert done.stdout == ""
        assert done.stderr == "session-fsm: cannot read missing.jsonl: No such file or directory\n"


def test_no_file_is_a_usage_error(tmp_path: Path) -> None:
    done = run(cwd=tmp_path)
    assert done.returncode == 2
    assert "Missing argument" in done.stderr


def test_unreadable_lines_are_reported_and_validation_goes_on(tmp_path: Path) -> None:
    # 0 start, 1 not JSON, 2 and 3 the two numbers of an array (an array is a batch of
    # events, and neither is an event), 4 bad boolean, 5 AgentSessionEnd, 6 an Indicator
    # after the end
    (tmp_path / "bad.jsonl").write_text(jsonl(
        session_start(), "this is not json", "[1, 2]",
        {"Type": "AgentLeg", "AgentLegId": "1", "Status": "Active", "FinalState": "maybe"},
        session_end(), {"Type": "Indicator", "Name": "IndTest"}))
    done = run("bad.jsonl", "--json", cwd=tmp_path)
    assert done.returncode == 2  # input that could not be read, reported and read past
    said = done.stderr.splitlines()
    assert said[0].startswith("session-fsm: unreadable bad.jsonl:2: not valid JSON: ")
    assert said[1:] == [
        "session-fsm: unreadable bad.jsonl:3: expected an event object, got a number",
        "session-fsm: unreadable bad.jsonl:3: expected an event object, got a number",
        "session-fsm: 3 unreadable items in the input, each reported at its place (use "
        "--skip-bad to accept them)"]
    assert [(v["rule"], v["event_index"], v["source"])
            for v in json.loads(done.stdout)["violations"]] == [
        ("not-json", 1, "bad.jsonl:2"),
        ("not-an-event", 2, "bad.jsonl:3"),
        ("not-an-event", 3, "bad.jsonl:3"),
        ("bad-field", 4, "bad.jsonl:4"),
        ("event-after-end", 6, "bad.jsonl:6"),
    ]
    assert "FinalState" in json.loads(done.stdout)["violations"][3]["message"]


def test_standard_input_and_gzip(tmp_path: Path) -> None:
    done = run("-", "--json", stdin=warnings_only())
    assert done.returncode == 0
    assert [(v["session"], v["source"]) for v in json.loads(done.stdout)["violations"]] == [
        ("-", "-:2")]
    with gzip.open(tmp_path / "calls.jsonl.gz", "wt") as out:
        out.write(broken_stream())
    done = run("calls.jsonl.gz", "--json", cwd=tmp_path)
    assert done.returncode == 2  # its line 5 cannot be read
    assert json.loads(done.stdout)["errors"] == 2


def test_many_sessions_are_grouped(tmp_path: Path) -> None:
    # agent-1: 0 start, 1 unknown Type; agent-2: 0 an AgentState and no start at all
    (tmp_path / "two.jsonl").write_text(jsonl(
        {"session": "agent-1", "events": [session_start(), {"Type": "FavoriteColor"}]},
        {"session": "agent-2", "event": agent_state("Available", at=AT)},
    ))
    done = run("two.jsonl", cwd=tmp_path)
    assert done.returncode == 0
    rows = [line.split() for line in done.stdout.splitlines()]
    # the totals lead: one warning of each rule, in one session each
    assert rows[:4] == [["Violations", "by", "rule"], ["rule", "severity", "count", "sessions"],
                        ["no-session-start", "warning", "1", "1"],
                        ["unknown-event-type", "warning", "1", "1"]]
    assert ["agent-1", "unknown-event-type", "warning", "1"] in rows
    assert ["agent-2", "no-session-start", "warning", "1"] in rows
    assert done.stdout.splitlines()[-1] == "2 sessions, 3 events: 0 errors, 2 warnings: ok"
    assert "two.jsonl:1: warning: unknown-event-type: " in done.stdout
    assert "(session agent-1, event 1)" in done.stdout


def test_help_has_examples() -> None:
    done = run("--help")
    assert done.returncode == 0
    assert "Examples:" in done.stdout
    assert "session-fsm validate calls.jsonl" in done.stdout
    for option in ("--json", "--strict", "--ignore", "--select"):
        assert option in done.stdout


def test_totals_per_rule_add_up_over_sessions(tmp_path: Path) -> None:
    # agent-1: two unknown Types; agent-2: one; agent-3: none (and no start: a warning)
    (tmp_path / "three.jsonl").write_text(jsonl(
        {"session": "agent-1", "events": [session_start(), {"Type": "FavoriteColor"},
                                          {"Type": "FavoriteFood"}]},
        {"session": "agent-2", "events": [session_start(), {"Type": "FavoriteColor"}]},
        {"session": "agent-3", "event": agent_state("Available", at=AT)},
    ))
    done = run("three.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()]
    assert rows[:4] == [["Violations", "by", "rule"], ["rule", "severity", "count", "sessions"],
                        ["no-session-start", "warning", "1", "1"],
                        ["unknown-event-type", "warning", "3", "2"]]
    assert done.stdout.splitlines()[-1] == "3 sessions, 6 events: 0 errors, 4 warnings: ok"
