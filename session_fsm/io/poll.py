"""The get-next-event poll protocol, sans-IO: every decision of following a session, no I/O.

``follow`` (one session, blocking, :class:`~session_fsm.io.client.SessionFollower`) and
``serve`` (many sessions on asyncio, :mod:`session_fsm.io.service`) both drive one
:class:`PollCore` per session, the way h11's ``Connection`` is driven by sync and async
servers alike: the driver does the I/O (reads the token, sends the request, reads a
bounded body, records a line, sleeps) and the core says what each outcome means. So the
two cannot drift apart on what a 304, a 409 or a rotated session id does.

Theory of operation (``docs/stream-facts.md``, "The poll protocol"). The driver asks
:meth:`PollCore.request` for the next request (URL, query, headers with the token it
read and the core checked), sends it, reads at most :meth:`PollCore.body_limit` bytes of
the body within the request's deadline, and hands the outcome to :meth:`PollCore.answer`
(or a transport failure to :meth:`PollCore.failed`). The answer is one action:

- :class:`Deliver` (a ``200``, or the ``409`` that ends the session): a decoded
  :class:`Body`, not yet applied. The driver records ``body.line`` (if it records), then
  calls :meth:`PollCore.apply`, which feeds every item into the session in order, adopts
  a rotated session id and returns the changes and, if the session ended, its reason.
  A body is decoded whole before anything is applied, so a cut or unreadable body
  changes nothing. A ``409`` has no body: the core makes one holding a single
  :class:`~session_fsm.wire.events.HttpSessionEnded` event, so a recording replays to
  the same end.
- :class:`PollNow`: ask again at once (a ``304``; the first ``401``, after which the
  driver reads the token again).
- :class:`Backoff`: a failure worth retrying (``5xx``, ``408``, ``429``, a timeout or
  network error, a ``200`` body that is not a response): wait ``delay`` seconds (capped
  exponential backoff with full jitter) and ask again. Past ``max_retries`` failures in
  a row the core raises :class:`~session_fsm.errors.GaveUpError` instead.

Everything else raises a :class:`~session_fsm.errors.FollowError` naming the session id
to resume from: a second ``401`` in a row, another status, a body over the limit, a
rotated id that is not one plain path segment. No text from the server reaches a
message unescaped or with the token in it (:meth:`PollCore.shown`).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeAlias
from urllib.parse import urlsplit

import attrs
import httpx
import orjson

from ..engine import AgentSession
from ..engine.changes import Change
from ..errors import (
    EXCERPT_CHARS,
    AuthError,
    BodyTooLargeError,
    GaveUpError,
    InputError,
    NotAnEventError,
    RecordError,
    RotatedSessionIdError,
    SessionFsmError,
    SessionIdError,
    Source,
    TokenError,
    UnexpectedStatusError,
    printable,
)
from ..wire.codec import encode, kind_of
from ..wire.events import Event, HttpSessionEnded

__all__ = [
    "DEFAULT_POLL_TIMEOUT",
    "RESPONSE_SOURCE",
    "Action",
    "Applied",
    "Backoff",
    "Body",
    "Deliver",
    "PollCore",
    "PollNow",
    "RetryPolicy",
    "TokenSource",
    "body_from_line",
    "check_base_url",
    "check_session_id",
    "check_token",
    "os_detail",
    "plain_segment",
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


# --- checks --------------------------------------------------------------------------------


def check_session_id(value: str, where: str) -> str:
    """``value`` if it is one plain path segment, else :class:`SessionIdError` naming ``where``.

    The poll's URL is ``{base}/agent-sessions/{id}/get-next-event``: an id such as
    ``..`` or ``a/b`` would send the poll, and its bearer token, elsewhere.
    """
    if not plain_segment(value):
        raise SessionIdError(value, where)
    return value


def plain_segment(value: str) -> bool:
    """Whether ``value`` can be a session id in the poll's URL (see :func:`check_session_id`)."""
    return _SESSION_ID.fullmatch(value) is not None and value not in (".", "..")


def check_base_url(url: object, example: str = "") -> str | None:
    """What is wrong with an API base URL (it must be http or https, with a host), or
    None. Checked before the first poll: a URL that names no server would otherwise be
    taken for a network error and retried."""
    if not isinstance(url, str):
        return "expected a string"
    try:
        parts = urlsplit(url)
        good = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # "http://[": an IPv6 address left open
        good = False
    if not good:
        return (f"expected an http:// or https:// URL with a host{example}, got "
                f"{printable(url)!r}")
    return None


def token_reader(path: str | os.PathLike[str]) -> Callable[[], str]:
    """A token callable that reads ``path`` on every call (a refresher may rewrite it).

    Surrounding whitespace and a leading ``Bearer`` are ignored, so the file may hold
    the token as an ``Authorization`` value too. Bytes are read one to a character, so
    a byte that is not ASCII reaches the check instead of failing to decode.
    """
    file = Path(path)

    def read_token() -> str:
        data = file.read_bytes().strip()
        if data[:7].lower() == b"bearer ":
            data = data[7:].strip()
        return data.decode("latin-1")

    return read_token


def check_token(token: str, origin: str, session_id: str) -> str:
    """``token`` if it can be sent as a bearer token, else :class:`TokenError`; ``origin``
    says where it came from (`` in PATH`` or empty). The message never holds the token."""
    if not token:
        raise TokenError(f"the token{origin} is empty", session_id)
    if (fault := _NOT_IN_TOKEN.search(token)) is not None:
        raise TokenError(f"the token{origin} holds {_token_fault(fault[0])}; "
                         "a token is one line of visible ASCII characters", session_id)
    return token


def _token_fault(char: str) -> str:
    """What a character a token may not hold is, in words (never the token itself)."""
    if char in "\r\n":
        return "a line break"
    if char == " ":
        return "a space"
    if char > "\x7f":
        return "a character that is not ASCII"
    return f"a control character (0x{ord(char):02x})"


def os_detail(error: OSError) -> str:
    """An OS error as ``reason (file)``, without Python's ``[Errno N]``."""
    return f"{error.strerror or error} ({error.filename})" if error.filename else str(error)


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


# --- actions -------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Body:
    """A whole answer, decoded, not yet applied: a 200 response, or the end a 409 means."""

    session_id: str | None
    """The ``sessionId`` the body names (the id of the next poll), if any."""
    items: tuple[Event | dict[str, Any] | InputError, ...]
    """Events (typed, or wire objects as they came), and what is no event object."""
    line: bytes
    """The JSON Lines line that records this answer."""
    number: int
    """Its response number: the ``line`` of its events' :class:`Source`."""
    ends: bool = False
    """A 409: the session has ended, whatever the items say."""


@attrs.frozen(slots=True)
class Deliver:
    """Record ``body.line`` (if recording), then :meth:`PollCore.apply` the body."""

    body: Body


@attrs.frozen(slots=True)
class PollNow:
    """Poll again at once (a 304, or a first 401: the token is read again)."""

    cause: str


@attrs.frozen(slots=True)
class Backoff:
    """Wait ``delay`` seconds, then poll again; ``cause`` is what failed."""

    delay: float
    cause: str
    attempt: int


Action: TypeAlias = Deliver | PollNow | Backoff


@attrs.frozen(slots=True)
class Applied:
    """What applying a body did: the changes (in order) and the end reason, if it ended."""

    changes: tuple[Change, ...]
    ended: str | None


# --- the core ------------------------------------------------------------------------------


class PollCore:
    """The poll protocol of one session: what to ask next and what each answer means.

    It holds the protocol's state (the session id of the next poll, responses applied,
    polls sent, failures in a row, whether a 401 was just answered) and the session the
    answers are applied to; it does no I/O and reads no clock. ``rand`` is the backoff's
    random source.
    """

    def __init__(self, session_id: str, session: AgentSession, *, timeout: int,
                 max_body: int, policy: RetryPolicy, rand: Callable[[], float],
                 responses: int = 0, log_each_retry: bool = True) -> None:
        if not 0 <= timeout <= 60:
            raise ValueError(f"timeout must be 0..60 seconds, got {timeout}")
        if max_body < 1:
            raise ValueError(f"max_body must be positive, got {max_body}")
        check_session_id(session_id, "session_id")
        self.session_id = session_id
        self.session = session
        self.timeout = timeout
        self.max_body = max_body
        self.policy = policy
        self.rand = rand
        self.responses = responses
        """200 responses applied (a resumed core starts from where it stopped)."""
        self.polls = 0
        """Requests sent, retries included."""
        self.failures = 0
        """Failed polls in a row."""
        self.ended: str | None = None
        """Why the session ended, once an applied body ended it (see :meth:`apply`)."""
        self.log_each_retry = log_each_retry
        """Log every retry as a warning (``follow``); else at debug level, and the driver
        says when a run of failures starts and ends (``serve``, with many sessions)."""
        self._sent_token = ""
        self._after_401 = False

    # --- asking ------------------------------------------------------------------------

    def url(self, base_url: str) -> str:
        """The URL of the next poll under ``base_url`` (no trailing slash)."""
        # session_id passed check_session_id: a plain segment, nothing to escape
        return f"{base_url}/agent-sessions/{self.session_id}/get-next-event"

    def request(self, token: str, origin: str = "") -> tuple[dict[str, int], dict[str, str]]:
        """The next poll's query and headers, with ``token`` (checked: :func:`check_token`);
        counts the poll."""
        self._sent_token = check_token(token, origin, self.session_id)
        self.polls += 1
        return {"timeout": self.timeout}, {"Authorization": f"Bearer {token}"}

    def body_limit(self, status: int) -> int:
        """Bytes of the body to read for ``status``: a 200's whole (up to the limit), the
        start of any other (enough to show it, and a token echoed in it whole)."""
        return self.max_body if status == 200 else self.excerpt_bytes

    @property
    def excerpt_bytes(self) -> int:
        return _EXCERPT_BYTES + len(self._sent_token)

    # --- answers -----------------------------------------------------------------------

    def answer(self, status: int, reason: str, content: bytes, more: bool, url: str) -> Action:
        """What an answer means: ``content`` is the body read (``more``: it held more)."""
        if status == 401:
            if self._after_401:
                raise AuthError(url, self.session_id)
            self._after_401 = True
            log.info("401 for session %s: reading the token again and retrying once",
                     self.session_id)
            return PollNow("401")
        self._after_401 = False
        if status == 200:
            if more:
                raise BodyTooLargeError(url, self.max_body, None, self.session_id)
            try:
                body = self._parse(content, url)
            except _NotAResponseError as retry:
                return self.failed(retry.cause)
            self.failures = 0
            return Deliver(body)
        if status == 304:
            self.failures = 0
            log.debug("304: no events for session %s", self.session_id)
            return PollNow("304")
        if status == 409:
            self.failures = 0
            log.info("409: session %s has ended", self.session_id)
            return Deliver(self._ended(status))
        if status >= 500 or status in _RETRIED_STATUSES:
            return self.failed(f"HTTP {status} {self.shown(reason)} from {url}")
        raise UnexpectedStatusError(status, url, self.shown_body(content), self.session_id)

    def failed(self, cause: str) -> Backoff:
        """A poll failed in a way worth retrying (already shown: no token, escaped); the
        backoff before the next, or :class:`GaveUpError` past the limit."""
        self._after_401 = False
        self.failures += 1
        if self.failures > self.policy.max_retries:
            raise GaveUpError(self.failures, cause, self.session_id)
        pause = self.policy.delay(self.failures, self.rand)
        log.log(logging.WARNING if self.log_each_retry else logging.DEBUG,
                "poll of session %s failed (attempt %d of %d): %s; retrying in %.2f s",
                self.session_id, self.failures, self.policy.max_retries + 1, cause, pause)
        return Backoff(pause, cause, self.failures)

    def transport_failed(self, error: Exception, url: str) -> Backoff:
        """A request that got no answer (a timeout, a network error): retried. ``error``
        is the HTTP client's (httpx's for ``follow``, aiohttp's for ``serve``)."""
        if isinstance(error, httpx.TimeoutException | TimeoutError):
            return self.failed(f"timed out ({type(error).__name__}) on {url}")
        # the message of a client's error can quote the request: no token in it
        return self.failed(f"network error ({self.shown(f'{type(error).__name__}: {error}')}) "
                           f"on {url}")

    def late(self, http_timeout: float, url: str, arrived: int | None = None) -> Backoff:
        """A request whose whole answer was not in within its deadline: retried."""
        part = "" if arrived is None else f" ({arrived} bytes of the body in)"
        return self.failed(f"no whole answer within the {http_timeout:g} s request "
                           f"deadline{part} from {url}")

    def record_failed(self, error: OSError | SessionFsmError, body: Body) -> RecordError:
        """The error that stops following when recording ``body`` failed."""
        detail = os_detail(error) if isinstance(error, OSError) else str(error)
        return RecordError(detail, body.number, self.session_id)

    # --- applying ----------------------------------------------------------------------

    def apply(self, body: Body) -> Applied:
        """Feed every item of ``body`` in order, adopt its session id; the changes, and the
        end reason if the session ended (an ``AgentSessionEnd``, or the 409's end)."""
        session = self.session
        source = Source(RESPONSE_SOURCE, body.number)
        batch = (RESPONSE_SOURCE, body.number)
        changes: list[Change] = []
        if not body.ends:
            self.responses = body.number
        for item in body.items:
            if isinstance(item, InputError):
                log.warning("unreadable item in response %d of session %s: %s",
                            body.number, self.session_id, item.detail)
                changes.extend(session.report_input_error(item, source))
            else:
                changes.extend(session.feed(item, source=source, batch=batch))
        if body.session_id is not None and body.session_id != self.session_id:
            log.info("session id %s -> %s", self.session_id, body.session_id)
            self.session_id = body.session_id
        # AgentSessionEnd (or a 409 seen before) ends following; a RemoteAgentSessionEnd
        # alone does not: its AgentSessionEnd or the 409 is still to come.
        if body.ends or session.info.saw_end_event:
            changes.extend(session.finish())
            self.ended = session.info.end_reason or ("409" if body.ends else "AgentSessionEnd")
            return Applied(tuple(changes), self.ended)
        return Applied(tuple(changes), None)

    # --- bodies ------------------------------------------------------------------------

    def _parse(self, content: bytes, url: str) -> Body:
        """Read and decode a whole 200 body; nothing is applied here."""
        number = self.responses + 1
        try:
            data = orjson.loads(content)
        except orjson.JSONDecodeError as error:
            raise _NotAResponseError(f"200 body from {url} is not JSON ({error}): "
                             f"{self.shown_body(content)}") from None
        session_id = data.get("sessionId") if isinstance(data, dict) else None
        if (not isinstance(data, dict) or not isinstance(data.get("events"), list)
                or not isinstance(session_id, str | None)):
            raise _NotAResponseError(f'200 body from {url} is not a get-next-event response '
                             f'{{"sessionId": "...", "events": [...]}}: '
                             f"{self.shown_body(content)}")
        if session_id and not plain_segment(session_id):
            raise RotatedSessionIdError(session_id, number, self.session_id)
        line = orjson.dumps(data)
        if len(line) > self.max_body:  # a re-encoded number can be longer than it was
            raise BodyTooLargeError(url, self.max_body, len(line), self.session_id)
        return Body(session_id or None, _items(data["events"], number), line, number)

    def _ended(self, status: int) -> Body:
        """The body a bodiless 409 means: one :class:`HttpSessionEnded` event, recorded as a
        response-shaped line. It is no 200 (:attr:`responses` stays) but takes the next
        response number, as it takes the next line of a recording."""
        return _ended_body(status, self.session_id, self.responses + 1)

    # --- what may be shown -------------------------------------------------------------

    def shown(self, text: str) -> str:
        """Server (or HTTP library) text as it may be printed: escaped, the token blanked."""
        if self._sent_token:
            text = text.replace(self._sent_token, _HIDDEN_TOKEN)
        return printable(text)

    def shown_body(self, content: bytes) -> str:
        """The start of a body as it may be printed."""
        text = content[:self.excerpt_bytes].decode("utf-8", "replace")
        token = self._sent_token
        if token and len(content) >= self.excerpt_bytes:
            # The cut may split an echoed token, and blanking the whole ones before it
            # can bring the piece into view: drop it.
            text = text.replace(token, _HIDDEN_TOKEN)
            piece = next((n for n in range(len(token) - 1, 0, -1)
                          if text.endswith(token[:n])), 0)
            text = text[:len(text) - piece]
        return self.shown(text)


def body_from_line(line: bytes, number: int, *, ends: bool = False) -> Body:
    """The :class:`Body` a recorded ``line`` (:attr:`Body.line`) was made from: the same
    items, so applying it again does exactly what applying the answer did (the service's
    journal keeps bodies this way). The line was checked when the answer came."""
    data = orjson.loads(line)
    if ends:
        return _ended_body(409, data["sessionId"], number)
    return Body(data.get("sessionId") or None, _items(data["events"], number), line, number)


def _items(events: list[Any], number: int) -> tuple[dict[str, Any] | InputError, ...]:
    # Objects go to the engine as they came: it reads what it needs of each, leaves out a
    # field of the wrong kind (bad-field) and applies the rest, as every reader of a
    # recording does, so a recording replays to what was followed.
    source = Source(RESPONSE_SOURCE, number)
    return tuple(obj if type(obj) is dict else NotAnEventError(
        f"expected an event object, got {kind_of(obj)}").located(source) for obj in events)


def _ended_body(status: int, session_id: str, number: int) -> Body:
    event = HttpSessionEnded(http_status=status, session_id=session_id)
    line = orjson.dumps({"sessionId": session_id, "events": [encode(event)]})
    return Body(None, (event,), line, number, ends=True)


class _NotAResponseError(Exception):
    """A 200 body that is no response: retried like a 5xx."""

    def __init__(self, cause: str) -> None:
        self.cause = cause
        super().__init__(cause)
