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
  silent drop). Then the body is recorded (``record``), its events fed in order, and its
  ``sessionId`` adopted for the next poll. A body that is not such a response at all
  (not JSON, no ``events`` list) is a failed poll, retried like a ``5xx``: a server
  stuck on one cannot make the follower spin or its recording grow.
- ``304``: no events before the long-poll timeout: poll again at once.
- ``409``: the session has ended. The real ``AgentSessionEnd`` can be purged with the
  queue, so this ends the session exactly as that event would (as ``end("409")``). A
  ``409`` has no body, so the follower makes one: a response-shaped line holding one
  :class:`~session_fsm.wire.events.HttpSessionEnded` event is recorded, and that same event
  applied, so a recording replays to the same end.
- ``401``: the token is read again (it is read for every request anyway, so a refreshed
  file or callable is picked up) and the poll repeated once at once; a second ``401`` in
  a row raises :class:`AuthError`.
- ``5xx``, ``408``, ``429``, timeouts and network errors: retried with capped
  exponential backoff and full jitter (:class:`RetryPolicy`), each attempt logged on the
  ``session_fsm.io.client`` logger; after ``max_retries`` failed retries in a row
  :class:`GaveUpError` is raised. Any other status raises :class:`UnexpectedStatusError`.

Hostile answers. Every request has an overall deadline (``http_timeout``): its body is
streamed and a body still arriving when the deadline passes is abandoned as a timeout
(a server dripping bytes would never trip httpx's per-read timeout). A 200 body over
``max_body`` bytes, or whose recorded line would be, is refused while it streams
(:class:`BodyTooLargeError`): the follower never applies what its recording could not
replay. A session id, given or rotated by a body, must be one plain path segment
(:func:`check_session_id`), so no poll, and no token, goes outside
``/agent-sessions/``. The token must be one line of visible ASCII (refused at once
otherwise, by :class:`TokenError`), and never appears in a message: server text is
shown escaped (:func:`printable`) and with the token blanked out.

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
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, TypeAlias

import attrs
import httpx
import orjson

from ..engine import AgentSession
from ..engine.changes import Change
from ..errors import (
    EXCERPT_CHARS,
    AuthError,
    BodyTooLargeError,
    FollowError,
    GaveUpError,
    InputError,
    RecordError,
    RotatedSessionIdError,
    SessionFsmError,
    SessionIdError,
    Source,
    TokenError,
    UnexpectedStatusError,
    printable,
)
from ..wire.codec import decode, encode
from ..wire.events import Event, HttpSessionEnded
from ..wire.reader import DEFAULT_MAX_LINE_BYTES

__all__ = [
    "DEFAULT_POLL_TIMEOUT",
    "AuthError",
    "BodyTooLargeError",
    "FollowError",
    "FollowResult",
    "GaveUpError",
    "RecordError",
    "RetryPolicy",
    "RotatedSessionIdError",
    "SessionFollower",
    "SessionIdError",
    "TokenError",
    "TokenSource",
    "UnexpectedStatusError",
    "check_session_id",
    "printable",
    "token_reader",
]

log = logging.getLogger("session_fsm.io.client")

DEFAULT_POLL_TIMEOUT: Final = 30
"""Seconds the server holds a poll open when it has no events (the API allows 0..60)."""

RESPONSE_SOURCE: Final = "get-next-event"
"""The ``path`` of the :class:`Source` of polled events; its ``line`` is the response number."""

# Statuses that say "not now" rather than "never": asked again after a backoff.
_RETRIED_STATUSES: Final = frozenset({408, 429})
# Bytes read of a body that is only shown (an error's): enough for the excerpt's characters.
_EXCERPT_BYTES: Final = 4 * EXCERPT_CHARS
_HIDDEN_TOKEN: Final = "[token]"

# A session id is a path segment that needs no escaping and is no dot segment: RFC 3986's
# unreserved characters (real ids are letters and digits), bounded.
_SESSION_ID: Final = re.compile(r"[A-Za-z0-9._~-]{1,256}")
# What a bearer token may hold: visible ASCII, so it is one valid header value.
_NOT_IN_TOKEN: Final = re.compile(r"[^\x21-\x7e]")

TokenSource: TypeAlias = "Callable[[], str] | os.PathLike[str]"
"""Where the bearer token comes from: a callable, or a file holding the token."""


# --- errors ------------------------------------------------------------------------------


def check_session_id(value: str, where: str) -> str:
    """``value`` if it is one plain path segment, else :class:`SessionIdError` naming ``where``.

    The poll's URL is ``{base}/agent-sessions/{id}/get-next-event``: an id such as
    ``..`` or ``a/b`` would send the poll, and its bearer token, elsewhere.
    """
    if not _plain_segment(value):
        raise SessionIdError(value, where)
    return value


def _plain_segment(value: str) -> bool:
    return _SESSION_ID.fullmatch(value) is not None and value not in (".", "..")


# --- token -------------------------------------------------------------------------------


def token_reader(path: str | os.PathLike[str]) -> Callable[[], str]:
    """A token callable that reads ``path`` on every call (a refresher may rewrite it).

    Surrounding whitespace and a leading ``Bearer`` are ignored, so the file may hold
    the token as an ``Authorization`` value too. Bytes are read one to a character, so
    a byte that is not ASCII reaches the follower's check instead of failing to decode.
    """
    file = Path(path)

    def read_token() -> str:
        data = file.read_bytes().strip()
        if data[:7].lower() == b"bearer ":
            data = data[7:].strip()
        return data.decode("latin-1")

    return read_token


def _token_fault(char: str) -> str:
    """What a character a token may not hold is, in words (never the token itself)."""
    if char in "\r\n":
        return "a line break"
    if char == " ":
        return "a space"
    if char > "\x7f":
        return "a character that is not ASCII"
    return f"a control character (0x{ord(char):02x})"


# --- retry policy ------------------------------------------------------------------------


@attrs.frozen(slots=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter, and a limit.

    The delay before retry ``n`` (1-based) is ``uniform(0, min(max_delay, base_delay *
    2 ** (n - 1)))``: spread out so that many followers do not retry in step. The
    defaults follow the official SDK's patience (60 retries, never more than 10 s apart).
    A poll that succeeds (a 200 response, 304, 409) resets the count.
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
    line of its :class:`~session_fsm.wire.events.HttpSessionEnded` event; an :class:`OSError`
    it raises stops following with :class:`RecordError`. ``on_changes`` is handed the
    changes (``session_fsm.engine.changes``) of each applied response, in order, once the whole
    response is applied (the end's checks with the response that ends the session); a
    response that changed nothing (a redelivery) hands nothing. What it raises stops
    following, after the response it was handed is applied and recorded. ``sleep`` and ``rand``
    drive the backoff. ``http_timeout`` is one request's overall deadline, the long-poll
    wait included (by default ``timeout`` plus 10 s); it also bounds each connect and
    read, so a request is abandoned at most one read past it. ``max_body`` caps a 200
    body and its recorded line (by default the reader's line limit, so that every
    recorded line can be replayed).
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
        max_body: int = DEFAULT_MAX_LINE_BYTES,
        policy: RetryPolicy | None = None,
        record: Callable[[bytes], None] | None = None,
        on_changes: Callable[[tuple[Change, ...]], object] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = _random.random,
        trust_env: bool = True,
    ) -> None:
        if not 0 <= timeout <= 60:
            raise ValueError(f"timeout must be 0..60 seconds, got {timeout}")
        check_session_id(session_id, "session_id")
        if max_body < 1:
            raise ValueError(f"max_body must be positive, got {max_body}")
        if isinstance(token, str):
            raise TypeError("token must be a callable or a path (pathlib.Path), not a str: "
                            "a str could be either the token or its file")
        self.base_url = base_url.rstrip("/")
        self.session_id = session_id
        self.session = session if session is not None else AgentSession(session_id)
        self.timeout = timeout
        self.http_timeout = http_timeout if http_timeout is not None else timeout + 10.0
        self.max_body = max_body
        self.policy = policy or RetryPolicy()
        self.record = record
        self.on_changes = on_changes
        self.sleep = sleep
        self.rand = rand
        self._read_token = token if callable(token) else token_reader(token)
        self._token_origin = "" if callable(token) else f" in {os.fspath(token)}"
        self._sent_token = ""
        self._http = httpx.Client(
            timeout=httpx.Timeout(self.http_timeout),
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
        # session_id passed check_session_id: a plain segment, nothing to escape
        return f"{self.base_url}/agent-sessions/{self.session_id}/get-next-event"

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
        url = self.url
        status, content = self._get(url, fresh_token_retry=True)
        if status == 200:
            return self._apply(self._parse(content, url))
        if status == 304:
            log.debug("304: no events for session %s", self.session_id)
            return None
        if status == 409:
            log.info("409: session %s has ended", self.session_id)
            return self._apply_end(status)
        raise AssertionError(f"unhandled status {status}")  # pragma: no cover - _get filters

    def _get(self, url: str, *, fresh_token_retry: bool) -> tuple[int, bytes]:
        """One request: its status (200, 304 or 409) and body, or the error it means."""
        token = self._token()
        self._sent_token = token
        self.polls += 1
        deadline = time.monotonic() + self.http_timeout
        try:
            with self._http.stream("GET", url, params={"timeout": self.timeout},
                                   headers={"Authorization": f"Bearer {token}"}) as response:
                status = response.status_code
                reason = response.reason_phrase
                limit = self.max_body if status == 200 else self._excerpt_bytes
                content, more = self._read(response, limit, deadline, url)
        except httpx.TimeoutException as error:
            raise _RetryableError(f"timed out ({type(error).__name__}) on {url}") from None
        except httpx.RequestError as error:
            # the message of an httpx error can quote the request: no token in it
            detail = self._shown(f"{type(error).__name__}: {error}")
            raise _RetryableError(f"network error ({detail}) on {url}") from None
        if status == 200:
            if more:
                raise BodyTooLargeError(url, self.max_body, None, self.session_id)
            return status, content
        if status in (304, 409):
            return status, b""
        if status == 401:
            if fresh_token_retry:
                log.info("401 for session %s: reading the token again and retrying once",
                         self.session_id)
                return self._get(url, fresh_token_retry=False)
            raise AuthError(url, self.session_id)
        if status >= 500 or status in _RETRIED_STATUSES:
            raise _RetryableError(f"HTTP {status} {self._shown(reason)} from {url}")
        raise UnexpectedStatusError(status, url, self._shown_body(content), self.session_id)

    def _read(self, response: httpx.Response, limit: int, deadline: float,
              url: str) -> tuple[bytes, bool]:
        """Up to ``limit`` bytes of the body, and whether it holds more; the body must be
        in before ``deadline`` (a body that drips never trips the per-read timeout)."""
        content = bytearray()
        for chunk in response.iter_bytes():
            if time.monotonic() > deadline:
                raise _RetryableError(f"no whole answer within the {self.http_timeout:g} s "
                                      f"request deadline ({len(content)} bytes of the body "
                                      f"in) from {url}")
            content += chunk
            if len(content) > limit:
                return bytes(content[:limit]), True
        return bytes(content), False

    def _shown(self, text: str) -> str:
        """Server (or httpx) text as it may be printed: escaped, the token blanked out."""
        if self._sent_token:
            text = text.replace(self._sent_token, _HIDDEN_TOKEN)
        return printable(text)

    @property
    def _excerpt_bytes(self) -> int:
        """Bytes of a body enough for its excerpt, and for a token echoed in it whole."""
        return _EXCERPT_BYTES + len(self._sent_token)

    def _shown_body(self, content: bytes) -> str:
        """The start of a body as it may be printed."""
        text = content[:self._excerpt_bytes].decode("utf-8", "replace")
        token = self._sent_token
        if token and len(content) >= self._excerpt_bytes:
            # The cut may split an echoed token, and blanking the whole ones before it
            # can bring the piece into view: drop it.
            text = text.replace(token, _HIDDEN_TOKEN)
            piece = next((n for n in range(len(token) - 1, 0, -1)
                          if text.endswith(token[:n])), 0)
            text = text[:len(text) - piece]
        return self._shown(text)

    def _token(self) -> str:
        try:
            token = self._read_token()
        except OSError as error:
            raise TokenError(_os_detail(error), self.session_id) from None
        if not token:
            raise TokenError(f"the token{self._token_origin} is empty", self.session_id)
        if (fault := _NOT_IN_TOKEN.search(token)) is not None:
            raise TokenError(f"the token{self._token_origin} holds {_token_fault(fault[0])}; "
                             "a token is one line of visible ASCII characters",
                             self.session_id)
        return token

    # --- a 200 body ----------------------------------------------------------------------

    def _parse(self, content: bytes, url: str) -> _Body:
        """Read and decode a whole body; nothing is applied here.

        A body that is not a get-next-event response raises :class:`_RetryableError`;
        one naming an unsafe session id, or too large to record, stops following.
        """
        number = self.responses + 1
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError as error:
            raise _RetryableError(f"200 body from {url} is not JSON ({error}): "
                                  f"{self._shown_body(content)}") from None
        session_id = body.get("sessionId") if isinstance(body, dict) else None
        if (not isinstance(body, dict) or not isinstance(body.get("events"), list)
                or not isinstance(session_id, str | None)):
            raise _RetryableError(f'200 body from {url} is not a get-next-event response '
                                  f'{{"sessionId": "...", "events": [...]}}: '
                                  f"{self._shown_body(content)}")
        if session_id and not _plain_segment(session_id):
            raise RotatedSessionIdError(session_id, number, self.session_id)
        line = orjson.dumps(body)
        if len(line) > self.max_body:  # a re-encoded number can be longer than it was
            raise BodyTooLargeError(url, self.max_body, len(line), self.session_id)
        source = Source(RESPONSE_SOURCE, number)
        items: list[Event | InputError] = []
        for obj in body["events"]:
            try:
                items.append(decode(obj))
            except InputError as error:
                items.append(error.located(source))
        return _Body(session_id or None, tuple(items), line)

    def _record(self, line: bytes, number: int) -> None:
        """Hand ``line`` to ``record``; its failure stops following before anything is fed."""
        if self.record is None:
            return
        try:
            self.record(line)
        except (OSError, SessionFsmError) as error:
            detail = _os_detail(error) if isinstance(error, OSError) else str(error)
            raise RecordError(detail, number, self.session_id) from None

    def _apply(self, body: _Body) -> str | None:
        """Record, feed every item in order, adopt the new session id; the end reason if any."""
        with self._critical():
            self._record(body.line, self.responses + 1)
            self.responses += 1
            source = Source(RESPONSE_SOURCE, self.responses)
            batch = ("get-next-event", self.responses)
            session = self.session
            changes: list[Change] = []
            for item in body.items:
                if isinstance(item, InputError):
                    log.warning("unreadable item in response %d of session %s: %s",
                                self.responses, self.session_id, item.detail)
                    changes.extend(session.report_input_error(item, source))
                else:
                    changes.extend(session.feed(item, source=source, batch=batch))
            if body.session_id is not None and body.session_id != self.session_id:
                log.info("session id %s -> %s", self.session_id, body.session_id)
                self.session_id = body.session_id
            # AgentSessionEnd (or a 409 seen before) ends following; a RemoteAgentSessionEnd
            # alone does not: its AgentSessionEnd or the 409 is still to come.
            ended = session.info.saw_end_event
            if ended:
                changes.extend(session.finish())
        self._deliver(changes)
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
            self._record(line, number)
            changes = [*self.session.feed(event, source=Source(RESPONSE_SOURCE, number),
                                          batch=("get-next-event", number)),
                       *self.session.finish()]
        self._deliver(changes)
        return self.session.info.end_reason or "409"

    @contextlib.contextmanager
    def _critical(self) -> Iterator[None]:
        """A stretch that must run whole: :attr:`applying` is True meanwhile."""
        self._applying = True
        try:
            yield
        finally:
            self._applying = False

    def _deliver(self, changes: list[Change]) -> None:
        if changes and self.on_changes is not None:
            self.on_changes(tuple(changes))

    def _result(self, outcome: Literal["ended", "stopped"], reason: str | None) -> FollowResult:
        return FollowResult(outcome, reason, self.session_id, self.responses, self.polls)


def _os_detail(error: OSError) -> str:
    return f"{error.strerror or error} ({error.filename})" if error.filename else str(error)

