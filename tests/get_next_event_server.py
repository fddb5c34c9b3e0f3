"""A real get-next-event server on 127.0.0.1 for the follow tests: it replays a script.

Each request to ``/agent-sessions/{id}/get-next-event`` is answered by the next
:class:`Reply` of the script (then by ``then`` forever), and recorded in ``seen``; a
request to any other path is recorded too, and answered 404. A reply is only used up
when it is really answered, so a retry after a failure gets the same reply again, as a
server that never delivered it would give it. Nothing here touches anything but the
loopback interface.

Below the server: how the tests run the follower against it (in this process, or as
``session-fsm follow`` in a subprocess), then a realistic session as get-next-event
responses, and its expected snapshots, worked out by hand from the events.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import helpers as h
import orjson

from session_fsm.io.client import SessionFollower

# How long a "slow" reply waits for the client's retry before answering anyway: only a
# bound so that a broken client cannot hang the suite, never a measured duration.
_SLOW_BOUND_S = 10.0
BOUND_S = 60
"""A bound on each follow subprocess, so a hang fails instead of blocking the suite."""
_PATH_PREFIX = "/agent-sessions/"
_PATH_SUFFIX = "/get-next-event"


@dataclass
class Reply:
    """One scripted answer."""

    status: int
    body: Any = None
    """A JSON-able value, or bytes sent as they are."""
    token: str | None = None
    """If set, a request without this bearer token gets 401 and the reply stays."""
    slow_once: bool = False
    """The first request that reaches this reply is answered only after the client has
    given up on it (when its next request arrives); that request gets it at once."""
    drop: bool = False
    """Close the connection without answering: a network error for the client."""
    delay_s: float = 0.0
    """Answer after this many seconds, every time (for a server that only idles)."""
    before: Callable[[], None] | None = None
    """Run just before answering (e.g. a token refresher rewriting the token file)."""
    drip_s: float = 0.0
    """Send the body one byte every this many seconds (its length announced up front),
    until it is sent, the client hangs up or the server closes."""
    echo_authorization: int = 0
    """Answer with the request's Authorization header, this many times over, as the body
    (a server that quotes back what it was sent)."""


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    session_id: str | None
    """None for a request outside ``/agent-sessions/{id}/get-next-event`` (see ``path``)."""
    timeout: str | None
    authorization: str | None
    answered: str
    """What it got: ``"200"``, ``"304"``, ``"401"``, ``"slow"``, ``"drop"``..."""
    path: str
    """The request's path, as sent."""


@dataclass
class ScriptServer:
    script: list[Reply]
    then: Reply = field(default_factory=lambda: Reply(409))
    seen: list[Seen] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    _position: int = 0
    _slow_done: set[int] = field(default_factory=set)
    _closed: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL to give the client."""
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def exhausted(self) -> bool:
        with self.arrived:
            return self._position >= len(self.script)

    def wait_for_requests(self, count: int, bound_s: float = 30.0) -> bool:
        """Block until ``count`` requests arrived (False if the bound passed first)."""
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.seen) >= count, timeout=bound_s)

    def __enter__(self) -> ScriptServer:
        script = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                script._handle(self)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        # a short poll interval: shutdown() waits up to one interval
        self._thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and free the port; closing again changes nothing."""
        assert self._server is not None
        assert self._thread is not None
        self._closed.set()
        with self.arrived:
            self.arrived.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # --- answering -------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        path = parts.path
        timeout = parse_qs(parts.query).get("timeout", [None])[0]
        authorization = handler.headers.get("Authorization")
        if not (path.startswith(_PATH_PREFIX) and path.endswith(_PATH_SUFFIX)):
            with self.arrived:
                self.seen.append(Seen(None, timeout, authorization, "404", path))
                self.arrived.notify_all()
            _send(handler, 404, b"not a get-next-event path")
            return
        session_id = unquote(path[len(_PATH_PREFIX):-len(_PATH_SUFFIX)])
        with self.arrived:
            index = self._position
            reply = self.script[index] if index < len(self.script) else self.then
            scripted = index < len(self.script)
            if reply.token is not None and authorization != f"Bearer {reply.token}":
                answered, reply, use_up = "401", Reply(401, b"Unauthorized"), False
            elif reply.slow_once and index not in self._slow_done:
                self._slow_done.add(index)
                answered, use_up = "slow", False
            elif reply.drop:
                answered, use_up = "drop", True
            else:
                answered, use_up = str(reply.status), True
            if use_up and scripted:
                self._position += 1
            count = len(self.seen)
            self.seen.append(Seen(session_id, timeout, authorization, answered, path))
            self.arrived.notify_all()
        if answered == "slow":
            # Answer only once the client has moved on (its next request is here).
            with self.arrived:
                self.arrived.wait_for(lambda: len(self.seen) > count + 1, timeout=_SLOW_BOUND_S)
        if answered == "drop":
            handler.close_connection = True
            return
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.before is not None:
            reply.before()
        body = reply.body
        if reply.echo_authorization:
            content = (authorization or "").encode() * reply.echo_authorization
        elif body is None:
            content = b""
        elif isinstance(body, bytes):
            content = body
        else:
            content = orjson.dumps(body)
        # A client that gave up on this request (the point of "slow") has closed the socket.
        with contextlib.suppress(OSError):
            if reply.drip_s:
                self._drip(handler, reply, content)
            else:
                _send(handler, reply.status, content)

    def _drip(self, handler: BaseHTTPRequestHandler, reply: Reply, content: bytes) -> None:
        _send(handler, reply.status, b"", length=len(content))
        for index in range(len(content)):
            if self._closed.wait(reply.drip_s):
                return
            handler.wfile.write(content[index:index + 1])
            handler.wfile.flush()


def _send(handler: BaseHTTPRequestHandler, status: int, content: bytes,
          length: int | None = None) -> None:
    """Answer ``status`` with ``content``; ``length`` announces a body sent separately."""
    handler.send_response(status)
    if status == 304:
        handler.end_headers()
        return
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(content) if length is None else length))
    handler.end_headers()
    handler.wfile.write(content)
    handler.wfile.flush()


# --- running the follower against it ----------------------------------------------------

HTTP_TIMEOUT_S = 0.5
"""The in-process follower's request deadline: every request a test makes is bounded."""


class Sleeps:
    """The injected sleep: remembers the delays instead of waiting them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def follower(server: ScriptServer, token: Any, sleeps: Sleeps, **options: Any) -> SessionFollower:
    """A follower of ``server`` that polls with ``timeout=0``, sleeps with ``sleeps`` and
    draws 0.5 for every jitter."""
    options.setdefault("session_id", FIRST_ID)
    options.setdefault("http_timeout", HTTP_TIMEOUT_S)
    return SessionFollower(server.url, token=token, timeout=0, sleep=sleeps, rand=lambda: 0.5,
                           trust_env=False, **options)


def loopback_env() -> dict[str, str]:
    """The test's environment without proxies: every request must go to 127.0.0.1."""
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


def interrupted(command: list[str], server: ScriptServer, *, after_requests: int,
                env: dict[str, str], signum: int = signal.SIGINT) -> tuple[int, bytes, bytes]:
    """Run ``command``, send it ``signum`` once ``server`` has had ``after_requests``
    requests (it is following), and return its exit code, stdout and stderr; bounded in
    time."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert server.wait_for_requests(after_requests, bound_s=BOUND_S)
        process.send_signal(signum)
        out, err = process.communicate(timeout=BOUND_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, out, err


def follow_command(server: ScriptServer, token_file: Path, *extra: str,
                   session_id: str | None = None) -> list[str]:
    """``session-fsm follow`` of ``server`` (session FIRST_ID unless given), ``--timeout 0``."""
    return [sys.executable, "-m", "session_fsm", "follow", "--base-url", server.url,
            "--session-id", FIRST_ID if session_id is None else session_id,
            "--token-file", str(token_file), "--timeout", "0", *extra]


def file_size_limit(limit: int) -> Callable[[], None]:
    """A ``preexec_fn``: in the child, files stop at ``limit`` bytes and a write past that
    fails with EFBIG instead of killing it (SIGXFSZ ignored), as on a full disk."""
    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return limit_file_size


def padded_response(session_id: str, size: int) -> bytes:
    """A response with no events, padded with spaces to ``size`` bytes (a body to drip)."""
    body = b'{"sessionId": "' + session_id.encode() + b'", "events": []}'
    assert len(body) <= size
    return body.ljust(size)


# --- a realistic session, as the server sends it ------------------------------------------
# An agent logs in, the station leg connects, one inbound call with ACW, then the session
# ends and its AgentSessionEnd is purged with the queue: the 409 is all that says so.
# The API session id rotates after the second response (the next poll must use it).

FIRST_ID = "a1b2c3-first"
ROTATED_ID = "a1b2c3-rotated"

R1 = {"sessionId": FIRST_ID, "events": [  # the join batch: start, state, leg dialing
    h.session_start(),
    h.agent_state("Unavailable", at="2013-09-11T05:00:00.000Z", next_states=["Unavailable"]),
    h.leg(status="Dialing"),
]}
R2 = {"sessionId": ROTATED_ID, "events": [
    h.leg(status="Active"),
    h.agent_state("Available", at="2013-09-11T05:02:00.000Z"),
]}
R3 = {"sessionId": ROTATED_ID, "events": [
    h.call("1569815", "Incoming", at="2013-09-11T05:03:24.000Z"),
    h.agent_state("InboundContact", at="2013-09-11T05:03:24.000Z",
                  next_states=["Unavailable", "Available"]),
]}
R4 = {"sessionId": ROTATED_ID, "events": [
    h.call("1569815", "Active", at="2013-09-11T05:03:30.000Z", start="2013-09-11T05:03:24.000Z"),
]}
R5 = {"sessionId": ROTATED_ID, "events": [  # voice ended; the contact stays open for ACW
    h.call("1569815", "Disconnected", at="2013-09-11T05:08:30.000Z",
           start="2013-09-11T05:03:24.000Z"),
    h.agent_state("Unavailable", at="2013-09-11T05:08:30.000Z", next_states=["Available"],
                  acw=True, acw_timeout=30),
]}
R6 = {"sessionId": ROTATED_ID, "events": [  # ACW over: the contact is final
    h.call("1569815", "Disconnected", at="2013-09-11T05:08:50.000Z",
           start="2013-09-11T05:03:24.000Z", final=True),
    h.agent_state("Available", at="2013-09-11T05:08:50.000Z"),
]}
RESPONSES = (R1, R2, R3, R4, R5, R6)
EVENT_COUNT = 12  # 3 + 2 + 2 + 1 + 2 + 2


def session_script(*, failures: bool, refresh_token: Callable[[], None] | None = None
                   ) -> list[Reply]:
    """The session as replies: 304s, the rotation, and (with ``failures``) a 401 the
    token refresher answers, a burst of 503s, a dropped connection and a response slower
    than the client's timeout, each before the response it delays. A final 409."""
    script = [Reply(304), Reply(200, R1), Reply(200, R2), Reply(304)]
    if failures:
        script += [Reply(401, b"token expired", before=refresh_token)]
    script += [Reply(200, R3, token="fresh" if failures else None)]
    if failures:
        script += [Reply(503, b"busy"), Reply(503, b"busy"), Reply(503, b"busy"),
                   Reply(200, drop=True)]
    script += [Reply(200, R4, slow_once=failures), Reply(200, R5), Reply(200, R6), Reply(409)]
    return script


# The state after R6, worked out from the events above: the start's ids; the agent back
# in Available since 05:08:50 with no next state and no ACW; the leg Dialing -> Active
# (never disconnected); call 1569815 closed by FinalState True, so no open contact.
BEFORE_END: dict[str, Any] = {
    "session": {"session_id": "58070815", "agent_id": "12214", "bus_no": "4500",
                "status": "active", "end_reason": None, "end_message": None,
                "end_clean": None},
    "agent_state": {"state": "Available", "out_reason": "", "since": "2013-09-11T05:08:50.000Z",
                    "is_acw": False, "acw_timeout_s": 0, "acw_deadline": None,
                    "next_states": []},
    "agent_leg": {"id": "2200339882", "status": "Active", "final": False},
    "contacts": [],
    "linked_contact_id": None,
    "monitoring": None,
    "events": EVENT_COUNT,
    "violations": 0,
}
# The 409 ends it exactly as AgentSessionEnd would; no contact was open, so no violation.
# The follower applies the 409 as one event (session_fsm.HttpSessionEnded, the line the
# recording holds for it), so it counts: 12 + 1 events. An ended session's agent is
# logged out, whatever the stream said last (Available): no since, no ACW, no next state.
FINAL: dict[str, Any] = {
    **BEFORE_END,
    "session": {**BEFORE_END["session"], "status": "ended", "end_reason": "409"},
    "agent_state": {"state": "LoggedOut", "out_reason": "", "since": None, "is_acw": False,
                    "acw_timeout_s": None, "acw_deadline": None, "next_states": []},
    "events": EVENT_COUNT + 1,
}


def without_key(entry: dict[str, Any]) -> dict[str, Any]:
    """A snapshot entry minus its session key (a live key and a file's path differ)."""
    return {k: v for k, v in entry.items() if k != "key"}


def replayed_snapshot(record: Path, *, env: dict[str, str] | None = None,
                      timeout: float = 60) -> dict[str, Any]:
    """The one session of ``session-fsm snapshot RECORD --json`` (a recording replayed in a
    process of its own), minus its key."""
    replayed = subprocess.run(
        [sys.executable, "-m", "session_fsm", "snapshot", str(record), "--json"],
        capture_output=True, timeout=timeout, env=env, check=False)
    assert replayed.returncode == 0, replayed.stderr
    (entry,) = orjson.loads(replayed.stdout)["sessions"]
    return without_key(entry)
