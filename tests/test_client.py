"""The get-next-event follower against a real HTTP server on 127.0.0.1.

Every test runs the real client (httpx, sockets, JSON) against the scripted server of
``get_next_event_server``; only the backoff's sleep and random source are replaced, so
the retries cost no time. Requests are bounded by a 0.5 s request deadline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import helpers as h
import orjson
import pytest
from get_next_event_server import (
    BEFORE_END,
    EVENT_COUNT,
    FINAL,
    FIRST_ID,
    HTTP_TIMEOUT_S,
    R1,
    R2,
    R3,
    RESPONSES,
    ROTATED_ID,
    Reply,
    ScriptServer,
    Sleeps,
    follower,
    replayed_snapshot,
    session_script,
    without_key,
)

from session_fsm.engine import SessionEngine
from session_fsm.engine.changes import Change, Transition
from session_fsm.engine.snapshot import to_json
from session_fsm.io.client import (
    AuthError,
    FollowResult,
    GaveUpError,
    RetryPolicy,
    RotatedSessionIdError,
    SessionFollower,
    SessionIdError,
    TokenError,
    UnexpectedStatusError,
    check_session_id,
    printable,
)
from session_fsm.views.history import HistoryFold
from session_fsm.wire.reader import iter_wire


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("old\n")
    return path


def test_a_whole_session_through_every_failure(token_file: Path, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """304s, a rotating id, 401 + refreshed token, 503s, a drop, a slow response, 409."""
    record = tmp_path / "record.jsonl"
    changes: list[dict[str, Any]] = []
    delivered: list[tuple[Change, ...]] = []
    sleeps = Sleeps()

    def on_changes(these: tuple[Change, ...]) -> None:
        delivered.append(these)
        changes.append(to_json(client.session.snapshot()))

    def refresh() -> None:  # the token refresher, running when the server says 401
        token_file.write_text("fresh")

    script = session_script(failures=True, refresh_token=refresh)
    caplog.set_level(logging.WARNING, logger="session_fsm.io.client")
    with ScriptServer(script) as server, record.open("ab") as out:
        def append(line: bytes) -> None:
            out.write(line + b"\n")

        with follower(server, token_file, sleeps, record=append,
                      on_changes=on_changes) as client:
            result = client.run()
        seen = server.seen
        assert server.exhausted

    assert result == FollowResult("ended", "409", ROTATED_ID, responses=6, polls=len(seen))
    assert [s.answered for s in seen] == [
        "304", "200", "200", "304", "401", "200", "503", "503", "503", "drop", "slow",
        "200", "200", "200", "409"]
    # the rotation: the first three polls used the first id, every later one the new id
    assert [s.session_id for s in seen] == [FIRST_ID] * 3 + [ROTATED_ID] * 12
    assert {s.timeout for s in seen} == {"0"}
    # the 401: the token file was read again, and the fresh token used from then on
    assert [s.authorization for s in seen[4:6]] == ["Bearer old", "Bearer fresh"]
    assert {s.authorization for s in seen[6:]} == {"Bearer fresh"}
    # five failures in a row (3 x 503, drop, timeout): full jitter at rand 0.5 of
    # min(10, 1 * 2**(n-1)) = 1, 2, 4, 8, 10 -> 0.5, 1, 2, 4, 5
    assert sleeps.delays == [0.5, 1.0, 2.0, 4.0, 5.0]
    retries = [r.getMessage() for r in caplog.records if r.name == "session_fsm.io.client"
               and r.levelno == logging.WARNING]
    assert len(retries) == 5
    for attempt, (message, delay) in enumerate(zip(retries, sleeps.delays, strict=True), 1):
        assert f"attempt {attempt} of 61" in message
        assert f"retrying in {delay:.2f} s" in message
    assert "HTTP 503" in retries[0]
    assert "network error (RemoteProtocolError" in retries[3]
    assert "timed out (ReadTimeout" in retries[4]

    # every event applied exactly once, in order, the slow response included; the 409 is
    # applied as one more event (its HttpSessionEnded), at index 12 after events 0..11
    session = client.session
    assert without_key(to_json(session.snapshot())) == FINAL
    assert session.events == EVENT_COUNT + 1
    assert session.position == EVENT_COUNT + 1
    assert session.info.end_index == EVENT_COUNT
    fold = HistoryFold()
    for these in delivered:
        fold.apply_all(these)
    call = fold.history(session.key).contact("1569815")
    assert call is not None
    assert [(s.status, s.final, s.event_index) for s in call.steps] == [
        ("Incoming", False, 5), ("Active", False, 7), ("Disconnected", False, 8),
        ("Disconnected", True, 10)]
    # one delivery per response (each changed something), then the end's; the snapshot
    # before the end is the state after R6
    assert len(changes) == 7
    assert without_key(changes[-2]) == BEFORE_END
    assert without_key(changes[-1]) == FINAL
    assert changes[3]["agent_state"]["is_acw"] is False  # after R4: still on the call
    assert changes[4]["agent_state"]["acw_deadline"] == "2013-09-11T05:09:00.000Z"

    # the recording holds the six 200 responses as sent, then the 409 as a response-shaped
    # line with the id that was polled; it replays to exactly the final state, 409 included
    lines = record.read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines[:6]] == list(RESPONSES)
    assert orjson.loads(lines[6]) == {"sessionId": ROTATED_ID, "events": [
        {"Type": "session_fsm.HttpSessionEnded", "HttpStatus": "409", "SessionId": ROTATED_ID}]}
    assert len(lines) == 7
    assert replayed_snapshot(record) == FINAL
    # the hook handed every change once, in order: the very transitions the recording
    # replays to
    offline = SessionEngine()
    replayed: list[Change] = []
    for item in iter_wire([str(record)]):
        key, wire, source = item  # type: ignore[misc]
        replayed.extend(offline.feed(wire, key=key, source=source, batch=source))
    replayed.extend(offline.finish())

    def moves(stream: list[Change]) -> list[tuple[Any, ...]]:
        return [(c.machine, c.subject, c.from_state, c.to_state, c.trigger, c.event_index)
                for c in stream if isinstance(c, Transition)]

    live = [c for these in delivered for c in these]
    assert moves(live) == moves(replayed)
    assert len(moves(live)) > EVENT_COUNT // 2


def test_no_failures_means_no_sleep(token_file: Path) -> None:
    sleeps = Sleeps()
    with ScriptServer(session_script(failures=False)) as server, \
            follower(server, token_file, sleeps) as client:
        result = client.run()
    assert result.outcome == "ended"
    assert sleeps.delays == []
    assert without_key(to_json(client.session.snapshot())) == FINAL


def test_a_bad_field_is_reported_in_place_and_the_rest_applied(token_file: Path,
                                                               tmp_path: Path) -> None:
    bad = h.agent_state("Available", at="2013-09-11T05:02:00.000Z")
    bad["AcwTimeout"] = "soon"
    body = {"sessionId": FIRST_ID, "events": [h.session_start(), bad, h.leg()]}
    record = tmp_path / "record.jsonl"
    with ScriptServer([Reply(200, body)]) as server, \
            follower(server, token_file, Sleeps(), record=_append_to(record)) as client:
        client.run()
    session = client.session
    # the start, the state (without its AcwTimeout), the leg and the 409's HttpSessionEnded
    assert session.events == 4
    assert session.position == 4
    assert session.agent.label == "Available"
    (violation,) = session.violations
    assert violation.rule == "bad-field"
    assert violation.event_index == 1
    assert "AcwTimeout" in violation.message
    assert violation.source == "get-next-event:1"
    assert session.leg is not None
    assert session.info.end_reason == "409"
    # the recording replays to the snapshot follow ended with
    assert replayed_snapshot(record) == without_key(to_json(session.snapshot()))


def _append_to(path: Path) -> Any:
    def record(line: bytes) -> None:
        with path.open("ab") as out:
            out.write(line + b"\n")

    return record


@pytest.mark.parametrize(("content", "why"), [
    (b"<html>gateway</html>", "is not JSON"),
    (b'{"sessionId": "x", "events": {"Type": "AgentLeg"}}', "is not a get-next-event response"),
    (b'{"sessionId": 7, "events": []}', "is not a get-next-event response"),
])
def test_a_body_that_is_not_a_response_is_retried_and_nothing_applied_or_recorded(
        token_file: Path, content: bytes, why: str, caplog: pytest.LogCaptureFixture) -> None:
    """A 200 that is not a response is a failed poll, as a 5xx is: logged, backed off,
    neither applied nor recorded (a server stuck on one would fill the recording)."""
    caplog.set_level(logging.WARNING, logger="session_fsm.io.client")
    recorded: list[bytes] = []
    sleeps = Sleeps()
    leg = {"sessionId": ROTATED_ID, "events": [h.leg()]}
    script = [Reply(200, content), Reply(200, leg)]
    with ScriptServer(script) as server, \
            follower(server, token_file, sleeps, record=recorded.append) as client:
        client.run()
    session = client.session
    assert [v.rule for v in session.violations] == ["no-session-start"]
    assert session.events == 2  # the leg and the 409's HttpSessionEnded
    assert [s.session_id for s in server.seen] == [FIRST_ID, FIRST_ID, ROTATED_ID]
    assert sleeps.delays == [0.5]
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "session_fsm.io.client"]
    assert f"attempt 1 of 61): 200 body from {server.url}/agent-sessions/{FIRST_ID}/" \
           f"get-next-event {why}" in warning
    assert [orjson.loads(line) for line in recorded] == [leg, {
        "sessionId": ROTATED_ID, "events": [{"Type": "session_fsm.HttpSessionEnded",
                                             "HttpStatus": "409", "SessionId": ROTATED_ID}]}]


def test_agent_session_end_stops_without_another_poll(token_file: Path) -> None:
    body = {"sessionId": FIRST_ID, "events": [h.session_start(), h.session_end(message="bye")]}
    with ScriptServer([Reply(200, body)], then=Reply(500)) as server, \
            follower(server, token_file, Sleeps()) as client:
        result = client.run()
    assert result.outcome == "ended"
    assert result.reason == "AgentSessionEnd"
    assert len(server.seen) == 1
    assert client.session.info.end_message == "bye"


def test_remote_end_keeps_polling_until_the_409(token_file: Path) -> None:
    body = {"sessionId": FIRST_ID, "events": [h.session_start(), h.remote_end()]}
    with ScriptServer([Reply(200, body), Reply(304)]) as server, \
            follower(server, token_file, Sleeps()) as client:
        result = client.run()
    assert [s.answered for s in server.seen] == ["200", "304", "409"]
    assert result.reason == "RemoteAgentSessionEnd"  # the first end names the end
    # the 409 counts as the AgentSessionEnd that RemoteAgentSessionEnd promised
    assert client.session.violations == []


def test_a_409_with_a_call_still_open_replays_to_the_same_end(token_file: Path,
                                                               tmp_path: Path) -> None:
    """The 409 ends the session in the middle of call 1569815: the recording replays to
    the same end, the contacts-open-at-end warning at the same index included."""
    recorded: list[bytes] = []
    with ScriptServer([Reply(200, R1), Reply(200, R2), Reply(200, R3)]) as server, \
            follower(server, token_file, Sleeps(), record=recorded.append) as client:
        result = client.run()
    session = client.session
    assert result == FollowResult("ended", "409", ROTATED_ID, responses=3, polls=4)
    # R1..R3 hold 3 + 2 + 2 events (indexes 0..6): the 409's HttpSessionEnded is index 7,
    # where the call, Incoming since R3, is found open
    (violation,) = session.violations
    assert (violation.rule, violation.event_index, violation.contact_id) == (
        "contacts-open-at-end", 7, "1569815")
    assert violation.source == "get-next-event:4"
    live = without_key(to_json(session.snapshot()))
    assert live["session"]["status"] == "ended"
    assert live["session"]["end_reason"] == "409"
    assert live["events"] == 8
    assert live["violations"] == 1
    assert [c["status"] for c in live["contacts"]] == ["Incoming"]

    record = tmp_path / "record.jsonl"
    record.write_bytes(b"".join(line + b"\n" for line in recorded))
    assert replayed_snapshot(record) == live


HTTP_END = {"Type": "session_fsm.HttpSessionEnded", "HttpStatus": "409", "SessionId": FIRST_ID}


def test_the_recorded_409_is_one_end_with_the_others() -> None:
    """Replayed from a file, the 409's line ends a session as AgentSessionEnd does: once,
    never late itself, and what comes after it is late."""
    after_end = h.replay([h.session_start(), h.session_end(message="bye"), HTTP_END])
    assert (after_end.info.end_reason, after_end.info.end_index) == ("AgentSessionEnd", 1)
    assert after_end.violations == []
    twice = h.replay([h.session_start(), HTTP_END, HTTP_END, h.session_end()])
    assert (twice.info.end_reason, twice.info.end_index) == ("409", 1)
    assert twice.violations == []
    assert twice.events == 4
    late = h.replay([h.session_start(), HTTP_END, h.leg()])
    assert [(v.rule, v.event_index) for v in late.violations] == [("event-after-end", 2)]


def test_a_second_401_fails_clearly(token_file: Path) -> None:
    with ScriptServer([], then=Reply(401, b"nope")) as server, \
            follower(server, token_file, Sleeps()) as client, \
            pytest.raises(AuthError) as caught:
        client.run()
    assert len(server.seen) == 2
    assert "401 Unauthorized" in str(caught.value)
    assert f"resume from session id {FIRST_ID}" in str(caught.value)


def test_a_token_callable_is_called_for_every_request() -> None:
    tokens = iter(["t1", "t2", "t3", "t4"])
    with ScriptServer([Reply(304), Reply(304)]) as server, \
            follower(server, lambda: next(tokens), Sleeps()) as client:
        client.run()
    assert [s.authorization for s in server.seen] == ["Bearer t1", "Bearer t2", "Bearer t3"]


def test_a_str_token_is_refused_as_ambiguous() -> None:
    with pytest.raises(TypeError, match="not a str"):
        SessionFollower("http://127.0.0.1:9", FIRST_ID, "token-or-path?")  # type: ignore[arg-type]


@pytest.mark.parametrize(("content", "detail"), [(None, "No such file"), ("  \n", "empty")])
def test_an_unreadable_token_fails_clearly(tmp_path: Path, content: str | None,
                                           detail: str) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    with ScriptServer([]) as server, follower(server, path, Sleeps()) as client, \
            pytest.raises(TokenError, match=detail):
        client.run()
    assert server.seen == []


def test_giving_up_after_the_limit(token_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    sleeps = Sleeps()
    caplog.set_level(logging.WARNING, logger="session_fsm.io.client")
    with ScriptServer([], then=Reply(503, b"down")) as server, \
            follower(server, token_file, sleeps, policy=RetryPolicy(max_retries=3)) as client, \
            pytest.raises(GaveUpError) as caught:
        client.run()
    assert len(server.seen) == 4  # the first try and 3 retries
    assert caught.value.attempts == 4
    assert "HTTP 503" in caught.value.cause
    assert sleeps.delays == [0.5, 1.0, 2.0]
    assert len([r for r in caplog.records if r.name == "session_fsm.io.client"]) == 3


def test_429_is_retried_and_404_is_not(token_file: Path) -> None:
    with ScriptServer([Reply(429, b"slow down"), Reply(404, b"no such session")]) as server, \
            follower(server, token_file, Sleeps()) as client, \
            pytest.raises(UnexpectedStatusError) as caught:
        client.run()
    assert [s.answered for s in server.seen] == ["429", "404"]
    assert caught.value.status == 404
    assert "no such session" in str(caught.value)


def test_a_refused_connection_is_retried(token_file: Path) -> None:
    with ScriptServer([]) as server:
        url = server.url  # closed below: nothing listens there any more
    sleeps = Sleeps()
    client = SessionFollower(url, FIRST_ID, token_file, timeout=0, http_timeout=HTTP_TIMEOUT_S,
                             policy=RetryPolicy(max_retries=2), sleep=sleeps, rand=lambda: 0.5,
                             trust_env=False)
    with client, pytest.raises(GaveUpError, match="network error"):
        client.run()
    assert sleeps.delays == [0.5, 1.0]


def test_request_stop_finishes_the_response_then_stops(token_file: Path) -> None:
    stopper: list[Callable[[], None]] = []

    def on_changes(changes: tuple[Change, ...]) -> None:
        stopper[0]()

    with ScriptServer([Reply(200, R1), Reply(304)]) as server, \
            follower(server, token_file, Sleeps(), on_changes=on_changes) as client:
        stopper.append(client.request_stop)
        result = client.run()
    assert result.outcome == "stopped"
    assert result.session_id == FIRST_ID
    assert len(server.seen) == 1
    assert client.session.events == 3
    assert client.session.info.status == "active"


def test_the_retry_policy_caps_and_spreads() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=10.0)
    assert [policy.delay(n, lambda: 0.999) for n in (1, 2, 3, 4, 5, 60)] == pytest.approx(
        [0.999, 1.998, 3.996, 7.992, 9.99, 9.99])
    assert policy.delay(7, lambda: 0.0) == 0.0


def test_the_follower_refuses_a_timeout_the_api_does_not_allow(token_file: Path) -> None:
    with pytest.raises(ValueError, match=r"0\.\.60"):
        SessionFollower("http://127.0.0.1:9", FIRST_ID, token_file, timeout=61)



# --- the token, session ids and server text (issue 17, items 1 to 3) ----------------------

SECRET = "TOKEN-SECRET-5f3a9c"


@pytest.mark.parametrize(("content", "fault"), [
    (f"{SECRET}\nREFRESH-5f3a9c\n".encode(), "a line break"),  # an access and a refresh token
    (f"{SECRET}\r\nx".encode(), "a line break"),
    (f"{SECRET}\x00".encode(), "a control character (0x00)"),
    (f"{SECRET}\x1b[0m".encode(), "a control character (0x1b)"),
    (f"{SECRET}\t1".encode(), "a control character (0x09)"),
    (f"{SECRET}\x7f".encode(), "a control character (0x7f)"),
    (f"{SECRET}\u00e9".encode(), "a character that is not ASCII"),  # UTF-8
    (SECRET.encode() + b"\xff", "a character that is not ASCII"),  # not UTF-8 at all
    (f"Bearer {SECRET} 2".encode(), "a space"),
])
def test_a_token_that_is_not_one_header_value_is_refused_before_any_request(
        tmp_path: Path, content: bytes, fault: str) -> None:
    """Sent, such a token made httpx refuse the header and quote it in every retry's log
    and in the final error; a byte that is not UTF-8 was a UnicodeDecodeError."""
    path = tmp_path / "token"
    path.write_bytes(content)
    with ScriptServer([]) as server, \
            follower(server, path, Sleeps(), policy=RetryPolicy(max_retries=1)) as client, \
            pytest.raises(TokenError) as caught:
        client.run()
    assert server.seen == []
    assert str(caught.value) == (
        f"cannot read the bearer token: the token in {path} holds {fault}; a token is one "
        f"line of visible ASCII characters (resume from session id {FIRST_ID})")


def test_a_token_callable_is_checked_too() -> None:
    with ScriptServer([]) as server, \
            follower(server, lambda: f"{SECRET}\n", Sleeps(),
                     policy=RetryPolicy(max_retries=1)) as client, \
            pytest.raises(TokenError, match="the token holds a line break") as caught:
        client.run()
    assert server.seen == []
    assert "5f3a9c" not in str(caught.value)


def test_a_token_the_server_quotes_back_is_blanked_out(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(SECRET)
    with ScriptServer([Reply(400, echo_authorization=1)]) as server, \
            follower(server, path, Sleeps()) as client, \
            pytest.raises(UnexpectedStatusError) as caught:
        client.run()
    assert server.seen[0].authorization == f"Bearer {SECRET}"  # it was sent, and echoed
    assert caught.value.body == "Bearer [token]"
    assert "5f3a9c" not in str(caught.value)


@pytest.mark.parametrize("session_id", [
    "58070815", "a1b2c3-first", "A.b_c~d-9", "...", "x" * 256])
def test_a_plain_path_segment_is_a_session_id(session_id: str) -> None:
    assert check_session_id(session_id, "--session-id") == session_id


@pytest.mark.parametrize("session_id", [
    "", ".", "..", "a/b", "/", "a\\b", "%2e%2e", "a%2Fb", "a b", " x", "x\n", "a\tb",
    "x\x1b[2J", "\u00e9t\u00e9", "a?b", "a#b", "a;b", "x" * 257])
def test_anything_else_is_not_a_session_id(session_id: str) -> None:
    with pytest.raises(SessionIdError) as caught:
        check_session_id(session_id, "--session-id")
    assert caught.value.value == session_id
    assert str(caught.value).startswith("--session-id ")
    assert str(caught.value).endswith(
        " is not one plain path segment (1 to 256 of A-Z a-z 0-9 . _ ~ -, and not . or ..)")
    with pytest.raises(SessionIdError):
        SessionFollower("http://127.0.0.1:9", session_id, Path("token"))


@pytest.mark.parametrize(("rotated", "shown"), [
    ("..", '".."'),
    (".", '"."'),
    ("a/b", '"a/b"'),
    ("%2e%2e", '"%2e%2e"'),
    ("x\x1b[2J\r\n", '"x\\x1b[2J\\r\\n"'),
    ("s" * 300, '"' + "s" * 80 + '..."'),
])
def test_a_rotated_session_id_that_is_not_a_path_segment_is_refused(
        token_file: Path, rotated: str, shown: str) -> None:
    """``quote`` keeps ``.`` and ``..`` and httpx removes dot segments: a body naming
    ``..`` sent the next poll, token included, to ``{base}/get-next-event``."""
    body = {"sessionId": rotated, "events": [h.session_start()]}
    recorded: list[bytes] = []
    with ScriptServer([Reply(200, body), Reply(304), Reply(304)]) as server, \
            follower(server, token_file, Sleeps(), record=recorded.append) as client, \
            pytest.raises(RotatedSessionIdError) as caught:
        client.run()
    assert [s.path for s in server.seen] == [f"/agent-sessions/{FIRST_ID}/get-next-event"]
    assert str(caught.value) == (
        f"response 1 gives the session id {shown}, which is not one plain path segment (1 to "
        f"256 of A-Z a-z 0-9 . _ ~ -, and not . or ..); nothing of it applied, no request "
        f"made with it (resume from session id {FIRST_ID})")
    assert client.session.events == 0
    assert recorded == []
    assert client.session_id == FIRST_ID


def test_printable_escapes_what_a_terminal_would_act_on() -> None:
    assert printable("plain text, ünïcode") == "plain text, ünïcode"
    assert printable("a\x1b[2Jb\r\nc\x07\\d\u202ee\x00") == (
        "a\\x1b[2Jb\\r\\nc\\x07\\\\d\\u202ee\\x00")
    assert printable("x" * 201) == "x" * 200 + "..."
    assert printable("\n" * 3, 2) == "\\n\\n..."


def test_an_error_body_is_shown_escaped(token_file: Path) -> None:
    with ScriptServer([Reply(404, b"no\x1b[2J such\r\nsession\x07")]) as server, \
            follower(server, token_file, Sleeps()) as client, \
            pytest.raises(UnexpectedStatusError) as caught:
        client.run()
    assert caught.value.body == "no\\x1b[2J such\\r\\nsession\\x07"


def test_a_long_token_quoted_back_twice_leaves_no_piece_in_view(tmp_path: Path) -> None:
    """The excerpt is cut from the start of the body: 800 bytes and the token's length,
    1,800 here. The body is "Bearer " and the token, twice (2,014 bytes), so the cut
    falls 786 bytes into the second token; blanking the first token would bring that
    piece into the 200 characters shown."""
    token = ("TOKEN-SECRET-5f3a9c" * 53)[:1000]
    path = tmp_path / "token"
    path.write_text(token)
    with ScriptServer([Reply(400, echo_authorization=2)]) as server, \
            follower(server, path, Sleeps()) as client, \
            pytest.raises(UnexpectedStatusError) as caught:
        client.run()
    assert caught.value.body == "Bearer [token]Bearer "


def test_an_item_that_is_no_event_object_is_a_violation_in_place(token_file: Path) -> None:
    body = {"sessionId": FIRST_ID, "events": [h.session_start(), 7, h.leg()]}
    with ScriptServer([Reply(200, body)]) as server, \
            follower(server, token_file, Sleeps()) as client:
        client.run()
    session = client.session
    assert session.events == 3  # the start, the leg and the 409's HttpSessionEnded
    assert session.position == 4  # the number kept its place
    assert [(v.rule, v.event_index, v.source) for v in session.violations] == [
        ("not-an-event", 1, "get-next-event:1")]
