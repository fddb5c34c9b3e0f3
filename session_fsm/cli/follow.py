"""``session-fsm follow``: long-poll a live session and show its state as it changes.

The poll protocol, retries and feeding live in :mod:`session_fsm.io.client`; this module
is the terminal around it: the display (rich.live on a terminal, one JSON snapshot per
change with ``--json``), the ``--record`` file (and ``--db``, the store kept with it),
logging to standard error and Ctrl-C.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
import orjson
from rich.live import Live
from rich.text import Text

from ..engine import AgentSession, new_session
from ..engine.snapshot import to_json
from ..errors import SessionFsmError, plural
from ..io.client import (
    DEFAULT_POLL_TIMEOUT,
    FollowError,
    RetryPolicy,
    SessionFollower,
    check_session_id,
)
from ..io.poll import check_base_url
from ..wire.reader import DEFAULT_MAX_LINE_BYTES, ReadError
from ._common import EXIT_INPUT, EXIT_INTERRUPTED, JSON, Failure, state, stdout
from .render import snapshot_view

if TYPE_CHECKING:
    from ..io.store import Store, StoreWriter

EXAMPLES = """\b
Examples:
  session-fsm follow --session-id "$SESSION_ID" --token-file ~/.cxone/token \\
      --base-url "https://api-$AREA.$DOMAIN/incontactapi/services/v30.0"
  session-fsm follow ... --json | jq -c '.agent_state.state'
  session-fsm follow ... --record today.jsonl && session-fsm snapshot today.jsonl
"""

_LOGGER = "session_fsm.io.client"


class _StderrHandler(logging.Handler):
    """Log lines on standard error, looked up at each line (rich.live redirects it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(f"session-fsm: {self.format(record)}", err=True)
        except Exception:  # pragma: no cover - logging must never break the poll loop
            self.handleError(record)


def _check_base_url(url: str) -> None:
    """Refuse a --base-url that names no server before the first poll."""
    problem = check_base_url(url, " (https://api-{area}.{domain}/incontactapi/services/v{N})")
    if problem is not None:
        raise Failure(f"--base-url: {problem}", EXIT_INPUT)


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
                   "missing): each recorded response is stored, and its histories "
                   "updated, before it is applied, as ingesting the --record file would "
                   "store it (so that adds nothing later). Needs --record.")
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
@click.option("--publish-to", metavar="TOPIC",
              help="Also publish every response to this Kafka topic before applying it, "
                   "keyed by session, for `session-fsm stream` processors (needs "
                   "--bootstrap-servers and the kafka extra).")
@click.option("--bootstrap-servers", "bootstrap", metavar="HOSTS",
              help="With --publish-to: Kafka brokers to start from, HOST:PORT[,...].")
@click.option("--publish-key", metavar="KEY",
              help="With --publish-to: the session's key on the topic (default: "
                   "--session-id; give the same key when resuming with a rotated id).")
def command(base_url: str, session_id: str, token_file: Path, as_json: bool,
            record: Path | None, db: Path | None, poll_timeout: int, max_retries: int,
            http_timeout: float | None, max_body: int, publish_to: str | None,
            bootstrap: str | None, publish_key: str | None) -> None:
    """Long-poll a live agent session's get-next-event and show its state as it changes.

    Exits 0 when the session ends (409 or AgentSessionEnd). Failed polls are retried
    with capped exponential backoff and jitter, each retry logged on standard error;
    past --max-retries it exits 2 naming the session id to resume from, as every other
    stop does. Ctrl-C stops cleanly (exit 130) and prints the session id to resume from.
    """
    if db is not None and record is None:
        raise Failure("--db needs --record FILE: the store ingests the recording", EXIT_INPUT)
    check_session_id(session_id, "--session-id")
    _check_base_url(base_url)
    if (publish_to is None) != (bootstrap is None):
        raise Failure("--publish-to and --bootstrap-servers go together", EXIT_INPUT)
    if publish_key is not None and publish_to is None:
        raise Failure("--publish-key needs --publish-to", EXIT_INPUT)
    display: _JsonLines | _Screen = _JsonLines() if as_json else _Screen()
    publisher = _publisher(bootstrap, publish_to, publish_key or session_id) \
        if publish_to is not None and bootstrap is not None else None
    recording = _Recorder(record, _open_store(db) if db is not None else None) \
        if record is not None else None
    recorder = recording if publisher is None else _Published(publisher, recording)
    handler = _StderrHandler(logging.DEBUG if state.debug else logging.WARNING)
    logger = logging.getLogger(_LOGGER)
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > handler.level:
        logger.setLevel(handler.level)
    session = new_session(session_id)
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
    if isinstance(recorder, _Published):
        recorder.follower = follower

    def interrupt(signum: int, frame: FrameType | None) -> None:
        follower.request_stop()
        if not follower.applying:  # a response being applied finishes first
            raise KeyboardInterrupt

    # SIGTERM (a service manager, `kill`, a container stop) is Ctrl-C too: the same clean
    # stop and the same "resume with" line, not a silent exit 143
    previous = {signum: signal.signal(signum, interrupt)
                for signum in (signal.SIGINT, signal.SIGTERM)}
    failure: Failure | None = None
    try:
        with follower, display.running(base_url, session_id):
            result = follower.run()
    except KeyboardInterrupt:
        result = None
    except FollowError as error:
        failure = Failure(str(error), EXIT_INPUT)
    finally:
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before)
        logger.removeHandler(handler)
        if recorder is not None:
            try:
                recorder.close()
            except SessionFsmError as error:  # saving --db's resume states failed
                # After another failure (a store that failed mid-run, most likely), that
                # one is the news and names the id: the store holds every event and row
                # it was given; only its resume states are older, and the next run
                # re-applies the events after them.
                if failure is None:
                    raise _stopped_by(error, follower) from None
    if failure is not None:
        raise failure
    if result is None or result.outcome == "stopped":
        raise Failure(f"interrupted; resume with --session-id {follower.session_id}",
                      EXIT_INTERRUPTED)
    if not as_json:
        click.echo(f"session-fsm: session ended ({result.reason}) after "
                   f"{plural(result.responses, 'response')}; last session id "
                   f"{result.session_id}", err=True)


class _Published:
    """``--publish-to``: each response published (and acknowledged) before it is
    recorded (``--record``) and applied, as the ``number``-th answer of its session."""

    def __init__(self, publish: Callable[[bytes, int], None], then: _Recorder | None) -> None:
        self.publish = publish
        self.then = then
        self.follower: SessionFollower | None = None

    def __call__(self, line: bytes) -> None:
        assert self.follower is not None
        # the body about to be applied takes the next response number (a 409's end too)
        self.publish(line, self.follower.responses + 1)
        if self.then is not None:
            self.then(line)

    def close(self) -> None:
        if self.then is not None:
            self.then.close()


def _publisher(bootstrap: str, topic: str, key: str) -> Callable[[bytes, int], None]:
    """A publisher of this session's responses; the broker is reached before following."""
    from ..io.kafka.client import ResponsePublisher, check_bootstrap

    try:
        publisher = ResponsePublisher(check_bootstrap(bootstrap), topic)
    except SessionFsmError as error:
        raise Failure(str(error), EXIT_INPUT) from None
    return lambda line, number: publisher(key, line, number)


def _open_store(path: Path) -> Store:
    """The store at ``path``; if the store module is missing, say so rather than pretend."""
    if importlib.util.find_spec("session_fsm.io.store") is None:  # pragma: no cover
        raise Failure("--db is not available: this install has no store "
                      "(session_fsm.io.store); use --record FILE", EXIT_INPUT)
    from ..io.store import Store

    return Store(path, on_warning=_warn)


class _Recorder:
    """``--record``: a line per 200 response and one for the ending 409; ``--db`` stores each.

    The file holds whole lines only: each line goes to the kernel in one ``write`` (a
    crash of follow cannot lose a response already applied), and a write that fails
    (a full disk, a file size limit) is cut back to the lines before it, then raises.

    With a store, each line is stored as soon as it is written, before the follower
    applies it: :meth:`~session_fsm.io.store.StoreWriter.add_line` stores the events an
    ingest of the recording would read from that line, under the same identity (the
    recording's path, the line's number, each event's position), and updates their
    histories; one transaction, whose cost does not grow with the session. A store that
    fails cuts the line back out of the recording, so follow stops with the recording and
    the store holding exactly what was applied. When follow starts, the recording's lines
    are counted (the next one is numbered after them) and it is ingested once: what an
    earlier run wrote but did not store (killed between the two) goes in then.
    """

    def __init__(self, path: Path, store: Store | None) -> None:
        self.path = path
        self.store = store
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        self.writer: StoreWriter | None = None
        self.lines = 0
        """Lines the recording holds: the next one written is line ``lines + 1``."""
        if store is None:
            return
        try:
            self.lines = self._whole_lines()
            if self.lines:
                store.ingest([str(path)], skip_bad=True, on_skipped=_skipped)
            self.writer = store.writer()
        except BaseException:
            os.close(self.fd)
            store.close()
            raise

    def _whole_lines(self) -> int:
        """The lines the recording holds, as the reader numbers them. A last line without
        its newline (a writer killed mid-line) gets one, so the next line is a line of its
        own rather than the end of that one (the reader reports that line, once)."""
        count = 0
        last = b"\n"
        with self.path.open("rb") as recording:
            while chunk := recording.read(1 << 20):
                count += chunk.count(b"\n")
                last = chunk[-1:]
        if last != b"\n":
            os.write(self.fd, b"\n")
            count += 1
        return count

    def __call__(self, line: bytes) -> None:
        whole = os.fstat(self.fd).st_size
        rest = memoryview(line + b"\n")
        try:
            while rest:  # only a write cut short by a full disk loops: the next one says why
                rest = rest[os.write(self.fd, rest):]
        except OSError as error:
            os.ftruncate(self.fd, whole)
            raise OSError(error.errno, error.strerror, str(self.path)) from None
        if self.writer is None:
            return
        try:
            # an event the codec cannot decode is on its line; the follower reports it too
            self.writer.add_line(str(self.path), self.lines + 1, line, on_skipped=_skipped)
        except BaseException:
            os.ftruncate(self.fd, whole)  # not stored, so not applied: not recorded either
            raise
        self.lines += 1

    def close(self) -> None:
        try:
            if self.writer is not None:
                self.writer.close()  # saves the sessions' resume states
        finally:
            os.close(self.fd)
            if self.store is not None:
                self.store.close()


def _warn(message: str) -> None:
    """One line on standard error, looked up at each line (rich.live redirects it)."""
    click.echo(f"session-fsm: {message}", err=True)


def _skipped(item: ReadError) -> None:
    _warn(f"not stored: {item.error}")


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
