"""One followed session of the service: the asyncio driver of the sans-IO poll core.

:class:`~session_fsm.io.poll.PollCore` decides what every answer means, exactly as for
``follow``; this driver only does the I/O on the service's event loop (the token file,
the request on the service's one :class:`aiohttp.ClientSession` with its overall
deadline and bounded body, the store, the backoff's sleep) and hands each whole answer
to the hub, which journals it and applies it in the service's one order
(:meth:`.hub.Hub.take_answer`).
When the service stops, a poll still waiting for its answer is abandoned, and one whose
answer has begun to arrive is read, taken and applied first: the platform would not
send those events again. The poll core holds the session's poll position (next session
id, responses applied, whether it ended), which the hub saves with the engine.

A run of failed polls is logged when it starts and when it ends, with its count (a
service follows hundreds of sessions: a line per attempt would drown the log); each
attempt is logged at debug level, and ``/healthz`` lists the sessions retrying.

A :class:`~session_fsm.errors.FollowError` (a second 401, a status that makes no sense,
a body over the limit, too many failures in a row) stops this session only: it is
logged, kept in :attr:`AsyncFollower.error` for ``/healthz`` and the wallboard, and the
other sessions go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Literal

import aiohttp
import orjson
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from ...errors import FollowError, SessionFsmError, TokenError
from ..poll import Backoff, Body, Deliver, PollCore, PollNow, os_detail, token_reader
from .config import SessionSpec
from .hub import Hub

__all__ = ["AsyncFollower", "Proxy", "Recorder", "env_proxy"]

log = logging.getLogger("session_fsm.io.service")

Proxy = tuple[URL | None, aiohttp.BasicAuth | None]
"""The proxy a session's polls go through (None: straight), and its credentials."""

Recorder = Callable[[str, Body], None]
"""Keeps an applied body before it is applied (``--db``): called with the session key."""


class AsyncFollower:
    """Follows one configured session until it ends, fails, or the task is cancelled."""

    def __init__(self, spec: SessionSpec, core: PollCore, hub: Hub, client: aiohttp.ClientSession,
                 *, http_timeout: float, record: Recorder | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 proxy: Proxy = (None, None)) -> None:
        self.spec = spec
        self.proxy, self.proxy_auth = proxy
        self.core = core
        self.hub = hub
        self.client = client
        self.http_timeout = http_timeout
        self.record = record
        self.sleep = sleep
        self._read_token = token_reader(spec.token_file)
        self._target: tuple[str, dict[str, int], URL] | None = None
        """The last poll's URL, query, and the two as one parsed URL."""
        self._polls = hub.polls.labels(spec.key)
        """This session's poll counter, looked up once (``labels()`` is a lock and a
        tuple: too dear for every poll)."""
        self.status: Literal["following", "ended", "failed", "stopped"] = "following"
        self.error: str | None = None
        """Why following stopped, when it failed (a message with no token in it)."""
        self.ended: str | None = None
        self.failing = 0
        """Failed polls in a row: a session retrying shows on ``/healthz`` with this."""
        self._answering = False
        """The current request's answer has begun to arrive: it is read to its end."""
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Follow until the session ends, following fails, or :meth:`stop`."""
        key = self.spec.key
        self._task = asyncio.current_task()
        try:
            while not self._stopping:
                action = await self._poll()
                if isinstance(action, Backoff):
                    self.hub.retries.labels(key).inc()
                    self.failing = action.attempt
                    if action.attempt == 1:  # one line when failures start, not one each
                        log.warning("polls of session %s are failing (%s); retrying with "
                                    "backoff", key, action.cause)
                    if self._stopping:
                        break
                    await self.sleep(action.delay)
                    continue
                if self.failing:
                    log.info("session %s polls again after %d failed polls", key,
                             self.failing)
                    self.failing = 0
                if isinstance(action, Deliver):
                    try:
                        ended = await self._deliver(action.body)
                    finally:
                        self._answering = False
                    if ended is not None:
                        self.status, self.ended = "ended", ended
                        log.info("session %s ended (%s)", key, ended)
                        return
            self.status = "stopped"
        except FollowError as error:
            self.status, self.error = "failed", str(error)
            log.error("following session %s stopped: %s", key, error)
        except asyncio.CancelledError:
            self.status = "stopped"
            raise

    def stop(self) -> None:
        """Stop following. A poll still waiting (a long poll with nothing to say) or a
        backoff is abandoned at once; a request whose answer has begun to arrive is read
        to its end (within its deadline), applied and kept first, since the platform
        would not send its events again."""
        self._stopping = True
        if not self._answering and self._task is not None:
            self._task.cancel()

    async def _poll(self) -> Deliver | PollNow | Backoff:
        """One request and what its answer means. When that is a :class:`Deliver`, the
        answer stays marked as arriving (``_answering``) until it is applied."""
        core = self.core
        url = core.url(self.spec.base_url)
        try:
            token = self._read_token()
        except OSError as error:
            raise TokenError(os_detail(error), core.session_id) from None
        params, headers = core.request(token, f" in {self.spec.token_file}")
        self._polls.inc()
        target = self._target
        if target is None or target[0] != url or target[1] != params:
            # parsed and given its query once, not at every poll (yarl's parse and
            # query building were 5% of the service's CPU): it changes only when the
            # session id rotates
            target = self._target = (url, params, URL(url).extend_query(params))
        action: Deliver | PollNow | Backoff | None = None
        try:
            async with asyncio.timeout(self.http_timeout):
                async with self.client.get(target[2], headers=headers,
                                           allow_redirects=False, proxy=self.proxy,
                                           proxy_auth=self.proxy_auth) as response:
                    self._answering = True  # from here on, stop() lets it finish
                    status = response.status
                    content, more = await _read(response, core.body_limit(status))
        except TimeoutError:
            action = core.late(self.http_timeout, url)
        except aiohttp.ClientError as error:
            action = core.transport_failed(error, url)
        else:
            action = core.answer(status, response.reason or "", content, more, url)
        finally:
            if not isinstance(action, Deliver):
                self._answering = False
        return action

    async def _deliver(self, body: Body) -> str | None:
        """Keep ``body`` (``--db``), then have the hub journal and apply it; the end
        reason if it ended the session."""
        if self.record is not None:
            try:
                self.record(self.spec.key, body)
            except (OSError, SessionFsmError) as error:
                raise self.core.record_failed(error, body) from None
        try:
            applied = await self.hub.take_answer(self.spec.key, body)
        except OSError as error:  # the journal cannot be written: the answer is not taken
            raise self.core.record_failed(error, body) from None
        return applied.ended

def env_proxy(base_url: str, trust_env: bool) -> Proxy:
    """The proxy the environment names for ``base_url`` (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``NO_PROXY``, its credentials from ``~/.netrc``), as aiohttp's ``trust_env`` would
    find it: none without ``trust_env``. Blocking (it may read ``~/.netrc``): call it once
    per base URL, not per poll."""
    if trust_env:
        try:
            return get_env_proxy_for_url(URL(base_url))
        except LookupError:  # none named for it, or NO_PROXY names its host
            pass
    return None, None


async def _read(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes of the (decoded) body, and whether it holds more."""
    content = bytearray()
    async for chunk in response.content.iter_any():
        content += chunk
        if len(content) > limit:
            return bytes(content[:limit]), True
    return bytes(content), False


def envelope_line(key: str, body: Body) -> bytes:
    """``body``'s recorded line as a keyed envelope, so a store files it under ``key``."""
    return orjson.dumps({"session": key, "events": orjson.loads(body.line)["events"]})
