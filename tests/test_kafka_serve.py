"""``serve --publish-to`` and ``serve --changes-from-kafka``: a service that polls and
publishes, processors, and a second service that shows what they made.

Two sessions (each a real stand-in get-next-event server on loopback) are followed by
one ``serve --publish-to``; one ``stream`` processor processes the topic; a second
``serve --changes-from-kafka`` is the view. Its ``/api/sessions`` must be the polling
service's own, session for session, and its ``/api/changes`` stream must carry every
change once, in each session's order, as ``changes --json`` of what was polled.
"""

from __future__ import annotations

import collections
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from get_next_event_server import BOUND_S, FIRST_ID, ScriptServer, loopback_env, session_script
from kafka_broker import Broker, broker
from served import Served

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with broker(tmp_path_factory.mktemp("broker")) as running:
        yield running


def get(url: str) -> Any:
    with _OPENER.open(url, timeout=BOUND_S) as response:
        return orjson.loads(response.read())


def sse_changes(url: str, count: int) -> list[bytes]:
    """The ``data:`` of the first ``count`` events of ``/api/changes`` from the start."""
    found: list[bytes] = []
    with _OPENER.open(f"{url}/api/changes?after=0", timeout=BOUND_S) as stream:
        for line in stream:
            if line.startswith(b"data: "):
                found.append(line[6:].rstrip(b"\n"))
                if len(found) == count:
                    break
    return found


def config(folder: Path, servers: dict[str, ScriptServer]) -> Path:
    lines = ["[poll]", "timeout = 0", "http_timeout = 0.5", "retry_base_delay = 0.01",
             "retry_max_delay = 0.05", ""]
    for key, server in servers.items():
        (folder / f"{key}.token").write_text("fresh")
        lines += ["[[session]]", f'key = "{key}"', f'base_url = "{server.url}"',
                  f'session_id = "{FIRST_ID}"', f'token_file = "{key}.token"', ""]
    path = folder / "sessions.toml"
    path.write_text("\n".join(lines))
    return path


def wait_until(check: Any, what: str) -> Any:
    deadline = time.monotonic() + BOUND_S
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {BOUND_S} s: {what}")


def test_a_view_of_the_processors_shows_what_the_polling_service_shows(
        kafka: Broker, tmp_path: Path) -> None:
    servers = {key: ScriptServer(session_script(failures=False)) for key in ("alpha", "beta")}
    for server in servers.values():
        server.__enter__()
    poller = Served(tmp_path, "--config", str(config(tmp_path, servers)), "--publish-to",
                    "serve-responses", "--bootstrap-servers", kafka.bootstrap)
    view = Served(tmp_path, "--changes-from-kafka", "serve-changes", "--snapshots-from-kafka",
                  "serve-snapshots", "--bootstrap-servers", kafka.bootstrap)
    processor = None
    try:
        poller.start()
        # both sessions end (a 409 each): then the poller's state is final
        polled = wait_until(lambda: (s := get(f"{poller.url}/api/sessions"))["sessions"]
                            and all(e["session"]["status"] == "ended" for e in s["sessions"])
                            and len(s["sessions"]) == 2 and s, "both sessions ended")
        processor = subprocess.Popen(
            [sys.executable, "-m", "session_fsm", "stream", "--bootstrap-servers",
             kafka.bootstrap, "--input-topic", "serve-responses", "--changes-topic",
             "serve-changes", "--snapshots-topic", "serve-snapshots", "--group", "serve"],
            cwd=tmp_path, env=loopback_env(), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        # the view needs the processors' topics (it refuses to start without them)
        wait_until(lambda: _topics_exist(kafka, ["serve-changes", "serve-snapshots"]),
                   "the processor's topics")
        view.start()
        shown = wait_until(
            lambda: (s := get(f"{view.url}/api/sessions"))["sessions"] and
            sorted(s["sessions"], key=lambda e: e["key"]) ==
            sorted(polled["sessions"], key=lambda e: e["key"]) and s,
            "the view shows the polling service's sessions")
        assert len(shown["sessions"]) == 2
        health = get(f"{view.url}/healthz")
        assert health["sessions"] == 2
        assert health["kafka"]["gaps"] == 0

        # the change stream: what the poller published each change of, once, in order
        polled_changes = sse_changes(poller.url, polled["last_change_id"] -
                                     polled["oldest_change_id"] + 1)
        viewed = sse_changes(view.url, len(polled_changes))
        by_session: dict[str, list[bytes]] = collections.defaultdict(list)
        for line in viewed:
            by_session[orjson.loads(line)["session"]].append(line)
        wanted: dict[str, list[bytes]] = collections.defaultdict(list)
        for line in polled_changes:
            wanted[orjson.loads(line)["session"]].append(line)
        assert dict(by_session) == dict(wanted)

        # nothing can be pushed into a view
        request = urllib.request.Request(
            f"{view.url}/api/events?session=x", method="POST", data=b"{}",
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {view.push_token()}"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            _OPENER.open(request, timeout=BOUND_S)
        assert refused.value.code == 409
        assert view.stop() == 0
    finally:
        poller.kill()
        view.kill()
        if processor is not None:
            processor.terminate()
            processor.wait(BOUND_S)
        for server in servers.values():
            server.__exit__(None, None, None)


def _topics_exist(kafka: Broker, names: list[str]) -> bool:
    from confluent_kafka.admin import AdminClient

    topics = AdminClient({"bootstrap.servers": kafka.bootstrap}).list_topics(timeout=5).topics
    return all(name in topics and topics[name].partitions for name in names)


def test_serve_refuses_kafka_options_that_do_not_go_together(tmp_path: Path) -> None:
    for args, said in (
            (["--publish-to", "t"], "need --bootstrap-servers"),
            (["--changes-from-kafka", "c", "--bootstrap-servers", "127.0.0.1:9"],
             "go together"),
            (["--changes-from-kafka", "c", "--snapshots-from-kafka", "s", "--demo",
              "--bootstrap-servers", "127.0.0.1:9"], "leave out --demo"),
            (["--bootstrap-servers", "127.0.0.1:9"], "needs --publish-to")):
        done = subprocess.run([sys.executable, "-m", "session_fsm", "serve", *args],
                              capture_output=True, timeout=BOUND_S, check=False)
        assert done.returncode == 2, args
        lines = done.stderr.decode().splitlines()
        assert len(lines) == 1, lines
        assert said in lines[0]
