"""The service's HTTP API and wallboard (Starlette), over a :class:`~.hub.Hub`.

Endpoints and shapes are those of ``docs/contract.md`` ("serve: the HTTP API"); the
handlers only read the hub or hand it a pushed body, so everything they answer comes
from the engine's change stream.

Hostile peers. A pushed body is read up to ``max_push_bytes`` and refused past it
(413) before anything is parsed; a session key from a URL or a query is only ever a
dictionary key (it never shapes a path or a file) and is checked like a config key.
With an API token (required for a bind beyond loopback), every ``/api/`` and
``/metrics`` request must carry it, as ``Authorization: Bearer TOKEN`` or as the
``session_fsm_token`` cookie the wallboard sets from ``/#token=...`` (an EventSource can
send no header); it is compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any, Final

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ...errors import PushError, printable
from .config import check_key
from .hub import Hub

__all__ = ["DEFAULT_MAX_PUSH_BYTES", "TOKEN_COOKIE", "create_app"]

DEFAULT_MAX_PUSH_BYTES: Final = 16 * 1024 * 1024
"""The largest body ``POST /api/events`` reads."""

TOKEN_COOKIE: Final = "session_fsm_token"
WALLBOARD: Final = Path(__file__).parent / "wallboard"


def _json(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


def create_app(hub: Hub, *, api_token: str | None = None,
               max_push_bytes: int = DEFAULT_MAX_PUSH_BYTES,
               health: Any = None) -> Starlette:
    """The ASGI app. ``health`` is a callable giving ``/healthz``'s extra keys."""

    async def sessions(request: Request) -> Response:
        keys = request.query_params.getlist("key") or None
        return _json({"sessions": hub.snapshots(keys), "last_change_id": hub.last_id,
                      "server_time": hub.server_time(), "skew_s": hub.skew_s})

    async def one_session(request: Request) -> Response:
        key = request.path_params["key"]
        found = hub.snapshot(key)
        return _unknown(key) if found is None else _json(found)

    async def history(request: Request) -> Response:
        key = request.path_params["key"]
        found = hub.history(key)
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
        try:
            pushed = hub.push(bytes(body), session)
        except PushError as error:
            return _error(400, f"unreadable input, nothing applied: {error}")
        return _json({"applied": pushed.applied, "violations": pushed.violations})

    async def healthz(request: Request) -> Response:
        extra = health() if health is not None else {}
        return _json({"status": "ok", "sessions": len(hub.engine.sessions),
                      "last_change_id": hub.last_id, **extra})

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
    middleware = [Middleware(_TokenCheck, token=api_token)] if api_token else []
    return Starlette(routes=routes, middleware=middleware)


class _TokenCheck(BaseHTTPMiddleware):
    """The API token on every request for data (the page and its files are public)."""

    def __init__(self, app: Any, token: str) -> None:
        super().__init__(app)
        self.token = token.encode()

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.url.path
        if path.startswith(("/api/", "/metrics")):
            given = request.headers.get("authorization", "")
            offered = given[7:].strip() if given[:7].lower() == "bearer " else \
                request.cookies.get(TOKEN_COOKIE, "")
            if not hmac.compare_digest(offered.encode("utf-8", "replace"), self.token):
                return JSONResponse({"error": "this API needs its token (Authorization: "
                                              "Bearer TOKEN)"}, 401,
                                    headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)
