"""One followed session of the service: the asyncio driver of the sans-IO poll core.

:class:`~session_fsm.io.poll.PollCore` decides what every answer means, exactly as for
``follow``; this driver only does the I/O on the service's event loop (the token file,
the request on a shared :class:`httpx.AsyncClient` with its overall deadline and bounded
body, the store, the backoff's sleep) and hands what each applied body changed to the
hub. Applying runs without an ``await`` in it, so nothing can stop it halfway. When the
service stops (the hub closes), a poll still waiting for its answer is abandoned, and
one whose answer has begun to arrive is read, applied and kept first: the platform
would not send those events again.

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

import httpx
import orjson

from ...errors import FollowError, SessionFsmError, TokenError
from ..poll import Backoff, Body, Deliver, PollCore, PollNow, os_detail, token_reader
from .config import SessionSpec
from .hub import Hub

__all__ = ["AsyncFollower", "Recorder"]

log = logging.getLogger("session_fsm.io.service")

Recorder = Callable[[str, Body], None]
"""Keeps an applied body before it is applied (``--db``): called with the session key."""


class AsyncFollower:
    """Follows one configured session until it ends, fails, or the task is cancelled."""

    def __init__(self, spec: SessionSpec, core: PollCore, hub: Hub, client: httpx.AsyncClient,
                 *, http_timeout: float, record: Recorder | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.spec = spec
        self.core = core
        self.hub = hub
        self.client = client
        self.http_timeout = http_timeout
        self.record = record
        self.sleep = sleep
        self._read_token = token_reader(spec.token_file)
        self.status: Literal["following", "ended", "failed", "stopped"] = "following"
        self.error: str | None = None
        """Why following stopped, when it failed (a message with no token in it)."""
        self.ended: str | None = None
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
                    if self._stopping:
                        break
                    await self.sleep(action.delay)
                elif isinstance(action, Deliver):
                    ended = self._deliver(action.body)
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
        core = self.core
        url = core.url(self.spec.base_url)
        try:
            token = self._read_token()
        except OSError as error:
            raise TokenError(os_detail(error), core.session_id) from None
        params, headers = core.request(token, f" in {self.spec.token_file}")
        self.hub.polls.labels(self.spec.key).inc()
        try:
            async with asyncio.timeout(self.http_timeout):
                async with self.client.stream("GET", url, params=params,
                                              headers=headers) as response:
                    self._answering = True  # from here on, stop() lets it finish
                    status = response.status_code
                    content, more = await _read(response, core.body_limit(status))
        except TimeoutError:
            return core.late(self.http_timeout, url)
        except httpx.RequestError as error:
            return core.transport_failed(error, url)
        finally:
            self._answering = False
        return core.answer(status, response.reason_phrase, content, more, url)

    def _deliver(self, body: Body) -> str | None:
        """Keep, apply and publish ``body``; no ``await`` in here (see the module doc)."""
        key = self.spec.key
        if self.record is not None:
            try:
                self.record(key, body)
            except (OSError, SessionFsmError) as error:
                raise self.core.record_failed(error, body) from None
        applied = self.core.apply(body)
        self.hub.events_applied.labels(key).inc(
            sum(1 for item in body.items if not isinstance(item, SessionFsmError)))
        self.hub.publish(applied.changes)
        return applied.ended

    def state(self) -> dict[str, object]:
        """What a restart needs to go on polling: the next session id, responses so far."""
        return {"session_id": self.core.session_id, "responses": self.core.responses,
                "ended": self.ended}


async def _read(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes of the body, and whether it holds more."""
    content = bytearray()
    async for chunk in response.aiter_bytes():
        content += chunk
        if len(content) > limit:
            return bytes(content[:limit]), True
    return bytes(content), False


def envelope_line(key: str, body: Body) -> bytes:
    """``body``'s recorded line as a keyed envelope, so a store files it under ``key``."""
    return orjson.dumps({"session": key, "events": orjson.loads(body.line)["events"]})
