"""What an agent-desktop developer meets first: the README's typed example, and the
library calls it stands on (filtered subscriptions, contacts done with their durations,
an agent found by its id, an ended session that says so, time in state).

Expected values are worked out by hand from the events, as the comments show."""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import helpers as h

from session_fsm import (
    AgentStatus,
    ContactHistory,
    HistoryFold,
    SessionEngine,
    Transition,
)

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks() -> tuple[str, str]:
    """The desktop doctest's source (its examples, joined) and the reading script."""
    text = README.read_text(encoding="utf-8")
    desktop = text.split("<!-- desktop example -->\n```python\n", 1)[1].split("\n```", 1)[0]
    source = "".join(example.source for example in doctest.DocTestParser().get_examples(desktop))
    reading = text.split("Reading a recording", 1)[1].split("```python\n", 1)[1]
    return source, reading.split("\n```", 1)[0] + "\n"


def test_the_readme_desktop_example_is_typed_and_imports_the_package_only(
        tmp_path: Path) -> None:
    desktop, reading = _blocks()
    for name, source in (("desktop", desktop), ("reading", reading)):
        imports = re.findall(r"^from (\S+) import", source, re.MULTILINE)
        assert "session_fsm" in imports, name
        assert set(imports) <= {"session_fsm", "datetime"}, (name, imports)
        (tmp_path / f"{name}.py").write_text(source)
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
         str(tmp_path / "desktop.py"), str(tmp_path / "reading.py")],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def feed(engine: SessionEngine, events: list[h.Wire], key: str = "-") -> None:
    for event in events:
        engine.feed(event, key=key)


def at(clock: str) -> str:
    """A wire timestamp on 2024-03-04 at ``clock`` (HH:MM:SS)."""
    return f"2024-03-04T{clock}.000Z"


def call(contact: str, status: str, clock: str, *, final: bool = False) -> h.Wire:
    return h.call(contact, status, at=at(clock), final=final)


def state(name: str, clock: str, **options: Any) -> h.Wire:
    return h.agent_state(name, at=at(clock), **options)


def test_a_filtered_subscriber_gets_only_its_kinds_in_subscription_order() -> None:
    engine = SessionEngine()
    engine.feed(h.session_start())
    seen: list[tuple[str, str]] = []
    engine.subscribe(lambda c: seen.append(("all", type(c).__name__)))
    engine.subscribe(lambda c: seen.append(("status", c.state)), AgentStatus)
    engine.subscribe(lambda c: seen.append(("either", type(c).__name__)), AgentStatus,
                     Transition)
    engine.feed(state("Available", "08:00:00"))
    # one AgentState: a Transition of agent_state, then the AgentStatus of its stretch
    assert seen == [("all", "Transition"), ("either", "Transition"),
                    ("all", "AgentStatus"), ("status", "Available"),
                    ("either", "AgentStatus")]


def done_contacts(events: list[h.Wire]) -> list[tuple[int, ContactHistory]]:
    """Each contact done, with the index of the event that made it done."""
    engine = SessionEngine()
    fold = HistoryFold()
    done: list[tuple[int, ContactHistory]] = []
    position = [0]
    engine.subscribe(fold.on_contact_done(lambda key, c: done.append((position[0], c))))
    for n, event in enumerate(events):
        position[0] = n
        engine.feed(event)
    return done


def test_a_contact_closed_before_its_acw_is_done_when_the_acw_is_over() -> None:
    """FinalState True at once, then the agent's ACW (linked to the closed call), then
    Available: done at Available, with the ACW."""
    events = [
        state("Available", "10:00:00"),
        call("501", "Incoming", "10:00:00"), call("501", "Active", "10:00:10"),
        call("501", "Disconnected", "10:05:10", final=True),
        state("Unavailable", "10:05:10", acw=True, acw_timeout=60),
        state("Available", "10:06:00"),
    ]
    ((at, contact),) = done_contacts(events)
    assert at == 5  # not at the close (3) nor at the ACW's start (4)
    assert contact.contact_id == "501"
    assert contact.talk_s == 300.0  # 10:00:10 to 10:05:10
    assert contact.hold_s == 0.0
    assert contact.acw_s == 50.0  # the agent's ACW, 10:05:10 to 10:06:00
    assert contact.handle_time_s == 350.0  # 300 s to the voice's end, plus 50 s of ACW


def test_a_contact_the_session_ends_on_is_done_at_the_end() -> None:
    """Closed in ACW, then the session ends with no further agent state."""
    events = [
        state("Available", "10:00:00"),
        call("601", "Incoming", "10:00:00"), call("601", "Active", "10:00:05"),
        call("601", "Disconnected", "10:01:05"),
        state("Unavailable", "10:01:05", acw=True, acw_timeout=0),
        call("601", "Disconnected", "10:01:35", final=True),
        h.session_end(),
    ]
    ((at, contact),) = done_contacts(events)
    assert at == 6
    assert contact.talk_s == 60.0  # 10:00:05 to 10:01:05
    assert contact.closed


def test_an_agent_is_found_by_its_id_and_an_ended_session_is_logged_out() -> None:
    engine = SessionEngine()
    feed(engine, [h.session_start(agent_id="12214", session_id="70001"),
                  state("Available", "08:00:00")], key="morning")
    feed(engine, [h.session_start(agent_id="12214", session_id="70002"),
                  state("Unavailable", "13:00:00", out_reason="Lunch")],
         key="afternoon")
    feed(engine, [h.session_start(agent_id="99", session_id="70003")], key="other")
    # both sessions of 12214 are active: the one seen last of them is the answer
    found = engine.agent_snapshot("12214")
    assert found is not None
    assert found.key == "afternoon"
    # the afternoon one is logged off by an administrator (no LoggedOut state comes)
    feed(engine, [h.remote_end(), h.session_end(success=False)], key="afternoon")
    found = engine.agent_snapshot("12214")
    assert found is not None
    assert found.key == "morning"  # the active one now
    (ended,) = engine.snapshot("afternoon")
    assert ended.session.status == "ended"
    assert ended.agent_state is not None
    assert (ended.agent_state.state, ended.agent_state.since) == ("LoggedOut", None)
    assert ended.last_seen_state is not None
    assert (ended.last_seen_state.state, ended.last_seen_state.out_reason) == \
        ("Unavailable", "Lunch")
    assert engine.agent_snapshot("nobody") is None


def test_time_in_state_is_counted_on_the_platforms_clock() -> None:
    engine = SessionEngine()
    engine.feed(state("Available", "08:00:00"))
    (snapshot,) = engine.snapshot()
    assert snapshot.agent_state is not None
    since: Any = snapshot.agent_state.since
    assert isinstance(since, datetime)
    later = since.replace(minute=2, second=30)  # 08:02:30: 150 s in Available
    assert snapshot.agent_state.time_in_state_s(later) == 150.0


def cli(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "session_fsm", *args], capture_output=True,
                          text=True, timeout=120, check=False, cwd=cwd,
                          env={**os.environ, **env})


def test_diagrams_check_where_there_are_none_says_so(tmp_path: Path) -> None:
    done = cli("diagrams", "--check", cwd=tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert "diagrams is not a directory of diagrams" in line
    assert "--out DIR" in line
    assert "stale" not in line


def test_shell_completion_as_the_readme_says() -> None:
    assert "eval \"$(_SESSION_FSM_COMPLETE=bash_source session-fsm)\"" in \
        README.read_text(encoding="utf-8")
    script = cli(_SESSION_FSM_COMPLETE="bash_source")
    assert script.returncode == 0
    assert "_session_fsm_completion()" in script.stdout
    words = cli(COMP_WORDS="session-fsm sna", COMP_CWORD="1",
                _SESSION_FSM_COMPLETE="bash_complete")
    assert words.stdout.split() == ["plain,snapshot"]


def test_one_version_the_changelogs() -> None:
    import tomllib

    import session_fsm

    text = README.read_text(encoding="utf-8")
    changes = text.split("\n## Changes\n", 1)[1]
    found = re.search(r"\*\*(\d+\.\d+) \(unreleased\)", changes)
    assert found
    assert session_fsm.__version__.startswith(found[1] + ".")  # 0.2.0.dev0 for 0.2
    project = tomllib.loads((README.parent / "pyproject.toml").read_text())["project"]
    assert "version" not in project
    assert project["dynamic"] == ["version"]
    assert f"version {session_fsm.__version__} (" in cli("--version").stdout


def test_every_module_the_readme_names_exists() -> None:
    """The README named session_fsm/rules.py and validation.py long after they moved."""
    text = README.read_text(encoding="utf-8")
    named = set(re.findall(r"session_fsm/[\w/]+\.py", text))
    assert len(named) >= 4  # the rule table's sources, the diagrams', the contacts'
    missing = sorted(path for path in named if not (README.parent / path).exists())
    assert missing == []
