"""Who may do what to ``session-fsm serve``, tried as an attacker would, on 127.0.0.1.

The threat model (README, "Running a wallboard"): anything on this machine, and any web
page a browser on it opens, can send the service requests. A page of another origin
(another port of 127.0.0.1 here, in a real headless Chromium) must not be able to push
events, with or without the wallboard's token cookie in that browser; a request for a
name that is not the service's own (DNS rebinding) gets nothing; a push needs the push
token in a header and a JSON body; every answer forbids framing and sniffing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import browser as browsers
import helpers as h
import httpx
import orjson
import pytest
import served as service_processes
from browser import Browser
from served import BOUND_S, Served

browser = browsers.browser
served = service_processes.served

EVENT = orjson.dumps({"session": "victim", "event": h.agent_state("Available", at="20:00:00")})


def client(service: Served) -> httpx.Client:
    return httpx.Client(base_url=service.url, trust_env=False, timeout=BOUND_S)


def local(url: str) -> str:
    """``url`` by the name ``localhost``: the only name the test browser resolves (even
    127.0.0.1 is mapped away there), so two ports of it are two origins of one host."""
    return url.replace("127.0.0.1", "localhost")


def push_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}


# --- a page of another origin ---------------------------------------------------------------


ATTACK = """<!doctype html><title>elsewhere</title><script>
const target = new URL(location.hash.slice(1));
const body = %s;
window.attempts = [];
async function attempt(name, options) {
  try {
    const answer = await fetch(target + "api/events?session=victim", options);
    window.attempts.push([name, answer.type, answer.status]);
  } catch (error) {
    window.attempts.push([name, "error", String(error)]);
  }
}
(async () => {
  // the simple request the issue saw applied: no preflight, credentials (a cookie) sent
  await attempt("no-cors text/plain", {mode: "no-cors", method: "POST", body,
      credentials: "include", headers: {"Content-Type": "text/plain"}});
  // a JSON one with the token, as a script that stole it would send it: needs a preflight
  await attempt("cors json bearer", {mode: "cors", method: "POST", body,
      headers: {"Content-Type": "application/json", "Authorization": "Bearer " + %s}});
  // a form: what an HTML <form> can send from anywhere
  const form = new FormData(); form.append("x", body);
  await attempt("no-cors form", {mode: "no-cors", method: "POST", body: form,
      credentials: "include"});
  window.done = true;
})();
</script>"""


class Elsewhere:
    """A page server on another port of 127.0.0.1: another origin to the browser."""

    def __init__(self, page: bytes) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def elsewhere() -> Iterator[Callable[[bytes], Elsewhere]]:
    made: list[Elsewhere] = []

    def make(page: bytes) -> Elsewhere:
        made.append(Elsewhere(page))
        return made[-1]

    yield make
    for one in made:
        one.close()


@pytest.mark.parametrize("with_api_token", [False, True])
def test_a_page_of_another_origin_cannot_push(
        tmp_path: Path, browser: Browser, served: Callable[..., Served],
        elsewhere: Callable[[bytes], Elsewhere], with_api_token: bool) -> None:
    args: tuple[str, ...] = ()
    if with_api_token:  # the board is then opened with the token: its cookie is set
        (tmp_path / "api-token").write_text("api-token-0123456789abcdef")
        args = ("--api-token-file", str(tmp_path / "api-token"))
    service = served(*args)
    token = "api-token-0123456789abcdef" if with_api_token else service.push_token()
    if with_api_token:
        browser.open(f"{local(service.url)}/#token={token}")
        deadline = time.monotonic() + BOUND_S
        while not browser.driver.get_cookies() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [c["name"] for c in browser.driver.get_cookies()] == ["session_fsm_token"]
    page = ATTACK % (orjson.dumps(EVENT.decode()).decode(), orjson.dumps(token).decode())
    attacker = elsewhere(page.encode())
    browser.open(f"{local(attacker.url)}#{local(service.url)}/")
    deadline = time.monotonic() + BOUND_S
    while not browser.driver.execute_script("return window.done === true") and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    attempts = browser.driver.execute_script("return window.attempts")
    assert [name for name, _, _ in attempts] == ["no-cors text/plain", "cors json bearer",
                                                 "no-cors form"]
    # an opaque answer says nothing to the page; the preflighted one never left the
    # browser with its body: either way what counts is that nothing was applied
    assert attempts[1][1] == "error", attempts
    with client(service) as http:
        headers = {"Authorization": f"Bearer {token}"} if with_api_token else {}
        health = http.get("/healthz").json()
        assert health["sessions"] == 0, health
        assert http.get("/api/sessions/victim", headers=headers).status_code == 404
        # and the same push from a program that has the token is taken
        taken = http.post("/api/events", content=EVENT, headers=push_headers(token))
        assert taken.status_code == 200, taken.text
        assert http.get("/healthz").json()["sessions"] == 1


def test_requests_from_another_origin_or_without_json_or_token_are_refused(
        served: Callable[..., Served]) -> None:
    """The same refusals without a browser, each for its own reason, said in words."""
    service = served()
    token = service.push_token()
    with client(service) as http:
        cases = {
            "other origin": ({**push_headers(token), "Origin": "http://127.0.0.1:1"}, 403),
            "cross-site fetch": ({**push_headers(token), "Sec-Fetch-Site": "cross-site"}, 403),
            "same-site, other port": ({**push_headers(token), "Sec-Fetch-Site": "same-site"},
                                      403),
            "text/plain": ({"Authorization": f"Bearer {token}",
                            "Content-Type": "text/plain"}, 415),
            "no token": ({"Content-Type": "application/json"}, 401),
            "wrong token": (push_headers("x" * 64), 401),
            "token as a cookie only": ({"Content-Type": "application/json",
                                        "Cookie": f"session_fsm_token={token}"}, 401),
        }
        for name, (headers, status) in cases.items():
            answer = http.post("/api/events", content=EVENT, headers=headers)
            assert answer.status_code == status, (name, answer.text)
            assert token not in answer.text
        assert http.get("/healthz").json()["sessions"] == 0
        same_origin = {**push_headers(token), "Origin": service.url,
                       "Sec-Fetch-Site": "same-origin"}
        assert http.post("/api/events", content=EVENT, headers=same_origin).status_code == 200
        assert http.get("/healthz").json()["sessions"] == 1
    said = service.log.read_text()
    assert token not in said


def test_a_name_that_is_not_the_services_own_gets_nothing(
        served: Callable[..., Served]) -> None:
    """DNS rebinding: a page of attacker.example whose name now points at 127.0.0.1."""
    service = served("--allowed-host", "board.example")
    token = service.push_token()
    with client(service) as http:
        for path in ("/", "/api/sessions", "/api/changes", "/healthz", "/metrics"):
            answer = http.get(path, headers={"Host": "attacker.example"})
            assert answer.status_code == 400, path
        refused = http.post("/api/events", content=EVENT,
                            headers={**push_headers(token), "Host": "attacker.example"})
        assert refused.status_code == 400
        assert http.get("/healthz").json()["sessions"] == 0
        # its own names, and the one allowed, are answered (any port)
        port = service.url.rsplit(":", 1)[1]
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "board.example:8443"):
            assert http.get("/healthz", headers={"Host": host}).status_code == 200, host


def test_every_answer_forbids_framing_and_sniffing(served: Callable[..., Served]) -> None:
    service = served()
    with client(service) as http:
        for path in ("/", "/static/wallboard.js", "/api/sessions", "/healthz", "/nowhere"):
            headers = http.get(path).headers
            assert "frame-ancestors 'none'" in headers["content-security-policy"], path
            assert "script-src 'self'" in headers["content-security-policy"], path
            assert headers["x-frame-options"] == "DENY", path
            assert headers["x-content-type-options"] == "nosniff", path
            assert headers["referrer-policy"] == "no-referrer", path


def test_the_push_token_is_kept_in_the_state_dir_and_private(
        tmp_path: Path, served: Callable[..., Served]) -> None:
    state = tmp_path / "state"
    first = served("--state-dir", str(state))
    token = first.push_token()
    assert (state / "push-token").stat().st_mode & 0o777 == 0o600
    assert first.stop() == 0
    again = served("--state-dir", str(state))
    assert again.push_token() == token  # pushers go on across a restart
    without = served()
    made = Path(service_processes.PUSH_TOKEN.search(without.log.read_text())[1])
    assert made.parent.stat().st_mode & 0o777 == 0o700
    assert without.stop() == 0
    assert not made.exists()  # a token of its own, gone with the service
