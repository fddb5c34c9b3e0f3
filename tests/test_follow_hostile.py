"""Following under hostile answers: bodies that are never JSON, drip, are too large, and a
recording that runs out of room. Real HTTP on 127.0.0.1 throughout; a real file size
limit (RLIMIT_FSIZE, in the child) for the full disk.

Every script ends (then 409) after a bounded number of requests, so that a follower
that loops where it should stop ends instead of running forever.
"""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

import helpers as h
import orjson
import pytest
from get_next_event_server import (
    BOUND_S,
    FIRST_ID,
    R1,
    R2,
    R3,
    ROTATED_ID,
    Reply,
    ScriptServer,
    Sleeps,
    file_size_limit,
    follow_command,
    follower,
    loopback_env,
    padded_response,
    replayed_snapshot,
    without_key,
)

from session_fsm.cli import main
from session_fsm.io.client import BodyTooLargeError, GaveUpError, RetryPolicy

MIB_16 = 16 * 1024 * 1024  # the reader's line limit, and so follow's default --max-body


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("fresh\n")
    return path


def _retry_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "session_fsm.io.client" and r.levelno == logging.WARNING]


# --- item 11: a 200 that is never a response ---------------------------------------------


def test_a_200_that_is_never_json_backs_off_counts_and_gives_up(
        token_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Before: 221 requests in 10 s, each body recorded. Now each is a failed poll: backed
    off as a 5xx is, counted toward max_retries, and neither applied nor recorded."""
    caplog.set_level(logging.WARNING, logger="session_fsm.io.client")
    recorded: list[bytes] = []
    sleeps = Sleeps()
    script = [Reply(200, b"<html>busy</html>")] * 10  # then 409: a bound for a follower that spins
    with ScriptServer(script) as server, \
            follower(server, token_file, sleeps, policy=RetryPolicy(max_retries=3),
                     record=recorded.append) as client, \
            pytest.raises(GaveUpError) as caught:
        client.run()
    assert len(server.seen) == 4  # the first poll and 3 retries
    assert caught.value.attempts == 4
    assert caught.value.cause.endswith(": <html>busy</html>")
    assert "200 body from " in caught.value.cause
    assert "is not JSON" in caught.value.cause
    # full jitter at rand 0.5 of min(10, 1 * 2**(n-1)) = 1, 2, 4 -> 0.5, 1, 2
    assert sleeps.delays == [0.5, 1.0, 2.0]
    assert len(_retry_warnings(caplog)) == 3
    assert recorded == []
    assert client.session.events == 0
    assert client.session.violations == []


def test_5xx_and_bodies_that_are_not_responses_count_as_one_run_of_failures(
        token_file: Path) -> None:
    script = [Reply(503), Reply(200, b"[1, 2]"), Reply(503), Reply(200, b"{}")]
    with ScriptServer(script) as server, \
            follower(server, token_file, Sleeps(), policy=RetryPolicy(max_retries=3)) as client, \
            pytest.raises(GaveUpError) as caught:
        client.run()
    assert [s.answered for s in server.seen] == ["503", "200", "503", "200"]
    assert "is not a get-next-event response" in caught.value.cause


# --- item 12: a body that drips ------------------------------------------------------------

# A response of 100 bytes (padded with spaces), sent one byte every 0.05 s: 5 s in all,
# though no read waits longer than 0.05 s, far under the 0.5 s per-read timeout.
DRIPPED = padded_response(ROTATED_ID, 100)


def test_a_dripping_body_is_abandoned_at_the_request_deadline(
        token_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Before: the per-read timeout never passed, and follow waited out the whole drip."""
    caplog.set_level(logging.WARNING, logger="session_fsm.io.client")
    sleeps = Sleeps()
    with ScriptServer([Reply(200, DRIPPED, drip_s=0.05)]) as server, \
            follower(server, token_file, sleeps, policy=RetryPolicy(max_retries=1)) as client:
        started = time.monotonic()
        result = client.run()
        elapsed = time.monotonic() - started
    # the 0.5 s deadline, at most one 0.05 s read past it, then the retry's 409 at once;
    # the whole drip would take 5 s
    assert elapsed < 2.0
    assert [s.answered for s in server.seen] == ["200", "409"]
    (warning,) = _retry_warnings(caplog)
    assert "no whole answer within the 0.5 s request deadline" in warning
    assert sleeps.delays == [0.5]
    # nothing of the dripped body was applied: its session id was never adopted
    assert result.session_id == FIRST_ID
    assert [s.session_id for s in server.seen] == [FIRST_ID, FIRST_ID]


def test_a_dripping_body_past_the_last_retry_gives_up_naming_the_deadline(
        token_file: Path) -> None:
    with ScriptServer([Reply(200, DRIPPED, drip_s=0.05)]) as server, \
            follower(server, token_file, Sleeps(), policy=RetryPolicy(max_retries=0)) as client, \
            pytest.raises(GaveUpError, match="request deadline") as caught:
        client.run()
    assert len(server.seen) == 1
    assert f"(resume from session id {FIRST_ID})" in str(caught.value)


# --- item 13: a body too large to record ---------------------------------------------------


def test_a_body_over_max_body_is_refused_unapplied(token_file: Path) -> None:
    body = orjson.dumps(R1)
    assert len(body) > 200
    recorded: list[bytes] = []
    with ScriptServer([Reply(200, body)]) as server, \
            follower(server, token_file, Sleeps(), max_body=200,
                     record=recorded.append) as client, \
            pytest.raises(BodyTooLargeError) as caught:
        client.run()
    assert len(server.seen) == 1
    assert (caught.value.limit, caught.value.line_bytes) == (200, None)
    assert str(caught.value) == (
        f"a 200 body from {server.url}/agent-sessions/{FIRST_ID}/get-next-event is over the "
        f"body limit of 200 bytes; nothing of it applied or recorded (resume from session id "
        f"{FIRST_ID})")
    assert recorded == []
    assert client.session.events == 0


def test_a_body_whose_recorded_line_would_be_over_max_body_is_refused(token_file: Path) -> None:
    """The recording holds the body re-encoded, and a number can grow: 1E9 is recorded as
    1000000000.0. The body is 44 bytes: {"events":[ (11), eight 1E9 and seven commas
    (31), ]} (2); its line is 11 + 8 * 12 + 7 + 2 = 116 bytes."""
    body = b'{"events":[1E9,1E9,1E9,1E9,1E9,1E9,1E9,1E9]}'
    assert len(body) == 44
    recorded: list[bytes] = []
    with ScriptServer([Reply(200, body)]) as server, \
            follower(server, token_file, Sleeps(), max_body=100,
                     record=recorded.append) as client, \
            pytest.raises(BodyTooLargeError) as caught:
        client.run()
    assert (caught.value.limit, caught.value.line_bytes) == (100, 116)
    assert "would be recorded as 116 bytes, over the body limit of 100 bytes" in str(caught.value)
    assert recorded == []
    assert client.session.violations == []  # the eight events that are not events: not fed


def test_a_body_at_max_body_is_applied(token_file: Path) -> None:
    body = orjson.dumps(R1)
    with ScriptServer([Reply(200, body)]) as server, \
            follower(server, token_file, Sleeps(), max_body=len(body)) as client:
        result = client.run()
    assert (result.outcome, result.responses) == ("ended", 1)
    assert len(server.seen) == 2


def test_follow_refuses_by_default_a_body_its_recording_could_not_replay(
        token_file: Path, tmp_path: Path) -> None:
    """Before: a line over 16 MiB was applied live and recorded, and the reader refused it
    on replay. An event with a field of 16 MiB is such a body."""
    big = {"sessionId": FIRST_ID, "events": [{**h.session_start(), "Padding": "x" * MIB_16}]}
    record = tmp_path / "live.jsonl"
    with ScriptServer([Reply(200, big)]) as server:
        done = subprocess.run(follow_command(server, token_file, "--json", "--record", str(record)),
                              capture_output=True, timeout=BOUND_S, env=loopback_env(),
                              check=False)
        seen = len(server.seen)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.decode().splitlines()[-1:]
    assert line == (f"session-fsm: a 200 body from {server.url}/agent-sessions/{FIRST_ID}/"
                    f"get-next-event is over the body limit of {MIB_16} bytes; nothing of it "
                    f"applied or recorded (resume from session id {FIRST_ID})")
    assert seen == 1
    assert done.stdout == b""
    assert record.read_bytes() == b""


def test_max_body_cannot_exceed_what_a_recording_can_be_read_with(
        token_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["follow", "--base-url", "http://127.0.0.1:9", "--session-id", "x",
              "--token-file", str(token_file), "--max-body", str(MIB_16 + 1)])
    assert exited.value.code == 2
    assert (f"Invalid value for '--max-body': {MIB_16 + 1} is not in the range "
            f"1<=x<={MIB_16}") in capsys.readouterr().err


# --- item 14: the recording runs out of room -----------------------------------------------


def test_a_full_disk_leaves_whole_lines_and_names_the_id_to_resume_from(
        token_file: Path, tmp_path: Path) -> None:
    """The limit falls 100 bytes into the third line: the recording keeps the first two,
    whole, and follow stops there, naming the id the second response rotated to."""
    line1, line2, line3 = (orjson.dumps(r) + b"\n" for r in (R1, R2, R3))
    assert len(line3) > 100
    record = tmp_path / "live.jsonl"
    env = {**loopback_env(), "PYTHONDONTWRITEBYTECODE": "1"}
    script = [Reply(200, R1), Reply(200, R2), Reply(200, R3), Reply(304)]
    with ScriptServer(script) as server:
        done = subprocess.run(
            follow_command(server, token_file, "--json", "--record", str(record)),
            capture_output=True, timeout=BOUND_S, env=env, check=False,
            preexec_fn=file_size_limit(len(line1) + len(line2) + 100))
        answered = [s.answered for s in server.seen]
    assert done.returncode == 2, done.stderr
    assert answered == ["200", "200", "200"]  # no poll after the failed write
    assert record.read_bytes() == line1 + line2
    (line,) = done.stderr.decode().splitlines()[-1:]
    assert line == (f"session-fsm: cannot record response 3: File too large ({record}); "
                    f"nothing of it applied (resume from session id {ROTATED_ID})")
    # what was shown is what was recorded: two responses, and the recording replays to it
    shown = [orjson.loads(entry) for entry in done.stdout.splitlines()]
    assert [entry["events"] for entry in shown] == [3, 5]
    assert replayed_snapshot(record, env=loopback_env(), timeout=BOUND_S) == without_key(shown[-1])
