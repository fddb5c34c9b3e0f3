"""``session-fsm serve`` against real stand-in get-next-event servers on 127.0.0.1.

Each followed session has a server of its own (``get_next_event_server.ScriptServer``)
playing a script: 304s, a rotating session id, a 401 answered by a token refresh, a 503
burst, a dropped connection, a slow answer, and the 409 that ends it. The service runs
as a real subprocess (``python -m session_fsm serve``), and what its API says is checked
against what the one-shot commands say of the same events: ``snapshot --json`` for the
snapshots, ``changes --json`` for the event stream (same changes, same order per
session; only a violation's ``source`` differs, as a response number is not a file
line). The expected input is written by hand from the scripts: one line per 200 answer
applied, in order, and for the 409 the line the poll core makes for it.
"""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helpers as h
import httpx
import orjson
import pytest
from get_next_event_server import (
    FIRST_ID,
    R1,
    R2,
    R3,
    R4,
    R5,
    R6,
    ROTATED_ID,
    Reply,
    ScriptServer,
    loopback_env,
    session_script,
)

from session_fsm.wire.codec import encode
from session_fsm.wire.events import HttpSessionEnded

BOUND_S = 60.0
"""A bound on every wait of these tests: a hang fails instead of blocking the suite."""


# --- the service as a subprocess ----------------------------------------------------------


class Serve:
    """A running ``session-fsm serve``; its standard error is collected line by line."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "session_fsm", "serve", *args],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._collect, daemon=True).start()
        first = self._next_line()
        found = re.search(r" on (http://\S+) ", first)
        assert found, f"no listening line: {first!r}"
        self.url = found[1]
        self.http = httpx.Client(base_url=self.url, trust_env=False, timeout=10)
        said = self._next_line()
        named = re.search(r"needs the token in (.+) \(Authorization", said)
        assert named, f"no push token line: {said!r}"
        self.push_token = None if named[1] == "the --api-token-file" else \
            Path(named[1]).read_text().strip()

    def push(self, content: bytes, *, token: str | None = None,
             **options: Any) -> httpx.Response:
        """POST ``content`` to /api/events as JSON Lines, with the push token."""
        headers = {"Content-Type": "application/x-ndjson",
                   "Authorization": f"Bearer {token or self.push_token}"}
        return self.http.post("/api/events", content=content, headers=headers, **options)

    def _collect(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)
            self.lines.put(line)

    def _next_line(self) -> str:
        try:
            return self.lines.get(timeout=BOUND_S)
        except queue.Empty:
            self.process.kill()
            raise AssertionError(f"serve said nothing: {''.join(self.stderr)}") from None

    def get(self, path: str, **options: Any) -> Any:
        response = self.http.get(path, **options)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_until_followed(self, count: int) -> dict[str, Any]:
        """Block until ``count`` followed sessions ended (or failed); /healthz then."""
        deadline = time.monotonic() + BOUND_S
        while time.monotonic() < deadline:
            health = self.get("/healthz")
            if health["ended"] + len(health["failed"]) >= count:
                return health
            time.sleep(0.05)
        raise AssertionError(f"sessions still followed after {BOUND_S} s: {health}")

    def terminate(self) -> str:
        """SIGTERM, then the exit; its standard error."""
        self.http.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=BOUND_S)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        time.sleep(0.05)  # the collector thread's last lines
        text = "".join(self.stderr)
        assert code == 0, text
        return text

    def kill(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=BOUND_S)


def write_config(directory: Path, servers: dict[str, ScriptServer], *,
                 http_timeout: float = 0.5, tokens: dict[str, str] | None = None) -> Path:
    """A config following each server's session (FIRST_ID), with fast polls and retries."""
    lines = ["[poll]", "timeout = 0", f"http_timeout = {http_timeout}",
             "retry_base_delay = 0.01", "retry_max_delay = 0.05", ""]
    for key, server in servers.items():
        token_file = directory / f"{key}.token"
        if not token_file.exists():
            token_file.write_text((tokens or {}).get(key, "token-" + key))
        lines += ["[[session]]", f'key = "{key}"', f'base_url = "{server.url}"',
                  f'session_id = "{FIRST_ID}"', f'token_file = "{token_file.name}"', ""]
    path = directory / "sessions.toml"
    path.write_text("\n".join(lines))
    return path


def expected_input(path: Path, sessions: dict[str, list[dict[str, Any]]]) -> Path:
    """The events the service applied, as a file the one-shot commands read: per session,
    one keyed line per 200 answer (its events), in order."""
    with path.open("wb") as out:
        for key, responses in sessions.items():
            for response in responses:
                out.write(orjson.dumps({"session": key, "events": response["events"]}) + b"\n")
    return path


def ended_by_409(session_id: str) -> dict[str, Any]:
    """The response the poll core makes of a 409 (one HttpSessionEnded event)."""
    return {"events": [encode(HttpSessionEnded(http_status=409, session_id=session_id))]}


def cli_json(*args: str) -> Any:
    done = subprocess.run([sys.executable, "-m", "session_fsm", *args], capture_output=True,
                          timeout=BOUND_S, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def sse_events(serve: Serve, *, count: int, last_event_id: int | None = None
               ) -> list[tuple[str, int, dict[str, Any]]]:
    """The first ``count`` events of ``/api/changes`` as (event name, id, data)."""
    headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
    found: list[tuple[str, int, dict[str, Any]]] = []
    buffer = ""
    deadline = time.monotonic() + BOUND_S
    with serve.http.stream("GET", "/api/changes", headers=headers,
                           timeout=httpx.Timeout(10, read=BOUND_S)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for text in response.iter_text():
            buffer += text
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                fields: dict[str, str] = {}
                for line in block.split("\n"):
                    if line.startswith(":"):
                        continue
                    name, _, value = line.partition(": ")
                    fields[name] = value
                if "data" in fields:
                    found.append((fields.get("event", "message"), int(fields["id"]),
                                  orjson.loads(fields["data"])))
            if len(found) >= count or time.monotonic() > deadline:
                break
    return found


def kept_count(serve: Serve) -> int:
    """How many changes the service's log holds now (ids are consecutive)."""
    health = serve.get("/healthz")
    return int(health["last_change_id"] - health["oldest_change_id"] + 1)


def without_source(change: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in change.items() if k != "source"}


@pytest.fixture
def env() -> dict[str, str]:
    return loopback_env()


@pytest.fixture
def servers() -> Iterator[dict[str, ScriptServer]]:
    started: dict[str, ScriptServer] = {}
    try:
        yield started
    finally:
        for server in started.values():
            server.close()


# --- many sessions, against the one-shot commands -------------------------------------------


def test_serve_follows_many_sessions_and_says_what_snapshot_and_changes_say(
        tmp_path: Path, env: dict[str, str], servers: dict[str, ScriptServer]) -> None:
    alpha_token = tmp_path / "alpha.token"
    alpha_token.write_text("stale")
    # alpha: everything that goes wrong on a poll (a 401 the refresher answers, three
    # 503s, a dropped connection, an answer slower than the request deadline)
    servers["alpha"] = ScriptServer(session_script(
        failures=True, refresh_token=lambda: alpha_token.write_text("fresh"))).__enter__()
    # beta: a 503 burst before anything, 304s between answers
    servers["beta"] = ScriptServer([Reply(503, b"busy")] * 4 + [
        Reply(200, R1), Reply(304), Reply(200, R2), Reply(304), Reply(200, R3),
        Reply(200, R4), Reply(200, R5), Reply(200, R6), Reply(409)]).__enter__()
    # gamma: ends by a 409 with its call still ringing (contacts-open-at-end)
    servers["gamma"] = ScriptServer([Reply(200, R1), Reply(200, R2), Reply(304),
                                     Reply(200, R3), Reply(409)]).__enter__()
    config = write_config(tmp_path, servers)
    serve = Serve("--config", str(config), "--port", "0", env=env)
    try:
        health = serve.wait_until_followed(3)
        assert health["ended"] == 3, health
        api = serve.get("/api/sessions")
        history = serve.get("/api/sessions/alpha/history")
        metrics = serve.http.get("/metrics").text
        whole = sse_events(serve, count=kept_count(serve))
        middle = whole[len(whole) // 2][1]
        resumed = sse_events(serve, count=len(whole) - len(whole) // 2 - 1,
                             last_event_id=middle)
    finally:
        serve.terminate()

    full = [R1, R2, R3, R4, R5, R6, ended_by_409(ROTATED_ID)]
    expected = expected_input(tmp_path / "expected.jsonl", {
        "alpha": full, "beta": full,
        "gamma": [R1, R2, R3, ended_by_409(ROTATED_ID)],
    })
    snapshots = orjson.loads(cli_json("snapshot", str(expected), "--json"))["sessions"]
    assert sorted(api["sessions"], key=lambda s: s["key"]) == \
        sorted(snapshots, key=lambda s: s["key"])
    by_key = {s["key"]: s for s in api["sessions"]}
    # worked out from the scripts: 12 events and the 409's for alpha and beta, 7 + 1 for
    # gamma, whose ringing call is open at the end
    assert [by_key[k]["events"] for k in ("alpha", "beta", "gamma")] == [13, 13, 8]
    assert by_key["gamma"]["violations"] == 1
    assert by_key["gamma"]["contacts"][0]["contact_id"] == "1569815"

    cli_changes = [orjson.loads(line) for line in
                   cli_json("changes", str(expected), "--json").splitlines()]
    stream = [data for _, _, data in whole]
    assert [event for event, _, _ in whole] == ["message"] * len(whole)
    first_id = whole[0][1]
    assert [i for _, i, _ in whole] == list(range(first_id, first_id + len(whole)))
    assert whole[-1][1] == api["last_change_id"]
    for key in ("alpha", "beta", "gamma"):
        assert [without_source(c) for c in stream if c["session"] == key] == \
            [without_source(c) for c in cli_changes if c["session"] == key], key
    assert len(stream) == len(cli_changes)
    # Last-Event-ID resumes right after that id: the rest, nothing lost, nothing twice
    assert resumed == whole[len(whole) // 2 + 1:]

    expected_history = orjson.loads(cli_json("history", str(expected), "--json"))["sessions"]
    assert history == next(s for s in expected_history if s["key"] == "alpha")
    # the polls: alpha's 401 retried at once, its 503s, drop and slow answer backed off
    assert 'session_fsm_poll_retries_total{session="beta"} 4.0' in metrics
    assert 'session_fsm_violations_total{rule="contacts-open-at-end",severity="warning"} 1.0' \
        in metrics
    assert 'session_fsm_events_applied_total{session="gamma"} 8.0' in metrics
    # every poll after R2 asked for the rotated id; the token refresh was picked up
    alpha_seen = servers["alpha"].seen
    after_rotation = alpha_seen[3:]
    assert {s.session_id for s in after_rotation} == {ROTATED_ID}
    assert alpha_seen[-1].authorization == "Bearer fresh"


# --- SIGTERM and restart -----------------------------------------------------------------


def test_sigterm_mid_stream_then_restart_loses_nothing_and_applies_nothing_twice(
        tmp_path: Path, env: dict[str, str], servers: dict[str, ScriptServer]) -> None:
    # Each session stops at a long poll with nothing to say (a 304 held 20 s), where
    # SIGTERM comes; its answers after that go to the restarted service.
    for key in ("alpha", "beta"):
        servers[key] = ScriptServer([
            Reply(200, R1), Reply(200, R2), Reply(200, R3), Reply(304, delay_s=20),
            Reply(200, R4), Reply(200, R5), Reply(200, R6), Reply(409)]).__enter__()
    config = write_config(tmp_path, servers, http_timeout=25)
    state = tmp_path / "state"
    first = Serve("--config", str(config), "--port", "0", "--state-dir", str(state), env=env)
    try:
        for server in servers.values():
            assert server.wait_for_requests(4, bound_s=BOUND_S)
        before = first.get("/api/sessions")
        early = sse_events(first, count=kept_count(first))
        started = time.monotonic()
        said = first.terminate()
        # the held polls were abandoned, not waited for
        assert time.monotonic() - started < 10
    finally:
        first.kill()
    assert "state saved" in said
    assert [s["events"] for s in before["sessions"]] == [7, 7]  # R1..R3: 3 + 2 + 2

    second = Serve("--config", str(config), "--port", "0", "--state-dir", str(state),
                   env=env)
    try:
        second.wait_until_followed(2)
        after = second.get("/api/sessions")
        resumed = sse_events(second, count=after["last_change_id"] - before["last_change_id"],
                             last_event_id=before["last_change_id"])
    finally:
        second.terminate()

    full = [R1, R2, R3, R4, R5, R6, ended_by_409(ROTATED_ID)]
    expected = expected_input(tmp_path / "expected.jsonl", {"alpha": full, "beta": full})
    snapshots = orjson.loads(cli_json("snapshot", str(expected), "--json"))["sessions"]
    assert after["sessions"] == snapshots  # same order too: config order, then first seen
    assert all(s["violations"] == 0 for s in after["sessions"])  # no duplicate-event
    for server in servers.values():
        # the restart resumed from the rotated id and asked for each answer once
        assert server.seen[4].session_id == ROTATED_ID
        assert [s.answered for s in server.seen] == \
            ["200", "200", "200", "304", "200", "200", "200", "409"]
    # the change ids go on where they stopped, and a client of the first run resumes
    cli_changes = [without_source(orjson.loads(line)) for line in
                   cli_json("changes", str(expected), "--json").splitlines()]
    ids = [i for _, i, _ in resumed]
    assert ids == list(range(before["last_change_id"] + 1, after["last_change_id"] + 1))
    assert len(cli_changes) == after["last_change_id"] - early[0][1] + 1
    for key in ("alpha", "beta"):
        # what a client saw before the restart, then after it: every change, once
        seen = [without_source(d) for _, _, d in early + resumed if d["session"] == key]
        assert seen == [c for c in cli_changes if c["session"] == key], key


def test_sigterm_while_an_answer_arrives_applies_it_before_saving(
        tmp_path: Path, env: dict[str, str], servers: dict[str, ScriptServer]) -> None:
    # R3's answer drips (a byte every 5 ms, about 2 s in all): SIGTERM lands while it
    # arrives. The platform would not send those events again, so the service reads the
    # answer to its end, applies it and saves it before it exits.
    body = orjson.dumps(R3)
    servers["alpha"] = ScriptServer([Reply(200, R1), Reply(200, R2),
                                     Reply(200, body, drip_s=0.005), Reply(200, R4),
                                     Reply(200, R5), Reply(200, R6), Reply(409)]).__enter__()
    config = write_config(tmp_path, servers, http_timeout=30)
    state = tmp_path / "state"
    first = Serve("--config", str(config), "--port", "0", "--state-dir", str(state), env=env)
    try:
        assert servers["alpha"].wait_for_requests(3, bound_s=BOUND_S)
        time.sleep(0.3)  # well into the drip
        first.terminate()
    finally:
        first.kill()
    second = Serve("--config", str(config), "--port", "0", "--state-dir", str(state),
                   env=env)
    try:
        second.wait_until_followed(1)
        (after,) = second.get("/api/sessions")["sessions"]
    finally:
        second.terminate()
    full = [R1, R2, R3, R4, R5, R6, ended_by_409(ROTATED_ID)]
    expected = expected_input(tmp_path / "expected.jsonl", {"alpha": full})
    (snapshot,) = orjson.loads(cli_json("snapshot", str(expected), "--json"))["sessions"]
    assert after == snapshot
    assert [s.answered for s in servers["alpha"].seen] == ["200"] * 6 + ["409"]


# --- the API's edges -----------------------------------------------------------------------


def test_pushed_events_unknown_keys_and_unreadable_bodies(tmp_path: Path,
                                                         env: dict[str, str]) -> None:
    serve = Serve("--port", "0", env=env)
    try:
        lines = b"\n".join(orjson.dumps({"session": "pushed", "event": e})
                           for e in R1["events"] + R2["events"])
        answer = serve.push(lines)
        assert answer.status_code == 200
        assert answer.json() == {"applied": 5, "violations": 0}
        bare = serve.push(orjson.dumps(R1), params={"session": "bare"})
        assert bare.json() == {"applied": 3, "violations": 0}
        # a bare event without ?session=, a line that is not JSON: 400, nothing applied
        nobody = serve.push(orjson.dumps(h.leg(status="Active")))
        assert nobody.status_code == 400
        assert "?session=KEY" in nobody.json()["error"]
        broken = serve.push(orjson.dumps(h.leg(status="Active")) + b"\n{oops",
                            params={"session": "bare"})
        assert broken.status_code == 400
        assert "line 2" in broken.json()["error"]
        assert serve.get("/api/sessions/bare")["events"] == 3
        assert serve.http.get("/api/sessions/nobody").status_code == 404
        assert serve.http.get("/api/sessions/nobody/history").status_code == 404
        assert serve.http.get("/api/changes", headers={"Last-Event-ID": "x1"}).status_code \
            == 400
        # an id never issued here: one reset event, then the present
        ((event, change_id, data),) = sse_events(serve, count=1, last_event_id=10_000)
        assert (event, change_id, data["kind"]) == ("reset", serve.get("/healthz")[
            "last_change_id"], "reset")
    finally:
        serve.terminate()


def test_push_body_over_the_limit_is_refused_unread(tmp_path: Path, env: dict[str, str]) -> None:
    serve = Serve("--port", "0", "--max-push-bytes", "1000", env=env)
    try:
        answer = serve.push(b" " * 5000 + orjson.dumps(h.leg()), params={"session": "big"})
        assert answer.status_code == 413
        assert serve.get("/healthz")["sessions"] == 0
    finally:
        serve.terminate()


def test_a_bind_beyond_loopback_needs_a_flag_and_an_api_token(tmp_path: Path,
                                                             env: dict[str, str]) -> None:
    def serve(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "session_fsm", "serve", *args],
                              env=env, capture_output=True, text=True, timeout=BOUND_S,
                              check=False)

    refused = serve("--host", "0.0.0.0", "--port", "0")
    assert refused.returncode == 2
    assert "--allow-remote" in refused.stderr
    assert "Traceback" not in refused.stderr
    no_token = serve("--host", "0.0.0.0", "--port", "0", "--allow-remote")
    assert no_token.returncode == 2
    assert "--api-token-file" in no_token.stderr


def test_an_api_token_guards_every_data_endpoint(tmp_path: Path, env: dict[str, str]) -> None:
    token_file = tmp_path / "api.token"
    token_file.write_text("s3cret-api-token\n")
    serve = Serve("--port", "0", "--api-token-file", str(token_file), env=env)
    try:
        for path in ("/api/sessions", "/api/changes", "/metrics"):
            refused = serve.http.get(path)
            assert refused.status_code == 401, path
            assert "s3cret" not in refused.text
        wrong = serve.http.get("/api/sessions", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        good = serve.http.get("/api/sessions",
                              headers={"Authorization": "Bearer s3cret-api-token"})
        assert good.status_code == 200
        with httpx.Client(base_url=serve.url, trust_env=False,
                          cookies={"session_fsm_token": "s3cret-api-token"}) as page:
            assert page.get("/api/sessions").status_code == 200
        # the page and the health check need no token
        assert serve.http.get("/").status_code == 200
        assert serve.http.get("/healthz").status_code == 200
    finally:
        said = serve.terminate()
    assert "s3cret" not in said


@pytest.mark.parametrize(("text", "expected"), [
    ("[[session]]\nkey = 'a'\n", "session 1 ('a'): base_url: missing"),
    ("[[session]]\nkey = 'a'\nbase_url = 'ftp://x'\nsession_id = '1'\ntoken_file = 't'\n",
     "base_url: expected an http:// or https:// URL"),
    ("[[session]]\nkey = 'a'\nbase_url = 'http://x'\nsession_id = '../x'\n"
     "token_file = 't'\n", "session_id: expected one plain path segment"),
    ("[[session]]\nkey = 'a'\nbase_url = 'http://x'\nsession_id = '1'\ntoken_file = 't'\n"
     "[[session]]\nkey = 'a'\nbase_url = 'http://x'\nsession_id = '2'\ntoken_file = 't'\n",
     "session 2: key 'a' is given twice"),
    ("[poll]\ntimeuot = 3\n", "[poll]: unknown field 'timeuot'"),
    ("[poll]\ntimeout = 99\n", "timeout: expected a number from 0 to 60"),
    ("[[session]]\nkey = 'a'\nbase_url = 'http://x'\nsession_id = '1'\n"
     "token_file = 'missing'\n", "token_file:"),
    ("session = [", "is not TOML"),
])
def test_a_bad_config_is_one_line_naming_the_place(tmp_path: Path, env: dict[str, str],
                                                  text: str, expected: str) -> None:
    (tmp_path / "t").write_text("token")
    config = tmp_path / "sessions.toml"
    config.write_text(text)
    done = subprocess.run([sys.executable, "-m", "session_fsm", "serve", "--config",
                           str(config), "--port", "0"], env=env, capture_output=True,
                          text=True, timeout=BOUND_S, check=False)
    assert done.returncode == 2
    assert expected in done.stderr
    assert str(config) in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_port_in_use_is_one_line(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "session_fsm", "serve", "--port",
                               str(port)], env=env, capture_output=True, text=True,
                              timeout=BOUND_S, check=False)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_api_never_shows_the_poll_token(tmp_path: Path, env: dict[str, str],
                                           servers: dict[str, ScriptServer]) -> None:
    # a server that quotes the Authorization header back in an error body
    servers["alpha"] = ScriptServer([Reply(400, echo_authorization=3)]).__enter__()
    config = write_config(tmp_path, servers, tokens={"alpha": "tok-SECRET-123"})
    serve = Serve("--config", str(config), "--port", "0", env=env)
    try:
        health = serve.wait_until_followed(1)
        sessions = serve.http.get("/api/sessions").text
        metrics = serve.http.get("/metrics").text
    finally:
        said = serve.terminate()
    assert "HTTP 400 from " in health["failed"]["alpha"]  # UnexpectedStatusError's words
    for text in (str(health), sessions, metrics, said):
        assert "SECRET" not in text


def test_serve_keeps_every_response_in_the_store(tmp_path: Path, env: dict[str, str],
                                                 servers: dict[str, ScriptServer]) -> None:
    # each answer is stored before it is applied (under serve/KEY and its response
    # number), so the store's histories are those of the same events read from a file
    servers["alpha"] = ScriptServer(session_script(failures=False)).__enter__()
    servers["beta"] = ScriptServer([Reply(200, R1), Reply(304), Reply(200, R2),
                                    Reply(200, R3), Reply(409)]).__enter__()
    config = write_config(tmp_path, servers)
    db = tmp_path / "day.sqlite"
    serve = Serve("--config", str(config), "--port", "0", "--db", str(db), env=env)
    try:
        serve.wait_until_followed(2)
    finally:
        serve.terminate()
    expected = expected_input(tmp_path / "expected.jsonl", {
        "alpha": [R1, R2, R3, R4, R5, R6, ended_by_409(ROTATED_ID)],
        "beta": [R1, R2, R3, ended_by_409(ROTATED_ID)],
    })
    stored = orjson.loads(cli_json("history", "--db", str(db), "--json"))["sessions"]
    from_file = orjson.loads(cli_json("history", str(expected), "--json"))["sessions"]
    assert sorted(stored, key=lambda s: s["key"]) == sorted(from_file, key=lambda s: s["key"])
    assert sorted(s["key"] for s in stored) == ["alpha", "beta"]  # stored as they came
    # a closed call with its ACW, worked out from R3..R6: talk 05:03:30-05:08:30, ACW 20 s
    (call,) = next(s for s in stored if s["key"] == "alpha")["contacts"]
    assert call["acw_s"] == 20.0


def test_a_pushed_session_key_is_checked_like_a_configured_one(env: dict[str, str]) -> None:
    serve = Serve("--port", "0", env=env)
    try:
        line = orjson.dumps({"session": "agent\x1b[31m", "event": h.leg()})
        refused = serve.push(line)
        assert refused.status_code == 400
        assert "printable" in refused.json()["error"]
        long_key = orjson.dumps({"session": "k" * 201, "event": h.leg()})
        assert serve.push(long_key).status_code == 400
        assert serve.get("/healthz")["sessions"] == 0
    finally:
        serve.terminate()


def test_failing_polls_show_on_healthz_and_log_one_line_per_change_of_state(
        tmp_path: Path, env: dict[str, str], servers: dict[str, ScriptServer]) -> None:
    """Three sessions whose platform answers 503 forty times, then recovers: /healthz
    lists them as retrying with their failure counts, and the log says when each run of
    failures starts and ends (two lines a session, with the count), not once per attempt."""
    for key in ("alpha", "beta", "gamma"):
        servers[key] = ScriptServer([Reply(503, b"busy")] * 40 + [
            Reply(200, R1), Reply(409)]).__enter__()
    config = write_config(tmp_path, servers)
    serve = Serve("--config", str(config), "--port", "0", env=env)
    try:
        deadline = time.monotonic() + BOUND_S
        while time.monotonic() < deadline:
            health = serve.get("/healthz")
            if len(health["retrying"]) == 3:
                break
            time.sleep(0.01)
        assert sorted(health["retrying"]) == ["alpha", "beta", "gamma"], health
        assert all(1 <= count <= 40 for count in health["retrying"].values()), health
        assert health["following"] == 3
        done = serve.wait_until_followed(3)
        assert done["retrying"] == {}
    finally:
        said = serve.terminate()
    for key in ("alpha", "beta", "gamma"):
        assert said.count(f"polls of session {key} are failing (HTTP 503") == 1, said
        assert said.count(f"session {key} polls again after 40 failed polls") == 1, said
    assert said.count("503") == 3  # no line per attempt


def test_a_push_into_a_followed_session_is_refused_unless_asked_for(
        tmp_path: Path, env: dict[str, str], servers: dict[str, ScriptServer]) -> None:
    """Pushing under the key of a session the service polls would merge two streams into
    one session (seen: 665 violations and nothing else to show for it): 409, nothing
    applied; ?merge=1 says it is meant."""
    servers["alpha"] = ScriptServer([Reply(200, R1)], then=Reply(304, delay_s=0.2)).__enter__()
    config = write_config(tmp_path, servers)
    serve = Serve("--config", str(config), "--port", "0", env=env)
    try:
        assert servers["alpha"].wait_for_requests(2, bound_s=BOUND_S)
        before = serve.get("/api/sessions/alpha")["events"]
        assert before == 3  # R1: the start, the agent state, the leg
        event = orjson.dumps({"session": "alpha", "event": h.leg(status="Active")})
        refused = serve.push(b"\n".join([orjson.dumps({"session": "other",
                                                       "event": h.leg()}), event]))
        assert refused.status_code == 409
        assert "session 'alpha' is followed by this service" in refused.json()["error"]
        assert "?merge=1" in refused.json()["error"]
        assert serve.get("/api/sessions/alpha")["events"] == before
        assert serve.http.get("/api/sessions/other").status_code == 404  # none of it
        merged = serve.push(event, params={"merge": "1"})
        assert merged.status_code == 200, merged.text
        assert serve.get("/api/sessions/alpha")["events"] == before + 1
    finally:
        serve.terminate()


def test_polls_go_through_the_proxy_the_environment_names(
        tmp_path: Path, env: dict[str, str], servers: dict[str, ScriptServer]) -> None:
    # the proxy is looked up once per base URL (not per poll, see run.py), and still
    # used: the platform's host does not resolve, so only the proxy can answer; it gets
    # the absolute URL a proxy is sent, with the bearer token
    servers["proxy"] = proxy = ScriptServer([Reply(200, R1), Reply(200, R2),
                                             Reply(409)]).__enter__()
    (tmp_path / "alpha.token").write_text("token-alpha")
    config = tmp_path / "sessions.toml"
    config.write_text("\n".join([
        "[poll]", "timeout = 0", "http_timeout = 5", "retry_base_delay = 0.01",
        "retry_max_delay = 0.05", "", "[[session]]", 'key = "alpha"',
        'base_url = "http://platform.invalid"', f'session_id = "{FIRST_ID}"',
        'token_file = "alpha.token"', ""]))
    serve = Serve("--config", str(config), "--port", "0",
                  env={**env, "HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.1,localhost"})
    try:
        health = serve.wait_until_followed(1)
        assert health["ended"] == 1, health
        # the API on 127.0.0.1 is not proxied (NO_PROXY) and says what the proxy sent
        assert serve.get("/api/sessions/alpha")["events"] == len(R1["events"]) + \
            len(R2["events"]) + 1
    finally:
        serve.terminate()
    assert [seen.answered for seen in proxy.seen] == ["200", "200", "409"]
    assert {seen.authorization for seen in proxy.seen} == {"Bearer token-alpha"}


def test_a_netrc_entry_for_the_platform_leaves_the_polls_alone(
        tmp_path: Path, env: dict[str, str], servers: dict[str, ScriptServer]) -> None:
    # aiohttp's trust_env would add the entry's basic auth to every poll, which cannot go
    # with the bearer token: each poll failed before the service stopped trusting it
    servers["alpha"] = server = ScriptServer([Reply(200, R1), Reply(409)]).__enter__()
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    config = write_config(tmp_path, servers)
    serve = Serve("--config", str(config), "--port", "0", env={**env, "NETRC": str(netrc)})
    try:
        health = serve.wait_until_followed(1)
    finally:
        serve.terminate()
    assert health["ended"] == 1, health
    assert {seen.authorization for seen in server.seen} == {"Bearer token-alpha"}


LATER = [  # two hours after the call of R3..R6: it is older than a window of one hour
    {"sessionId": ROTATED_ID, "events": [
        h.agent_state("Unavailable", out_reason="Lunch", at="2013-09-11T07:00:00.000Z",
                      next_states=["Available"])]},
    {"sessionId": ROTATED_ID, "events": [
        h.agent_state("Available", at="2013-09-11T07:10:00.000Z")]},
]


@pytest.mark.parametrize("with_db", [False, True])
def test_a_history_keeps_a_window_in_memory_and_the_store_keeps_the_rest(
        tmp_path: Path, env: dict[str, str], servers: dict[str, ScriptServer],
        with_db: bool) -> None:
    # --history-window 3600: once the agent is in a state begun two hours after the call
    # closed, the call and the stretches before 06:10 leave memory; with --db, /history
    # still says all of it (the store's rows under memory's), without it only the window
    servers["alpha"] = ScriptServer([Reply(200, r) for r in (R1, R2, R3, R4, R5, R6, *LATER)]
                                    + [Reply(409)]).__enter__()
    config = write_config(tmp_path, servers)
    db = ["--db", str(tmp_path / "day.sqlite")] if with_db else []
    serve = Serve("--config", str(config), "--port", "0", "--history-window", "3600", *db,
                  env=env)
    try:
        serve.wait_until_followed(1)
        shown = serve.get("/api/sessions/alpha/history")
    finally:
        serve.terminate()
    expected = expected_input(tmp_path / "expected.jsonl", {
        "alpha": [R1, R2, R3, R4, R5, R6, *LATER, ended_by_409(ROTATED_ID)]})
    (whole,) = orjson.loads(cli_json("history", str(expected), "--json"))["sessions"]
    assert [c["contact_id"] for c in whole["contacts"]] == ["1569815"]
    if with_db:
        assert shown == whole
    else:
        assert shown["contacts"] == []
        # the stretches still held: the one the call's close was followed by (it ended
        # at 07:00, inside the window), and those after it
        assert shown["agent_states"] == whole["agent_states"][-3:]
        assert [s["start"] for s in shown["agent_states"]] == [
            "2013-09-11T05:08:50.000Z", "2013-09-11T07:00:00.000Z", "2013-09-11T07:10:00.000Z"]


def test_history_window_must_be_a_positive_number_of_seconds(env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "session_fsm", "serve", "--port", "0",
                           "--history-window", "0"], env=env, capture_output=True,
                          text=True, timeout=BOUND_S, check=False)
    assert done.returncode == 2
    assert "--history-window" in done.stderr
