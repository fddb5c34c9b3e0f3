"""``session-fsm serve`` as a real subprocess on 127.0.0.1, for the tests that drive it
(the wallboard's, the guard's, the event stream's): started on a free port, its standard
error in a file per start, its push token read from the file it names, killed at the end
of the test whatever happens."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import helpers as h
import orjson
import pytest
from get_next_event_server import loopback_env

BOUND_S = 30.0
"""A bound on each wait (the service starting or stopping, a push answered)."""

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_LISTENING = re.compile(r"serving \d+ followed sessions on (http://127\.0\.0\.1:(\d+))")
PUSH_TOKEN = re.compile(r"needs the token in (\S+) \(Authorization")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Served:
    """``session-fsm serve`` in a subprocess; its standard error goes to a file."""

    def __init__(self, work: Path, *args: str, port: int = 0, token: str | None = None) -> None:
        self.work = work
        self.name = f"serve-{len(list(work.glob('serve-*')))}"
        self.token = token
        self.args = args
        self.port = port
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> str:
        self.starts += 1
        log = self.log
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "session_fsm", "serve", "--port", str(self.port),
                 *self.args], env=loopback_env(), cwd=self.work,
                stdout=subprocess.DEVNULL, stderr=sink)
        deadline = time.monotonic() + BOUND_S
        while time.monotonic() < deadline:
            found = _LISTENING.search(log.read_text(errors="replace"))
            if found:
                self.url = found[1]
                self.port = int(found[2])
                return self.url
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"serve did not start: {log.read_text(errors='replace')}")

    def push_token(self) -> str:
        """The token the service made for pushes (it names the file at start)."""
        found = PUSH_TOKEN.search(self.log.read_text(errors="replace"))
        assert found, f"no push token file named: {self.log.read_text(errors='replace')}"
        return Path(found[1]).read_text().strip()

    @property
    def log(self) -> Path:
        """Where this start's standard error goes (each service, each start its own)."""
        return self.work / f"{self.name}-{self.starts}.log"

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; the exit code."""
        process = self.process
        assert process is not None
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=BOUND_S)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=BOUND_S)

    def push(self, events: list[tuple[str, h.Wire]]) -> dict[str, Any]:
        """POST ``(session, event)`` pairs as JSON Lines of envelopes; the answer."""
        body = b"\n".join(orjson.dumps({"session": key, "event": event})
                          for key, event in events)
        headers = {"Content-Type": "application/x-ndjson",
                   "Authorization": f"Bearer {self.token or self.push_token()}"}
        request = urllib.request.Request(f"{self.url}/api/events", data=body, method="POST",
                                         headers=headers)
        try:
            with _OPENER.open(request, timeout=BOUND_S) as response:
                answer: dict[str, Any] = orjson.loads(response.read())
                return answer
        except urllib.error.HTTPError as error:
            log = self.log.read_text(errors="replace")
            raise AssertionError(f"POST /api/events: {error.code} {error.read()!r}; the "
                                 f"service said:\n{log[-3000:]}") from None


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Start services (killed at the end, whatever happens)."""
    started: list[Served] = []

    def start(*args: str, port: int = 0, token: str | None = None) -> Served:
        service = Served(tmp_path, *args, port=port, token=token)
        started.append(service)
        service.start()
        return service

    try:
        yield start
    finally:
        for service in started:
            service.kill()
