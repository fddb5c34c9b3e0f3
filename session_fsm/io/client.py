"""Following a live agent session: the get-next-event long poll, fed into the engine.

This module is the blocking HTTP driver of the sans-IO poll core
(:class:`~session_fsm.io.poll.PollCore`, which ``serve`` drives on asyncio too): it asks
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
import os
import random as _random
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Literal

import attrs
import httpx

from ..engine import AgentSession, new_session
from ..engine.changes import Change
from ..errors import (
    AuthError,
    BodyTooLargeError,
    FollowError,
    GaveUpError,
    RecordError,
    RotatedSessionIdError,
    SessionFsmError,
    SessionIdError,
    TokenError,
    UnexpectedStatusError,
    printable,
)
from ..wire.reader import DEFAULT_MAX_LINE_BYTES
from .poll import (
    DEFAULT_POLL_TIMEOUT,
    Backoff,
    Body,
    Deliver,
    PollCore,
    PollNow,
    RetryPolicy,
    TokenSource,
    check_session_id,
    os_detail,
    token_reader,
)

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


class _DeadlineError(Exception):
    """The request's overall deadline passed while its body was still arriving."""

    def __init__(self, arrived: int) -> None:
        super().__init__(arrived)
        self.arrived = arrived
        """Bytes of the body in by then."""


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
        if isinstance(token, str):
            raise TypeError("token must be a callable or a path (pathlib.Path), not a str: "
                            "a str could be either the token or its file")
        self.core = PollCore(session_id,
                             session if session is not None else new_session(session_id),
                             timeout=timeout, max_body=max_body,
                             policy=policy or RetryPolicy(), rand=rand)
        self.base_url = base_url.rstrip("/")
        self.http_timeout = http_timeout if http_timeout is not None else timeout + 10.0
        self.record = record
        self.on_changes = on_changes
        self.sleep = sleep
        self._read_token = token if callable(token) else token_reader(token)
        self._token_origin = "" if callable(token) else f" in {os.fspath(token)}"
        self._http = httpx.Client(
            timeout=httpx.Timeout(self.http_timeout),
            headers={"Accept": "application/json"},
            trust_env=trust_env,
        )
        self._stop = threading.Event()
        self._applying = False

    # --- state, as the core holds it ------------------------------------------------------

    @property
    def session(self) -> AgentSession:
        return self.core.session

    @property
    def session_id(self) -> str:
        """The session id the next poll asks for (rotated by responses)."""
        return self.core.session_id

    @property
    def responses(self) -> int:
        return self.core.responses

    @property
    def polls(self) -> int:
        return self.core.polls

    @property
    def timeout(self) -> int:
        return self.core.timeout

    @property
    def max_body(self) -> int:
        return self.core.max_body

    @property
    def policy(self) -> RetryPolicy:
        return self.core.policy

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
        return self.core.url(self.base_url)

    # --- the loop ----------------------------------------------------------------------

    def run(self) -> FollowResult:
        """Poll until the session ends or a stop is requested; raises :class:`FollowError`."""
        while True:
            if self._stop.is_set():
                return self._result("stopped", None)
            action = self._poll()
            if isinstance(action, Backoff):
                self.sleep(action.delay)
            elif isinstance(action, Deliver):
                ended = self._deliver(action.body)
                if ended is not None:
                    return self._result("ended", ended)

    def _poll(self) -> Deliver | PollNow | Backoff:
        """One request, and what the core makes of its answer."""
        core = self.core
        url = self.url
        try:
            token = self._read_token()
        except OSError as error:
            raise TokenError(os_detail(error), core.session_id) from None
        params, headers = core.request(token, self._token_origin)
        deadline = time.monotonic() + self.http_timeout
        try:
            with self._http.stream("GET", url, params=params, headers=headers) as response:
                status = response.status_code
                content, more = self._read(response, core.body_limit(status), deadline)
                return core.answer(status, response.reason_phrase, content, more, url)
        except _DeadlineError as late:
            return core.late(self.http_timeout, url, late.arrived)
        except httpx.RequestError as error:
            return core.transport_failed(error, url)

    @staticmethod
    def _read(response: httpx.Response, limit: int, deadline: float) -> tuple[bytes, bool]:
        """Up to ``limit`` bytes of the body, and whether it holds more; the body must be
        in before ``deadline`` (a body that drips never trips the per-read timeout)."""
        content = bytearray()
        for chunk in response.iter_bytes():
            if time.monotonic() > deadline:
                raise _DeadlineError(len(content))
            content += chunk
            if len(content) > limit:
                return bytes(content[:limit]), True
        return bytes(content), False

    def _deliver(self, body: Body) -> str | None:
        """Record, then apply ``body``; hand its changes on; the end reason if it ended."""
        with self._critical():
            if self.record is not None:
                try:
                    self.record(body.line)
                except (OSError, SessionFsmError) as error:
                    raise self.core.record_failed(error, body) from None
            applied = self.core.apply(body)
        if applied.changes and self.on_changes is not None:
            self.on_changes(applied.changes)
        return applied.ended

    @contextlib.contextmanager
    def _critical(self) -> Iterator[None]:
        """A stretch that must run whole: :attr:`applying` is True meanwhile."""
        self._applying = True
        try:
            yield
        finally:
            self._applying = False

    def _result(self, outcome: Literal["ended", "stopped"], reason: str | None) -> FollowResult:
        return FollowResult(outcome, reason, self.session_id, self.responses, self.polls)
