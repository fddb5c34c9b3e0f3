"""The wallboard as a supervisor sees it: the real service, a real headless Chromium.

Each test starts ``session-fsm serve`` as a subprocess on 127.0.0.1, feeds it events with
``POST /api/events`` (built by ``helpers``, with times around the real clock so that
time in state and ACW deadlines mean what they would on the floor), opens ``/`` in the
browser of ``tests/browser.py``, and asserts what the page shows, waiting for it with
bounded waits. Expected values are worked out by hand from the events posted. Every
page load is checked for console errors and for requests that would leave the machine.

Screenshots go to ``/tmp/wallboard*.png``; the README's picture is the realistic board's
(``WALLBOARD_SCREENSHOT=diagrams/wallboard.png`` saves it there as well).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import browser as browsers
import helpers as h
import served as service_processes
from browser import Browser
from served import BOUND_S, Served, free_port

T = TypeVar("T")

browser = browsers.browser
"""The shared headless Chromium fixture (tests/browser.py), under its own name."""
served = service_processes.served
"""Start services (tests/served.py), killed at the end."""


# a mark the page keeps until it reloads: the live tests check it survives
_MARK = "window.__wallboard_test_mark = 'not reloaded';"
_MARKED = "return window.__wallboard_test_mark || null;"

# what the page shows, read in one script so that no element goes stale mid-read
_READ = """
const text = (node) => node ? node.textContent : null;
const agents = {};
for (const tr of document.querySelectorAll('#agents tbody tr')) {
  agents[tr.dataset.key] = {
    state: text(tr.querySelector('.pill')), reason: text(tr.querySelector('.reason')),
    time: text(tr.querySelector('.time')), overdue: tr.classList.contains('acw-overdue'),
    badge: text(tr.querySelector('.badge')), agent_id: text(tr.querySelector('.agent-id')),
    contacts: text(tr.querySelector('.chips')), violations: text(tr.querySelector('.viol'))};
}
const tiles = {};
for (const tile of document.querySelectorAll('.tile')) {
  tiles[tile.dataset.state] = Number(text(tile.querySelector('.tile-count')));
}
const contacts = {};
for (const tr of document.querySelectorAll('#contacts tbody tr')) {
  contacts[tr.dataset.contact] = {
    session: tr.dataset.session, status: text(tr.querySelector('.status')),
    media: text(tr.querySelector('.media').firstChild), skill: text(tr.querySelector('.skill')),
    age: text(tr.querySelector('.age')), linked: tr.classList.contains('linked')};
}
const violations = [...document.querySelectorAll('#violations li')].map((li) => ({
  rule: text(li.querySelector('.rule')), severity: text(li.querySelector('.sev')),
  session: text(li.querySelector('.v-where .key')),
  message: text(li.querySelector('.v-message'))}));
const order = [...document.querySelectorAll('#agents tbody tr')].map((tr) => tr.dataset.key);
return {agents, order, tiles, contacts, violations,
        connection: document.getElementById('conn').dataset.state,
        acw_note: text(document.querySelector('.tile[data-state="ACW"] .tile-note'))};
"""


# --- the page -----------------------------------------------------------------------------


def shown(browser: Browser) -> dict[str, Any]:
    page: dict[str, Any] = browser.driver.execute_script(_READ)
    return page


def wait_for(browser: Browser, check: Callable[[dict[str, Any]], T],
             what: str, bound_s: float = BOUND_S) -> T:
    """Poll what the page shows until ``check`` gives something truthy (bounded)."""
    deadline = time.monotonic() + bound_s
    page: dict[str, Any] = {}
    while time.monotonic() < deadline:
        page = shown(browser)
        found = check(page)
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"the page never showed {what}; it shows {page}")


def open_board(browser: Browser, url: str) -> None:
    """Open the page as ``localhost``: the browser fixture resolves no other name, and
    maps even an address like 127.0.0.1 to nothing."""
    browser.open(url.replace("//127.0.0.1:", "//localhost:", 1))
    browser.driver.execute_script(_MARK)


def seconds(shown_time: str) -> int:
    """``m:ss`` or ``h:mm:ss`` back to seconds."""
    total = 0
    for part in shown_time.split(":"):
        total = total * 60 + int(part)
    return total


def counts(page: dict[str, Any]) -> dict[str, int]:
    """The tiles that show agents."""
    return {state: n for state, n in page["tiles"].items() if n}


# --- the events ---------------------------------------------------------------------------


def now_ms() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def scene(now: datetime) -> list[tuple[str, h.Wire]]:
    """Six agents; the newest event is at ``now``, so the service's skew estimate is
    about zero and its clock is the real one.

    By hand: agent-01 and agent-02 Available; agent-03 InboundContact on call 5001;
    agent-04 Unavailable (Lunch) for 10 minutes; agent-05 in ACW since 75 s with a 30 s
    timeout (deadline 45 s ago: overdue); agent-06 in ACW since 10 s with 300 s (not
    overdue). Counts: Available 2, InboundContact 1, ACW 2, Unavailable 1."""
    def ago(s: float) -> datetime:
        return now - timedelta(seconds=s)

    events: list[tuple[str, h.Wire]] = []

    def agent(key: str, agent_id: str, *more: h.Wire) -> None:
        start = h.session_start(agent_id=agent_id, session_id=str(70000 + int(agent_id)))
        events.extend((key, event) for event in (start, *more))

    agent("agent-01", "1001", h.agent_state("Available", at=ago(120)))
    agent("agent-03", "1003", h.agent_state("Available", at=ago(300)),
          h.call("5001", "Incoming", at=ago(95)),
          h.agent_state("InboundContact", at=ago(90)),
          h.call("5001", "Active", at=ago(90), start=ago(95)))
    agent("agent-04", "1004", h.agent_state("Unavailable", out_reason="Lunch", at=ago(600)))
    agent("agent-05", "1005", h.agent_state("Unavailable", at=ago(75), acw=True,
                                            acw_timeout=30))
    agent("agent-06", "1006", h.agent_state("Unavailable", at=ago(10), acw=True,
                                            acw_timeout=300))
    agent("agent-02", "1002", h.agent_state("Available", at=now))
    return events


SCENE_COUNTS = {"Available": 2, "InboundContact": 1, "ACW": 2, "Unavailable": 1}


def no_outside_requests(browser: Browser) -> None:
    assert browser.outside_requests() == []


# --- tests --------------------------------------------------------------------------------


def test_the_board_shows_agents_by_state_an_overdue_acw_and_contacts_live(
        browser: Browser, served: Callable[..., Served]) -> None:
    service = served()
    now = now_ms()
    assert service.push(scene(now)) == {"applied": 15, "violations": 0}
    open_board(browser, service.url + "/")

    page = wait_for(browser, lambda p: p if counts(p) == SCENE_COUNTS else None,
                    f"the counts {SCENE_COUNTS}")
    agents = page["agents"]
    assert page["order"] == ["agent-01", "agent-02", "agent-03", "agent-05", "agent-06",
                            "agent-04"], "grouped by state, longest in state first"
    assert {k: (a["state"], a["agent_id"]) for k, a in agents.items()} == {
        "agent-01": ("Available", "1001"), "agent-02": ("Available", "1002"),
        "agent-03": ("Inbound", "1003"), "agent-04": ("Unavailable", "1004"),
        "agent-05": ("ACW", "1005"), "agent-06": ("ACW", "1006")}
    assert agents["agent-04"]["reason"] == "Lunch"
    assert 600 <= seconds(agents["agent-04"]["time"]) < 600 + BOUND_S
    assert agents["agent-03"]["contacts"] == "call 5001"
    # the ACW past its deadline is highlighted, the one within it is not
    assert [k for k, a in agents.items() if a["overdue"]] == ["agent-05"]
    assert 75 <= seconds(agents["agent-05"]["time"]) < 75 + BOUND_S
    assert agents["agent-05"]["badge"].startswith("overdue ")
    assert 45 <= seconds(agents["agent-05"]["badge"].split()[1]) < 45 + BOUND_S
    assert agents["agent-06"]["badge"].endswith(" left")
    assert page["acw_note"] == "1 overdue"
    assert page["contacts"] == {"5001": {
        "session": "agent-03", "status": "Active", "media": "call in", "skill": "1507",
        "age": page["contacts"]["5001"]["age"], "linked": False}}
    assert 95 <= seconds(page["contacts"]["5001"]["age"]) < 95 + BOUND_S
    assert page["violations"] == []
    assert page["connection"] == "live"

    # time in state ticks on its own
    first = seconds(agents["agent-04"]["time"])
    wait_for(browser, lambda p: seconds(p["agents"]["agent-04"]["time"]) > first,
             "time in state ticking")

    # a contact appears live: agent-01 gets call 6001, and goes InboundContact
    later = now_ms()
    service.push([("agent-01", h.call("6001", "Incoming", at=later, skill="2001")),
                  ("agent-01", h.agent_state("InboundContact", at=later)),
                  ("agent-01", h.call("6001", "Active", at=later, start=later,
                                      skill="2001"))])
    page = wait_for(browser, lambda p: p if "6001" in p["contacts"] else None,
                    "contact 6001")
    assert page["contacts"]["6001"]["session"] == "agent-01"
    assert page["contacts"]["6001"]["skill"] == "2001"
    wait_for(browser, lambda p: counts(p) == {"Available": 1, "InboundContact": 2, "ACW": 2,
                                              "Unavailable": 1}, "agent-01 on a contact")

    # ... and disappears live when it ends; the agent goes to ACW (not overdue)
    end = now_ms()
    service.push([("agent-01", h.call("6001", "Disconnected", at=end, start=later,
                                      skill="2001", final=True)),
                  ("agent-01", h.agent_state("Unavailable", at=end, acw=True,
                                             acw_timeout=120))])
    page = wait_for(browser, lambda p: p if "6001" not in p["contacts"] else None,
                    "contact 6001 gone")
    assert list(page["contacts"]) == ["5001"]
    page = wait_for(browser, lambda p: p if counts(p) == {"Available": 1, "InboundContact": 1,
                                                          "ACW": 3, "Unavailable": 1}
                    else None, "agent-01 in ACW")
    assert [k for k, a in page["agents"].items() if a["overdue"]] == ["agent-05"]

    # a violation shows in the list: a status for contact 6001 after its FinalState True
    assert service.push([("agent-01", h.call("6001", "Active", at=now_ms(), start=later,
                                             skill="2001"))])["violations"] == 1
    page = wait_for(browser, lambda p: p if p["violations"] else None, "a violation")
    [violation] = page["violations"]
    assert violation["rule"] == "contact-after-final"
    assert violation["severity"] == "error"
    assert violation["session"] == "agent-01"
    assert "6001" in violation["message"]
    wait_for(browser, lambda p: p["agents"]["agent-01"]["violations"] == "1",
             "the session's violation count")

    assert browser.driver.execute_script(_MARKED) == "not reloaded"
    browser.screenshot(Path("/tmp/wallboard-live.png"))
    assert browser.console_errors() == []
    no_outside_requests(browser)


def only_network_failures(errors: list[str]) -> list[str]:
    """Console errors other than the browser's own reports of a refused connection (the
    page's requests while the service was away): a script error is never one of them."""
    return [e for e in errors if "net::ERR_" not in e]


def test_the_board_survives_a_restart_with_its_state_and_catches_up(
        browser: Browser, served: Callable[..., Served], tmp_path: Path) -> None:
    port = free_port()
    state = ("--state-dir", str(tmp_path / "state"))
    first = served(*state, port=port)
    first.push(scene(now_ms()))
    open_board(browser, first.url + "/")
    wait_for(browser, lambda p: counts(p) == SCENE_COUNTS, f"the counts {SCENE_COUNTS}")

    assert first.stop() == 0
    wait_for(browser, lambda p: p["connection"] == "reconnecting", "the connection lost")

    second = served(*state, port=port)
    assert second.url == first.url
    later = now_ms()
    second.push([("agent-04", h.agent_state("Available", at=later)),
                 ("agent-07", h.session_start(agent_id="1007", session_id="70007")),
                 ("agent-07", h.agent_state("Available", at=later))])
    expected = {"Available": 4, "InboundContact": 1, "ACW": 2}
    page = wait_for(browser, lambda p: p if counts(p) == expected else None,
                    f"the counts after the restart {expected}")
    assert page["agents"]["agent-07"]["agent_id"] == "1007"
    assert page["agents"]["agent-04"]["reason"] == ""
    assert page["contacts"].keys() == {"5001"}
    wait_for(browser, lambda p: p["connection"] == "live", "the connection back")

    # still live on the restarted service's stream
    second.push([("agent-07", h.agent_state("Unavailable", out_reason="Meeting",
                                            at=now_ms()))])
    wait_for(browser, lambda p: p["agents"]["agent-07"]["reason"] == "Meeting",
             "agent-07 in a meeting")
    assert browser.driver.execute_script(_MARKED) == "not reloaded"
    browser.screenshot(Path("/tmp/wallboard-restarted.png"))
    assert only_network_failures(browser.console_errors()) == []
    no_outside_requests(browser)


def test_a_service_that_lost_its_state_is_read_again(
        browser: Browser, served: Callable[..., Served]) -> None:
    """Restarted without --state-dir, the service knows none of the page's sessions nor
    its change ids: the page drops what is gone and shows what there is now."""
    port = free_port()
    first = served(port=port)
    first.push(scene(now_ms()))
    open_board(browser, first.url + "/")
    wait_for(browser, lambda p: counts(p) == SCENE_COUNTS, f"the counts {SCENE_COUNTS}")
    assert first.stop() == 0

    second = served(port=port)
    second.push([("agent-09", h.session_start(agent_id="1009", session_id="70009")),
                 ("agent-09", h.agent_state("Dialer", at=now_ms()))])
    page = wait_for(browser, lambda p: p if p["order"] == ["agent-09"] else None,
                    "only agent-09")
    assert counts(page) == {"Dialer": 1}
    assert page["contacts"] == {}
    wait_for(browser, lambda p: p["connection"] == "live", "the connection back")
    assert browser.driver.execute_script(_MARKED) == "not reloaded"
    assert only_network_failures(browser.console_errors()) == []


def test_the_token_moves_from_the_address_into_a_cookie(
        browser: Browser, served: Callable[..., Served], tmp_path: Path) -> None:
    token = "wallboard-Token_42.x"
    (tmp_path / "token").write_text(token + "\n")
    service = served("--api-token-file", str(tmp_path / "token"), token=token)
    service.push(scene(now_ms()))
    open_board(browser, service.url + "/#token=" + token)
    wait_for(browser, lambda p: counts(p) == SCENE_COUNTS, f"the counts {SCENE_COUNTS}")
    assert "token" not in browser.driver.current_url
    cookie = browser.driver.get_cookie("session_fsm_token")
    assert cookie is not None
    assert (cookie["value"], cookie["path"], cookie["sameSite"]) == (token, "/", "Strict")
    # the change stream carries it too (an EventSource sends the cookie, no header)
    service.push([("agent-04", h.agent_state("Available", at=now_ms()))])
    wait_for(browser, lambda p: p["agents"]["agent-04"]["state"] == "Available",
             "agent-04 Available")
    assert browser.console_errors() == []

    # without it, the page says so instead of showing nothing
    browser.driver.delete_all_cookies()
    browser.driver.refresh()
    page = wait_for(browser, lambda p: p if p["connection"] == "auth" else None,
                    "that the token is needed")
    assert page["agents"] == {}
    assert browser.driver.find_element("id", "conn-text").text.lower() == "needs token"
    assert "#token=" in browser.driver.find_element("id", "agents-empty").text
    no_outside_requests(browser)


HOSTILE = '<img src=x onerror="window.__pwned=1">'


def test_whatever_the_network_says_is_shown_as_text(
        browser: Browser, served: Callable[..., Served]) -> None:
    service = served()
    now = now_ms()
    key = "agent-" + HOSTILE
    answer = service.push([
        (key, h.session_start(agent_id="<b>7</b>", session_id="70001")),
        (key, h.agent_state("Unavailable", out_reason="<script>window.__pwned=2</script>",
                            at=now)),
        (key, h.call("<i>1</i>", "Incoming", at=now, skill="<u>s</u>")),
        (key, h.call("<i>1</i>", "Disconnected", at=now, final=True)),
        (key, h.call("<i>1</i>", "Active", at=now))])
    assert answer["violations"] >= 1
    open_board(browser, service.url + "/")
    page = wait_for(browser, lambda p: p if p["agents"] and p["violations"] else None,
                    "the hostile session and its violation")
    assert page["agents"][key]["agent_id"] == "<b>7</b>"
    assert page["agents"][key]["reason"] == "<script>window.__pwned=2</script>"
    assert any(v["session"] == key and "<i>1</i>" in v["message"]
               for v in page["violations"])
    # live too: a new contact arrives over the stream with markup in its fields
    service.push([(key, h.call("<em>2</em>", "Incoming", at=now_ms(), skill="<u>s</u>"))])
    page = wait_for(browser, lambda p: p if "<em>2</em>" in p["contacts"] else None,
                    "the hostile contact")
    assert page["contacts"]["<em>2</em>"]["skill"] == "<u>s</u>"
    made = browser.driver.execute_script(
        "return [window.__pwned || null, document.querySelectorAll("
        "'main img, main script, main b, main i, main u, main em').length];")
    assert made == [None, 0]
    assert browser.console_errors() == []
    no_outside_requests(browser)


def board_scene(now: datetime) -> list[tuple[str, h.Wire]]:
    """A floor of fourteen agents as a supervisor would see it mid-morning: every state,
    calls, a chat, a work item, a dialer call linked to the agent's voice path, one ACW
    past its deadline, one agent gone home, and two violations (an event for a contact
    after its FinalState True; a session that did not end cleanly).

    By hand: Available 3 (00101, 00102, 00103); InboundContact 4 (00104 call Active,
    00105 call Holding, 00106 chat, 00113 work item); OutboundContact 1 (00107, dialer
    call linked); Dialer 1 (00108); ACW 2 (00109 overdue, 00110 not); Unavailable 2
    (00111 Lunch, 00112 Training); the session of 00114 ended."""
    def ago(s: float) -> datetime:
        return now - timedelta(seconds=s)

    events: list[tuple[str, h.Wire]] = []

    def agent(number: int, *more: h.Wire) -> None:
        key = f"agent-{number:05d}"
        start = h.session_start(agent_id=str(12200 + number), session_id=str(58070000 + number))
        events.extend((key, event) for event in (start, *more))

    def inbound_call(contact: str, since: float, skill: str) -> list[h.Wire]:
        return [h.agent_state("Available", at=ago(since + 60)),
                h.call(contact, "Incoming", at=ago(since + 8), skill=skill),
                h.agent_state("InboundContact", at=ago(since)),
                h.call(contact, "Active", at=ago(since), start=ago(since + 8), skill=skill)]

    agent(101, h.agent_state("Available", at=ago(252)))
    agent(102, h.agent_state("Unavailable", out_reason="Coaching", at=ago(900)),
          h.agent_state("Available", at=now))  # the newest event: the skew is about zero
    agent(103, h.agent_state("Unavailable", out_reason="Break", at=ago(1200)),
          h.agent_state("Available", at=ago(110)))
    agent(104, *inbound_call("5501104", 200, "1507"))
    agent(105, *inbound_call("5501105", 365, "1512"),
          h.call("5501105", "Holding", at=ago(90), start=ago(373), skill="1512"))
    agent(106, h.agent_state("Available", at=ago(400)),
          h.chat("5501106", "Incoming", at=ago(138), skill="1509"),
          h.agent_state("InboundContact", at=ago(130)),
          h.chat("5501106", "Active", at=ago(130), start=ago(138), skill="1509"))
    agent(107, h.agent_state("Dialer", at=ago(300)),
          h.call("5501107", "NaturalCallDialing", at=ago(72), inbound=False, skill="1610",
                 call_type="Regular"),
          h.agent_state("OutboundContact", at=ago(65)),
          h.call("5501107", "Active", at=ago(65), start=ago(72), inbound=False, skill="1610",
                 linked=True))
    agent(108, h.agent_state("Dialer", at=ago(41)))
    agent(109, *inbound_call("5501109", 400, "1507"),
          h.call("5501109", "Disconnected", at=ago(130), start=ago(408), final=True),
          h.agent_state("Unavailable", at=ago(130), acw=True, acw_timeout=60),
          # the platform says the closed call is active again: contact-after-final
          h.call("5501109", "Active", at=ago(20), start=ago(408)))
    agent(110, *inbound_call("5501110", 500, "1512"),
          h.call("5501110", "Disconnected", at=ago(22), start=ago(508), final=True),
          h.agent_state("Unavailable", at=ago(22), acw=True, acw_timeout=120))
    agent(111, h.agent_state("Unavailable", out_reason="Lunch", at=ago(1443)))
    agent(112, h.agent_state("Unavailable", out_reason="Training", at=ago(512)))
    agent(113, h.agent_state("Available", at=ago(900)),
          h.work_item("5501113", "Incoming", at=ago(727)),
          h.agent_state("InboundContact", at=ago(720)),
          h.work_item("5501113", "Active", at=ago(720), start=ago(727)))
    agent(114, h.agent_state("Available", at=ago(3000)),
          h.agent_state("LoggedOut", at=ago(600)),
          h.session_end(success=False, message="Agent logged out by supervisor"))
    return events


BOARD_COUNTS = {"Available": 3, "InboundContact": 4, "OutboundContact": 1, "Dialer": 1,
                "ACW": 2, "Unavailable": 2, "ended": 1}


def test_a_realistic_board(browser: Browser, served: Callable[..., Served]) -> None:
    """The README's picture, checked: fourteen agents, four media, one overdue ACW."""
    service = served()
    browser.driver.set_window_size(1600, 1000)  # nearer a wallboard screen
    answer = service.push(board_scene(now_ms()))
    assert answer["violations"] == 2, answer
    open_board(browser, service.url + "/")
    page = wait_for(browser, lambda p: p if counts(p) == BOARD_COUNTS and
                    len(p["violations"]) == 2 else None, f"the counts {BOARD_COUNTS}")
    assert [k for k, a in page["agents"].items() if a["overdue"]] == ["agent-00109"]
    assert page["order"][-1] == "agent-00114", "an ended session goes last"
    contacts = page["contacts"]
    assert sorted(contacts) == ["5501104", "5501105", "5501106", "5501107", "5501113"]
    assert [c for c, shown_contact in contacts.items() if shown_contact["linked"]] == \
        ["5501107"]
    assert {c: s["media"] for c, s in contacts.items()} == {
        "5501104": "call in", "5501105": "call in", "5501106": "chat", "5501107": "call out",
        "5501113": "work item"}
    assert sorted((v["rule"], v["severity"]) for v in page["violations"]) == [
        ("contact-after-final", "error"), ("session-end-not-clean", "warning")]
    time.sleep(1.2)  # a whole second ticked: the picture shows a settled board
    browser.screenshot(Path("/tmp/wallboard-board.png"))
    if target := os.environ.get("WALLBOARD_SCREENSHOT"):
        browser.screenshot(Path(target))
    assert browser.console_errors() == []
    no_outside_requests(browser)


def test_hundreds_of_agents_scroll_and_a_burst_is_fetched_in_few_requests(
        browser: Browser, served: Callable[..., Served]) -> None:
    """Three hundred agents: the table scrolls inside its panel (the board itself does not
    scroll), and a change to every one of them at once costs a handful of requests (dirty
    sessions are fetched together, many keys a request), not one each."""
    service = served()
    now = now_ms()
    keys = [f"agent-{n:05d}" for n in range(300)]
    events: list[tuple[str, h.Wire]] = []
    for n, key in enumerate(keys):
        events += [(key, h.session_start(agent_id=str(20000 + n), session_id=str(80000 + n))),
                   (key, h.agent_state("Unavailable" if n % 3 == 0 else "Available",
                                       out_reason="Break" if n % 3 == 0 else "",
                                       at=now - timedelta(seconds=n)))]
    service.push(events)
    open_board(browser, service.url + "/")
    wait_for(browser, lambda p: counts(p) == {"Available": 200, "Unavailable": 100},
             "300 agents")
    layout = browser.driver.execute_script(
        "const table = document.querySelector('.agents .scroll');"
        "return [table.scrollHeight > table.clientHeight,"
        "        document.documentElement.scrollHeight <= window.innerHeight];")
    assert layout == [True, True]

    def snapshot_requests() -> int:
        return sum(1 for url in browser.requested_urls() if "/api/sessions" in url)

    before = snapshot_requests()
    later = now_ms()
    service.push([(key, h.agent_state("Unavailable", out_reason="Meeting", at=later))
                  for key in keys])
    page = wait_for(browser, lambda p: p if counts(p) == {"Unavailable": 300} else None,
                    "all 300 in a meeting")
    assert {a["reason"] for a in page["agents"].values()} == {"Meeting"}
    assert snapshot_requests() - before <= 12
    assert browser.console_errors() == []
    no_outside_requests(browser)


def test_time_in_state_is_on_the_platforms_clock_not_the_browsers(
        browser: Browser, served: Callable[..., Served]) -> None:
    """The platform's clock runs an hour and a half ahead of this machine's: times in state
    and ACW deadlines are still right, because the page ticks on the service's estimate of
    the platform's clock (server_time), not on the browser's."""
    ahead = timedelta(hours=1, minutes=30)
    platform_now = now_ms() + ahead
    service = served()
    service.push(scene(platform_now))
    open_board(browser, service.url + "/")
    page = wait_for(browser, lambda p: p if counts(p) == SCENE_COUNTS else None,
                    f"the counts {SCENE_COUNTS}")
    agents = page["agents"]
    assert 600 <= seconds(agents["agent-04"]["time"]) < 600 + BOUND_S
    assert [k for k, a in agents.items() if a["overdue"]] == ["agent-05"]
    assert agents["agent-06"]["badge"].endswith(" left")
    assert 95 <= seconds(page["contacts"]["5001"]["age"]) < 95 + BOUND_S
    shown_clock = browser.driver.find_element("id", "clock").text
    expected = (datetime.now(UTC) + ahead).strftime("%H:%M")
    assert shown_clock.startswith(expected) or \
        shown_clock.startswith((datetime.now(UTC) + ahead - timedelta(minutes=1))
                               .strftime("%H:%M")), shown_clock
    assert browser.console_errors() == []


def test_a_service_keeping_few_changes_resets_the_page_and_it_stays_right(
        browser: Browser, served: Callable[..., Served]) -> None:
    """With --keep-changes 3 the log no longer holds where the page asks to start (it asks
    for recent changes, for the violations list): the service sends a reset, and the page
    reads every snapshot again and goes on live from there."""
    service = served("--keep-changes", "3")
    service.push(scene(now_ms()))
    open_board(browser, service.url + "/")
    wait_for(browser, lambda p: counts(p) == SCENE_COUNTS, f"the counts {SCENE_COUNTS}")
    for n in range(5):  # more changes than the log keeps, one push at a time
        service.push([("agent-04", h.agent_state("Unavailable", out_reason=f"Reason {n}",
                                                 at=now_ms()))])
    wait_for(browser, lambda p: p["agents"]["agent-04"]["reason"] == "Reason 4",
             "the last out reason")
    wait_for(browser, lambda p: p["connection"] == "live", "a live connection")
    assert browser.console_errors() == []
