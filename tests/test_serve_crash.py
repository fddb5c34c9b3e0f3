"""``session-fsm serve --state-dir`` killed with SIGKILL at random points, again and again.

The service follows 16 simulated agents against a stand-in get-next-event server on
127.0.0.1 while a pusher pushes three more agents' events to ``POST /api/events`` and an
event-stream client reads ``/api/changes``; then it is killed (SIGKILL: no handler runs)
at a random moment and started again on the same state directory, 20 times; the last
run goes on to the end and stops with SIGTERM.

The stand-in answers as the platform does with one thing made visible: each answer
rotates the session id (``sN-I`` polls for answer I of agent N, and the answer names
``sN-I+1``), which the protocol allows. So the id a poll asks for says exactly which
answers the service holds as taken, and an answer whose journal write a kill prevented
is asked for, and given, again. (The real platform would not give it again: an answer
killed between its arrival and its fsync, a few milliseconds, is lost there. An answer
the service has journaled is never lost.)

What must hold, as the issue that asked for the journal says: every answer taken and
every push acknowledged (200) is applied exactly once (an answer or push applied twice is
a ``duplicate-event`` violation in the snapshot, or a change stream that differs), the
final snapshots and change streams equal the one-shot commands' of the same input in
order, no change id is ever issued again with other content, and a client resuming with
``Last-Event-ID`` after each restart continues without a gap or is told to reset.
"""

from __future__ import annotations

import contextlib
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from get_next_event_server import loopback_env

from session_fsm.engine import SessionEngine
from session_fsm.wire.codec import encode
from session_fsm.wire.events import HttpSessionEnded
from session_fsm.wire.reader import wire_bytes

BOUND_S = 60.0
"""A bound on every wait: a hang fails instead of blocking the suite."""
AGENTS_POLLED = 16
AGENTS_PUSHED = 3
KILLS = 20
ANSWER_DELAY_S = 0.15
"""Each answer is held this long: the followed sessions take about 12 s of polling, so
the kills land all along the streams."""


# --- the stand-in platform -------------------------------------------------------------------


class Platform:
    """get-next-event for every polled agent: answer I to a poll for ``sN-I`` (see the
    module doc), then 409. Records the ids polled."""

    def __init__(self, answers: dict[int, list[list[dict[str, Any]]]]) -> None:
        self.answers = answers
        self.polled: list[str] = []
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                platform.answer(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        # the service may be killed while an answer is on its way
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._answer(handler)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        found = re.fullmatch(r"/agent-sessions/s(\d+)-(\d+)/get-next-event(\?.*)?",
                             handler.path)
        if found is None:
            handler.send_error(404)
            return
        agent, number = int(found[1]), int(found[2])
        self.polled.append(f"s{agent}-{number}")
        time.sleep(ANSWER_DELAY_S)
        answers = self.answers[agent]
        if number < len(answers):
            body = orjson.dumps({"sessionId": f"s{agent}-{number + 1}",
                                 "events": answers[number]})
            handler.send_response(200)
        else:
            body = b""
            handler.send_response(409)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- the service ---------------------------------------------------------------------------


class Service:
    """``session-fsm serve`` in a subprocess, its standard error in a file."""

    def __init__(self, work: Path, config: Path, state: Path, run: int) -> None:
        self.log = work / f"serve-{run}.log"
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "session_fsm", "serve", "--config", str(config),
                 "--port", "0", "--state-dir", str(state)],
                env=loopback_env(), stdout=subprocess.DEVNULL, stderr=sink)
        deadline = time.monotonic() + BOUND_S
        while True:
            said = self.log.read_text(errors="replace")
            url = re.search(r" on (http://\S+) ", said)
            token = re.search(r"needs the token in (\S+) ", said)
            if url and token:
                break
            assert self.process.poll() is None, f"serve exited: {said}"
            assert time.monotonic() < deadline, f"serve did not start: {said}"
            time.sleep(0.02)
        self.url = url[1]
        self.token = Path(token[1]).read_text().strip()
        self.http = httpx.Client(base_url=self.url, trust_env=False, timeout=BOUND_S)

    def get(self, path: str) -> Any:
        answer = self.http.get(path)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=BOUND_S)
        self.http.close()

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=BOUND_S)
        self.http.close()
        assert code == 0, self.log.read_text(errors="replace")


def read_changes(url: str, after: int, until: int | None = None,
                 stop: threading.Event | None = None) -> Iterator[tuple[str, int, bytes]]:
    """``(event, id, data)`` from ``/api/changes`` after ``after``, until id ``until``,
    ``stop``, the connection's end, or the bound."""
    deadline = time.monotonic() + BOUND_S
    with httpx.Client(trust_env=False) as client, client.stream(
            "GET", f"{url}/api/changes", headers={"Last-Event-ID": str(after)},
            timeout=httpx.Timeout(5, read=2)) as response:
        assert response.status_code == 200
        buffer = b""
        try:
            for chunk in response.iter_bytes():
                buffer += chunk
                while b"\n\n" in buffer:
                    block, buffer = buffer.split(b"\n\n", 1)
                    fields = dict(line.split(b": ", 1) for line in block.split(b"\n")
                                  if not line.startswith(b":"))
                    if b"data" not in fields:
                        continue
                    change_id = int(fields[b"id"])
                    yield fields.get(b"event", b"message").decode(), change_id, fields[b"data"]
                    if until is not None and change_id >= until:
                        return
                if (stop is not None and stop.is_set()) or time.monotonic() > deadline:
                    return
        except (httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError):
            return  # a quiet stream, or the service was killed


class Reader(threading.Thread):
    """An event-stream client that stays until the service dies: every change it saw."""

    def __init__(self, url: str, after: int) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.after = after
        self.seen: list[tuple[str, int, bytes]] = []

    def run(self) -> None:
        self.seen.extend(read_changes(self.url, self.after))


class Pusher(threading.Thread):
    """Pushes ``pushes`` in order from ``start``, one at a time, until told to stop or the
    service dies; ``acknowledged`` counts the pushes answered 200."""

    def __init__(self, url: str, token: str, pushes: list[bytes], start: int) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.token = token
        self.pushes = pushes
        self.acknowledged = start
        self.refused: str | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}",
                   "Content-Type": "application/x-ndjson"}
        with httpx.Client(trust_env=False, timeout=BOUND_S) as client:
            while self.acknowledged < len(self.pushes) and not self.stop.is_set():
                try:
                    answer = client.post(f"{self.url}/api/events",
                                         content=self.pushes[self.acknowledged],
                                         headers=headers)
                except httpx.TransportError:
                    return  # killed mid-push: acknowledged or not, the restart tells
                if answer.status_code != 200:
                    self.refused = f"push {self.acknowledged}: {answer.status_code} {answer.text}"
                    return
                self.acknowledged += 1
                time.sleep(0.02)


# --- the input -----------------------------------------------------------------------------


def simulated(tmp_path: Path) -> dict[str, list[Any]]:
    """Events of a simulated hour per agent, each a line of a join batch or one event."""
    path = tmp_path / "day.jsonl"
    subprocess.run([sys.executable, "-m", "session_fsm", "simulate", "--agents",
                    str(AGENTS_POLLED + AGENTS_PUSHED), "--seed", "30", "--minutes", "90",
                    "--out", str(path)], check=True, timeout=BOUND_S, capture_output=True)
    per_agent: dict[str, list[Any]] = {}
    for line in path.read_bytes().splitlines():
        envelope = orjson.loads(line)
        events = envelope["events"] if "events" in envelope else [envelope["event"]]
        per_agent.setdefault(envelope["session"], []).append(events)
    return per_agent


def chunks(lines: list[list[Any]], rng: random.Random, most: int) -> list[list[Any]]:
    """The agent's events in answers of 1 to ``most`` lines (a join batch stays whole)."""
    answers: list[list[Any]] = []
    at = 0
    while at < len(lines):
        take = rng.randint(1, most)
        answers.append([event for line in lines[at:at + take] for event in line])
        at += take
    return answers


@pytest.fixture
def platform() -> Iterator[list[Platform]]:
    made: list[Platform] = []
    yield made
    for one in made:
        one.close()


def test_sigkill_at_random_points_loses_nothing_and_reuses_no_change_id(
        tmp_path: Path, platform: list[Platform]) -> None:
    rng = random.Random(30)
    agents = simulated(tmp_path)
    keys = sorted(agents)
    polled, pushed = keys[:AGENTS_POLLED], keys[AGENTS_POLLED:]
    answers = {n: chunks(agents[key], rng, 4) for n, key in enumerate(polled)}
    stand_in = Platform(answers)
    platform.append(stand_in)
    # pushes: each a few lines of one pushed agent, agents taking turns; every tenth push
    # is big (an agent's next 60 lines), so kills land inside a push's slices too
    queues = {key: list(agents[key]) for key in pushed}
    pushes: list[bytes] = []
    pushed_lines: dict[str, list[list[Any]]] = {key: [] for key in pushed}
    while any(queues.values()):
        for key in pushed:
            take = 60 if len(pushes) % 10 == 9 else rng.randint(1, 5)
            lines, queues[key] = queues[key][:take], queues[key][take:]
            if lines:
                pushes.append(b"\n".join(orjson.dumps({"session": key, "events": line})
                                         for line in lines))
                pushed_lines[key].extend(lines)

    config = tmp_path / "sessions.toml"
    token = tmp_path / "token"
    token.write_text("platform-token")
    config.write_text("[poll]\ntimeout = 0\nhttp_timeout = 5\nretry_base_delay = 0.01\n"
                      "retry_max_delay = 0.05\n\n" + "".join(
                          f'[[session]]\nkey = "{key}"\nbase_url = "{stand_in.url}"\n'
                          f'session_id = "s{n}-0"\ntoken_file = "token"\n\n'
                          for n, key in enumerate(polled)))
    state = tmp_path / "state"

    after_push = counts_after_each(pushes, pushed)
    seen: dict[int, bytes] = {}  # every change id a client was ever sent, and its line
    acknowledged = 0
    last_seen = 0
    for run in range(KILLS + 1):
        service = Service(tmp_path, config, state, run)
        if run:
            # the pushes since the last acknowledged one: the one in flight at the kill
            # may have been taken (journaled) or not; the sessions' event counts say
            counts = {s["key"]: s["events"] for s in service.get("/api/sessions")["sessions"]}
            now = {key: counts.get(key, 0) for key in pushed}
            if acknowledged < len(pushes) and after_push[acknowledged + 1] == now:
                acknowledged += 1  # the push in flight at the kill was taken
            assert after_push[acknowledged] == now, f"run {run}: pushes lost or doubled"
            # a client of the killed run resumes: the next id, or a reset, never a gap
            if last_seen:
                first = next(read_changes(service.url, last_seen), None)
                if first is None:  # nothing new yet: then nothing after it was issued
                    assert service.get("/healthz")["last_change_id"] == last_seen
                else:
                    event, change_id, _ = first
                    assert event == "reset" or change_id == last_seen + 1, \
                        (run, event, change_id)
        reader = Reader(service.url, last_seen)
        reader.start()
        pusher = Pusher(service.url, service.token, pushes, acknowledged)
        pusher.start()
        if run < KILLS:
            time.sleep(rng.uniform(0.2, 1.0))
            service.kill()
        else:  # the last run: to the end of every stream, then a clean stop
            pusher.join(BOUND_S * 2)
            wait_until_ended(service, len(polled))
            final = service.get("/api/sessions")
            health = service.get("/healthz")
            whole = list(read_changes(service.url, 0, until=health["last_change_id"]))
            service.terminate()
        pusher.stop.set()
        pusher.join(BOUND_S)
        reader.join(BOUND_S)
        assert pusher.refused is None, pusher.refused
        acknowledged = pusher.acknowledged
        for event, change_id, data in reader.seen:
            if event == "message":
                assert seen.setdefault(change_id, data) == data, \
                    f"run {run}: change id {change_id} issued again with other content"
                last_seen = max(last_seen, change_id)

    assert acknowledged == len(pushes)
    # the whole log, from the first change to the last: every id once, in order, and
    # every id any client saw before a kill with the same content
    ids = [change_id for _, change_id, _ in whole]
    assert [event for event, _, _ in whole] == ["message"] * len(whole)
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    for _, change_id, data in whole:
        assert seen.get(change_id, data) == data, f"change id {change_id} changed content"
    assert len(seen) > 100  # the readers did see the streams as they went

    # what the one-shot commands say of the same input, each answer and push once
    expected = tmp_path / "expected.jsonl"
    with expected.open("wb") as out:
        for n, key in enumerate(polled):
            for events in answers[n]:
                out.write(orjson.dumps({"session": key, "events": events}) + b"\n")
                if any(event.get("Type") in ("AgentSessionEnd", "session_fsm.HttpSessionEnded")
                       for event in events):
                    break  # following ends with the answer that ends the session (the
                    # simulator records a 409 as an event of that type)
            else:  # the 409's end, as the poll core makes it
                out.write(orjson.dumps({"session": key, "events": [encode(HttpSessionEnded(
                    http_status=409, session_id=f"s{n}-{len(answers[n])}"))]}) + b"\n")
        for key in pushed:
            for line in pushed_lines[key]:
                out.write(orjson.dumps({"session": key, "events": line}) + b"\n")
    snapshots = cli_json("snapshot", str(expected), "--json")["sessions"]
    expected_by_key = {s["key"]: s for s in snapshots}
    assert [s["key"] for s in final["sessions"]] == list(expected_by_key)
    for snapshot in final["sessions"]:
        assert snapshot == expected_by_key[snapshot["key"]], snapshot["key"]
    changes = [without_source(orjson.loads(line)) for line in
               cli_text("changes", str(expected), "--json").splitlines()]
    stream = [without_source(orjson.loads(data)) for _, _, data in whole]
    for key in keys:
        assert [c for c in stream if c["session"] == key] == \
            [c for c in changes if c["session"] == key], key
    # the platform was asked for each answer once it was taken, never for an older one
    for n in range(AGENTS_POLLED):
        asked = [int(i.split("-")[1]) for i in stand_in.polled if i.startswith(f"s{n}-")]
        assert asked == sorted(asked), n


def counts_after_each(pushes: list[bytes], keys: list[str]) -> list[dict[str, int]]:
    """The pushed sessions' ``events`` counts (a snapshot's) before the first push and
    after each, from the reference engine fed each push as the service reads it."""
    engine = SessionEngine()
    counts = [dict.fromkeys(keys, 0)]
    for number, push in enumerate(pushes, 1):
        for key, obj, at in wire_bytes(push, f"push {number}"):
            engine.feed(obj, key=key, source=at, batch=at)
        counts.append({key: engine.sessions[key].snapshot().events if key in engine.sessions
                       else 0 for key in keys})
    return counts


def wait_until_ended(service: Service, count: int) -> None:
    deadline = time.monotonic() + BOUND_S * 2
    while time.monotonic() < deadline:
        health = service.get("/healthz")
        assert not health["failed"], health
        if health["ended"] == count:
            return
        time.sleep(0.1)
    raise AssertionError(f"sessions still followed: {health}")


def without_source(change: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in change.items() if k != "source"}


def cli_text(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "session_fsm", *args], capture_output=True,
                          timeout=BOUND_S, check=False, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def cli_json(*args: str) -> Any:
    return orjson.loads(cli_text(*args))
