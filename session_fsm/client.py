"""Following a live agent session: the get-next-event long poll, fed into the engine.

This module is the HTTP edge of the package and its one concern is the poll protocol
(``docs/stream-facts.md``, "The poll protocol"): it asks
``GET {base}/agent-sessions/{sessionId}/get-next-event?timeout=N`` again and again and
hands what comes back to an :class:`~session_fsm.engine.AgentSession`. It fires no
transition itself; the engine does.

Theory of operation. One poll has one outcome:

- ``200``: the body ``{"sessionId": ..., "events": [...]}`` is parsed and every event
  decoded *before* anything is applied, so a body is never half-applied (a cut or
  timed-out response changes nothing and is asked for again). An event the codec cannot
  decode is reported to the engine at its place in the batch (a violation, never a
  silent drop); a body that is not a response at all is reported as one unreadable
  item. Then the body is recorded (``record``), its events fed in order, and its
  ``sessionId`` adopted for the next poll.
- ``304``: no events before the long-poll timeout: poll again at once.
- ``409``: the session has ended. The real ``AgentSessionEnd`` can be purged with the
  queue, so this ends the session exactly as that event would (as ``end("409")``). A
  ``409`` has no body, so the follower makes one: a response-shaped line holding one
  :class:`~session_fsm.events.HttpSessionEnded` event is recorded, and that same event
  applied, so a recording replays to the same end.
- ``401``: the token is read again (it is read for every request anyway, so a refreshed
  file or callable is picked up) and the poll repeated once at once; a second ``401`` in
  a row raises :class:`AuthError`.
- ``5xx``, ``408``, ``429``, timeouts and network errors: retried with capped
  exponential backoff and full jitter (:class:`RetryPolicy`), each attempt logged on the
  ``session_fsm.client`` logger; after ``max_retries`` failed retries in a row
  :class:`GaveUpError` is raised. Any other status raises :class:`UnexpectedStatusError`.

The follower stops when the session ends (``409``, or an ``AgentSessionEnd`` in a body),
when :meth:`SessionFollower.request_stop` was called, or by raising one of the errors
above: never silently. The sleep function and the random source are injectable so tests
run fast against a real server.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random as _random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, TypeAlias
from urllib.parse import quote

import attrs
import httpx
import orjson

from .codec import decode, encode
from .engine import AgentSession
from .errors import InputError, NotAnEventError, NotJsonError, SessionFsmError, Source
from .events import Event, HttpSessionEnded

__all__ = [
    "DEFAULT_POLL_TIMEOUT",
    "AuthError",
    "FollowError",
    "FollowResult",
    "GaveUpError",
    "RetryPolicy",
    "SessionFollower",
    "TokenError",
    "TokenSource",
    "UnexpectedStatusError",
    "token_reader",
]

log = logging.getLogger("session_fsm.client")

DEFAULT_POLL_TIMEOUT: Final = 30
"""Seconds the server holds a poll open when it has no events (the API allows 0..60)."""

RESPONSE_SOURCE: Final = "get-next-event"
"""The ``path`` of the :class:`Source` of polled events; its ``line`` is the response number."""

# Statuses that say "not now" rather than "never": asked again after a backoff.
_RETRIED_STATUSES: Final = frozenset({408, 429})
_BODY_EXCERPT: Final = 200

TokenSource: TypeAlias = "Callable[[], str] | os.PathLike[str]"
"""Where the bearer token comes from: a callable, or a file holding the token."""


# --- errors ------------------------------------------------------------------------------


class FollowError(SessionFsmError):
    """Following stopped on a failure; ``session_id`` is the one to resume from."""

    def __init__(self, message: str, session_id: str) -> None:
        self.session_id = session_id
        super().__init__(f"{message} (resume from session id {session_id})")


class TokenError(FollowError):
    """The bearer token could not be read (missing or empty file, failing callable)."""

    def __init__(self, detail: str, session_id: str) -> None:
        self.detail = detail
        super().__init__(f"cannot read the bearer token: {detail}", session_id)


class AuthError(FollowError):
    """``401`` again after the token was read afresh: the token is not accepted."""

    def __init__(self, url: str, session_id: str) -> None:
        self.url = url
        super().__init__(f"401 Unauthorized from {url}, also with a freshly read token",
                         session_id)


class UnexpectedStatusError(FollowError):
    """A status the poll protocol does not retry (e.g. ``400``, ``403``, ``404``)."""

    def __init__(self, status: int, url: str, body: str, session_id: str) -> None:
        self.status = status
        self.url = url
        self.body = body
        shown = f": {body}" if body else ""
        super().__init__(f"HTTP {status} from {url}{shown}", session_id)


class GaveUpError(FollowError):
    """The retry limit was reached; ``cause`` describes the last failure."""

    def __init__(self, attempts: int, cause: str, session_id: str) -> None:
        self.attempts = attempts
        self.cause = cause
        super().__init__(f"gave up after {attempts} failed attempts in a row; last: {cause}",
                         session_id)


# --- token -------------------------------------------------------------------------------


def token_reader(path: str | os.PathLike[str]) -> Callable[[], str]:
    """A token callable that reads ``path`` on every call (a refresher may rewrite it).

    Surrounding whitespace and a leading ``Bearer`` are ignored, so the file may hold
    the token as an ``Authorization`` value too.
    """
    file = Path(path)

    def read_token() -> str:
        text = file.read_text(encoding="utf-8").strip()
        if text[:7].lower() == "bearer ":
            text = text[7:].strip()
        return text

    return read_token


# --- retry policy ------------------------------------------------------------------------


@attrs.frozen(slots=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter, and a limit.

    The delay before retry ``n`` (1-based) is ``uniform(0, min(max_delay, base_delay *
    2 ** (n - 1)))``: spread out so that many followers do not retry in step. The
    defaults follow the official SDK's patience (60 retries, never more than 10 s apart).
    A poll that succeeds (200, 304, 409) resets the count.
    """

    max_retries: int = attrs.field(default=60, validator=attrs.validators.ge(0))
    base_delay: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))
    max_delay: float = attrs.field(default=10.0, validator=attrs.validators.ge(0))

    def delay(self, retry: int, rand: Callable[[], float]) -> float:
        """Seconds to wait before retry number ``retry``; ``rand()`` is in [0, 1)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(retry - 1, 62))
        return rand() * ceiling


# --- the follower --------------------------------------------------------------------------


@attrs.frozen(slots=True)
class FollowResult:
    """How following ended: the session ended, or a stop was requested."""

    outcome: Literal["ended", "stopped"]
    reason: str | None
    """The session's end reason (``"409"``, ``"AgentSessionEnd"``...) when it ended."""
    session_id: str
    """The session id the next poll would have used: where to resume."""
    responses: int
    """200 responses applied."""
    polls: int
    """Requests made, retries included."""


@attrs.frozen(slots=True)
class _Body:
    """A 200 body, fully read and decoded, not yet applied."""

    session_id: str | None
    items: tuple[Event | InputError, ...]
    line: bytes
    """The JSON Lines line that records this response."""


class _RetryableError(Exception):
    """A poll failed in a way worth asking again; ``cause`` is for the log."""

    def __init__(self, cause: str) -> None:
        self.cause = cause
        super().__init__(cause)


class SessionFollower:
    """Long-polls one agent session's get-next-event and feeds it into ``session``.

    ``base_url`` is the API's base (``https://api-{area}.{domain}/incontactapi/services/v{N}``).
    ``token`` is read for every request. ``record`` receives each 200 response as one
    JSON Lines line (bytes without the newline) before it is applied, and for a 409 the
    line of its :class:`~session_fsm.events.HttpSessionEnded` event; ``on_change`` is
    called with the session after each applied response and after the end. ``sleep``
    and ``rand`` drive the backoff; ``http_timeout`` bounds one request (by default the
    long-poll ``timeout`` plus 10 s).
    """

    def __init__(
        self,
        base_url: str,
        session_id: str,
        token: TokenSource,
        *,
        session: AgentSession | None = None,
        timeout: int = DEFAULT_POLL_TIMEOUT,
        http_timeout: float | None = None,
        policy: RetryPolicy | None = None,
        record: Callable[[bytes], None] | None = None,
        on_change: Callable[[AgentSession], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = _random.random,
        trust_env: bool = True,
    ) -> None:
        if not 0 <= timeout <= 60:
            raise ValueError(f"timeout must be 0..60 seconds, got {timeout}")
        if not session_id:
            raise ValueError("session_id must not be empty")
        if isinstance(token, str):
            raise TypeError("token must be a callable or a path (pathlib.Path), not a str: "
                            "a str could be either the token or its file")
        self.base_url = base_url.rstrip("/")
        self.session_id = session_id
        self.session = session if session is not None else AgentSession(session_id)
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.record = record
        self.on_change = on_change
        self.sleep = sleep
        self.rand = rand
        self._read_token = token if callable(token) else token_reader(token)
        self._http = httpx.Client(
            timeout=httpx.Timeout(http_timeout if http_timeout is not None else timeout + 10.0),
            headers={"Accept": "application/json"},
            trust_env=trust_env,
        )
        self.responses = 0
        self.polls = 0
        self._stop = threading.Event()
        self._applying = False

    # --- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SessionFollower:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def request_stop(self) -> None:
        """Stop before the next poll (safe from a signal handler or another thread)."""
        self._stop.set()

    @property
    def applying(self) -> bool:
        """True while a response is being recorded and applied: not a moment to interrupt."""
        return self._applying

    @property
    def url(self) -> str:
        """The URL the next poll asks."""
        return (f"{self.base_url}/agent-sessions/{quote(self.session_id, safe='')}"
                f"/get-next-event")

    # --- the loop ----------------------------------------------------------------------

    def run(self) -> FollowResult:
        """Poll until the session ends or a stop is requested; raises :class:`FollowError`."""
        failures = 0
        while True:
            if self._stop.is_set():
                return self._result("stopped", None)
            try:
                ended = self._poll()
            except _RetryableError as retry:
                failures += 1
                if failures > self.policy.max_retries:
                    raise GaveUpError(failures, retry.cause, self.session_id) from None
                pause = self.policy.delay(failures, self.rand)
                log.warning("poll of session %s failed (attempt %d of %d): %s; retrying in "
                            "%.2f s", self.session_id, failures, self.policy.max_retries + 1,
                            retry.cause, pause)
                self.sleep(pause)
                continue
            failures = 0
            if ended is not None:
                return self._result("ended", ended)

    def _poll(self) -> str | None:
        """One poll and its effect; the end reason if the session ended, else None.

        Raises :class:`_RetryableError` for a failure worth retrying; :meth:`run` turns
        those into backoff and, at the limit, :class:`GaveUpError`.
        """
        response = self._get(fresh_token_retry=True)
        status = response.status_code
        if status == 200:
            return self._apply(self._parse(response.content))
        if status == 304:
            log.debug("304: no events for session %s", self.session_id)
            return None
        if status == 409:
            log.info("409: session %s has ended", self.session_id)
            return self._apply_end(status)
        raise AssertionError(f"unhandled status {status}")  # pragma: no cover - _get filters

    def _get(self, *, fresh_token_retry: bool) -> httpx.Response:
        url = self.url
        token = self._token()
        self.polls += 1
        try:
            response = self._http.get(url, params={"timeout": self.timeout},
                                      headers={"Authorization": f"Bearer {token}"})
        except httpx.TimeoutException as error:
            raise _RetryableError(f"timed out ({type(error).__name__}) on {url}") from None
        except httpx.TransportError as error:
            cause = f"network error ({type(error).__name__}: {error}) on {url}"
            raise _RetryableError(cause) from None
        status = response.status_code
        if status in (200, 304, 409):
            return response
        if status == 401:
            if fresh_token_retry:
                log.info("401 for session %s: reading the token again and retrying once",
                         self.session_id)
                return self._get(fresh_token_retry=False)
            raise AuthError(url, self.session_id)
        if status >= 500 or status in _RETRIED_STATUSES:
            raise _RetryableError(f"HTTP {status} {response.reason_phrase} from {url}")
        raise UnexpectedStatusError(status, url, _excerpt(response.content), self.session_id)

    def _token(self) -> str:
        try:
            token = self._read_token()
        except OSError as error:
            raise TokenError(f"{error.strerror or error} ({error.filename})"
                             if error.filename else str(error), self.session_id) from None
        if not token:
            raise TokenError("the token is empty", self.session_id)
        return token

    # --- a 200 body ----------------------------------------------------------------------

    def _parse(self, content: bytes) -> _Body:
        """Read and decode a whole body; nothing is applied here."""
        source = Source(RESPONSE_SOURCE, self.responses + 1)
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError as error:
            text = content.decode("utf-8", "replace")
            return _Body(None, (NotJsonError(f"200 body is not JSON ({error})", source),),
                         orjson.dumps(text))
        line = orjson.dumps(body)
        if not isinstance(body, dict) or not isinstance(body.get("events"), list):
            return _Body(None, (NotAnEventError('200 body is not a get-next-event response '
                                                '{"sessionId": ..., "events": [...]}',
                                                source),), line)
        session_id = body.get("sessionId")
        if session_id is not None and not isinstance(session_id, str):
            return _Body(None, (NotAnEventError(f'200 body "sessionId" must be a string, got '
                                                f"{session_id!r}", source),), line)
        items: list[Event | InputError] = []
        for obj in body["events"]:
            try:
                items.append(decode(obj))
            except InputError as error:
                items.append(error.located(source))
        return _Body(session_id or None, tuple(items), line)

    def _apply(self, body: _Body) -> str | None:
        """Record, feed every item in order, adopt the new session id; the end reason if any."""
        with self._critical():
            if self.record is not None:
                self.record(body.line)
            self.responses += 1
            source = Source(RESPONSE_SOURCE, self.responses)
            batch = ("get-next-event", self.responses)
            session = self.session
            for item in body.items:
                if isinstance(item, InputError):
                    log.warning("unreadable item in response %d of session %s: %s",
                                self.responses, self.session_id, item.detail)
                    session.report_input_error(item, source)
                else:
                    session.feed(item, source=source, batch=batch)
            if body.session_id is not None and body.session_id != self.session_id:
                log.info("session id %s -> %s", self.session_id, body.session_id)
                self.session_id = body.session_id
            # AgentSessionEnd (or a 409 seen before) ends following; a RemoteAgentSessionEnd
            # alone does not: its AgentSessionEnd or the 409 is still to come.
            ended = session.info.saw_end_event
            if ended:
                self._finish()
            elif self.on_change is not None and body.items:
                self.on_change(session)
            return session.info.end_reason if ended else None

    def _apply_end(self, status: int) -> str:
        """Record and apply the end a bodiless answer means; the session's end reason.

        The end is one :class:`HttpSessionEnded` event, recorded as a response-shaped
        line and then fed: what the recording holds is exactly what was applied. It is
        not counted in :attr:`responses` (200s only), but takes the next response number
        for its source, as it takes the next line of the recording.
        """
        event = HttpSessionEnded(http_status=status, session_id=self.session_id)
        line = orjson.dumps({"sessionId": self.session_id, "events": [encode(event)]})
        number = self.responses + 1
        with self._critical():
            if self.record is not None:
                self.record(line)
            self.session.feed(event, source=Source(RESPONSE_SOURCE, number),
                              batch=("get-next-event", number))
            self._finish()
        return self.session.info.end_reason or "409"

    @contextlib.contextmanager
    def _critical(self) -> Iterator[None]:
        """A stretch that must run whole: :attr:`applying` is True meanwhile."""
        self._applying = True
        try:
            yield
        finally:
            self._applying = False

    def _finish(self) -> None:
        self.session.finish()
        if self.on_change is not None:
            self.on_change(self.session)

    def _result(self, outcome: Literal["ended", "stopped"], reason: str | None) -> FollowResult:
        return FollowResult(outcome, reason, self.session_id, self.responses, self.polls)


def _excerpt(content: bytes) -> str:
    text = " ".join(content.decode("utf-8", "replace").split())
    return text if len(text) <= _BODY_EXCERPT else text[: _BODY_EXCERPT - 3] + "..."

