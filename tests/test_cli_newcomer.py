"""The command line as a newcomer meets it (issue 21): the real console script in a
subprocess, its streams and exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import agent_state, call, session_start

SCRIPT = Path(sys.executable).with_name("session-fsm")


def cli(*args: str, stdin: bytes | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], input=stdin.decode() if stdin else None,
                          capture_output=True, text=True, timeout=120, env=env)


def write_stream(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


# --- 2. empty input ------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["snapshot", "history", "changes"])
@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_empty_input_says_so_on_stderr_and_exits_0(tmp_path: Path, command: str,
                                                   as_json: bool) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    done = cli(command, str(empty), *(["--json"] if as_json else []))
    assert done.returncode == 0
    assert done.stderr == "session-fsm: the input held no events\n"
    if not as_json:
        assert done.stdout == ""


def test_input_with_events_says_nothing_of_the_kind(tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "one.jsonl", [session_start()])
    done = cli("snapshot", str(stream))
    assert (done.returncode, done.stderr) == (0, "")


# --- 3. one wording for a file that cannot be read ----------------------------------------


@pytest.mark.parametrize("command", [
    ["snapshot"], ["history"], ["changes"], ["validate"], ["ingest", "--db", "{tmp}/s.sqlite"],
    ["replay", "--out", "{tmp}/tables"],
], ids=lambda c: c[0])
def test_a_missing_file_is_named_in_one_wording_by_every_command(tmp_path: Path,
                                                                 command: list[str]) -> None:
    missing = tmp_path / "missing.jsonl"
    args = [a.replace("{tmp}", str(tmp_path)) for a in command[1:]]
    done = cli(command[0], str(missing), *args)
    assert done.returncode == 2
    assert done.stderr == f"session-fsm: cannot read {missing}: No such file or directory\n"


def test_a_missing_second_file_stops_before_the_first_is_read(tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "one.jsonl", [session_start()])
    checkpoint = tmp_path / "state.ckpt"
    done = cli("snapshot", str(stream), str(tmp_path / "two.jsonl"),
               "--checkpoint", str(checkpoint))
    assert done.returncode == 2
    assert done.stderr == (f"session-fsm: cannot read {tmp_path / 'two.jsonl'}: "
                           "No such file or directory\n")
    assert not checkpoint.exists()  # nothing was started


def test_a_folder_given_as_input_is_named(tmp_path: Path) -> None:
    done = cli("history", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr == f"session-fsm: cannot read {tmp_path}: Is a directory\n"


def test_a_checkpoint_that_cannot_be_written_is_named_not_its_temporary_file(
        tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "one.jsonl", [session_start()])
    checkpoint = tmp_path / "no-such-folder" / "state.ckpt"
    done = cli("snapshot", str(stream), "--checkpoint", str(checkpoint))
    assert done.returncode == 2
    assert done.stderr == (f"session-fsm: cannot write the checkpoint {checkpoint}: "
                           "No such file or directory\n")


# --- 4. a failed ingest creates nothing ----------------------------------------------------


def test_ingest_of_a_missing_file_creates_no_store(tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "one.jsonl", [session_start()])
    db = tmp_path / "new.sqlite"
    checkpoint = tmp_path / "ingest.ckpt"
    done = cli("ingest", str(stream), str(tmp_path / "missing.jsonl"), "--db", str(db),
               "--checkpoint", str(checkpoint))
    assert done.returncode == 2
    assert done.stderr == (f"session-fsm: cannot read {tmp_path / 'missing.jsonl'}: "
                           "No such file or directory\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.jsonl"]


def test_ingest_from_standard_input_is_not_refused_by_the_check(tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "one.jsonl", [session_start()])
    db = tmp_path / "new.sqlite"
    done = cli("ingest", "-", "--db", str(db), "--json", stdin=stream.read_bytes())
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["added"] == 1


# --- 5. a --base-url that names no server --------------------------------------------------


@pytest.mark.parametrize("url", ["not-a-url", "ftp://api.example.com/x", "https://",
                                 "https:///incontactapi", "http://["])
def test_follow_refuses_a_malformed_base_url_at_once(tmp_path: Path, url: str) -> None:
    token = tmp_path / "token"
    token.write_text("secret\n")
    # --max-retries at its default: a URL taken for a network error would be retried
    # for minutes, past the subprocess timeout
    done = subprocess.run([str(SCRIPT), "follow", "--base-url", url, "--session-id", "1",
                           "--token-file", str(token)], capture_output=True, text=True,
                          timeout=20)
    assert done.returncode == 2
    assert done.stderr == (
        "session-fsm: --base-url: expected an http:// or https:// URL with a host "
        "(https://api-{area}.{domain}/incontactapi/services/v{N}), got " + repr(url) + "\n")


# --- 6. options with a closed set of values ------------------------------------------------


CHAT_DAY = [
    session_start(),
    agent_state("Available", at="2013-09-11T05:00:00.000Z"),
    call("1569815", "Incoming", at="2013-09-11T05:01:00.000Z"),
    {"Type": "ChatContactEvent", "ContactID": "1569822", "Status": "Incoming",
     "StartTimeUTC": "2013-09-11T05:02:00.000Z", "LastStateChangeTimeUTC":
     "2013-09-11T05:02:00.000Z", "Skill": "1600", "FinalState": "False"},
]


def test_history_refuses_an_unknown_media_listing_the_valid_ones(tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "day.jsonl", CHAT_DAY)
    done = cli("history", str(stream), "--media", "fax")
    assert done.returncode == 2
    assert ("Invalid value for '--media': 'fax' is not one of 'call', 'work_item', 'chat', "
            "'voicemail', 'digital', 'supervisor'.") in done.stderr


def test_history_media_is_matched_in_any_case(tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "day.jsonl", CHAT_DAY)
    done = cli("history", str(stream), "--media", "CHAT", "--json")
    assert done.returncode == 0, done.stderr
    (session,) = orjson.loads(done.stdout)["sessions"]
    assert [c["contact_id"] for c in session["contacts"]] == ["1569822"]


def test_history_tells_of_an_undocumented_state_and_still_looks_for_it(
        tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "day.jsonl", CHAT_DAY)
    done = cli("history", str(stream), "--state", "Lunch", "--json")
    assert done.returncode == 0
    assert done.stderr.startswith("session-fsm: --state 'Lunch' is no documented agent state "
                                  "(LoggedOut, LoggedIn, Available, Unavailable, ")
    assert orjson.loads(done.stdout)["sessions"][0]["agent_states"] == []
    known = cli("history", str(stream), "--state", "available", "--json")
    assert known.stderr == ""
    states = orjson.loads(known.stdout)["sessions"][0]["agent_states"]
    assert [s["state"] for s in states] == ["Available"]


def test_replay_engine_and_validate_rules_list_the_valid_values(tmp_path: Path) -> None:
    engine = cli("replay", "x.jsonl", "--out", str(tmp_path / "t"), "--engine", "spark")
    assert engine.returncode == 2
    assert "'spark' is not one of 'local', 'dask'" in engine.stderr
    stream = write_stream(tmp_path / "day.jsonl", CHAT_DAY)
    rule = cli("validate", str(stream), "--ignore", "no-such-rule")
    assert rule.returncode == 2
    assert rule.stderr.startswith("session-fsm: unknown --ignore rule 'no-such-rule'; valid "
                                  "rules: contact-after-final, ")


# --- 7. piped tables are never cut ---------------------------------------------------------


def test_piped_snapshot_tables_are_not_cut_at_80_columns(tmp_path: Path) -> None:
    # an open call with a long skill name: the contacts row is far wider than 80 columns
    skill = "Customer-Service-Escalations-Tier-2"
    stream = write_stream(tmp_path / "open.jsonl", [
        session_start(),
        agent_state("InboundContact", at="2013-09-11T05:01:00.000Z"),
        {**call("1569815", "Active", at="2013-09-11T05:01:05.000Z"), "Skill": skill},
    ])
    done = cli("snapshot", str(stream), env={"PATH": "/usr/bin:/bin", "COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    assert "…" not in done.stdout
    (row,) = [line for line in done.stdout.splitlines() if "1569815" in line]
    assert row.split() == ["1569815", "call", "Active", "no", "no", "yes", skill,
                           "2013-09-11T05:01:05.000Z"]


def test_piped_history_is_not_cut_either(tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "day.jsonl", [
        session_start(),
        agent_state("Unavailable", at="2013-09-11T05:00:00.000Z",
                    out_reason="Lunch-Break-With-A-Very-Long-Unavailable-Code-Name"),
        agent_state("InboundContact", at="2024-03-04T08:08:57.752Z"),  # another date
    ])
    done = cli("history", str(stream))
    assert done.returncode == 0, done.stderr
    assert "…" not in done.stdout
    lines = [line.split() for line in done.stdout.splitlines()]
    assert ["Unavailable", "Lunch-Break-With-A-Very-Long-Unavailable-Code-Name",
            "2013-09-11T05:00:00.000Z", "2024-03-04T08:08:57.752Z",
            # 3,827 days (two leap days in between) and 3 h: 91,851 h
            "91851h", "08m", "57.752s"] in lines


# --- 9. singular and plural ------------------------------------------------------------------


def test_one_of_a_kind_is_singular(tmp_path: Path) -> None:
    # one event, one violation (no-session-start), one session
    stream = write_stream(tmp_path / "one.jsonl",
                          [agent_state("Available", at="2013-09-11T05:00:00.000Z")])
    snapshot = cli("snapshot", str(stream))
    assert "  1 event, 1 violation\n" in snapshot.stdout
    history = cli("history", str(stream))
    assert history.stdout.startswith(f"{stream}  0 contacts, 1 agent state\n")
    validate = cli("validate", str(stream))
    assert validate.stdout.splitlines()[-1] == "1 session, 1 event: 0 errors, 1 warning: ok"
    out = tmp_path / "sim.jsonl"
    simulate = cli("simulate", "--agents", "1", "--seed", "1", "--minutes", "0.05",
                   "--out", str(out))
    assert simulate.returncode == 0, simulate.stderr
    assert " for 1 session to " in simulate.stdout
