"""``session-fsm serve``: one process, one engine, many sessions, an HTTP API.

Theory of operation. :class:`Service` owns the :class:`~.hub.Hub` (the engine and what
reads it), one :class:`~.follower.AsyncFollower` task per configured session, and a
uvicorn server for the API (:mod:`.app`), all on one asyncio loop: no threads, no locks,
and everything the engine says goes out through the hub in order.

Stopping. SIGTERM and SIGINT set the server's exit flag (uvicorn's own signal handling
is turned off, so the service decides what happens): the API stops listening, the event
streams end, every follower stops (a poll still waiting is abandoned, one whose answer
has begun to arrive is applied first: nothing the platform sent is lost, nothing is
applied twice), and then, with ``--state-dir``, the state is written atomically: the engine,
the histories, the change log, and each session's next session id and response count.
The next start reads it and goes on from there; a session that ended is not polled
again. With ``--db``, each body is stored (``StoreWriter.add_line``, under
``serve/KEY`` and its response number) before it is applied, as ``follow --db`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import httpx
import uvicorn

from ...errors import CheckpointLoadError, ServiceError
from ..checkpoint import write_atomic
from ..poll import Body, PollCore, RetryPolicy
from .app import DEFAULT_MAX_PUSH_BYTES, create_app
from .config import ServiceConfig
from .follower import AsyncFollower, envelope_line
from .hub import DEFAULT_KEEP_CHANGES, Hub

__all__ = ["STATE_FILE", "Service", "ServiceError", "is_loopback"]

log = logging.getLogger("session_fsm.io.service")

STATE_FILE: Final = "service-state.json"


def is_loopback(host: str) -> bool:
    """Whether ``host`` binds to this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service handles SIGTERM itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


class Service:
    """The running service (see the module doc)."""

    def __init__(self, config: ServiceConfig, *, host: str = "127.0.0.1", port: int = 8000,
                 db: Path | None = None, state_dir: Path | None = None,
                 api_token: str | None = None, keep_changes: int = DEFAULT_KEEP_CHANGES,
                 max_push_bytes: int = DEFAULT_MAX_PUSH_BYTES,
                 on_listening: Callable[[str], None] | None = None,
                 trust_env: bool = True) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.db = db
        self.state_dir = state_dir
        self.api_token = api_token
        self.max_push_bytes = max_push_bytes
        self.on_listening = on_listening
        self.trust_env = trust_env
        self.hub = Hub(keep_changes=keep_changes)
        self.followers: dict[str, AsyncFollower] = {}
        self._server: _Server | None = None
        self._stopping = False

    # --- state -----------------------------------------------------------------------------

    @property
    def state_file(self) -> Path | None:
        return None if self.state_dir is None else self.state_dir / STATE_FILE

    def _restore(self) -> dict[str, Any]:
        path = self.state_file
        if path is None or not path.exists():
            return {}
        try:
            extra = self.hub.restore(path.read_bytes())
        except OSError as error:
            raise ServiceError(f"cannot read {path}: {error.strerror or error}") from None
        except CheckpointLoadError as error:
            raise ServiceError(f"{path}: {error}") from None
        polls = extra.get("polls", {})
        if not isinstance(polls, dict):
            raise ServiceError(f"{path}: position.extra.polls: expected an object")
        return polls

    def save(self) -> None:
        """Write the state to ``--state-dir`` atomically (nothing without one)."""
        path = self.state_file
        if path is None:
            return
        polls = {key: follower.state() for key, follower in self.followers.items()}
        write_atomic(path, self.hub.state({"polls": polls}))
        log.info("state saved to %s (%d sessions)", path, len(self.hub.engine.sessions))

    # --- running ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop serving and polling (safe to call more than once, and from a signal)."""
        self._stopping = True
        self.hub.closing.set()
        if self._server is not None:
            self._server.should_exit = True

    async def run(self) -> None:
        """Serve until :meth:`stop` (or SIGTERM/SIGINT); then save the state."""
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        saved = self._restore()
        writer = _open_writer(self.db) if self.db is not None else None
        record = None
        if writer is not None:
            def record(key: str, body: Body) -> None:
                writer.add_line(f"serve/{key}", body.number, envelope_line(key, body))

        poll = self.config.poll
        http_timeout = poll.http_timeout if poll.http_timeout is not None else poll.timeout + 10.0
        # One client (one connection pool) per session: httpcore's pool looks at every
        # connection it holds to place each request, so one pool for 1,000 long polls
        # made every poll cost O(sessions) (measured: ~100 events/s at 1,000 sessions,
        # the service's CPU all in the pool). The TLS context is built once and shared.
        tls = httpx.create_ssl_context(trust_env=self.trust_env)
        clients: list[httpx.AsyncClient] = []

        def client() -> httpx.AsyncClient:
            made = httpx.AsyncClient(timeout=httpx.Timeout(http_timeout),
                                     headers={"Accept": "application/json"},
                                     limits=httpx.Limits(max_connections=1,
                                                         max_keepalive_connections=1),
                                     verify=tls, trust_env=self.trust_env)
            clients.append(made)
            return made

        tasks: list[asyncio.Task[None]] = []
        for spec in self.config.sessions:
            was = saved.get(spec.key, {})
            core = PollCore(str(was.get("session_id") or spec.session_id),
                            self.hub.engine.session(spec.key), timeout=poll.timeout,
                            max_body=poll.max_body,
                            policy=RetryPolicy(poll.max_retries, poll.retry_base_delay,
                                                poll.retry_max_delay),
                            rand=random.random, responses=int(was.get("responses") or 0))
            follower = AsyncFollower(spec, core, self.hub, client(), http_timeout=http_timeout,
                                     record=record)
            self.followers[spec.key] = follower
            if was.get("ended"):
                follower.status, follower.ended = "ended", str(was["ended"])
                continue
            tasks.append(asyncio.create_task(follower.run(), name=f"follow {spec.key}"))

        app = create_app(self.hub, api_token=self.api_token,
                         max_push_bytes=self.max_push_bytes, health=self._health)
        listener = _listen(self.host, self.port)
        config = uvicorn.Config(app, log_level="warning", lifespan="off",
                                timeout_graceful_shutdown=2, access_log=False)
        self._server = server = _Server(config)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self.stop)
        try:
            if self.on_listening is not None:
                host, port = listener.getsockname()[:2]
                shown = f"[{host}]" if ":" in host else host
                self.on_listening(f"http://{shown}:{port}")
            if not self._stopping:
                await server.serve(sockets=[listener])
        finally:
            self.stop()
            # polls that only wait are abandoned; an answer arriving is applied first,
            # and its deadline bounds the wait
            for follower in self.followers.values():
                follower.stop()
            _, late = await asyncio.wait(tasks, timeout=http_timeout + 1) if tasks \
                else (set(), set())
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for made in clients:
                await made.aclose()
            try:
                self.save()
            finally:
                if writer is not None:
                    writer.close()
                    writer.store.close()
                for signum in (signal.SIGTERM, signal.SIGINT):
                    with contextlib.suppress(NotImplementedError, RuntimeError):
                        loop.remove_signal_handler(signum)
                listener.close()

    def _health(self) -> dict[str, Any]:
        followers = self.followers.values()
        return {
            "following": sum(1 for f in followers if f.status == "following"),
            "ended": sum(1 for f in followers if f.status == "ended"),
            "failed": {f.spec.key: f.error for f in followers if f.status == "failed"},
        }


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free one); a clear error if it cannot be had."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        listener = socket.socket(family, kind, proto)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(1024)
    except OSError as error:
        raise ServiceError(f"cannot listen on {host}:{port}: "
                           f"{error.strerror or error}") from None
    listener.setblocking(False)
    return listener


def _open_writer(path: Path) -> Any:
    from ..store import Store

    store = Store(path, on_warning=lambda message: log.warning("%s", message))
    return store.writer()
