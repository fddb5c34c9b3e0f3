"""The service's HTTP API and wallboard (Starlette), over a :class:`~.hub.Hub`.

Endpoints and shapes are those of the contract (README, "The HTTP API"); the handlers
only read the hub or hand it a pushed body, so everything they answer comes from the
engine's change stream.

Who may do what (the README's threat model). The service listens on loopback unless
told otherwise, and assumes that anything running on this machine, and any web page a
browser on it opens, can send it requests:

- ``Host`` must be one of the service's own names (:class:`TrustedHostMiddleware`), so a
  page of another site whose name was rebound to 127.0.0.1 (DNS rebinding) gets nothing.
- A request that changes state (``POST /api/events``) must carry the push token as
  ``Authorization: Bearer`` (never a cookie: a browser sends a cookie to every port of a
  host, so a page on another port would carry it), must be JSON (a page can send only
  ``text/plain`` and form bodies without asking first, and this service never answers
  CORS questions), and must not come from another origin (``Origin``,
  ``Sec-Fetch-Site``).
- With an API token (required for a bind beyond loopback), every ``/api/`` and
  ``/metrics`` request must carry it, as ``Authorization: Bearer TOKEN`` or as the
  ``session_fsm_token`` cookie the wallboard sets from ``/#token=...`` (an EventSource
  can send no header). Tokens are compared in constant time, never logged or echoed.
- Every answer forbids framing and sniffing and carries the page's Content-Security-Policy.

A pushed body is read up to ``max_push_bytes`` and refused past it (413) before anything
is parsed; a session key from a URL or a query is only ever a dictionary key (it never
shapes a path or a file) and is checked like a config key.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...errors import PushConflictError, PushError, ServiceError, StoreFailedError, printable
from .config import check_key
from .hub import Hub

__all__ = ["DEFAULT_MAX_PUSH_BYTES", "TOKEN_COOKIE", "create_app"]

DEFAULT_MAX_PUSH_BYTES: Final = 16 * 1024 * 1024
"""The largest body ``POST /api/events`` reads."""

TOKEN_COOKIE: Final = "session_fsm_token"
WALLBOARD: Final = Path(__file__).parent / "wallboard"

PUSH_TYPES: Final = ("application/json", "application/x-ndjson", "application/jsonl",
                     "application/x-jsonlines")
"""Content types ``POST /api/events`` takes: JSON, which no page can send without a CORS
preflight that this service never grants."""

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS: Final = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


def _json(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


def create_app(hub: Hub, *, push_token: str, api_token: str | None = None,
               allowed_hosts: Sequence[str] = ("127.0.0.1", "localhost", "[::1]"),
               max_push_bytes: int = DEFAULT_MAX_PUSH_BYTES,
               health: Any = None) -> Starlette:
    """The ASGI app. ``push_token`` guards ``POST /api/events`` (the API token, when there
    is one, guards every data request); ``health`` is a callable giving ``/healthz``'s
    extra keys."""

    async def sessions(request: Request) -> Response:
        keys = request.query_params.getlist("key") or None
        return _json({"sessions": hub.snapshots(keys), "last_change_id": hub.last_id,
                      "oldest_change_id": hub.changes.first_id,
                      "server_time": hub.server_time(), "skew_s": hub.skew_s})

    async def one_session(request: Request) -> Response:
        key = request.path_params["key"]
        found = hub.snapshot(key)
        return _unknown(key) if found is None else _json(found)

    async def history(request: Request) -> Response:
        key = request.path_params["key"]
        try:
            found = hub.history(key)
        except StoreFailedError as error:  # what left memory is there: not a silent gap
            return _error(503, str(error))
        return _unknown(key) if found is None else _json(found)

    async def changes(request: Request) -> Response:
        raw = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
        if not raw.isdigit() or len(raw) > 18:
            return _error(400, "Last-Event-ID (or ?after=) must be a change id, a "
                               f"whole number; got {printable(raw[:40])!r}")

        async def stream() -> Any:
            hub.stream_clients.inc()
            try:
                async for chunk in hub.events_after(int(raw)):
                    yield chunk
            finally:
                hub.stream_clients.dec()

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    async def push(request: Request) -> Response:
        session = request.query_params.get("session")
        if session is not None and (problem := check_key(session)) is not None:
            return _error(400, f"?session=: {problem}")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_push_bytes:
            return _error(413, f"the body is over {max_push_bytes} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_push_bytes:
                return _error(413, f"the body is over {max_push_bytes} bytes")
        if not body.strip():
            return _error(400, "the body is empty: expected events in any input shape "
                               "of the contract")
        merge = request.query_params.get("merge", "") in ("1", "true")
        try:
            pushed = await hub.take_push(bytes(body), session, merge=merge)
        except PushConflictError as error:
            return _error(409, f"nothing applied: {error}")
        except PushError as error:
            return _error(400, f"unreadable input, nothing applied: {error}")
        except ServiceError as error:
            return _error(503, f"nothing applied: {error}")
        except OSError as error:
            return _error(503, "nothing applied: the service cannot write its journal "
                               f"({printable(error.strerror or type(error).__name__)})")
        return _json({"applied": pushed.applied, "violations": pushed.violations})

    async def healthz(request: Request) -> Response:
        extra = health() if health is not None else {}
        return _json({"status": "ok", "sessions": len(hub.engine.sessions),
                      "last_change_id": hub.last_id,
                      "oldest_change_id": hub.changes.first_id, **extra})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(hub.registry), media_type=CONTENT_TYPE_LATEST)

    async def wallboard(request: Request) -> Response:
        return FileResponse(WALLBOARD / "index.html", media_type="text/html",
                            headers={"Cache-Control": "no-store"})

    def _unknown(key: str) -> Response:
        return _error(404, f"no session {printable(key[:200])!r}")

    routes = [
        Route("/", wallboard),
        Mount("/static", StaticFiles(directory=WALLBOARD), name="static"),
        Route("/api/sessions", sessions),
        Route("/api/sessions/{key:path}/history", history),
        Route("/api/sessions/{key:path}", one_session),
        Route("/api/changes", changes),
        Route("/api/events", push, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
    ]
    middleware = [
        Middleware(_SecurityHeaders),
        Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts),
                   www_redirect=False),
        Middleware(_Guard, push_token=push_token, api_token=api_token),
    ]
    return Starlette(routes=routes, middleware=middleware)


class _SecurityHeaders:
    """Every answer: no framing, no sniffing, the page's Content-Security-Policy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers.raw.append((name, value))
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _Guard:
    """Who may do what (see the module doc): a state change needs the push token in a
    header, a JSON body and no other origin; with an API token, data needs it too."""

    def __init__(self, app: ASGIApp, push_token: str, api_token: str | None) -> None:
        self.app = app
        self.push_token = push_token.encode()
        self.api_token = api_token.encode() if api_token is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        if scope["method"] not in ("GET", "HEAD"):
            site = headers.get("sec-fetch-site")
            origin = headers.get("origin")
            if (site is not None and site not in ("same-origin", "none")) or (
                    origin is not None and origin not in (f"http://{headers.get('host')}",
                                                          f"https://{headers.get('host')}")):
                return _error(403, "a request from another origin cannot change this "
                                   "service's state")
            kind = headers.get("content-type", "").partition(";")[0].strip().lower()
            if kind not in PUSH_TYPES:
                return _error(415, "expected a JSON body (Content-Type: "
                                   f"{' or '.join(PUSH_TYPES)})")
            if not _matches(_bearer(headers), self.push_token):
                return _needs_token("pushing events needs the push token (Authorization: "
                                    "Bearer TOKEN; serve names its file at start)")
        elif self.api_token is not None and scope["path"].startswith(("/api/", "/metrics")):
            offered = _bearer(headers)
            if offered is None:
                offered = Request(scope).cookies.get(TOKEN_COOKIE)
            if not _matches(offered, self.api_token):
                return _needs_token("this API needs its token (Authorization: Bearer TOKEN)")
        return None


def _bearer(headers: Headers) -> str | None:
    given = headers.get("authorization")
    if given is None or given[:7].lower() != "bearer ":
        return None
    return given[7:].strip()


def _matches(offered: str | None, token: bytes) -> bool:
    return offered is not None and hmac.compare_digest(offered.encode("utf-8", "replace"),
                                                       token)


def _needs_token(message: str) -> Response:
    return Response(orjson.dumps({"error": message}), 401, media_type="application/json",
                    headers={"WWW-Authenticate": "Bearer"})
