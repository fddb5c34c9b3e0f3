"""``session-fsm serve --demo``: the board on simulated agents, one command, no tenant.

The real command in a subprocess; its sessions are followed over real polls of the
in-process stand-in, so what the API says comes through the whole service. The board is
opened in headless Chromium and a screenshot kept (``/tmp/wallboard-demo.png``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import browser as browsers
import httpx
import served as service_processes
from browser import Browser
from served import BOUND_S, Served

browser = browsers.browser
served = service_processes.served

AGENTS = 30
"""Enough for a live change every few seconds (an agent makes one every minute or two)."""


def get(service: Served, path: str) -> Any:
    return httpx.get(f"{service.url}{path}", timeout=BOUND_S, trust_env=False).json()


def test_the_demo_follows_simulated_agents_and_the_board_shows_them(
        browser: Browser, served: Callable[..., Served]) -> None:
    service = served("--demo", "--agents", str(AGENTS))
    assert "--demo: the sessions are simulated agents" in service.log.read_text()
    deadline = time.monotonic() + BOUND_S
    while time.monotonic() < deadline:
        sessions = get(service, "/api/sessions")["sessions"]
        if len(sessions) == AGENTS and all(s["session"]["status"] == "active"
                                           for s in sessions):
            break
        time.sleep(0.2)
    # the simulated window began 20 minutes ago: every agent is logged in, in some state
    assert len(sessions) == AGENTS, sessions
    assert all(s["agent_state"] is not None for s in sessions)
    assert sum(s["events"] for s in sessions) > AGENTS * 5
    health = get(service, "/healthz")
    assert (health["following"], health["failed"]) == (AGENTS, {})
    # and it goes on live: new changes arrive as the stand-in plays the next events
    first = health["last_change_id"]
    while get(service, "/healthz")["last_change_id"] == first:
        assert time.monotonic() < deadline + BOUND_S, "no live change in the demo"
        time.sleep(0.5)
    browser.open(service.url.replace("//127.0.0.1:", "//localhost:", 1) + "/")
    deadline = time.monotonic() + BOUND_S
    rows: int = 0
    while time.monotonic() < deadline:
        rows = browser.driver.execute_script(
            "return document.querySelectorAll('#agents tbody tr').length")
        if rows == AGENTS:
            break
        time.sleep(0.2)
    assert rows == AGENTS
    assert browser.console_errors() == []
    browser.screenshot(Path("/tmp/wallboard-demo.png"))
    assert service.stop() == 0


def test_the_demo_takes_no_config(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "s.toml").write_text("")
    done = subprocess.run([sys.executable, "-m", "session_fsm", "serve", "--demo", "--config",
                           str(tmp_path / "s.toml")], capture_output=True, text=True,
                          timeout=BOUND_S, check=False)
    assert done.returncode == 2
    assert "--demo follows simulated agents of its own: leave out --config" in done.stderr
