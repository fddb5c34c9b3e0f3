"""``session-fsm follow``: long-poll a live session and show its state as it changes.

The poll protocol, retries and feeding live in :mod:`session_fsm.io.client`; this module
is the terminal around it: the display (rich.live on a terminal, one JSON snapshot per
change with ``--json``), the ``--record`` file, logging to standard error and Ctrl-C.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Final

import click
import orjson
from rich.live import Live
from rich.text import Text

from ..engine import AgentSession
from ..engine.snapshot import to_json
from ..errors import SessionFsmError
from ..io.client import (
    DEFAULT_POLL_TIMEOUT,
    FollowError,
    RetryPolicy,
    SessionFollower,
    check_session_id,
)
from ..wire.reader import DEFAULT_MAX_LINE_BYTES, ReadError
from ._common import EXIT_INPUT, EXIT_INTERRUPTED, JSON, Failure, state, stdout
from .render import snapshot_view

if TYPE_CHECKING:
    from ..io.store import Store

EXAMPLES = """\b
Examples:
  session-fsm follow --session-id "$SESSION_ID" --token-file ~/.cxone/token \\
      --base-url "https://api-$AREA.$DOMAIN/incontactapi/services/v30.0"
  session-fsm follow ... --json | jq -c '.agent_state.state'
  session-fsm follow ... --record today.jsonl && session-fsm snapshot today.jsonl
"""

_LOGGER = "session_fsm.io.client"
INGEST_EVERY_S: Final = 5.0


class _StderrHandler(logging.Handler):
    """Log lines on standard error, looked up at each line (rich.live redirects it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(f"session-fsm: {self.format(record)}", err=True)
        except Exception:  # pragma: no cover - logging must never break the poll loop
            self.handleError(record)


@click.command("follow", epilog=EXAMPLES)
@click.option("--base-url", required=True, metavar="URL",
              help="The API base, https://api-{area}.{domain}/incontactapi/services/v{N}.")
@click.option("--session-id", required=True, metavar="ID",
              help="The agent session id from the start-session API (or where to resume).")
@click.option("--token-file", required=True, metavar="PATH",
              type=click.Path(dir_okay=False, path_type=Path),
              help="File holding the bearer token; read for every request, so it may be "
                   "refreshed while following.")
@JSON
@click.option("--record", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
              help="Append every 200 response, and the 409 that ends the session, as "
                   "JSON Lines (replayable with session-fsm snapshot FILE).")
@click.option("--db", metavar="PATH", type=click.Path(dir_okay=False, path_type=Path),
              help="Also keep events and histories in the store at PATH (created if "
                   "missing): it ingests the --record file as it grows, every "
                   f"{INGEST_EVERY_S:g} s and when follow stops. Needs --record.")
@click.option("--timeout", "poll_timeout", type=click.IntRange(0, 60),
              default=DEFAULT_POLL_TIMEOUT, show_default=True, metavar="N",
              help="Seconds the server holds a poll open when there are no events (0..60).")
@click.option("--max-retries", type=click.IntRange(min=0), default=RetryPolicy().max_retries,
              show_default=True, metavar="N",
              help="Failed polls (5xx, timeouts, network errors, 200 bodies that are not a "
                   "response) retried in a row before giving up.")
@click.option("--http-timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="S",
              help="Seconds one request may take in all, the long-poll wait included "
                   "(default: --timeout + 10); a request past it is abandoned and retried.")
@click.option("--max-body", type=click.IntRange(1, DEFAULT_MAX_LINE_BYTES),
              default=DEFAULT_MAX_LINE_BYTES, show_default=True, metavar="BYTES",
              help="Largest 200 body (and recorded line) accepted; a larger one stops follow "
                   "unapplied. The default is the longest line a recording can be read with.")
def command(base_url: str, session_id: str, token_file: Path, as_json: bool,
            record: Path | None, db: Path | None, poll_timeout: int, max_retries: int,
            http_timeout: float | None, max_body: int) -> None:
    """Long-poll a live agent session's get-next-event and show its state as it changes.

    Exits 0 when the session ends (409 or AgentSessionEnd). Failed polls are retried
    with capped exponential backoff and jitter, each retry logged on standard error;
    past --max-retries it exits 2 naming the session id to resume from, as every other
    stop does. Ctrl-C stops cleanly (exit 130) and prints the session id to resume from.
    """
    if db is not None and record is None:
        raise Failure("--db needs --record FILE: the store ingests the recording", EXIT_INPUT)
    check_session_id(session_id, "--session-id")
    display: _JsonLines | _Screen = _JsonLines() if as_json else _Screen()
    recorder = _Recorder(record, _open_store(db) if db is not None else None) \
        if record is not None else None
    handler = _StderrHandler(logging.DEBUG if state.debug else logging.WARNING)
    logger = logging.getLogger(_LOGGER)
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > handler.level:
        logger.setLevel(handler.level)
    session = AgentSession(session_id)
    follower = SessionFollower(
        base_url, session_id, token_file,
        session=session,
        timeout=poll_timeout,
        http_timeout=http_timeout,
        max_body=max_body,
        policy=RetryPolicy(max_retries=max_retries),
        record=recorder,
        # a response that changed something: show the session as it now is
        on_changes=lambda changes: display.changed(session),
    )

    def interrupt(signum: int, frame: FrameType | None) -> None:
        follower.request_stop()
        if not follower.applying:  # a response being applied finishes first
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        with follower, display.running(base_url, session_id):
            result = follower.run()
    except KeyboardInterrupt:
        result = None
    except FollowError as error:
        raise Failure(str(error), EXIT_INPUT) from None
    finally:
        signal.signal(signal.SIGINT, previous)
        logger.removeHandler(handler)
        if recorder is not None:
            try:
                recorder.close()
            except SessionFsmError as error:  # the last ingest into --db failed
                raise _stopped_by(error, follower) from None
    if result is None or result.outcome == "stopped":
        raise Failure(f"interrupted; resume with --session-id {follower.session_id}",
                      EXIT_INTERRUPTED)
    if not as_json:
        click.echo(f"session-fsm: session ended ({result.reason}) after {result.responses} "
                   f"response(s); last session id {result.session_id}", err=True)


def _open_store(path: Path) -> Store:
    """The store at ``path``; if the store module is missing, say so rather than pretend."""
    if importlib.util.find_spec("session_fsm.io.store") is None:  # pragma: no cover
        raise Failure("--db is not available: this install has no store "
                      "(session_fsm.io.store); use --record FILE", EXIT_INPUT)
    from ..io.store import Store

    return Store(path)


class _Recorder:
    """``--record``: a line per 200 response and one for the ending 409; ``--db`` ingests it.

    The file holds whole lines only: each line goes to the kernel in one ``write`` (a
    crash of follow cannot lose a response already applied), and a write that fails
    (a full disk, a file size limit) is cut back to the lines before it, then raises.

    The store reads files, and ingesting the same file again adds only its new lines, so
    the recording is ingested every :data:`INGEST_EVERY_S` seconds (not per response: each
    ingest reads the file) and when follow stops, however it stops. A due ingest runs
    before the next line is written, so a failing store stops follow with the recording
    holding only what was applied.
    """

    def __init__(self, path: Path, store: Store | None) -> None:
        self.path = path
        self.store = store
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        self._pending = False
        self._last = time.monotonic()

    def __call__(self, line: bytes) -> None:
        if self.store is not None and time.monotonic() - self._last >= INGEST_EVERY_S:
            self.ingest()
        whole = os.fstat(self.fd).st_size
        rest = memoryview(line + b"\n")
        try:
            while rest:  # only a write cut short by a full disk loops: the next one says why
                rest = rest[os.write(self.fd, rest):]
        except OSError as error:
            os.ftruncate(self.fd, whole)
            raise OSError(error.errno, error.strerror, str(self.path)) from None
        self._pending = self.store is not None

    def ingest(self) -> None:
        if self.store is None or not self._pending:
            return
        # an event the codec could not decode is on its line; the follower reported it already
        self.store.ingest([str(self.path)], skip_bad=True, on_skipped=_skipped)
        self._pending = False
        self._last = time.monotonic()

    def close(self) -> None:
        try:
            self.ingest()
        finally:
            os.close(self.fd)
            if self.store is not None:
                self.store.close()


def _skipped(item: ReadError) -> None:
    logging.getLogger(_LOGGER).warning("not stored: %s", item.error)


def _stopped_by(error: SessionFsmError, follower: SessionFollower) -> Failure:
    """A stop that did not come from the follower: still one line naming the id to resume
    from (the recording holds what was applied; the store catches up on the next run)."""
    return Failure(f"{error}; resume with --session-id {follower.session_id}", EXIT_INPUT)


# --- displays ------------------------------------------------------------------------------


class _JsonLines:
    """One JSON line per response that changed the session: a full snapshot entry, as in
    ``snapshot --json``; the last one is the final state."""

    def changed(self, session: AgentSession) -> None:
        sys.stdout.buffer.write(orjson.dumps(to_json(session.snapshot())) + b"\n")
        sys.stdout.flush()

    def running(self, base_url: str, session_id: str) -> AbstractContextManager[None]:
        return nullcontext()


class _Screen:
    """The snapshot for people: updated in place on a terminal, printed per change when piped."""

    def __init__(self) -> None:
        self.console = stdout()
        self.live: Live | None = None

    def running(self, base_url: str, session_id: str) -> Any:
        waiting = Text(f"following session {session_id} at {base_url} (Ctrl-C stops)")
        if not self.console.is_terminal:
            click.echo(f"session-fsm: {waiting}", err=True)
            return nullcontext()
        self.live = Live(waiting, console=self.console, refresh_per_second=4)
        return self.live

    def changed(self, session: AgentSession) -> None:
        view = snapshot_view(session.snapshot())
        if self.live is not None:
            self.live.update(view)
        else:
            self.console.print(view)
