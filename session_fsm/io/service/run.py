"""``session-fsm serve``: one process, one engine, many sessions, an HTTP API.

Theory of operation. :class:`Service` owns the :class:`~.hub.Hub` (the engine, its
journaled inputs and what reads it), one :class:`~.follower.AsyncFollower` task per
configured session, and a uvicorn server for the API (:mod:`.app`), all on one asyncio
loop: no locks, and everything the engine says goes out through the hub in order (the
journal's writes and fsyncs run in a worker thread).

Crashes. With ``--state-dir``, every answer and every push is in the hub's write-ahead
journal before it is applied or acknowledged, so a SIGKILL or a power cut loses nothing
taken: the next start reads the saved state, applies the journal after it and goes on.

Stopping. SIGTERM and SIGINT set the server's exit flag (uvicorn's own signal handling
is turned off, so the service decides what happens): the API stops listening, the event
streams end, every follower stops (a poll still waiting is abandoned, one whose answer
has begun to arrive is taken first: nothing the platform sent is lost, nothing is
applied twice), the hub applies everything taken, and then, with ``--state-dir``, the
state is written atomically and the journal emptied. A session that ended is not polled
again. With ``--db``, each body is stored (``StoreWriter.add_line``, under ``serve/KEY``
and its response number) before it is taken, as ``follow --db`` does.

Who may do what is :mod:`.app`'s: ``POST /api/events`` always needs a token; without
``--api-token-file`` the service makes one (:func:`_push_token`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import logging
import os
import random
import secrets
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import aiohttp
import httpx
import uvicorn

from ...errors import ServiceError
from ..poll import Body, PollCore, RetryPolicy
from .app import DEFAULT_MAX_PUSH_BYTES, create_app
from .config import ServiceConfig
from .follower import AsyncFollower, Proxy, env_proxy, envelope_line
from .hub import (
    DEFAULT_CHECKPOINT_BYTES,
    DEFAULT_HISTORY_WINDOW_S,
    DEFAULT_KEEP_CHANGES,
    STATE_FILE,
    Hub,
)

__all__ = ["PUSH_TOKEN_FILE", "STATE_FILE", "Service", "ServiceError", "allowed_host_names",
           "is_loopback"]

log = logging.getLogger("session_fsm.io.service")


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
                 allowed_hosts: Sequence[str] = (),
                 checkpoint_bytes: int = DEFAULT_CHECKPOINT_BYTES,
                 on_listening: Callable[[str, Path | None], None] | None = None,
                 trust_env: bool = True,
                 publish: Callable[[str, Body], None] | None = None,
                 history_window_s: float = DEFAULT_HISTORY_WINDOW_S) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.db = db
        self.state_dir = state_dir
        self.api_token = api_token
        self.max_push_bytes = max_push_bytes
        self.allowed_hosts = allowed_host_names(host, allowed_hosts)
        self.on_listening = on_listening
        self.trust_env = trust_env
        self.publish = publish
        """``--publish-to``: called with each answer before it is kept and taken."""
        self.hub = Hub(keep_changes=keep_changes, state_dir=state_dir,
                       checkpoint_bytes=checkpoint_bytes, history_window_s=history_window_s)
        self.followers: dict[str, AsyncFollower] = {}
        self._server: _Server | None = None
        self._stopping = False

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
        hub = self.hub
        saved = hub.load()
        poll = self.config.poll
        http_timeout = poll.http_timeout if poll.http_timeout is not None else poll.timeout + 10.0
        for spec in self.config.sessions:
            was = saved.get(spec.key, {})
            core = PollCore(str(was.get("session_id") or spec.session_id),
                            hub.engine.session(spec.key), timeout=poll.timeout,
                            max_body=poll.max_body,
                            policy=RetryPolicy(poll.max_retries, poll.retry_base_delay,
                                                poll.retry_max_delay),
                            rand=random.random, responses=int(was.get("responses") or 0),
                            log_each_retry=False)
            core.ended = str(was["ended"]) if was.get("ended") else None
            hub.cores[spec.key] = core
        try:
            # what was taken after the saved state (a crash, not a clean stop) is applied now
            hub.recover()
            push_token, push_token_file, made_dir = _push_token(self.api_token, self.state_dir)
        except OSError as error:
            raise ServiceError(f"cannot write {error.filename or self.state_dir}: "
                               f"{error.strerror or error}") from None

        writer = _open_writer(self.db) if self.db is not None else None
        if writer is not None:  # what leaves the history window is read from there
            hub.stored_history = writer.store.history
        record = None
        if writer is not None or self.publish is not None:
            publish = self.publish

            def record(key: str, body: Body) -> None:
                if publish is not None:  # published (and acknowledged) first
                    publish(key, body)
                if writer is not None:
                    writer.add_line(f"serve/{key}", body.number, envelope_line(key, body))

        # One aiohttp session for every poll: a poll costs about 0.11 ms of the client's
        # CPU where httpx's async client took 0.8 ms (measured on loopback, 4,000
        # requests over 200 connections), and at 800 answers a second that is the
        # difference between 9% and 66% of the one core the event loop has. Its pool
        # finds a host's free connection in constant time (httpcore's looked at every
        # connection it held, which made one httpx client a session necessary). Proxies
        # from the environment with trust_env, as httpx; the same TLS context as follow.
        # The session itself does not trust the environment: with trust_env, aiohttp
        # looks up the proxy and ~/.netrc again for every request, each in a worker
        # thread (two thread hops, a stat and a netrc parse a poll: 45% of the service's
        # CPU at 10,000 sessions, measured with py-spy), and a ~/.netrc entry for the
        # platform's host would make every poll fail (its basic auth cannot go with our
        # bearer token). The proxy of each base URL is looked up once, here: the
        # environment of a running process does not change. No timeout of aiohttp's
        # own: the follower's asyncio.timeout is each poll's deadline, and a second
        # timer a request is a second push into the loop's heap of 10,000 timers.
        tls = httpx.create_ssl_context(trust_env=self.trust_env)
        connector = aiohttp.TCPConnector(limit=0, ssl=tls)
        client = aiohttp.ClientSession(
            connector=connector, headers={"Accept": "application/json"},
            trust_env=False, timeout=aiohttp.ClientTimeout())
        proxies: dict[str, Proxy] = {}

        intake = asyncio.create_task(hub.run(), name="hub intake")
        freezer = asyncio.create_task(_freeze_long_lived(), name="gc freeze")
        tasks: list[asyncio.Task[None]] = []
        for spec in self.config.sessions:
            core = hub.cores[spec.key]
            proxy = proxies.get(spec.base_url)
            if proxy is None:
                proxy = proxies[spec.base_url] = env_proxy(spec.base_url, self.trust_env)
            follower = AsyncFollower(spec, core, hub, client, http_timeout=http_timeout,
                                     record=record, proxy=proxy)
            self.followers[spec.key] = follower
            if core.ended is not None:
                follower.status, follower.ended = "ended", core.ended
                continue
            tasks.append(asyncio.create_task(follower.run(), name=f"follow {spec.key}"))

        app = create_app(hub, api_token=self.api_token, push_token=push_token,
                         allowed_hosts=self.allowed_hosts,
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
                self.on_listening(f"http://{shown}:{port}", push_token_file)
            if not self._stopping:
                await server.serve(sockets=[listener])
        finally:
            self.stop()
            # polls that only wait are abandoned; an answer arriving is taken first, and
            # its deadline bounds the wait
            for follower in self.followers.values():
                follower.stop()
            _, late = await asyncio.wait(tasks, timeout=http_timeout + 1) if tasks \
                else (set(), set())
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            freezer.cancel()
            # everything taken is applied before the state is saved
            hub.drain()
            await intake
            await client.close()
            try:
                hub.save()
            finally:
                if hub.journal is not None:
                    hub.journal.close()
                if writer is not None:
                    writer.close()
                    writer.store.close()
                if made_dir is not None:
                    shutil.rmtree(made_dir, ignore_errors=True)
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
            "retrying": {f.spec.key: f.failing for f in followers
                         if f.status == "following" and f.failing},
        }


FIRST_FREEZE_S: Final = 5.0
"""When the state the service started with (and its first answers) is set aside."""
FREEZE_EVERY_S: Final = 5.0
"""How often what has lived so long is set aside from the cyclic garbage collector. Every
minute was not enough at 10,000 sessions: a full pass then walked a minute of survivors
(800 answers a second) and took 550 to 610 ms; every 5 s it stays under 40 ms."""


async def _freeze_long_lived() -> None:
    """Keep the collector's full passes short: every :data:`FREEZE_EVERY_S` the objects
    alive then (sessions, histories, the change log: nearly all of the heap, and all of
    it long-lived) move to the permanent generation, so a full pass looks only at what
    came since. Without this, a full pass walks the whole heap, which grows with the
    sessions and their histories (277 to 464 ms at 2,000 to 3,000 sessions, the tail of
    every change's latency). What is garbage already is collected first by the young
    passes; an object frozen that later becomes part of a cycle is not reclaimed, which
    the engine's records, histories and the log do not do."""
    await asyncio.sleep(FIRST_FREEZE_S)
    while True:
        gc.freeze()
        await asyncio.sleep(FREEZE_EVERY_S)


def allowed_host_names(host: str, extra: Sequence[str]) -> list[str]:
    """The ``Host`` header values the API answers (any port): this machine's loopback
    names, the bound address unless it is a wildcard, and ``extra``. A bind to every
    address (``0.0.0.0``, ``::``) with no ``extra`` answers any name (it needs a token)."""
    names = ["127.0.0.1", "localhost", "[::1]"]
    wildcard = host in ("0.0.0.0", "::", "")
    if not wildcard:
        names.append(f"[{host}]" if ":" in host else host)
    names.extend(extra)
    if wildcard and not extra:
        names.append("*")
    return list(dict.fromkeys(name.lower() for name in names))


PUSH_TOKEN_FILE: Final = "push-token"


def _push_token(api_token: str | None,
                state_dir: Path | None) -> tuple[str, Path | None, Path | None]:
    """The token ``POST /api/events`` needs: the API token when there is one; else one of
    this service's own, in ``state_dir/push-token`` (kept across restarts, so pushers go
    on) or in a private temporary directory removed at the stop. The token, its file (None
    for the API token) and the directory to remove."""
    if api_token is not None:
        return api_token, None, None
    made = None
    if state_dir is None:
        made = Path(tempfile.mkdtemp(prefix="session-fsm-"))  # mode 0700
        path = made / PUSH_TOKEN_FILE
    else:
        path = state_dir / PUSH_TOKEN_FILE
        with contextlib.suppress(FileNotFoundError):
            kept = path.read_text("ascii", errors="replace").strip()
            if len(kept) >= 32 and kept.isascii() and kept.isalnum():
                return kept, path, None
    token = secrets.token_hex(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token + "\n")
    return token, path, made


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
